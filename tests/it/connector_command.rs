//! `intune-mock connector` as a process (issue #22): the line that says who it is, one line per
//! event, the channel files of `--log-dir`, a restart from `--state-dir` after SIGKILL that goes
//! on as the same connector, SIGTERM that writes the stopped event and exits 0, and bad input
//! refused before anything registers.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scenarios::harness::TestApp;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::scep_endpoint::wait_until;
use crate::support::{
    app_at, connector_count, connector_process, enrollment_secret, on_path, require, Need,
};

/// A running connector command: its first standard-output line and every standard-error line
/// so far.
struct Running {
    child: Child,
    registered: String,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

/// A service whose virtual clock starts at `start`, its tenant Contoso, and the tenant's
/// enrollment secret.
async fn contoso(start: &str) -> (TestApp, wire::admin::Tenant, String) {
    let app = app_at(start).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let secret = enrollment_secret(&tenant).to_owned();
    (app, tenant, secret)
}

fn command(app: &TestApp, secret: &str, extra: &[&str]) -> Command {
    let mut command = connector_process(app, secret, extra);
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

async fn start(app: &TestApp, secret: &str, extra: &[&str]) -> Running {
    let mut child = command(app, secret, extra)
        .spawn()
        .expect("the binary starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
    let kept = stderr.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = errors.next_line().await {
            kept.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let registered = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the connector says who it is within 30 s")
        .unwrap()
        .unwrap_or_else(|| panic!("no line on stdout; stderr: {:?}", stderr.lock().unwrap()));
    Running {
        child,
        registered,
        stdout: lines,
        stderr,
    }
}

/// Waits (at most 30 s) until a standard-error line contains `text`.
async fn wait_for(running: &Running, text: &str) {
    for _ in 0..300 {
        if running
            .stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(text))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no stderr line with {text:?}: {:?}",
        running.stderr.lock().unwrap()
    );
}

fn records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON record a line"))
        .collect()
}

fn ids(records: &[Value]) -> Vec<u64> {
    records
        .iter()
        .map(|r| r["event_id"].as_u64().unwrap())
        .collect()
}

/// `registered as <id> in tenant <tid> (…)`: the id.
fn connector_id(line: &str) -> String {
    line.strip_prefix("registered as ")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("not a registration line: {line}"))
        .to_owned()
}

#[tokio::test]
async fn killed_and_started_again_it_is_the_same_connector_with_the_same_log() {
    let (app, tenant, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let state = dir.path().join("state");
    let flags = [
        "--log-dir",
        logs.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    let mut first = start(&app, &secret, &flags).await;
    let id = connector_id(&first.registered);
    assert_eq!(
        first.registered,
        format!(
            "registered as {id} in tenant {} (features pkcs, version 6.2510.3.2002)",
            tenant.id
        )
    );
    wait_for(&first, "Operational 0001 ConnectorServiceStarted: ").await;
    first.child.kill().await.unwrap(); // SIGKILL: no stopped event, no last save.

    let mut second = start(&app, &secret, &flags).await;
    assert_eq!(
        second.registered,
        format!(
            "registered as {id} in tenant {} (features pkcs, version 6.2510.3.2002); started again from {}",
            tenant.id,
            state.join("connector.json").display()
        )
    );
    assert_eq!(
        connector_count(&app, &tenant.id).await,
        1,
        "no new registration"
    );
    wait_for(&second, "Operational 0001 ConnectorServiceStarted: ").await;
    second.child.kill().await.unwrap();

    // One Operational file for both lives: started, configuration, (killed), started again.
    let operational = records(&logs.join("Operational.jsonl"));
    let started: Vec<_> = operational
        .iter()
        .filter(|r| r["event_id"] == 1)
        .map(|r| r["connector_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(started, vec![id.clone(), id.clone()]);
    assert!(
        !ids(&operational).contains(&2),
        "SIGKILL writes no stopped event"
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("connector.json")).unwrap())
            .unwrap();
    assert_eq!(saved["connectorId"], id.as_str());
    assert_eq!(saved["format"], "intune-mock-connector-state/1");
}

#[cfg(unix)]
/// The connector goes by the service's clock (the `Date` of its answers): against a virtual
/// clock years behind the machine's, it checks in and uploads health at the service's instants,
/// and follows the clock when the operator moves it.
#[tokio::test]
async fn it_goes_by_the_service_clock_and_follows_it_when_it_moves() {
    let (app, _, secret) = contoso("2022-05-01T00:00:00Z").await;
    let running = start(&app, &secret, &["--version", "6.2202.38.0"]).await;
    wait_for(
        &running,
        "2022-05-01T00:00:00.000Z Operational 5000 HealthMessageUploadSuccess: ",
    )
    .await;
    let moved = app
        .admin(
            reqwest::Method::POST,
            "/admin/clock",
            Some(&serde_json::json!({"advance": "P1M"})),
        )
        .await
        .unwrap();
    assert_eq!(moved.status, 200, "{}", moved.body);
    wait_for(
        &running,
        "2022-06-01T00:00:00.000Z Operational 5000 HealthMessageUploadSuccess: ",
    )
    .await;
    let lines = running.stderr.lock().unwrap().clone();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(" 5001 ") || l.contains("in the future")),
        "a call was refused: {lines:#?}"
    );
}

#[tokio::test]
async fn sigterm_writes_the_stopped_event_and_exits_0() {
    let (app, _, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let mut running = start(&app, &secret, &["--log-dir", logs.to_str().unwrap()]).await;
    let id = connector_id(&running.registered);
    wait_for(&running, "Operational 0003 ConnectorConfiguration: ").await;
    let pid = running.child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = tokio::time::timeout(Duration::from_secs(60), running.child.wait())
        .await
        .expect("it stops within 60 s")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    let operational = records(&logs.join("Operational.jsonl"));
    let last = operational.last().unwrap();
    assert_eq!(last["event_id"], 2);
    assert_eq!(last["name"], "ConnectorServiceStopped");
    assert_eq!(last["connector_id"], id.as_str());
    wait_for(
        &running,
        "Operational 0002 ConnectorServiceStopped: The Certificate Connector service stopped.",
    )
    .await;
}

#[tokio::test]
async fn quiet_prints_the_registration_line_only() {
    let (app, _, secret) = contoso("2026-03-01T00:00:00Z").await;
    let mut running = start(&app, &secret, &["--quiet", "--features", "pkcs,scep"]).await;
    assert!(
        running
            .registered
            .ends_with("(features pkcs, scep, version 6.2510.3.2002)"),
        "{}",
        running.registered
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    running.child.kill().await.unwrap();
    // Warnings of the process itself (tracing) may still come; event lines do not.
    let stderr = running.stderr.lock().unwrap();
    assert!(
        !stderr
            .iter()
            .any(|l| l.contains(" Operational 0") || l.contains(" Admin ")),
        "{stderr:?}"
    );
}

/// Runs the command to its end: exit code and standard error.
async fn refused(app: &TestApp, secret: &str, extra: &[&str]) -> (Option<i32>, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        command(app, secret, extra).output(),
    )
    .await
    .expect("it ends within 30 s")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn bad_folders_are_refused_before_anything_registers() {
    let (app, tenant, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    // A folder under a regular file cannot be made, whoever runs the test (root too).
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let under_file = file.join("logs");

    let (code, stderr) = refused(&app, &secret, &["--log-dir", under_file.to_str().unwrap()]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot write the event log in {}",
            under_file.display()
        )),
        "{stderr}"
    );

    let (code, stderr) = refused(
        &app,
        &secret,
        &["--state-dir", under_file.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot use the state folder {}",
            under_file.display()
        )),
        "{stderr}"
    );

    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("connector.json"), "{\"connectorId\": ").unwrap();
    let (code, stderr) = refused(&app, &secret, &["--state-dir", state.to_str().unwrap()]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the state file {} does not parse",
            state.join("connector.json").display()
        )),
        "{stderr}"
    );
    // Left as it was.
    assert_eq!(
        std::fs::read_to_string(state.join("connector.json")).unwrap(),
        "{\"connectorId\": "
    );
    assert_eq!(
        connector_count(&app, &tenant.id).await,
        0,
        "nothing registered"
    );
}

