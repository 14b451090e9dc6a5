//! Helpers shared by the integration tests: literal instants, a service at a given date, thin
//! wrappers around the HTTP calls the tests repeat (register, check in, read status, move the
//! clock), and [`require`], the one place where a test says which tool or service it needs. They
//! assert only that a call was answered; every expectation stays in the tests.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use reqwest::Method;
use scenarios::harness::{spawn_app, Answer, TestApp};
use serde_json::{json, Value};

/// The seed of every test service (ids and secrets are then reproducible).
pub const SEED: u64 = 7;

/// A literal RFC 3339 instant.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("a literal RFC 3339 date")
        .with_timezone(&Utc)
}

/// A fresh service whose virtual clock starts at `start`.
pub async fn app_at(start: &str) -> TestApp {
    spawn_app(at(start), SEED)
        .await
        .expect("the service starts")
}

/// A connector as its registration answered: its id and its own credential.
#[derive(Debug, Clone)]
pub struct Installed {
    pub id: String,
    pub credential: String,
}

/// A minimal registration body: one feature (`pkcs`), the given machine and version.
pub fn registration(machine: &str, version: &str) -> Value {
    json!({
        "machineName": machine,
        "displayName": format!("{machine} connector"),
        "features": ["pkcs"],
        "version": version,
    })
}

pub fn enrollment_secret(tenant: &wire::admin::Tenant) -> &str {
    tenant
        .enrollment_secret
        .as_deref()
        .expect("a created tenant shows its enrollment secret")
}

/// `POST /connector/v1/register` with `secret` as the bearer token.
pub async fn register(app: &TestApp, secret: &str, body: &Value) -> Answer {
    app.request(
        Method::POST,
        "/connector/v1/register",
        Some(secret),
        Some(body),
    )
    .await
    .expect("register answers")
}

/// Registers `body` in `tenant` and insists on 201.
pub async fn install_body(app: &TestApp, tenant: &wire::admin::Tenant, body: &Value) -> Installed {
    let answer = register(app, enrollment_secret(tenant), body).await;
    assert_eq!(answer.status, 201, "registration answered {}", answer.body);
    Installed {
        id: answer.body["connectorId"]
            .as_str()
            .expect("connectorId")
            .to_owned(),
        credential: answer.body["credential"]
            .as_str()
            .expect("credential")
            .to_owned(),
    }
}

/// Registers a minimal connector on `machine` at `version` and insists on 201.
pub async fn install(
    app: &TestApp,
    tenant: &wire::admin::Tenant,
    machine: &str,
    version: &str,
) -> Installed {
    install_body(app, tenant, &registration(machine, version)).await
}

/// `POST /connector/v1/checkin` with the connector's credential.
pub async fn checkin(app: &TestApp, credential: &str, version: &str) -> Answer {
    app.request(
        Method::POST,
        "/connector/v1/checkin",
        Some(credential),
        Some(&json!({ "version": version })),
    )
    .await
    .expect("checkin answers")
}

/// A GET with an optional bearer token.
pub async fn get(app: &TestApp, path: &str, bearer: Option<&str>) -> Answer {
    app.request::<()>(Method::GET, path, bearer, None)
        .await
        .expect("GET answers")
}

/// `POST /admin/clock {"set": to}`, insisting that the clock now reads `to`.
pub async fn set_clock(app: &TestApp, to: &str) {
    let answer = app
        .admin(Method::POST, "/admin/clock", Some(&json!({ "set": to })))
        .await
        .expect("clock answers");
    assert_eq!(
        answer.status, 200,
        "setting the clock to {to} answered {}",
        answer.body
    );
    assert_eq!(answer.body["now"], json!(to));
}

/// The tenant's connectors as the operator lists them.
pub async fn connectors(app: &TestApp, tenant_id: &str) -> Vec<Value> {
    let answer = app
        .admin_get(&format!("/admin/tenants/{tenant_id}/connectors"))
        .await
        .expect("list answers");
    assert_eq!(
        answer.status, 200,
        "listing connectors answered {}",
        answer.body
    );
    answer.body["value"]
        .as_array()
        .expect("a value array")
        .clone()
}

pub async fn connector_count(app: &TestApp, tenant_id: &str) -> usize {
    connectors(app, tenant_id).await.len()
}

