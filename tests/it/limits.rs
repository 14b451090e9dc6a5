//! `POST /admin/reset` (everything or one tenant, without a restart) and the per-connector request
//! rate limit (429 with Retry-After). The limit's timing is checked on a time the test moves by
//! hand (`service::limit::ManualTime`, served through the service's router on the test app's
//! registry), so no test sleeps and none depends on how fast the machine is.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use scenarios::harness::{spawn_app_with, TestApp, OPERATOR_TOKEN};
use service::config::{ClockSetting, Settings};
use service::faults::Faults;
use service::http::{router, AppState};
use service::journal::Journal;
use service::limit::{ConnectorLimit, ManualTime};
use service::metrics::Metrics;

use crate::support::{app_at, at, checkin, install};

#[tokio::test]
async fn a_reset_removes_one_tenant_or_everything_and_the_service_goes_on() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let contoso = app.create_tenant("Contoso", None).await.unwrap();
    let fabrikam = app.create_tenant("Fabrikam", None).await.unwrap();
    let a = install(&app, &contoso, "SRV01", "6.2510.3.2002").await;
    let b = install(&app, &fabrikam, "SRV01", "6.2510.3.2002").await;
    let fault = json!({"route": "/nothing/here", "status": 500});
    let created = app
        .admin(Method::POST, "/admin/faults", Some(&fault))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);

    // Refused, and nothing changes: a clock with one tenant, an unknown tenant, a bad body.
    for (body, status, says) in [
        (
            json!({"tenantId": contoso.id, "clock": "2026-01-01T00:00:00Z"}),
            400,
            "clock",
        ),
        (json!({"tenantId": "no-such-tenant"}), 404, "no-such-tenant"),
        (json!({"everything": true}), 400, "everything"),
        (json!({"clock": "yesterday"}), 400, "yesterday"),
    ] {
        let answer = app
            .admin(Method::POST, "/admin/reset", Some(&body))
            .await
            .unwrap();
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!(
        app.admin_get("/admin/tenants").await.unwrap().body["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // One tenant: its connector's credential stops working; the other tenant and the faults stay.
    let done = app
        .admin(
            Method::POST,
            "/admin/reset",
            Some(&json!({"tenantId": contoso.id})),
        )
        .await
        .unwrap();
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        (
            &done.body["tenantsRemoved"],
            &done.body["faultRulesRemoved"],
            &done.body["journalEntriesRemoved"]
        ),
        (&json!(1), &json!(0), &json!(0))
    );
    assert_eq!(
        checkin(&app, &a.credential, "6.2510.3.2002").await.status,
        401
    );
    assert_eq!(
        checkin(&app, &b.credential, "6.2510.3.2002").await.status,
        200
    );
    assert_eq!(
        app.admin_get(&format!("/admin/tenants/{}", contoso.id))
            .await
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        app.admin_get("/admin/faults").await.unwrap().body["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Everything, with the virtual clock set back to the start of the year.
    let done = app
        .admin(
            Method::POST,
            "/admin/reset",
            Some(&json!({"clock": "2026-01-01T00:00:00Z"})),
        )
        .await
        .unwrap();
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.body["tenantsRemoved"], 1);
    assert_eq!(done.body["faultRulesRemoved"], 1);
    assert!(
        done.body["journalEntriesRemoved"].as_u64().unwrap() >= 10,
        "{}",
        done.body
    );
    assert_eq!(done.body["clock"], "2026-01-01T00:00:00Z");
    assert_eq!(app.now(), at("2026-01-01T00:00:00Z"));
    assert_eq!(
        app.admin_get("/admin/tenants").await.unwrap().body["value"],
        json!([])
    );
    assert_eq!(
        app.admin_get("/admin/faults").await.unwrap().body["value"],
        json!([])
    );
    assert_eq!(
        checkin(&app, &b.credential, "6.2510.3.2002").await.status,
        401
    );
    // An empty body resets everything too; the service then works as new.
    let empty = app
        .http
        .post(format!("{}/admin/reset", app.base_url))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);
    let again = app.create_tenant("Contoso", None).await.unwrap();
    let c = install(&app, &again, "SRV01", "6.2510.3.2002").await;
    assert_eq!(
        checkin(&app, &c.credential, "6.2510.3.2002").await.status,
        200
    );
}

/// The service of `app` (same operations, so its tenants and connectors) served again on its own
/// loopback port, with a rate limit of `per_second` on `time`.
async fn limited(app: &TestApp, per_second: u32, time: &ManualTime) -> LimitedService {
    let state = AppState {
        ops: app.ops.clone(),
        operator_token: OPERATOR_TOKEN.into(),
        faults: Arc::new(Faults::new(crate::support::SEED)),
        journal: Arc::new(Journal::new(100)),
        limit: Some(Arc::new(ConnectorLimit::with_time(
            NonZeroU32::new(per_second).unwrap(),
            Arc::new(time.clone()),
        ))),
        metrics: Arc::new(Metrics::new()),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    LimitedService { base_url, server }
}

struct LimitedService {
    base_url: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for LimitedService {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One check-in of `credential` at `base_url`.
async fn checkin_at(app: &TestApp, base_url: &str, credential: &str) -> reqwest::Response {
    app.http
        .post(format!("{base_url}/connector/v1/checkin"))
        .bearer_auth(credential)
        .json(&json!({"version": "6.2510.3.2002"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_connector_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let a = install(&app, &tenant, "SRV01", "6.2510.3.2002").await;
    let b = install(&app, &tenant, "SRV02", "6.2510.3.2002").await;
    // Two a second, on a time that moves only when the test says so.
    let time = ManualTime::new();
    let service = limited(&app, 2, &time).await;

    // A burst of twice the rate (4) goes through; the fifth call is refused.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            checkin_at(&app, &service.base_url, &a.credential)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    let refused = checkin_at(&app, &service.base_url, &a.credential).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(
        body["error"]["message"],
        "this connector made more than 2 requests a second; try again in 1 s"
    );

    // Another connector and the operator are not limited by a's calls.
    assert_eq!(
        checkin_at(&app, &service.base_url, &b.credential)
            .await
            .status(),
        200
    );
    for _ in 0..10 {
        let answer = app
            .http
            .get(format!("{}/admin/tenants", service.base_url))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }

    // A cell comes back every half second: not after 499 ms, after 500 ms, one call only.
    time.advance(Duration::from_millis(499));
    let early = checkin_at(&app, &service.base_url, &a.credential).await;
    assert_eq!(
        (
            early.status().as_u16(),
            early.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "1")
    );
    time.advance(Duration::from_millis(1));
    assert_eq!(
        checkin_at(&app, &service.base_url, &a.credential)
            .await
            .status(),
        200
    );
    assert_eq!(
        checkin_at(&app, &service.base_url, &a.credential)
            .await
            .status(),
        429
    );
    // Two seconds idle give the whole burst back, and no more.
    time.advance(Duration::from_secs(2));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            checkin_at(&app, &service.base_url, &a.credential)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
}

#[tokio::test]
async fn a_service_built_with_a_rate_limit_refuses_a_connector_past_its_burst() {
    // The setting reaches the limiter of a service built from Settings, on the machine's clock:
    // one a second in bursts of two, so 40 calls in a row meet a refusal unless they take 38 s.
    let app = spawn_app_with(Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: "sqlite::memory:".into(),
        clock: ClockSetting::Virtual {
            start: at("2026-03-01T00:00:00Z"),
        },
        operator_token: OPERATOR_TOKEN.into(),
        seed: Some(crate::support::SEED),
        connector_rate_limit: NonZeroU32::new(1),
        stored_clock: Default::default(),
        catalog: Default::default(),
        limits: Default::default(),
    })
    .await
    .unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let a = install(&app, &tenant, "SRV01", "6.2510.3.2002").await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let status = checkin(&app, &a.credential, "6.2510.3.2002").await.status;
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses[..2], [200, 200], "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}
