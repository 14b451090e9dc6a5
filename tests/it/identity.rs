//! The mock as Entra ID for unmodified clients (issue 23): `serve --tls` and its local CA (curl
//! trusts the HTTPS listener with the printed CA file and only with it), each tenant's OpenID
//! configuration and JWKS, access tokens as RS256 JWTs that an independent reader (PyJWT, in the
//! Graph SDK's virtualenv) verifies against the JWKS, and the 401s for a changed, foreign,
//! expired or other-audience token, with nothing served.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use scenarios::harness::{spawn_app_with_tls, TestApp};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::graph_sdk::{run_env, sdk_python, SCRIPT_TIMEOUT};
use crate::support::{app_at, at, get, SEED};

const VERIFY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/graph-sdk/verify_token.py");
const NDES: &str = "/beta/deviceManagement/ndesConnectors";

/// The local CA's files of a test service, removed with it.
pub(crate) struct TlsFiles {
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// A service whose virtual clock starts at `start`, with an HTTPS listener whose certificate a
/// fresh local CA signed (for localhost, 127.0.0.1 and ::1).
pub(crate) async fn tls_app_at(start: &str) -> (TestApp, TlsFiles) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // Clients check the certificate against their own clock, the real one.
    let now = service::clock::Clock::real().now();
    let local = service::tls::local_ca::ensure(dir.path(), &[], now).expect("the local CA");
    let acceptor = local.acceptor().expect("the server certificate loads");
    let app = spawn_app_with_tls(at(start), SEED, acceptor)
        .await
        .expect("the service starts");
    let files = TlsFiles {
        ca_file: local.ca_file,
        _dir: dir,
    };
    (app, files)
}