/// `GET /admin/tenants/{tid}/connectors/{id}` as the operator, insisting on 200.
pub async fn connector_view(app: &TestApp, tenant_id: &str, connector_id: &str) -> Value {
    let answer = app
        .admin_get(&format!(
            "/admin/tenants/{tenant_id}/connectors/{connector_id}"
        ))
        .await
        .expect("view answers");
    assert_eq!(
        answer.status, 200,
        "reading the connector answered {}",
        answer.body
    );
    answer.body
}

/// `GET …/status` as the operator, insisting on 200.
pub async fn status(app: &TestApp, tenant_id: &str, connector_id: &str) -> Value {
    let answer = app
        .admin_get(&format!(
            "/admin/tenants/{tenant_id}/connectors/{connector_id}/status"
        ))
        .await
        .expect("status answers");
    assert_eq!(
        answer.status, 200,
        "reading the status answered {}",
        answer.body
    );
    answer.body
}

/// The reason codes of a status body, in the order the service lists them.
pub fn codes(status: &Value) -> Vec<String> {
    status["reasons"]
        .as_array()
        .expect("a reasons array")
        .iter()
        .map(|r| r["code"].as_str().expect("a reason code").to_owned())
        .collect()
}

/// The reason with `code` in a status body.
pub fn reason<'a>(status: &'a Value, code: &str) -> &'a Value {
    status["reasons"]
        .as_array()
        .expect("a reasons array")
        .iter()
        .find(|r| r["code"] == code)
        .unwrap_or_else(|| panic!("no reason {code} in {status}"))
}

/// The error message of a Graph error envelope.
pub fn message(answer: &Answer) -> &str {
    answer
        .body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// One request of a batch sent at once: method, path, bearer token and JSON body.
pub type Call = (Method, String, Option<String>, Option<Value>);

/// Sends every call at the same time (one task each) and returns the answers in call order.
pub async fn at_once(app: &TestApp, calls: Vec<Call>) -> Vec<Answer> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(calls.len()));
    let mut tasks = Vec::new();
    for (method, path, bearer, body) in calls {
        let http = app.http.clone();
        let url = format!("{}{path}", app.base_url);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut request = http.request(method, url);
            if let Some(token) = bearer {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            barrier.wait().await;
            let response = request.send().await.expect("the service answers");
            let status = response.status().as_u16();
            let bytes = response.bytes().await.expect("a body");
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("a JSON body")
            };
            Answer { status, body }
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("the request task finishes"));
    }
    answers
}

/// A throw-away self-signed certificate (P-256 key, valid 2020–2040) with common name `cn`.
pub fn self_signed(
    cn: &str,
) -> (
    openssl::pkey::PKey<openssl::pkey::Private>,
    openssl::x509::X509,
) {
    use openssl::asn1::Asn1Time;
    use openssl::x509::{X509NameBuilder, X509};
    let key = connector_sim::pki::KeyPool::new()
        .generate(connector_sim::pki::KeyAlgorithm::P256)
        .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", cn).unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_issuer_name(&name).unwrap();
    builder.set_pubkey(&key).unwrap();
    builder
        .set_not_before(&Asn1Time::from_str("20200101000000Z").unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::from_str("20400101000000Z").unwrap())
        .unwrap();
    builder
        .sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    (key, builder.build())
}

// ----- the tools and services some tests need ---------------------------------------------------

/// A tool or service that some tests need and `tests/run` installs or starts. A test whose need
/// is missing fails with a message naming the package; it is skipped only when a person names
/// the need in `INTUNE_MOCK_SKIP` (comma-separated), and then it records itself in the file
/// `INTUNE_MOCK_SKIPPED_FILE` names (tests/run sets it and counts those tests as skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A PostgreSQL server named by `DATABASE_URL` (the store suite's `postgres::` tests).
    Postgres,
    /// Headless Chromium (the operator page's browser test).
    Chromium,
    /// `python3 -m venv` and PyPI, for Microsoft's Graph SDK for Python.
    GraphSdk,
    /// Debian's SCEP clients, `scepclient` and `certmonger`.
    ScepClients,
    /// Debian's `tinyproxy`.
    Tinyproxy,
}

/// The names `INTUNE_MOCK_SKIP` accepts: the needs above, and `schemathesis` (which only
/// tests/run and .ci/schemathesis read).
const SKIP_NAMES: [&str; 6] = [
    "postgres",
    "chromium",
    "graph-sdk",
    "scep-clients",
    "tinyproxy",
    "schemathesis",
];

