//! The `intune-mock` command, built inside the tests package so that the crash-safety test can
//! start it as a separate process (`CARGO_BIN_EXE_intune-mock-under-test`) and kill it.

fn main() -> std::process::ExitCode {
    scenarios::cli::main()
}
