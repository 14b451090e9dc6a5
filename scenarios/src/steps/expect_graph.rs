//! `expect_graph = { tenant, path, pointer, equals }`: a value in a Graph answer. The call
//! carries a token from the tenant's token endpoint; `{id:NAME}` and `{tenant:NAME}` in `path`
//! and in a string `equals` are replaced with ids; `pointer` is a JSON pointer; `equals` is any
//! TOML value, compared as JSON (numbers by value).

use reqwest::Method;
use serde::Deserialize;

use super::kind::{Check, StepKind};
use crate::runner::world::{mismatch, StepError, World};
use crate::spec::values::to_json;

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectGraph {
    pub tenant: String,
    pub path: String,
    pub pointer: String,
    pub equals: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpectGraph {
    tenant: String,
    path: String,
    pointer: String,
    equals: toml::Value,
}

pub(crate) struct Expect;

impl StepKind for Expect {
    type Raw = RawExpectGraph;
    type Spec = ExpectGraph;

    fn check(r: RawExpectGraph, cx: &mut Check) -> Result<ExpectGraph, String> {
        cx.tenant(&r.tenant)?;
        if !r.path.starts_with('/') {
            return Err(format!("expect_graph: path `{}` must start with /", r.path));
        }
        if !(r.pointer.is_empty() || r.pointer.starts_with('/')) {
            return Err(format!(
                "expect_graph: pointer `{}` must be empty or start with / (a JSON pointer)",
                r.pointer
            ));
        }
        Ok(ExpectGraph {
            tenant: r.tenant,
            path: r.path,
            pointer: r.pointer,
            equals: to_json(&r.equals),
        })
    }

    async fn run(expect: &ExpectGraph, world: &mut World) -> Result<String, StepError> {
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
