//! The operator's web page at `/`. Over HTTP: the sign-in form, wrong credentials (401, the form
//! again, no tenant data), the session cookie, and the page for a state built through the API
//! (names, badges, reasons with their dates, versions, queue depths, timelines, escaped names).
//! In headless Chromium, driven over the DevTools protocol on a pipe with JavaScript off: sign-in
//! through the form, the rows and badges in the DOM, a timeline opened without script, and a
//! screenshot saved to `target/test-artifacts/admin-page.png`. Without Chromium the browser test
//! fails and names the package; `INTUNE_MOCK_SKIP=chromium` skips it by name.

use std::time::Duration;

use reqwest::Method;
use scenarios::harness::{TestApp, OPERATOR_TOKEN};
use serde_json::json;

use crate::browser::{artifacts_dir, chromium, Browser};
use crate::support::{app_at, checkin, install_body, require, set_clock, Need};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const HOSTILE_TENANT: &str = r#"Fabrikam <script>alert("x")</script> & Sons"#;
const HOSTILE_CONNECTOR: &str = "Legacy <img src=x onerror=alert(1)> box";

/// An HTTP answer with the headers the page's checks read.
struct Page {
    status: u16,
    content_type: String,
    csp: String,
    location: String,
    set_cookie: Vec<String>,
    text: String,
}

/// A client that does not follow redirects (the sign-in answers 303) and keeps no cookies.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn send(request: reqwest::RequestBuilder) -> Page {
    let response = request.send().await.expect("the service answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let content_type = header("content-type");
    let csp = header("content-security-policy");
    let location = header("location");
    let set_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    Page {
        status: response.status().as_u16(),
        content_type,
        csp,
        location,
        set_cookie,
        text: response.text().await.expect("a body"),
    }
}

