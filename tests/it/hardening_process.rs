//! Hardening (issue 26) with `intune-mock serve` as a child process: SIGTERM answers the requests
//! in flight and exits 0, with a log file free of colour escapes; an SQLite file serves one
//! process at a time; a restart's `--start` never moves the stored virtual clock in silence.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use scenarios::harness::http_client as http;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::support::{serve_process, start_served};

const OPERATOR: &str = "hardening-operator-token";

fn serve_command(database_url: &str, extra: &[&str]) -> Command {
    serve_process(OPERATOR, database_url, extra)
}

fn signal(child: &Child, name: &str) {
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn admin(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http()
        .request(method, format!("{url}{path}"))
        .bearer_auth(OPERATOR);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("hardening.db").display())
}

/// 20 enqueues are in flight (their heads read, half their bodies sent) when SIGTERM comes: new
/// connections are refused, each of the 20 gets its 201 once its body is whole, the process exits
/// 0, and after a restart the 20 jobs are there. Its log, written to a file at level info, holds
/// no colour escape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_the_requests_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path());
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = serve_command(&database, &["--start", "2026-03-01T00:00:00Z"]);
    command.env("INTUNE_MOCK_LOG", "info").stderr(log);
    let mut service = start_served(command).await;
    let (status, tenant) = admin(
        &service.url,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(json!({"displayName": "Contoso"})),
    )
    .await;
    assert_eq!(status, 201, "{tenant}");
    let tenant_id = tenant["id"].as_str().unwrap().to_owned();
    let addr = service.url.trim_start_matches("http://").to_owned();

    let mut in_flight = Vec::new();
    for i in 0..20 {
        let body = json!({"jobs": [{"kind": "revoke", "payload": {"serialNumber": format!("{:04x}", i + 1), "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": "ca01.contoso.com\\Contoso Issuing CA"}}]}).to_string();
        let head = format!(
            "POST /admin/tenants/{tenant_id}/jobs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let (first, rest) = body.split_at(body.len() / 2);
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(first.as_bytes()).await.unwrap();
        in_flight.push((stream, rest.to_owned()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    signal(&service.child, "TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "a new connection after SIGTERM is refused"
    );
    let mut answered = 0;
    for (mut stream, rest) in in_flight {
        stream.write_all(rest.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 201 Created\r\n"), "{answer}");
        answered += 1;
    }
    assert_eq!(answered, 20);
    let exit = tokio::time::timeout(Duration::from_secs(10), service.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));

    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("stopping"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour escapes in the log file: {log:?}"
    );

    let service = start_served(serve_command(&database, &[])).await;
    let (status, page) = admin(
        &service.url,
        reqwest::Method::GET,
        &format!("/admin/tenants/{tenant_id}/jobs?state=queued"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], 20);
}

/// A second `serve` on the file of a running one exits 4, naming the file, the holder's pid and
/// PostgreSQL for replicas; the first keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path());
    let first = start_served(serve_command(&database, &[])).await;
    let second = serve_command(&database, &[])
        .stderr(Stdio::piped())
        .output();
    let second = tokio::time::timeout(Duration::from_secs(30), second)
        .await
        .expect("the second serve exits instead of serving")
        .unwrap();
    assert_eq!(second.status.code(), Some(4));
    let stderr = String::from_utf8(second.stderr).unwrap();
    let file = dir.path().join("hardening.db");
    let pid = first.child.id().unwrap();
    assert!(
        stderr.contains(&format!(
            "the SQLite database {} is in use by another intune-mock serve (pid {pid},",
            file.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("several replicas on one database is what PostgreSQL is for"),
        "{stderr}"
    );
    let (status, _) = admin(&first.url, reqwest::Method::GET, "/admin/clock", None).await;
    assert_eq!(status, 200);
    drop(first);
}

/// A restart with a `--start` other than the stored clock is refused (exit 3, the message says
/// what to do); without `--start` it continues from the stored instant; `--reset-clock` moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_never_moves_the_stored_clock_in_silence() {
    let dir = tempfile::tempdir().unwrap();
    let database = sqlite_url(dir.path());
    let mut service = start_served(serve_command(
        &database,
        &["--start", "2026-03-01T00:00:00Z"],
    ))
    .await;
    let (status, clock) = admin(
        &service.url,
        reqwest::Method::POST,
        "/admin/clock",
        Some(json!({"advance": "PT1H"})),
    )
    .await;
    assert_eq!(status, 200, "{clock}");
    signal(&service.child, "TERM");
    assert_eq!(service.child.wait().await.unwrap().code(), Some(0));

    let refused = serve_command(&database, &["--start", "2026-03-01T00:00:00Z"])
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert!(
        stderr.contains("the database's virtual clock is at 2026-03-01T01:00:00Z, not at the start asked for, 2026-03-01T00:00:00Z: a restart continues from the stored instant (serve: leave out --start to continue from it, or add --reset-clock to move it to the start)"),
        "{stderr}"
    );

    let past = serve_command(&database, &["--start", "9999-12-31T23:59:59.500Z"])
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert_eq!(past.status.code(), Some(3));
    let stderr = String::from_utf8(past.stderr).unwrap();
    assert!(
        stderr.contains("the clock cannot pass 9999-12-31T23:59:59Z"),
        "{stderr}"
    );

    let mut service = start_served(serve_command(&database, &[])).await;
    let (_, clock) = admin(&service.url, reqwest::Method::GET, "/admin/clock", None).await;
    assert_eq!(clock["now"], "2026-03-01T01:00:00Z");
    signal(&service.child, "INT");
    assert_eq!(service.child.wait().await.unwrap().code(), Some(0));

    let service = start_served(serve_command(
        &database,
        &["--start", "2026-03-01T00:00:00Z", "--reset-clock"],
    ))
    .await;
    let (_, clock) = admin(&service.url, reqwest::Method::GET, "/admin/clock", None).await;
    assert_eq!(clock["now"], "2026-03-01T00:00:00Z");
}
