//! PFX import: an imported PFX is re-encrypted for the device, bad uploads and import references
//! are refused and change nothing, and the HTTP CA refuses a malformed CSR and an unknown serial.

use super::*;

#[tokio::test]
async fn an_imported_pfx_is_re_encrypted_for_the_device_and_decrypts_with_the_device_key() {
    let mut b = bench().await;
    // The user's S/MIME PFX, made and protected with the openssl tool the way an admin would
    // before the PowerShell module uploads it.
    let user = Device::new(b.dir(), "user0001", KeyAlgorithm::Rsa2048);
    let dir = b.dir().to_owned();
    let password_file = b.write("user-password.txt", b"S3cret-PFX-pass");
    let user_pfx = dir.join("user.pfx");
    openssl(
        &dir,
        &[
            "pkcs12",
            "-export",
            "-inkey",
            user.key_file.to_str().unwrap(),
            "-in",
            user.cert_file.to_str().unwrap(),
            "-passout",
            &format!("file:{password_file}"),
            "-out",
            user_pfx.to_str().unwrap(),
        ],
    );
    let import_public = b.write(
        "import-key.pub.pem",
        &b.import_key.public_key_to_pem().unwrap(),
    );
    let encrypted_password = dir.join("user-password.enc");
    openssl(
        &dir,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            &import_public,
            "-in",
            &password_file,
            "-out",
            encrypted_password.to_str().unwrap(),
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha512",
            "-pkeyopt",
            "rsa_mgf1_md:sha512",
        ],
    );
    let thumbprint = pki::thumbprint(&user.certificate).unwrap();
    let token = b.app.graph_token(&b.tenant).await.unwrap();
    let upload = json!({
        "@odata.type": "#microsoft.graph.userPFXCertificate",
        "thumbprint": thumbprint,
        "intendedPurpose": "smimeEncryption",
        "userPrincipalName": "user0001@contoso.com",
        "providerName": "Microsoft Software Key Storage Provider",
        "keyName": "PfxImportKey",
        "paddingScheme": "oaepSha512",
        "encryptedPfxBlob": B64.encode(std::fs::read(&user_pfx).unwrap()),
        "encryptedPfxPassword": B64.encode(std::fs::read(&encrypted_password).unwrap()),
    });
    let created = b
        .app
        .request(
            Method::POST,
            "/beta/deviceManagement/userPfxCertificates",
            Some(&token),
            Some(&upload),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    let pfx_id = created.body["id"].as_str().unwrap().to_owned();
    assert!(
        pfx_id.ends_with(&format!("-{}", thumbprint.to_ascii_lowercase())),
        "{pfx_id}"
    );

    let device = Device::new(&dir, "device-ec", KeyAlgorithm::P256);
    let job = b
        .run(
            "pkcs_import",
            json!({"userPfxCertificateId": pfx_id, "deviceCertificate": device.pem()}),
        )
        .await;
    let result = &job["result"];
    assert_eq!(result["passwordEncryption"], "cmsEnvelopedData");
    let password = device.decrypt(
        &dir,
        "cmsEnvelopedData",
        result["envelopedPassword"].as_str().unwrap(),
    );
    assert_eq!(std::fs::read(&password).unwrap(), b"S3cret-PFX-pass");
    let leaf = open_pfx(
        &dir,
        &B64.encode(std::fs::read(&user_pfx).unwrap()),
        &password,
        "imported",
    );
    let subject = openssl(&dir, &["x509", "-in", &leaf, "-noout", "-subject"]);
    assert_eq!(subject.trim(), "subject=CN = user0001");
    // Another device cannot open it.
    let other = Device::new(&dir, "device-other", KeyAlgorithm::P256);
    let enveloped = dir.join("enveloped.der");
    std::fs::write(
        &enveloped,
        B64.decode(result["envelopedPassword"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let refused = openssl_raw(
        &dir,
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            enveloped.to_str().unwrap(),
            "-recip",
            other.cert_file.to_str().unwrap(),
            "-inkey",
            other.key_file.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success(), "another device's key must fail");
    let events: Vec<u16> = b
        .connector
        .log()
        .records()
        .iter()
        .map(|e| e.event_id)
        .collect();
    for id in [2000, 2202, 2020, 2050, 2100, 2102] {
        assert!(events.contains(&id), "event {id} missing from {events:?}");
    }
}

#[tokio::test]
async fn bad_user_pfx_uploads_and_import_references_are_refused_and_change_nothing() {
    let b = bench().await;
    let token = b.app.graph_token(&b.tenant).await.unwrap();
    let good = upload_body(b.dir());
    let path = "/beta/deviceManagement/userPfxCertificates";
    let cases: [(&str, Value, &str); 8] = [
        (
            "thumbprint",
            json!("12AB"),
            "thumbprint: `12AB` is not 40 hexadecimal digits",
        ),
        (
            "userPrincipalName",
            json!("user0001"),
            "userPrincipalName: `user0001` is not a user principal name",
        ),
        (
            "intendedPurpose",
            json!("email"),
            "intendedPurpose: `email` is not one of",
        ),
        ("paddingScheme", json!("pkcs1v15"), "paddingScheme"),
        (
            "encryptedPfxBlob",
            json!("%%%"),
            "encryptedPfxBlob: not base64",
        ),
        (
            "encryptedPfxBlob",
            json!("AAAA"),
            "encryptedPfxBlob: not a PKCS#12 (PFX) structure",
        ),
        (
            "encryptedPfxPassword",
            json!("!!"),
            "encryptedPfxPassword: not base64",
        ),
        ("keyName", json!(""), "keyName"),
    ];
    for (field, value, says) in cases {
        let mut body = good.clone();
        body[field] = value;
        let answer = b
            .app
            .request(Method::POST, path, Some(&token), Some(&body))
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{field}: {}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "`{message}` should say `{says}`");
    }
    let missing = json!({"thumbprint": good["thumbprint"]});
    let answer = b
        .app
        .request(Method::POST, path, Some(&token), Some(&missing))
        .await
        .unwrap();
    assert_eq!(answer.status, 400, "{}", answer.body);
    let listed = b
        .app
        .request::<()>(Method::GET, path, Some(&token), None)
        .await
        .unwrap();
    assert_eq!(listed.body["value"], json!([]), "nothing was stored");

    // A good upload is stored once; its secrets are never read back.
    let created = b
        .app
        .request(Method::POST, path, Some(&token), Some(&good))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["encryptedPfxPassword"], "");
    assert_eq!(created.body["encryptedPfxBlob"], "AA==");
    let again = b
        .app
        .request(Method::POST, path, Some(&token), Some(&good))
        .await
        .unwrap();
    assert_eq!(again.status, 409, "{}", again.body);
    let id = created.body["id"].as_str().unwrap();
    let quoted = b
        .app
        .request::<()>(Method::GET, &format!("{path}('{id}')"), Some(&token), None)
        .await
        .unwrap();
    assert_eq!(quoted.status, 200, "{}", quoted.body);
    assert_eq!(quoted.body["userPrincipalName"], "user0001@contoso.com");

    // An import job must name an uploaded PFX of its own tenant.
    let other = b.app.create_tenant("Fabrikam", None).await.unwrap();
    let device = Device::new(b.dir(), "device", KeyAlgorithm::P256);
    for (tenant, pfx_id) in [(&b.tenant.id, "nope"), (&other.id, id)] {
        let answer = b
            .app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{tenant}/jobs"),
                Some(&json!({"kind": "pkcs_import", "payload": {"userPfxCertificateId": pfx_id, "deviceCertificate": device.pem()}})),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 400, "{}", answer.body);
        assert_eq!(answer.error_code(), Some("UnknownUserPfxCertificate"));
        let message = answer.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("jobs[0].payload.userPfxCertificateId"),
            "{message}"
        );
    }
    for tenant in [&b.tenant.id, &other.id] {
        let jobs = b
            .app
            .admin_get(&format!("/admin/tenants/{tenant}/jobs"))
            .await
            .unwrap();
        assert_eq!(jobs.body["count"], 0, "no job was queued");
    }
}

#[tokio::test]
async fn the_http_ca_refuses_a_malformed_csr_and_an_unknown_serial_with_4xx() {
    let b = bench().await;
    let post = |path: &str, body: Value| {
        b.app
            .http
            .post(format!("{}{path}", b.digicert_url))
            .json(&body)
            .send()
    };
    let bad_csr = post(
        "/v1/certificates",
        json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "template": "IntuneDevice", "subject": "CN=x", "subjectAlternativeNames": [], "validityDays": 365, "sid": null, "now": START}),
    )
    .await
    .unwrap();
    assert_eq!(bad_csr.status(), 400);
    let body: Value = bad_csr.json().await.unwrap();
    assert_eq!(body["code"], "RequestDenied");
    assert!(body["message"].as_str().unwrap().contains("csr"), "{body}");
    let unknown = post("/v1/certificates/0BADC0DE/revoke", json!({"now": START}))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        b.digicert.lock().unwrap().issued_count(),
        0,
        "nothing issued"
    );
    let crl = b
        .app
        .http
        .get(format!("{}/v1/crl", b.digicert_url))
        .send()
        .await
        .unwrap();
    assert_eq!(crl.status(), 404, "no CRL published by a refused revoke");
}
