//! A real Graph client against the mock (issues 9 and 23): Microsoft's Graph SDK for Python
//! (`msgraph-beta-sdk`, pinned in tests/graph-sdk/requirements.txt) with its default
//! authentication (azure-identity's `ClientSecretCredential` handed to `GraphServiceClient`),
//! only the authority, the Graph base URL and the trusted CA changed, reads `ndesConnectors` and
//! `certificateConnectorDetails` over HTTPS through its generated models
//! (tests/graph-sdk/read_connectors.py prints every field as a model read it). MSAL asks the
//! mock's OpenID configuration and token endpoint on the way, as it asks Entra ID's.
//!
//! The SDK reads a property whose JSON name it does not know as nothing (the value lands in the
//! model's `additional_data`) and an enum value it does not know as nothing, so the literal
//! expectations below fail on a wrong field name or enum value. The second test shows it: a
//! stand-in in front of the mock renames fields and recases enums, and exactly those reads
//! change. One gap of the SDK: its enum parser upper-cases the first letter before it looks the
//! member up, so `Inactive` reads as `inactive`; the first test therefore also compares each
//! enum's wire text with the SDK's value.
//!
//! The virtualenv is made once under the tests' scratch folder (`target/tmp/graph-sdk-venv`) and
//! reused while it holds the pinned versions. Without Python or PyPI the tests fail and say what
//! to install; `INTUNE_MOCK_SKIP=graph-sdk` skips them by name.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use reqwest::Method as ReqwestMethod;
use scenarios::harness::TestApp;
use serde_json::{json, Map, Value};
use tokio::process::Command;
use tokio::sync::OnceCell;

use crate::identity::{tls_app_at, TlsFiles};
use crate::support::{checkin, get, install_body, missing, skip_requested, Installed, Need};

const REQUIREMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/graph-sdk/requirements.txt");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/graph-sdk/read_connectors.py");
const NDES: &str = "/beta/deviceManagement/ndesConnectors";
const DETAILS: &str = "/beta/deviceManagement/certificateConnectorDetails";
/// `python3 -m venv` and each short Python call.
const VENV_TIMEOUT: Duration = Duration::from_secs(120);
/// `pip install -r requirements.txt` (about a minute on the CI machine).
const PIP_TIMEOUT: Duration = Duration::from_secs(420);
/// One run of read_connectors.py.
pub(crate) const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// The venv's interpreter, or why there is none. Made once per test run.
static VENV: OnceCell<Result<PathBuf, String>> = OnceCell::const_new();

/// `name==version` lines of requirements.txt.
fn pins() -> Vec<(String, String)> {
    std::fs::read_to_string(REQUIREMENTS)
        .expect("tests/graph-sdk/requirements.txt is readable")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (name, version) = line
                .split_once("==")
                .unwrap_or_else(|| panic!("requirements.txt: `{line}` is not pinned with =="));
            (name.trim().to_owned(), version.trim().to_owned())
        })
        .collect()
}

/// Runs `program args…` within `limit`; Err with a readable reason when it cannot start, runs
/// over or exits non-zero. Ok holds stdout.
async fn run(program: &Path, args: &[&str], limit: Duration) -> Result<String, String> {
    run_env(program, args, &[], limit).await
}

/// [`run`] with `env` added to the environment.
pub(crate) async fn run_env(
    program: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
    limit: Duration,
) -> Result<String, String> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().copied())
        // Loopback only: a proxy of the machine must not see the calls.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = match tokio::time::timeout(limit, command.output()).await {
        Err(_) => return Err(format!("`{shown}` took more than {limit:?}")),
        Ok(Err(e)) => return Err(format!("`{shown}` could not start: {e}")),
        Ok(Ok(output)) => output,
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(format!(
        "`{shown}` failed ({}):\n{}",
        output.status,
        tail.join("\n")
    ))
}

