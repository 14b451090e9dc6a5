//! Headless Chromium for the tests of the operator page, driven over the DevTools protocol on a
//! pipe with JavaScript off (`web_page.rs`, `web_timeline.rs`). Without Chromium a test that needs
//! it fails and names the package (`support::require(Need::Chromium, chromium)`);
//! `INTUNE_MOCK_SKIP=chromium` skips it by name.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::time::Instant;

/// Every wait on the browser ends by then.
pub(crate) const BROWSER_BUDGET: Duration = Duration::from_secs(60);

/// `CHROMIUM` or Debian's `/usr/bin/chromium`, or why it is not there.
pub(crate) fn chromium() -> Result<PathBuf, String> {
    let path =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if path.is_file() {
        return Ok(path);
    }
    Err(format!("{} does not exist", path.display()))
}

/// A headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
/// JSON messages ended by NUL, commands on its fd 3, answers and events on its fd 4). One page
/// target, attached in flat mode.
pub(crate) struct Browser {
    child: Child,
    commands: ChildStdin,
    answers: BufReader<ChildStdout>,
    next_id: u64,
    /// Events read while waiting for an answer.
    events: VecDeque<Value>,
    session: String,
    deadline: Instant,
    log: PathBuf,
    /// The profile directory, removed when the browser is dropped.
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn launch(chromium: &Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let log = profile.path().join("chromium.log");
        // The shell moves our pipes to the descriptors Chromium reads and writes, then becomes
        // Chromium (`exec`), so the child we own is the browser itself.
        let mut command = tokio::process::Command::new("/bin/sh");
        command
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg(chromium)
            .args([
                "--headless",
                "--remote-debugging-pipe",
                // Tests often run as root (containers, CI), where the sandbox refuses to start;
                // the browser only ever loads our own loopback page.
                "--no-sandbox",
                "--no-first-run",
                "--no-default-browser-check",
                "--no-proxy-server",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--mute-audio",
                // JavaScript off for every page of this browser.
                "--blink-settings=scriptEnabled=false",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("chromium starts");
        let commands = child.stdin.take().unwrap();
        let answers = BufReader::new(child.stdout.take().unwrap());
        let mut browser = Browser {
            child,
            commands,
            answers,
            next_id: 0,
            events: VecDeque::new(),
            session: String::new(),
            deadline: Instant::now() + BROWSER_BUDGET,
            log,
            _profile: profile,
        };
        let target = browser
            .browser_call("Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = browser
            .browser_call(
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        browser.call("Page.enable", json!({})).await;
        // And for this page in particular, whatever the command line did.
        browser
            .call(
                "Emulation.setScriptExecutionDisabled",
                json!({"value": true}),
            )
            .await;
        browser
            .call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
            )
            .await;
        browser
    }

    /// What Chromium wrote to stderr, for a failure message.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// The next message from the browser, within the budget.
    async fn read(&mut self) -> Value {
        let mut buffer = Vec::new();
        let read =
            tokio::time::timeout_at(self.deadline, self.answers.read_until(0, &mut buffer)).await;
        match read {
            Ok(Ok(n)) if n > 0 && buffer.last() == Some(&0) => {
                buffer.pop();
                serde_json::from_slice(&buffer).expect("a DevTools message is JSON")
            }
            Ok(other) => panic!(
                "chromium closed its DevTools pipe ({other:?}); its log:\n{}",
                self.log_tail()
            ),
            Err(_) => panic!(
                "chromium did not answer within {BROWSER_BUDGET:?}; its log:\n{}",
                self.log_tail()
            ),
        }
    }

    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        tokio::time::timeout_at(self.deadline, self.commands.write_all(&bytes))
            .await
            .expect("chromium reads its commands in time")
            .expect("the DevTools pipe is open");
        loop {
            let message = self.read().await;
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            if message.get("method").is_some() {
                self.events.push_back(message);
            }
        }
    }

    async fn browser_call(&mut self, method: &str, params: Value) -> Value {
        self.send(None, method, params).await
    }

    /// A command to the page.
    pub(crate) async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params).await
    }