/// `GET /` with extra headers.
async fn get_page(app: &TestApp, headers: &[(&str, &str)]) -> Page {
    let mut request = client().get(format!("{}/", app.base_url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

/// `POST /` with a form.
async fn post_form(app: &TestApp, form: &[(&str, &str)]) -> Page {
    send(client().post(format!("{}/", app.base_url)).form(form)).await
}

/// Signs in through the form and returns the `Cookie` header value the browser would send.
async fn sign_in(app: &TestApp) -> String {
    let answer = post_form(app, &[("token", OPERATOR_TOKEN)]).await;
    assert_eq!(answer.status, 303, "{}", answer.text);
    let cookie = answer.set_cookie.first().expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// The text of one connector's two rows (the connector and its timeline).
fn connector_rows<'a>(page: &'a str, connector_id: &str) -> &'a str {
    let start = page
        .find(&format!(
            "<tr class=\"connector\" data-connector-id=\"{connector_id}\""
        ))
        .unwrap_or_else(|| panic!("no row for connector {connector_id} in {page}"));
    let timeline = page[start..]
        .find(&format!("data-timeline-for=\"{connector_id}\""))
        .expect("the connector's timeline row")
        + start;
    let end = page[timeline..]
        .find("</tr>")
        .expect("the end of the timeline")
        + timeline;
    &page[start..end + "</tr>".len()]
}

/// What `world` built.
struct World {
    app: TestApp,
    contoso: wire::admin::Tenant,
    fabrikam: wire::admin::Tenant,
    /// Contoso's connector at 6.2406.0.1001, deprecated since 6.2406.0.1002 (2025-06-12).
    old: String,
    /// Contoso's connector at 6.2406.0.1002: healthy.
    new: String,
    /// Fabrikam's connector at 6.2301.1.0, out of support since 2025-03-19.
    legacy: String,
}

/// Contoso installs SRV-OLD at 6.2406.0.1001 on 2025-06-01; the clock moves to 2025-06-20, past
/// the release of 6.2406.0.1002 (2025-06-12), and SRV-NEW installs that. Contoso has three revoke
/// jobs, one leased. Fabrikam (a name with markup) installs 6.2301.1.0, out of support.
async fn world() -> World {
    let app = app_at("2025-06-01T00:00:00Z").await;
    let contoso = app.create_tenant("Contoso Pharma", None).await.unwrap();
    let old = install_body(
        &app,
        &contoso,
        &json!({"machineName": "SRV-OLD", "displayName": "Old building connector",
                "features": ["pkcs", "revocation"], "version": "6.2406.0.1001"}),
    )
    .await;
    set_clock(&app, "2025-06-20T00:00:00Z").await;
    let new = install_body(
        &app,
        &contoso,
        &json!({"machineName": "SRV-NEW", "displayName": "New building connector",
                "features": ["pkcs", "revocation", "scep"], "version": "6.2406.0.1002"}),
    )
    .await;
    assert_eq!(
        checkin(&app, &old.credential, "6.2406.0.1001").await.status,
        200
    );
    assert_eq!(
        checkin(&app, &new.credential, "6.2406.0.1002").await.status,
        200
    );
    let revoke = |serial: &str| {
        json!({"kind": "revoke", "payload": {"serialNumber": serial,
            "issuerName": "CN=Contoso CA", "certificationAuthority": "ca01\\Contoso CA"}})
    };
    let enqueued = app
        .admin(
            Method::POST,
            &format!("/admin/tenants/{}/jobs", contoso.id),
            Some(&json!({"jobs": [revoke("0A01"), revoke("0A02"), revoke("0A03")]})),
        )
        .await
        .unwrap();
    assert_eq!(enqueued.status, 201, "{}", enqueued.body);
    let leased = app
        .request(
            Method::POST,
            "/connector/v1/jobs/lease",
            Some(&new.credential),
            Some(&json!({"max": 1, "kinds": ["revoke"]})),
        )
        .await
        .unwrap();
    assert_eq!(leased.status, 200, "{}", leased.body);
    assert_eq!(leased.body["jobs"].as_array().unwrap().len(), 1);

    let fabrikam = app.create_tenant(HOSTILE_TENANT, Some(3)).await.unwrap();
    let legacy = install_body(
        &app,
        &fabrikam,
        &json!({"machineName": "SRV-LEGACY", "displayName": HOSTILE_CONNECTOR,
                "features": ["scep"], "version": "6.2301.1.0"}),
    )
    .await;
    World {
        app,
        contoso,
        fabrikam,
        old: old.id,
        new: new.id,
        legacy: legacy.id,
    }
}

impl World {
    /// Strings of both tenants that no one without the operator token may see.
    fn tenant_data(&self) -> Vec<String> {
        vec![
            self.contoso.id.clone(),
            self.contoso.display_name.clone(),
            self.fabrikam.id.clone(),
            "Fabrikam".to_owned(),
            self.old.clone(),
            self.new.clone(),
            self.legacy.clone(),
            "SRV-OLD".to_owned(),
            "SRV-NEW".to_owned(),
            "SRV-LEGACY".to_owned(),
            "6.2406.0.1001".to_owned(),
        ]
    }

    fn assert_no_tenant_data(&self, text: &str, context: &str) {
        for secret in self.tenant_data() {
            assert!(
                !text.contains(&secret),
                "{context}: the answer shows `{secret}`: {text}"
            );
        }
    }
}

#[tokio::test]
async fn without_a_credential_the_page_is_a_sign_in_form_that_shows_no_tenant() {
    let w = world().await;

    let page = get_page(&w.app, &[]).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert_eq!(page.csp, CSP);
    assert!(page.set_cookie.is_empty(), "{:?}", page.set_cookie);
    assert!(
        page.text.contains("<form method=\"post\" action=\"/\">"),
        "{}",
        page.text
    );
    assert!(
        page.text.contains(
            "<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required autofocus>"
        ),
        "{}",
        page.text
    );
    assert!(!page.text.contains("role=\"alert\""), "{}", page.text);
    assert!(!page.text.contains("<script"), "{}", page.text);
    w.assert_no_tenant_data(&page.text, "GET / without a credential");
}

#[tokio::test]
async fn a_wrong_token_cookie_or_bearer_gets_the_form_again_with_401_and_no_tenant_data() {
    let w = world().await;
    let alert = |text: &str| format!("<p class=\"message\" role=\"alert\">{text}</p>");

    // Wrong, empty and missing tokens in the form.
    for form in [
        vec![("token", "not-the-operator-token")],
        vec![("token", "")],
        vec![("token", "harness-operator-toke")],
        vec![],
    ] {
        let page = post_form(&w.app, &form).await;
        assert_eq!(page.status, 401, "{form:?}: {}", page.text);
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        assert!(
            page.set_cookie.is_empty(),
            "{form:?}: {:?}",
            page.set_cookie
        );
        assert!(
            page.text
                .contains(&alert("The operator token is not valid.")),
            "{form:?}: {}",
            page.text
        );
        assert!(page.text.contains("name=\"token\""), "{}", page.text);
        // The wrong token is not echoed either.
        assert!(!page.text.contains("not-the-operator-token"));
        w.assert_no_tenant_data(&page.text, &format!("POST / {form:?}"));
    }

    // A bearer token that is not the operator's: a Graph token, a connector secret, garbage.
    let graph = w.app.graph_token(&w.contoso).await.unwrap();
    for bearer in [graph.as_str(), "garbage", ""] {
        let page = get_page(&w.app, &[("authorization", &format!("Bearer {bearer}"))]).await;
        assert_eq!(page.status, 401, "{bearer}: {}", page.text);
        assert!(
            page.text.contains(&alert(
                "The Authorization header does not carry the operator token: the operator token is not valid."
            )),
            "{}",
            page.text
        );
        w.assert_no_tenant_data(&page.text, "GET / with a wrong bearer token");
    }

    // A forged cookie, or the operator token itself as the cookie: refused, and cleared.
    for cookie in [
        "intune_mock_operator=0000".to_owned(),
        format!("intune_mock_operator={OPERATOR_TOKEN}"),
    ] {
        let page = get_page(&w.app, &[("cookie", &cookie)]).await;
        assert_eq!(page.status, 401, "{cookie}: {}", page.text);
        assert!(
            page.text.contains(&alert(
                "Your sign-in is no longer valid (has the operator token changed?). Enter the operator token again."
            )),
            "{}",
            page.text
        );
        assert_eq!(
            page.set_cookie,
            ["intune_mock_operator=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"]
        );
        w.assert_no_tenant_data(&page.text, "GET / with a forged cookie");
    }

    // A form too large to be a token, and one that names the token twice: refused as such.
    let huge = "x".repeat(20 * 1024);
    let page = post_form(&w.app, &[("token", huge.as_str())]).await;
    assert_eq!(page.status, 413, "{}", page.text);
    assert!(
        page.text.contains(&alert(
            "The form is larger than 16 KiB; an operator token is far shorter."
        )),
        "{}",
        page.text
    );
    let page = post_form(&w.app, &[("token", OPERATOR_TOKEN), ("token", "x")]).await;
    assert_eq!(page.status, 400, "{}", page.text);
    assert!(
        page.text.contains(&alert(
            "The form was not understood: send token=&lt;operator token&gt;, form-encoded."
        )),
        "{}",
        page.text
    );
    assert!(page.set_cookie.is_empty(), "{:?}", page.set_cookie);
    w.assert_no_tenant_data(&page.text, "POST / with the token twice");

    // The right token in the URL is refused: URLs end up in logs.
    let page = send(client().get(format!("{}/?token={OPERATOR_TOKEN}", w.app.base_url))).await;
    assert_eq!(page.status, 400, "{}", page.text);
    assert!(
        page.text.contains(&alert(
            "A token in the URL is not accepted: URLs end up in logs and browser history. Enter the operator token in the form."
        )),
        "{}",
        page.text
    );
    w.assert_no_tenant_data(&page.text, "GET /?token=");
}

#[tokio::test]
async fn the_right_token_sets_an_http_only_strict_cookie_that_opens_the_page_and_nothing_else() {
    let w = world().await;

    let signed_in = post_form(&w.app, &[("token", OPERATOR_TOKEN)]).await;

    assert_eq!(signed_in.status, 303, "{}", signed_in.text);
    assert_eq!(signed_in.location, "/");
    assert_eq!(signed_in.set_cookie.len(), 1, "{:?}", signed_in.set_cookie);
    let cookie = &signed_in.set_cookie[0];
    let (pair, attributes) = cookie.split_once(';').unwrap();
    assert_eq!(attributes, " Path=/; HttpOnly; SameSite=Strict");
    let value = pair.strip_prefix("intune_mock_operator=").expect(cookie);
    assert_eq!(value.len(), 64, "a SHA-256 digest in hex: {value}");
    assert!(value.bytes().all(|b| b.is_ascii_hexdigit()), "{value}");
    assert!(!value.contains(OPERATOR_TOKEN));

    // The cookie opens the page, as the operator token does as a bearer token.
    let page = get_page(&w.app, &[("cookie", &format!("theme=dark; {pair}"))]).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("<h2>Contoso Pharma</h2>"),
        "{}",
        page.text
    );
    let bearer = get_page(
        &w.app,
        &[("authorization", &format!("Bearer {OPERATOR_TOKEN}"))],
    )
    .await;
    assert_eq!(bearer.status, 200, "{}", bearer.text);
    assert_eq!(bearer.text, page.text);

    // The cookie's value is no API credential.
    let api = w
        .app
        .request::<()>(Method::GET, "/admin/tenants", Some(value), None)
        .await
        .unwrap();
    assert_eq!(api.status, 401, "{}", api.body);

    // Signing out clears it.
    let signed_out = post_form(&w.app, &[("action", "sign-out")]).await;
    assert_eq!(signed_out.status, 303);
    assert_eq!(signed_out.location, "/");
    assert_eq!(
        signed_out.set_cookie,
        ["intune_mock_operator=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"]
    );
}

#[tokio::test]
async fn the_page_shows_each_tenants_connectors_with_badges_reasons_dates_queues_and_timelines() {
    let w = world().await;
    let cookie = sign_in(&w.app).await;

    let page = get_page(&w.app, &[("cookie", &cookie)]).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert_eq!(page.csp, CSP);
    let text = &page.text;
    assert!(
        text.contains("<p class=\"clock\">Service time <time datetime=\"2025-06-20T00:00:00Z\">2025-06-20 00:00:00 UTC</time> (virtual clock) · 2 tenants</p>"),
        "{text}"
    );
    assert!(!text.contains("<script"), "{text}");
    assert!(
        !text.contains("http://") && !text.contains("https://"),
        "no external URL: {text}"
    );

    // Contoso: its header, its queues (three jobs, one leased), two connectors.
    let contoso = &w.contoso.id;
    assert!(
        text.contains(&format!(
            "<section class=\"tenant\" data-tenant-id=\"{contoso}\">\n<h2>Contoso Pharma</h2>\n<p class=\"meta\">Tenant <code>{contoso}</code> · rollout delay 7 days · 2 connectors: 1 healthy, 1 warning, 0 error</p>\n<dl class=\"queues\" aria-label=\"Jobs by state\"><div data-queue=\"queued\"><dt>Queued</dt><dd>2</dd></div><div data-queue=\"leased\"><dt>Leased</dt><dd>1</dd></div><div data-queue=\"dead_letter\"><dt>Dead letter</dt><dd>0</dd></div></dl>"
        )),
        "{text}"
    );

    // SRV-NEW: healthy, no reasons, checked in now.
    let new = connector_rows(text, &w.new);
    assert!(
        new.starts_with(&format!(
            "<tr class=\"connector\" data-connector-id=\"{}\" data-status=\"healthy\">\n<td class=\"name\"><strong>New building connector</strong><span class=\"machine\">SRV-NEW</span>",
            w.new
        )),
        "{new}"
    );
    assert!(
        new.contains("<td><span class=\"badge badge-healthy\">Healthy</span></td>\n<td><span class=\"none\">No issues</span></td>\n<td class=\"version\"><strong>6.2406.0.1002</strong></td>\n<td>pkcs, scep, revocation</td>\n<td><time datetime=\"2025-06-20T00:00:00Z\">2025-06-20 00:00:00 UTC</time><span class=\"note\">active</span></td>"),
        "{new}"
    );
    assert!(
        new.contains("<summary>Status history: 1 change</summary>\n<ol><li data-status=\"healthy\"><time datetime=\"2025-06-20T00:00:00Z\">2025-06-20 00:00:00 UTC</time> <span class=\"badge badge-healthy\">Healthy</span> no reasons</li></ol>"),
        "{new}"
    );

    // SRV-OLD: warning, deprecated from the successor's release with the end of support, and not
    // at the tenant's newest version. Its timeline has each change at its exact boundary: inactive
    // an hour after it registered (no check-in until 2025-06-20), deprecated on the successor's
    // release, and active again but behind SRV-NEW on 2025-06-20.
    let old = connector_rows(text, &w.old);
    assert!(
        old.starts_with(&format!(
            "<tr class=\"connector\" data-connector-id=\"{}\" data-status=\"warning\">",
            w.old
        )),
        "{old}"
    );
    assert!(
        old.contains("<td><span class=\"badge badge-warning\">Warning</span></td>"),
        "{old}"
    );
    assert!(
        old.contains("<li class=\"reason reason-warning\" data-reason=\"VersionDeprecated\"><strong>VersionDeprecated</strong> <span class=\"severity\">warning</span> <span class=\"date\">since <time datetime=\"2025-06-12T00:00:00Z\">2025-06-12 00:00:00 UTC</time></span> <span class=\"date\">until <time datetime=\"2025-12-12T00:00:00Z\">2025-12-12 00:00:00 UTC</time></span>"),
        "{old}"
    );
    assert!(
        old.contains("<li class=\"reason reason-warning\" data-reason=\"VersionSkew\"><strong>VersionSkew</strong> <span class=\"severity\">warning</span>"),
        "{old}"
    );
    assert!(
        old.contains("<td class=\"version\"><strong>6.2406.0.1001</strong><span class=\"date\">support ends <time datetime=\"2025-12-12T00:00:00Z\">2025-12-12 00:00:00 UTC</time></span><span class=\"date\">stops functioning <time datetime=\"2026-12-12T00:00:00Z\">2026-12-12 00:00:00 UTC</time></span></td>\n<td>pkcs, revocation</td>"),
        "{old}"
    );
    assert!(
        old.contains("<summary>Status history: 4 changes</summary>\n<ol><li data-status=\"healthy\"><time datetime=\"2025-06-01T00:00:00Z\">2025-06-01 00:00:00 UTC</time> <span class=\"badge badge-healthy\">Healthy</span> no reasons</li><li data-status=\"warning\"><time datetime=\"2025-06-01T01:00:00Z\">2025-06-01 01:00:00 UTC</time> <span class=\"badge badge-warning\">Warning</span> Inactive</li><li data-status=\"warning\"><time datetime=\"2025-06-12T00:00:00Z\">2025-06-12 00:00:00 UTC</time> <span class=\"badge badge-warning\">Warning</span> VersionDeprecated, Inactive</li><li data-status=\"warning\"><time datetime=\"2025-06-20T00:00:00Z\">2025-06-20 00:00:00 UTC</time> <span class=\"badge badge-warning\">Warning</span> VersionDeprecated, VersionSkew</li></ol>"),
        "{old}"
    );

    // Fabrikam's connector: error, out of support since 2025-03-19 (six months after
    // 6.2406.0.1001), and a newer version has been offered for over 7 days since its release plus
    // the tenant's 3-day rollout delay (2024-09-22); it never checked in.
    let legacy = connector_rows(text, &w.legacy);
    assert!(
        legacy.starts_with(&format!(
            "<tr class=\"connector\" data-connector-id=\"{}\" data-status=\"error\">",
            w.legacy
        )),
        "{legacy}"
    );
    assert!(
        legacy.contains("<td><span class=\"badge badge-error\">Error</span></td>"),
        "{legacy}"
    );
    assert!(
        legacy.contains("<li class=\"reason reason-error\" data-reason=\"VersionOutOfSupport\"><strong>VersionOutOfSupport</strong> <span class=\"severity\">error</span> <span class=\"date\">since <time datetime=\"2025-03-19T00:00:00Z\">2025-03-19 00:00:00 UTC</time></span> <span class=\"date\">until <time datetime=\"2026-03-19T00:00:00Z\">2026-03-19 00:00:00 UTC</time></span>"),
        "{legacy}"
    );
    assert!(
        legacy.contains("<li class=\"reason reason-warning\" data-reason=\"AutoUpdateBlocked\"><strong>AutoUpdateBlocked</strong> <span class=\"severity\">warning</span> <span class=\"date\">since <time datetime=\"2024-09-29T00:00:00Z\">2024-09-29 00:00:00 UTC</time></span>"),
        "{legacy}"
    );
    assert!(
        legacy.contains("<td class=\"version\"><strong>6.2301.1.0</strong><span class=\"date\">support ends <time datetime=\"2025-03-19T00:00:00Z\">2025-03-19 00:00:00 UTC</time></span><span class=\"date\">stops functioning <time datetime=\"2026-03-19T00:00:00Z\">2026-03-19 00:00:00 UTC</time></span></td>\n<td>scep</td>\n<td>never<span class=\"note\">none</span></td>"),
        "{legacy}"
    );
    assert!(
        legacy.contains("<summary>Status history: 1 change</summary>\n<ol><li data-status=\"error\"><time datetime=\"2025-06-20T00:00:00Z\">2025-06-20 00:00:00 UTC</time> <span class=\"badge badge-error\">Error</span> VersionOutOfSupport, AutoUpdateBlocked</li></ol>"),
        "{legacy}"
    );
}

#[tokio::test]
async fn tenant_and_connector_names_with_markup_are_shown_as_text() {
    let w = world().await;
    let cookie = sign_in(&w.app).await;

    let page = get_page(&w.app, &[("cookie", &cookie)]).await;

    assert_eq!(page.status, 200, "{}", page.text);
    let text = &page.text;
    assert!(
        text.contains(
            "<h2>Fabrikam &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Sons</h2>"
        ),
        "{text}"
    );
    assert!(
        text.contains("<strong>Legacy &lt;img src=x onerror=alert(1)&gt; box</strong>"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "<p class=\"meta\">Tenant <code>{}</code> · rollout delay 3 days · 1 connector: 0 healthy, 0 warning, 1 error</p>",
            w.fabrikam.id
        )),
        "{text}"
    );
    assert!(!text.contains("<script"), "{text}");
    assert!(!text.contains("<img"), "{text}");
}

