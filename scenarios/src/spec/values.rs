//! The values a scenario file is made of, each checked once with the parser the service uses
//! (instants, durations, features, reason codes, accounts), and the error that names the file and
//! line of a mistake.

use std::fmt;
use std::ops::Range;

use chrono::{DateTime, NaiveDate, Utc};
use service::domain::{Feature, IsoDuration, ReasonCode};

/// A mistake in a scenario file: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

/// The file being parsed: its name for errors, its text for turning a TOML span into a line.
pub struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl<'a> Source<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Source { file, text }
    }

    /// The 1-based line where `span` starts.
    pub fn line(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    pub fn err(&self, line: usize, message: impl Into<String>) -> SpecError {
        SpecError {
            file: self.file.to_owned(),
            line: Some(line),
            message: message.into(),
        }
    }

    /// A TOML syntax or shape error, at its line when the parser gave one.
    pub fn toml_err(&self, e: &toml::de::Error) -> SpecError {
        SpecError {
            file: self.file.to_owned(),
            line: e.span().map(|span| self.line(span)),
            message: e.message().trim().to_owned(),
        }
    }
}

/// An ISO 8601 duration as the file wrote it, and what it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationSpec {
    pub text: String,
    pub months: u32,
    pub millis: i64,
}

impl DurationSpec {
    /// `at` plus this duration (calendar months first).
    pub fn add_to(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        IsoDuration {
            months: self.months,
            millis: self.millis,
        }
        .add_to(at)
    }
}

/// An RFC 3339 instant (string or TOML date-time with offset); a bare date is midnight UTC when
/// `date_ok`.
pub fn instant(value: &toml::Value, date_ok: bool) -> Result<DateTime<Utc>, String> {
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => {
            return Err(format!(
                "expected an RFC 3339 date-time string like \"2022-05-04T00:00:00Z\", found {}",
                other.type_str()
            ))
        }
    };
    if let Ok(at) = DateTime::parse_from_rfc3339(&text) {
        return Ok(at.with_timezone(&Utc));
    }
    if date_ok {
        if let Some(at) = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
        {
            return Ok(at.and_utc());
        }
    }
    Err(format!(
        "`{text}` is not an RFC 3339 date-time like 2022-05-04T00:00:00Z"
    ))
}

pub fn duration(text: &str) -> Result<DurationSpec, String> {
    let parsed = IsoDuration::parse(text).map_err(|e| e.to_string())?;
    Ok(DurationSpec {
        text: text.to_owned(),
        months: parsed.months,
        millis: parsed.millis,
    })
}

/// A connector interval: `text` (or `default`), at least one second, no months.
pub fn interval(field: &str, text: Option<&str>, default: &str) -> Result<DurationSpec, String> {
    let d = duration(text.unwrap_or(default))?;
    if d.months > 0 || d.millis < 1000 {
        return Err(format!(
            "{field} `{}` must be at least one second and have no months",
            d.text
        ));
    }
    Ok(d)
}

/// A connector's features, in the file's order (what the connector sends the service).
pub fn features(items: &[String]) -> Result<Vec<Feature>, String> {
    if items.is_empty() {
        return Err("features must not be empty (pkcs, pkcs_import, scep, revocation)".into());
    }
    items
        .iter()
        .map(|item| Feature::parse(item).map_err(|e| e.to_string()))
        .collect()
}

pub fn reasons(items: &[String]) -> Result<Vec<ReasonCode>, String> {
    items
        .iter()
        .map(|item| {
            ReasonCode::parse(item).ok_or_else(|| {
                let known: Vec<&str> = ReasonCode::ALL.iter().map(|c| c.as_str()).collect();
                format!("unknown reason `{item}`; reasons are {}", known.join(", "))
            })
        })
        .collect()
}

/// `SYSTEM` (the default) or `DOMAIN\user`.
pub fn service_account(value: Option<String>) -> Result<String, String> {
    match value {
        None => Ok("SYSTEM".into()),
        Some(v) if v == "SYSTEM" => Ok(v),
        Some(v) => match v.split_once('\\') {
            Some((d, u)) if !d.is_empty() && !u.is_empty() && !u.contains('\\') => Ok(v),
            _ => Err(format!(
                "service_account `{v}` must be SYSTEM or DOMAIN\\user"
            )),
        },
    }
}

pub fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(not_one_of(field, value, allowed.iter().copied()))
    }
}

/// The member of `all` spelled `value` (each spelled by `name`), or the same message as
/// [`one_of`].
pub fn one_of_typed<T: Copy>(
    field: &str,
    value: &str,
    all: &[T],
    name: impl Fn(&T) -> &'static str,
) -> Result<T, String> {
    all.iter()
        .find(|item| name(item) == value)
        .copied()
        .ok_or_else(|| not_one_of(field, value, all.iter().map(name)))
}

fn not_one_of<'a>(field: &str, value: &str, allowed: impl Iterator<Item = &'a str>) -> String {
    format!(
        "{field} `{value}` is not one of {}",
        allowed.collect::<Vec<_>>().join(", ")
    )
}

/// TOML value → JSON (date-times become their RFC 3339 text).
pub fn to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(table) => {
            serde_json::Value::Object(table.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
    }
}
