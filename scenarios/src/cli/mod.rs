//! The subcommands of `intune-mock`: `run`, `serve`, `connector`, `status`, `lifecycle`,
//! `releases`, `completions`. Each subcommand with arguments of its own has its module here
//! (`serve`, `connector`, `status`, `lifecycle`, `releases`;
//! `run` lives in `crate::run`); this file holds the command line and the dispatch.
//!
//! Errors are printed once, with their cause chain, and mapped to documented exit codes.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod connector;
mod lifecycle;
mod releases;
mod serve;
mod status;
mod tls;

pub use crate::run::{exit_code, RunArgs};
pub use connector::ConnectorArgs;
pub use lifecycle::LifecycleArgs;
pub use releases::ReleasesArgs;
pub use serve::ServeArgs;
pub use status::{status_table, StatusArgs, StatusReport};

#[derive(Debug, Parser)]
#[command(
    name = "intune-mock",
    version,
    about = "A local, deterministic stand-in for the Intune cloud side of the Certificate Connector for Microsoft Intune."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenario files (default: the bundled conformance suite) and report a verdict.
    #[command(
        after_help = "Examples:\n  intune-mock run\n  intune-mock run scenarios/conformance/lifecycle-docs-example.toml --seed 7\n  intune-mock run my-scenarios/ --jobs 2 --junit report.xml --json report.json\n\nExit codes: 0 all passed, 1 an expectation failed, 2 an invalid scenario file, 3 the harness failed."
    )]
    Run(RunArgs),
    /// Run the mock Intune service.
    #[command(
        after_help = "Examples:\n  intune-mock serve\n  intune-mock serve --clock virtual --start 2022-05-01T00:00:00Z --listen 127.0.0.1:0"
    )]
    Serve(ServeArgs),
    /// Run one simulated connector against a service, on the wall clock.
    #[command(
        after_help = "Example:\n  intune-mock connector --url http://127.0.0.1:8080 --enrollment-secret enr_… --machine SRV01 --features pkcs,scep"
    )]
    Connector(ConnectorArgs),
    /// Print a tenant's connectors and their status.
    #[command(
        after_help = "Examples:\n  intune-mock status --url http://127.0.0.1:8080 --tenant <id> --client-id <id> --client-secret <secret>\n  intune-mock status --url http://127.0.0.1:8080 --tenant <id> --client-id <id> --client-secret <secret> --json\n\nThe table is coloured on a terminal unless NO_COLOR is set. --json prints {\"format\": \"intune-mock-status/1\", \"tenantId\", \"connectors\": [...]}, each connector as GET /admin/tenants/{id}/connectors lists it."
    )]
    Status(StatusArgs),
    /// Where a connector version stands: successor, deprecation, end of support and of function, status at an instant.
    #[command(
        after_help = "Examples:\n  intune-mock lifecycle 6.2202.38.0 --at 2022-06-01T00:00:00Z\n  intune-mock lifecycle 6.2008.60.607 --product pfx-certificate-connector --json\n\nThe status is that of an active connector of a tenant with the default rollout delay. --json prints {\"format\": \"intune-mock-lifecycle/1\", ...}."
    )]
    Lifecycle(LifecycleArgs),
    /// Print the release catalog, each date with where it comes from.
    #[command(
        after_help = "Examples:\n  intune-mock releases\n  intune-mock releases --catalog docs --json"
    )]
    Releases(ReleasesArgs),
    /// Print a shell completion script to standard output.
    #[command(
        after_help = "Examples:\n  intune-mock completions bash > ~/.local/share/bash-completion/completions/intune-mock\n  intune-mock completions zsh > ~/.zfunc/_intune-mock\n  intune-mock completions fish > ~/.config/fish/completions/intune-mock.fish"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = crate::output::Stdout::new();
    if let Command::Completions { shell } = cli.command {
        use clap::CommandFactory;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "intune-mock", &mut script);
        // Written whole: a reader that stops early (`| head`) is not an error.
        return match out.write_all(&script).and_then(|()| out.flush()) {
            Ok(()) => ExitCode::from(exit_code::PASSED),
            Err(e) => {
                let error = anyhow::Error::new(e).context("cannot write the completion script");
                eprint!("{}", crate::output::error_report(&error));
                ExitCode::from(exit_code::HARNESS_FAILED)
            }
        };
    }
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let error = anyhow::Error::new(e).context("cannot start the async runtime");
            eprint!("{}", crate::output::error_report(&error));
            return ExitCode::from(exit_code::HARNESS_FAILED);
        }
    };
    let colour = crate::output::stdout_colour();
    let outcome = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => crate::run::run(args, &mut out, colour).await,
            Command::Serve(args) => serve::serve(args, &mut out).await,
            Command::Connector(args) => connector::connector(args).await.map(|_| exit_code::PASSED),
            Command::Status(args) => status::status(args, &mut out, colour)
                .await
                .map(|_| exit_code::PASSED),
            Command::Lifecycle(args) => {
                lifecycle::lifecycle(args, &mut out).map(|_| exit_code::PASSED)
            }
            Command::Releases(args) => {
                releases::releases(args, &mut out).map(|_| exit_code::PASSED)
            }
            Command::Completions { .. } => Ok(exit_code::PASSED),
        }
    });
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // The one place an error is printed: nothing below logs it as well.
            eprint!("{}", crate::output::error_report(&e));
            ExitCode::from(exit_code::HARNESS_FAILED)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("INTUNE_MOCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Colour only on a terminal, and never under NO_COLOR: a log file or a pipe gets plain text.
    let colour = crate::output::colour_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .try_init();
}
