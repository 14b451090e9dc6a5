//! Bad input around the connector's life (issue 7): an update answer with a version that does not
//! parse or is not newer, a corrupt health message, a proxy URL that does not parse. Each gets a
//! clear error and the connector (or the service) keeps running unchanged.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use connector_sim::{http_client, Connector, ConnectorConfig, ProxySettings, ServiceClient};
use reqwest::Method;
use serde_json::{json, Value};
use wire::connector::Feature;

use crate::support::{app_at, at, install};

/// A stand-in service: registration, check-ins and health uploads succeed; each update check gets
/// the next of `offers` (the last one repeats).
async fn fake_service(offers: Vec<Value>) -> (String, tokio::task::JoinHandle<()>) {
    let offers = Arc::new(Mutex::new(offers));
    let app = Router::new()
        .route(
            "/connector/v1/register",
            post(|| async { Json(json!({"connectorId": "c-1", "credential": "secret-1"})) }),
        )
        .route(
            "/connector/v1/checkin",
            post(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            "/connector/v1/health",
            post(|| async { axum::http::StatusCode::NO_CONTENT }),
        )
        .route(
            "/autoupdate/v1/latest",
            get(|State(offers): State<Arc<Mutex<Vec<Value>>>>| async move {
                let mut offers = offers.lock().unwrap();
                let next = if offers.len() > 1 {
                    offers.remove(0)
                } else {
                    offers[0].clone()
                };
                Json(next)
            }),
        )
        .with_state(offers);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

fn offer(version: &str) -> Value {
    json!({"currentVersion": "6.2406.0.1001", "latestVersion": version, "updateAvailable": true})
}

#[tokio::test]
async fn an_update_offer_that_does_not_parse_or_is_not_newer_is_refused_and_the_connector_goes_on()
{
    let (url, server) = fake_service(vec![
        offer("6.2406.banana.1"),
        offer("6.2406.0.1001"),
        offer("5.9.0.0"),
        offer("6.2510.3.2002"),
    ])
    .await;
    let client = ServiceClient::new(url, http_client(None).unwrap());
    let config = ConnectorConfig::new("SRV01", &[Feature::Pkcs], "6.2406.0.1001");
    let now = at("2026-03-01T00:00:00Z");
    let mut connector = Connector::install(config, client, "enroll", now)
        .await
        .unwrap();

    for _ in 0..3 {
        assert!(!connector.check_update(now).await);
        assert_eq!(connector.version(), "6.2406.0.1001");
    }
    let refusals: Vec<String> = connector
        .log()
        .records()
        .iter()
        .filter(|r| r.event_id == 11)
        .map(|r| r.message.clone())
        .collect();
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    assert!(
        refusals[0].contains("does not parse") && refusals[0].contains("6.2406.banana.1"),
        "{}",
        refusals[0]
    );
    assert!(refusals[1].contains("not newer"), "{}", refusals[1]);
    assert!(refusals[2].contains("5.9.0.0"), "{}", refusals[2]);
    // Still running: it checks in, and takes the next good offer.
    assert!(connector.checkin(now).await.is_ok());
    assert!(connector.check_update(now).await);
    assert_eq!(connector.version(), "6.2510.3.2002");
    assert_eq!(connector.log().count(10, None), 1);
    server.abort();
}

#[tokio::test]
async fn a_corrupt_health_message_gets_a_clear_400_and_records_nothing() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let conn = install(&app, &tenant, "SRV01", "6.2510.3.2002").await;
    let good = json!({
        "version": "6.2510.3.2002",
        "features": ["pkcs"],
        "enrolledDateTime": "2026-03-01T00:00:00Z",
        "importKeyConfigured": false,
        "counters": {"pkcsSuccess": 2}
    });
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body.to_string()
    };
    // (body, error code, words the message must hold)
    let cases: Vec<(String, &str, &str)> = vec![
        ("{\"version\": ".to_owned(), "invalidRequest", "line 1"),
        ("[1, 2, 3]".to_owned(), "invalidRequest", "invalid type"),
        (with("version", json!("6.x")), "InvalidVersion", "6.x"),
        (with("version", json!(6)), "invalidRequest", "version"),
        (
            with("counters", json!({"pkcsSuccess": -1})),
            "invalidRequest",
            "counters",
        ),
        (
            with("counters", json!({"pkcsSuccess": "many"})),
            "invalidRequest",
            "counters",
        ),
        (
            with("enrolledDateTime", json!("yesterday")),
            "invalidRequest",
            "enrolledDateTime",
        ),
        (
            with("importKeyConfigured", json!("no")),
            "invalidRequest",
            "importKeyConfigured",
        ),
        (with("unexpected", json!(1)), "invalidRequest", "unexpected"),
    ];
    let url = format!("{}/connector/v1/health", app.base_url);
    for (body, code, names) in &cases {
        let answer = app
            .http
            .post(&url)
            .bearer_auth(&conn.credential)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let error: Value = answer.json().await.unwrap();
        let description = error["error"]["message"].as_str().unwrap_or_default();
        assert_eq!(error["error"]["code"], *code, "{error}");
        assert!(description.contains(names), "{body}: {error}");
    }

    // Nothing was recorded: the metrics are zero until a good message arrives.
    let token = app.graph_token(&tenant).await.unwrap();
    let metrics_path = format!(
        "/beta/deviceManagement/certificateConnectorDetails/{}/getHealthMetrics",
        conn.id
    );
    let ask = json!({"metricNames": ["pkcsSuccess"]});
    let metrics = app
        .request(Method::POST, &metrics_path, Some(&token), Some(&ask))
        .await
        .unwrap();
    assert_eq!(metrics.body["value"][0]["value"], 0, "{}", metrics.body);
    let answer = app
        .request(
            Method::POST,
            "/connector/v1/health",
            Some(&conn.credential),
            Some(&good),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 204, "{}", answer.body);
    let metrics = app
        .request(Method::POST, &metrics_path, Some(&token), Some(&ask))
        .await
        .unwrap();
    assert_eq!(metrics.body["value"][0]["value"], 2, "{}", metrics.body);
}

