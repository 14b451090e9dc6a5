//! `GET /openapi.json`: the OpenAPI 3.1 description of every route `router` serves, generated
//! with utoipa from the handlers' `#[utoipa::path]` annotations and the `ToSchema` derives of the
//! wire types. Bodies a handler writes with `json!` (Graph pages, the Intune FE answers) and the
//! lenient FE request bodies are described by the schema-only types below; the route-coverage
//! test and schemathesis (`.ci/schemathesis`) hold them to what the service answers.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, OpenApi, PartialSchema, ToResponse, ToSchema};

use super::routes::{
    admin, connector, faults, graph, health, identity, jobs, pfx, pki, scep, token, web,
};
use wire::error::ErrorEnvelope;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "intune-mock",
        description = "A mock of the Microsoft Intune cloud side of the Certificate Connector. \
            Every error of the API routes is JSON in the Graph envelope \
            `{\"error\":{\"code\",\"message\",\"innerError\":{\"date\",\"request-id\",\"client-request-id\"}}}` \
            (the token endpoint answers OAuth2 errors); every answer carries `request-id` and \
            echoes `client-request-id`. Fault rules (`POST /admin/faults`) can make any \
            non-operator route answer any status, be delayed or drop the connection."
    ),
    paths(
        document,
        health::healthz,
        health::readyz,
        health::metrics,
        web::page_show,
        web::page_sign_in,
        faults::list,
        faults::create,
        faults::clear,
        faults::remove,
        faults::journal_list,
        admin::reset,
        admin::clock_get,
        admin::clock_change,
        admin::tenants_list,
        admin::tenants_create,
        admin::tenants_get,
        admin::tenants_delete,
        admin::tenants_set_import_key,
        admin::connectors_list,
        admin::connectors_get,
        admin::connectors_status,
        admin::connectors_history,
        admin::releases_list,
        admin::releases_publish,
        scep::challenges_create,
        scep::challenges_get,
        scep::challenges_untarget,
        jobs::jobs_list,
        jobs::jobs_enqueue,
        jobs::jobs_get,
        jobs::jobs_cancel,
        jobs::jobs_device_key,
        connector::connectors_register,
        connector::connectors_checkin,
        connector::health_upload,
        connector::self_get,
        connector::self_reconfigure,
        connector::self_uninstall,
        connector::update_latest,
        jobs::jobs_lease,
        jobs::jobs_complete_batch,
        jobs::jobs_complete,
        token::token_issue,
        identity::openid_configuration,
        identity::signing_keys,
        graph::ndes_list,
        graph::ndes_get,
        graph::details_list,
        graph::details_get,
        graph::details_health_metrics,
        graph::details_health_time_series,
        graph::connector_status,
        pfx::pfx_list,
        pfx::pfx_create,
        pfx::pfx_get,
        pfx::pfx_patch,
        pfx::pfx_delete,
        pfx::pfx_keyed_get,
        pfx::pfx_keyed_patch,
        pfx::pfx_keyed_delete,
        scep::discovery,
        scep::validate_request,
        scep::success_notification,
        scep::failure_notification,
        pki::download,
        pki::upload,
    ),
    components(
        schemas(ErrorEnvelope),
        responses(
            BadRequest,
            Unauthenticated,
            Forbidden,
            NotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            ServerError
        )
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "probes", description = "Liveness, readiness, metrics and this description; no credential."),
        (name = "web", description = "The operator's web page (HTML, not an API)."),
        (name = "operator", description = "The operator API (`Authorization: Bearer <operator token>`); the tenant and connector reads also take a Graph token of that tenant."),
        (name = "connector", description = "The connector API: registration with an enrollment secret, then the connector's own credential."),
        (name = "token", description = "Entra ID's side: the OAuth2 client-credentials token endpoint, and each tenant's OpenID configuration and signing keys (no credential)."),
        (name = "graph", description = "Microsoft Graph (beta) with a token from the token endpoint."),
        (name = "intune-fe", description = "The Intune FE services a third-party CA calls (SCEP validation, revocation) and their discovery."),
    )
)]
pub struct ApiDoc;

