//! The `zoom-offboard` binary: everything lives in the library (see `src/lib.rs`).

fn main() -> std::process::ExitCode {
    zoom_offboard::main_entry()
}