impl Need {
    /// Its name in `INTUNE_MOCK_SKIP`.
    pub fn skip_name(self) -> &'static str {
        match self {
            Need::Postgres => "postgres",
            Need::Chromium => "chromium",
            Need::GraphSdk => "graph-sdk",
            Need::ScepClients => "scep-clients",
            Need::Tinyproxy => "tinyproxy",
        }
    }

    /// What to install (or set) for it.
    fn remedy(self) -> &'static str {
        match self {
            Need::Postgres => {
                "a PostgreSQL server (Debian package postgresql) and DATABASE_URL=postgres://USER:\
                 PASSWORD@127.0.0.1:PORT/DATABASE naming a user that may CREATE DATABASE"
            }
            Need::Chromium => {
                "the Debian packages chromium and fonts-liberation (or set CHROMIUM to a Chromium)"
            }
            Need::GraphSdk => {
                "the Debian packages python3 and python3-venv, and reach PyPI to install \
                 tests/graph-sdk/requirements.txt"
            }
            Need::ScepClients => "the Debian packages scep (scepclient) and certmonger",
            Need::Tinyproxy => "the Debian package tinyproxy",
        }
    }
}

/// Whether a person asked to skip `need` in `INTUNE_MOCK_SKIP`; when so, the running test is
/// recorded as skipped. A name there that is not a need fails the test (a typo must not run a
/// different set of tests than asked for).
pub fn skip_requested(need: Need) -> bool {
    let asked = std::env::var("INTUNE_MOCK_SKIP").unwrap_or_default();
    let mut skip = false;
    for name in asked.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        assert!(
            SKIP_NAMES.contains(&name),
            "INTUNE_MOCK_SKIP names `{name}`, which is none of {}",
            SKIP_NAMES.join(", ")
        );
        skip |= name == need.skip_name();
    }
    if skip {
        record_skip(need);
    }
    skip
}

/// Writes `test<TAB>need` to `INTUNE_MOCK_SKIPPED_FILE`, or says so on stderr without it.
fn record_skip(need: Need) {
    use std::io::Write;
    // libtest runs each test on a thread named after it.
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("(a test on an unnamed thread)");
    match std::env::var_os("INTUNE_MOCK_SKIPPED_FILE") {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("cannot open INTUNE_MOCK_SKIPPED_FILE {path:?}: {e}"));
            // One write of one short line: appends from parallel tests do not interleave.
            file.write_all(format!("{test}\t{}\n", need.skip_name()).as_bytes())
                .unwrap_or_else(|e| panic!("cannot write INTUNE_MOCK_SKIPPED_FILE {path:?}: {e}"));
        }
        None => {
            // Straight to stderr, past the test harness's capture.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED by request (INTUNE_MOCK_SKIP names {}): {test}",
                need.skip_name()
            );
        }
    }
}

/// Fails the running test because `need` is missing here (`why`), naming what to install.
#[track_caller]
pub fn missing(need: Need, why: &str) -> ! {
    panic!(
        "this test needs {} and cannot run: {why}.\nInstall {} (tests/run installs and starts \
         everything the tests need), or skip these tests by name: INTUNE_MOCK_SKIP={}",
        need.skip_name(),
        need.remedy(),
        need.skip_name()
    )
}

/// What `find` finds for `need`; `None` when a person asked to skip it (the test is recorded as
/// skipped and returns); the test fails, naming the package, when `find` says it is missing.
#[track_caller]
pub fn require<T>(need: Need, find: impl FnOnce() -> Result<T, String>) -> Option<T> {
    if skip_requested(need) {
        return None;
    }
    match find() {
        Ok(found) => Some(found),
        Err(why) => missing(need, &why),
    }
}

/// The path of `program` on `PATH` (`command -v`), or why there is none.
pub fn on_path(program: &str) -> Result<String, String> {
    let found = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .map_err(|e| format!("cannot run sh to look for `{program}`: {e}"))?;
    if !found.status.success() {
        return Err(format!("`{program}` is not installed (not on PATH)"));
    }
    Ok(String::from_utf8_lossy(&found.stdout).trim().to_owned())
}

// ----- the routes the router serves ------------------------------------------------------------

/// The text of the call that starts at `text` (just after its opening parenthesis), up to the
/// matching closing parenthesis.
fn balanced(text: &str) -> &str {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' if depth == 0 => return &text[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    panic!("unbalanced call in the router source");
}

/// Splits `a, b` at the first comma outside parentheses and strings.
fn first_argument(text: &str) -> (&str, &str) {
    let mut depth = 0usize;
    let mut in_string = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => return (text[..i].trim(), text[i + 1..].trim()),
            _ => {}
        }
    }
    panic!("a .route( call without a method router: {text}");
}

