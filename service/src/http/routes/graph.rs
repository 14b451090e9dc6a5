//! The Graph (beta) admin surface: `ndesConnectors` and `certificateConnectorDetails`, with
//! `$top`, `$skip`, `$count`, `$select`, `$filter` (`eq` on `state` and `connectorVersion`) and
//! `@odata.nextLink` paging (docs/behaviour.md, "Wire shapes").

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, GraphCaller};
use crate::http::openapi as doc;
use crate::http::state::AppState;
use crate::http::{convert, render};
use crate::ops::Connector;

pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 999;
/// The longest value a `$filter` compares with (no property filtered on is longer).
const MAX_FILTER_VALUE: usize = 256;

#[derive(Debug, Default)]
struct ODataQuery {
    top: Option<usize>,
    skip: usize,
    count: bool,
    select: Option<Vec<String>>,
    filters: Vec<(String, String)>,
    raw_filter: Option<String>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalidRequest", message)
}

/// Parses `prop eq 'value' [and prop eq 'value']…`; `tolower(prop)` stands for `prop` (the
/// PFX PowerShell module writes it; values here compare without regard to case where it matters).
pub(crate) fn parse_filter(
    text: &str,
    allowed: &[&str],
) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    loop {
        let (prop, after) = rest
            .split_once(char::is_whitespace)
            .ok_or_else(|| invalid(format!("$filter `{text}` is not `property eq 'value'`")))?;
        let after = after.trim_start();
        let after = after
            .strip_prefix("eq ")
            .ok_or_else(|| {
                invalid(format!(
                    "$filter `{text}`: only the `eq` operator is supported"
                ))
            })?
            .trim_start();
        let after = after.strip_prefix('\'').ok_or_else(|| {
            invalid(format!(
                "$filter `{text}`: the value must be a quoted string"
            ))
        })?;
        let mut value = String::new();
        let mut chars = after.char_indices().peekable();
        let mut end = None;
        while let Some((idx, ch)) = chars.next() {
            if ch == '\'' {
                if chars.peek().map(|(_, c)| *c) == Some('\'') {
                    chars.next();
                    value.push('\'');
                    continue;
                }
                end = Some(idx + 1);
                break;
            }
            value.push(ch);
        }
        let end =
            end.ok_or_else(|| invalid(format!("$filter `{text}`: a quoted value is not closed")))?;
        if value.chars().count() > MAX_FILTER_VALUE {
            return Err(invalid(format!(
                "$filter: a value holds at most {MAX_FILTER_VALUE} characters"
            )));
        }
        let prop = prop
            .strip_prefix("tolower(")
            .and_then(|p| p.strip_suffix(')'))
            .unwrap_or(prop);
        if !allowed.contains(&prop) {
            return Err(invalid(format!(
                "$filter on `{prop}` is not supported here; filter on {}",
                allowed.join(" or ")
            )));
        }
        out.push((prop.to_owned(), value));
        rest = after[end..].trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        rest = rest
            .strip_prefix("and ")
            .ok_or_else(|| {
                invalid(format!(
                    "$filter `{text}`: clauses can only be joined with `and`"
                ))
            })?
            .trim_start();
    }
}

/// A system query option (`$…`) may be given once (OData URL conventions).
pub(crate) fn reject_repeated_options(pairs: &[(String, String)]) -> Result<(), ApiError> {
    for (i, (key, _)) in pairs.iter().enumerate() {
        if key.starts_with('$') && pairs[..i].iter().any(|(earlier, _)| earlier == key) {
            return Err(invalid(format!(
                "the query option `{key}` is given more than once"
            )));
        }
    }
    Ok(())
}

fn parse_query(
    raw: Option<&str>,
    allowed_filters: &[&str],
    fields: &[&str],
) -> Result<ODataQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|_| invalid("the query string is not valid URL encoding"))?;
    reject_repeated_options(&pairs)?;
    let mut query = ODataQuery::default();
    for (key, value) in pairs {
        match key.as_str() {
            "$top" => {
                let top: usize = value
                    .parse()
                    .map_err(|_| invalid(format!("$top `{value}` is not a whole number")))?;
                if top == 0 || top > MAX_PAGE {
                    return Err(invalid(format!(
                        "$top must be from 1 to {MAX_PAGE}, not {top}"
                    )));
                }
                query.top = Some(top);
            }
            "$skip" => {
                query.skip = value
                    .parse()
                    .map_err(|_| invalid(format!("$skip `{value}` is not a whole number")))?
            }
            "$count" => {
                query.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(invalid(format!(
                            "$count must be true or false, not `{value}`"
                        )))
                    }
                }
            }
            "$select" => {
                let selected: Vec<String> = value
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                if selected.is_empty() {
                    return Err(invalid("$select names no property"));
                }
                if let Some(unknown) = selected.iter().find(|s| !fields.contains(&s.as_str())) {
                    return Err(invalid(format!(
                        "$select: `{unknown}` is not a property; properties are {}",
                        fields.join(", ")
                    )));
                }
                query.select = Some(selected);
            }
            "$filter" => {
                query.filters = parse_filter(&value, allowed_filters)?;
                query.raw_filter = Some(value);
            }
            other if other.starts_with('$') => {
                return Err(invalid(format!(
                    "the query option `{other}` is not supported"
                )))
            }
            _ => {}
        }
    }
    Ok(query)
}

