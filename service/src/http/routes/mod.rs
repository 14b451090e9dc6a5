//! One file per resource; handlers are named `resource_action`.

pub mod admin;
pub mod connector;
pub mod faults;
pub mod graph;
pub mod health;
pub mod identity;
pub mod jobs;
pub mod pfx;
pub mod pki;
pub mod scep;
pub mod token;
pub mod web;

/// `key` of a JSON object, matched without regard to case (the Intune clients differ: Java and
/// C# write camelCase, C# may write PascalCase).
pub(crate) fn json_field<'a>(
    value: &'a serde_json::Value,
    key: &str,
) -> Option<&'a serde_json::Value> {
    value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The `api-version` header of an Intune FE call: absent, or `expected`.
pub(crate) fn check_api_version(
    headers: &axum::http::HeaderMap,
    expected: &str,
    what: &str,
) -> Result<(), crate::http::error::ApiError> {
    match headers.get("api-version").map(|v| v.to_str().unwrap_or("")) {
        None => Ok(()),
        Some(v) if v == expected => Ok(()),
        Some(other) => Err(crate::http::error::ApiError::bad_request(
            "InvalidApiVersion",
            format!("api-version `{other}` is not served; the {what} use {expected}"),
        )),
    }
}
