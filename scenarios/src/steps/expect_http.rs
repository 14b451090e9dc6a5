//! `expect_http = { connector, call, status, code }`: what the connector's call is answered
//! (`call`: `checkin` or `lease`; `health` and `update_check` are not supported yet).

use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::one_of_typed;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectHttp {
    pub connector: String,
    pub call: Call,
    pub status: u16,
    pub code: Option<String>,
}

/// A connector call an `expect_http` step makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Checkin,
    Lease,
    Health,
    UpdateCheck,
}

impl Call {
    pub const ALL: [Call; 4] = [Call::Checkin, Call::Lease, Call::Health, Call::UpdateCheck];

    pub fn as_str(&self) -> &'static str {
        match self {
            Call::Checkin => "checkin",
            Call::Lease => "lease",
            Call::Health => "health",
            Call::UpdateCheck => "update_check",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectHttp {
    connector: String,
    call: String,
    status: u16,
    code: Option<String>,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectHttp;
    type Spec = ExpectHttp;

    fn check(r: RawExpectHttp, cx: &mut Check) -> Result<ExpectHttp, String> {
        cx.installed(&r.connector)?;
        let call = one_of_typed("call", &r.call, &Call::ALL, Call::as_str)
            .map_err(|m| format!("expect_http: {m}"))?;
        if !(100..=599).contains(&r.status) {
            return Err(format!(
                "expect_http: status {} is not an HTTP status",
                r.status
            ));
        }
        Ok(ExpectHttp {
            connector: r.connector,
            call,
            status: r.status,
            code: r.code,
        })
    }

    async fn run(expect: &ExpectHttp, world: &mut World) -> Result<String, StepError> {
        let now = world.app.now();
        let call = expect.call.as_str();
        let outcome = match expect.call {
            Call::Checkin => world.connector_mut(&expect.connector)?.checkin(now).await,
            Call::Lease => world
                .connector_mut(&expect.connector)?
                .lease(1)
                .await
                .map(|_| ()),
            Call::Health => {
                return Err(StepError::NotSupported(
                    "health uploads arrive with issue 7",
                ))
            }
            Call::UpdateCheck => {
                return Err(StepError::NotSupported(
                    "the auto-update endpoint arrives with issue 7",
                ))
            }
        };
        let (status, code) = match &outcome {
            Ok(()) => (200u16, None),
            Err(e) => match e.status() {
                Some(s) => (s, e.code().map(str::to_owned)),
                None => {
                    return Err(StepError::Harness(anyhow::anyhow!(
                        "{} {call}: {e}",
                        expect.connector
                    )))
                }
            },
        };
        let actual = format!(
            "{status}{}",
            code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
        );
        let expected = format!(
            "{}{}",
            expect.status,
            expect
                .code
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        );
        let code_ok = expect
            .code
            .as_ref()
            .is_none_or(|want| code.as_ref() == Some(want));
        if status == expect.status && code_ok {
            Ok(format!("{} {call} → {actual}", expect.connector))
        } else {
            Err(mismatch(
                format!("{} {call} answered differently", expect.connector),
                expected,
                actual,
            ))
        }
    }
}
