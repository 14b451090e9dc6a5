//! PKCS issuance, revocation and recrypt: the PFX opens with the password the device decrypts and
//! chains to its CA, a revoked serial is on the published CRL, and recrypt re-encrypts the
//! escrowed password for a new device.

use super::*;

#[tokio::test]
async fn a_pkcs_pfx_opens_with_the_password_the_device_decrypts_and_chains_to_its_ca() {
    let mut b = bench().await;
    let rsa_device = Device::new(b.dir(), "device-rsa", KeyAlgorithm::Rsa2048);
    let ec_device = Device::new(b.dir(), "device-ec", KeyAlgorithm::P256);
    let cases = [
        (EMBEDDED, "p256", &rsa_device, "rsaOaepSha256", "prime256v1"),
        (
            EMBEDDED,
            "rsa2048",
            &ec_device,
            "cmsEnvelopedData",
            "(2048 bit",
        ),
        (
            DIGICERT,
            "p256",
            &ec_device,
            "cmsEnvelopedData",
            "prime256v1",
        ),
    ];
    let embedded_ca = b.ca_file(&b.embedded.clone(), "embedded-ca.pem");
    let digicert_ca = b.ca_file(&b.digicert.clone(), "digicert-ca.pem");
    for (n, (ca, key_algorithm, device, scheme, key_text)) in cases.into_iter().enumerate() {
        let n = n as u32 + 1;
        let job = b
            .run("pkcs_create", pkcs_payload(ca, key_algorithm, device, n))
            .await;
        let result = &job["result"];
        assert_eq!(result["passwordEncryption"], scheme);
        let password = device.decrypt(
            b.dir(),
            scheme,
            result["encryptedPassword"].as_str().unwrap(),
        );
        let leaf = open_pfx(
            b.dir(),
            result["pfx"].as_str().unwrap(),
            &password,
            &format!("leaf{n}"),
        );
        let ca_file = if ca == EMBEDDED {
            &embedded_ca
        } else {
            &digicert_ca
        };
        let verified = openssl(
            b.dir(),
            &["verify", "-attime", VERIFY_AT, "-CAfile", ca_file, &leaf],
        );
        assert_eq!(verified.trim(), format!("{leaf}: OK"));
        let other_ca = if ca == EMBEDDED {
            &digicert_ca
        } else {
            &embedded_ca
        };
        let wrong = openssl_raw(
            b.dir(),
            &["verify", "-attime", VERIFY_AT, "-CAfile", other_ca, &leaf],
        );
        assert!(!wrong.status.success(), "it must not chain to the other CA");
        let text = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-text"]);
        assert!(
            text.contains(&format!("Subject: CN = device-{n:04}, O = Contoso")),
            "{text}"
        );
        assert!(text.contains(key_text), "{text}");
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        assert!(
            text.contains(&format!("othername: UPN::user{n:04}@contoso.com")),
            "{text}"
        );
    }
}

/// Issues a certificate through a PKCS job at `ca`, revokes its serial through a revoke job, and
/// returns (leaf file, serial as the job result gave it).
async fn issue_and_revoke(b: &mut Bench, ca: &str, device: &Device) -> (String, String) {
    let job = b
        .run("pkcs_create", pkcs_payload(ca, "p256", device, 7))
        .await;
    let result = &job["result"];
    let leaf = b.write(
        &format!("revoked-{}.pem", ca.len()),
        result["certificate"].as_str().unwrap().as_bytes(),
    );
    let serial = result["serialNumber"].as_str().unwrap().to_owned();
    let issuer = openssl(b.dir(), &["x509", "-in", &leaf, "-noout", "-issuer"]);
    let revoked = b
        .run(
            "revoke",
            json!({
                "serialNumber": serial,
                "issuerName": issuer.trim().trim_start_matches("issuer="),
                "certificationAuthority": ca,
            }),
        )
        .await;
    assert_eq!(revoked["result"]["revokedDateTime"], START);
    (leaf, serial)
}

