//! Request queues over HTTP: enqueue, feature- and tenant-routed leases, completion (idempotent,
//! `LeaseLost` on a stale token), retry backoff, redelivery on lease expiry, dead letter after 5
//! attempts, cancel, uninstall releasing leases, and bad input that changes nothing.

use reqwest::Method;
use scenarios::harness::{spawn_app, Answer, TestApp};
use serde_json::{json, Value};

use crate::support::{at, install_body, revoke_job};

/// A throw-away self-signed device certificate (PEM) for payloads.
fn device_certificate() -> String {
    String::from_utf8(
        crate::support::self_signed("device-0001")
            .1
            .to_pem()
            .unwrap(),
    )
    .unwrap()
}

fn pkcs_job(cert: &str) -> Value {
    json!({
        "kind": "pkcs_create",
        "payload": {
            "subject": "CN=device-0001",
            "template": "IntuneDevice",
            "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA",
            "validityDays": 365,
            "keyAlgorithm": "p256",
            "deviceKeyCertificate": cert,
        }
    })
}

struct World {
    app: TestApp,
    tenant: wire::admin::Tenant,
}

async fn world() -> World {
    let app = spawn_app(at("2024-10-01T00:00:00Z"), 11).await.unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    World { app, tenant }
}

impl World {
    async fn connector(&self, machine: &str, features: &[&str]) -> String {
        let body = json!({"machineName": machine, "displayName": machine, "features": features, "version": "6.2406.0.1001"});
        install_body(&self.app, &self.tenant, &body)
            .await
            .credential
    }

    async fn enqueue(&self, body: &Value) -> Answer {
        self.app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{}/jobs", self.tenant.id),
                Some(body),
            )
            .await
            .unwrap()
    }

    async fn lease(&self, credential: &str, body: Value) -> Answer {
        self.app
            .request(
                Method::POST,
                "/connector/v1/jobs/lease",
                Some(credential),
                Some(&body),
            )
            .await
            .unwrap()
    }

    async fn complete(&self, credential: &str, job_id: &str, body: Value) -> Answer {
        self.app
            .request(
                Method::POST,
                &format!("/connector/v1/jobs/{job_id}/complete"),
                Some(credential),
                Some(&body),
            )
            .await
            .unwrap()
    }

    async fn job(&self, job_id: &str) -> Value {
        let answer = self
            .app
            .admin_get(&format!("/admin/tenants/{}/jobs/{job_id}", self.tenant.id))
            .await
            .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body
    }

    async fn count(&self, state: &str) -> i64 {
        let answer = self
            .app
            .admin_get(&format!(
                "/admin/tenants/{}/jobs?state={state}",
                self.tenant.id
            ))
            .await
            .unwrap();
        answer.body["count"].as_i64().unwrap()
    }

    async fn advance(&self, duration: &str) {
        let answer = self
            .app
            .admin(
                Method::POST,
                "/admin/clock",
                Some(&json!({"advance": duration})),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
    }
}

