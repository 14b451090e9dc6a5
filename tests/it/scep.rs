//! The Intune SCEP surface over HTTP: discovery, challenges issued for a device targeted by a
//! SCEP profile, validateRequest with each rule's wire code, the extension allow-list of connector
//! 6.2510.3.2002, and success/failure notifications in the forms the real clients send.

use asn1::der::asn1::Utf8StringRef;
use asn1::der::Encode as _;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use connector_sim::pki::{self, KeyAlgorithm, KeyPool};
use openssl::asn1::Asn1Object;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Extension, X509};
use reqwest::Method;
use scenarios::harness::{spawn_app, Answer, TestApp};
use serde_json::{json, Value};

use crate::support::{at, install_body};

pub(crate) const SCEP: &str =
    "/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService";
const DISCOVERY: &str =
    "/v1.0/servicePrincipals/appId=0000000a-0000-0000-c000-000000000000/endpoints";

struct World {
    app: TestApp,
    tenant: wire::admin::Tenant,
    token: String,
    rsa: PKey<Private>,
}

async fn world() -> World {
    let app = spawn_app(at("2026-03-01T00:00:00Z"), 31).await.unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let token = app.graph_token(&tenant).await.unwrap();
    let rsa = KeyPool::new().generate(KeyAlgorithm::Rsa2048).unwrap();
    World {
        app,
        tenant,
        token,
        rsa,
    }
}

/// The profile every test targets device-0001 with.
fn profile() -> Value {
    json!({
        "deviceId": "device-0001",
        "userId": "user-0001",
        "subject": "CN=device-0001,O=Contoso",
        "subjectAlternativeNames": [
            {"type": "dns", "value": "device-0001.contoso.com"},
            {"type": "upn", "value": "user0001@contoso.com"}
        ],
        "keyUsage": ["digitalSignature", "keyEncipherment"],
        "keySize": 2048,
        "extendedKeyUsage": ["1.3.6.1.5.5.7.3.2"],
        "validityMinutes": 60
    })
}

/// What a device's CSR carries; each field can be spoiled by a test.
#[derive(Clone)]
struct Csr {
    subject: &'static str,
    dns: Option<&'static str>,
    upn: bool,
    key_usage: &'static [&'static str],
    eku: Option<&'static str>,
    extra: Option<&'static str>,
}

const GOOD: Csr = Csr {
    subject: "CN=device-0001,O=Contoso",
    dns: Some("device-0001.contoso.com"),
    upn: true,
    key_usage: &["digitalSignature", "keyEncipherment"],
    eku: Some("clientAuth"),
    extra: None,
};

fn extensions(csr: &Csr) -> Vec<X509Extension> {
    let context_builder = X509::builder().unwrap();
    let context = context_builder.x509v3_context(None, None);
    let mut out = Vec::new();
    if csr.dns.is_some() || csr.upn {
        let mut san = SubjectAlternativeName::new();
        if let Some(dns) = csr.dns {
            san.dns(dns);
        }
        if csr.upn {
            // The otherName's value: a UTF8String.
            let value = Utf8StringRef::new("user0001@contoso.com")
                .unwrap()
                .to_der()
                .unwrap();
            san.other_name2(
                Asn1Object::from_str(&asn1::oid::MS_UPN.to_string()).unwrap(),
                &value,
            );
        }
        out.push(san.build(&context).unwrap());
    }
    if !csr.key_usage.is_empty() {
        let mut ku = KeyUsage::new();
        for usage in csr.key_usage {
            match *usage {
                "digitalSignature" => ku.digital_signature(),
                "keyEncipherment" => ku.key_encipherment(),
                other => panic!("{other}"),
            };
        }
        out.push(ku.build().unwrap());
    }
    match csr.eku {
        Some("clientAuth") => out.push(ExtendedKeyUsage::new().client_auth().build().unwrap()),
        Some("serverAuth") => out.push(ExtendedKeyUsage::new().server_auth().build().unwrap()),
        Some(other) => panic!("{other}"),
        None => {}
    }
    match csr.extra {
        Some("basicConstraints") => out.push(BasicConstraints::new().build().unwrap()),
        Some("nsComment") =>
        {
            #[allow(deprecated)]
            out.push(
                X509Extension::new(None, Some(&context), "nsComment", "made by a test").unwrap(),
            )
        }
        Some(other) => panic!("{other}"),
        None => {}
    }
    out
}

