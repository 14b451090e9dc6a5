//! `fault = { target, kind, status, delay, probability, count, duration, tenant, connector }`:
//! a fault rule on the service. Matching requests (`target = "service"`: every connector-facing
//! route; otherwise a path fragment) get an error status, a delay, or no answer at all.

use reqwest::Method;
use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::world::{StepError, World};
use crate::spec::values::{duration, one_of, DurationSpec};

#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    pub target: String,
    /// Only the calls of this tenant (its connectors, its Graph tokens).
    pub tenant: Option<String>,
    /// Only the calls of this connector.
    pub connector: Option<String>,
    pub kind: Option<String>,
    pub status: Option<u16>,
    pub probability: Option<f64>,
    pub count: Option<u32>,
    pub duration: Option<DurationSpec>,
    pub delay: Option<DurationSpec>,
}

/// What a `fault` step does to matching requests.
const FAULT_KINDS: &[&str] = &["status", "delay", "drop"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    target: String,
    tenant: Option<String>,
    connector: Option<String>,
    kind: Option<String>,
    status: Option<u16>,
    probability: Option<f64>,
    count: Option<u32>,
    duration: Option<String>,
    delay: Option<String>,
}

pub(crate) struct Fault;

impl StepKind for Fault {
    type Raw = RawFault;
    type Spec = FaultSpec;

    fn check(r: RawFault, cx: &mut Check) -> Result<FaultSpec, String> {
        let kind = r
            .kind
            .as_deref()
            .unwrap_or(if r.delay.is_some() { "delay" } else { "status" });
        one_of("kind", kind, FAULT_KINDS).map_err(|m| format!("fault: {m}"))?;
        if r.target.trim().is_empty() {
            return Err(
                "fault: target must be `service` or a path fragment (ScepActions/validateRequest)"
                    .into(),
            );
        }
        if r.probability.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err("fault: probability must be more than 0 and at most 1".into());
        }
        if r.count == Some(0) {
            return Err("fault: count must be at least 1".into());
        }
        match (kind, r.status, &r.delay) {
            ("status", Some(status), None) if (400..=599).contains(&status) => {}
            ("status", _, _) => {
                return Err(
                    "fault: kind `status` needs `status` (400 to 599) and no `delay`".into(),
                )
            }
            ("delay", None, Some(_)) => {}
            ("delay", _, _) => {
                return Err("fault: kind `delay` needs `delay` and no `status`".into())
            }
            ("drop", None, None) => {}
            _ => return Err("fault: kind `drop` takes no `status` or `delay`".into()),
        }
        if let Some(t) = &r.tenant {
            cx.tenant(t)?;
        }
        if let Some(c) = &r.connector {
            cx.installed(c)?;
        }
        let duration_of = |d: Option<String>, field: &str| {
            d.map(|t| duration(&t).map_err(|m| format!("fault: {field}: {m}")))
                .transpose()
        };
        Ok(FaultSpec {
            kind: Some(kind.to_owned()),
            target: r.target,
            tenant: r.tenant,
            connector: r.connector,
            status: r.status,
            probability: r.probability,
            count: r.count,
            duration: duration_of(r.duration, "duration")?,
            delay: duration_of(r.delay, "delay")?,
        })
    }

    /// Adds the rule on the service.
    async fn run(spec: &FaultSpec, world: &mut World) -> Result<String, StepError> {
        let route = if spec.target == "service" {
            "*"
        } else {
            spec.target.as_str()
        };
        let now = world.app.now();
        let millis = |d: &DurationSpec| Some((d.add_to(now) - now).num_milliseconds());
        let duration_seconds = match &spec.duration {
            Some(d) => Some(
                millis(d).filter(|ms| *ms >= 1000).ok_or_else(|| {
                    StepError::Invalid("fault: duration must be at least one second".into())
                })? / 1000,
            ),
            None => None,
        };
        let delay_ms = match &spec.delay {
            Some(d) => Some(
                millis(d)
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| StepError::Invalid("fault: delay must be positive".into()))?,
            ),
            None => None,
        };
        let tenant_id = match &spec.tenant {
            Some(name) => Some(world.tenant(name)?.id.clone()),
            None => None,
        };
        let connector_id = match &spec.connector {
            Some(name) => Some(world.connector(name)?.id().to_owned()),
            None => None,
        };
        let body = serde_json::json!({
            "route": route,
            "tenantId": tenant_id,
            "connectorId": connector_id,
            "drop": (spec.kind.as_deref() == Some("drop")).then_some(true),
            "status": spec.status,
            "delayMs": delay_ms,
            "count": spec.count,
            "durationSeconds": duration_seconds,
            "probability": spec.probability,
        });
        let answer = world
            .app
            .admin(Method::POST, "/admin/faults", Some(&body))
            .await?;
        if answer.status != 201 {
            return Err(StepError::Invalid(format!(
                "fault: the service refused the rule ({}): {}",
                answer.status, answer.body
            )));
        }
        Ok(format!("fault on `{route}`: {body}"))
    }
}