#[tokio::test]
async fn a_config_file_sets_the_connector_and_flags_override_it() {
    let (app, tenant, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("connector.toml");
    std::fs::write(
        &config,
        "machine = \"FILE01\"\nfeatures = [\"pkcs\", \"revocation\"]\nversion = \"6.2406.0.1001\"\n\
         service_account = 'CONTOSO\\svc-connector'\n[log]\ndebug = true\n",
    )
    .unwrap();
    // --machine SRV01 (from `command`) and --version override the file; features come from it.
    let mut running = start(
        &app,
        &secret,
        &[
            "--config",
            config.to_str().unwrap(),
            "--version",
            "6.2510.3.2002",
        ],
    )
    .await;
    let id = connector_id(&running.registered);
    assert!(
        running
            .registered
            .ends_with("(features pkcs, revocation, version 6.2510.3.2002)"),
        "{}",
        running.registered
    );
    running.child.kill().await.unwrap();
    let view = crate::support::connector_view(&app, &tenant.id, &id).await;
    assert_eq!(view["machineName"], "SRV01");
    assert_eq!(view["serviceAccount"], "CONTOSO\\svc-connector");

    std::fs::write(
        &config,
        "machine = \"FILE01\"\n\n[log]\ndebug = true\nmax_size = 5\n",
    )
    .unwrap();
    let (code, stderr) = refused(&app, &secret, &["--config", config.to_str().unwrap()]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:5: unknown field `max_size`", config.display())),
        "{stderr}"
    );
    assert_eq!(
        connector_count(&app, &tenant.id).await,
        1,
        "nothing more registered"
    );
}

/// A connector with `--scep-listen` and a state folder: the running command, the endpoint's
/// URL and the CA certificate it wrote.
async fn scep_connector(
    app: &TestApp,
    secret: &str,
    state: &Path,
) -> (Running, String, std::path::PathBuf) {
    let mut running = start(
        app,
        secret,
        &[
            "--features",
            "scep",
            "--state-dir",
            state.to_str().unwrap(),
            "--scep-listen",
            "127.0.0.1:0",
        ],
    )
    .await;
    let line = tokio::time::timeout(Duration::from_secs(30), running.stdout.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let ca = state.join("ca.pem");
    let url = line
        .strip_prefix("SCEP endpoint at ")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not the endpoint line: {line}"))
        .to_owned();
    assert_eq!(
        line,
        format!(
            "SCEP endpoint at {url}; CA certificate in {} (the state folder)",
            ca.display()
        )
    );
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/certsrv/mscep/mscep.dll"));
    (running, url, ca)
}

/// A SCEP challenge for `device` with `subject`, from the service's admin API.
async fn challenge(app: &TestApp, tenant: &str, device: &str, subject: &str) -> String {
    let body = serde_json::json!({
        "deviceId": device,
        "subject": subject,
        "keySize": 2048,
        "validityMinutes": 60
    });
    let created = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/tenants/{tenant}/scep/challenges"),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["challenge"].as_str().unwrap().to_owned()
}

/// `openssl verify -CAfile ca cert`: its standard output and error.
fn openssl_verify(ca: &Path, cert: &Path) -> String {
    let verified = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .arg(cert)
        .output()
        .unwrap();
    String::from_utf8_lossy(&verified.stdout).trim().to_owned()
        + &String::from_utf8_lossy(&verified.stderr)
}

#[tokio::test]
async fn scepclient_enrolls_against_scep_listen_and_openssl_verifies_with_the_written_ca() {
    let Some(scepclient) = require(Need::ScepClients, || on_path("scepclient")) else {
        return;
    };
    let (app, tenant, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut running, url, ca) = scep_connector(&app, &secret, &dir.path().join("state")).await;
    // micromdm writes the subject C, O, OU, CN in that order.
    let challenge = challenge(
        &app,
        &tenant.id,
        "device-0001",
        "C=US,O=Contoso,OU=MDM,CN=device-0001",
    )
    .await;
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let out = Command::new("timeout")
        .arg("60")
        .arg(&scepclient)
        .arg("-server-url")
        .arg(&url)
        .arg("-private-key")
        .arg(&key)
        .arg("-certificate")
        .arg(&cert)
        .args(["-challenge", &challenge, "-cn", "device-0001"])
        .args(["-organization", "Contoso", "-ou", "MDM", "-country", "US"])
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    let output =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{output}\n{:?}",
        running.stderr.lock().unwrap()
    );
    assert_eq!(
        openssl_verify(&ca, &cert),
        format!("{}: OK", cert.display())
    );
    // 4000: the SCEP request succeeded, in the connector's own log.
    wait_for(&running, " 4000 ").await;
    running.child.kill().await.unwrap();
}

#[tokio::test]
async fn a_scep_port_in_use_is_refused_before_anything_registers() {
    let (app, tenant, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let flags = [
        "--features",
        "scep",
        "--log-dir",
        dir.path().to_str().unwrap(),
        "--scep-listen",
        &addr,
    ];
    let (code, stderr) = refused(&app, &secret, &flags).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr} for the SCEP endpoint")),
        "{stderr}"
    );
    assert_eq!(
        connector_count(&app, &tenant.id).await,
        0,
        "nothing registered"
    );
    drop(taken);
}