/// The security schemes the annotations name.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "operatorToken",
            bearer("The operator token `serve` prints (or its `--operator-token`)."),
        );
        components.add_security_scheme(
            "enrollmentSecret",
            bearer("A tenant's enrollment secret (`POST /admin/tenants` shows it once)."),
        );
        components.add_security_scheme(
            "connectorCredential",
            bearer("The credential `POST /connector/v1/register` handed the connector; it stops working when the connector uninstalls."),
        );
        components.add_security_scheme(
            "graphToken",
            bearer("An access token of a tenant from `POST /{tenantId}/oauth2/v2.0/token`, an RS256 JWT: for Microsoft Graph (scope `https://graph.microsoft.com/.default`) on the Graph routes; for the Intune API (scope `https://api.manage.microsoft.com//.default`) or Graph on the Intune FE routes."),
        );
        components.add_security_scheme(
            "clientSecretBasic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The tenant's client id and client secret (or give them as the form fields `client_id` and `client_secret`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "operatorSession",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                web::SESSION_COOKIE,
                "The web page's session cookie, set by signing in with `POST /`.",
            ))),
        );
    }
}

/// The document, serialized once.
pub fn json() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serializes")
    })
}

/// `GET /openapi.json`: this service's OpenAPI 3.1 description (no credential: it holds no
/// tenant data).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "probes",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of every route", content_type = "application/json", body = Object),
        (status = 400, response = BadRequest),
    )
)]
pub async fn document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}

// ----- reusable error responses ------------------------------------------------------------------

/// The request is not valid: a body, a query option, a path parameter or the query string's
/// encoding; the message names what.
#[derive(ToResponse)]
pub struct BadRequest(pub ErrorEnvelope);

/// No credential, or not one this route takes (`unauthenticated`, `InvalidAuthenticationToken`).
#[derive(ToResponse)]
pub struct Unauthenticated(pub ErrorEnvelope);

/// The caller may not do this: another tenant's data, a feature the connector does not have, or
/// a connector version past its support or function date.
#[derive(ToResponse)]
pub struct Forbidden(pub ErrorEnvelope);

/// No such item (or not in the caller's tenant).
#[derive(ToResponse)]
pub struct NotFound(pub ErrorEnvelope);

/// The request conflicts with the state: a limit, an existing item, a lost lease, the clock.
#[derive(ToResponse)]
pub struct Conflict(pub ErrorEnvelope);

/// The body is larger than the route takes (`requestTooLarge`: 1 MiB).
#[derive(ToResponse)]
pub struct PayloadTooLarge(pub ErrorEnvelope);

/// The body is not sent as `Content-Type: application/json`.
#[derive(ToResponse)]
pub struct UnsupportedMediaType(pub ErrorEnvelope);

/// The request is well formed but cannot be applied as it is: an `Idempotency-Key` used
/// before for another batch (`IdempotencyKeyReused`).
#[derive(ToResponse)]
pub struct Unprocessable(pub ErrorEnvelope);

/// The connector made more requests a second than the service allows, or holds the most
/// waiting leases it may (`TooManyWaitingLeases`).
#[derive(ToResponse)]
#[response(headers(("retry-after" = u32, description = "Seconds to wait before the next request")))]
pub struct TooManyRequests(pub ErrorEnvelope);

/// The service failed (`generalException`); the message says nothing internal.
#[derive(ToResponse)]
pub struct ServerError(pub ErrorEnvelope);

// ----- schema-only types: bodies written with `json!` or read leniently --------------------------

/// `GET /healthz` (`alive`) and `GET /readyz` (`ready`).
#[derive(serde::Serialize, ToSchema)]
pub struct Probe {
    #[schema(example = "alive")]
    pub status: ProbeStatus,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    Alive,
    Ready,
}

/// One answered request of the journal.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub date_time: chrono::DateTime<chrono::Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    #[schema(required = true)]
    pub client_request_id: Option<String>,
    #[schema(required = true)]
    pub request_id: Option<String>,
    pub duration_microseconds: u64,
}

/// `GET /admin/tenants/{tenant_id}/jobs`: one page and the count of every match.
#[derive(serde::Serialize, ToSchema)]
pub struct JobPage {
    pub count: u64,
    pub value: Vec<wire::jobs::JobView>,
}

/// A job's state.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Leased,
    Succeeded,
    Failed,
    DeadLetter,
    Cancelled,
}