/// Whether the interpreter has every pinned distribution at its pinned version.
async fn has_pins(python: &Path, pins: &[(String, String)]) -> bool {
    let mut args = vec![
        "-c",
        "import sys, importlib.metadata as m\nfor n in sys.argv[1:]: print(n + '==' + m.version(n))",
    ];
    args.extend(pins.iter().map(|(name, _)| name.as_str()));
    let Ok(listed) = run(python, &args, VENV_TIMEOUT).await else {
        return false;
    };
    let wanted: Vec<String> = pins.iter().map(|(n, v)| format!("{n}=={v}")).collect();
    listed.lines().collect::<Vec<_>>() == wanted
}

async fn make_venv() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("graph-sdk-venv");
    let python = dir.join("bin").join("python");
    let pins = pins();
    if python.exists() && has_pins(&python, &pins).await {
        return Ok(python);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot remove the stale {}: {e}", dir.display()))?;
    }
    let started = std::time::Instant::now();
    let dir_text = dir.to_str().ok_or("the target folder is not UTF-8")?;
    run(
        Path::new("python3"),
        &["-m", "venv", dir_text],
        VENV_TIMEOUT,
    )
    .await
    .map_err(|e| format!("{e}\n(on Debian, `python3 -m venv` needs the package python3-venv)"))?;
    run(
        &python,
        &[
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--quiet",
            "-r",
            REQUIREMENTS,
        ],
        PIP_TIMEOUT,
    )
    .await
    .map_err(|e| format!("installing the Graph SDK from PyPI: {e}"))?;
    if !has_pins(&python, &pins).await {
        return Err(format!(
            "{} lacks a pinned version after pip install",
            dir.display()
        ));
    }
    print_past_capture(&format!(
        "graph_sdk: made {} with the pinned Graph SDK in {:.0?}",
        dir.display(),
        started.elapsed()
    ));
    Ok(python)
}