/// `curl -sS ARGS…`: exit code, stdout, stderr. No proxy, 20 seconds at most.
async fn curl(args: &[&str]) -> (i32, String, String) {
    let output = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--noproxy",
            "*",
            "--max-time",
            "20",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("curl runs (Debian's curl package)");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn token_for(app: &TestApp, tenant: &wire::admin::Tenant, scope: &str) -> String {
    let secret = tenant.client_secret.as_deref().expect("a client secret");
    let response = app
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", app.base_url, tenant.id))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", tenant.client_id.as_str()),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    body["access_token"].as_str().unwrap().to_owned()
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn decoded(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn encoded(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn each_tenant_has_an_openid_configuration_and_a_jwks_and_https_needs_the_local_ca() {
    let (app, tls) = tls_app_at("2026-03-02T08:00:00Z").await;
    let https = app.tls_base_url.clone().unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let ca = tls.ca_file.to_str().unwrap();

    let (code, out, err) = curl(&["--cacert", ca, &format!("{https}/healthz")]).await;
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, r#"{"status":"alive"}"#, "")
    );
    // Without the CA file curl does not trust the listener: exit 60, nothing read.
    let (code, out, err) = curl(&[&format!("{https}/healthz")]).await;
    assert_eq!((code, out.as_str()), (60, ""), "{err}");
    assert!(err.contains("SSL certificate problem"), "{err}");

    let t = &tenant.id;
    let (code, out, err) = curl(&[
        "--cacert",
        ca,
        &format!("{https}/{t}/v2.0/.well-known/openid-configuration"),
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    let configuration: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        configuration,
        json!({
            "issuer": format!("{https}/{t}/v2.0"),
            "authorization_endpoint": format!("{https}/{t}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{https}/{t}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "jwks_uri": format!("{https}/{t}/discovery/v2.0/keys"),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["https://graph.microsoft.com/.default", "https://api.manage.microsoft.com//.default"],
            "request_uri_parameter_supported": false,
        })
    );
    // On the HTTP listener the URLs are that origin's.
    let plain = get(
        &app,
        &format!("/{t}/v2.0/.well-known/openid-configuration"),
        None,
    )
    .await;
    assert_eq!(
        plain.body["token_endpoint"],
        format!("{}/{t}/oauth2/v2.0/token", app.base_url)
    );
    let unknown = get(
        &app,
        "/no-such-tenant/v2.0/.well-known/openid-configuration",
        None,
    )
    .await;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.body["error"], "invalid_tenant");
    assert_eq!(
        unknown.body["error_description"],
        "AADSTS90002: Tenant 'no-such-tenant' not found. Check to make sure you have the correct \
         tenant ID: this service knows the tenants of POST /admin/tenants."
    );

    // The JWKS: one RSA key; kid = x5t = base64url(SHA-1(certificate DER)), computed here.
    let jwks = get(&app, &format!("/{t}/discovery/v2.0/keys"), None).await;
    assert_eq!(jwks.status, 200, "{}", jwks.body);
    let keys = jwks.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    let der = STANDARD.decode(key["x5c"][0].as_str().unwrap()).unwrap();
    let thumbprint = URL_SAFE_NO_PAD.encode(openssl::sha::sha1(&der));
    let certificate = openssl::x509::X509::from_der(&der).unwrap();
    let rsa = certificate.public_key().unwrap().rsa().unwrap();
    assert_eq!(
        key,
        &json!({
            "kty": "RSA",
            "use": "sig",
            "kid": thumbprint,
            "x5t": thumbprint,
            "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
            "e": "AQAB",
            "x5c": [key["x5c"][0]],
        })
    );
    assert_eq!(rsa.size(), 256, "RSA 2048");
    // A token's header names that key.
    let token = app.graph_token(&tenant).await.unwrap();
    assert_eq!(
        decoded(&parts(&token)[0]),
        json!({"typ": "JWT", "alg": "RS256", "x5t": thumbprint, "kid": thumbprint})
    );
}

#[tokio::test]
async fn pyjwt_verifies_a_token_against_the_tenants_jwks_and_its_claims_are_graphs() {
    let Some(python) = sdk_python().await else {
        return;
    };
    let (app, tls) = tls_app_at("2026-03-02T08:00:00Z").await;
    let https = app.tls_base_url.clone().unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let t = &tenant.id;
    let jwks_url = format!("{https}/{t}/discovery/v2.0/keys");
    let issuer = format!("https://sts.windows.net/{t}/");
    let verify = |token: String, audience: &'static str| {
        let (python, jwks_url, issuer, ca) = (
            python.clone(),
            jwks_url.clone(),
            issuer.clone(),
            tls.ca_file.clone(),
        );
        async move {
            let out = run_env(
                &python,
                &[VERIFY, &jwks_url, &token, audience, &issuer],
                &[("SSL_CERT_FILE", ca.as_path())],
                SCRIPT_TIMEOUT,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
            serde_json::from_str::<Value>(&out).unwrap()
        }
    };

    let token = token_for(&app, &tenant, "https://graph.microsoft.com/.default").await;
    let read = verify(token.clone(), "https://graph.microsoft.com").await;
    assert_eq!(read["refused"], Value::Null, "{read}");
    assert_eq!(read["kid_is_x5c_thumbprint"], true);
    let kid = read["kids"][0].clone();
    assert_eq!(read["kids"], json!([kid]));
    assert_eq!(
        read["header"],
        json!({"typ": "JWT", "alg": "RS256", "x5t": kid, "kid": kid})
    );
    let uti = read["claims"]["uti"].as_str().unwrap();
    assert_eq!(uti.len(), 22, "16 random bytes in base64url: {uti}");
    // Issued at 2026-03-02T08:00:00Z (1772438400): iat and nbf five minutes before, as Entra ID
    // back-dates them; exp an hour after.
    assert_eq!(
        read["claims"],
        json!({
            "aud": "https://graph.microsoft.com",
            "iss": issuer,
            "iat": 1_772_438_100,
            "nbf": 1_772_438_100,
            "exp": 1_772_442_000,
            "appid": tenant.client_id,
            "appidacr": "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": read["uuid5_of_appid"],
            "roles": [
                "Application.Read.All",
                "DeviceManagementConfiguration.ReadWrite.All",
                "DeviceManagementServiceConfig.Read.All",
            ],
            "sub": read["uuid5_of_appid"],
            "tid": t,
            "uti": uti,
            "ver": "1.0",
        })
    );

    // One more role in the payload under the same signature: PyJWT refuses it.
    let p = parts(&token);
    let mut claims = decoded(&p[1]);
    claims["roles"]
        .as_array_mut()
        .unwrap()
        .push(json!("DeviceManagementManagedDevices.ReadWrite.All"));
    let changed = format!("{}.{}.{}", p[0], encoded(&claims), p[2]);
    let read = verify(changed, "https://graph.microsoft.com").await;
    assert_eq!(read["refused"], "InvalidSignatureError", "{read}");
    assert_eq!(read["message"], "Signature verification failed");

    // A token for the Intune API is not one for Graph.
    let intune = token_for(&app, &tenant, "https://api.manage.microsoft.com//.default").await;
    let read = verify(intune, "https://graph.microsoft.com").await;
    assert_eq!(read["refused"], "InvalidAudienceError", "{read}");
}

/// A Graph read with `token`: the 401's message, after checking that it is Graph's error shape
/// and that nothing of the tenant came with it.
async fn refused(app: &TestApp, token: &str) -> String {
    let answer = get(app, NDES, Some(token)).await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    assert_eq!(answer.error_code(), Some("InvalidAuthenticationToken"));
    assert_eq!(answer.body.get("value"), None);
    answer.body["error"]["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_changed_foreign_expired_or_other_audience_token_is_refused_with_401() {
    let app = app_at("2026-03-02T08:00:00Z").await;
    let contoso = app.create_tenant("Contoso", None).await.unwrap();
    let fabrikam = app.create_tenant("Fabrikam", None).await.unwrap();
    let token = app.graph_token(&contoso).await.unwrap();
    assert_eq!(get(&app, NDES, Some(&token)).await.status, 200);
    let p = parts(&token);
    let kid = decoded(&p[0])["kid"].as_str().unwrap().to_owned();
    let (c, f) = (&contoso.id, &fabrikam.id);

    // A changed payload under the token's own signature.
    let mut claims = decoded(&p[1]);
    claims["exp"] = json!(1_900_000_000);
    let changed = format!("{}.{}.{}", p[0], encoded(&claims), p[2]);
    assert_eq!(
        refused(&app, &changed).await,
        format!(
            "the access token's signature does not verify with the signing key of tenant `{c}`: \
             the token was changed or signed by someone else"
        )
    );
    // Contoso's token rewritten to name Fabrikam: its key is not Fabrikam's.
    let mut claims = decoded(&p[1]);
    claims["tid"] = json!(f);
    claims["iss"] = json!(format!("https://sts.windows.net/{f}/"));
    let moved = format!("{}.{}.{}", p[0], encoded(&claims), p[2]);
    assert_eq!(
        refused(&app, &moved).await,
        format!(
            "the access token is signed with key `{kid}`, which is not the signing key of tenant \
             `{f}` (see /{f}/discovery/v2.0/keys)"
        )
    );
    // A token of a tenant with the same id at another mock (same seed): signed by another key.
    let elsewhere = app_at("2026-03-02T08:00:00Z").await;
    let twin = elsewhere.create_tenant("Contoso", None).await.unwrap();
    assert_eq!(
        twin.id, contoso.id,
        "the same seed gives the same tenant id"
    );
    let foreign = elsewhere.graph_token(&twin).await.unwrap();
    let foreign_kid = decoded(&parts(&foreign)[0])["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(foreign_kid, kid);
    assert_eq!(
        refused(&app, &foreign).await,
        format!(
            "the access token is signed with key `{foreign_kid}`, which is not the signing key of \
             tenant `{c}` (see /{c}/discovery/v2.0/keys)"
        )
    );
    // A token for the Intune API, on Graph.
    let intune = token_for(&app, &contoso, "https://api.manage.microsoft.com//.default").await;
    assert_eq!(
        refused(&app, &intune).await,
        "the access token is for `https://api.manage.microsoft.com/`, not for Microsoft Graph: \
         ask the token endpoint for the scope `https://graph.microsoft.com/.default`"
    );
    // Not a token of this service at all.
    assert_eq!(
        refused(&app, "e30.e30.AA").await,
        "the access token is not a token this service issued: its header is not a JOSE header: \
         missing field `alg` at line 1 column 2"
    );

    // Issued at 08:00:00 for an hour: taken at 08:59:59, refused from 09:00:00.
    app.set_clock(at("2026-03-02T08:59:59Z")).unwrap();
    assert_eq!(get(&app, NDES, Some(&token)).await.status, 200);
    app.set_clock(at("2026-03-02T09:00:00Z")).unwrap();
    assert_eq!(
        refused(&app, &token).await,
        "the access token expired at 2026-03-02T09:00:00Z (the service's time is \
         2026-03-02T09:00:00Z)"
    );
    // A new token works again.
    let fresh = app.graph_token(&contoso).await.unwrap();
    assert_eq!(get(&app, NDES, Some(&fresh)).await.status, 200);
}

/// The lines `serve` prints up to its `database:` line.
async fn banner(child: &mut tokio::process::Child) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut banner = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let last = line.starts_with("database:");
            banner.push(line);
            if last {
                return;
            }
        }
        panic!("serve ended before its banner: {banner:?}");
    })
    .await
    .expect("serve prints its banner within 60 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    banner
}

async fn serve_tls(data_dir: &Path) -> (tokio::process::Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tls",
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .args([
            "--database-url",
            "sqlite::memory:",
            "--operator-token",
            "op",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the service starts");
    let banner = banner(&mut child).await;
    (child, banner)
}

#[tokio::test]
async fn serve_tls_makes_its_ca_once_in_the_data_dir_and_prints_it_for_curl() {
    let data = tempfile::tempdir().unwrap();
    let (mut first, banner) = serve_tls(data.path()).await;
    let ca_file = data.path().join("tls").join("ca.pem");
    assert_eq!(banner.len(), 4, "{banner:?}");
    assert!(
        banner[0].starts_with("intune-mock listening on http://127.0.0.1:"),
        "{banner:?}"
    );
    let https = banner[1]
        .strip_prefix("intune-mock listening on ")
        .unwrap()
        .to_owned();
    assert!(https.starts_with("https://127.0.0.1:"), "{banner:?}");
    assert_eq!(banner[2], format!("CA file: {}", ca_file.display()));
    assert_eq!(banner[3], "database: sqlite::memory:");

    let ca = ca_file.to_str().unwrap();
    let (code, out, err) = curl(&["--cacert", ca, &format!("{https}/healthz")]).await;
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, r#"{"status":"alive"}"#, "")
    );
    let (code, _, err) = curl(&[&format!("{https}/healthz")]).await;
    assert_eq!(code, 60, "{err}");
    let made = std::fs::read(&ca_file).unwrap();
    first.kill().await.unwrap();

    // Started again on the same data dir: the same CA, which a client trusts already.
    let (mut second, banner) = serve_tls(data.path()).await;
    assert_eq!(banner[2], format!("CA file: {}", ca_file.display()));
    assert_eq!(std::fs::read(&ca_file).unwrap(), made);
    let https = banner[1].strip_prefix("intune-mock listening on ").unwrap();
    let (code, _, err) = curl(&["--cacert", ca, &format!("{https}/healthz")]).await;
    assert_eq!(code, 0, "{err}");
    second.kill().await.unwrap();
}
