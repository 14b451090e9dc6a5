//! The operator's web page at `/`: every tenant's connectors with their status, the way the admin
//! center shows them. Plain HTML rendered here, inline CSS, no script and no external URL, so the
//! page works with JavaScript off. It is not an API: nothing reads it but a person.
//!
//! Sign-in. `GET /` without a credential answers a small form. `POST /` with `token=<operator
//! token>` checks the token in constant time, sets an HttpOnly, SameSite=Strict session cookie and
//! redirects to `/`. The cookie holds a digest of the operator token, not the token, so it opens
//! this page and nothing else; it stops working when the operator token changes.
//! `Authorization: Bearer <operator token>` is accepted too (curl, scripts). A token in the query
//! string is refused: URLs end up in logs and browser history. A wrong credential gets the form
//! again with a message and 401. Nobody without the operator token sees any tenant data.
//!
//! Both routes are registered after the API's middleware in `router`: the Graph error envelope
//! would turn the 401 form into JSON, and fault rules, the request journal and the request
//! metrics are about API calls. So the page brings a shared (PostgreSQL) clock up to date itself,
//! as the API's `clock_sync` middleware does for every API call.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::{Catalog, JobState, TenantId};
use crate::http::openapi as doc;
use crate::http::render;
use crate::http::state::AppState;
use crate::ops::OpsError;

mod timeline;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "intune_mock_operator";

/// The largest sign-in form read (a token is far shorter).
const SIGN_IN_BODY_LIMIT: usize = 16 * 1024;

/// The job states whose counts the page shows, with their labels.
const QUEUE_STATES: [(JobState, &str); 3] = [
    (JobState::Queued, "Queued"),
    (JobState::Leased, "Leased"),
    (JobState::DeadLetter, "Dead letter"),
];

const WRONG_TOKEN: &str = "The operator token is not valid.";
const WRONG_BEARER: &str =
    "The Authorization header does not carry the operator token: the operator token is not valid.";
const STALE_SESSION: &str = "Your sign-in is no longer valid (has the operator token changed?). \
    Enter the operator token again.";
const TOKEN_IN_URL: &str = "A token in the URL is not accepted: URLs end up in logs and browser \
    history. Enter the operator token in the form.";

/// `GET /`: the page for the operator, the sign-in form for anyone else.
#[utoipa::path(
    get,
    path = "/",
    tag = "web",
    operation_id = "showPage",
    security((), ("operatorToken" = []), ("operatorSession" = [])),
    responses(
        (status = 200, description = "The page for the operator; the sign-in form for anyone else", content_type = "text/html; charset=utf-8", body = String),
        (status = 400, description = "A token in the URL: the sign-in form with a message", content_type = "text/html; charset=utf-8", body = String),
        (status = 401, description = "A credential that is not the operator's: the sign-in form with a message", content_type = "text/html; charset=utf-8", body = String),
        (status = 500, description = "The service could not read its data", content_type = "text/html; charset=utf-8", body = String),
    )
)]
pub async fn page_show(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    if query_names_a_token(&uri) {
        return sign_in_form(StatusCode::BAD_REQUEST, Some(TOKEN_IN_URL));
    }
    match caller(&state, &headers) {
        Caller::Anonymous => sign_in_form(StatusCode::OK, None),
        Caller::Refused { message, cookie } => {
            let mut response = sign_in_form(StatusCode::UNAUTHORIZED, Some(message));
            if cookie {
                set_cookie(&mut response, &expired_cookie());
            }
            response
        }
        Caller::Operator => match dashboard(&state).await {
            Ok(html) => page_response(StatusCode::OK, html),
            Err(e) => {
                // The cause is logged once here; the page says nothing internal.
                tracing::error!(error = ?e, "the operator page failed");
                page_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    document(
                        "intune-mock: error",
                        "<main class=\"sign-in\"><h1>intune-mock</h1><p class=\"message\" \
                         role=\"alert\">The service could not read its data; its log says \
                         why.</p></main>",
                    ),
                )
            }
        },
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct SignInForm {
    token: Option<String>,
    /// `sign-out` ends the session.
    action: Option<String>,
}

/// `POST /` (form): `token=<operator token>` signs in, `action=sign-out` signs out.
#[utoipa::path(
    post,
    path = "/",
    tag = "web",
    operation_id = "signIn",
    request_body(content = doc::SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in (or out): to `/`, with the session cookie set (or cleared)", headers(("location" = String, description = "`/`"), ("set-cookie" = String, description = "The session cookie"))),
        (status = 400, description = "The form was not understood: the sign-in form with a message", content_type = "text/html; charset=utf-8", body = String),
        (status = 401, description = "The token is not the operator's: the sign-in form with a message", content_type = "text/html; charset=utf-8", body = String),
        (status = 413, description = "The form is larger than 16 KiB", content_type = "text/html; charset=utf-8", body = String),
    )
)]
pub async fn page_sign_in(State(state): State<AppState>, request: Request) -> Response {
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), SIGN_IN_BODY_LIMIT).await else {
        return sign_in_form(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("The form is larger than 16 KiB; an operator token is far shorter."),
        );
    };
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&bytes) else {
        return sign_in_form(
            StatusCode::BAD_REQUEST,
            Some("The form was not understood: send token=<operator token>, form-encoded."),
        );
    };
    if form.action.as_deref() == Some("sign-out") {
        let mut response = see_other_home();
        set_cookie(&mut response, &expired_cookie());
        return response;
    }
    let token = form.token.unwrap_or_default();
    if !is_operator_token(&state, token.trim()) {
        return sign_in_form(StatusCode::UNAUTHORIZED, Some(WRONG_TOKEN));
    }
    let mut response = see_other_home();
    set_cookie(
        &mut response,
        &format!(
            "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
            session_value(&state)
        ),
    );
    response
}

