//! The simulated connector's own client behaviour, pinned against `wiremock` stubs of the service
//! (no service runs): what `ServiceClient` and the connector's poll and work loop do when the
//! service answers 429 with `Retry-After`, bursts of 500 and 503, an answer slower than the
//! client's timeout, malformed JSON, a lease answer with a job of a kind it did not ask for, and
//! 401 once its credential is gone. Each test says, with literal values, which calls the
//! connector made (in order), which events it wrote, and when it gave up.
//!
//! What it does today (docs/behaviour.md, "The simulated connector"): each call is tried once;
//! there is no retry within a poll, no backoff beyond the 30-second poll grid, and `Retry-After`
//! is not read. A call fails after 30 seconds without an answer. A health message is given up
//! after three failed attempts in a row (5002); check-ins and downloads are never given up.

use std::time::Duration;

use connector_sim::ca::CaDirectory;
use connector_sim::pki::CertificateAuthority;
use connector_sim::{
    http_client, ClientError, Connector, ConnectorConfig, ServiceClient, WorkSummary, Workbench,
};
use serde_json::{json, Value};
use wire::connector::Feature;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::at;

const CA: &str = "ca01.contoso.com\\Contoso Issuing CA";
const CHECKIN: &str = "/connector/v1/checkin";
const HEALTH: &str = "/connector/v1/health";
const LEASE: &str = "/connector/v1/jobs/lease";
const COMPLETE: &str = "/connector/v1/jobs/complete";

/// A revocation connector installed at 2026-03-01T00:00:00Z on a stub that registered it (id
/// `c-0001`) and answered its first check-in, with an embedded CA to work with. The stub then
/// forgets those mocks and requests: each test mounts what the service answers next.
async fn installed() -> (MockServer, Connector) {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/connector/v1/register"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"connectorId": "c-0001", "credential": "cred-0001"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(CHECKIN))
        .respond_with(checked_in())
        .mount(&server)
        .await;
    let config = ConnectorConfig {
        auto_update: false,
        seed: 3,
        ..ConnectorConfig::new("SRV01", &[Feature::Revocation], "6.2406.0.1001")
    };
    let client = ServiceClient::new(server.uri(), http_client(None).unwrap());
    let mut connector =
        Connector::install(config, client, "enroll-secret", at("2026-03-01T00:00:00Z"))
            .await
            .unwrap();
    let cas = CaDirectory::new();
    cas.add_embedded(
        CertificateAuthority::new(CA, "Contoso Issuing CA", at("2026-03-01T00:00:00Z")).unwrap(),
    );
    connector.set_workbench(Workbench::new(cas));
    assert_eq!(calls(&server).await, ["/connector/v1/register", CHECKIN]);
    server.reset().await;
    (server, connector)
}

fn checked_in() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"connectorId": "c-0001", "serverDateTime": "2026-03-01T00:00:00Z"}))
}

/// The service's error envelope (Graph's, with its `innerError`).
fn graph_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {
        "code": code,
        "message": message,
        "innerError": {
            "date": "2026-03-01T00:00:30",
            "request-id": "00000000-0000-0000-0000-000000000001",
            "client-request-id": "00000000-0000-0000-0000-000000000002"
        }
    }}))
}

/// `answer` to every `POST route`, with the given priority (lower wins) and at most `times`
/// times when given.
async fn answer(
    server: &MockServer,
    route: &str,
    priority: u8,
    times: Option<u64>,
    template: ResponseTemplate,
) {
    let mock = Mock::given(method("POST"))
        .and(path(route.to_owned()))
        .respond_with(template)
        .with_priority(priority);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(server).await,
        None => mock.mount(server).await,
    }
}

/// The paths the stub received, in order.
async fn calls(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .expect("the stub records requests")
        .iter()
        .map(|r| r.url.path().to_owned())
        .collect()
}

/// The events written since record `from`: id and message.
fn events(connector: &Connector, from: usize) -> Vec<(u16, String)> {
    connector.log().records()[from..]
        .iter()
        .map(|r| (r.event_id, r.message.clone()))
        .collect()
}

fn record_count(connector: &Connector) -> usize {
    connector.log().records().len()
}

fn event(id: u16, message: &str) -> (u16, String) {
    (id, message.to_owned())
}

