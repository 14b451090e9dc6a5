//! Expectation steps: each reads the service (or makes a connector call) and compares with the
//! values written in the scenario. A difference is a `Mismatch` with expected and actual text.

use reqwest::Method;

use super::world::{mismatch, stamp, StepError, World};
use crate::spec::{ExpectEvents, ExpectGraph, ExpectHistory, ExpectHttp, ExpectJobs, ExpectStatus};

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items.dedup();
    items
}

pub(super) async fn status(world: &mut World, expect: &ExpectStatus) -> Result<String, StepError> {
    let connector = world.connector(&expect.connector)?;
    let tenant = world.connector_tenant(&expect.connector)?;
    let path = format!(
        "/admin/tenants/{}/connectors/{}/status",
        tenant.id,
        connector.id()
    );
    let answer = world.app.admin_get(&path).await?;
    if answer.status != 200 {
        return Err(StepError::Harness(anyhow::anyhow!(
            "reading the status of `{}` answered {}: {}",
            expect.connector,
            answer.status,
            answer.body
        )));
    }
    let status: wire::admin::ConnectorStatus = answer.parse()?;
    let actual_status = format!("{:?}", status.status).to_lowercase();
    let actual_reasons = sorted(status.reasons.iter().map(|r| r.code.clone()).collect());
    let actual = format!("{actual_status} {actual_reasons:?}");
    let mut problems = Vec::new();
    if actual_status != expect.status {
        problems.push("status");
    }
    let mut expected = expect.status.clone();
    if let Some(reasons) = &expect.reasons {
        let want = sorted(reasons.clone());
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

/// Replaces `{id:NAME}` with the id of connector NAME and `{tenant:NAME}` with the id of tenant
/// NAME, so paths and values can name what the scenario declared.
fn substitute(world: &World, text: &str) -> Result<String, StepError> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let (replacement, consumed) = match after.split_once('}') {
            Some((inner, _)) if inner.starts_with("id:") => (
                world.connector(&inner[3..])?.id().to_owned(),
                inner.len() + 1,
            ),
            Some((inner, _)) if inner.starts_with("tenant:") => {
                (world.tenant(&inner[7..])?.id.clone(), inner.len() + 1)
            }
            _ => ("{".to_owned(), 0),
        };
        out.push_str(&replacement);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => x.as_f64() == y.as_f64(),
        (serde_json::Value::Array(x), serde_json::Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

pub(super) async fn graph(world: &mut World, expect: &ExpectGraph) -> Result<String, StepError> {
    let tenant = world.tenant(&expect.tenant)?.clone();
    let path = substitute(world, &expect.path)?;
    let token = world.app.graph_token(&tenant).await?;
    let answer = world
        .app
        .request::<()>(Method::GET, &path, Some(&token), None)
        .await?;
    let equals = match &expect.equals {
        serde_json::Value::String(s) => serde_json::Value::String(substitute(world, s)?),
        other => other.clone(),
    };
    let actual = answer.body.pointer(&expect.pointer);
    match actual {
        Some(value) if json_equal(value, &equals) => Ok(format!(
            "GET {} {} = {}",
            expect.path, expect.pointer, value
        )),
        Some(value) => Err(mismatch(
            format!(
                "GET {} (HTTP {}) at `{}`",
                expect.path, answer.status, expect.pointer
            ),
            equals.to_string(),
            value.to_string(),
        )),
        None => Err(mismatch(
            format!(
                "GET {} (HTTP {}) has nothing at `{}`",
                expect.path, answer.status, expect.pointer
            ),
            equals.to_string(),
            format!("(absent) in {}", answer.body),
        )),
    }
}

pub(super) async fn http(world: &mut World, expect: &ExpectHttp) -> Result<String, StepError> {
    let now = world.app.now();
    let outcome = match expect.call.as_str() {
        "checkin" => world.connector_mut(&expect.connector)?.checkin(now).await,
        "lease" => world
            .connector_mut(&expect.connector)?
            .lease(1)
            .await
            .map(|_| ()),
        "health" => {
            return Err(StepError::NotSupported(
                "health uploads arrive with issue 7",
            ))
        }
        "update_check" => {
            return Err(StepError::NotSupported(
                "the auto-update endpoint arrives with issue 7",
            ))
        }
        other => return Err(StepError::Invalid(format!("unknown call `{other}`"))),
    };
    let (status, code) = match &outcome {
        Ok(()) => (200u16, None),
        Err(e) => match e.status() {
            Some(s) => (s, e.code().map(str::to_owned)),
            None => {
                return Err(StepError::Harness(anyhow::anyhow!(
                    "{} {}: {e}",
                    expect.connector,
                    expect.call
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
        Ok(format!("{} {} → {actual}", expect.connector, expect.call))
    } else {
        Err(mismatch(
            format!("{} {} answered differently", expect.connector, expect.call),
            expected,
            actual,
        ))
    }
}

pub(super) async fn history(
    world: &mut World,
    expect: &ExpectHistory,
) -> Result<String, StepError> {
    let connector = world.connector(&expect.connector)?;
    let tenant = world.connector_tenant(&expect.connector)?;
    let path = format!(
        "/admin/tenants/{}/connectors/{}/history",
        tenant.id,
        connector.id()
    );
    let answer = world.app.admin_get(&path).await?;
    if answer.status != 200 {
        return Err(StepError::Harness(anyhow::anyhow!(
            "reading the history of `{}` answered {}: {}",
            expect.connector,
            answer.status,
            answer.body
        )));
    }
    let history: wire::admin::Collection<wire::admin::StatusChange> = answer.parse()?;
    let render = |at: &str, status: &str, reasons: Vec<String>| {
        format!("{at} {status} {:?}", sorted(reasons))
    };
    let actual: Vec<String> = history
        .value
        .iter()
        .map(|c| {
            render(
                &stamp(c.date_time),
                &format!("{:?}", c.status).to_lowercase(),
                c.reasons.clone(),
            )
        })
        .collect();
    let expected: Vec<String> = expect
        .entries
        .iter()
        .map(|e| render(&stamp(e.at), &e.status, e.reasons.clone()))
        .collect();
    if actual == expected {
        Ok(format!(
            "{} has {} recorded changes as expected",
            expect.connector,
            actual.len()
        ))
    } else {
        Err(mismatch(
            format!("history of `{}` differs", expect.connector),
            expected.join("\n"),
            actual.join("\n"),
        ))
    }
}

pub(super) async fn jobs(world: &mut World, expect: &ExpectJobs) -> Result<String, StepError> {
    let tenant = world.tenant(&expect.tenant)?.id.clone();
    let mut path = format!("/admin/tenants/{tenant}/jobs?top=1&state={}", expect.state);
    if let Some(kind) = &expect.kind {
        path.push_str(&format!("&kind={kind}"));
    }
    let answer = world.app.admin_get(&path).await?;
    let count = answer.body["count"].as_u64().ok_or_else(|| {
        StepError::Harness(anyhow::anyhow!(
            "GET {path} answered {}: {}",
            answer.status,
            answer.body
        ))
    })?;
    let what = format!(
        "{} jobs{} in state {}",
        expect.tenant,
        expect
            .kind
            .as_deref()
            .map(|k| format!(" of kind {k}"))
            .unwrap_or_default(),
        expect.state
    );
    if count == u64::from(expect.count) {
        Ok(format!("{what}: {count}"))
    } else {
        Err(mismatch(
            format!("count of {what}"),
            expect.count.to_string(),
            count.to_string(),
        ))
    }
}

/// Counts a connector's event-log records with an event ID (and channel).
pub(super) fn events(world: &mut World, expect: &ExpectEvents) -> Result<String, StepError> {
    use connector_sim::events::{lookup, Channel};
    let id = u16::try_from(expect.event_id)
        .ok()
        .filter(|id| lookup(*id).is_some())
        .ok_or_else(|| {
            StepError::Invalid(format!(
                "event {} is not an event the docs list",
                expect.event_id
            ))
        })?;
    let channel = match expect.channel.as_deref() {
        Some("Admin") => Some(Channel::Admin),
        Some("Operational") => Some(Channel::Operational),
        _ => None,
    };
    if let (Some(wanted), Some(def)) = (channel, lookup(id)) {
        if def.channel != wanted {
            return Err(StepError::Invalid(format!(
                "event {id} ({}) is written to the {} channel, not {}",
                def.name,
                def.channel.as_str(),
                wanted.as_str()
            )));
        }
    }
    let name = lookup(id).map(|d| d.name).unwrap_or_default();
    let count = world.connector(&expect.connector)?.log().count(id, channel);
    let what = format!("{} event {id} {name}", expect.connector);
    match (expect.count, expect.min) {
        (Some(n), _) if count != n as usize => Err(mismatch(
            format!("count of {what}"),
            n.to_string(),
            count.to_string(),
        )),
        (_, Some(n)) if count < n as usize => Err(mismatch(
            format!("count of {what}"),
            format!("at least {n}"),
            count.to_string(),
        )),
        _ => Ok(format!("{what}: {count}")),
    }
}

/// A connector's log files: archived files of a channel, Debug records.
pub(super) fn log_files(
    world: &mut World,
    expect: &crate::spec::ExpectLog,
) -> Result<String, StepError> {
    let connector = world.connector(&expect.connector)?;
    let log = connector.log();
    let dir = log.dir().ok_or_else(|| {
        StepError::Invalid(format!(
            "connector `{}` keeps its log in memory; give it log_max_bytes, log_archives or log_debug",
            expect.connector
        ))
    })?;
    let mut said = Vec::new();
    if let Some(wanted) = expect.archives {
        let prefix = format!("Archive-{}-", expect.channel);
        let archives = std::fs::read_dir(dir)
            .map_err(anyhow::Error::from)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .count();
        if archives != wanted as usize {
            return Err(mismatch(
                format!(
                    "archived {} log files of {}",
                    expect.channel, expect.connector
                ),
                wanted.to_string(),
                archives.to_string(),
            ));
        }
        said.push(format!("{archives} archived {} files", expect.channel));
    }
    if let Some(min) = expect.debug_min {
        let channel = match expect.channel.as_str() {
            "Admin" => connector_sim::events::Channel::Admin,
            _ => connector_sim::events::Channel::Operational,
        };
        let count = log.count(0, Some(channel));
        if count < min as usize {
            return Err(mismatch(
                format!(
                    "Debug records in the {} log of {}",
                    expect.channel, expect.connector
                ),
                format!("at least {min}"),
                count.to_string(),
            ));
        }
        said.push(format!("{count} Debug records"));
    }
    Ok(format!("{}: {}", expect.connector, said.join(", ")))
}