impl World {
    async fn target(&self, body: &Value) -> Answer {
        self.app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{}/scep/challenges", self.tenant.id),
                Some(body),
            )
            .await
            .unwrap()
    }

    async fn challenge(&self) -> (String, String) {
        let created = self.target(&profile()).await;
        assert_eq!(created.status, 201, "{}", created.body);
        (
            created.body["id"].as_str().unwrap().to_owned(),
            created.body["challenge"].as_str().unwrap().to_owned(),
        )
    }

    fn csr(&self, csr: &Csr, challenge: Option<&str>, key: &PKey<Private>) -> String {
        B64.encode(
            pki::certificate_request_with_challenge(key, csr.subject, challenge, extensions(csr))
                .unwrap(),
        )
    }

    async fn call(&self, action: &str, bearer: &str, body: &Value) -> Answer {
        self.app
            .request(
                Method::POST,
                &format!("{SCEP}/ScepActions/{action}"),
                Some(bearer),
                Some(body),
            )
            .await
            .unwrap()
    }

    /// validateRequest as the third-party CA library sends it; returns the answer's code.
    async fn validate_as(&self, bearer: &str, transaction: &str, csr: &str) -> String {
        let body = json!({"request": {"transactionId": transaction, "certificateRequest": csr, "callerInfo": "intune-mock-tests/1.0"}});
        let answer = self.call("validateRequest", bearer, &body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert!(
            answer.body["errorDescription"].is_string(),
            "{}",
            answer.body
        );
        answer.body["code"].as_str().unwrap().to_owned()
    }

    async fn validate(&self, csr: &str) -> String {
        self.validate_as(&self.token, "tx-0001", csr).await
    }

    async fn connector(&self, machine: &str, version: &str) -> String {
        let body = json!({"machineName": machine, "displayName": machine, "features": ["scep"], "version": version});
        install_body(&self.app, &self.tenant, &body)
            .await
            .credential
    }
}