#[test]
fn a_proxy_url_that_does_not_parse_is_a_clear_error() {
    for url in ["not a url", "http://[::1", "http://proxy:99999"] {
        let error = http_client(Some(&ProxySettings {
            url: url.to_owned(),
            username: None,
            password: None,
        }))
        .unwrap_err()
        .to_string();
        assert!(error.contains(&format!("proxy `{url}`")), "{url}: {error}");
    }
}

#[tokio::test]
async fn a_proxy_password_is_never_logged_or_sent_to_the_service() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let config = ConnectorConfig {
        proxy: Some("http://svc-proxy:s3cret-pw@proxy.contoso.com:8080".into()),
        ..ConnectorConfig::new("SRV01", &[Feature::Pkcs], "6.2510.3.2002")
    };
    let client = ServiceClient::new(app.base_url.clone(), http_client(None).unwrap());
    let connector = Connector::install(
        config,
        client,
        tenant.enrollment_secret.as_deref().unwrap(),
        app.now(),
    )
    .await
    .unwrap();
    let (configuration, everything) = {
        let log = connector.log();
        let configuration = log
            .records()
            .iter()
            .find(|r| r.event_id == 3)
            .unwrap()
            .clone();
        (configuration, serde_json::to_string(log.records()).unwrap())
    };
    assert_eq!(
        configuration.data()["proxy"],
        "http://svc-proxy:***@proxy.contoso.com:8080"
    );
    assert!(!everything.contains("s3cret-pw"), "{everything}");
    let view = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}",
            tenant.id,
            connector.id()
        ))
        .await
        .unwrap();
    assert_eq!(
        view.body["proxy"],
        "http://svc-proxy:***@proxy.contoso.com:8080"
    );
}
