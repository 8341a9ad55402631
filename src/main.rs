fn main() -> std::process::ExitCode {
    zoom_offboard::main_entry()
}
