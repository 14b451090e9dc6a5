//! The documentation's version lifecycle, driven through HTTP: the clock is moved with
//! `POST /admin/clock`, the connector checks in at each date (so `Inactive` stays out of the way)
//! and the status and history are read back with literal dates and codes.

use reqwest::Method;
use scenarios::harness::OPERATOR_TOKEN;
use serde_json::{json, Value};

use crate::support::{
    app_at, at_once, checkin, codes, enrollment_secret, install_body, reason, register,
    registration, set_clock, status, Call,
};

const OLD: &str = "6.2202.38.0";

/// The docs' worked example: 6.2202.38.0 without auto-update, installed on 2022-04-01.
fn worked_example() -> Value {
    let mut body = registration("SRV01", OLD);
    body["autoUpdate"] = json!(false);
    body
}

#[tokio::test]
async fn the_worked_example_moves_from_healthy_to_deprecated_to_out_of_support_to_retired() {
    let app = app_at("2022-04-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let connector = install_body(&app, &tenant, &worked_example()).await;

    set_clock(&app, "2022-05-03T00:00:00Z").await;
    assert_eq!(checkin(&app, &connector.credential, OLD).await.status, 200);
    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "healthy", "{s}");
    assert_eq!(s["reasons"], json!([]));
    assert_eq!(s.get("supportEndsDateTime"), None);
    assert_eq!(s.get("functionEndsDateTime"), None);

    set_clock(&app, "2022-05-04T00:00:00Z").await;
    assert_eq!(checkin(&app, &connector.credential, OLD).await.status, 200);
    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "warning", "{s}");
    assert_eq!(codes(&s), ["VersionDeprecated"]);
    assert_eq!(s["supportEndsDateTime"], "2022-11-04T00:00:00Z");
    assert_eq!(s["functionEndsDateTime"], "2023-11-04T00:00:00Z");
    let deprecated = reason(&s, "VersionDeprecated");
    assert_eq!(deprecated["severity"], "warning");
    assert_eq!(deprecated["since"], "2022-05-04T00:00:00Z");
    assert_eq!(deprecated["until"], "2022-11-04T00:00:00Z");
    assert!(
        deprecated["message"]
            .as_str()
            .unwrap()
            .contains("6.2203.12.0"),
        "{deprecated}"
    );

    set_clock(&app, "2022-11-04T00:00:00Z").await;
    assert_eq!(checkin(&app, &connector.credential, OLD).await.status, 200);
    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "error", "{s}");
    assert_eq!(codes(&s), ["VersionOutOfSupport", "AutoUpdateBlocked"]);
    assert_eq!(reason(&s, "VersionOutOfSupport")["severity"], "error");
    assert_eq!(
        reason(&s, "VersionOutOfSupport")["since"],
        "2022-11-04T00:00:00Z"
    );
    assert_eq!(
        reason(&s, "VersionOutOfSupport")["until"],
        "2023-11-04T00:00:00Z"
    );
    assert_eq!(reason(&s, "AutoUpdateBlocked")["severity"], "warning");
    assert_eq!(
        reason(&s, "AutoUpdateBlocked")["since"],
        "2022-05-18T00:00:00Z"
    );
    assert_eq!(s["supportEndsDateTime"], "2022-11-04T00:00:00Z");
    assert_eq!(s["functionEndsDateTime"], "2023-11-04T00:00:00Z");

    set_clock(&app, "2023-11-03T23:59:59Z").await;
    assert_eq!(checkin(&app, &connector.credential, OLD).await.status, 200);

    set_clock(&app, "2023-11-04T00:00:00Z").await;
    let refused = checkin(&app, &connector.credential, OLD).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.error_code(), Some("ConnectorVersionRetired"));
    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "error", "{s}");
    assert!(codes(&s).contains(&"VersionRetired".to_owned()), "{s}");
    assert_eq!(
        reason(&s, "VersionRetired")["since"],
        "2023-11-04T00:00:00Z"
    );
    // The refused check-in was not recorded.
    let view = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}",
            tenant.id, connector.id
        ))
        .await
        .unwrap();
    assert_eq!(view.body["lastCheckinDateTime"], "2023-11-03T23:59:59Z");

    // A retired version cannot be installed either, and nothing is stored.
    let answer = register(
        &app,
        enrollment_secret(&tenant),
        &registration("SRV02", OLD),
    )
    .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (403, Some("ConnectorVersionRetired")),
        "{}",
        answer.body
    );
    let listed = app
        .admin_get(&format!("/admin/tenants/{}/connectors", tenant.id))
        .await
        .unwrap();
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_history_records_every_change_at_its_boundary_even_when_the_clock_jumps_over_it() {
    let app = app_at("2022-04-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let connector = install_body(&app, &tenant, &worked_example()).await;
    assert_eq!(checkin(&app, &connector.credential, OLD).await.status, 200);

    set_clock(&app, "2023-12-01T00:00:00Z").await;
    let refused = checkin(&app, &connector.credential, OLD).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (403, Some("ConnectorVersionRetired")),
        "{}",
        refused.body
    );

    let answer = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}/history",
            tenant.id, connector.id
        ))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "value": [
            { "dateTime": "2022-04-01T00:00:00Z", "status": "healthy", "reasons": [] },
            { "dateTime": "2022-04-01T01:00:00Z", "status": "warning", "reasons": ["Inactive"] },
            { "dateTime": "2022-05-04T00:00:00Z", "status": "warning", "reasons": ["VersionDeprecated", "Inactive"] },
            { "dateTime": "2022-05-18T00:00:00Z", "status": "warning", "reasons": ["VersionDeprecated", "Inactive", "AutoUpdateBlocked"] },
            { "dateTime": "2022-11-04T00:00:00Z", "status": "error", "reasons": ["VersionOutOfSupport", "Inactive", "AutoUpdateBlocked"] },
            { "dateTime": "2023-11-04T00:00:00Z", "status": "error", "reasons": ["VersionRetired", "Inactive", "AutoUpdateBlocked"] },
        ] })
    );

    // Reading again changes nothing.
    let again = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}/history",
            tenant.id, connector.id
        ))
        .await
        .unwrap();
    assert_eq!(again.body, answer.body);
}

