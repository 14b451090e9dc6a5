//! The resources the token endpoint issues tokens for, the scopes that name them, and the checks
//! a route makes of a verified token's claims (docs/behaviour.md, "Tenants and connectors").
//!
//! Two resources: Microsoft Graph (the `/beta` and `/v1.0` routes) and the Intune API (the Intune
//! FE routes a third-party CA calls, which Microsoft's CA libraries ask a token for with the
//! scope `https://api.manage.microsoft.com//.default`). A token for one is refused by the other's
//! routes, as the real services do.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use wire::token::AccessTokenClaims;

/// Microsoft Graph's application id (its scope's GUID form).
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The Intune API's application id ("Microsoft Intune API").
pub const INTUNE_APP_ID: &str = "0000000a-0000-0000-c000-000000000000";
pub const GRAPH_URI: &str = "https://graph.microsoft.com";
/// As Microsoft's third-party CA libraries write it (`INTUNE_RESOURCE_URL`), slash and all.
pub const INTUNE_URI: &str = "https://api.manage.microsoft.com/";

/// A resource a token is issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Graph,
    Intune,
}

impl Resource {
    pub fn name(self) -> &'static str {
        match self {
            Resource::Graph => "Microsoft Graph",
            Resource::Intune => "the Intune API",
        }
    }

    /// The scope a client asks for to get a token for this resource.
    pub fn scope(self) -> &'static str {
        match self {
            Resource::Graph => "https://graph.microsoft.com/.default",
            Resource::Intune => "https://api.manage.microsoft.com//.default",
        }
    }

    fn uri(self) -> &'static str {
        match self {
            Resource::Graph => GRAPH_URI,
            Resource::Intune => INTUNE_URI,
        }
    }

    fn app_id(self) -> &'static str {
        match self {
            Resource::Graph => GRAPH_APP_ID,
            Resource::Intune => INTUNE_APP_ID,
        }
    }

    /// The application permissions a token for this resource carries in `roles`: those the
    /// routes the mock serves need. The mock grants every tenant's app all of them and does not
    /// check them.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Resource::Graph => &[
                "Application.Read.All",
                "DeviceManagementConfiguration.ReadWrite.All",
                "DeviceManagementServiceConfig.Read.All",
            ],
            Resource::Intune => &["scep_challenge_provider"],
        }
    }

    /// Whether an `aud` names this resource: its URI with or without the trailing slash, or its
    /// application id, in any case.
    pub fn accepts(self, aud: &str) -> bool {
        let aud = aud.trim_end_matches('/');
        aud.eq_ignore_ascii_case(self.uri().trim_end_matches('/'))
            || aud.eq_ignore_ascii_case(self.app_id())
    }
}

/// What a token request asked for: the resource and the `aud` its token carries (the resource
/// as the scope named it, which is how Entra ID writes a version 1.0 token's audience).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub resource: Resource,
    pub aud: String,
}

/// A `scope` the token endpoint does not take, with Entra ID's error and AADSTS code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("AADSTS900144: The request body must contain the following parameter: 'scope'.")]
    Missing,
    #[error(
        "AADSTS1002012: The provided value for scope {0} is not valid. Client credential flows \
         must have a scope value with /.default suffixed to the resource identifier (application \
         ID URI); this service issues tokens for {graph} and {intune}.",
        graph = Resource::Graph.scope(),
        intune = Resource::Intune.scope()
    )]
    NotDefault(String),
    #[error(
        "AADSTS500011: The resource principal named {0} was not found in the tenant. This \
         service issues tokens for {graph} (also {GRAPH_APP_ID}/.default, or its own origin's \
         /.default) and {intune}.",
        graph = Resource::Graph.scope(),
        intune = Resource::Intune.scope()
    )]
    UnknownResource(String),
}

impl ScopeError {
    /// The OAuth2 `error` Entra ID answers with.
    pub fn code(&self) -> &'static str {
        match self {
            ScopeError::Missing => "invalid_request",
            ScopeError::NotDefault(_) => "invalid_scope",
            ScopeError::UnknownResource(_) => "invalid_resource",
        }
    }
}

