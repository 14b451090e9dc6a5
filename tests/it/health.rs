//! Health messages over HTTP: `POST /connector/v1/health`, the Graph actions
//! `getHealthMetrics` / `getHealthMetricTimeSeries`, `GET /beta/deviceManagement/connectorStatus`
//! and the HealthUploadFailing reason.

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{app_at, install, set_clock, status};

fn message(counters: Value) -> Value {
    json!({
        "version": "6.2510.3.2002",
        "features": ["pkcs"],
        "enrolledDateTime": "2026-03-01T00:00:00Z",
        "importKeyConfigured": false,
        "counters": counters
    })
}

#[tokio::test]
async fn health_messages_feed_the_graph_metrics_and_their_absence_the_status() {
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let conn = install(&app, &tenant, "SRV01", "6.2510.3.2002").await;
    let upload = |body: Value| {
        let app = &app;
        let credential = conn.credential.clone();
        async move {
            app.request(
                Method::POST,
                "/connector/v1/health",
                Some(&credential),
                Some(&body),
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(
        upload(message(json!({"pkcsSuccess": 3, "pkcsFailure": 1})))
            .await
            .status,
        204
    );
    set_clock(&app, "2026-03-01T00:05:00Z").await;
    assert_eq!(
        upload(message(json!({"pkcsSuccess": 2, "revokeSuccess": 4})))
            .await
            .status,
        204
    );

    let token = app.graph_token(&tenant).await.unwrap();
    let details = format!(
        "/beta/deviceManagement/certificateConnectorDetails/{}",
        conn.id
    );
    let metrics = app
        .request(
            Method::POST,
            &format!("{details}/getHealthMetrics"),
            Some(&token),
            Some(&json!({"metricNames": ["pkcsSuccess", "pkcsFailure", "scepSuccess"]})),
        )
        .await
        .unwrap();
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert_eq!(
        metrics.body["value"],
        json!([
            {"@odata.type": "microsoft.graph.keyLongValuePair", "name": "pkcsSuccess", "value": 5},
            {"@odata.type": "microsoft.graph.keyLongValuePair", "name": "pkcsFailure", "value": 1},
            {"@odata.type": "microsoft.graph.keyLongValuePair", "name": "scepSuccess", "value": 0}
        ])
    );
    let series = app
        .request(
            Method::POST,
            &format!("{details}/getHealthMetricTimeSeries"),
            Some(&token),
            Some(&json!({"timeSeries": {"metricName": "pkcs", "startDateTime": "2026-03-01T00:00:00Z", "endDateTime": "2026-03-01T01:00:00Z"}})),
        )
        .await
        .unwrap();
    assert_eq!(series.status, 200, "{}", series.body);
    assert_eq!(
        series.body["value"],
        json!([
            {"dateTime": "2026-03-01T00:00:00Z", "successCount": 3, "failureCount": 1},
            {"dateTime": "2026-03-01T00:05:00Z", "successCount": 2, "failureCount": 0}
        ])
    );
    // Bad input names what was wrong.
    for (path, body, mentions) in [
        (
            "getHealthMetrics",
            json!({"metricNames": ["colour"]}),
            "`colour` is not a health metric",
        ),
        ("getHealthMetrics", json!({"names": []}), "metricNames"),
        (
            "getHealthMetricTimeSeries",
            json!({"timeSeries": {"metricName": "pkcs", "startDateTime": "2026-03-01T01:00:00Z", "endDateTime": "2026-03-01T00:00:00Z"}}),
            "endDateTime is before startDateTime",
        ),
        (
            "getHealthMetricTimeSeries",
            json!({"timeSeries": {"metricName": "ndes"}}),
            "`ndes` is not one of",
        ),
    ] {
        let answer = app
            .request(
                Method::POST,
                &format!("{details}/{path}"),
                Some(&token),
                Some(&body),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{path} {body}");
        let text = answer.body["error"]["message"].as_str().unwrap();
        assert!(text.contains(mentions), "{text}");
    }

    let statuses = app
        .request::<()>(
            Method::GET,
            "/beta/deviceManagement/connectorStatus",
            Some(&token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        statuses.body["value"],
        json!([{
            "@odata.type": "#microsoft.graph.connectorStatusDetails",
            "connectorName": "ndesConnectorLastConnectionDateTime",
            "connectorInstanceId": conn.id,
            "status": "healthy",
            "eventDateTime": "2026-03-01T00:05:00Z"
        }])
    );

    // Check-ins go on, health uploads stop: failing 15 minutes after the last one.
    set_clock(&app, "2026-03-01T00:19:59Z").await;
    crate::support::checkin(&app, &conn.credential, "6.2510.3.2002").await;
    assert_eq!(
        status(&app, &tenant.id, &conn.id).await["status"],
        "healthy"
    );
    set_clock(&app, "2026-03-01T00:20:00Z").await;
    let now = status(&app, &tenant.id, &conn.id).await;
    assert_eq!(now["status"], "warning", "{now}");
    assert_eq!(now["reasons"][0]["code"], "HealthUploadFailing");
    let statuses = app
        .request::<()>(
            Method::GET,
            "/beta/deviceManagement/connectorStatus",
            Some(&token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(statuses.body["value"][0]["status"], "warning");

    // Another tenant's token sees none of it.
    let other = app.create_tenant("Fabrikam", None).await.unwrap();
    let theirs = app.graph_token(&other).await.unwrap();
    let answer = app
        .request(
            Method::POST,
            &format!("{details}/getHealthMetrics"),
            Some(&theirs),
            Some(&json!({"metricNames": ["pkcsSuccess"]})),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 404);
}