fn string_literal(text: &str) -> &str {
    let start = text.find('"').expect("a string literal");
    let end = text[start + 1..]
        .find('"')
        .expect("a closed string literal");
    &text[start + 1..start + 1 + end]
}

/// Every (method, path template) the router serves, read from the `.route(` calls of its source
/// (`service/src/http/mod.rs`); the security matrix and the OpenAPI test both hold their tables
/// to it.
pub fn router_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../service/src/http/mod.rs");
    for unsupported in [
        ".nest(",
        ".merge(",
        ".route_service(",
        ".nest_service(",
        "any(",
        "on(",
    ] {
        assert!(
            !source.contains(unsupported),
            "the router uses `{unsupported}`: teach this test to read it"
        );
    }
    let mut out = BTreeSet::new();
    for (start, _) in source.match_indices(".route(") {
        let call = balanced(&source[start + ".route(".len()..]);
        let (path, methods) = first_argument(call);
        let path = if path.starts_with("&format!(") {
            let template = string_literal(path);
            let constant = if path.contains("wire::scep::SCEP_SERVICE_PATH") {
                wire::scep::SCEP_SERVICE_PATH
            } else if path.contains("wire::scep::PKI_SERVICE_PATH") {
                wire::scep::PKI_SERVICE_PATH
            } else {
                panic!("a route path built from an unknown constant: {path}");
            };
            template.replacen("{}", constant, 1)
        } else {
            string_literal(path).to_owned()
        };
        let mut found = 0;
        for method in ["get", "post", "put", "patch", "delete"] {
            let needle = format!("{method}(");
            for (i, _) in methods.match_indices(&needle) {
                let before = methods[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                found += 1;
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        assert!(found > 0, "no method found for {path}: {methods}");
    }
    out
}

/// A revocation job of the embedded CA for the certificate with `serial` (hex).
pub fn revoke_job(serial: &str) -> Value {
    json!({"kind": "revoke", "payload": {"serialNumber": serial, "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"}})
}

/// `intune-mock ARGS` run to its end: exit code, standard output, standard error.
pub fn intune_mock(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"))
        .args(args)
        .output()
        .expect("the command runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The built `intune-mock` as a command, without the caller's `NO_COLOR` and `INTUNE_MOCK_LOG`.
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"));
    command.env_remove("NO_COLOR").env_remove("INTUNE_MOCK_LOG");
    command
}

/// Reads a `serve` process's standard output up to its `intune-mock listening on URL` line (at
/// most 30 s) and returns the URL.
pub async fn served_url(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("intune-mock listening on ") {
                return url.trim().to_owned();
            }
        }
        panic!("the service ended before it listened");
    })
    .await
    .expect("the service listens within 30 s")
}

/// `intune-mock connector` against `app` with the tenant's enrollment `secret`, on machine SRV01,
/// polling every second, with `extra` flags; killed when dropped. Its output streams are the
/// caller's to set.
pub fn connector_process(app: &TestApp, secret: &str, extra: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"));
    command
        .args([
            "connector",
            "--url",
            &app.base_url,
            "--enrollment-secret",
            secret,
            "--machine",
            "SRV01",
            "--poll-seconds",
            "1",
        ])
        .args(extra)
        .env_remove("INTUNE_MOCK_ENROLLMENT_SECRET")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}

/// `intune-mock serve` on a free loopback port with a virtual clock, `operator` as the operator
/// token, on `database_url`, with `extra` flags; standard output piped (for its banner), killed
/// when dropped.
pub fn serve_process(
    operator: &str,
    database_url: &str,
    extra: &[&str],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_intune-mock-under-test"));
    command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--clock",
            "virtual",
            "--operator-token",
            operator,
            "--database-url",
            database_url,
        ])
        .args(extra)
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A running `serve` process and the URL its banner gave.
pub struct Served {
    pub child: tokio::process::Child,
    pub url: String,
}

/// Starts `command` (see [`serve_process`]) and waits for its banner; the rest of its standard
/// output is read and dropped, so it never blocks on a full pipe.
pub async fn start_served(mut command: tokio::process::Command) -> Served {
    use tokio::io::AsyncBufReadExt;
    let mut child = command.spawn().expect("the service starts");
    let stdout = child.stdout.take().expect("standard output is piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let url = served_url(&mut lines).await;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Served { child, url }
}