#[tokio::test]
async fn certmonger_enrolls_against_scep_listen_and_openssl_verifies_with_the_written_ca() {
    let Some((certmonger, getcert)) = require(Need::ScepClients, || {
        Ok((on_path("certmonger")?, on_path("getcert")?))
    }) else {
        return;
    };
    let (app, tenant, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    let (mut running, url, ca) = scep_connector(&app, &secret, &dir.path().join("state")).await;

    let work = dir.path().join("certmonger");
    let state = work.join("state");
    for sub in ["requests", "cas", "local", "tmp"] {
        std::fs::create_dir_all(state.join(sub)).unwrap();
    }
    let socket = work.join("cm.sock");
    let mut daemon = Command::new(certmonger)
        .args(["-n", "-L", "-d", "0", "-P"])
        .arg(&socket)
        .arg("-p")
        .arg(work.join("cm.pid"))
        .env("CERTMONGER_CONFIG_DIR", &state)
        .env("CERTMONGER_REQUESTS_DIR", state.join("requests"))
        .env("CERTMONGER_CAS_DIR", state.join("cas"))
        .env("CERTMONGER_LOCAL_CA_DIR", state.join("local"))
        .env("CERTMONGER_TMPDIR", state.join("tmp"))
        .env("NO_PROXY", "*")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_until(
        "certmonger listens on its socket",
        Duration::from_secs(20),
        || {
            if let Some(status) = daemon.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("certmonger exited with {status}"));
            }
            Ok(std::os::unix::net::UnixStream::connect(&socket).is_ok())
        },
    )
    .await;
    let address = format!("unix:path={}", socket.display());
    let getcert = |args: Vec<String>| {
        let (getcert, address) = (getcert.clone(), address.clone());
        async move {
            let out = Command::new("timeout")
                .arg("90")
                .arg(getcert)
                .args(args)
                .env("CERTMONGER_PVT_ADDRESS", address)
                .output()
                .await
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        }
    };
    let add = ["add-scep-ca", "-c", "INTUNE", "-u", &url];
    let (code, output) = getcert(add.iter().map(|a| a.to_string()).collect()).await;
    assert_eq!(code, Some(0), "{output}");
    wait_until(
        "certmonger has the CA's caps and certificates",
        Duration::from_secs(30),
        || {
            Ok(std::fs::read_dir(state.join("cas"))
                .map_err(|e| e.to_string())?
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .any(|text| text.contains("ca_encryption_cert=")))
        },
    )
    .await;
    let challenge = challenge(&app, &tenant.id, "device-0002", "CN=device-0002").await;
    let cert = work.join("cert.pem");
    let key = work.join("key.pem");
    let request = [
        "request",
        "-c",
        "INTUNE",
        "-k",
        key.to_str().unwrap(),
        "-f",
        cert.to_str().unwrap(),
        "-N",
        "CN=device-0002",
        "-L",
        &challenge,
        "-I",
        "good",
        "-w",
        "--wait-timeout",
        "60",
    ];
    let (code, output) = getcert(request.iter().map(|a| a.to_string()).collect()).await;
    assert_eq!(
        code,
        Some(0),
        "{output}\n{:?}",
        running.stderr.lock().unwrap()
    );
    assert_eq!(
        openssl_verify(&ca, &cert),
        format!("{}: OK", cert.display())
    );
    running.child.kill().await.unwrap();
}

