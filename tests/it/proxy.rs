//! The connector reaches the service through a real HTTP proxy (Debian's `tinyproxy`, started
//! here on a loopback port with basic authentication): registration, check-ins and job downloads
//! go through it; wrong proxy credentials are refused (tinyproxy says 401); while the proxy is down the
//! connector's calls fail with the docs' download-failure event, and it recovers when the proxy
//! is back.

use std::path::Path;
use std::process::Stdio;

use connector_sim::ca::CaDirectory;
use connector_sim::pki::CertificateAuthority;
use connector_sim::{
    http_client, Connector, ConnectorConfig, ProxySettings, ServiceClient, Workbench,
};
use reqwest::Method;
use serde_json::json;

use crate::support::{app_at, at};

const CA: &str = "ca01.contoso.com\\Contoso Issuing CA";

struct Tinyproxy {
    child: tokio::process::Child,
    url: String,
    log: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// tinyproxy on 127.0.0.1:`port`, users `connector` / `proxy-secret`, in the foreground.
async fn tinyproxy(dir: &Path, port: u16) -> Tinyproxy {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v tinyproxy"])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "`tinyproxy` is not installed: `apt-get install tinyproxy` (.ci/run installs it)"
    );
    let log = dir.join("tinyproxy.log");
    let conf = dir.join("tinyproxy.conf");
    std::fs::write(
        &conf,
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 20\nAllow 127.0.0.1\nBasicAuth connector proxy-secret\nLogLevel Info\nLogFile \"{}\"\nPidFile \"{}\"\n",
            log.display(),
            dir.join("tinyproxy.pid").display()
        ),
    )
    .unwrap();
    let child = tokio::process::Command::new("tinyproxy")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Tinyproxy {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    }
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
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut running = tinyproxy(dir.path(), port).await;
    let app = app_at("2026-03-01T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let secret = tenant.enrollment_secret.clone().unwrap();
    let config = ConnectorConfig {
        proxy: Some(running.url.clone()),
        seed: 4,
        ..ConnectorConfig::new("SRV01", &["revocation"], "6.2406.0.1001")
    };

    // Wrong proxy password: tinyproxy (1.11) refuses with 401 Unauthorized, not 407, and nothing
    // reaches the service.
    let wrong = ServiceClient::new(
        app.base_url.clone(),
        http_client(Some(&proxy(&running.url, "wrong"))).unwrap(),
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
        http_client(Some(&proxy(&running.url, "proxy-secret"))).unwrap(),
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
    assert_eq!(view.body["proxy"], running.url.as_str(), "{}", view.body);

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

    // Back on the same port: the queued request is downloaded.
    let _back = tinyproxy(dir.path(), port).await;
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