#[tokio::test]
async fn headless_chromium_signs_in_through_the_form_and_shows_the_rows_and_badges_without_javascript(
) {
    let Some(chromium) = require(Need::Chromium, chromium) else {
        return;
    };
    let w = world().await;
    let home = format!("{}/", w.app.base_url);
    let mut browser = Browser::launch(&chromium).await;

    // The sign-in form; a wrong token gets it again with the message and no data.
    browser.navigate(&home).await;
    let form = browser.dom().await;
    assert!(
        form.contains("<form method=\"post\" action=\"/\">"),
        "{form}"
    );
    w.assert_no_tenant_data(&form, "the form in the browser");
    browser
        .type_into("input[name=token]", "not-the-operator-token")
        .await;
    browser.submit("form button[type=submit]").await;
    let refused = browser.dom().await;
    assert!(
        refused
            .contains("<p class=\"message\" role=\"alert\">The operator token is not valid.</p>"),
        "{refused}"
    );
    w.assert_no_tenant_data(&refused, "the refused sign-in in the browser");

    // The right token: the page, through the 303 and the cookie.
    browser.type_into("input[name=token]", OPERATOR_TOKEN).await;
    browser.submit("form button[type=submit]").await;
    let dom = browser.dom().await;
    assert!(!dom.contains("<script"), "{dom}");
    assert!(dom.contains("<h1>Certificate connectors</h1>"), "{dom}");
    for (connector, status, badge) in [
        (
            &w.new,
            "healthy",
            "<span class=\"badge badge-healthy\">Healthy</span>",
        ),
        (
            &w.old,
            "warning",
            "<span class=\"badge badge-warning\">Warning</span>",
        ),
        (
            &w.legacy,
            "error",
            "<span class=\"badge badge-error\">Error</span>",
        ),
    ] {
        let rows = connector_rows(&dom, connector);
        assert!(
            rows.starts_with(&format!(
                "<tr class=\"connector\" data-connector-id=\"{connector}\" data-status=\"{status}\">"
            )),
            "{rows}"
        );
        assert!(rows.contains(&format!("<td>{badge}</td>")), "{rows}");
    }
    assert_eq!(dom.matches("<tr class=\"connector\"").count(), 3, "{dom}");
    assert!(
        connector_rows(&dom, &w.old).contains("<li class=\"reason reason-warning\" data-reason=\"VersionDeprecated\"><strong>VersionDeprecated</strong> <span class=\"severity\">warning</span> <span class=\"date\">since <time datetime=\"2025-06-12T00:00:00Z\">2025-06-12 00:00:00 UTC</time></span>"),
        "{dom}"
    );
    // The browser holds the markup of a name as text.
    assert!(
        dom.contains(r#"<h2>Fabrikam &lt;script&gt;alert("x")&lt;/script&gt; &amp; Sons</h2>"#),
        "{dom}"
    );

    // A timeline opens without script.
    let timeline = format!("tr[data-timeline-for=\"{}\"] summary", w.old);
    assert!(
        connector_rows(&dom, &w.old).contains("<details><summary>"),
        "{dom}"
    );
    browser.click(&timeline).await;
    let opened = browser.dom().await;
    assert!(
        connector_rows(&opened, &w.old)
            .contains("<details open=\"\"><summary>Status history: 4 changes</summary>"),
        "{opened}"
    );

    let png = browser.screenshot().await;
    browser.close().await;
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1280, "the screenshot's width");
    let path = artifacts_dir().join("admin-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot of the admin page: {}", path.display());
}
