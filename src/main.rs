//! The `zoom-offboard` binary: everything lives in the library (see `src/lib.rs`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

fn main() -> std::process::ExitCode {
    zoom_offboard::main_entry()
}