// ----- who is calling -------------------------------------------------------------------------

enum Caller {
    Operator,
    /// No credential at all.
    Anonymous,
    /// A credential that is not the operator's; `cookie`: a session cookie to clear.
    Refused {
        message: &'static str,
        cookie: bool,
    },
}

fn caller(state: &AppState, headers: &HeaderMap) -> Caller {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let text = value.to_str().unwrap_or_default();
        let (scheme, token) = text.split_once(' ').unwrap_or((text, ""));
        if scheme.eq_ignore_ascii_case("bearer") && is_operator_token(state, token.trim()) {
            return Caller::Operator;
        }
        return Caller::Refused {
            message: WRONG_BEARER,
            cookie: false,
        };
    }
    match session_cookie(headers) {
        None => Caller::Anonymous,
        Some(value) if bool::from(value.as_bytes().ct_eq(session_value(state).as_bytes())) => {
            Caller::Operator
        }
        Some(_) => Caller::Refused {
            message: STALE_SESSION,
            cookie: true,
        },
    }
}

fn is_operator_token(state: &AppState, token: &str) -> bool {
    !token.is_empty() && bool::from(token.as_bytes().ct_eq(state.operator_token.as_bytes()))
}

/// The session cookie's value: a digest of the operator token, so the cookie is no API
/// credential and every session ends when the token changes.
fn session_value(state: &AppState) -> String {
    let digest = Sha256::digest(format!(
        "intune-mock operator page session\n{}",
        state.operator_token
    ));
    format!("{digest:x}")
}

