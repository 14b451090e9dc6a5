//! Shared state of the handlers.

use std::sync::Arc;

use crate::registry::Registry;

#[derive(Debug, Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub operator_token: Arc<str>,
    pub faults: Arc<crate::faults::Faults>,
    pub journal: Arc<crate::journal::Journal>,
    /// The per-connector request rate limit (`None`: no limit).
    pub limit: Option<Arc<crate::limit::ConnectorLimit>>,
    pub metrics: Arc<crate::metrics::Metrics>,
}
