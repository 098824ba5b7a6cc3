//! Thin binary: everything lives in the library (`unlistd::cli`).

fn main() -> std::process::ExitCode {
    unlistd::cli::main_with(std::env::args_os())
}
