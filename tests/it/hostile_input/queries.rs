//! Hostile query strings: every query parameter of every route, given values of the wrong kind,
//! out of range, repeated, or not UTF-8.

use super::*;

// ----- query strings -----------------------------------------------------------------------------

/// What a query parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    /// A whole number with a range (`limit`, `top`, `$top`).
    Count,
    /// A whole number at least 0 (`skip`, `$skip`).
    Offset,
    /// One of a few words (`kind`, `state`, `$count`, `$select`).
    Word,
    /// An OData `$filter`.
    Filter,
    /// Free text (`correlationId`, `route`).
    Text,
}

/// A route's query parameters: name, kind and a valid value.
type Params = Vec<(&'static str, Param, &'static str)>;

/// Every route that reads query parameters: path, credential, parameters, and a valid query.
fn query_routes(w: &World) -> Vec<(String, Caller, Params)> {
    use Param::*;
    let odata = vec![
        ("$top", Count, "5"),
        ("$skip", Offset, "0"),
        ("$count", Word, "true"),
        ("$select", Word, "id,connectorVersion"),
        ("$filter", Filter, "connectorVersion eq '6.2406.0.1001'"),
    ];
    vec![
        (
            "/admin/journal".into(),
            Caller::Operator,
            vec![
                ("correlationId", Text, "abc"),
                ("route", Text, "/connector"),
                ("limit", Count, "5"),
            ],
        ),
        (
            format!("/admin/tenants/{}/jobs", w.tenant.id),
            Caller::Operator,
            vec![
                ("kind", Word, "revoke"),
                ("state", Word, "queued"),
                ("top", Count, "5"),
                ("skip", Offset, "0"),
            ],
        ),
        (
            format!("/admin/tenants/{}/jobs", w.tenant.id),
            Caller::Graph,
            vec![("top", Count, "5"), ("state", Word, "leased")],
        ),
        (
            "/beta/deviceManagement/ndesConnectors".into(),
            Caller::Graph,
            odata.clone(),
        ),
        (
            "/beta/deviceManagement/certificateConnectorDetails".into(),
            Caller::Graph,
            odata,
        ),
        (
            "/beta/deviceManagement/userPfxCertificates".into(),
            Caller::Graph,
            vec![(
                "$filter",
                Filter,
                "userPrincipalName eq 'hostile.user@hostile.example'",
            )],
        ),
    ]
}

/// A value that is wrong for a parameter of kind `param`, as raw query text.
fn hostile_value(param: Param, pick: usize, garbage: &str) -> String {
    let ten_kb = |unit: &str| unit.repeat(10 * 1024 / unit.len());
    let encoding_errors = ["%", "%G1", "%FF", "%C3", "%ED%A0%80", "%00", "%%", "1%"];
    let list: Vec<String> = match param {
        Param::Count => vec![
            "-1".into(),
            "0".into(),
            "99999999999999999999".into(),
            "abc".into(),
            "1.5".into(),
            "".into(),
            "1e3".into(),
            "0x10".into(),
            "NaN".into(),
            "1001000".into(),
            ten_kb("9"),
            format!("1{garbage}x"),
        ],
        Param::Offset => vec![
            "-1".into(),
            "99999999999999999999".into(),
            "abc".into(),
            "".into(),
            "1.0".into(),
            "-9223372036854775809".into(),
            ten_kb("7"),
            format!("x{garbage}"),
        ],
        Param::Word => vec![
            "colour".into(),
            "".into(),
            ten_kb("z"),
            format!("q{garbage}"),
            "TRUE".into(),
            "%E2%80%8B".into(),
        ],
        Param::Filter => vec![
            "garbage".into(),
            "state eq".into(),
            "state eq 'x".into(),
            "state ne 'x'".into(),
            "colour eq 'x'".into(),
            "state eq 'x' or state eq 'y'".into(),
            "state eq 'x' and".into(),
            "(state eq 'x')".into(),
            "".into(),
            ten_kb("f"),
            format!("state eq '{}'", ten_kb("v")),
            format!("z{garbage}"),
        ],
        Param::Text => vec![ten_kb("t"), format!("{}{garbage}", ten_kb("u"))],
    };
    let all: Vec<String> = list
        .into_iter()
        .chain(
            encoding_errors
                .iter()
                .filter(|_| param != Param::Text)
                .map(|e| e.to_string()),
        )
        .collect();
    all[pick % all.len()].clone()
}