/// Straight to stderr, past the test harness's capture, so a local run shows it.
fn print_past_capture(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// The venv's Python; `None` when a person asked to skip the Graph SDK tests
/// (`INTUNE_MOCK_SKIP=graph-sdk`). Without Python, its venv module or PyPI the test fails and
/// says why.
pub(crate) async fn sdk_python() -> Option<PathBuf> {
    if skip_requested(Need::GraphSdk) {
        return None;
    }
    match VENV.get_or_init(make_venv).await {
        Ok(python) => Some(python.clone()),
        Err(why) => missing(Need::GraphSdk, why),
    }
}

/// read_connectors.py with the authority `authority` (the service's HTTPS origin) and the
/// Graph at `base` (the service, or a stand-in in front of it), trusting `ca_file`: its JSON.
async fn read_with_sdk(
    python: &Path,
    authority: &str,
    base: &str,
    tenant: &wire::admin::Tenant,
    ca_file: &Path,
) -> Value {
    let graph_base = format!("{base}/beta");
    let secret = tenant.client_secret.as_deref().expect("a client secret");
    let stdout = run_env(
        python,
        &[
            SCRIPT,
            authority,
            &graph_base,
            &tenant.id,
            &tenant.client_id,
            secret,
        ],
        &[("SSL_CERT_FILE", ca_file), ("REQUESTS_CA_BUNDLE", ca_file)],
        SCRIPT_TIMEOUT,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("read_connectors.py printed no JSON ({e}):\n{stdout}"))
}

/// A tenant with three connectors, each registered and checked in at its own instant:
/// 2026-03-02T08:00:00Z SRV-PKI-01 (6.2510.3.2002) registers and checks in;
/// 08:05:00 SRV-PKI-02 (6.2406.0.2002, older) registers and checks in;
/// 09:30:00 SRV-PKI-01 checks in again and SRV-PKI-03 (6.2510.3.2002) registers, never checking
/// in. At 09:30 the first is active, the second inactive (no check-in for over an hour), the
/// third has no state yet.
struct Seeded {
    app: TestApp,
    /// The service's HTTPS origin and the CA file its certificate chains to.
    https: String,
    tls: TlsFiles,
    tenant: wire::admin::Tenant,
    a: Installed,
    b: Installed,
    c: Installed,
}

async fn advance(app: &TestApp, by: &str, now: &str) {
    let answer = app
        .admin(
            ReqwestMethod::POST,
            "/admin/clock",
            Some(&json!({ "advance": by })),
        )
        .await
        .expect("the clock answers");
    assert_eq!(answer.body["now"], now, "{}", answer.body);
}

async fn seeded() -> Seeded {
    let (app, tls) = tls_app_at("2026-03-02T08:00:00Z").await;
    let https = app.tls_base_url.clone().expect("an HTTPS listener");
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let register = |machine: &str, display: &str, version: &str| {
        json!({
            "machineName": machine,
            "displayName": display,
            "features": ["pkcs", "pkcs_import", "revocation"],
            "version": version,
        })
    };
    let a = install_body(
        &app,
        &tenant,
        &register("SRV-PKI-01", "Contoso PKI 01", "6.2510.3.2002"),
    )
    .await;
    assert_eq!(
        checkin(&app, &a.credential, "6.2510.3.2002").await.status,
        200
    );
    advance(&app, "PT5M", "2026-03-02T08:05:00Z").await;
    let b = install_body(
        &app,
        &tenant,
        &register("SRV-PKI-02", "Contoso PKI 02 (old)", "6.2406.0.2002"),
    )
    .await;
    assert_eq!(
        checkin(&app, &b.credential, "6.2406.0.2002").await.status,
        200
    );
    advance(&app, "PT1H25M", "2026-03-02T09:30:00Z").await;
    assert_eq!(
        checkin(&app, &a.credential, "6.2510.3.2002").await.status,
        200
    );
    let c = install_body(
        &app,
        &tenant,
        &register("SRV-PKI-03", "Contoso PKI 03", "6.2510.3.2002"),
    )
    .await;
    Seeded {
        app,
        https,
        tls,
        tenant,
        a,
        b,
        c,
    }
}

/// What the SDK reads from the seeded service reached at `base`: every field, literally. The
/// lists come in enrollment order. `health_checks` and `health_status` are newer beta
/// properties of ndesConnector that the mock does not serve: the SDK reads them as nothing.
fn expected(s: &Seeded, base: &str) -> Value {
    let (a, b, c) = (&s.a.id, &s.b.id, &s.c.id);
    let ndes = [
        json!({
            "additional_data": {},
            "connector_version": "6.2510.3.2002",
            "display_name": "Contoso PKI 01",
            "enrolled_date_time": "2026-03-02T08:00:00+00:00",
            "health_checks": null,
            "health_status": null,
            "id": a,
            "last_connection_date_time": "2026-03-02T09:30:00+00:00",
            "machine_name": "SRV-PKI-01",
            "odata_type": "#microsoft.graph.ndesConnector",
            "role_scope_tag_ids": ["0"],
            "state": "active",
        }),
        json!({
            "additional_data": {},
            "connector_version": "6.2406.0.2002",
            "display_name": "Contoso PKI 02 (old)",
            "enrolled_date_time": "2026-03-02T08:05:00+00:00",
            "health_checks": null,
            "health_status": null,
            "id": b,
            "last_connection_date_time": "2026-03-02T08:05:00+00:00",
            "machine_name": "SRV-PKI-02",
            "odata_type": "#microsoft.graph.ndesConnector",
            "role_scope_tag_ids": ["0"],
            "state": "inactive",
        }),
        json!({
            "additional_data": {},
            "connector_version": "6.2510.3.2002",
            "display_name": "Contoso PKI 03",
            "enrolled_date_time": "2026-03-02T09:30:00+00:00",
            "health_checks": null,
            "health_status": null,
            "id": c,
            // The service sends null: it never checked in.
            "last_connection_date_time": null,
            "machine_name": "SRV-PKI-03",
            "odata_type": "#microsoft.graph.ndesConnector",
            "role_scope_tag_ids": ["0"],
            "state": "none",
        }),
    ];
    let details = [
        json!({
            "additional_data": {},
            "connector_name": "Contoso PKI 01",
            "connector_version": "6.2510.3.2002",
            "enrollment_date_time": "2026-03-02T08:00:00+00:00",
            "id": a,
            "last_checkin_date_time": "2026-03-02T09:30:00+00:00",
            "machine_name": "SRV-PKI-01",
            "odata_type": "#microsoft.graph.certificateConnectorDetails",
        }),
        json!({
            "additional_data": {},
            "connector_name": "Contoso PKI 02 (old)",
            "connector_version": "6.2406.0.2002",
            "enrollment_date_time": "2026-03-02T08:05:00+00:00",
            "id": b,
            "last_checkin_date_time": "2026-03-02T08:05:00+00:00",
            "machine_name": "SRV-PKI-02",
            "odata_type": "#microsoft.graph.certificateConnectorDetails",
        }),
        json!({
            "additional_data": {},
            "connector_name": "Contoso PKI 03",
            "connector_version": "6.2510.3.2002",
            "enrollment_date_time": "2026-03-02T09:30:00+00:00",
            "id": c,
            "last_checkin_date_time": null,
            "machine_name": "SRV-PKI-03",
            "odata_type": "#microsoft.graph.certificateConnectorDetails",
        }),
    ];
    // Read by id, an entity also carries its @odata.context, which the model keeps aside.
    let by_id = |items: &[Value], set: &str| -> Value {
        let mut out = Map::new();
        for item in items {
            let mut item = item.clone();
            item["additional_data"] = json!({
                "@odata.context": format!("{base}/beta/$metadata#deviceManagement/{set}/$entity")
            });
            out.insert(item["id"].as_str().unwrap().to_owned(), item);
        }
        Value::Object(out)
    };
    let page = |set: &str| {
        json!({
            "additional_data": {"@odata.context": format!("{base}/beta/$metadata#deviceManagement/{set}")},
            "odata_count": null,
            "odata_next_link": null,
        })
    };
    let one_at_a_time = |ids: &[&String]| -> Vec<Value> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let next = (i + 1 < ids.len()).then(|| {
                    format!(
                        "{base}{NDES}?%24top=1&%24skip={}&%24count=true",
                        i + 1
                    )
                });
                json!({
                    "additional_data": {"@odata.context": format!("{base}/beta/$metadata#deviceManagement/ndesConnectors")},
                    "ids": [id],
                    "odata_count": 3,
                    "odata_next_link": next,
                })
            })
            .collect()
    };
    let sdk: Map<String, Value> = pins()
        .into_iter()
        .filter(|(name, _)| {
            [
                "msgraph-beta-sdk",
                "msgraph-core",
                "microsoft-kiota-abstractions",
                "microsoft-kiota-http",
                "microsoft-kiota-serialization-json",
            ]
            .contains(&name.as_str())
        })
        .map(|(name, version)| (name, Value::String(version)))
        .collect();
    json!({
        "sdk": sdk,
        "ndesConnectors": {"page": page("ndesConnectors"), "value": ndes},
        "ndesConnectorById": by_id(&ndes, "ndesConnectors"),
        "certificateConnectorDetails": {"page": page("certificateConnectorDetails"), "value": details},
        "certificateConnectorDetailsById": by_id(&details, "certificateConnectorDetails"),
        "ndesConnectorPages": one_at_a_time(&[a, b, c]),
    })
}