#[tokio::test]
async fn a_429_with_retry_after_fails_each_call_once_and_the_next_poll_comes_on_its_grid() {
    let (server, mut connector) = installed().await;
    let from = record_count(&connector);
    for route in [HEALTH, CHECKIN, LEASE] {
        answer(
            &server,
            route,
            1,
            None,
            graph_error(429, "TooManyRequests", "slow down").insert_header("Retry-After", "120"),
        )
        .await;
    }

    // The poll at 00:00:30: the health message (due since the install) and the check-in are
    // refused, once each; then the revocation worker's download.
    let refused = connector
        .poll(at("2026-03-01T00:00:30Z"))
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        ClientError::Http {
            status: 429,
            code: "TooManyRequests".into(),
            message: "slow down".into()
        }
    );
    let done = connector.work(at("2026-03-01T00:00:30Z")).await;
    assert_eq!(
        done,
        WorkSummary {
            call_errors: 1,
            ..WorkSummary::default()
        }
    );
    assert_eq!(
        events(&connector, from),
        [
            event(
                5001,
                "Failed to upload a health message to Intune: HTTP 429 TooManyRequests: slow down; will try again."
            ),
            event(3003, "HTTP 429 TooManyRequests: slow down"),
            event(3001, "HTTP 429 TooManyRequests: slow down"),
        ]
    );
    assert_eq!(calls(&server).await, [HEALTH, CHECKIN, LEASE]);

    // Retry-After asked for 120 s: the connector does not read it, and calls again at its next
    // grid point, 30 s on.
    assert_eq!(connector.next_poll(), Some(at("2026-03-01T00:01:00Z")));
    assert!(connector.poll(at("2026-03-01T00:01:00Z")).await.is_err());
    connector.work(at("2026-03-01T00:01:00Z")).await;
    assert_eq!(
        calls(&server).await,
        [HEALTH, CHECKIN, LEASE, HEALTH, CHECKIN, LEASE]
    );
}

#[tokio::test]
async fn bursts_of_500_and_503_fail_one_call_per_poll_and_only_the_health_message_is_given_up() {
    let (server, mut connector) = installed().await;
    let from = record_count(&connector);
    // Health: 500, 503, 500, then accepted. Downloads: 503, 500 (plain text), then no jobs.
    answer(
        &server,
        HEALTH,
        1,
        Some(1),
        graph_error(500, "InternalServerError", "boom"),
    )
    .await;
    answer(
        &server,
        HEALTH,
        2,
        Some(1),
        graph_error(503, "ServiceUnavailable", "busy"),
    )
    .await;
    answer(
        &server,
        HEALTH,
        3,
        Some(1),
        graph_error(500, "InternalServerError", "boom"),
    )
    .await;
    answer(&server, HEALTH, 4, None, ResponseTemplate::new(204)).await;
    answer(
        &server,
        LEASE,
        1,
        Some(1),
        graph_error(503, "ServiceUnavailable", "busy"),
    )
    .await;
    answer(
        &server,
        LEASE,
        2,
        Some(1),
        ResponseTemplate::new(500).set_body_string("upstream crashed"),
    )
    .await;
    answer(
        &server,
        LEASE,
        3,
        None,
        ResponseTemplate::new(200).set_body_json(json!({"jobs": []})),
    )
    .await;
    answer(&server, CHECKIN, 1, None, checked_in()).await;

    let mut summaries = Vec::new();
    for now in [
        "2026-03-01T00:00:30Z",
        "2026-03-01T00:01:00Z",
        "2026-03-01T00:01:30Z",
        "2026-03-01T00:02:00Z",
    ] {
        connector.poll(at(now)).await.unwrap();
        summaries.push(connector.work(at(now)).await.call_errors);
    }
    assert_eq!(summaries, [1, 1, 0, 0]);
    assert_eq!(
        events(&connector, from),
        [
            event(
                5001,
                "Failed to upload a health message to Intune: HTTP 500 InternalServerError: boom; will try again."
            ),
            event(3003, "HTTP 503 ServiceUnavailable: busy"),
            event(3001, "HTTP 503 ServiceUnavailable: busy"),
            event(
                5001,
                "Failed to upload a health message to Intune: HTTP 503 ServiceUnavailable: busy; will try again."
            ),
            event(3003, "HTTP 500 : upstream crashed"),
            event(3001, "HTTP 500 : upstream crashed"),
            event(
                5002,
                "Failed to upload a health message to Intune three times: HTTP 500 InternalServerError: boom; it is dropped."
            ),
        ]
    );
    // Three health attempts (then none until 5 minutes after the third), a check-in at each
    // poll without an uploaded health message, one download per round.
    assert_eq!(
        calls(&server).await,
        [HEALTH, CHECKIN, LEASE, HEALTH, CHECKIN, LEASE, HEALTH, CHECKIN, LEASE, CHECKIN, LEASE]
    );
    let attempts: Vec<Value> = connector
        .log()
        .records()
        .iter()
        .filter(|r| r.event_id == 5001)
        .map(|r| r.data()["attempt"].clone())
        .collect();
    assert_eq!(attempts, [json!(1), json!(2)]);

    // 00:06:30, five minutes after the dropped message: the next one goes through and is the
    // poll's check-in.
    let from = record_count(&connector);
    connector.poll(at("2026-03-01T00:06:30Z")).await.unwrap();
    assert_eq!(
        events(&connector, from),
        [event(5000, "Uploaded a health message to Intune.")]
    );
    assert_eq!(calls(&server).await.len(), 12);
    assert_eq!(calls(&server).await[11], HEALTH);
}