/// The Graph OData options of the connector lists (`$filter`: `prop eq 'value' [and …]`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ODataQuery {
    /// Page size, 1 to 999 (default 100).
    #[param(rename = "$top", minimum = 1, maximum = 999)]
    pub top: Option<u32>,
    /// Items to skip.
    #[param(rename = "$skip", minimum = 0)]
    pub skip: Option<u64>,
    /// `true`: the page carries `@odata.count`.
    #[param(rename = "$count")]
    pub count: Option<bool>,
    /// Comma-separated properties (the others are left out of each item).
    #[param(rename = "$select")]
    pub select: Option<String>,
    /// `state eq 'active'`, `connectorVersion eq '6.2406.0.1001'` (only `eq`, joined by `and`).
    #[param(rename = "$filter")]
    pub filter: Option<String>,
}

/// The `$filter` of `userPfxCertificates` (`userPrincipalName` or `thumbprint`, `tolower(…)`
/// accepted).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PfxQuery {
    #[param(rename = "$filter")]
    pub filter: Option<String>,
}

/// A `$select`ed item: every property is optional but `@odata.type` and `id`.
macro_rules! selection {
    ($name:ident, $entity:ty, $title:literal) => {
        #[doc = concat!("`", $title, "` as a list shows it: with `$select`, only the selected properties, `@odata.type` and `id`.")]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let mut schema = <$entity as PartialSchema>::schema();
                if let RefOr::T(Schema::Object(object)) = &mut schema {
                    object
                        .required
                        .retain(|name| name == "@odata.type" || name == "id");
                }
                schema
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($title)
            }
        }
    };
}

selection!(
    NdesConnectorSelection,
    wire::graph::NdesConnector,
    "NdesConnectorSelection"
);
selection!(
    CertificateConnectorDetailsSelection,
    wire::graph::CertificateConnectorDetails,
    "CertificateConnectorDetailsSelection"
);

/// One Graph entity as a `GET …/{id}` answers it: the entity and its `@odata.context`.
#[derive(serde::Serialize, ToSchema)]
pub struct GraphEntity<T: ToSchema> {
    #[serde(rename = "@odata.context")]
    pub odata_context: String,
    #[serde(flatten)]
    pub entity: T,
}

/// `POST …/getHealthMetrics`.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthMetricsRequest {
    /// Up to 64 of `{area}Success` / `{area}Failure` (areas: pkcs, pkcsRecrypt, pkcsImport,
    /// revoke, scep).
    #[schema(max_items = 64)]
    pub metric_names: Vec<String>,
}

/// `microsoft.graph.keyLongValuePair`: a metric summed over the last 24 hours.
#[derive(serde::Serialize, ToSchema)]
pub struct KeyLongValuePair {
    #[serde(rename = "@odata.type")]
    #[schema(example = "microsoft.graph.keyLongValuePair")]
    pub odata_type: String,
    pub name: String,
    pub value: u64,
}

#[derive(serde::Serialize, ToSchema)]
pub struct HealthMetrics {
    pub value: Vec<KeyLongValuePair>,
}

/// `POST …/getHealthMetricTimeSeries`.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeSeriesRequest {
    pub time_series: TimeSeriesSpan,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeSeriesSpan {
    /// An area: pkcs, pkcsRecrypt, pkcsImport, revoke or scep.
    pub metric_name: String,
    pub start_date_time: chrono::DateTime<chrono::Utc>,
    pub end_date_time: chrono::DateTime<chrono::Utc>,
}

/// One health message in the span: that area's counts.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeSeriesPoint {
    pub date_time: chrono::DateTime<chrono::Utc>,
    pub success_count: u64,
    pub failure_count: u64,
}

#[derive(serde::Serialize, ToSchema)]
pub struct TimeSeries {
    pub value: Vec<TimeSeriesPoint>,
}

/// `#microsoft.graph.connectorStatusDetails`.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorStatusDetails {
    #[serde(rename = "@odata.type")]
    pub odata_type: String,
    /// Always `ndesConnectorLastConnectionDateTime`.
    pub connector_name: String,
    pub connector_instance_id: String,
    pub status: ConnectorHealth,
    /// The last check-in; null before the first.
    #[schema(required = true)]
    pub event_date_time: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorHealth {
    Healthy,
    Warning,
    Unhealthy,
    Unknown,
}