/// The host of `authority` (`host`, `host:port`, `[v6]:port`) without its port, lower-cased.
fn host_of(authority: &str) -> String {
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    };
    host.to_ascii_lowercase()
}

/// The resource a client-credentials `scope` names. One scope, `{resource}/.default`, where the
/// resource is Graph (`https://graph.microsoft.com` or its application id), the Intune API
/// (`https://api.manage.microsoft.com/` or its id), or this service's own origin as the request
/// reached it (`own_host`, the `Host` header): what the Graph SDKs ask for when their base URL is
/// the mock's and no scope is given (kiota drops the port; PowerShell keeps it). The mock's own
/// origin is its Graph, so such a token is a Graph token.
pub fn audience_of_scope(
    scope: Option<&str>,
    own_host: Option<&str>,
) -> Result<Audience, ScopeError> {
    let scope = scope.map(str::trim).unwrap_or_default();
    if scope.is_empty() {
        return Err(ScopeError::Missing);
    }
    let resource = match scope.strip_suffix("/.default") {
        Some(resource) if !resource.is_empty() && !scope.contains(char::is_whitespace) => resource,
        _ => return Err(ScopeError::NotDefault(scope.to_owned())),
    };
    for known in [Resource::Graph, Resource::Intune] {
        if known.accepts(resource) {
            return Ok(Audience {
                resource: known,
                aud: resource.to_owned(),
            });
        }
    }
    let origin = resource
        .strip_prefix("https://")
        .or_else(|| resource.strip_prefix("http://"))
        .map(|rest| rest.trim_end_matches('/'));
    if let (Some(authority), Some(own)) = (origin, own_host) {
        if !authority.is_empty() && !authority.contains('/') && host_of(authority) == host_of(own) {
            return Ok(Audience {
                resource: Resource::Graph,
                aud: GRAPH_URI.to_owned(),
            });
        }
    }
    Err(ScopeError::UnknownResource(resource.to_owned()))
}

/// Why a bearer token is refused; the message says what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the access token is not a token this service issued: {0}")]
    Malformed(String),
    /// An opaque token (from before the service signed its tokens) that is unknown or expired.
    #[error("the access token is not valid or has expired")]
    NotIssued,
    #[error(
        "the access token names tenant `{0}`, which this service does not know (deleted, or a \
         token of another service)"
    )]
    UnknownTenant(String),
    #[error(
        "the access token is signed with key `{kid}`, which is not the signing key of tenant \
         `{tenant}` (see /{tenant}/discovery/v2.0/keys)"
    )]
    OtherKey { tenant: String, kid: String },
    #[error(
        "the access token's signature does not verify with the signing key of tenant `{0}`: the \
         token was changed or signed by someone else"
    )]
    Signature(String),
    #[error("the access token's issuer `{iss}` is not tenant `{tenant}`'s (`{wanted}`)", wanted = issuer(.tenant))]
    Issuer { iss: String, tenant: String },
    #[error(
        "the access token is for `{aud}`, not for {name}: ask the token endpoint for the scope \
         `{scope}`",
        name = .wanted.name(),
        scope = .wanted.scope()
    )]
    Audience { aud: String, wanted: Resource },
    #[error(
        "the access token expired at {} (the service's time is {})",
        stamp(*.exp),
        .now.to_rfc3339_opts(SecondsFormat::Secs, true)
    )]
    Expired { exp: i64, now: DateTime<Utc> },
    #[error(
        "the access token is not valid before {} (the service's time is {})",
        stamp(*.nbf),
        .now.to_rfc3339_opts(SecondsFormat::Secs, true)
    )]
    NotYetValid { nbf: i64, now: DateTime<Utc> },
}

fn stamp(unix: i64) -> String {
    Utc.timestamp_opt(unix, 0).single().map_or_else(
        || unix.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Secs, true),
    )
}

/// The issuer of a tenant's tokens, Entra ID's version 1.0 form (Graph tokens carry it).
pub fn issuer(tenant: &str) -> String {
    format!("https://sts.windows.net/{tenant}/")
}