/// JSON pointers of the leaves where `actual` and `expected` differ.
fn differences(actual: &Value, expected: &Value, at: &str, out: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let path = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                differences(
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                    &path,
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                differences(p, q, &format!("{at}/{i}"), out);
            }
        }
        _ if actual != expected => out.push(at.to_owned()),
        _ => {}
    }
}

/// `(id, wire text, SDK value)` of every ndesConnector whose `state` on the wire is not exactly
/// the value of the SDK enum member it read as.
fn enum_text_mismatches(wire: &Value, sdk: &Value) -> Vec<(String, Value, Value)> {
    let wire_items = wire["value"].as_array().expect("a value array");
    let sdk_items = sdk["ndesConnectors"]["value"]
        .as_array()
        .expect("the SDK's list");
    assert_eq!(wire_items.len(), sdk_items.len());
    wire_items
        .iter()
        .zip(sdk_items)
        .filter(|(w, s)| w["state"] != s["state"])
        .map(|(w, s)| {
            (
                w["id"].as_str().unwrap_or_default().to_owned(),
                w["state"].clone(),
                s["state"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_python_graph_sdk_reads_every_connector_field_from_the_mock() {
    let Some(python) = sdk_python().await else {
        return;
    };
    let s = seeded().await;
    let read = read_with_sdk(&python, &s.https, &s.https, &s.tenant, &s.tls.ca_file).await;
    // Every link is the HTTPS origin the SDK reached.
    let expected = expected(&s, &s.https);
    let mut diff = Vec::new();
    differences(&read, &expected, "", &mut diff);
    assert_eq!(
        diff,
        Vec::<String>::new(),
        "the SDK read differs from the expected fields"
    );
    assert_eq!(read, expected);
    assert_eq!(read["sdk"]["msgraph-beta-sdk"], "1.66.0");

    // Enum values on the wire are exactly the SDK's member values (lower camel case).
    let token = s.app.graph_token(&s.tenant).await.unwrap();
    let wire = get(&s.app, NDES, Some(&token)).await;
    assert_eq!(wire.status, 200, "{}", wire.body);
    assert_eq!(enum_text_mismatches(&wire.body, &read), []);
}

/// A stand-in in front of the service: forwards every request, and in Graph answers renames
/// `connectorVersion` to `connectorversion` and writes `state` `active` as `ACTIVE` for
/// connector `a`, and for connector `b` renames `lastCheckinDateTime` to `lastCheckInDateTime`
/// and writes `inactive` as `Inactive`. Links to the service point at the stand-in.
struct Tamper {
    http: reqwest::Client,
    upstream: String,
    own: String,
    a: String,
    b: String,
}

fn rename(item: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(value) = item.remove(from) {
        item.insert(to.to_owned(), value);
    }
}

fn tamper_item(t: &Tamper, item: &mut Value) {
    let Some(item) = item.as_object_mut() else {
        return;
    };
    let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
    if id == t.a {
        rename(item, "connectorVersion", "connectorversion");
        if item.get("state") == Some(&json!("active")) {
            item.insert("state".into(), json!("ACTIVE"));
        }
    } else if id == t.b {
        rename(item, "lastCheckinDateTime", "lastCheckInDateTime");
        if item.get("state") == Some(&json!("inactive")) {
            item.insert("state".into(), json!("Inactive"));
        }
    }
}

async fn forward(
    State(t): State<Arc<Tamper>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = t.http.request(method, format!("{}{path}", t.upstream));
    for name in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let response = match request.body(body).send().await {
        Ok(response) => response,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let text = text.replace(&t.upstream, &t.own);
    let text = match serde_json::from_str::<Value>(&text) {
        Ok(mut value) if uri.path().starts_with("/beta/") => {
            if let Some(items) = value.get_mut("value").and_then(Value::as_array_mut) {
                items.iter_mut().for_each(|item| tamper_item(&t, item));
            } else {
                tamper_item(&t, &mut value);
            }
            value.to_string()
        }
        _ => text,
    };
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

#[tokio::test]
async fn a_renamed_field_or_an_unknown_enum_casing_reads_as_nothing_in_the_sdk() {
    let Some(python) = sdk_python().await else {
        return;
    };
    let s = seeded().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = format!("http://{}", listener.local_addr().unwrap());
    let tamper = Arc::new(Tamper {
        http: s.app.http.clone(),
        upstream: s.app.base_url.clone(),
        own: own.clone(),
        a: s.a.id.clone(),
        b: s.b.id.clone(),
    });
    let router = Router::new().fallback(forward).with_state(tamper);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    // The token from the service's HTTPS origin, Graph through the stand-in (plain HTTP on
    // loopback, which the SDK allows).
    let read = read_with_sdk(&python, &s.https, &own, &s.tenant, &s.tls.ca_file).await;

    // The expectation of the first test fails, on exactly the tampered fields.
    let expected = expected(&s, &own);
    let mut diff = Vec::new();
    differences(&read, &expected, "", &mut diff);
    let (a, b) = (&s.a.id, &s.b.id);
    let mut tampered = vec![
        "/certificateConnectorDetails/value/0/additional_data/connectorversion".to_owned(),
        "/certificateConnectorDetails/value/0/connector_version".to_owned(),
        "/certificateConnectorDetails/value/1/additional_data/lastCheckInDateTime".to_owned(),
        "/certificateConnectorDetails/value/1/last_checkin_date_time".to_owned(),
        format!("/certificateConnectorDetailsById/{a}/additional_data/connectorversion"),
        format!("/certificateConnectorDetailsById/{a}/connector_version"),
        format!("/certificateConnectorDetailsById/{b}/additional_data/lastCheckInDateTime"),
        format!("/certificateConnectorDetailsById/{b}/last_checkin_date_time"),
        format!("/ndesConnectorById/{a}/additional_data/connectorversion"),
        format!("/ndesConnectorById/{a}/connector_version"),
        format!("/ndesConnectorById/{a}/state"),
        "/ndesConnectors/value/0/additional_data/connectorversion".to_owned(),
        "/ndesConnectors/value/0/connector_version".to_owned(),
        "/ndesConnectors/value/0/state".to_owned(),
    ];
    tampered.sort();
    diff.sort();
    assert_eq!(diff, tampered);
    // What the SDK made of them: nothing in the model, the renamed value set aside.
    let ndes_a = &read["ndesConnectors"]["value"][0];
    assert_eq!(ndes_a["id"], json!(a));
    assert_eq!(ndes_a["connector_version"], Value::Null);
    assert_eq!(ndes_a["state"], Value::Null);
    assert_eq!(
        ndes_a["additional_data"],
        json!({"connectorversion": "6.2510.3.2002"})
    );
    let details_a = &read["certificateConnectorDetailsById"][a.as_str()];
    assert_eq!(details_a["connector_version"], Value::Null);
    assert_eq!(
        details_a["additional_data"]["connectorversion"],
        "6.2510.3.2002"
    );
    let details_b = &read["certificateConnectorDetails"]["value"][1];
    assert_eq!(details_b["id"], json!(b));
    assert_eq!(details_b["last_checkin_date_time"], Value::Null);
    assert_eq!(
        details_b["additional_data"],
        json!({"lastCheckInDateTime": "2026-03-02T08:05:00+00:00"})
    );

    // `Inactive` is not among them: the SDK's enum parser upper-cases the first letter, so it
    // reads as inactive. The first test's comparison of wire text and SDK value catches it.
    assert_eq!(read["ndesConnectors"]["value"][1]["state"], "inactive");
    let token = s.app.graph_token(&s.tenant).await.unwrap();
    let wire: Value = s
        .app
        .http
        .get(format!("{own}{NDES}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        enum_text_mismatches(&wire, &read),
        [
            (a.clone(), json!("ACTIVE"), Value::Null),
            (b.clone(), json!("Inactive"), json!("inactive")),
        ]
    );
    // The details set is tampered too (the same stand-in serves it).
    let details_wire: Value = s
        .app
        .http
        .get(format!("{own}{DETAILS}/{b}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(details_wire["lastCheckInDateTime"], "2026-03-02T08:05:00Z");
    server.abort();
}
