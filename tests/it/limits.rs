//! `POST /admin/reset` (everything or one tenant, without a restart) and the per-connector request
//! rate limit (429 with Retry-After).

use reqwest::Method;
use serde_json::json;

use scenarios::harness::{spawn_app_with, OPERATOR_TOKEN};
use service::config::{ClockSetting, Settings};

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

#[tokio::test]
async fn a_connector_over_its_rate_gets_429_with_retry_after_and_others_do_not() {
    let app = spawn_app_with(Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: "sqlite::memory:".into(),
        clock: ClockSetting::Virtual {
            start: at("2026-03-01T00:00:00Z"),
        },
        operator_token: OPERATOR_TOKEN.into(),
        seed: Some(crate::support::SEED),
        connector_rate_limit: std::num::NonZeroU32::new(2),
    })
    .await
    .unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let a = install(&app, &tenant, "SRV01", "6.2510.3.2002").await;
    let b = install(&app, &tenant, "SRV02", "6.2510.3.2002").await;

    // A burst of twice the rate (4) goes through; then the calls are refused until the bucket
    // refills (2 a second), so at most one more per half second of the run gets through.
    let started = std::time::Instant::now();
    let mut allowed = 0;
    let mut refused = None;
    for _ in 0..40 {
        let response = app
            .http
            .post(format!("{}/connector/v1/checkin", app.base_url))
            .bearer_auth(&a.credential)
            .json(&json!({"version": "6.2510.3.2002"}))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => allowed += 1,
            429 => {
                refused = Some(response);
                break;
            }
            other => panic!("a check-in answered {other}"),
        }
    }
    let refills = (started.elapsed().as_millis() / 500) as usize;
    assert!(
        (4..=4 + refills + 1).contains(&allowed),
        "{allowed} check-ins in {:?}",
        started.elapsed()
    );
    let refused = refused.expect("a check-in over the rate is refused");
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyRequests");
    assert_eq!(
        body["error"]["message"],
        "this connector made more than 2 requests a second; try again in 1 s"
    );

    // Another connector and the operator are not limited by a's calls.
    assert_eq!(
        checkin(&app, &b.credential, "6.2510.3.2002").await.status,
        200
    );
    for _ in 0..10 {
        assert_eq!(app.admin_get("/admin/tenants").await.unwrap().status, 200);
    }
    // After the wait, a is served again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        checkin(&app, &a.credential, "6.2510.3.2002").await.status,
        200
    );
}