#[tokio::test]
async fn a_legacy_connector_is_an_error_from_2022_04_01_and_not_the_day_before() {
    let app = app_at("2022-03-31T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let legacy = "6.2008.60.607";
    let connector = install_body(&app, &tenant, &registration("SRV01", legacy)).await;
    assert_eq!(
        checkin(&app, &connector.credential, legacy).await.status,
        200
    );
    let s = status(&app, &tenant.id, &connector.id).await;
    // The 6/18-month rule does not apply below 6.2101.13.0: at most a warning before April.
    assert_eq!(s["status"], "warning", "{s}");
    assert_eq!(codes(&s), ["AutoUpdateBlocked"], "{s}");

    set_clock(&app, "2022-03-31T23:59:59Z").await;
    assert_eq!(
        checkin(&app, &connector.credential, legacy).await.status,
        200
    );
    let s = status(&app, &tenant.id, &connector.id).await;
    assert!(!codes(&s).contains(&"LegacyVersion".to_owned()), "{s}");

    set_clock(&app, "2022-04-01T00:00:00Z").await;
    assert_eq!(
        checkin(&app, &connector.credential, legacy).await.status,
        200
    );
    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "error", "{s}");
    assert_eq!(codes(&s), ["LegacyVersion", "AutoUpdateBlocked"]);
    assert_eq!(reason(&s, "LegacyVersion")["severity"], "error");
    assert_eq!(reason(&s, "LegacyVersion")["since"], "2022-04-01T00:00:00Z");
}

#[tokio::test]
async fn support_ends_on_the_last_day_of_a_shorter_month() {
    let app = app_at("2027-02-27T23:59:59Z").await;
    let published = app
        .admin(
            Method::POST,
            "/admin/releases",
            Some(&json!({ "version": "6.2600.0.0", "releasedDateTime": "2026-08-31T00:00:00Z" })),
        )
        .await
        .unwrap();
    assert_eq!(published.status, 201, "{}", published.body);
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let version = "6.2510.3.2002";
    let connector = install_body(&app, &tenant, &registration("SRV01", version)).await;
    assert_eq!(
        checkin(&app, &connector.credential, version).await.status,
        200
    );

    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "warning", "{s}");
    assert_eq!(codes(&s), ["VersionDeprecated", "AutoUpdateBlocked"]);
    assert_eq!(
        reason(&s, "VersionDeprecated")["since"],
        "2026-08-31T00:00:00Z"
    );
    assert_eq!(s["supportEndsDateTime"], "2027-02-28T00:00:00Z");
    assert_eq!(s["functionEndsDateTime"], "2028-02-29T00:00:00Z");

    set_clock(&app, "2027-02-28T00:00:00Z").await;
    assert_eq!(
        checkin(&app, &connector.credential, version).await.status,
        200
    );
    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "error", "{s}");
    assert_eq!(codes(&s), ["VersionOutOfSupport", "AutoUpdateBlocked"]);
    assert_eq!(s["supportEndsDateTime"], "2027-02-28T00:00:00Z");
    assert_eq!(
        reason(&s, "VersionOutOfSupport")["until"],
        "2028-02-29T00:00:00Z"
    );
}