/// How long a token lives from its issue (Entra ID's default for app tokens is about as long).
pub const TOKEN_LIFETIME_SECONDS: i64 = 3600;
/// How far `iat` and `nbf` are set before the issue, as Entra ID does, so a verifier whose clock
/// is a little behind still takes a new token.
pub const BACKDATE_SECONDS: i64 = 300;

/// What the token of an app of `tenant` (`client_id`, authenticated with its secret) says when it
/// was issued at `now` for `audience`: Entra ID's version 1.0 app-only claims. `object_id` is the
/// app's service principal (`oid` = `sub`); `uti` the token's own unique id.
pub fn app_token_claims(
    tenant: &str,
    client_id: &str,
    object_id: &str,
    audience: &Audience,
    now: DateTime<Utc>,
    uti: String,
) -> AccessTokenClaims {
    let issued = now.timestamp() - BACKDATE_SECONDS;
    AccessTokenClaims {
        aud: audience.aud.clone(),
        iss: issuer(tenant),
        iat: issued,
        nbf: issued,
        exp: now.timestamp() + TOKEN_LIFETIME_SECONDS,
        appid: client_id.to_owned(),
        // "1": the client authenticated with a secret (Entra ID's "2" is a certificate).
        appidacr: "1".to_owned(),
        idp: issuer(tenant),
        idtyp: "app".to_owned(),
        oid: object_id.to_owned(),
        roles: audience
            .resource
            .roles()
            .iter()
            .map(|r| (*r).to_owned())
            .collect(),
        sub: object_id.to_owned(),
        tid: tenant.to_owned(),
        uti,
        ver: "1.0".to_owned(),
    }
}

