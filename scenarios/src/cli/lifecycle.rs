//! `intune-mock lifecycle VERSION [--at INSTANT] [--json]`: where a connector version stands, from
//! the lifecycle rules themselves (docs/behaviour.md, "Releases and the version lifecycle"): its
//! successor, deprecated from, end of support, end of function (or the legacy rule's dates), and
//! the status with its reasons and the refused calls at an instant.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use service::domain::catalog::CatalogChoice;
use service::domain::connector::DEFAULT_ROLLOUT_DELAY_DAYS;
use service::domain::lifecycle::{
    self, legacy_error_from, legacy_no_issue_from, legacy_no_revoke_from, Operation,
};
use service::domain::{
    evaluate, Catalog, ConnectorFacts, Feature, FeatureSet, Product, TenantFacts, Version,
};

#[derive(Debug, clap::Args)]
pub struct LifecycleArgs {
    /// The connector version, four numeric parts (6.2202.38.0).
    #[arg(value_parser = parse_version)]
    pub version: Version,
    /// The instant for the status (RFC 3339, like 2022-06-01T00:00:00Z); default: now.
    #[arg(long, value_parser = parse_instant)]
    pub at: Option<DateTime<Utc>>,
    /// The installed product: certificate-connector, pfx-certificate-connector or intune-connector.
    #[arg(long, default_value = "certificate-connector", value_parser = parse_product)]
    pub product: Product,
    /// The release catalog: docs (only what the product documentation lists) or extended.
    #[arg(long, default_value = "extended", value_parser = parse_catalog)]
    pub catalog: CatalogChoice,
    /// Print a JSON document (format `intune-mock-lifecycle/1`) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub(super) fn parse_version(text: &str) -> Result<Version, String> {
    Version::parse(text).map_err(|e| e.to_string())
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 instant like 2022-06-01T00:00:00Z ({e})"))
}

fn parse_product(text: &str) -> Result<Product, String> {
    Product::parse(text).map_err(|e| e.to_string())
}

pub(super) fn parse_catalog(text: &str) -> Result<CatalogChoice, String> {
    CatalogChoice::parse(text).map_err(|e| e.to_string())
}

/// The successor release of a version, and where it comes from.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Successor {
    version: String,
    released: String,
    provenance: &'static str,
}

