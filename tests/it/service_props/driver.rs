//! The service under test, driven over HTTP the way the scenario runner's simulated connectors
//! drive it (the same wire bodies; a check-in claims no presence before itself), with every
//! answer, status, reason and history compared with what the model expects.

use std::collections::BTreeMap;

use lifecycle::{Feature, Refusal};
use reqwest::Method;
use scenarios::harness::{spawn_app, TestApp};
use serde_json::Value;

use super::{answer_text, stamp, Case, Expected, Step, AD_CONNECTOR};
use crate::support::SEED;

/// The service under test, driven the way the scenario runner's connectors would be.
pub struct Driver {
    pub app: TestApp,
    tenant: wire::admin::Tenant,
    /// name → (id, credential, version)
    connectors: BTreeMap<String, (String, String, String)>,
}

/// A call's outcome as `200` or `403 Code`.
fn outcome(status: u16, body: &Value) -> String {
    match body.pointer("/error/code").and_then(Value::as_str) {
        Some(code) if status >= 400 => format!("{status} {code}"),
        _ => format!("{status}"),
    }
}

fn expected_outcome(ok: u16, refused: Option<Refusal>) -> String {
    match refused {
        Some(r) => format!("403 {}", r.code()),
        None => format!("{ok}"),
    }
}

impl Driver {
    pub async fn start(case: &Case) -> Result<Driver, String> {
        let app = spawn_app(case.start, SEED)
            .await
            .map_err(|e| format!("the service starts: {e}"))?;
        let tenant = app
            .create_tenant("contoso", Some(case.rollout_delay_days))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Driver {
            app,
            tenant,
            connectors: BTreeMap::new(),
        })
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        name: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let (_, credential, _) = &self.connectors[name];
        let answer = self
            .app
            .request(method, path, Some(credential), body)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        Ok((answer.status, answer.body))
    }

    async fn checkin(&self, name: &str) -> Result<String, String> {
        let (_, _, v) = &self.connectors[name];
        let body = serde_json::to_value(wire::connector::CheckinRequest {
            version: v.clone(),
            active_since: None,
        })
        .map_err(|e| e.to_string())?;
        let (status, body) = self
            .call(Method::POST, "/connector/v1/checkin", name, Some(&body))
            .await?;
        Ok(outcome(status, &body))
    }

    /// Sends the step; `Err` says how a call's answer differs from the model's.
    pub async fn send(&mut self, step: &Step) -> Result<(), String> {
        let (what, expected, got) = match step {
            Step::Publish { version, date } => {
                let body = wire::admin::PublishRelease {
                    version: version.to_string(),
                    released_date_time: stamp(*date),
                };
                let answer = self
                    .app
                    .admin(Method::POST, "/admin/releases", Some(&body))
                    .await
                    .map_err(|e| e.to_string())?;
                (
                    "publishing",
                    "201".to_owned(),
                    outcome(answer.status, &answer.body),
                )
            }
            Step::Install {
                name,
                machine,
                version,
                product,
                ad,
                refused,
            } => {
                let body = wire::connector::RegisterRequest {
                    machine_name: machine.clone(),
                    display_name: name.clone(),
                    features: vec![Feature::Pkcs.as_str().to_owned()],
                    version: version.to_string(),
                    product: Some(product.as_str().to_owned()),
                    service_account: Some("SYSTEM".into()),
                    co_installed_products: ad.then(|| vec![AD_CONNECTOR.to_owned()]),
                    auto_update: Some(false),
                    proxy: None,
                    import_key_thumbprint: None,
                };
                let secret = self.tenant.enrollment_secret.clone().unwrap_or_default();
                let answer = self
                    .app
                    .request(
                        Method::POST,
                        "/connector/v1/register",
                        Some(&secret),
                        Some(&body),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let got = outcome(answer.status, &answer.body);
                if answer.status == 201 {
                    let field = |k: &str| answer.body[k].as_str().unwrap_or_default().to_owned();
                    self.connectors.insert(
                        name.clone(),
                        (
                            field("connectorId"),
                            field("credential"),
                            version.to_string(),
                        ),
                    );
                    // The first check-in right after the installation.
                    let first = self.checkin(name).await?;
                    if first != "200" {
                        return Err(format!("the first check-in of {name} answered {first}"));
                    }
                }
                ("installing", expected_outcome(201, *refused), got)
            }
            Step::Reconfigure { name, ad, refused } => {
                let change = wire::connector::ReconfigureRequest {
                    display_name: None,
                    features: None,
                    service_account: None,
                    proxy: None,
                    import_key_thumbprint: None,
                    auto_update: None,
                    co_installed_products: Some(if *ad {
                        vec![AD_CONNECTOR.to_owned()]
                    } else {
                        vec![]
                    }),
                };
                let body = serde_json::to_value(change).map_err(|e| e.to_string())?;
                let (status, body) = self
                    .call(Method::PATCH, "/connector/v1/self", name, Some(&body))
                    .await?;
                (
                    "reconfiguring",
                    expected_outcome(200, *refused),
                    outcome(status, &body),
                )
            }
            Step::Uninstall { name } => {
                let (status, body) = self
                    .call(Method::DELETE, "/connector/v1/self", name, None)
                    .await?;
                self.connectors.remove(name);
                let ok = if status == 204 {
                    "204".to_owned()
                } else {
                    outcome(status, &body)
                };
                ("uninstalling", "204".to_owned(), ok)
            }
            Step::Checkin { name, refused } => {
                let got = self.checkin(name).await?;
                ("checking in", expected_outcome(200, *refused), got)
            }
            Step::At(to) => {
                let answer = self
                    .app
                    .admin(
                        Method::POST,
                        "/admin/clock",
                        Some(&serde_json::json!({ "set": stamp(*to) })),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                (
                    "moving the clock",
                    "200".to_owned(),
                    outcome(answer.status, &answer.body),
                )
            }
        };
        if expected == got {
            Ok(())
        } else {
            Err(format!(
                "{what} answered {got}, the model expects {expected}"
            ))
        }
    }

    /// Status, reasons and history of every installed connector, against the model.
    pub async fn compare(&self, expected: &[Expected]) -> Result<(), String> {
        // The tenant's connectors as the service lists them, against the model's.
        let listed = self
            .app
            .admin_get(&format!("/admin/tenants/{}/connectors", self.tenant.id))
            .await
            .map_err(|e| e.to_string())?;
        let mut ids: Vec<&str> = listed.body["value"]
            .as_array()
            .map(|v| v.iter().filter_map(|c| c["id"].as_str()).collect())
            .unwrap_or_default();
        ids.sort_unstable();
        let mut wanted: Vec<&str> = Vec::new();
        for e in expected {
            match self.connectors.get(&e.name) {
                Some((id, _, _)) => wanted.push(id),
                None => return Err(format!("{} is not installed, the model has it", e.name)),
            }
        }
        wanted.sort_unstable();
        if ids != wanted {
            return Err(format!(
                "the service lists {ids:?}, the model has {wanted:?}"
            ));
        }
        for e in expected {
            let (id, _, _) = &self.connectors[&e.name];
            let base = format!("/admin/tenants/{}/connectors/{id}", self.tenant.id);
            let status = self
                .app
                .admin_get(&format!("{base}/status"))
                .await
                .map_err(|e| e.to_string())?;
            let got = (
                status.body["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                status.body["reasons"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .map(|r| r["code"].as_str().unwrap_or_default().to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            );
            let want = answer_text(&e.answer);
            if got != want {
                return Err(format!(
                    "{}: status {got:?}, the model expects {want:?}",
                    e.name
                ));
            }
            let history = self
                .app
                .admin_get(&format!("{base}/history"))
                .await
                .map_err(|e| e.to_string())?;
            let got: Vec<String> = history.body["value"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|h| {
                            format!(
                                "{} {} {}",
                                h["dateTime"].as_str().unwrap_or_default(),
                                h["status"].as_str().unwrap_or_default(),
                                h["reasons"]
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let want: Vec<String> = e
                .history
                .iter()
                .map(|h| {
                    let (status, reasons) = answer_text(&h.answer);
                    format!("{} {status} {}", stamp(h.at), serde_json::json!(reasons))
                })
                .collect();
            if got != want {
                return Err(format!(
                    "{}: history\n  {}\nthe model expects\n  {}",
                    e.name,
                    got.join("\n  "),
                    want.join("\n  ")
                ));
            }
        }
        Ok(())
    }
}
