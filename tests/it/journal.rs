//! The request journal: what a connector's event log says it sent (its correlation id) is what
//! the service journaled under `client-request-id`.

use connector_sim::{Connector, ConnectorConfig, ServiceClient};
use reqwest::Method;

use crate::support::app_at;

#[tokio::test]
async fn a_connector_event_joins_the_service_journal_by_its_correlation_id() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let client = ServiceClient::new(app.base_url.clone(), app.http.clone());
    let mut connector = Connector::install(
        ConnectorConfig {
            seed: 8,
            ..ConnectorConfig::new("SRV01", &["pkcs"], "6.2510.3.2002")
        },
        client,
        tenant.enrollment_secret.as_deref().unwrap(),
        app.now(),
    )
    .await
    .unwrap();
    assert!(connector.upload_health(app.now()).await);
    let correlation = connector
        .log()
        .records()
        .iter()
        .find(|r| r.event_id == 5000)
        .and_then(|r| r.correlation_id.clone())
        .unwrap();

    let found = app
        .admin_get(&format!("/admin/journal?correlationId={correlation}"))
        .await
        .unwrap();
    assert_eq!(found.status, 200, "{}", found.body);
    let value = found.body["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{}", found.body);
    assert_eq!(value[0]["method"], "POST");
    assert_eq!(value[0]["path"], "/connector/v1/health");
    assert_eq!(value[0]["status"], 204);
    assert_eq!(value[0]["dateTime"], "2026-03-01T00:00:00Z");
    assert!(value[0]["requestId"].is_string());

    // The route filter, and limits that say what was wrong.
    let registrations = app
        .admin_get("/admin/journal?route=/connector/v1/register")
        .await
        .unwrap();
    assert_eq!(registrations.body["value"].as_array().unwrap().len(), 1);
    for (query, mentions) in [
        ("limit=0", "limit must be from 1 to 1000"),
        ("colour=red", "colour"),
    ] {
        let answer = app
            .admin_get(&format!("/admin/journal?{query}"))
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{query}");
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{message}");
    }
    // Operator only.
    let anonymous = app
        .request::<()>(Method::GET, "/admin/journal", None, None)
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);
}