#[tokio::test]
async fn a_500_on_the_upload_loses_the_rounds_results_and_the_upload_is_not_tried_again() {
    // The CA never issued serial 0a01, so the work itself fails (3051, CertificateNotFound); the
    // result that would tell the service so is lost with the upload.
    let (server, mut connector) = installed().await;
    answer(
        &server,
        LEASE,
        1,
        Some(1),
        ResponseTemplate::new(200).set_body_json(json!({"jobs": [{
            "id": "job-1",
            "kind": "revoke",
            "leaseToken": "lt-1",
            "attempt": 1,
            "maxAttempts": 5,
            "leaseExpiresDateTime": "2026-03-01T00:05:00Z",
            "payload": {"serialNumber": "0a01", "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": CA}
        }]})),
    )
    .await;
    answer(
        &server,
        COMPLETE,
        1,
        None,
        graph_error(500, "InternalServerError", "boom"),
    )
    .await;
    let from = record_count(&connector);

    let done = connector.work(at("2026-03-01T00:00:30Z")).await;

    assert_eq!(
        done,
        WorkSummary {
            leased: 1,
            failed: 1,
            call_errors: 1,
            ..WorkSummary::default()
        }
    );
    assert_eq!(
        events(&connector, from)[3..],
        [
            event(
                3051,
                "CertificateNotFound: certificate with serial number A01 was not issued by this CA"
            ),
            event(3101, "HTTP 500 InternalServerError: boom"),
        ]
    );
    let ids: Vec<u16> = events(&connector, from).iter().map(|e| e.0).collect();
    assert_eq!(ids, [3002, 3000, 3020, 3051, 3101]);
    assert_eq!(calls(&server).await, [LEASE, COMPLETE]);
}

#[tokio::test]
async fn an_answer_slower_than_thirty_seconds_fails_the_download_at_thirty_seconds() {
    let (server, mut connector) = installed().await;
    answer(
        &server,
        LEASE,
        1,
        None,
        ResponseTemplate::new(200)
            .set_body_json(json!({"jobs": []}))
            .set_delay(Duration::from_secs(45)),
    )
    .await;
    let from = record_count(&connector);

    let started = std::time::Instant::now();
    let done = connector.work(at("2026-03-01T00:00:30Z")).await;
    let waited = started.elapsed();

    assert!(
        (Duration::from_secs(30)..Duration::from_secs(35)).contains(&waited),
        "the download gave up after {waited:?}"
    );
    assert_eq!(done.call_errors, 1);
    let expected = format!(
        "cannot reach the service: error sending request for url ({}{LEASE})",
        server.uri()
    );
    assert_eq!(
        events(&connector, from),
        [event(3003, &expected), event(3001, &expected)]
    );
    assert_eq!(calls(&server).await, [LEASE]);
}

#[tokio::test]
async fn malformed_json_fails_the_call_as_an_answer_that_does_not_parse_and_nothing_is_worked() {
    let (server, mut connector) = installed().await;
    let truncated = r#"{"jobs": [{"id": "job-1", "kind": "revoke""#;
    answer(
        &server,
        LEASE,
        1,
        None,
        ResponseTemplate::new(200).set_body_raw(truncated, "application/json"),
    )
    .await;
    answer(
        &server,
        CHECKIN,
        1,
        None,
        ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html"),
    )
    .await;
    let from = record_count(&connector);

    let checkin = connector
        .checkin(at("2026-03-01T00:00:30Z"))
        .await
        .unwrap_err();
    let done = connector.work(at("2026-03-01T00:00:30Z")).await;

    assert_eq!(
        checkin,
        ClientError::Decode("expected value at line 1 column 1".into())
    );
    assert_eq!(
        done,
        WorkSummary {
            call_errors: 1,
            ..WorkSummary::default()
        }
    );
    let message =
        "the service's answer does not parse: EOF while parsing an object at line 1 column 42";
    assert_eq!(
        events(&connector, from),
        [event(3003, message), event(3001, message)]
    );
    assert_eq!(calls(&server).await, [CHECKIN, LEASE]);
}