/// The service's origin as the client reached it, for absolute links: the `Host` header, and
/// `https` when `X-Forwarded-Proto` says so (the TLS listener sets it on every request it
/// serves; a TLS-terminating proxy in front of the HTTP listener may too).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

fn shape<T: Serialize>(entity: &T, select: Option<&[String]>) -> Value {
    let value = serde_json::to_value(entity).unwrap_or(Value::Null);
    match (value, select) {
        (Value::Object(map), Some(select)) => {
            let kept: Map<String, Value> = map
                .into_iter()
                .filter(|(k, _)| k == "@odata.type" || k == "id" || select.contains(k))
                .collect();
            Value::Object(kept)
        }
        (value, _) => value,
    }
}

/// One page of a collection, with `@odata.nextLink` carrying the same options forward.
fn page<T: Serialize>(
    headers: &HeaderMap,
    path: &str,
    set: &str,
    query: &ODataQuery,
    items: Vec<T>,
) -> Value {
    let total = items.len();
    let top = query.top.unwrap_or(DEFAULT_PAGE);
    let base = base_url(headers);
    let value: Vec<Value> = items
        .iter()
        .skip(query.skip)
        .take(top)
        .map(|e| shape(e, query.select.as_deref()))
        .collect();
    let mut body = Map::new();
    body.insert(
        "@odata.context".into(),
        Value::String(format!("{base}/beta/$metadata#deviceManagement/{set}")),
    );
    if query.count {
        body.insert("@odata.count".into(), Value::from(total as u64));
    }
    body.insert("value".into(), Value::Array(value));
    let next_skip = query.skip.saturating_add(top);
    if next_skip < total {
        let mut options = vec![
            ("$top".to_owned(), top.to_string()),
            ("$skip".to_owned(), next_skip.to_string()),
        ];
        if let Some(filter) = &query.raw_filter {
            options.push(("$filter".to_owned(), filter.clone()));
        }
        if query.count {
            options.push(("$count".to_owned(), "true".to_owned()));
        }
        if let Some(select) = &query.select {
            options.push(("$select".to_owned(), select.join(",")));
        }
        let encoded = serde_urlencoded::to_string(&options).unwrap_or_default();
        body.insert(
            "@odata.nextLink".into(),
            Value::String(format!("{base}{path}?{encoded}")),
        );
    }
    Value::Object(body)
}

fn entity<T: Serialize>(headers: &HeaderMap, set: &str, item: &T) -> Value {
    let mut value = shape(item, None);
    if let Value::Object(map) = &mut value {
        let context = format!(
            "{}/beta/$metadata#deviceManagement/{set}/$entity",
            base_url(headers)
        );
        map.insert("@odata.context".into(), Value::String(context));
    }
    value
}

const NDES_FIELDS: &[&str] = &[
    "id",
    "lastConnectionDateTime",
    "state",
    "displayName",
    "machineName",
    "enrolledDateTime",
    "roleScopeTagIds",
    "connectorVersion",
];
const DETAILS_FIELDS: &[&str] = &[
    "id",
    "connectorName",
    "machineName",
    "enrollmentDateTime",
    "lastCheckinDateTime",
    "connectorVersion",
];

async fn tenant_connectors(
    state: &AppState,
    caller: &GraphCaller,
) -> Result<Vec<Connector>, ApiError> {
    Ok(state.ops.connectors().list(&caller.tenant_id).await?)
}

fn one(connectors: Vec<Connector>, id: &str) -> Result<Connector, ApiError> {
    connectors
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no connector with id `{id}` in this tenant")))
}

