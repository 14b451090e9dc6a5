//! Hardening (issue 26) inside one process: an idempotent enqueue (`Idempotency-Key`), the lease
//! long-poll (`waitMs`), the clock's last instant (9999-12-31T23:59:59Z), the code of a completion
//! race lost to the same token, and the listener's connection limit and read timeouts under idle
//! and half-sent connections. The process-level rules (SIGTERM, one `serve` per SQLite file, a
//! restart's `--start`, log files) are in `hardening_process`.

use std::time::{Duration, Instant};

use reqwest::Method;
use scenarios::harness::{spawn_app, Answer, TestApp};
use serde_json::{json, Value};

use crate::support::{at, install_body, revoke_job};

struct World {
    app: TestApp,
    tenant: wire::admin::Tenant,
}

async fn world() -> World {
    let app = spawn_app(at("2026-03-01T00:00:00Z"), 26).await.unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    World { app, tenant }
}

impl World {
    async fn revoker(&self, machine: &str) -> String {
        let body = json!({"machineName": machine, "displayName": machine, "features": ["revocation"], "version": "6.2406.0.1001"});
        install_body(&self.app, &self.tenant, &body)
            .await
            .credential
    }

    /// `POST /admin/tenants/{id}/jobs` with an `Idempotency-Key` when `key` is given.
    async fn enqueue(&self, key: Option<&str>, body: &Value) -> Answer {
        let mut request = self
            .app
            .http
            .post(format!(
                "{}/admin/tenants/{}/jobs",
                self.app.base_url, self.tenant.id
            ))
            .bearer_auth(scenarios::harness::OPERATOR_TOKEN)
            .json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap();
        Answer { status, body }
    }

    async fn lease(&self, credential: &str, body: Value) -> Answer {
        self.app
            .request(
                Method::POST,
                "/connector/v1/jobs/lease",
                Some(credential),
                Some(&body),
            )
            .await
            .unwrap()
    }

    async fn count(&self, state: &str) -> i64 {
        let answer = self
            .app
            .admin_get(&format!(
                "/admin/tenants/{}/jobs?state={state}",
                self.tenant.id
            ))
            .await
            .unwrap();
        answer.body["count"].as_i64().unwrap()
    }

    async fn clock(&self, body: Value) -> Answer {
        self.app
            .admin(Method::POST, "/admin/clock", Some(&body))
            .await
            .unwrap()
    }
}

