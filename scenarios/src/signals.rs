//! The signals that stop `intune-mock`'s long-running subcommands: SIGTERM (what container
//! runtimes, CI runners and service managers send) and SIGINT (Ctrl-C), taken alike.

use std::future::Future;

/// Which signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// The exit code of a run it stopped: 128 plus the signal's number, as a shell reports a
    /// process the signal ended (130, 143).
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Resolves with the first SIGTERM or SIGINT. The handlers are installed when this is called
/// (inside a runtime), not when it is first polled: a signal that comes before the future is
/// awaited is kept for it instead of ending the process.
pub fn stop_signal() -> impl Future<Output = Stop> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                    _ = terminate.recv() => Stop::Terminate,
                    _ = interrupt.recv() => Stop::Interrupt,
                },
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                    Stop::Interrupt
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
            Stop::Interrupt
        }
    }
}