/// The value of the session cookie, from any `Cookie` header.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// Does the query string carry anything named like a token?
fn query_names_a_token(uri: &Uri) -> bool {
    let Some(query) = uri.query() else {
        return false;
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    pairs
        .iter()
        .any(|(key, _)| key.to_ascii_lowercase().contains("token"))
}

// ----- responses ------------------------------------------------------------------------------

/// An HTML answer that no cache keeps, no frame shows and no script runs in.
fn page_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
             base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// 303 to `/` (after a form post, so a reload does not post again).
fn see_other_home() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn expired_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn sign_in_form(status: StatusCode, message: Option<&str>) -> Response {
    let mut body = String::from(
        "<main class=\"sign-in\">\n<h1>intune-mock</h1>\n<p>Enter the operator token (the one \
         <code>serve</code> printed, or its <code>--operator-token</code>) to see every \
         tenant's connectors and their status.</p>\n",
    );
    if let Some(message) = message {
        body.push_str(&format!(
            "<p class=\"message\" role=\"alert\">{}</p>\n",
            escape(message)
        ));
    }
    body.push_str(
        "<form method=\"post\" action=\"/\">\n<label for=\"token\">Operator token</label>\n\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" \
         required autofocus>\n<button type=\"submit\">Sign in</button>\n</form>\n</main>\n",
    );
    page_response(status, document("intune-mock: sign in", &body))
}

// ----- the page -------------------------------------------------------------------------------

/// One connector as the page shows it.
struct ConnectorPanel {
    view: wire::admin::ConnectorView,
    history: Vec<wire::admin::StatusChange>,
    /// The connector's life as an SVG picture (`timeline::svg`).
    lifeline: String,
}

/// One tenant as the page shows it.
struct TenantPanel {
    tenant: wire::admin::Tenant,
    connectors: Vec<ConnectorPanel>,
    /// Jobs per state of `QUEUE_STATES`, in that order.
    queues: Vec<i64>,
}

async fn dashboard(state: &AppState) -> Result<String, OpsError> {
    state.ops.time().sync().await?;
    let mut panels = Vec::new();
    // One read of the catalog for every connector's timeline.
    let catalog = state.ops.releases().catalog().await?;
    for tenant in state.ops.tenants().list().await? {
        match tenant_panel(state, &catalog, &tenant.id).await {
            Ok(panel) => panels.push(panel),
            // Deleted while the page was being read.
            Err(OpsError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let mode = match state.ops.time().mode() {
        crate::clock::ClockMode::Real => "real clock",
        crate::clock::ClockMode::Virtual => "virtual clock",
    };
    Ok(render_dashboard(state.ops.now(), mode, &panels))
}

async fn tenant_panel(
    state: &AppState,
    catalog: &Catalog,
    tenant_id: &TenantId,
) -> Result<TenantPanel, OpsError> {
    let tenant = render::tenant(&state.ops.tenants().get(tenant_id).await?);
    let ops = state.ops.connectors();
    let listed = ops.list_with_status(tenant_id).await?;
    let now = state.ops.now();
    let mut connectors = Vec::with_capacity(listed.len());
    for c in &listed {
        let history = match ops.history(tenant_id, &c.connector.id).await {
            Ok(history) => history,
            // Uninstalled while the page was being read.
            Err(OpsError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let marks: Vec<timeline::Mark> = history
            .iter()
            .map(|h| timeline::Mark {
                at: h.at,
                status: h.status,
                reasons: h.reasons.clone(),
            })
            .collect();
        let line = timeline::lifeline(catalog, c.connector.facts.version);
        connectors.push(ConnectorPanel {
            view: render::connector_view(&c.connector, &c.evaluation, now),
            history: history.iter().map(render::history).collect(),
            lifeline: timeline::svg(&line, &marks, now),
        });
    }
    let mut queues = Vec::with_capacity(QUEUE_STATES.len());
    for (job_state, _) in QUEUE_STATES {
        let (_, count) = state
            .ops
            .jobs()
            .list(tenant_id, None, Some(job_state), 1, 0)
            .await?;
        queues.push(count);
    }
    Ok(TenantPanel {
        tenant,
        connectors,
        queues,
    })
}

fn render_dashboard(now: DateTime<Utc>, clock_mode: &str, panels: &[TenantPanel]) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<header class=\"top\">\n<div><h1>Certificate connectors</h1>\n<p class=\"clock\">Service \
         time {} ({clock_mode}) · {} {}</p></div>\n<form method=\"post\" action=\"/\"><input \
         type=\"hidden\" name=\"action\" value=\"sign-out\"><button type=\"submit\">Sign \
         out</button></form>\n</header>\n<main>\n",
        time(now),
        panels.len(),
        plural(panels.len(), "tenant", "tenants"),
    ));
    if panels.is_empty() {
        body.push_str(
            "<p class=\"empty\">No tenants yet: create one with <code>POST \
             /admin/tenants</code>.</p>\n",
        );
    }
    for panel in panels {
        render_tenant(&mut body, panel);
    }
    body.push_str("</main>\n");
    document("intune-mock: certificate connectors", &body)
}

fn render_tenant(out: &mut String, panel: &TenantPanel) {
    let tenant = &panel.tenant;
    let count = |status: wire::admin::Status| {
        panel
            .connectors
            .iter()
            .filter(|c| c.view.status.status == status)
            .count()
    };
    out.push_str(&format!(
        "<section class=\"tenant\" data-tenant-id=\"{}\">\n<h2>{}</h2>\n<p class=\"meta\">Tenant \
         <code>{}</code> · rollout delay {} {} · {} {}: {} healthy, {} warning, {} error</p>\n",
        escape(&tenant.id),
        escape(&tenant.display_name),
        escape(&tenant.id),
        tenant.rollout_delay_days,
        plural(tenant.rollout_delay_days as usize, "day", "days"),
        panel.connectors.len(),
        plural(panel.connectors.len(), "connector", "connectors"),
        count(wire::admin::Status::Healthy),
        count(wire::admin::Status::Warning),
        count(wire::admin::Status::Error),
    ));
    out.push_str("<dl class=\"queues\" aria-label=\"Jobs by state\">");
    for ((job_state, label), jobs) in QUEUE_STATES.iter().zip(&panel.queues) {
        out.push_str(&format!(
            "<div data-queue=\"{job_state}\"><dt>{label}</dt><dd>{jobs}</dd></div>"
        ));
    }
    out.push_str("</dl>\n");
    if panel.connectors.is_empty() {
        out.push_str("<p class=\"empty\">No connectors registered.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<table class=\"connectors\">\n<colgroup><col class=\"col-name\"><col \
         class=\"col-status\"><col class=\"col-reasons\"><col class=\"col-version\"><col \
         class=\"col-features\"><col class=\"col-checkin\"></colgroup>\n<thead><tr><th scope=\"col\">Connector</th><th \
         scope=\"col\">Status</th><th scope=\"col\">Reasons</th><th \
         scope=\"col\">Version</th><th scope=\"col\">Features</th><th scope=\"col\">Last \
         check-in</th></tr></thead>\n<tbody>\n",
    );
    for connector in &panel.connectors {
        render_connector(out, connector);
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn render_connector(out: &mut String, connector: &ConnectorPanel) {
    let view = &connector.view;
    let history = &connector.history;
    let id = escape(&view.id);
    out.push_str(&format!(
        "<tr class=\"connector\" data-connector-id=\"{id}\" data-status=\"{}\">\n<td \
         class=\"name\"><strong>{}</strong><span class=\"machine\">{}</span><code \
         class=\"id\">{id}</code></td>\n<td>{}</td>\n<td>",
        status_name(view.status.status),
        escape(&view.display_name),
        escape(&view.machine_name),
        badge(view.status.status),
    ));
    if view.status.reasons.is_empty() {
        out.push_str("<span class=\"none\">No issues</span>");
    } else {
        out.push_str("<ul class=\"reasons\">");
        for reason in &view.status.reasons {
            let severity = match reason.severity {
                wire::admin::Severity::Warning => "warning",
                wire::admin::Severity::Error => "error",
            };
            out.push_str(&format!(
                "<li class=\"reason reason-{severity}\" data-reason=\"{}\"><strong>{}</strong> \
                 <span class=\"severity\">{severity}</span>",
                escape(&reason.code),
                escape(&reason.code),
            ));
            if let Some(since) = reason.since {
                out.push_str(&format!(
                    " <span class=\"date\">since {}</span>",
                    time(since)
                ));
            }
            if let Some(until) = reason.until {
                out.push_str(&format!(
                    " <span class=\"date\">until {}</span>",
                    time(until)
                ));
            }
            out.push_str(&format!(
                "<span class=\"message\">{}</span></li>",
                escape(&reason.message)
            ));
        }
        out.push_str("</ul>");
    }
    out.push_str(&format!(
        "</td>\n<td class=\"version\"><strong>{}</strong>",
        escape(&view.version)
    ));
    if view.product != "certificate-connector" {
        out.push_str(&format!(
            "<span class=\"note\">{}</span>",
            escape(&view.product)
        ));
    }
    if let Some(ends) = view.status.support_ends_date_time {
        out.push_str(&format!(
            "<span class=\"date\">support ends {}</span>",
            time(ends)
        ));
    }
    if let Some(ends) = view.status.function_ends_date_time {
        out.push_str(&format!(
            "<span class=\"date\">stops functioning {}</span>",
            time(ends)
        ));
    }
    if !view.auto_update {
        out.push_str("<span class=\"note\">auto-update blocked</span>");
    }
    out.push_str(&format!(
        "</td>\n<td>{}</td>\n<td>",
        escape(
            &view
                .features
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    ));
    match view.last_checkin_date_time {
        Some(at) => out.push_str(&time(at)),
        None => out.push_str("never"),
    }
    out.push_str(&format!(
        "<span class=\"note\">{}</span></td>\n</tr>\n",
        escape(&view.state)
    ));

    // The timeline: the picture, then the list in a `<details>` element (it opens without
    // script).
    out.push_str(&format!(
        "<tr class=\"timeline\" data-timeline-for=\"{id}\"><td colspan=\"6\">{}\n<details><summary>Status \
         history: {} {}</summary>\n<ol>",
        connector.lifeline,
        history.len(),
        plural(history.len(), "change", "changes"),
    ));
    for change in history {
        let reasons = if change.reasons.is_empty() {
            "no reasons".to_owned()
        } else {
            escape(&change.reasons.join(", "))
        };
        out.push_str(&format!(
            "<li data-status=\"{}\">{} {} {reasons}</li>",
            status_name(change.status),
            time(change.date_time),
            badge(change.status),
        ));
    }
    out.push_str("</ol>\n</details></td></tr>\n");
}

fn status_name(status: wire::admin::Status) -> &'static str {
    match status {
        wire::admin::Status::Healthy => "healthy",
        wire::admin::Status::Warning => "warning",
        wire::admin::Status::Error => "error",
    }
}

fn badge(status: wire::admin::Status) -> String {
    let label = match status {
        wire::admin::Status::Healthy => "Healthy",
        wire::admin::Status::Warning => "Warning",
        wire::admin::Status::Error => "Error",
    };
    format!(
        "<span class=\"badge badge-{}\">{label}</span>",
        status_name(status)
    )
}

/// An instant as `<time>`: RFC 3339 for machines, `2025-06-12 00:00:00 UTC` for people.
fn time(at: DateTime<Utc>) -> String {
    format!(
        "<time datetime=\"{}\">{}</time>",
        at.to_rfc3339_opts(SecondsFormat::Secs, true),
        at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Text as HTML text or attribute value: the five characters that could end either are escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole document around `body` (already HTML), with the page's style sheet.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta \
         name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

const STYLE: &str = "
:root { color-scheme: light; --line: #e1dfdd; --muted: #605e5c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 'Segoe UI', system-ui, -apple-system, sans-serif;
  color: #323130; background: #faf9f8; }
header.top { display: flex; justify-content: space-between; align-items: center;
  padding: 12px 24px; background: #fff; border-bottom: 1px solid var(--line); }
header.top h1 { margin: 0; font-size: 20px; font-weight: 600; }
.clock, .meta, .note, .machine, .id, .date, .message, .none { color: var(--muted); }
.clock, .meta { margin: 2px 0 0; }
main { padding: 16px 24px; }
section.tenant { background: #fff; border: 1px solid var(--line); border-radius: 4px;
  padding: 12px 16px; margin-bottom: 20px; }
section.tenant h2 { margin: 0; font-size: 17px; font-weight: 600; }
dl.queues { display: flex; gap: 8px; margin: 10px 0; }
dl.queues div { border: 1px solid var(--line); border-radius: 4px; padding: 2px 10px; }
dl.queues dt { display: inline; color: var(--muted); }
dl.queues dd { display: inline; margin: 0 0 0 6px; font-weight: 600; }
table.connectors { width: 100%; border-collapse: collapse; table-layout: fixed; }
col.col-name { width: 17%; } col.col-status { width: 8%; } col.col-reasons { width: 33%; }
col.col-version { width: 16%; } col.col-features { width: 10%; } col.col-checkin { width: 16%; }
time { white-space: nowrap; }
td { overflow-wrap: anywhere; }
th { text-align: left; font-weight: 600; padding: 6px 8px; border-bottom: 2px solid var(--line); }
td { vertical-align: top; padding: 6px 8px; }
tr.connector td { border-top: 1px solid var(--line); }
tr.timeline td { padding-top: 0; }
.name strong, .machine, .id, .version strong, .date, .note, .message { display: block; }
.id { font-size: 11px; }
ul.reasons { margin: 0; padding: 0; list-style: none; }
ul.reasons li { margin-bottom: 6px; }
.severity { font-size: 12px; color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  font-weight: 600; white-space: nowrap; }
.badge-healthy { background: #dff6dd; color: #107c10; }
.badge-warning { background: #fff4ce; color: #8a6100; }
.badge-error { background: #fde7e9; color: #a4262c; }
svg.lifeline { display: block; max-width: 100%; height: auto; margin: 4px 0; }
details summary { cursor: pointer; color: var(--muted); }
details ol { margin: 4px 0; }
details li { margin-bottom: 2px; }
.sign-in { max-width: 420px; margin: 64px auto; background: #fff; border: 1px solid var(--line);
  border-radius: 4px; padding: 20px 24px; }
.sign-in label { display: block; font-weight: 600; margin-bottom: 4px; }
.sign-in input { width: 100%; padding: 6px 8px; margin-bottom: 12px; font: inherit; }
.message[role=alert] { color: #a4262c; font-weight: 600; }
button { font: inherit; padding: 5px 14px; border: 1px solid #8a8886; border-radius: 2px;
  background: #fff; cursor: pointer; }
.sign-in button { background: #0078d4; color: #fff; border-color: #0078d4; }
code { font-family: Consolas, 'DejaVu Sans Mono', monospace; font-size: 12px; }
";
