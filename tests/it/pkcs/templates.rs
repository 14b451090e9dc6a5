//! What a certificate template puts in an issued certificate: key usage, EKU, validity and the
//! KB5014754 SID extension.

use super::*;

#[tokio::test]
async fn the_template_sets_key_usage_eku_and_validity_and_the_kb5014754_sid_extension() {
    let mut b = bench().await;
    let device = Device::new(b.dir(), "device", KeyAlgorithm::P256);
    let mut payload = pkcs_payload(EMBEDDED, "p256", &device, 1);
    payload["sid"] = json!("S-1-5-21-1004336348-1177238915-682003330-1105");
    payload["validityDays"] = json!(90);
    let job = b.run("pkcs_create", payload).await;
    let leaf = b.write(
        "sid.pem",
        job["result"]["certificate"].as_str().unwrap().as_bytes(),
    );
    let text = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-text"]);
    assert!(text.contains("1.3.6.1.4.1.311.25.2:"), "{text}");
    assert!(
        text.contains("S-1-5-21-1004336348-1177238915-682003330-1105"),
        "{text}"
    );
    // A P-256 key cannot encipher keys: the template's keyEncipherment becomes keyAgreement.
    assert!(text.contains("Digital Signature, Key Agreement"), "{text}");
    let dates = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-dates"]);
    assert!(
        dates.contains("notAfter=Dec 30 00:00:00 2024 GMT"),
        "{dates}"
    );

    // A template the CA does not publish: the job fails, nothing is issued.
    let issued = b.embedded.lock().unwrap().issued_count();
    let mut too_long = pkcs_payload(EMBEDDED, "p256", &device, 2);
    too_long["template"] = json!("WebServer");
    let answer = b
        .app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/jobs", b.tenant.id),
            Some(&json!({"kind": "pkcs_create", "payload": too_long})),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.body["value"][0]["id"].as_str().unwrap().to_owned();
    let summary = b.connector.work(b.app.now()).await;
    assert_eq!(summary.failed, 1, "{summary:?}");
    assert_eq!(b.embedded.lock().unwrap().issued_count(), issued);
    let job = b
        .app
        .admin_get(&format!("/admin/tenants/{}/jobs/{id}", b.tenant.id))
        .await
        .unwrap();
    assert_eq!(job.body["state"], "failed");
    assert_eq!(job.body["errorCode"], "TemplateNotFound");
}