    /// Waits for the page's `method` event, read since the last `forget_events`.
    pub(crate) async fn event(&mut self, method: &str) -> Value {
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["method"] == method && e["sessionId"] == self.session.as_str())
            {
                return self.events.remove(i).unwrap();
            }
            let message = self.read().await;
            if message.get("method").is_some() {
                self.events.push_back(message);
            }
        }
    }

    pub(crate) fn forget_events(&mut self) {
        self.events.clear();
    }

    /// Loads `url` and waits for its load event.
    pub(crate) async fn navigate(&mut self, url: &str) {
        self.forget_events();
        let answer = self.call("Page.navigate", json!({"url": url})).await;
        assert!(answer.get("errorText").is_none(), "{url}: {answer}");
        self.event("Page.loadEventFired").await;
    }

    /// The page's DOM as HTML, as the browser parsed it.
    pub(crate) async fn dom(&mut self) -> String {
        let document = self.call("DOM.getDocument", json!({"depth": -1})).await;
        let html = self
            .call(
                "DOM.getOuterHTML",
                json!({"nodeId": document["root"]["nodeId"]}),
            )
            .await;
        html["outerHTML"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn node(&mut self, selector: &str) -> Value {
        let document = self.call("DOM.getDocument", json!({"depth": 0})).await;
        let found = self
            .call(
                "DOM.querySelector",
                json!({"nodeId": document["root"]["nodeId"], "selector": selector}),
            )
            .await;
        assert_ne!(found["nodeId"], 0, "nothing matches {selector}");
        found["nodeId"].clone()
    }

    /// Types `text` into the field `selector` names.
    pub(crate) async fn type_into(&mut self, selector: &str, text: &str) {
        let node = self.node(selector).await;
        self.call("DOM.focus", json!({"nodeId": node})).await;
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// A left click in the middle of the element `selector` names, as a person would click.
    pub(crate) async fn click(&mut self, selector: &str) {
        let node = self.node(selector).await;
        self.call("DOM.scrollIntoViewIfNeeded", json!({"nodeId": node}))
            .await;
        let quads = self
            .call("DOM.getContentQuads", json!({"nodeId": node}))
            .await;
        let quad: Vec<f64> = quads["quads"][0]
            .as_array()
            .unwrap_or_else(|| panic!("{selector} is not rendered: {quads}"))
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let x = (quad[0] + quad[2] + quad[4] + quad[6]) / 4.0;
        let y = (quad[1] + quad[3] + quad[5] + quad[7]) / 4.0;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Clicks `selector`, which submits a form, and waits for the page that answers.
    pub(crate) async fn submit(&mut self, selector: &str) {
        self.forget_events();
        self.click(selector).await;
        self.event("Page.loadEventFired").await;
    }

    /// A PNG of the whole page at 1280 CSS pixels wide.
    pub(crate) async fn screenshot(&mut self) -> Vec<u8> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await;
        let height = metrics["cssContentSize"]["height"]
            .as_f64()
            .unwrap()
            .ceil()
            .min(4000.0);
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}}),
            )
            .await;
        B64.decode(shot["data"].as_str().unwrap()).unwrap()
    }

    /// Asks the browser to quit and waits for it (it is killed if it does not).
    pub(crate) async fn close(mut self) {
        self.next_id += 1;
        let mut bytes =
            serde_json::to_vec(&json!({"id": self.next_id, "method": "Browser.close"})).unwrap();
        bytes.push(0);
        let _ = self.commands.write_all(&bytes).await;
        let exited = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        if !matches!(exited, Ok(Ok(_))) {
            let _ = self.child.kill().await;
        }
    }
}

/// `target/test-artifacts/` of the workspace.
pub(crate) fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target")
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