#[tokio::test]
async fn discovery_lists_both_intune_services_at_this_services_address() {
    let w = world().await;
    let answer = w
        .app
        .request::<()>(Method::GET, DISCOVERY, Some(&w.token), None)
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let value = answer.body["value"].as_array().unwrap();
    let uri = |name: &str| {
        value
            .iter()
            .find(|e| e["providerName"] == name)
            .map(|e| e["uri"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let host = w.app.base_url.trim_start_matches("http://");
    assert_eq!(
        uri("ScepRequestValidationFEService"),
        format!("http://{host}/RACerts/ScepRequestValidationFEService/Gateway/StatelessScepRequestValidationService")
    );
    assert_eq!(
        uri("PkiConnectorFEService"),
        format!("http://{host}/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService")
    );
    let other = w
        .app
        .request::<()>(
            Method::GET,
            "/v1.0/servicePrincipals/appId=00000003-0000-0000-c000-000000000000/endpoints",
            Some(&w.token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(other.status, 404);
    let anonymous = w
        .app
        .request::<()>(Method::GET, DISCOVERY, None, None)
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);
}

#[tokio::test]
async fn validate_request_answers_each_rule_with_its_wire_code() {
    let mut w = world().await;
    let (id, challenge) = w.challenge().await;
    let ec = KeyPool::new().generate(KeyAlgorithm::P256).unwrap();
    let c = Some(challenge.as_str());
    let good = w.csr(&GOOD, c, &w.rsa);
    assert_eq!(w.validate(&good).await, "Success");

    let cases: Vec<(Csr, &PKey<Private>, &str)> = vec![
        (
            Csr {
                subject: "CN=device-0002,O=Contoso",
                ..GOOD
            },
            &w.rsa,
            "SubjectNameMismatch",
        ),
        (
            Csr {
                dns: None,
                upn: false,
                ..GOOD
            },
            &w.rsa,
            "SubjectAltNameMissing",
        ),
        (
            Csr {
                dns: Some("device-9999.contoso.com"),
                ..GOOD
            },
            &w.rsa,
            "SubjectAltNameMismatch",
        ),
        (Csr { upn: false, ..GOOD }, &w.rsa, "SubjectAltNameMismatch"),
        (
            Csr {
                key_usage: &["digitalSignature"],
                ..GOOD
            },
            &w.rsa,
            "KeyUsageMismatch",
        ),
        (GOOD, &ec, "KeyLengthMismatch"),
        (Csr { eku: None, ..GOOD }, &w.rsa, "EnhancedKeyUsageMissing"),
        (
            Csr {
                eku: Some("serverAuth"),
                ..GOOD
            },
            &w.rsa,
            "EnhancedKeyUsageMismatch",
        ),
    ];
    for (csr, key, code) in cases {
        assert_eq!(w.validate(&w.csr(&csr, c, key)).await, code);
    }
    assert_eq!(
        w.validate(&w.csr(&GOOD, None, &w.rsa)).await,
        "ChallengePasswordMissing"
    );
    // Key usage twice (a CA might honour either): refused as a malformed request.
    let mut twice = extensions(&GOOD);
    twice.push(KeyUsage::new().key_cert_sign().build().unwrap());
    let doubled = B64
        .encode(pki::certificate_request_with_challenge(&w.rsa, GOOD.subject, c, twice).unwrap());
    assert_eq!(
        w.validate(&doubled).await,
        "CertificateRequestDecodingFailed"
    );
    assert_eq!(
        w.validate(&w.csr(&GOOD, Some("not-a-challenge"), &w.rsa))
            .await,
        "ChallengeDecodingError"
    );
    // One character of the sealed part changed: the signature no longer verifies.
    let mut tampered: Vec<char> = challenge.chars().collect();
    tampered[10] = if tampered[10] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();
    assert_eq!(
        w.validate(&w.csr(&GOOD, Some(&tampered), &w.rsa)).await,
        "SignatureValidationFailed"
    );
    assert_eq!(
        w.validate("bm90IGEgQ1NS").await,
        "CertificateRequestDecodingFailed"
    );

    // Another tenant's challenge does not verify here.
    let other = w.app.create_tenant("Fabrikam", None).await.unwrap();
    let theirs = w
        .app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/scep/challenges", other.id),
            Some(&profile()),
        )
        .await
        .unwrap();
    let theirs = theirs.body["challenge"].as_str().unwrap();
    assert_eq!(
        w.validate(&w.csr(&GOOD, Some(theirs), &w.rsa)).await,
        "SignatureValidationFailed"
    );

    // Expiry: issued at 00:00:00 for 60 minutes; valid at 00:59:59, expired at 01:00:00.
    w.app.set_clock(at("2026-03-01T00:59:59Z")).unwrap();
    assert_eq!(w.validate(&good).await, "Success");
    w.app.set_clock(at("2026-03-01T01:00:00Z")).unwrap();
    // Access tokens live an hour too: the CA library asks for a new one.
    w.token = w.app.graph_token(&w.tenant).await.unwrap();
    assert_eq!(w.validate(&good).await, "ChallengeExpired");

    // The profile no longer targets the device.
    let (id2, challenge2) = w.challenge().await;
    let good2 = w.csr(&GOOD, Some(&challenge2), &w.rsa);
    assert_eq!(w.validate(&good2).await, "Success");
    let untargeted = w
        .app
        .admin::<()>(
            Method::DELETE,
            &format!("/admin/tenants/{}/scep/challenges/{id2}", w.tenant.id),
            None,
        )
        .await
        .unwrap();
    assert_eq!(untargeted.status, 204);
    assert_eq!(
        w.validate(&good2).await,
        "ScepProfileNoLongerTargetedToTheClient"
    );
    let first = w
        .app
        .admin_get(&format!(
            "/admin/tenants/{}/scep/challenges/{id}",
            w.tenant.id
        ))
        .await
        .unwrap();
    assert_eq!(first.body["lastCode"], "ChallengeExpired");
    assert_eq!(first.body["targeted"], true);
    assert_eq!(
        first.body.get("challenge"),
        None,
        "the blob is shown only once"
    );
}

#[tokio::test]
async fn connectors_from_6_2510_3_2002_refuse_extensions_outside_the_allow_list() {
    let w = world().await;
    let (_, challenge) = w.challenge().await;
    let c = Some(challenge.as_str());
    let new = w.connector("NDES-NEW", "6.2510.3.2002").await;
    let old = w.connector("NDES-OLD", "6.2406.0.2002").await;
    let allowed = w.csr(
        &Csr {
            extra: Some("basicConstraints"),
            ..GOOD
        },
        c,
        &w.rsa,
    );
    let unknown = w.csr(
        &Csr {
            extra: Some("nsComment"),
            ..GOOD
        },
        c,
        &w.rsa,
    );
    assert_eq!(w.validate_as(&new, "tx-1", &allowed).await, "Success");
    assert_eq!(
        w.validate_as(&new, "tx-2", &unknown).await,
        "CertificateRequestDecodingFailed"
    );
    assert_eq!(w.validate_as(&old, "tx-3", &unknown).await, "Success");
    assert_eq!(w.validate_as(&w.token, "tx-4", &unknown).await, "Success");
}

#[tokio::test]
async fn notifications_in_every_client_form_are_recorded_on_the_validated_request() {
    let w = world().await;
    let (id, challenge) = w.challenge().await;
    let csr = w.csr(&GOOD, Some(&challenge), &w.rsa);
    assert_eq!(w.validate_as(&w.token, "tx-java", &csr).await, "Success");

    // Java (org.json): `\/` escapes, nulls dropped, the custom `UserAgent` header.
    let java = r#"{"notification":{"certificateExpirationDateUtc":"2027-03-01T00:00:00.000Z","transactionId":"tx-java","certificateRequest":"MIIB","certificateThumbprint":"0A1B2C3D4E5F60718293A4B5C6D7E8F901234567","certificateSerialNumber":"6100000001","issuingCertificateAuthority":"CN=Contoso Issuing CA\/O=Contoso","callerInfo":"intune-mock-tests\/1.0"}}"#;
    let response = w
        .app
        .http
        .post(format!(
            "{}{SCEP}/ScepActions/successNotification",
            w.app.base_url
        ))
        .bearer_auth(&w.token)
        .header("content-type", "application/json")
        .header("api-version", "2018-02-20")
        .header("client-request-id", "6a1d9f3e-2b7c-4e1a-9c0d-5f4e3d2c1b0a")
        .header("UserAgent", "intune-mock-tests/1.0")
        .body(java)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["client-request-id"],
        "6a1d9f3e-2b7c-4e1a-9c0d-5f4e3d2c1b0a"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"code": "Success", "errorDescription": ""}));
    let seen = w
        .app
        .admin_get(&format!(
            "/admin/tenants/{}/scep/challenges/{id}",
            w.tenant.id
        ))
        .await
        .unwrap();
    assert_eq!(seen.body["notification"]["kind"], "success");
    assert_eq!(
        seen.body["notification"]["body"]["issuingCertificateAuthority"],
        "CN=Contoso Issuing CA/O=Contoso"
    );
    assert_eq!(
        seen.body["notification"]["dateTime"],
        "2026-03-01T00:00:00Z"
    );

    // C# (Newtonsoft): PascalCase keys, explicit nulls, unsigned hResult; Java: sign-extended.
    for (tx, hresult) in [
        ("tx-cs", json!(2147549183u64)),
        ("tx-java2", json!(-2147418113i64)),
    ] {
        assert_eq!(w.validate_as(&w.token, tx, &csr).await, "Success");
        let body = json!({"Notification": {"TransactionId": tx, "CertificateRequest": "MIIB", "HResult": hresult, "ErrorDescription": "issuance failed at the CA", "CallerInfo": null}});
        let answer = w.call("failureNotification", &w.token, &body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["code"], "Success");
    }
    let seen = w
        .app
        .admin_get(&format!(
            "/admin/tenants/{}/scep/challenges/{id}",
            w.tenant.id
        ))
        .await
        .unwrap();
    assert_eq!(seen.body["notification"]["kind"], "failure");
    assert_eq!(seen.body["notification"]["body"]["HResult"], -2147418113i64);

    // Each transaction keeps its own verdict: a later refused request of the same challenge does
    // not take over an earlier good one, and a success notice for a refused one is not a Success.
    let refused = w.csr(
        &Csr {
            subject: "CN=device-0002,O=Contoso",
            ..GOOD
        },
        Some(&challenge),
        &w.rsa,
    );
    assert_eq!(w.validate_as(&w.token, "tx-good", &csr).await, "Success");
    assert_eq!(
        w.validate_as(&w.token, "tx-bad", &refused).await,
        "SubjectNameMismatch"
    );
    for (tx, code) in [("tx-good", "Success"), ("tx-bad", "Unknown")] {
        let answer = w
            .call(
                "successNotification",
                &w.token,
                &json!({"notification": {"transactionId": tx, "certificateThumbprint": "00"}}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["code"], code, "{tx}: {}", answer.body);
    }
    let no_transaction = w
        .call(
            "validateRequest",
            &w.token,
            &json!({"request": {"transactionId": "", "certificateRequest": csr}}),
        )
        .await;
    assert_eq!(no_transaction.status, 400, "{}", no_transaction.body);

    let unknown = w
        .call(
            "successNotification",
            &w.token,
            &json!({"notification": {"transactionId": "tx-never"}}),
        )
        .await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.body["code"], "Unknown");
    let bad_hresult = w
        .call(
            "failureNotification",
            &w.token,
            &json!({"notification": {"transactionId": "tx-cs", "hResult": "E_FAIL"}}),
        )
        .await;
    assert_eq!(bad_hresult.status, 400, "{}", bad_hresult.body);
    let no_wrapper = w
        .call("validateRequest", &w.token, &json!({"transactionId": "x"}))
        .await;
    assert_eq!(no_wrapper.status, 400);
    let wrong_version = w
        .app
        .http
        .post(format!(
            "{}{SCEP}/ScepActions/validateRequest",
            w.app.base_url
        ))
        .bearer_auth(&w.token)
        .header("api-version", "5019-05-05")
        .json(&json!({"request": {"transactionId": "x", "certificateRequest": csr}}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_version.status(), 400);
    let body: Value = wrong_version.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2018-02-20"));
}

#[tokio::test]
async fn bad_scep_profiles_are_refused_with_the_field_and_nothing_is_stored() {
    let w = world().await;
    let cases = [
        ("subject", json!("device-0001"), "subject"),
        ("keySize", json!(100), "keySize"),
        ("keyUsage", json!(["signEverything"]), "keyUsage[0]"),
        (
            "extendedKeyUsage",
            json!(["clientAuth"]),
            "extendedKeyUsage[0]",
        ),
        (
            "subjectAlternativeNames",
            json!([{"type": "ip", "value": "10.0.0.1"}]),
            "subjectAlternativeNames[0].type",
        ),
        ("validityMinutes", json!(0), "validityMinutes"),
    ];
    for (field, value, mentions) in cases {
        let mut body = profile();
        body[field] = value;
        let answer = w.target(&body).await;
        assert_eq!(answer.status, 400, "{field}: {}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "`{message}` should name {mentions}"
        );
    }
    let mut unknown_key = profile();
    unknown_key["colour"] = json!("blue");
    assert_eq!(w.target(&unknown_key).await.status, 400);
    let missing = w
        .app
        .admin_get(&format!(
            "/admin/tenants/{}/scep/challenges/00000000-0000-0000-0000-000000000000",
            w.tenant.id
        ))
        .await
        .unwrap();
    assert_eq!(missing.status, 404);
}

const PKI: &str = "/RACerts/StatelessPkiConnectorService/Gateway/StatelessPkiConnectorService/CertificateAuthorityRequests";

impl World {
    async fn enqueue_revoke(&self, serial: &str, issuer: &str) -> String {
        let body = json!({"kind": "revoke", "payload": {"serialNumber": serial, "issuerName": issuer, "certificationAuthority": "DigiCert"}});
        let answer = self
            .app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{}/jobs", self.tenant.id),
                Some(&body),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.body["value"][0]["id"].as_str().unwrap().to_owned()
    }

    async fn pki(&self, action: &str, body: &Value) -> Answer {
        self.app
            .request(
                Method::POST,
                &format!("{PKI}/{action}"),
                Some(&self.token),
                Some(body),
            )
            .await
            .unwrap()
    }

    async fn download(&self, max: u32, issuer: Value) -> Vec<Value> {
        let answer = self
            .pki(
                "downloadRevocationRequests",
                &json!({"downloadParameters": {"maxRequests": max, "issuerName": issuer}}),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["value"].as_array().unwrap().clone()
    }

    async fn job(&self, id: &str) -> Value {
        self.app
            .admin_get(&format!("/admin/tenants/{}/jobs/{id}", self.tenant.id))
            .await
            .unwrap()
            .body
    }
}

#[tokio::test]
async fn a_third_party_ca_downloads_revocations_with_a_60_minute_cool_down_and_uploads_results() {
    let mut w = world().await;
    let first = w.enqueue_revoke("0a01", "CN=Contoso Issuing CA").await;
    let second = w.enqueue_revoke("0a02", "CN=Contoso Issuing CA").await;
    let other = w.enqueue_revoke("0b01", "CN=Other CA").await;

    let mine = w.download(100, json!("cn=contoso issuing ca")).await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[0]["serialNumber"], "0a01");
    assert_eq!(mine[0]["issuerName"], "CN=Contoso Issuing CA");
    assert_eq!(mine[0]["caConfiguration"], "DigiCert");
    assert!(mine[0]["requestContext"]
        .as_str()
        .unwrap()
        .starts_with(&first));
    assert_eq!(
        w.download(100, json!("CN=Contoso Issuing CA")).await,
        Vec::<Value>::new(),
        "cool-down"
    );

    // Java sends errorCode as a numeric string; C# (upload first) PascalCase keys and enum names.
    let upload = json!({"results": [
        {"requestContext": mine[0]["requestContext"], "succeeded": true, "errorCode": "0", "errorMessage": ""},
        {"RequestContext": mine[1]["requestContext"], "Succeeded": false, "ErrorCode": "CertificateNotFoundError", "ErrorMessage": "no such serial"}
    ]});
    let answer = w.pki("uploadRevocationResults", &upload).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, json!({"value": true}));
    assert_eq!(w.job(&first).await["state"], "succeeded");
    let failed = w.job(&second).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["errorCode"], "CertificateNotFoundError");
    // The same upload again changes nothing and is still accepted.
    assert_eq!(
        w.pki("uploadRevocationResults", &upload).await.body,
        json!({"value": true})
    );

    // Downloaded, never answered: handed out again once the 60 minutes are over, not before.
    let theirs = w.download(500, Value::Null).await;
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["serialNumber"], "0b01");
    w.app.set_clock(at("2026-03-01T00:59:59Z")).unwrap();
    assert_eq!(w.download(500, Value::Null).await.len(), 0);
    w.app.set_clock(at("2026-03-01T01:00:00Z")).unwrap();
    w.token = w.app.graph_token(&w.tenant).await.unwrap();
    let again = w.download(500, Value::Null).await;
    assert_eq!(again.len(), 1);
    assert_eq!(w.job(&other).await["attempts"], 2);
    // A batch with one bad context is refused whole: the good entry is not applied either.
    let mixed = json!({"results": [
        {"requestContext": again[0]["requestContext"], "succeeded": true, "errorCode": 0},
        {"requestContext": format!("{other}:lease_bogus"), "succeeded": true, "errorCode": 0}
    ]});
    assert_eq!(
        w.pki("uploadRevocationResults", &mixed).await.body,
        json!({"value": false})
    );
    assert_eq!(w.job(&other).await["state"], "leased");
    // The first download's context is stale now: the upload says so and changes nothing.
    let stale = json!({"results": [{"requestContext": theirs[0]["requestContext"], "succeeded": true, "errorCode": 0}]});
    assert_eq!(
        w.pki("uploadRevocationResults", &stale).await.body,
        json!({"value": false})
    );
    assert_eq!(w.job(&other).await["state"], "leased");
}