#[tokio::test]
async fn the_clock_advances_by_calendar_months_and_never_goes_back() {
    let app = app_at("2022-05-04T00:00:00Z").await;

    let answer = app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "advance": "P1Y6M" })),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({ "now": "2023-11-04T00:00:00Z", "mode": "virtual" })
    );
    let read = app.admin_get("/admin/clock").await.unwrap();
    assert_eq!(
        read.body,
        json!({ "now": "2023-11-04T00:00:00Z", "mode": "virtual" })
    );

    let back = app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "set": "2023-11-03T23:59:59Z" })),
        )
        .await
        .unwrap();
    assert_eq!(
        (back.status, back.error_code()),
        (409, Some("ClockBackwards")),
        "{}",
        back.body
    );

    let bad = app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "advance": "6 months" })),
        )
        .await
        .unwrap();
    assert_eq!(
        (bad.status, bad.error_code()),
        (400, Some("InvalidDuration")),
        "{}",
        bad.body
    );
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("6 months"),
        "{}",
        bad.body
    );

    let both = app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "set": "2024-01-01T00:00:00Z", "advance": "P1D" })),
        )
        .await
        .unwrap();
    assert_eq!(
        (both.status, both.error_code()),
        (400, Some("invalidRequest")),
        "{}",
        both.body
    );
    let neither = app
        .admin(Method::POST, "/admin/clock", Some(&json!({})))
        .await
        .unwrap();
    assert_eq!(
        (neither.status, neither.error_code()),
        (400, Some("invalidRequest")),
        "{}",
        neither.body
    );
    let bad_date = app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "set": "next tuesday" })),
        )
        .await
        .unwrap();
    assert_eq!(
        (bad_date.status, bad_date.error_code()),
        (400, Some("InvalidField")),
        "{}",
        bad_date.body
    );

    let same = app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "set": "2023-11-04T00:00:00Z" })),
        )
        .await
        .unwrap();
    assert_eq!(same.status, 200, "{}", same.body);
    let read = app.admin_get("/admin/clock").await.unwrap();
    assert_eq!(
        read.body,
        json!({ "now": "2023-11-04T00:00:00Z", "mode": "virtual" })
    );
}

#[tokio::test]
async fn a_retired_connector_can_do_nothing_but_update_or_uninstall() {
    let app = app_at("2023-11-03T23:59:59Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let first = install_body(&app, &tenant, &worked_example()).await;
    let second = install_body(&app, &tenant, &registration("SRV02", OLD)).await;
    let own = app
        .request::<()>(
            Method::GET,
            "/connector/v1/self",
            Some(&first.credential),
            None,
        )
        .await
        .unwrap();
    assert_eq!(own.status, 200, "{}", own.body);

    set_clock(&app, "2023-11-04T00:00:00Z").await;
    let own = app
        .request::<()>(
            Method::GET,
            "/connector/v1/self",
            Some(&first.credential),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (own.status, own.error_code()),
        (403, Some("ConnectorVersionRetired")),
        "{}",
        own.body
    );
    let change = json!({ "displayName": "renamed" });
    let patched = app
        .request(
            Method::PATCH,
            "/connector/v1/self",
            Some(&first.credential),
            Some(&change),
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.status, patched.error_code()),
        (403, Some("ConnectorVersionRetired")),
        "{}",
        patched.body
    );
    let view = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}",
            tenant.id, first.id
        ))
        .await
        .unwrap();
    assert_eq!(view.body["displayName"], "SRV01 connector");

    let gone = app
        .request::<()>(
            Method::DELETE,
            "/connector/v1/self",
            Some(&second.credential),
            None,
        )
        .await
        .unwrap();
    assert_eq!(gone.status, 204, "{}", gone.body);
    let listed = app
        .admin_get(&format!("/admin/tenants/{}/connectors", tenant.id))
        .await
        .unwrap();
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 1);

    // Reporting a current version is how a connector updates; that check-in is accepted.
    let updated = checkin(&app, &first.credential, "6.2510.3.2002").await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let s = status(&app, &tenant.id, &first.id).await;
    assert_eq!(s["status"], "healthy", "{s}");
    assert_eq!(s["reasons"], json!([]));
    let view = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}",
            tenant.id, first.id
        ))
        .await
        .unwrap();
    assert_eq!(view.body["version"], "6.2510.3.2002");
}