#[tokio::test]
async fn a_lease_answer_with_a_job_of_a_kind_it_did_not_ask_for_is_worked_as_the_asked_kind_and_failed(
) {
    let (server, mut connector) = installed().await;
    // The revocation worker asks for `revoke` only; the answer holds a PKCS request.
    answer(
        &server,
        LEASE,
        1,
        Some(1),
        ResponseTemplate::new(200).set_body_json(json!({"jobs": [{
            "id": "job-9",
            "kind": "pkcs_create",
            "leaseToken": "lt-9",
            "attempt": 1,
            "maxAttempts": 5,
            "leaseExpiresDateTime": "2026-03-01T00:05:30Z",
            "payload": {"subjectName": "CN=alice"}
        }]})),
    )
    .await;
    answer(
        &server,
        COMPLETE,
        1,
        None,
        ResponseTemplate::new(200).set_body_json(json!({"value": [{
            "jobId": "job-9",
            "status": 200,
            "completed": {"jobId": "job-9", "attempt": 1, "outcome": "failed", "state": "failed"}
        }]})),
    )
    .await;
    let from = record_count(&connector);

    let done = connector.work(at("2026-03-01T00:00:30Z")).await;

    let requests = server.received_requests().await.unwrap();
    let paths: Vec<&str> = requests.iter().map(|r| r.url.path()).collect();
    assert_eq!(paths, [LEASE, COMPLETE]);
    let asked: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(asked, json!({"kinds": ["revoke"], "max": 100}));
    // Today the connector does not look at the job's kind: it works the PKCS request as a
    // revocation, finds no CA in its payload and reports it failed (terminal), so the service
    // ends a job that a PKCS connector could have done.
    let uploaded: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        uploaded,
        json!({"completions": [{
            "jobId": "job-9",
            "leaseToken": "lt-9",
            "outcome": "failed",
            "errorCode": "InvalidPayload",
            "errorMessage": "payload field `certificationAuthority` is missing or not a string"
        }]})
    );
    assert_eq!(
        done,
        WorkSummary {
            leased: 1,
            failed: 1,
            ..WorkSummary::default()
        }
    );
    let ids: Vec<u16> = events(&connector, from).iter().map(|e| e.0).collect();
    assert_eq!(ids, [3002, 3000, 3020, 3051, 3100, 3102]);
}

#[tokio::test]
async fn a_401_after_the_credential_was_deleted_is_met_at_every_poll_and_never_given_up() {
    let (server, mut connector) = installed().await;
    let gone = "the connector credential is not valid (is the connector uninstalled?)";
    for route in [HEALTH, CHECKIN, LEASE] {
        answer(
            &server,
            route,
            1,
            None,
            graph_error(401, "unauthenticated", gone),
        )
        .await;
    }
    let from = record_count(&connector);

    let mut refusals = Vec::new();
    for now in [
        "2026-03-01T00:00:30Z",
        "2026-03-01T00:01:00Z",
        "2026-03-01T00:01:30Z",
        "2026-03-01T00:02:00Z",
    ] {
        refusals.push(connector.poll(at(now)).await.unwrap_err().status());
        connector.work(at(now)).await;
    }

    assert_eq!(refusals, [Some(401); 4]);
    let ids: Vec<u16> = events(&connector, from).iter().map(|e| e.0).collect();
    assert_eq!(
        ids,
        [5001, 3003, 3001, 5001, 3003, 3001, 5002, 3003, 3001, 3003, 3001]
    );
    assert_eq!(
        events(&connector, from)[1],
        event(3003, &format!("HTTP 401 unauthenticated: {gone}"))
    );
    assert_eq!(
        calls(&server).await,
        [HEALTH, CHECKIN, LEASE, HEALTH, CHECKIN, LEASE, HEALTH, CHECKIN, LEASE, CHECKIN, LEASE]
    );
    // Still running, and polling on its grid.
    assert!(connector.is_running());
    assert_eq!(connector.next_poll(), Some(at("2026-03-01T00:02:30Z")));
}