#[utoipa::path(
    get,
    path = "/beta/deviceManagement/ndesConnectors",
    tag = "graph",
    operation_id = "listNdesConnectors",
    security(("graphToken" = [])),
    params(doc::ODataQuery),
    responses(
        (status = 200, description = "One page of the tenant's connectors", body = wire::graph::GraphCollection<doc::NdesConnectorSelection>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn ndes_list(
    caller: GraphCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<ApiJson<Value>, ApiError> {
    let query = parse_query(raw.as_deref(), &["state", "connectorVersion"], NDES_FIELDS)?;
    let now = state.ops.now();
    let items: Vec<_> = tenant_connectors(&state, &caller)
        .await?
        .iter()
        .map(|c| render::ndes_connector(c, now))
        .filter(|c| {
            query
                .filters
                .iter()
                .all(|(prop, value)| match prop.as_str() {
                    "state" => &c.state == value,
                    _ => &c.connector_version == value,
                })
        })
        .collect();
    Ok(ApiJson(page(
        &headers,
        "/beta/deviceManagement/ndesConnectors",
        "ndesConnectors",
        &query,
        items,
    )))
}

#[utoipa::path(
    get,
    path = "/beta/deviceManagement/ndesConnectors/{id}",
    tag = "graph",
    operation_id = "getNdesConnector",
    security(("graphToken" = [])),
    params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = doc::GraphEntity<wire::graph::NdesConnector>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn ndes_get(
    caller: GraphCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let connector = one(tenant_connectors(&state, &caller).await?, &id)?;
    Ok(ApiJson(entity(
        &headers,
        "ndesConnectors",
        &render::ndes_connector(&connector, state.ops.now()),
    )))
}

#[utoipa::path(
    get,
    path = "/beta/deviceManagement/certificateConnectorDetails",
    tag = "graph",
    operation_id = "listCertificateConnectorDetails",
    security(("graphToken" = [])),
    params(doc::ODataQuery),
    responses(
        (status = 200, description = "One page of the tenant's connectors", body = wire::graph::GraphCollection<doc::CertificateConnectorDetailsSelection>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn details_list(
    caller: GraphCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<ApiJson<Value>, ApiError> {
    let query = parse_query(raw.as_deref(), &["connectorVersion"], DETAILS_FIELDS)?;
    let items: Vec<_> = tenant_connectors(&state, &caller)
        .await?
        .iter()
        .map(render::certificate_connector_details)
        .filter(|c| {
            query
                .filters
                .iter()
                .all(|(_, value)| &c.connector_version == value)
        })
        .collect();
    Ok(ApiJson(page(
        &headers,
        "/beta/deviceManagement/certificateConnectorDetails",
        "certificateConnectorDetails",
        &query,
        items,
    )))
}

#[utoipa::path(
    get,
    path = "/beta/deviceManagement/certificateConnectorDetails/{id}",
    tag = "graph",
    operation_id = "getCertificateConnectorDetails",
    security(("graphToken" = [])),
    params(("id" = String, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = doc::GraphEntity<wire::graph::CertificateConnectorDetails>),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn details_get(
    caller: GraphCaller,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let connector = one(tenant_connectors(&state, &caller).await?, &id)?;
    Ok(ApiJson(entity(
        &headers,
        "certificateConnectorDetails",
        &render::certificate_connector_details(&connector),
    )))
}

/// Every health metric name: `{area}Success` and `{area}Failure` per area.
fn health_metric_names() -> Vec<String> {
    wire::connector::HEALTH_AREAS
        .iter()
        .flat_map(|a| [format!("{a}Success"), format!("{a}Failure")])
        .collect()
}

/// The counters of one stored health message.
fn counters(body: &str) -> std::collections::BTreeMap<String, u64> {
    serde_json::from_str::<wire::connector::HealthMessage>(body)
        .map(|m| m.counters)
        .unwrap_or_default()
}

/// `POST …/certificateConnectorDetails/{id}/getHealthMetrics` `{"metricNames": […]}`: each
/// metric summed over the connector's health messages of the last 24 hours.
#[utoipa::path(
    post,
    path = "/beta/deviceManagement/certificateConnectorDetails/{id}/getHealthMetrics",
    tag = "graph",
    operation_id = "getHealthMetrics",
    security(("graphToken" = [])),
    params(("id" = String, Path, description = "The connector's id")),
    request_body = doc::HealthMetricsRequest,
    responses(
        (status = 200, description = "Each metric summed over the last 24 hours", body = doc::HealthMetrics),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn details_health_metrics(
    caller: GraphCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<Value>, ApiError> {
    let connector = one(tenant_connectors(&state, &caller).await?, &id)?;
    let known = health_metric_names();
    let names: Vec<String> = match super::json_field(&body, "metricNames") {
        Some(Value::Array(items)) if items.len() <= 64 => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| ApiError::bad_request("BadRequest", "metricNames must be strings"))?,
        _ => {
            return Err(ApiError::bad_request(
                "BadRequest",
                "the body must be {\"metricNames\": [up to 64 names]}",
            ))
        }
    };
    if let Some(unknown) = names.iter().find(|n| !known.contains(n)) {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "metricNames: `{unknown}` is not a health metric ({})",
                known.join(", ")
            ),
        ));
    }
    let now = state.ops.now();
    let messages = state
        .ops
        .connectors()
        .health_messages(
            &connector.tenant_id,
            &connector.id,
            now - chrono::Duration::hours(24),
            now,
        )
        .await?;
    let value: Vec<Value> = names
        .iter()
        .map(|name| {
            let total: u64 = messages
                .iter()
                .map(|m| counters(&m.body).get(name).copied().unwrap_or(0))
                .sum();
            json!({"@odata.type": "microsoft.graph.keyLongValuePair", "name": name, "value": total})
        })
        .collect();
    Ok(ApiJson(json!({ "value": value })))
}

/// `POST …/certificateConnectorDetails/{id}/getHealthMetricTimeSeries`
/// `{"timeSeries": {"metricName": area, "startDateTime", "endDateTime"}}`: one point per health
/// message in the span with that area's success and failure counts.
#[utoipa::path(
    post,
    path = "/beta/deviceManagement/certificateConnectorDetails/{id}/getHealthMetricTimeSeries",
    tag = "graph",
    operation_id = "getHealthMetricTimeSeries",
    security(("graphToken" = [])),
    params(("id" = String, Path, description = "The connector's id")),
    request_body = doc::TimeSeriesRequest,
    responses(
        (status = 200, description = "One point per health message in the span", body = doc::TimeSeries),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 404, response = doc::NotFound),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn details_health_time_series(
    caller: GraphCaller,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<ApiJson<Value>, ApiError> {
    let connector = one(tenant_connectors(&state, &caller).await?, &id)?;
    let series = super::json_field(&body, "timeSeries")
        .filter(|v| v.is_object())
        .ok_or_else(|| {
            ApiError::bad_request(
                "BadRequest",
                "the body must be {\"timeSeries\": {metricName, startDateTime, endDateTime}}",
            )
        })?;
    let text = |key: &str| {
        super::json_field(series, key)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::bad_request("BadRequest", format!("timeSeries.{key} is missing"))
            })
    };
    let area = text("metricName")?;
    if !wire::connector::HEALTH_AREAS.contains(&area) {
        return Err(ApiError::bad_request(
            "BadRequest",
            format!(
                "timeSeries.metricName: `{area}` is not one of {}",
                wire::connector::HEALTH_AREAS.join(", ")
            ),
        ));
    }
    let start = convert::instant("timeSeries.startDateTime", text("startDateTime")?)?;
    let end = convert::instant("timeSeries.endDateTime", text("endDateTime")?)?;
    if end < start {
        return Err(ApiError::bad_request(
            "BadRequest",
            "timeSeries.endDateTime is before startDateTime",
        ));
    }
    let messages = state
        .ops
        .connectors()
        .health_messages(&connector.tenant_id, &connector.id, start, end)
        .await?;
    let value: Vec<Value> = messages
        .iter()
        .map(|m| {
            let c = counters(&m.body);
            json!({
                "dateTime": m.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "successCount": c.get(&format!("{area}Success")).copied().unwrap_or(0),
                "failureCount": c.get(&format!("{area}Failure")).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(ApiJson(json!({ "value": value })))
}

/// `GET /beta/deviceManagement/connectorStatus`: one `connectorStatusDetails` per certificate
/// connector (`ndesConnectorLastConnectionDateTime`), status healthy | warning | unhealthy |
/// unknown (never checked in).
#[utoipa::path(
    get,
    path = "/beta/deviceManagement/connectorStatus",
    tag = "graph",
    operation_id = "listConnectorStatus",
    security(("graphToken" = [])),
    responses(
        (status = 200, description = "One status per certificate connector", body = doc::ConnectorStatusPage),
        (status = 400, response = doc::BadRequest),
        (status = 401, response = doc::Unauthenticated),
        (status = 500, response = doc::ServerError),
    )
)]
pub async fn connector_status(
    caller: GraphCaller,
    State(state): State<AppState>,
) -> Result<ApiJson<Value>, ApiError> {
    let connectors = state
        .ops
        .connectors()
        .list_with_status(&caller.tenant_id)
        .await?;
    let value: Vec<Value> = connectors
        .iter()
        .map(|c| {
            let last_checkin = c.connector.facts.last_checkin;
            let status = match (last_checkin, c.evaluation.status) {
                (None, _) => "unknown",
                (_, crate::domain::lifecycle::Status::Healthy) => "healthy",
                (_, crate::domain::lifecycle::Status::Warning) => "warning",
                (_, crate::domain::lifecycle::Status::Error) => "unhealthy",
            };
            json!({
                "@odata.type": "#microsoft.graph.connectorStatusDetails",
                "connectorName": "ndesConnectorLastConnectionDateTime",
                "connectorInstanceId": c.connector.id.as_str(),
                "status": status,
                "eventDateTime": last_checkin
                    .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            })
        })
        .collect();
    Ok(ApiJson(json!({
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#deviceManagement/connectorStatus",
        "value": value
    })))
}