/// A hostile query: one parameter wrong, one given twice, an unknown option, or raw garbage.
#[derive(Debug, Clone)]
enum QueryAttack {
    Value {
        param: usize,
        pick: usize,
        garbage: String,
    },
    Twice {
        param: usize,
    },
    Unknown {
        pick: usize,
    },
    Raw {
        pick: usize,
    },
}

fn query_attack() -> impl Strategy<Value = QueryAttack> {
    let n = any::<usize>();
    prop_oneof![
        6 => (n, n, "[%&=+#;' a-zA-Z0-9]{0,12}").prop_map(|(param, pick, garbage)| QueryAttack::Value { param, pick, garbage }),
        1 => n.prop_map(|param| QueryAttack::Twice { param }),
        1 => n.prop_map(|pick| QueryAttack::Unknown { pick }),
        1 => n.prop_map(|pick| QueryAttack::Raw { pick }),
    ]
}

/// A raw query value: spaces as `%20`, `#` as `%23` (a fragment is not sent) and `&` as `%26`
/// (the value stays one parameter); the rest as is, percent signs included.
fn raw(value: &str) -> String {
    value
        .replace(' ', "%20")
        .replace('#', "%23")
        .replace('&', "%26")
}

fn query_text(
    params: &[(&'static str, Param, &'static str)],
    attack: &QueryAttack,
    dollar: bool,
) -> String {
    let valid = |skip: Option<usize>| -> Vec<String> {
        params
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(_, (name, _, value))| format!("{name}={}", raw(value)))
            .collect()
    };
    match attack {
        QueryAttack::Value {
            param,
            pick,
            garbage,
        } => {
            let i = param % params.len();
            let (name, kind, _) = params[i];
            let mut parts = valid(Some(i));
            parts.push(format!(
                "{name}={}",
                raw(&hostile_value(kind, *pick, garbage))
            ));
            parts.join("&")
        }
        QueryAttack::Twice { param } => {
            let (name, _, value) = params[param % params.len()];
            let mut parts = valid(None);
            parts.push(format!("{name}={}", raw(value)));
            parts.join("&")
        }
        QueryAttack::Unknown { pick } => {
            let names = if dollar {
                ["$expand=x", "$orderby=id", "$search=x", "$format=json"]
            } else {
                ["colour=red", "$top=5", "Limit=5", "limit%00=5"]
            };
            let mut parts = valid(None);
            parts.push(names[pick % names.len()].to_owned());
            parts.join("&")
        }
        QueryAttack::Raw { pick } => {
            let (last, _, valid) = params[params.len() - 1];
            let raws = [
                format!("{last}=%"),
                format!("{last}=%G1&{last}=%FF"),
                last.to_owned(),
                format!("{last}=="),
                format!("%FF={}", raw(valid)),
                format!("{last}[]=1"),
            ];
            raws[pick % raws.len()].clone()
        }
    }
}

#[test]
fn hostile_query_strings_get_a_4xx_json_error_and_the_service_keeps_serving() {
    let w = world();
    let routes = query_routes(&w);
    // The valid queries are answered: the hostile ones reach the same parsing.
    w.runtime.block_on(async {
        for (path, caller, params) in &routes {
            let query = params
                .iter()
                .map(|(n, _, v)| format!("{n}={}", raw(v)))
                .collect::<Vec<_>>()
                .join("&");
            let (status, text) = send_raw(
                &w.app,
                Method::GET,
                &format!("{path}?{query}"),
                Some(w.bearer(*caller)),
                None,
            )
            .await
            .unwrap();
            assert_eq!(status, 200, "{path}?{query}: {text}");
        }
    });
    let strategy = (0..routes.len(), query_attack());
    run("hostile queries", strategy, |(route, attack)| {
        let (path, caller, params) = &routes[route];
        let dollar = path.starts_with("/beta/");
        let url = format!("{path}?{}", query_text(params, &attack, dollar));
        w.runtime.block_on(async {
            let (status, text) =
                send_raw(&w.app, Method::GET, &url, Some(w.bearer(*caller)), None).await?;
            check_refused(
                status,
                &text,
                Refusal::Envelope,
                &format!("GET {url:.300} {attack:?}"),
            )?;
            w.still_serving().await
        })
    });
}