#[tokio::test]
async fn a_job_is_leased_completed_once_and_a_repeat_gets_the_same_answer() {
    let w = world().await;
    let pkcs = w.connector("SRV01", &["pkcs"]).await;
    let enqueued = w.enqueue(&pkcs_job(&device_certificate())).await;
    assert_eq!(enqueued.status, 201, "{}", enqueued.body);
    let job_id = enqueued.body["value"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(enqueued.body["value"][0]["state"], "queued");

    let leased = w.lease(&pkcs, json!({"max": 10})).await;
    assert_eq!(leased.status, 200, "{}", leased.body);
    assert_eq!(leased.body["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(leased.body["jobs"][0]["attempt"], 1);
    assert_eq!(
        leased.body["jobs"][0]["leaseExpiresDateTime"],
        "2024-10-01T00:05:00Z"
    );
    let token = leased.body["jobs"][0]["leaseToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let done = json!({"leaseToken": token, "outcome": "succeeded", "result": {"pfx": "AA=="}});
    let first = w.complete(&pkcs, &job_id, done.clone()).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(
        first.body,
        json!({"jobId": job_id, "attempt": 1, "outcome": "succeeded", "state": "succeeded"})
    );
    let again = w.complete(&pkcs, &job_id, done).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body);

    let different = w
        .complete(
            &pkcs,
            &job_id,
            json!({"leaseToken": token, "outcome": "failed", "errorCode": "CaDown"}),
        )
        .await;
    assert_eq!(different.status, 409);
    assert_eq!(different.error_code(), Some("AlreadyCompleted"));

    let job = w.job(&job_id).await;
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["result"], json!({"pfx": "AA=="}));
    assert_eq!(job["attemptHistory"].as_array().unwrap().len(), 1);
    assert_eq!(job["attemptHistory"][0]["outcome"], "succeeded");
}

#[tokio::test]
async fn jobs_go_only_to_connectors_of_their_tenant_that_have_the_feature() {
    let w = world().await;
    let scep_only = w.connector("SCEP01", &["scep"]).await;
    let revoker = w.connector("REV01", &["revocation"]).await;
    let other_tenant = w.app.create_tenant("Fabrikam", None).await.unwrap();
    let body = json!({"machineName": "FAB01", "displayName": "FAB01", "features": ["pkcs", "revocation"], "version": "6.2406.0.1001"});
    let other = w
        .app
        .request(
            Method::POST,
            "/connector/v1/register",
            other_tenant.enrollment_secret.as_deref(),
            Some(&body),
        )
        .await
        .unwrap();
    let other = other.body["credential"].as_str().unwrap().to_owned();

    let cert = device_certificate();
    assert_eq!(
        w.enqueue(&json!({"jobs": [pkcs_job(&cert), revoke_job("0a1b2c")]}))
            .await
            .status,
        201
    );

    assert_eq!(
        w.lease(&other, json!({"max": 10})).await.body["jobs"],
        json!([])
    );
    assert_eq!(
        w.lease(&scep_only, json!({"max": 10})).await.body["jobs"],
        json!([])
    );
    let refused = w
        .lease(&scep_only, json!({"max": 10, "kinds": ["pkcs_create"]}))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.error_code(), Some("FeatureNotInstalled"));

    let revokes = w.lease(&revoker, json!({"max": 10})).await;
    let jobs = revokes.body["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["kind"], "revoke");
    assert_eq!(jobs[0]["payload"]["serialNumber"], "0a1b2c");
    assert_eq!(w.count("queued").await, 1);
}

#[tokio::test]
async fn an_expired_lease_is_redelivered_and_the_stale_token_gets_lease_lost() {
    let w = world().await;
    let first = w.connector("SRV01", &["pkcs"]).await;
    let second = w.connector("SRV02", &["pkcs"]).await;
    let job_id = w.enqueue(&pkcs_job(&device_certificate())).await.body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let lease = w
        .lease(&first, json!({"max": 1, "visibilityTimeoutSeconds": 60}))
        .await;
    let stale = lease.body["jobs"][0]["leaseToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        w.lease(&second, json!({"max": 1})).await.body["jobs"],
        json!([]),
        "invisible while leased"
    );

    w.advance("PT61S").await;
    let again = w.lease(&second, json!({"max": 1})).await;
    assert_eq!(again.body["jobs"][0]["id"], job_id.as_str());
    assert_eq!(again.body["jobs"][0]["attempt"], 2);

    let late = w
        .complete(
            &first,
            &job_id,
            json!({"leaseToken": stale, "outcome": "succeeded", "result": {}}),
        )
        .await;
    assert_eq!(late.status, 409);
    assert_eq!(late.error_code(), Some("LeaseLost"));
    let job = w.job(&job_id).await;
    assert_eq!(job["state"], "leased");
    assert_eq!(job["attempts"], 2);
    assert_eq!(job["attemptHistory"][0]["outcome"], "expired");
}

#[tokio::test]
async fn a_job_whose_lease_expires_five_times_goes_to_dead_letter_with_the_last_error() {
    let w = world().await;
    let pkcs = w.connector("SRV01", &["pkcs"]).await;
    let job_id = w.enqueue(&pkcs_job(&device_certificate())).await.body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for attempt in 1..=5 {
        let lease = w
            .lease(&pkcs, json!({"max": 1, "visibilityTimeoutSeconds": 10}))
            .await;
        assert_eq!(lease.body["jobs"][0]["attempt"], attempt);
        w.advance("PT11S").await;
    }
    assert_eq!(
        w.lease(&pkcs, json!({"max": 1})).await.body["jobs"],
        json!([])
    );
    let job = w.job(&job_id).await;
    assert_eq!(job["state"], "dead_letter");
    assert_eq!(job["errorCode"], "LeaseExpired");
    assert_eq!(job["completedDateTime"], "2024-10-01T00:00:55Z");
    assert_eq!(w.count("dead_letter").await, 1);
}

#[tokio::test]
async fn retry_puts_the_job_back_after_a_backoff() {
    let w = world().await;
    let pkcs = w.connector("SRV01", &["pkcs"]).await;
    let job_id = w.enqueue(&pkcs_job(&device_certificate())).await.body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = w.lease(&pkcs, json!({"max": 1})).await.body["jobs"][0]["leaseToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let retry = w
        .complete(
            &pkcs,
            &job_id,
            json!({"leaseToken": token, "outcome": "retry", "errorCode": "CaUnavailable"}),
        )
        .await;
    assert_eq!(retry.body["state"], "queued");
    assert_eq!(
        w.lease(&pkcs, json!({"max": 1})).await.body["jobs"],
        json!([]),
        "still backing off"
    );
    w.advance("PT30S").await;
    assert_eq!(
        w.lease(&pkcs, json!({"max": 1})).await.body["jobs"][0]["attempt"],
        2
    );
}

#[tokio::test]
async fn uninstall_releases_leases_at_once_and_cancel_ends_a_job() {
    let w = world().await;
    let leaving = w.connector("SRV01", &["pkcs"]).await;
    let staying = w.connector("SRV02", &["pkcs"]).await;
    let cert = device_certificate();
    let ids: Vec<String> = w
        .enqueue(&json!({"jobs": [pkcs_job(&cert), pkcs_job(&cert)]}))
        .await
        .body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        w.lease(&leaving, json!({"max": 2})).await.body["jobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let gone = w
        .app
        .request::<()>(Method::DELETE, "/connector/v1/self", Some(&leaving), None)
        .await
        .unwrap();
    assert_eq!(gone.status, 204);
    assert_eq!(
        w.lease(&staying, json!({"max": 1})).await.body["jobs"][0]["id"],
        ids[0].as_str()
    );

    let cancelled = w
        .app
        .admin::<()>(
            Method::POST,
            &format!("/admin/tenants/{}/jobs/{}/cancel", w.tenant.id, ids[1]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.body["state"], "cancelled");
    let twice = w
        .app
        .admin::<()>(
            Method::POST,
            &format!("/admin/tenants/{}/jobs/{}/cancel", w.tenant.id, ids[1]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(twice.status, 409);
    assert_eq!(
        w.lease(&staying, json!({"max": 5})).await.body["jobs"],
        json!([])
    );
}

#[tokio::test]
async fn bad_job_input_is_refused_with_a_clear_error_and_changes_nothing() {
    let w = world().await;
    let pkcs = w.connector("SRV01", &["pkcs"]).await;
    let cases = [
        (
            json!({"kind": "pkcs_mint", "payload": {}}),
            "UnknownJobKind",
            "pkcs_mint",
        ),
        (
            pkcs_job("-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----"),
            "InvalidCertificate",
            "deviceKeyCertificate",
        ),
        (
            pkcs_job("%%%not-base64%%%"),
            "InvalidBase64",
            "deviceKeyCertificate",
        ),
        (revoke_job("xyz"), "InvalidField", "serialNumber"),
        (
            json!({"kind": "pkcs_recrypt", "payload": {"pfx": "AAAA", "encryptedPassword": "AA==", "deviceKeyCertificate": "AA=="}}),
            "InvalidPayload",
            "PKCS#12",
        ),
        (
            json!({"kind": "revoke", "payload": {"serialNumber": "01"}}),
            "InvalidPayload",
            "issuerName",
        ),
    ];
    for (body, code, mentions) in cases {
        let answer = w.enqueue(&body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.error_code(), Some(code), "{}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "`{message}` should mention {mentions}"
        );
    }
    let too_many: Vec<Value> = (0..1001).map(|i| revoke_job(&format!("{i:x}"))).collect();
    let answer = w.enqueue(&json!({ "jobs": too_many })).await;
    assert_eq!(answer.status, 400);
    assert_eq!(w.count("queued").await, 0, "nothing was stored");

    let job_id = w.enqueue(&revoke_job("0a")).await.body["value"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let oversize = w.lease(&pkcs, json!({"max": 101})).await;
    assert_eq!(oversize.status, 400);
    let revoker = w.connector("REV01", &["revocation"]).await;
    let token = w.lease(&revoker, json!({"max": 1})).await.body["jobs"][0]["leaseToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong_token = w
        .complete(
            &revoker,
            &job_id,
            json!({"leaseToken": "lease_not-a-token", "outcome": "succeeded", "result": {}}),
        )
        .await;
    assert_eq!(wrong_token.status, 409);
    assert_eq!(wrong_token.error_code(), Some("LeaseLost"));
    let someone_else = w
        .complete(
            &pkcs,
            &job_id,
            json!({"leaseToken": token, "outcome": "succeeded", "result": {}}),
        )
        .await;
    assert_eq!(someone_else.status, 403);
    assert_eq!(someone_else.error_code(), Some("NotLeaseHolder"));
    let no_result = w
        .complete(
            &revoker,
            &job_id,
            json!({"leaseToken": token, "outcome": "succeeded"}),
        )
        .await;
    assert_eq!(no_result.status, 400);
    let job = w.job(&job_id).await;
    assert_eq!(job["state"], "leased", "no state change");
    assert_eq!(job["attemptHistory"][0].get("outcome"), None);
}

const VALIDATE: &str = "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService/ScepActions/validateRequest";

/// A DER PKCS#10 (base64) for a throw-away P-256 key; with a challengePassword when given.
fn scep_csr(challenge: Option<&str>) -> String {
    use base64::Engine as _;
    use connector_sim::pki;
    let key = pki::KeyPool::new()
        .generate(pki::KeyAlgorithm::P256)
        .unwrap();
    let der =
        pki::certificate_request_with_challenge(&key, "CN=scep-device", challenge, vec![]).unwrap();
    base64::engine::general_purpose::STANDARD.encode(der)
}

#[tokio::test]
async fn the_docs_routing_example_spreads_pkcs_over_all_four_and_scep_only_to_the_two() {
    let w = world().await;
    let pkcs = [
        w.connector("PKCS01", &["pkcs"]).await,
        w.connector("PKCS02", &["pkcs"]).await,
    ];
    let scep = [
        w.connector("SCEP01", &["pkcs", "scep"]).await,
        w.connector("SCEP02", &["pkcs", "scep"]).await,
    ];
    let cert = device_certificate();
    let jobs: Vec<Value> = (0..400).map(|_| pkcs_job(&cert)).collect();
    assert_eq!(w.enqueue(&json!({ "jobs": jobs })).await.status, 201);

    // Each polls in turn for up to 100: every one of the four handles some (here exactly 100).
    for credential in pkcs.iter().chain(scep.iter()) {
        let leased = w.lease(credential, json!({"max": 100})).await;
        let leased = leased.body["jobs"].as_array().unwrap().clone();
        assert_eq!(leased.len(), 100);
        for job in leased {
            let id = job["id"].as_str().unwrap();
            let token = job["leaseToken"].as_str().unwrap();
            let done = w
                .complete(
                    credential,
                    id,
                    json!({"leaseToken": token, "outcome": "succeeded", "result": {}}),
                )
                .await;
            assert_eq!(done.status, 200, "{}", done.body);
        }
    }
    assert_eq!(w.count("succeeded").await, 400);

    let validate = |credential: String, csr: Value| {
        let app = &w.app;
        async move {
            let body = json!({"request": {"transactionId": "tx-1", "certificateRequest": csr, "callerInfo": "test"}});
            app.request(Method::POST, VALIDATE, Some(&credential), Some(&body))
                .await
                .unwrap()
        }
    };
    for credential in &pkcs {
        let refused = validate(credential.clone(), json!(scep_csr(Some("c")))).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(refused.error_code(), Some("FeatureNotInstalled"));
    }
    let cases = [
        (json!(scep_csr(None)), "ChallengePasswordMissing"),
        (
            json!(scep_csr(Some("never-issued"))),
            "ChallengeDecodingError",
        ),
        (json!("bm90IGEgQ1NS"), "CertificateRequestDecodingFailed"),
        (json!("%%%"), "CertificateRequestDecodingFailed"),
        (Value::Null, "CertificateRequestDecodingFailed"),
    ];
    for credential in &scep {
        for (csr, code) in &cases {
            let answer = validate(credential.clone(), csr.clone()).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            assert_eq!(answer.body["code"], *code, "{csr}");
            assert!(answer.body["errorDescription"].is_string());
        }
    }
    let anonymous = w
        .app
        .request(
            Method::POST,
            VALIDATE,
            Some("not-a-credential"),
            Some(&json!({"request": {}})),
        )
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);
}