#[tokio::test]
async fn after_a_revoke_the_published_crl_lists_the_serial_and_verification_fails() {
    let mut b = bench().await;
    let device = Device::new(b.dir(), "device", KeyAlgorithm::P256);
    // The embedded CA: its CRL as the CA holds it.
    let (leaf, serial) = issue_and_revoke(&mut b, EMBEDDED, &device).await;
    let crl_der = b
        .embedded
        .lock()
        .unwrap()
        .crl()
        .unwrap()
        .expect("a CRL was published")
        .to_der()
        .unwrap();
    let crl = b.write("embedded.crl", &crl_der);
    let ca = b.ca_file(&b.embedded.clone(), "embedded-ca.pem");
    check_crl(b.dir(), &crl, &ca, &leaf, &serial);

    // The DigiCert-like CA: its CRL fetched over HTTP as a relying party would.
    let (leaf, serial) = issue_and_revoke(&mut b, DIGICERT, &device).await;
    let response = b
        .app
        .http
        .get(format!("{}/v1/crl", b.digicert_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/pkix-crl"
    );
    let crl = b.write("digicert.crl", &response.bytes().await.unwrap());
    let ca = b.ca_file(&b.digicert.clone(), "digicert-ca.pem");
    check_crl(b.dir(), &crl, &ca, &leaf, &serial);
}

fn check_crl(dir: &Path, crl: &str, ca: &str, leaf: &str, serial: &str) {
    let text = openssl(
        dir,
        &["crl", "-inform", "DER", "-in", crl, "-noout", "-text"],
    );
    assert!(
        text.contains(&format!("Serial Number: {serial}")),
        "serial {serial} not on the CRL:\n{text}"
    );
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(
        text.contains("Revocation Date: Oct  1 00:00:00 2024 GMT"),
        "{text}"
    );
    openssl(
        dir,
        &[
            "crl", "-inform", "DER", "-in", crl, "-CAfile", ca, "-noout", "-verify",
        ],
    );
    let crl_pem = format!("{crl}.pem");
    openssl(
        dir,
        &[
            "crl", "-inform", "DER", "-in", crl, "-outform", "PEM", "-out", &crl_pem,
        ],
    );
    let verify = openssl_raw(
        dir,
        &[
            "verify",
            "-attime",
            VERIFY_AT,
            "-crl_check",
            "-CAfile",
            ca,
            "-CRLfile",
            &crl_pem,
            leaf,
        ],
    );
    let said = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(!verify.status.success(), "{said}");
    assert!(said.contains("certificate revoked"), "{said}");
}

#[tokio::test]
async fn recrypt_re_encrypts_the_escrowed_password_for_a_new_device() {
    let mut b = bench().await;
    let first = Device::new(b.dir(), "device-old", KeyAlgorithm::P256);
    let created = b
        .run("pkcs_create", pkcs_payload(EMBEDDED, "p256", &first, 1))
        .await;
    let pfx = created["result"]["pfx"].as_str().unwrap().to_owned();
    let escrow = created["result"]["escrowedPassword"]
        .as_str()
        .expect("the password is escrowed to the recrypt key")
        .to_owned();
    let new_device = Device::new(b.dir(), "device-new", KeyAlgorithm::Rsa2048);
    let recrypted = b
        .run(
            "pkcs_recrypt",
            json!({"pfx": pfx, "encryptedPassword": escrow, "deviceKeyCertificate": new_device.pem()}),
        )
        .await;
    let result = &recrypted["result"];
    assert_eq!(result["passwordEncryption"], "rsaOaepSha256");
    let password = new_device.decrypt(
        b.dir(),
        "rsaOaepSha256",
        result["encryptedPassword"].as_str().unwrap(),
    );
    open_pfx(b.dir(), &pfx, &password, "recrypted");
    let events: Vec<u16> = b
        .connector
        .log()
        .records()
        .iter()
        .map(|e| e.event_id)
        .collect();
    for id in [1202, 1220, 1251, 1250, 1300, 1302, 1200] {
        assert!(events.contains(&id), "event {id} missing from {events:?}");
    }
}
