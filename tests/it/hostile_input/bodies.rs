//! Hostile bodies: JSON and form bodies mutated node by node (removed, retyped, made huge or
//! deep, cut, or not JSON at all) on every route that reads one.

use super::*;

// ----- body mutations ---------------------------------------------------------------------------

/// One step into a JSON value: an object key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node below the root that is not null, with its path.
fn nodes(value: &Value) -> Vec<(Vec<Step>, Value)> {
    fn walk(value: &Value, path: &mut Vec<Step>, out: &mut Vec<(Vec<Step>, Value)>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(Step::Key(k.clone()));
                    if !v.is_null() {
                        out.push((path.clone(), v.clone()));
                    }
                    walk(v, path, out);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    if !v.is_null() {
                        out.push((path.clone(), v.clone()));
                    }
                    walk(v, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

/// How the rendered text differs from the value: a node written as raw text, or an object member
/// written twice (the second time with raw text).
enum Edit<'a> {
    Replace(&'a [Step], &'a str),
    Duplicate(&'a [Step], &'a str),
}

/// Writes `value` as JSON text with `edit` applied.
fn render(value: &Value, edit: &Edit<'_>) -> String {
    fn write(value: &Value, path: &mut Vec<Step>, edit: &Edit<'_>, out: &mut String) {
        if let Edit::Replace(target, raw) = edit {
            if path.as_slice() == *target {
                out.push_str(raw);
                return;
            }
        }
        match value {
            Value::Object(map) => {
                out.push('{');
                let mut first = true;
                for (k, v) in map {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    path.push(Step::Key(k.clone()));
                    write(v, path, edit, out);
                    if let Edit::Duplicate(target, raw) = edit {
                        if path.as_slice() == *target {
                            out.push(',');
                            out.push_str(&serde_json::to_string(k).unwrap());
                            out.push(':');
                            out.push_str(raw);
                        }
                    }
                    path.pop();
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    path.push(Step::Index(i));
                    write(v, path, edit, out);
                    path.pop();
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut Vec::new(), edit, &mut out);
    out
}

/// A hostile change to a valid body.
#[derive(Debug, Clone)]
enum Mutation {
    /// A node replaced by a value of another JSON type.
    WrongType { node: usize, pick: usize },
    /// A node replaced by a 100 KB string.
    HugeString { node: usize, multibyte: bool },
    /// A node (or the whole body) replaced by arrays or objects nested 10,000 deep.
    DeepNesting { node: Option<usize>, objects: bool },
    /// Bytes that are not UTF-8, inserted into the text.
    InvalidUtf8 { at: usize, pick: usize },
    /// An object member written twice, the second time with another value.
    DuplicateKey { node: usize, pick: usize },
    /// The text cut short.
    Truncate { at: usize },
    /// Random bytes instead of the body.
    RandomBytes(Vec<u8>),
    /// A NUL: as a raw byte in the text, or escaped inside a string node.
    Nul { node: usize, at: usize, raw: bool },
    /// A node replaced by a number no field holds.
    HugeNumber { node: usize, pick: usize },
    /// A node replaced by a negative number.
    NegativeNumber { node: usize, pick: usize },
    /// The valid body with a content type that is not JSON.
    NotJson { pick: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = any::<usize>();
    prop_oneof![
        2 => (n, 0..4usize).prop_map(|(node, pick)| Mutation::WrongType { node, pick }),
        2 => (n, any::<bool>()).prop_map(|(node, multibyte)| Mutation::HugeString { node, multibyte }),
        1 => (proptest::option::of(n), any::<bool>()).prop_map(|(node, objects)| Mutation::DeepNesting { node, objects }),
        1 => (n, 0..4usize).prop_map(|(at, pick)| Mutation::InvalidUtf8 { at, pick }),
        2 => (n, 0..4usize).prop_map(|(node, pick)| Mutation::DuplicateKey { node, pick }),
        1 => n.prop_map(|at| Mutation::Truncate { at }),
        1 => proptest::collection::vec(any::<u8>(), 0..512).prop_map(Mutation::RandomBytes),
        2 => (n, n, any::<bool>()).prop_map(|(node, at, raw)| Mutation::Nul { node, at, raw }),
        2 => (n, 0..5usize).prop_map(|(node, pick)| Mutation::HugeNumber { node, pick }),
        2 => (n, 0..3usize).prop_map(|(node, pick)| Mutation::NegativeNumber { node, pick }),
        1 => (0..3usize).prop_map(|pick| Mutation::NotJson { pick }),
    ]
}

fn deep(objects: bool) -> String {
    const DEPTH: usize = 10_000;
    if objects {
        format!("{}1{}", "{\"a\":".repeat(DEPTH), "}".repeat(DEPTH))
    } else {
        format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH))
    }
}

fn wrong_type(value: &Value, pick: usize) -> String {
    let choices: &[&str] = match value {
        Value::String(_) => &["42", "true", "[\"x\"]", "{\"x\":1}"],
        Value::Number(_) => &["\"12\"", "false", "[1]", "{}"],
        Value::Bool(_) => &["\"true\"", "1", "[]", "{\"b\":true}"],
        Value::Array(_) => &["\"x\"", "{}", "7", "true"],
        Value::Object(_) => &["[]", "\"x\"", "3", "false"],
        Value::Null => &["\"x\""],
    };
    choices[pick % choices.len()].to_owned()
}

/// The bytes and content type `mutation` makes of `body`.
fn apply(body: &Value, mutation: &Mutation) -> (Vec<u8>, &'static str) {
    const JSON: &str = "application/json";
    let all = nodes(body);
    let node = |i: usize| &all[i % all.len()];
    let text = body.to_string();
    let bytes = match mutation {
        Mutation::WrongType { node: i, pick } => {
            let (path, value) = node(*i);
            render(body, &Edit::Replace(path, &wrong_type(value, *pick)))
        }
        Mutation::HugeString { node: i, multibyte } => {
            let unit = if *multibyte { "é" } else { "A" };
            let huge = format!("\"{}\"", unit.repeat(100 * 1024 / unit.len()));
            render(body, &Edit::Replace(&node(*i).0, &huge))
        }
        Mutation::DeepNesting {
            node: None,
            objects,
        } => deep(*objects),
        Mutation::DeepNesting {
            node: Some(i),
            objects,
        } => render(body, &Edit::Replace(&node(*i).0, &deep(*objects))),
        Mutation::InvalidUtf8 { at, pick } => {
            let bad: &[&[u8]] = &[b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x80abc"];
            let mut out = text.into_bytes();
            let at = at % (out.len() + 1);
            out.splice(at..at, bad[pick % bad.len()].iter().copied());
            return (out, JSON);
        }
        Mutation::DuplicateKey { node: i, pick } => {
            let members: Vec<_> = all
                .iter()
                .filter(|(p, _)| matches!(p.last(), Some(Step::Key(_))))
                .collect();
            let (path, value) = members[i % members.len()];
            let second = match pick % 4 {
                0 => value.to_string(),
                _ => wrong_type(value, *pick),
            };
            render(body, &Edit::Duplicate(path, &second))
        }
        Mutation::Truncate { at } => {
            let mut out = text.into_bytes();
            out.truncate(at % out.len());
            return (out, JSON);
        }
        Mutation::RandomBytes(bytes) => return (bytes.clone(), JSON),
        Mutation::Nul { at, raw: true, .. } => {
            let mut out = text.into_bytes();
            let at = at % (out.len() + 1);
            out.insert(at, 0);
            return (out, JSON);
        }
        Mutation::Nul {
            node: i,
            raw: false,
            ..
        } => {
            let strings: Vec<_> = all.iter().filter(|(_, v)| v.is_string()).collect();
            let (path, value) = if strings.is_empty() {
                node(*i)
            } else {
                strings[i % strings.len()]
            };
            let with_nul = format!("{}\u{0}x", value.as_str().unwrap_or("v"));
            render(
                body,
                &Edit::Replace(path, &serde_json::to_string(&with_nul).unwrap()),
            )
        }
        Mutation::HugeNumber { node: i, pick } => {
            let huge = [
                "1e400",
                "99999999999999999999",
                "-99999999999999999999",
                "18446744073709551616",
                "1.7976931348623157e309",
            ];
            render(body, &Edit::Replace(&node(*i).0, huge[pick % huge.len()]))
        }
        Mutation::NegativeNumber { node: i, pick } => {
            let negative = ["-1", "-2147483649", "-9223372036854775808"];
            render(
                body,
                &Edit::Replace(&node(*i).0, negative[pick % negative.len()]),
            )
        }
        Mutation::NotJson { pick } => {
            let types = ["text/plain", "application/x-www-form-urlencoded", ""];
            return (text.into_bytes(), types[pick % types.len()]);
        }
    };
    (bytes.into_bytes(), JSON)
}

/// The body as text for a failure message: runs of one character shortened, at most 1500 chars.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            run += 1;
        }
        if run > 8 {
            out.push_str(&format!("{c}<×{run}>"));
        } else {
            out.extend(std::iter::repeat_n(c, run));
        }
    }
    out.chars().take(1500).collect()
}

/// A value that is not a node the mutation could change: the body must have at least one.
fn has_nodes(body: &Value) -> bool {
    !nodes(body).is_empty()
}

#[test]
fn hostile_json_and_form_bodies_get_a_4xx_json_error_and_the_service_keeps_serving() {
    let w = world();
    let routes = w.body_routes();
    for (_, _, _, _, body) in &routes {
        assert!(has_nodes(body));
    }
    let token_path = format!("/{}/oauth2/v2.0/token", w.tenant.id);
    let strategy = (0..routes.len() + 1, mutation(), any::<usize>(), 0..4usize);
    run("hostile bodies", strategy, |(route, mutation, at, pick)| {
        w.runtime.block_on(async {
            if route == routes.len() {
                // The token endpoint's form: the secret last, so a cut always spoils it.
                let form = hostile_form(&w, &mutation, at, pick);
                let context = format!("token form {mutation:?}");
                let (status, text) = send_raw(
                    &w.app,
                    Method::POST,
                    &token_path,
                    None,
                    Some((form, "application/x-www-form-urlencoded")),
                )
                .await?;
                check_refused(status, &text, Refusal::OAuth, &context)?;
            } else {
                let (method, path, caller, refusal, body) = &routes[route];
                let (bytes, content_type) = apply(body, &mutation);
                let context = format!("{method} {path} {mutation:?} body {}", preview(&bytes));
                let (status, text) = send_raw(
                    &w.app,
                    method.clone(),
                    path,
                    Some(w.bearer(*caller)),
                    Some((bytes, content_type)),
                )
                .await?;
                check_refused(status, &text, *refusal, &context)?;
            }
            w.still_serving().await
        })
    });
}

/// A hostile version of the valid token form (`grant_type`, `scope`, `client_id`,
/// `client_secret`, in that order).
fn hostile_form(w: &World, mutation: &Mutation, at: usize, pick: usize) -> Vec<u8> {
    let secret = w.tenant.client_secret.clone().unwrap();
    let valid = format!(
        "grant_type=client_credentials&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default&client_id={}&client_secret={}",
        w.tenant.client_id, secret
    );
    match mutation {
        Mutation::InvalidUtf8 { .. } | Mutation::Nul { raw: true, .. } => {
            let bad: &[&[u8]] = &[b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\x00"];
            let mut out = valid.into_bytes();
            let at = at % (out.len() + 1);
            out.splice(at..at, bad[pick % bad.len()].iter().copied());
            out
        }
        Mutation::Truncate { at } => {
            let mut out = valid.into_bytes();
            out.truncate(at % out.len());
            out
        }
        Mutation::RandomBytes(bytes) => bytes.clone(),
        Mutation::DuplicateKey { .. } => {
            let name = ["grant_type", "client_id", "client_secret", "scope"][pick % 4];
            let value = ["password", "someone-else", "not-it", "x"][pick % 4];
            format!("{valid}&{name}={value}").into_bytes()
        }
        Mutation::HugeString { .. } => {
            let field = ["grant_type", "client_id", "client_secret", "scope"][pick % 4];
            let huge = "A".repeat(100 * 1024);
            valid
                .split('&')
                .map(|kv| {
                    if kv.starts_with(&format!("{field}=")) {
                        format!("{field}={huge}")
                    } else {
                        kv.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        }
        Mutation::Nul { raw: false, .. } => valid
            .replace("client_credentials", "client_credentials%00")
            .into_bytes(),
        // The other mutations are about JSON; for a form they mean a cut secret.
        _ => valid.as_bytes()[..valid.len() - 1].to_vec(),
    }
}
