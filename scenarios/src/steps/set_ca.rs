//! `set_ca = { ca, available, deny_enroll, allow_enroll }`: a certification authority goes down
//! or comes back, or accounts lose or get the Enroll permission on the embedded CA's templates.

use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::world::{PkiNeed, StepError, World};
use crate::spec::values::service_account;

/// Makes a certification authority reachable or not (`ca` is a name of [`CA_NAMES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCaSpec {
    pub ca: String,
    pub available: Option<bool>,
    /// Accounts that lose / get the Enroll permission on the CA's templates (embedded CA only).
    pub deny_enroll: Vec<String>,
    pub allow_enroll: Vec<String>,
}

/// The certification authorities every scenario has: an embedded Microsoft-CA-like issuer and
/// a DigiCert-like CA service reached over HTTP.
pub const CA_NAMES: &[&str] = &["ca01.contoso.com\\Contoso Issuing CA", "DigiCert"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSetCa {
    ca: String,
    available: Option<bool>,
    #[serde(default)]
    deny_enroll: Vec<String>,
    #[serde(default)]
    allow_enroll: Vec<String>,
}

pub(crate) struct SetCa;

impl StepKind for SetCa {
    type Raw = RawSetCa;
    type Spec = SetCaSpec;

    fn check(r: RawSetCa, _cx: &mut Check) -> Result<SetCaSpec, String> {
        let ca = CA_NAMES
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&r.ca))
            .ok_or_else(|| {
                format!(
                    "set_ca: ca `{}` is not one of {}",
                    r.ca,
                    CA_NAMES.join(", ")
                )
            })?;
        if r.available.is_none() && r.deny_enroll.is_empty() && r.allow_enroll.is_empty() {
            return Err("set_ca: give `available`, `deny_enroll` or `allow_enroll`".into());
        }
        if (!r.deny_enroll.is_empty() || !r.allow_enroll.is_empty())
            && !ca.eq_ignore_ascii_case(CA_NAMES[0])
        {
            return Err(format!(
                "set_ca: `{ca}` is reached with an API key; only `{}` has template permissions",
                CA_NAMES[0]
            ));
        }
        for account in r.deny_enroll.iter().chain(&r.allow_enroll) {
            service_account(Some(account.clone())).map_err(|m| format!("set_ca: {m}"))?;
        }
        Ok(SetCaSpec {
            ca: ca.to_string(),
            available: r.available,
            deny_enroll: r.deny_enroll,
            allow_enroll: r.allow_enroll,
        })
    }

    async fn run(set: &SetCaSpec, world: &mut World) -> Result<String, StepError> {
        let ca = world
            .pki
            .as_ref()
            .and_then(|p| p.ca(&set.ca))
            .ok_or_else(|| StepError::Invalid(format!("no CA `{}`", set.ca)))?;
        let mut said = Vec::new();
        {
            let mut ca = ca.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(available) = set.available {
                ca.available = available;
                said.push(if available { "up" } else { "down" }.to_owned());
            }
            for account in &set.deny_enroll {
                ca.set_enroll_permission(account, false);
                said.push(format!("{account} may not enroll"));
            }
            for account in &set.allow_enroll {
                ca.set_enroll_permission(account, true);
                said.push(format!("{account} may enroll"));
            }
        }
        if set.available == Some(true) || !set.allow_enroll.is_empty() {
            world.hungry.extend(world.connectors.keys().cloned());
        }
        Ok(format!("CA `{}`: {}", set.ca, said.join(", ")))
    }

    fn pki(_set: &SetCaSpec) -> PkiNeed {
        PkiNeed::Cas
    }
}
