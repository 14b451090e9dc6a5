//! The connector reaches the service through a real HTTP proxy (Debian's `tinyproxy`, started
//! here on a loopback port with basic authentication): registration, check-ins and job downloads
//! go through it; wrong proxy credentials are refused (tinyproxy says 401); while the proxy is
//! down the connector's calls fail with the docs' download-failure event, and it recovers when the
//! proxy is back.
//!
//! The proxy's address is bound once, on port 0, for the whole test: a front door in the test
//! that hands each connection to the tinyproxy running at that moment, and closes it while none
//! runs. tinyproxy 1.11 cannot listen on port 0 itself, so it gets a free port, and another one
//! when it exits because something took that port first; it is ours once its log says it
//! accepts connections. Nothing connects to a port it has not checked is its own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_sim::ca::CaDirectory;
use connector_sim::pki::CertificateAuthority;
use connector_sim::{
    http_client, Connector, ConnectorConfig, ProxySettings, ServiceClient, Workbench,
};
use reqwest::Method;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use wire::connector::Feature;

use crate::support::{app_at, at, on_path, require, Need};

const CA: &str = "ca01.contoso.com\\Contoso Issuing CA";

/// How long tinyproxy may take to say it accepts connections.
const START_BUDGET: Duration = Duration::from_secs(20);

/// The proxy's address as the connector knows it: a listener bound once, forwarding each
/// connection to the tinyproxy of the moment (`None`: the proxy is down, connections are closed
/// at once).
struct FrontDoor {
    url: String,
    backend: Arc<Mutex<Option<SocketAddr>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FrontDoor {
    async fn open() -> FrontDoor {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let backend: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let current = backend.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let to = *current.lock().unwrap();
                tokio::spawn(async move {
                    let Some(to) = to else { return };
                    if let Ok(mut proxy) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut proxy).await;
                    }
                });
            }
        });
        FrontDoor { url, backend, task }
    }

    fn forward_to(&self, to: Option<SocketAddr>) {
        *self.backend.lock().unwrap() = to;
    }
}

impl Drop for FrontDoor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Tinyproxy {
    child: tokio::process::Child,
    addr: SocketAddr,
    log: PathBuf,
}

