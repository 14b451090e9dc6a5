//! `expect_status = { connector, status, reasons, support_ends, function_ends }`: the connector's
//! status as the service shows it. `reasons` (optional) compare as a set; the end dates are
//! optional.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use service::domain::{ReasonCode, Status};

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, stamp, StepError, World};
use crate::spec::values::{instant, one_of_typed, reasons};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectStatus {
    pub connector: String,
    pub status: Status,
    pub reasons: Option<Vec<ReasonCode>>,
    pub support_ends: Option<DateTime<Utc>>,
    pub function_ends: Option<DateTime<Utc>>,
}

/// The statuses, in the order error messages list them.
pub(super) const STATUSES: [Status; 3] = [Status::Healthy, Status::Warning, Status::Error];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectStatus {
    connector: String,
    status: String,
    reasons: Option<Vec<String>>,
    support_ends: Option<toml::Value>,
    function_ends: Option<toml::Value>,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectStatus;
    type Spec = ExpectStatus;

    fn check(r: RawExpectStatus, cx: &mut Check) -> Result<ExpectStatus, String> {
        cx.installed(&r.connector)?;
        let status = one_of_typed("status", &r.status, &STATUSES, Status::as_str)
            .map_err(|m| format!("expect_status: {m}"))?;
        let reason_list = r
            .reasons
            .as_deref()
            .map(reasons)
            .transpose()
            .map_err(|m| format!("expect_status: {m}"))?;
        let date_of = |v: Option<toml::Value>, field: &str| {
            v.map(|v| instant(&v, false).map_err(|m| format!("expect_status: {field}: {m}")))
                .transpose()
        };
        Ok(ExpectStatus {
            connector: r.connector,
            status,
            reasons: reason_list,
            support_ends: date_of(r.support_ends, "support_ends")?,
            function_ends: date_of(r.function_ends, "function_ends")?,
        })
    }

    async fn run(expect: &ExpectStatus, world: &mut World) -> Result<String, StepError> {
        let status: wire::admin::ConnectorStatus =
            read_connector(world, &expect.connector, "status").await?;
        let actual_status = format!("{:?}", status.status).to_lowercase();
        let actual_reasons = sorted(status.reasons.iter().map(|r| r.code.clone()).collect());
        let actual = format!("{actual_status} {actual_reasons:?}");
        let mut problems = Vec::new();
        if actual_status != expect.status.as_str() {
            problems.push("status");
        }
        let mut expected = expect.status.as_str().to_owned();
        if let Some(reasons) = &expect.reasons {
            let want = sorted(names(reasons));
            if want != actual_reasons {
                problems.push("reasons");
            }
            expected = format!("{expected} {want:?}");
        } else {
            expected.push_str(" (any reasons)");
        }
        let mut actual_full = actual.clone();
        for (label, want, got) in [
            (
                "supportEndsDateTime",
                &expect.support_ends,
                status.support_ends_date_time,
            ),
            (
                "functionEndsDateTime",
                &expect.function_ends,
                status.function_ends_date_time,
            ),
        ] {
            if let Some(want) = want {
                expected.push_str(&format!(" {label}={}", stamp(*want)));
                actual_full.push_str(&format!(
                    " {label}={}",
                    got.map(stamp).unwrap_or_else(|| "none".into())
                ));
                if got != Some(*want) {
                    problems.push(label);
                }
            }
        }
        if problems.is_empty() {
            Ok(format!("{} is {actual}", expect.connector))
        } else {
            Err(mismatch(
                format!(
                    "status of `{}` differs in {}",
                    expect.connector,
                    problems.join(", ")
                ),
                expected,
                actual_full,
            ))
        }
    }
}

/// What the admin API shows of connector `name` under `what` (`status`, `history`).
pub(super) async fn read_connector<T: DeserializeOwned>(
    world: &World,
    name: &str,
    what: &str,
) -> Result<T, StepError> {
    let connector = world.connector(name)?;
    let tenant = world.connector_tenant(name)?;
    let path = format!(
        "/admin/tenants/{}/connectors/{}/{what}",
        tenant.id,
        connector.id()
    );
    let answer = world.app.admin_get(&path).await?;
    if answer.status != 200 {
        return Err(StepError::Harness(anyhow::anyhow!(
            "reading the {what} of `{name}` answered {}: {}",
            answer.status,
            answer.body
        )));
    }
    Ok(answer.parse()?)
}

/// Reason codes as the wire spells them.
pub(super) fn names(reasons: &[ReasonCode]) -> Vec<String> {
    reasons.iter().map(|r| r.as_str().to_owned()).collect()
}

/// Sorted by their text and without repeats: reasons compare as a set.
pub(super) fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}