#[tokio::test]
async fn killed_and_started_again_it_keeps_its_undelivered_scep_notifications() {
    let Some(scepclient) = require(Need::ScepClients, || on_path("scepclient")) else {
        return;
    };
    let (app, tenant, secret) = contoso("2026-03-01T00:00:00Z").await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (mut running, url, _) = scep_connector(&app, &secret, &state).await;
    // The service does not take the first notification: the connector spools it.
    let fault = serde_json::json!({"route": "Notification", "status": 503, "count": 1});
    let answer = app
        .admin(reqwest::Method::POST, "/admin/faults", Some(&fault))
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{}", answer.body);
    let challenge = challenge(
        &app,
        &tenant.id,
        "device-0003",
        "C=US,O=Contoso,OU=MDM,CN=device-0003",
    )
    .await;
    let out = Command::new("timeout")
        .arg("60")
        .arg(&scepclient)
        .arg("-server-url")
        .arg(&url)
        .arg("-private-key")
        .arg(dir.path().join("key.pem"))
        .arg("-certificate")
        .arg(dir.path().join("cert.pem"))
        .args(["-challenge", &challenge, "-cn", "device-0003"])
        .args(["-organization", "Contoso", "-ou", "MDM", "-country", "US"])
        .env("NO_PROXY", "*")
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spooled = || -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(state.join("scep-spool"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = spooled();
    assert_eq!(before.len(), 1, "one notification waits in the spool");
    running.child.kill().await.unwrap();

    let (mut second, _, _) = scep_connector(&app, &secret, &state).await;
    assert!(second.registered.contains("; started again from "));
    assert_eq!(spooled(), before, "the spool is kept as it was");
    assert_eq!(connector_count(&app, &tenant.id).await, 1);
    second.child.kill().await.unwrap();
}
