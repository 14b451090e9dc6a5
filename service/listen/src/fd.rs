//! Fitting the connection limit to the process's file limit. Each connection is a file
//! descriptor; a process that runs out of them cannot accept (the accept loop then only logs
//! "Too many open files") nor open its database. So at bind time the soft limit
//! (`RLIMIT_NOFILE`) is raised, within the hard limit, to the connection limit plus a reserve for
//! everything else; where the hard limit is lower, the connection limit is lowered to fit, with a
//! warning.

/// Descriptors kept for everything but connections: standard streams, the database and its
/// journal files, a PostgreSQL pool, the runtime's own, another listener or two.
pub const RESERVE: u64 = 128;

/// What [`fit_connections`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdFit {
    /// The soft limit to set, when it must be raised.
    pub raise_to: Option<u64>,
    /// The connection limit that fits.
    pub connections: usize,
}

/// The connection limit that fits `asked` connections under a soft limit `soft` and a hard limit
/// `hard` (`None`: unlimited), with [`RESERVE`] descriptors left over, and the soft limit to set
/// for it. A pure function, so that its arithmetic is tested without changing the process.
pub fn fit_connections(asked: usize, soft: Option<u64>, hard: Option<u64>) -> FdFit {
    let needed = (asked as u64).saturating_add(RESERVE);
    let Some(soft) = soft else {
        return FdFit {
            raise_to: None,
            connections: asked,
        };
    };
    if soft >= needed {
        return FdFit {
            raise_to: None,
            connections: asked,
        };
    }
    let reachable = hard.map_or(needed, |hard| hard.min(needed));
    let connections = reachable.saturating_sub(RESERVE).max(1);
    FdFit {
        raise_to: (reachable > soft).then_some(reachable),
        connections: (connections as usize).min(asked),
    }
}

/// Fits `asked` connections to this process's file limit (raising the soft limit where it can);
/// answers the connection limit to use.
#[cfg(unix)]
pub(crate) fn fit_process(asked: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let fit = fit_connections(asked, limit.current, limit.maximum);
    let mut connections = fit.connections;
    if let Some(to) = fit.raise_to {
        let raised = Rlimit {
            current: Some(to),
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            let current = limit.current.unwrap_or(u64::MAX);
            connections = (current.saturating_sub(RESERVE).max(1) as usize).min(asked);
            tracing::warn!(error = %e, "cannot raise the file limit (RLIMIT_NOFILE) from {current}");
        }
    }
    if connections < asked {
        tracing::warn!(
            "the file limit (RLIMIT_NOFILE) allows {connections} connections at once, not the {asked} asked for; raise the hard limit (ulimit -Hn) for more"
        );
    }
    connections
}

#[cfg(not(unix))]
pub(crate) fn fit_process(asked: usize) -> usize {
    asked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_soft_limit_that_fits_is_left_alone() {
        assert_eq!(
            fit_connections(1024, Some(20_000), Some(20_000)),
            FdFit {
                raise_to: None,
                connections: 1024
            }
        );
        assert_eq!(
            fit_connections(1024, None, None),
            FdFit {
                raise_to: None,
                connections: 1024
            }
        );
    }

    #[test]
    fn a_low_soft_limit_is_raised_to_what_the_connections_need() {
        assert_eq!(
            fit_connections(1024, Some(1024), Some(524_288)),
            FdFit {
                raise_to: Some(1152),
                connections: 1024
            }
        );
        assert_eq!(
            fit_connections(1024, Some(1024), None),
            FdFit {
                raise_to: Some(1152),
                connections: 1024
            }
        );
    }

    #[test]
    fn a_low_hard_limit_lowers_the_connection_limit() {
        // The machine: a file limit of 512.
        assert_eq!(
            fit_connections(1024, Some(512), Some(512)),
            FdFit {
                raise_to: None,
                connections: 384
            }
        );
        assert_eq!(
            fit_connections(1024, Some(256), Some(640)),
            FdFit {
                raise_to: Some(640),
                connections: 512
            }
        );
        assert_eq!(
            fit_connections(10, Some(64), Some(64)),
            FdFit {
                raise_to: None,
                connections: 1
            }
        );
    }
}