/// The checks of a token whose signature verified with `tenant`'s key: its issuer, its audience
/// (one of `wanted`, the first being the route's own; any when `wanted` is empty) and its
/// validity at `now` (`nbf` inclusive, `exp` exclusive, no leeway: the clock is the service's
/// own).
pub fn check_claims(
    claims: &AccessTokenClaims,
    tenant: &str,
    wanted: &[Resource],
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    if claims.iss != issuer(tenant) || claims.tid != tenant {
        return Err(Refusal::Issuer {
            iss: claims.iss.clone(),
            tenant: tenant.to_owned(),
        });
    }
    if let Some(first) = wanted.first() {
        if !wanted.iter().any(|w| w.accepts(&claims.aud)) {
            return Err(Refusal::Audience {
                aud: claims.aud.clone(),
                wanted: *first,
            });
        }
    }
    let now_ms = now.timestamp_millis();
    if now_ms < claims.nbf.saturating_mul(1000) {
        return Err(Refusal::NotYetValid {
            nbf: claims.nbf,
            now,
        });
    }
    if now_ms >= claims.exp.saturating_mul(1000) {
        return Err(Refusal::Expired {
            exp: claims.exp,
            now,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aud(scope: &str) -> Result<(Resource, String), String> {
        audience_of_scope(Some(scope), Some("127.0.0.1:8443"))
            .map(|a| (a.resource, a.aud))
            .map_err(|e| format!("{}: {e}", e.code()))
    }

    #[test]
    fn scopes_name_graph_the_intune_api_or_the_services_own_origin() {
        let graph = |a: &str| Ok((Resource::Graph, a.to_owned()));
        let intune = |a: &str| Ok((Resource::Intune, a.to_owned()));
        assert_eq!(
            aud("https://graph.microsoft.com/.default"),
            graph("https://graph.microsoft.com")
        );
        assert_eq!(
            aud("https://graph.microsoft.com//.default"),
            graph("https://graph.microsoft.com/")
        );
        assert_eq!(
            aud("00000003-0000-0000-c000-000000000000/.default"),
            graph("00000003-0000-0000-c000-000000000000")
        );
        assert_eq!(
            aud("https://api.manage.microsoft.com//.default"),
            intune("https://api.manage.microsoft.com/")
        );
        assert_eq!(
            aud("0000000A-0000-0000-C000-000000000000/.default"),
            intune("0000000A-0000-0000-C000-000000000000")
        );
        // The origin the request reached, with or without its port (kiota drops it).
        for own in [
            "https://127.0.0.1/.default",
            "https://127.0.0.1:8443/.default",
            "http://127.0.0.1:8080//.default",
        ] {
            assert_eq!(aud(own), graph("https://graph.microsoft.com"), "{own}");
        }
        assert_eq!(
            aud("https://localhost:8443/.default"),
            Err("invalid_resource: AADSTS500011: The resource principal named https://localhost:8443 was not found in the tenant. This service issues tokens for https://graph.microsoft.com/.default (also 00000003-0000-0000-c000-000000000000/.default, or its own origin's /.default) and https://api.manage.microsoft.com//.default.".to_owned())
        );
        assert_eq!(
            aud("https://127.0.0.1:8443/beta/.default")
                .unwrap_err()
                .split(':')
                .next(),
            Some("invalid_resource")
        );
        for bad in [
            "https://graph.microsoft.com/User.Read",
            "/.default",
            "openid https://graph.microsoft.com/.default",
        ] {
            assert_eq!(
                aud(bad).unwrap_err().split(':').next(),
                Some("invalid_scope"),
                "{bad}"
            );
        }
        assert_eq!(
            audience_of_scope(None, None).unwrap_err().to_string(),
            "AADSTS900144: The request body must contain the following parameter: 'scope'."
        );
    }

    fn claims(aud: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            aud: aud.into(),
            iss: "https://sts.windows.net/t1/".into(),
            iat: 1_772_443_500,
            nbf: 1_772_443_500,
            exp: 1_772_447_400,
            appid: "app".into(),
            appidacr: "1".into(),
            idp: "https://sts.windows.net/t1/".into(),
            idtyp: "app".into(),
            oid: "o".into(),
            roles: vec![],
            sub: "o".into(),
            tid: "t1".into(),
            uti: "u".into(),
            ver: "1.0".into(),
        }
    }

    #[test]
    fn a_route_takes_its_audience_the_issuer_of_the_tenant_and_the_time_between_nbf_and_exp() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        // nbf 2026-03-02T09:25:00Z, exp 2026-03-02T10:30:00Z.
        let graph = claims("https://graph.microsoft.com");
        let check = |c: &AccessTokenClaims, wanted: &[Resource], now: &str| {
            check_claims(c, "t1", wanted, at(now)).map_err(|e| e.to_string())
        };
        assert_eq!(
            check(&graph, &[Resource::Graph], "2026-03-02T09:25:00Z"),
            Ok(())
        );
        assert_eq!(
            check(&graph, &[Resource::Graph], "2026-03-02T10:29:59.999Z"),
            Ok(())
        );
        assert_eq!(
            check(&graph, &[Resource::Graph], "2026-03-02T10:30:00Z"),
            Err("the access token expired at 2026-03-02T10:30:00Z (the service's time is 2026-03-02T10:30:00Z)".into())
        );
        assert_eq!(
            check(&graph, &[], "2026-03-02T09:24:59Z"),
            Err("the access token is not valid before 2026-03-02T09:25:00Z (the service's time is 2026-03-02T09:24:59Z)".into())
        );
        assert_eq!(
            check(&graph, &[Resource::Intune], "2026-03-02T09:30:00Z"),
            Err("the access token is for `https://graph.microsoft.com`, not for the Intune API: ask the token endpoint for the scope `https://api.manage.microsoft.com//.default`".into())
        );
        let intune = claims("https://api.manage.microsoft.com/");
        assert_eq!(
            check(&intune, &[Resource::Intune], "2026-03-02T09:30:00Z"),
            Ok(())
        );
        assert_eq!(
            check(&intune, &[Resource::Graph], "2026-03-02T09:30:00Z"),
            Err("the access token is for `https://api.manage.microsoft.com/`, not for Microsoft Graph: ask the token endpoint for the scope `https://graph.microsoft.com/.default`".into())
        );
        assert_eq!(check(&intune, &[], "2026-03-02T09:30:00Z"), Ok(()));
        assert_eq!(
            check_claims(&graph, "t2", &[], at("2026-03-02T09:30:00Z")).unwrap_err().to_string(),
            "the access token's issuer `https://sts.windows.net/t1/` is not tenant `t2`'s (`https://sts.windows.net/t2/`)"
        );
    }
}