fn ids(answer: &Answer) -> Vec<String> {
    answer.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_enqueue_retried_with_its_key_answers_the_first_answer_and_creates_nothing() {
    let w = world().await;
    let batch = json!({"jobs": [revoke_job("0a01"), revoke_job("0a02"), revoke_job("0a03")]});
    let first = w.enqueue(Some("batch-0001"), &batch).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(ids(&first).len(), 3);
    // The clock moves on: the retry still answers the first answer, dates included.
    assert_eq!(w.clock(json!({"advance": "PT1H"})).await.status, 200);
    let retry = w.enqueue(Some("batch-0001"), &batch).await;
    assert_eq!(retry.status, 201, "{}", retry.body);
    assert_eq!(retry.body, first.body);
    assert_eq!(w.count("queued").await, 3);

    // Another batch under the same key is refused and changes nothing.
    let other = json!({"jobs": [revoke_job("0b01")]});
    let reused = w.enqueue(Some("batch-0001"), &other).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.error_code(), Some("IdempotencyKeyReused"));
    assert_eq!(
        reused.body["error"]["message"],
        "Idempotency-Key `batch-0001` was used at 2026-03-01T00:00:00Z for another batch (3 jobs); a retry must send the same jobs, and a new batch needs a new key"
    );
    assert_eq!(w.count("queued").await, 3);

    // A key that is not 1 to 255 printable ASCII characters is refused before anything.
    let long = "k".repeat(256);
    let bad = w.enqueue(Some(&long), &other).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(
        bad.body["error"]["message"],
        "Idempotency-Key must be 1 to 255 printable ASCII characters"
    );

    // Another key, or none, queues new jobs.
    let second = w.enqueue(Some("batch-0002"), &batch).await;
    assert_eq!(second.status, 201, "{}", second.body);
    assert_ne!(ids(&second), ids(&first));
    assert_eq!(w.enqueue(None, &batch).await.status, 201);
    assert_eq!(w.count("queued").await, 9);

    // Kept 24 hours of the service clock: after that the key is new again.
    assert_eq!(w.clock(json!({"advance": "PT23H0M1S"})).await.status, 200);
    let late = w.enqueue(Some("batch-0001"), &batch).await;
    assert_eq!(late.status, 201, "{}", late.body);
    assert_ne!(ids(&late), ids(&first));
    assert_eq!(w.count("queued").await, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_with_one_key_create_one_batch() {
    let w = world().await;
    let batch = json!({"jobs": [revoke_job("0c01"), revoke_job("0c02")]});
    let url = format!("{}/admin/tenants/{}/jobs", w.app.base_url, w.tenant.id);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let request = w
                .app
                .http
                .post(url.clone())
                .bearer_auth(scenarios::harness::OPERATOR_TOKEN)
                .header("Idempotency-Key", "same-key")
                .json(&batch);
            tokio::spawn(async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(*body, answers[0].1);
    }
    assert_eq!(w.count("queued").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_lease_is_woken_by_an_enqueue_within_100_ms() {
    let w = world().await;
    let revoker = w.revoker("REV01").await;
    let waiting = w.lease(&revoker, json!({"max": 5, "waitMs": 10_000}));
    let enqueue = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answer = w
            .enqueue(None, &json!({"jobs": [revoke_job("0d01")]}))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        Instant::now()
    };
    let ((leased, answered), enqueued) = tokio::join!(
        async {
            let leased = waiting.await;
            (leased, Instant::now())
        },
        enqueue
    );
    assert_eq!(leased.status, 200, "{}", leased.body);
    assert_eq!(leased.body["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(leased.body["jobs"][0]["payload"]["serialNumber"], "0d01");
    let after = answered.saturating_duration_since(enqueued);
    assert!(
        after < Duration::from_millis(100),
        "answered {after:?} after the enqueue"
    );
}

#[tokio::test]
async fn a_lease_of_an_empty_queue_is_held_for_its_wait_and_no_longer() {
    let w = world().await;
    let revoker = w.revoker("REV01").await;
    let started = Instant::now();
    let leased = w.lease(&revoker, json!({"max": 5, "waitMs": 700})).await;
    let held = started.elapsed();
    assert_eq!(leased.status, 200, "{}", leased.body);
    assert_eq!(leased.body["jobs"], json!([]));
    assert!(held >= Duration::from_millis(700), "held {held:?}");
    assert!(held < Duration::from_millis(2_000), "held {held:?}");

    // Without waitMs a lease answers at once.
    let started = Instant::now();
    let leased = w.lease(&revoker, json!({"max": 5})).await;
    assert_eq!(leased.body["jobs"], json!([]));
    assert!(started.elapsed() < Duration::from_millis(300));

    // More than 20 s is refused.
    let long = w.lease(&revoker, json!({"max": 5, "waitMs": 20_001})).await;
    assert_eq!(long.status, 400, "{}", long.body);
    assert_eq!(
        long.body["error"]["message"],
        "waitMs must be from 0 to 20000 (a lease waits at most 20 s), not 20001"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_holds_at_most_four_waiting_leases() {
    let w = world().await;
    let revoker = w.revoker("REV01").await;
    let waiting: Vec<_> = (0..4)
        .map(|_| {
            let http = w.app.http.clone();
            let url = format!("{}/connector/v1/jobs/lease", w.app.base_url);
            let credential = revoker.clone();
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(credential)
                    .json(&json!({"max": 1, "waitMs": 3_000}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fifth = w.lease(&revoker, json!({"max": 1, "waitMs": 3_000})).await;
    assert_eq!(fifth.status, 429, "{}", fifth.body);
    assert_eq!(fifth.error_code(), Some("TooManyWaitingLeases"));
    // Another connector of the tenant still waits.
    let other = w.revoker("REV02").await;
    let started = Instant::now();
    let leased = w.lease(&other, json!({"max": 1, "waitMs": 300})).await;
    assert_eq!(leased.status, 200, "{}", leased.body);
    assert!(started.elapsed() >= Duration::from_millis(300));
    for lease in waiting {
        assert_eq!(lease.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn the_clock_stops_at_the_last_second_of_9999() {
    let w = world().await;
    let set = w.clock(json!({"set": "9999-12-31T23:59:59Z"})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["now"], "9999-12-31T23:59:59Z");
    let past = w.clock(json!({"advance": "PT1S"})).await;
    assert_eq!(past.status, 400, "{}", past.body);
    assert_eq!(past.error_code(), Some("ClockOutOfRange"));
    assert_eq!(
        past.body["error"]["message"],
        "the clock cannot pass 9999-12-31T23:59:59Z: 9999-12-31T23:59:59Z plus PT1S is past it (an RFC 3339 date has a four-digit year)"
    );
    let now = w.app.admin_get("/admin/clock").await.unwrap();
    assert_eq!(now.body["now"], "9999-12-31T23:59:59Z");
    let beyond = w.clock(json!({"set": "+10000-01-01T00:00:00Z"})).await;
    assert_eq!(beyond.status, 400, "{}", beyond.body);
}

/// On PostgreSQL, where two completions of one job run in separate transactions and the loser's
/// write finds the lease already ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_that_loses_a_race_to_its_own_token_answers_already_completed() {
    crate::store_suite::on_fresh_pg_database(completion_race).await;
}

async fn completion_race(database_url: String) {
    let app = scenarios::harness::spawn_app_on(at("2026-03-01T00:00:00Z"), 26, &database_url)
        .await
        .unwrap();
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let w = World { app, tenant };
    let revoker = w.revoker("REV01").await;
    let jobs: Vec<Value> = (0..100).map(|i| revoke_job(&format!("{i:04x}"))).collect();
    assert_eq!(w.enqueue(None, &json!({"jobs": jobs})).await.status, 201);
    let leased = w.lease(&revoker, json!({"max": 100})).await;
    let leased = leased.body["jobs"].as_array().unwrap().clone();
    assert_eq!(leased.len(), 100);
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    for job in leased {
        let url = format!(
            "{}/connector/v1/jobs/{}/complete",
            w.app.base_url,
            job["id"].as_str().unwrap()
        );
        let token = job["leaseToken"].as_str().unwrap();
        let send = |body: Value| {
            w.app
                .http
                .post(url.clone())
                .bearer_auth(&revoker)
                .json(&body)
                .send()
        };
        let (a, b) = tokio::join!(
            send(json!({"leaseToken": token, "outcome": "succeeded", "result": {}})),
            send(json!({"leaseToken": token, "outcome": "failed", "errorCode": "CaDown"}))
        );
        for response in [a.unwrap(), b.unwrap()] {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            let code = match status {
                200 => "200".to_owned(),
                _ => format!("{status} {}", body["error"]["code"].as_str().unwrap_or("")),
            };
            *codes.entry(code).or_default() += 1;
        }
    }
    let expected: std::collections::BTreeMap<String, usize> = [
        ("200".to_owned(), 100),
        ("409 AlreadyCompleted".to_owned(), 100),
    ]
    .into();
    assert_eq!(codes, expected);
}

/// 1,000 connections that send nothing and 100 that send half a request (50 half a head, 50 a
/// whole head and half a body), with a connection limit of 1,024: the 50 clients that come after
/// them wait for the timeouts to free places, and then every one of their requests is answered;
/// `/healthz` answers within its 10-second client timeout throughout; the silent and half-sent
/// connections are closed by the service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_do_not_keep_clients_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let limits = listen::Limits {
        max_connections: 1024,
        header_read_timeout: Duration::from_secs(2),
        body_read_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        grace: Duration::from_secs(1),
    };
    let app = scenarios::harness::spawn_app_with(service::config::Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: "sqlite::memory:".into(),
        clock: service::config::ClockSetting::Virtual {
            start: at("2026-03-01T00:00:00Z"),
        },
        stored_clock: Default::default(),
        catalog: Default::default(),
        operator_token: scenarios::harness::OPERATOR_TOKEN.into(),
        seed: Some(crate::support::SEED),
        connector_rate_limit: None,
        limits,
    })
    .await
    .unwrap();
    let addr = app.base_url.trim_start_matches("http://").to_owned();

    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    let mut half = Vec::new();
    for i in 0..100 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let bytes: &[u8] = if i % 2 == 0 {
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow"
        } else {
            b"POST /admin/tenants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"displayName\""
        };
        // Past the limit the connection waits in the accept queue; the write still lands in
        // the kernel's buffer.
        stream.write_all(bytes).await.unwrap();
        half.push(stream);
    }

    let started = Instant::now();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let health = {
        let client = client.clone();
        let url = format!("{}/healthz", app.base_url);
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while started.elapsed() < Duration::from_secs(6) {
                let asked = Instant::now();
                let status = client.get(&url).send().await.unwrap().status();
                assert_eq!(status, 200);
                slowest = slowest.max(asked.elapsed());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            slowest
        })
    };
    let clients: Vec<_> = (0..50)
        .map(|n| {
            let client = client.clone();
            let url = format!("{}/admin/tenants", app.base_url);
            tokio::spawn(async move {
                let mut answered = 0;
                for i in 0..4 {
                    let response = client
                        .post(&url)
                        .bearer_auth(scenarios::harness::OPERATOR_TOKEN)
                        .json(&json!({"displayName": format!("Client {n} call {i}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                    answered += 1;
                }
                answered
            })
        })
        .collect();
    let mut answered = 0;
    for c in clients {
        answered += c.await.unwrap();
    }
    assert_eq!(answered, 200);
    let slowest = health.await.unwrap();
    assert!(
        slowest < Duration::from_secs(10),
        "slowest /healthz {slowest:?}"
    );

    // The service closed the silent and the half-sent connections (a 408 or a plain close).
    let mut closed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for mut stream in idle.into_iter().chain(half) {
        let mut buf = [0u8; 512];
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed += 1;
                    break;
                }
                Ok(Ok(_)) => continue,
                Err(_) => break,
            }
        }
    }
    assert_eq!(closed, 1100);
    app.stop().await;
}