#[derive(serde::Serialize, ToSchema)]
pub struct ConnectorStatusPage {
    #[serde(rename = "@odata.context")]
    pub odata_context: String,
    pub value: Vec<ConnectorStatusDetails>,
}

/// `POST {scep}/ScepActions/successNotification` and `…/failureNotification`. Keys are read in
/// any casing; only `transactionId` (and, on failure, `hResult`) is required.
#[derive(serde::Serialize, ToSchema)]
pub struct ScepNotificationRequest {
    pub notification: ScepNotification,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScepNotification {
    pub transaction_id: String,
    pub certificate_request: Option<String>,
    pub certificate_thumbprint: Option<String>,
    pub certificate_serial_number: Option<String>,
    pub certificate_expiration_date_utc: Option<String>,
    pub issuing_certificate_authority: Option<String>,
    pub caller_info: Option<String>,
    /// Failure only: the HRESULT, signed or unsigned, as a number or a numeric string.
    pub h_result: Option<i64>,
    /// Failure only: at most 255 characters.
    #[schema(max_length = 255)]
    pub error_description: Option<String>,
}

/// `POST {pki}/CertificateAuthorityRequests/downloadRevocationRequests`.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevocationDownloadRequest {
    pub download_parameters: DownloadParameters,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadParameters {
    /// At most this many requests, 1 to 500.
    #[schema(minimum = 1, maximum = 500)]
    pub max_requests: u32,
    /// Only requests for this issuer (null or empty: any).
    #[schema(max_length = 256)]
    pub issuer_name: Option<String>,
}

/// `microsoft.management.services.api.caRevocationRequest`.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaRevocationRequest {
    /// `{jobId}:{leaseToken}`: give it back in the upload.
    pub request_context: String,
    pub serial_number: String,
    pub issuer_name: String,
    pub ca_configuration: String,
}

#[derive(serde::Serialize, ToSchema)]
pub struct RevocationRequests {
    #[serde(rename = "@odata.context")]
    pub odata_context: String,
    pub value: Vec<CaRevocationRequest>,
}

/// `POST {pki}/CertificateAuthorityRequests/uploadRevocationResults`.
#[derive(serde::Serialize, ToSchema)]
pub struct RevocationUploadRequest {
    /// At most 500.
    pub results: Vec<RevocationResult>,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevocationResult {
    pub request_context: String,
    pub succeeded: bool,
    /// CARequestErrorCodes: a number (4004), a numeric string (`"4004"`) or a name
    /// (`"CertificateNotFoundError"`); null or 0 with `succeeded`.
    #[schema(value_type = Object)]
    pub error_code: Option<serde_json::Value>,
    pub error_message: Option<String>,
}

/// `true`: every result was applied; `false`: a context was not (or no longer) this CA's lease.
#[derive(serde::Serialize, ToSchema)]
pub struct RevocationUploaded {
    pub value: bool,
}

/// The token endpoint's form (`application/x-www-form-urlencoded`).
#[derive(serde::Serialize, ToSchema)]
pub struct TokenRequest {
    pub grant_type: GrantType,
    /// With `client_secret`, or HTTP Basic instead.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// One `{resource}/.default`: `https://graph.microsoft.com/.default` (or
    /// `00000003-0000-0000-c000-000000000000/.default`, or this service's own origin's), or
    /// `https://api.manage.microsoft.com//.default` for the Intune FE routes.
    pub scope: String,
    /// MSAL's; read and ignored.
    pub client_info: Option<String>,
    /// The client's claims challenge answer (CAE); read and ignored.
    pub claims: Option<String>,
}

/// A 400 of the token endpoint: OAuth2's error, or the Graph envelope for a query string that does
/// not decode.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub enum TokenBadRequest {
    OAuth(wire::token::TokenError),
    Envelope(ErrorEnvelope),
}

/// The only grant served.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    ClientCredentials,
}

/// The web page's form: `token=<operator token>` signs in, `action=sign-out` signs out.
#[derive(serde::Serialize, ToSchema)]
pub struct SignInForm {
    pub token: Option<String>,
    pub action: Option<String>,
}
