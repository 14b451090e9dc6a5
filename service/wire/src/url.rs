//! URLs that may carry a password (a database URL, a proxy URL): what may be shown or logged.

/// `url` with the password of its user info replaced by `***` (`postgres://u:***@host/db`);
/// anything else unchanged.
pub fn redact_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_owned();
    };
    format!(
        "{}***{}",
        &url[..authority_start + colon + 1],
        &url[authority_start + at..]
    )
}
