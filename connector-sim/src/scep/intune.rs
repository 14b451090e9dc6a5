//! The connector's SCEP calls to Intune (`ScepActions/…`), shared by the endpoint and
//! [`crate::Connector::scep_validate`].

use reqwest::Method;

use crate::client::{ClientError, ServiceClient};

/// `callerInfo` as the connector sends it (the docs' PROVIDER_NAME_AND_VERSION).
pub(crate) fn caller_info(version: &str) -> String {
    format!("Microsoft Intune Certificate Connector {version}")
}

/// The body of `ScepActions/validateRequest`.
pub(crate) fn validate_request(
    transaction_id: &str,
    csr_b64: &str,
    caller_info: &str,
) -> wire::scep::ValidateRequest {
    wire::scep::ValidateRequest {
        request: wire::scep::ScepRequest {
            transaction_id: Some(transaction_id.to_owned()),
            certificate_request: Some(csr_b64.to_owned()),
            caller_info: Some(caller_info.to_owned()),
        },
    }
}

/// `POST {scep}/ScepActions/{action}` with the connector's credential, as its SCEP module sends
/// it; every answer Intune gives is `{code, errorDescription}`.
pub(crate) async fn scep_action<B: serde::Serialize>(
    client: &ServiceClient,
    credential: &str,
    correlation: &str,
    action: &str,
    body: &B,
) -> Result<wire::scep::ScepAnswer, ClientError> {
    let path = format!("{}/ScepActions/{action}", wire::scep::SCEP_SERVICE_PATH);
    let answer: Option<wire::scep::ScepAnswer> = client
        .send(Method::POST, &path, credential, correlation, Some(body))
        .await?;
    answer.ok_or_else(|| ClientError::Decode(format!("empty {action} answer")))
}
