//! Shared state of the handlers.

use std::sync::Arc;

use crate::ops::Ops;

#[derive(Debug, Clone)]
pub struct AppState {
    pub ops: Arc<Ops>,
    pub operator_token: Arc<str>,
    pub faults: Arc<crate::faults::Faults>,
    pub journal: Arc<crate::journal::Journal>,
    /// The per-connector request rate limit (`None`: no limit).
    pub limit: Option<Arc<crate::limit::ConnectorLimit>>,
    pub metrics: Arc<crate::metrics::Metrics>,
}