/// The legacy rule's dates, for a version below 6.2101.13.0.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LegacyDates {
    error_from: String,
    revocation_refused_from: String,
    issuance_refused_from: String,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReasonOut {
    code: &'static str,
    severity: &'static str,
    since: Option<String>,
    until: Option<String>,
    message: String,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Refused {
    operation: &'static str,
    code: &'static str,
}

/// `intune-mock lifecycle --json`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LifecycleReport {
    /// Always `intune-mock-lifecycle/1`.
    format: &'static str,
    version: String,
    product: &'static str,
    catalog: &'static str,
    /// Whether the catalog lists this version as a release.
    in_catalog: bool,
    /// Whether the 6/18-month release policy governs it (false below 6.2101.13.0).
    release_policy: bool,
    successor: Option<Successor>,
    deprecated_from: Option<String>,
    end_of_support: Option<String>,
    end_of_function: Option<String>,
    legacy: Option<LegacyDates>,
    at: String,
    status: &'static str,
    reasons: Vec<ReasonOut>,
    refused: Vec<Refused>,
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What the rules say about `args.version` at `now`. The status is that of an active connector
/// (checked in and uploading health at `now`) of a tenant with the default rollout delay and no
/// other connector, so the reasons are the version's.
fn report(args: &LifecycleArgs, now: DateTime<Utc>) -> LifecycleReport {
    let catalog = Catalog::shipped_from(args.catalog);
    let version = args.version;
    let dates = lifecycle::lifecycle_dates(&catalog, version);
    let successor =
        dates.and_then(|d| catalog.releases().iter().find(|r| r.version == d.successor));
    let facts = ConnectorFacts {
        version,
        product: args.product,
        features: FeatureSet::of(Feature::Pkcs),
        import_key_thumbprint: None,
        co_installed: vec![],
        enrolled: now,
        last_checkin: Some(now),
        last_health: Some(now),
    };
    let tenant = TenantFacts {
        rollout_delay_days: DEFAULT_ROLLOUT_DELAY_DAYS,
        import_key_thumbprint: None,
        newest_connector_version: None,
    };
    let evaluation = evaluate(&facts, &tenant, &catalog, now);
    let operations = [
        (Operation::Checkin, "checkin"),
        (Operation::Issue, "issue"),
        (Operation::Revoke, "revoke"),
    ];
    LifecycleReport {
        format: "intune-mock-lifecycle/1",
        version: version.to_string(),
        product: args.product.as_str(),
        catalog: args.catalog.as_str(),
        in_catalog: catalog.release_date(version).is_some(),
        release_policy: lifecycle::release_policy_applies(version),
        successor: successor.map(|r| Successor {
            version: r.version.to_string(),
            released: day(r.released),
            provenance: r.provenance.as_str(),
        }),
        deprecated_from: dates.map(|d| day(d.deprecated_from)),
        end_of_support: dates.map(|d| day(d.support_ends)),
        end_of_function: dates.map(|d| day(d.function_ends)),
        legacy: (!lifecycle::release_policy_applies(version)).then(|| LegacyDates {
            error_from: day(legacy_error_from()),
            revocation_refused_from: day(legacy_no_revoke_from()),
            issuance_refused_from: day(legacy_no_issue_from()),
        }),
        at: instant(now),
        status: evaluation.status.as_str(),
        reasons: evaluation
            .reasons
            .iter()
            .map(|r| ReasonOut {
                code: r.code.as_str(),
                severity: r.code.severity().status().as_str(),
                since: r.since.map(instant),
                until: r.until.map(instant),
                message: r.message.clone(),
            })
            .collect(),
        refused: operations
            .into_iter()
            .filter_map(|(op, name)| {
                lifecycle::refusal(&catalog, version, op, now).map(|r| Refused {
                    operation: name,
                    code: r.code(),
                })
            })
            .collect(),
    }
}

fn text(r: &LifecycleReport) -> String {
    let none = "-".to_owned();
    let mut s = String::new();
    let mut line = |k: &str, v: &str| s.push_str(&format!("{k:<17}{v}\n"));
    line("version", &r.version);
    line("product", r.product);
    line(
        "catalog",
        &format!(
            "{}{}",
            r.catalog,
            if r.in_catalog {
                ""
            } else {
                " (this version is not a release in it)"
            }
        ),
    );
    match &r.successor {
        Some(s) => line(
            "successor",
            &format!("{}, released {} ({})", s.version, s.released, s.provenance),
        ),
        None if r.release_policy => line("successor", "none yet: the version is current"),
        None => line("successor", "-"),
    }
    if let Some(l) = &r.legacy {
        line(
            "release policy",
            "does not apply below 6.2101.13.0; the legacy rule does",
        );
        line("error from", &l.error_from);
        line(
            "no revocation",
            &format!("from {}", l.revocation_refused_from),
        );
        line("no issuance", &format!("from {}", l.issuance_refused_from));
    } else {
        line(
            "deprecated from",
            r.deprecated_from.as_ref().unwrap_or(&none),
        );
        line("end of support", r.end_of_support.as_ref().unwrap_or(&none));
        line(
            "end of function",
            r.end_of_function.as_ref().unwrap_or(&none),
        );
    }
    line("at", &r.at);
    line("status", r.status);
    for reason in &r.reasons {
        line(
            "reason",
            &format!("{} ({}): {}", reason.code, reason.severity, reason.message),
        );
    }
    let refused: Vec<String> = r
        .refused
        .iter()
        .map(|x| format!("{} ({})", x.operation, x.code))
        .collect();
    line(
        "refused",
        &if refused.is_empty() {
            "nothing".to_owned()
        } else {
            refused.join(", ")
        },
    );
    s
}

pub(super) fn lifecycle(args: LifecycleArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = args.at.unwrap_or_else(crate::clock::wall);
    let report = report(&args, now);
    let body = if args.json {
        let mut json = serde_json::to_string_pretty(&report)?;
        json.push('\n');
        json
    } else {
        text(&report)
    };
    out.write_all(body.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the lifecycle")
}
