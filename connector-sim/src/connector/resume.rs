//! A connector that registered earlier starting again as itself (a service restart, or a machine
//! that came back after a crash): no new registration. It asks the service who it is (`GET
//! /connector/v1/self`), which also proves its credential still works, brings the service's view
//! of its configuration in line with its own (`PATCH /connector/v1/self`, as running the
//! configuration again does), and checks in (docs/behaviour.md, "The simulated connector").

use chrono::{DateTime, Utc};
use reqwest::Method;

use wire::connector::Feature;

use super::instance::Registered;
use super::{Connector, ConnectorConfig};
use crate::client::{ClientError, ServiceClient};
use crate::correlation::Correlation;
use crate::events::EventLog;

impl Connector {
    /// Starts again as the connector `registered` describes: events 0001 and 0003, the
    /// service's view of it (`Err` when the service does not know its credential any more),
    /// a reconfiguration when `config` differs from that view, and a check-in. Returns the
    /// connector and the view as the service holds it afterwards.
    pub async fn resume(
        config: ConnectorConfig,
        client: ServiceClient,
        registered: Registered,
        now: DateTime<Utc>,
        log: EventLog,
    ) -> Result<(Self, wire::admin::ConnectorView), ClientError> {
        let correlation = Correlation::seeded(config.seed);
        let mut connector = Self::assemble(config, client, registered, correlation, log, now);
        connector.started(now);
        let mut view = connector.view().await?;
        let change = differences(&connector.config, &view);
        if change != wire::connector::ReconfigureRequest::default() {
            view = connector.reconfigure(&change, now).await?;
        }
        // A refusal leaves the connector running, as after an installation.
        let _ = connector.checkin(now).await;
        Ok((connector, view))
    }

    /// The connector as the service holds it (`GET /connector/v1/self`): its tenant, features,
    /// version and status.
    pub async fn view(&mut self) -> Result<wire::admin::ConnectorView, ClientError> {
        let correlation_id = self.correlation.next_id();
        let view: Option<wire::admin::ConnectorView> = self
            .call::<(), _>(Method::GET, "/connector/v1/self", &correlation_id, None)
            .await?;
        view.ok_or_else(|| ClientError::Decode("empty answer to GET /connector/v1/self".into()))
    }
}

/// What a reconfiguration must change for the service's `view` to match `config` (the settings
/// a reconfiguration can change; `None` where they already agree).
fn differences(
    config: &ConnectorConfig,
    view: &wire::admin::ConnectorView,
) -> wire::connector::ReconfigureRequest {
    let account = config.service_account.as_deref().unwrap_or("SYSTEM");
    let proxy = config.proxy.as_deref().map(wire::url::redact_password);
    let sorted = |features: &[Feature]| {
        let mut features = features.to_vec();
        features.sort();
        features
    };
    wire::connector::ReconfigureRequest {
        display_name: (view.display_name != config.display_name)
            .then(|| config.display_name.clone()),
        features: (sorted(&view.features) != sorted(&config.features))
            .then(|| super::config::feature_names(&config.features)),
        service_account: (!view.service_account.eq_ignore_ascii_case(account))
            .then(|| account.to_owned()),
        // `""` removes a proxy or a key.
        proxy: (view.proxy != proxy).then(|| proxy.unwrap_or_default()),
        import_key_thumbprint: (view.import_key_thumbprint != config.import_key_thumbprint)
            .then(|| config.import_key_thumbprint.clone().unwrap_or_default()),
        auto_update: (view.auto_update != config.auto_update).then_some(config.auto_update),
        co_installed_products: (view.co_installed_products != config.co_installed)
            .then(|| config.co_installed.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> wire::admin::ConnectorView {
        serde_json::from_value(serde_json::json!({
            "id": "c-1",
            "tenantId": "t-1",
            "displayName": "SRV01",
            "machineName": "SRV01",
            "features": ["pkcs"],
            "version": "6.2510.3.2002",
            "product": "certificate-connector",
            "serviceAccount": "SYSTEM",
            "autoUpdate": true,
            "coInstalledProducts": [],
            "enrolledDateTime": "2026-03-01T00:00:00Z",
            "state": "active",
            "status": {"connectorId": "c-1", "status": "healthy", "reasons": []}
        }))
        .unwrap()
    }

    #[test]
    fn only_what_differs_is_reconfigured() {
        let same = ConnectorConfig::new("SRV01", &[Feature::Pkcs], "6.2510.3.2002");
        let mut reordered = view();
        reordered.features = vec![Feature::Scep, Feature::Pkcs];
        let both = ConnectorConfig::new("SRV01", &[Feature::Pkcs, Feature::Scep], "6.2510.3.2002");
        assert_eq!(
            differences(&both, &reordered),
            wire::connector::ReconfigureRequest::default()
        );
        assert_eq!(
            differences(&same, &view()),
            wire::connector::ReconfigureRequest::default()
        );
        let changed = ConnectorConfig {
            features: vec![Feature::Pkcs, Feature::Scep],
            service_account: Some("CONTOSO\\svc".into()),
            proxy: Some("http://user:secret@proxy:8888".into()),
            ..ConnectorConfig::new("SRV01", &[Feature::Pkcs], "6.2510.3.2002")
        };
        assert_eq!(
            differences(&changed, &view()),
            wire::connector::ReconfigureRequest {
                features: Some(vec!["pkcs".into(), "scep".into()]),
                service_account: Some("CONTOSO\\svc".into()),
                proxy: Some("http://user:***@proxy:8888".into()),
                ..Default::default()
            }
        );
    }
}