/// tinyproxy on a loopback port of its own, users `connector` / `proxy-secret`, in the
/// foreground (see the module's notes on the port).
async fn tinyproxy(program: &str, dir: &Path) -> Tinyproxy {
    let mut tried = Vec::new();
    for _ in 0..10 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("tinyproxy-{port}.log"));
        let conf = dir.join(format!("tinyproxy-{port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\nBasicAuth connector proxy-secret\nLogLevel Info\nLogFile \"{}\"\nPidFile \"{}\"\n",
                log.display(),
                dir.join(format!("tinyproxy-{port}.pid")).display()
            ),
        )
        .unwrap();
        let mut child = tokio::process::Command::new(program)
            .arg("-d")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let started = tokio::time::Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                // Exit 71: the port was taken between our look and its bind; try another.
                tried.push(format!("port {port}: tinyproxy exited with {status}"));
                break;
            }
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Accepting connections") {
                return Tinyproxy {
                    child,
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                    log,
                };
            }
            assert!(
                started.elapsed() < START_BUDGET,
                "tinyproxy on port {port} did not accept connections within {START_BUDGET:?}:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("tinyproxy did not start on any of 10 ports: {tried:#?}");
}

fn proxy(url: &str, password: &str) -> ProxySettings {
    ProxySettings {
        url: url.to_owned(),
        username: Some("connector".into()),
        password: Some(password.into()),
    }
}

#[tokio::test]
async fn a_connector_works_through_tinyproxy_and_recovers_after_the_proxy_was_down() {
    let Some(program) = require(Need::Tinyproxy, || on_path("tinyproxy")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let door = FrontDoor::open().await;
    let mut running = tinyproxy(&program, dir.path()).await;
    door.forward_to(Some(running.addr));
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let secret = tenant.enrollment_secret.clone().unwrap();
    let config = ConnectorConfig {
        proxy: Some(door.url.clone()),
        seed: 4,
        ..ConnectorConfig::new("SRV01", &[Feature::Revocation], "6.2406.0.1001")
    };

    // Wrong proxy password: tinyproxy (1.11) refuses with 401 Unauthorized, not 407, and nothing
    // reaches the service.
    let wrong = ServiceClient::new(
        app.base_url.clone(),
        http_client(Some(&proxy(&door.url, "wrong"))).unwrap(),
    );
    let refused = Connector::install(config.clone(), wrong, &secret, app.now())
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(401), "{refused}");
    assert_eq!(
        app.admin_get(&format!("/admin/tenants/{}/connectors", tenant.id))
            .await
            .unwrap()
            .body["value"],
        json!([])
    );

    let client = ServiceClient::new(
        app.base_url.clone(),
        http_client(Some(&proxy(&door.url, "proxy-secret"))).unwrap(),
    );
    let mut connector = Connector::install(config, client, &secret, app.now())
        .await
        .unwrap();
    let cas = CaDirectory::new();
    cas.add_embedded(
        CertificateAuthority::new(CA, "Contoso Issuing CA", at("2026-03-01T00:00:00Z")).unwrap(),
    );
    connector.set_workbench(Workbench::new(cas));
    let view = app
        .admin_get(&format!(
            "/admin/tenants/{}/connectors/{}",
            tenant.id,
            connector.id()
        ))
        .await
        .unwrap();
    assert_eq!(view.body["proxy"], door.url.as_str(), "{}", view.body);

    let enqueue = |serial: &'static str| {
        let app = &app;
        let tenant = &tenant;
        async move {
            let body = json!({"kind": "revoke", "payload": {"serialNumber": serial, "issuerName": "CN=Contoso Issuing CA", "certificationAuthority": CA}});
            let answer = app
                .admin(
                    Method::POST,
                    &format!("/admin/tenants/{}/jobs", tenant.id),
                    Some(&body),
                )
                .await
                .unwrap();
            assert_eq!(answer.status, 201, "{}", answer.body);
        }
    };
    enqueue("0a01").await;
    let done = connector.work(app.now()).await;
    assert_eq!((done.leased, done.call_errors), (1, 0));
    assert_eq!(connector.log().count(3002, None), 1);
    // The calls really went through the proxy.
    let log = std::fs::read_to_string(&running.log).unwrap();
    assert!(log.contains("/connector/v1/register"), "{log}");
    assert!(log.contains("/connector/v1/jobs/lease"), "{log}");

    // The proxy goes away: the download fails with RevokeDownloadFailure (3003).
    door.forward_to(None);
    running.child.kill().await.unwrap();
    let _ = running.child.wait().await;
    enqueue("0a02").await;
    let done = connector.work(app.now()).await;
    assert_eq!((done.leased, done.call_errors), (0, 1));
    let failures: Vec<(String, String)> = connector
        .log()
        .records()
        .iter()
        .filter(|r| r.event_id == 3003)
        .map(|r| (r.name.to_owned(), r.channel.as_str().to_owned()))
        .collect();
    assert_eq!(
        failures,
        [("RevokeDownloadFailure".to_owned(), "Operational".to_owned())]
    );
    assert!(connector.checkin(app.now()).await.is_err());

    // Back at the same address: the queued request is downloaded.
    let back = tinyproxy(&program, dir.path()).await;
    door.forward_to(Some(back.addr));
    let done = connector.work(app.now()).await;
    // On a mismatch, the connector's last events say which call failed and why.
    let last: Vec<String> = connector
        .log()
        .records()
        .iter()
        .rev()
        .take(6)
        .map(|r| format!("{} {}: {}", r.event_id, r.name, r.message))
        .collect();
    assert_eq!((done.leased, done.call_errors), (1, 0), "{last:#?}");
    assert_eq!(connector.log().count(3002, None), 2);
    assert!(connector.checkin(app.now()).await.is_ok());
}
