//! The request journal: what a connector's event log says it sent (its correlation id) is what
//! the service journaled under `client-request-id`.

use connector_sim::{Connector, ConnectorConfig, ServiceClient};
use reqwest::Method;

use scenarios::harness::TestApp;
use wire::connector::Feature;

use crate::support::app_at;

/// A service at 2026-03-01T00:00:00Z and one `pkcs` connector installed on it over HTTP.
async fn one_connector(config: ConnectorConfig) -> (TestApp, Connector) {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let client = ServiceClient::new(app.base_url.clone(), app.http.clone());
    let connector = install(&app, client, config).await;
    (app, connector)
}

/// Installs a connector with `config` in a new tenant, calling the service through `client`.
async fn install(app: &TestApp, client: ServiceClient, config: ConnectorConfig) -> Connector {
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    Connector::install(
        config,
        client,
        tenant.enrollment_secret.as_deref().unwrap(),
        app.now(),
    )
    .await
    .unwrap()
}

/// The correlation id of the connector's first uploaded health message (event 5000).
fn health_correlation(connector: &Connector) -> String {
    connector
        .log()
        .records()
        .iter()
        .find(|r| r.event_id == 5000)
        .and_then(|r| r.correlation_id.clone())
        .unwrap()
}

/// The service's journal answer to `query` (which must be 200).
async fn journal(app: &TestApp, query: &str) -> serde_json::Value {
    let found = app
        .admin_get(&format!("/admin/journal?{query}"))
        .await
        .unwrap();
    assert_eq!(found.status, 200, "{}", found.body);
    found.body
}

/// Adds a fault rule (the answer must be 201).
async fn add_fault(app: &TestApp, rule: serde_json::Value) {
    let created = app
        .admin(Method::POST, "/admin/faults", Some(&rule))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
}

#[tokio::test]
async fn a_connector_event_joins_the_service_journal_by_its_correlation_id() {
    let (app, mut connector) = one_connector(ConnectorConfig {
        seed: 8,
        ..ConnectorConfig::new("SRV01", &[Feature::Pkcs], "6.2510.3.2002")
    })
    .await;
    assert!(connector.upload_health(app.now()).await);
    let correlation = health_correlation(&connector);

    let found = journal(&app, &format!("correlationId={correlation}")).await;
    let value = found["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{found}");
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

#[tokio::test]
async fn a_poll_whose_health_message_goes_through_makes_no_separate_check_in() {
    let (app, mut connector) = one_connector(ConnectorConfig {
        seed: 9,
        auto_update: false,
        ..ConnectorConfig::new("SRV01", &[Feature::Pkcs], "6.2510.3.2002")
    })
    .await;
    let calls = |path: &'static str| {
        let app = &app;
        async move {
            journal(app, &format!("route={path}")).await["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| entry["dateTime"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    // 00:00:00: a health message is due, and it is the poll's check-in.
    connector.poll(app.now()).await.unwrap();
    // 00:00:30: none is due: the poll checks in.
    let later = app.now() + chrono::Duration::seconds(30);
    app.set_clock(later).unwrap();
    connector.poll(later).await.unwrap();
    // 00:05:00: the next health message.
    let next = app.now() + chrono::Duration::seconds(270);
    app.set_clock(next).unwrap();
    connector.poll(next).await.unwrap();

    assert_eq!(
        calls("/connector/v1/health").await,
        ["2026-03-01T00:00:00Z", "2026-03-01T00:05:00Z"]
    );
    // The installation's own check-in, then only the poll without a health message.
    assert_eq!(
        calls("/connector/v1/checkin").await,
        ["2026-03-01T00:00:00Z", "2026-03-01T00:00:30Z"]
    );
}

/// A connector in the scenario harness calls the service's router in the process: its calls are
/// journaled under its correlation ids as over HTTP, an error answer is the same error, and a
/// dropped answer is a transport failure.
#[tokio::test]
async fn a_connector_calling_the_router_in_process_is_journaled_and_gets_the_same_failures() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let client = ServiceClient::in_process(app.base_url.clone(), app.router.clone());
    assert_eq!(client.base_url(), app.base_url);
    let config = ConnectorConfig {
        seed: 8,
        ..ConnectorConfig::new("SRV01", &[Feature::Pkcs], "6.2510.3.2002")
    };
    let mut connector = install(&app, client, config).await;
    assert!(connector.upload_health(app.now()).await);
    let correlation = health_correlation(&connector);
    let found = journal(&app, &format!("correlationId={correlation}")).await;
    let value = found["value"].as_array().unwrap();
    assert_eq!(value.len(), 1, "{found}");
    assert_eq!(value[0]["path"], "/connector/v1/health");
    assert_eq!(value[0]["status"], 204);

    add_fault(
        &app,
        serde_json::json!({"route": "/connector/v1/checkin", "status": 503, "count": 1}),
    )
    .await;
    let refused = connector.checkin(app.now()).await.unwrap_err();
    assert_eq!(refused.status(), Some(503));
    assert_eq!(refused.code(), Some("InjectedFault"));

    add_fault(
        &app,
        serde_json::json!({"route": "/connector/v1/checkin", "drop": true, "count": 1}),
    )
    .await;
    let dropped = connector.checkin(app.now()).await.unwrap_err();
    assert!(
        matches!(dropped, connector_sim::ClientError::Transport(_)),
        "{dropped:?}"
    );
    assert_eq!(dropped.status(), None);
    // The rules are used up: the next check-in goes through.
    connector.checkin(app.now()).await.unwrap();
}