#[tokio::test]
async fn a_release_published_late_changes_the_history_from_the_moment_it_is_published() {
    let app = app_at("2026-09-10T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let version = "6.2510.3.2002";
    let connector = install_body(&app, &tenant, &registration("SRV01", version)).await;
    assert_eq!(
        checkin(&app, &connector.credential, version).await.status,
        200
    );
    set_clock(&app, "2026-09-10T00:30:00Z").await;
    assert_eq!(
        checkin(&app, &connector.credential, version).await.status,
        200
    );

    let body = json!({ "version": "6.2600.0.0", "releasedDateTime": "2026-08-31T00:00:00Z" });
    let published = app
        .admin(Method::POST, "/admin/releases", Some(&body))
        .await
        .unwrap();
    assert_eq!(published.status, 201, "{}", published.body);

    let s = status(&app, &tenant.id, &connector.id).await;
    assert_eq!(s["status"], "warning", "{s}");
    assert_eq!(codes(&s), ["VersionDeprecated"], "{s}");
    assert_eq!(
        reason(&s, "VersionDeprecated")["since"],
        "2026-08-31T00:00:00Z"
    );
    let history = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}/history",
            tenant.id, connector.id
        ))
        .await
        .unwrap();
    assert_eq!(
        history.body,
        json!({ "value": [
            { "dateTime": "2026-09-10T00:00:00Z", "status": "healthy", "reasons": [] },
            { "dateTime": "2026-09-10T00:30:00Z", "status": "warning", "reasons": ["VersionDeprecated"] },
        ] })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_after_a_clock_jump_all_answer_and_record_the_history_once() {
    let app = app_at("2022-04-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let connector = install_body(&app, &tenant, &worked_example()).await;
    assert_eq!(checkin(&app, &connector.credential, OLD).await.status, 200);
    let base = format!("/admin/tenants/{}/connectors", tenant.id);
    let paths = [
        format!("{base}/{}/status", connector.id),
        format!("{base}/{}/history", connector.id),
        format!("{base}/{}", connector.id),
        base.clone(),
    ];

    // Each jump crosses at least one boundary, so every read has history to record.
    let mut failed = Vec::new();
    for jump in [
        "2022-05-10T00:00:00Z",
        "2022-11-10T00:00:00Z",
        "2023-12-01T00:00:00Z",
    ] {
        set_clock(&app, jump).await;
        let calls: Vec<Call> = (0..32)
            .map(|n| {
                (
                    Method::GET,
                    paths[n % paths.len()].clone(),
                    Some(OPERATOR_TOKEN.to_owned()),
                    None,
                )
            })
            .collect();
        let answers = at_once(&app, calls).await;
        failed.extend(
            answers
                .into_iter()
                .filter(|a| a.status != 200)
                .map(|a| (jump, a)),
        );
    }
    assert!(
        failed.is_empty(),
        "{} of 96 concurrent reads failed: {failed:?}",
        failed.len()
    );

    let history = app
        .admin_get(&format!("{base}/{}/history", connector.id))
        .await
        .unwrap();
    assert_eq!(
        history.body,
        json!({ "value": [
            { "dateTime": "2022-04-01T00:00:00Z", "status": "healthy", "reasons": [] },
            { "dateTime": "2022-04-01T01:00:00Z", "status": "warning", "reasons": ["Inactive"] },
            { "dateTime": "2022-05-04T00:00:00Z", "status": "warning", "reasons": ["VersionDeprecated", "Inactive"] },
            { "dateTime": "2022-05-18T00:00:00Z", "status": "warning", "reasons": ["VersionDeprecated", "Inactive", "AutoUpdateBlocked"] },
            { "dateTime": "2022-11-04T00:00:00Z", "status": "error", "reasons": ["VersionOutOfSupport", "Inactive", "AutoUpdateBlocked"] },
            { "dateTime": "2023-11-04T00:00:00Z", "status": "error", "reasons": ["VersionRetired", "Inactive", "AutoUpdateBlocked"] },
        ] })
    );
}
