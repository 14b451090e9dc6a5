//! `GET /metrics`: the Prometheus (OpenMetrics) text with literal figures for a known state.

use reqwest::Method;
use serde_json::json;

use crate::support::{app_at, checkin, install, set_clock};

/// The line of `text` that starts with `series ` (name and labels), if any.
fn line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(&format!("{series} ")))
}

#[tokio::test]
async fn metrics_count_requests_jobs_leases_connectors_and_scep_answers() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let current = install(&app, &tenant, "SRV01", "6.2510.3.2002").await;
    // 6.2406.0.1001's successor 6.2406.0.1002 came out on 2025-06-12: out of support (error)
    // since 2025-12-12.
    let old = install(&app, &tenant, "SRV02", "6.2406.0.1001").await;
    for _ in 0..2 {
        assert_eq!(
            checkin(&app, &current.credential, "6.2510.3.2002")
                .await
                .status,
            200
        );
    }
    let revoke = |serial: &str| json!({"kind": "revoke", "payload": {"serialNumber": serial, "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"}});
    let enqueued = app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/jobs", tenant.id),
            Some(&json!({"jobs": [revoke("0a01"), revoke("0a02"), revoke("0a03")]})),
        )
        .await
        .unwrap();
    assert_eq!(enqueued.status, 201, "{}", enqueued.body);
    // A connector with the revocation feature leases one job for 60 s and lets the lease run out.
    let body = json!({"machineName": "SRV03", "displayName": "SRV03", "features": ["revocation", "scep"], "version": "6.2510.3.2002"});
    let registered = app
        .request(
            Method::POST,
            "/connector/v1/register",
            tenant.enrollment_secret.as_deref(),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(registered.status, 201, "{}", registered.body);
    let revoker = registered.body["credential"].as_str().unwrap().to_owned();
    let leased = app
        .request(
            Method::POST,
            "/connector/v1/jobs/lease",
            Some(&revoker),
            Some(&json!({"max": 1, "visibilityTimeoutSeconds": 60})),
        )
        .await
        .unwrap();
    assert_eq!(leased.body["jobs"].as_array().unwrap().len(), 1);
    // A SCEP validation without a CSR answers CertificateRequestDecodingFailed.
    let answered = app
        .request(
            Method::POST,
            &format!("{}/ScepActions/validateRequest", crate::scep::SCEP),
            Some(&revoker),
            Some(&json!({"request": {"transactionId": "tx-1"}})),
        )
        .await
        .unwrap();
    assert_eq!(answered.body["code"], "CertificateRequestDecodingFailed");
    set_clock(&app, "2026-03-01T00:10:00Z").await;

    let response = app
        .http
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    for expected in [
        r#"intune_mock_http_requests_total{method="POST",route="/connector/v1/checkin",status="200"} 2"#,
        r#"intune_mock_http_requests_total{method="POST",route="/connector/v1/register",status="201"} 3"#,
        r#"intune_mock_http_request_duration_seconds_count{route="/connector/v1/checkin"} 2"#,
        r#"intune_mock_scep_validations_total{code="CertificateRequestDecodingFailed"} 1"#,
        r#"intune_mock_jobs{kind="revoke",state="queued"} 3"#,
        r#"intune_mock_queue_depth{kind="revoke"} 3"#,
        r#"intune_mock_queue_oldest_age_seconds{kind="revoke"} 600"#,
        "intune_mock_leases_expired 1",
        "intune_mock_dead_letters 0",
        r#"intune_mock_connectors{status="healthy"} 2"#,
        r#"intune_mock_connectors{status="warning"} 0"#,
        r#"intune_mock_connectors{status="error"} 1"#,
        "intune_mock_clock_seconds 1772323800",
    ] {
        assert!(
            text.lines().any(|l| l == expected),
            "missing `{expected}` in\n{text}"
        );
    }
    assert_eq!(
        line(&text, r#"intune_mock_jobs{kind="revoke",state="leased"}"#),
        None,
        "the expired lease is back in the queue"
    );
    // No tenant or connector id is in any label.
    for id in [&tenant.id, &current.id, &old.id] {
        assert!(!text.contains(id.as_str()), "{id} in\n{text}");
    }
    // The scrape itself is counted at the next one.
    let again = app
        .http
        .get(format!("{}/metrics", app.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        again.lines().any(|l| l
            == r#"intune_mock_http_requests_total{method="GET",route="/metrics",status="200"} 1"#),
        "{again}"
    );
}
