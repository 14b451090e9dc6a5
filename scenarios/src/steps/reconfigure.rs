//! `reconfigure = { connector, features, service_account, display_name, import_key,
//! auto_update, co_installed }`: the connector's settings change (as its configuration tool
//! changes them), or, with `expect_error`, the change must be refused with that code.

use serde::Deserialize;
use service::domain::Feature;

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::setup::CO_INSTALLED;
use crate::spec::values::{features, one_of, service_account};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconfigureSpec {
    pub connector: String,
    pub features: Option<Vec<Feature>>,
    pub service_account: Option<String>,
    pub display_name: Option<String>,
    pub import_key: Option<bool>,
    pub auto_update: Option<bool>,
    pub co_installed: Option<Vec<String>>,
    pub expect_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReconfigure {
    connector: String,
    features: Option<Vec<String>>,
    service_account: Option<String>,
    display_name: Option<String>,
    import_key: Option<bool>,
    auto_update: Option<bool>,
    co_installed: Option<Vec<String>>,
    expect_error: Option<String>,
}

pub(crate) struct Reconfigure;

impl StepKind for Reconfigure {
    type Raw = RawReconfigure;
    type Spec = ReconfigureSpec;

    fn check(r: RawReconfigure, cx: &mut Check) -> Result<ReconfigureSpec, String> {
        cx.installed(&r.connector)?;
        let feature_list = match &r.features {
            // An empty list is allowed here only to expect its refusal.
            Some(f) if f.is_empty() && r.expect_error.is_some() => Some(vec![]),
            Some(f) => Some(features(f).map_err(|m| format!("reconfigure: {m}"))?),
            None => None,
        };
        for item in r.co_installed.iter().flatten() {
            one_of("co_installed", item, CO_INSTALLED).map_err(|m| format!("reconfigure: {m}"))?;
        }
        let service_account = match r.service_account {
            Some(a) => Some(service_account(Some(a)).map_err(|m| format!("reconfigure: {m}"))?),
            None => None,
        };
        Ok(ReconfigureSpec {
            connector: r.connector,
            features: feature_list,
            service_account,
            display_name: r.display_name,
            import_key: r.import_key,
            auto_update: r.auto_update,
            co_installed: r.co_installed,
            expect_error: r.expect_error,
        })
    }

    async fn run(r: &ReconfigureSpec, world: &mut World) -> Result<String, StepError> {
        let tenant_key = world
            .tenant_of
            .get(&r.connector)
            .and_then(|t| world.tenants.get(t))
            .and_then(|t| t.import_key_thumbprint.clone());
        let change = wire::connector::ReconfigureRequest {
            display_name: r.display_name.clone(),
            features: r
                .features
                .as_ref()
                .map(|f| f.iter().map(|f| f.as_str().to_owned()).collect()),
            service_account: r.service_account.clone(),
            proxy: None,
            import_key_thumbprint: r.import_key.map(|holds| {
                if holds {
                    tenant_key.unwrap_or_default()
                } else {
                    String::new()
                }
            }),
            auto_update: r.auto_update,
            co_installed_products: r.co_installed.clone(),
        };
        let answer = reconfigure(world, &r.connector, change, r.expect_error.as_deref()).await;
        if let (Some(holds), Some(pki)) = (r.import_key, &world.pki) {
            let key = if holds {
                world
                    .tenant_of
                    .get(&r.connector)
                    .and_then(|t| pki.import_key(t))
            } else {
                None
            };
            if let Some(bench) = world
                .connectors
                .get_mut(&r.connector)
                .and_then(|c| c.workbench_mut())
            {
                bench.import_key = key;
            }
        }
        world.hungry.insert(r.connector.clone());
        answer
    }
}

/// Sends the change; the answer must be the one `expect_error` says (none: accepted).
async fn reconfigure(
    world: &mut World,
    name: &str,
    change: wire::connector::ReconfigureRequest,
    expect_error: Option<&str>,
) -> Result<String, StepError> {
    let now = world.app.now();
    let outcome = world.connector_mut(name)?.reconfigure(&change, now).await;
    match (outcome, expect_error) {
        (Ok(view), None) => Ok(format!(
            "{name} reconfigured: features {}",
            view.features
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join("+")
        )),
        (Ok(_), Some(code)) => Err(mismatch(
            format!("reconfiguring `{name}` was expected to be refused"),
            code.to_owned(),
            "accepted (200)",
        )),
        (Err(e), Some(code)) if e.code() == Some(code) => {
            Ok(format!("{name} reconfigure refused as expected: {e}"))
        }
        (Err(e), Some(code)) => Err(mismatch(
            format!("reconfiguring `{name}` was refused differently"),
            code.to_owned(),
            e.to_string(),
        )),
        (Err(e), None) => Err(StepError::Harness(anyhow::anyhow!(
            "reconfiguring `{name}` failed: {e}"
        ))),
    }
}