#[tokio::test]
async fn bad_revocation_calls_are_refused_and_change_nothing() {
    let w = world().await;
    let job = w.enqueue_revoke("0c01", "CN=Contoso Issuing CA").await;
    for max in [0, 501] {
        let answer = w
            .pki(
                "downloadRevocationRequests",
                &json!({"downloadParameters": {"maxRequests": max}}),
            )
            .await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert!(answer.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maxRequests"));
    }
    let leased = w.download(1, Value::Null).await;
    let context = leased[0]["requestContext"].clone();
    let cases = [
        json!({"results": [{"requestContext": context, "succeeded": true, "errorCode": 4004}]}),
        json!({"results": [{"requestContext": context, "succeeded": false, "errorCode": "Oops"}]}),
        json!({"results": [{"requestContext": "nope", "succeeded": true, "errorCode": 0}]}),
        json!({"results": [{"requestContext": context, "succeeded": "maybe", "errorCode": 0}]}),
        json!({"result": []}),
    ];
    for body in cases {
        let answer = w.pki("uploadRevocationResults", &body).await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
    }
    assert_eq!(w.job(&job).await["state"], "leased", "nothing changed");
    let retry =
        json!({"results": [{"requestContext": context, "succeeded": false, "errorCode": "4101"}]});
    assert_eq!(
        w.pki("uploadRevocationResults", &retry).await.body,
        json!({"value": true})
    );
    assert_eq!(
        w.job(&job).await["state"],
        "queued",
        "a retryable error puts it back"
    );
}
