//! `intune-mock`: parse the command line, run the subcommand, exit with its code.

fn main() -> std::process::ExitCode {
    intune_mock_scenarios::cli::main()
}
