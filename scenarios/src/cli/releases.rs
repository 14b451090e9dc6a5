//! `intune-mock releases [--json] [--catalog docs|extended]`: the shipped release catalog, each
//! release with where its version and date come from (docs/behaviour.md, "Releases and the
//! version lifecycle").

use std::io::Write;

use anyhow::Context;
use service::domain::catalog::CatalogChoice;
use service::domain::Catalog;

#[derive(Debug, clap::Args)]
pub struct ReleasesArgs {
    /// The release catalog: docs (only what the product documentation lists) or extended.
    #[arg(long, default_value = "extended", value_parser = super::lifecycle::parse_catalog)]
    pub catalog: CatalogChoice,
    /// Print a JSON document (format `intune-mock-releases/1`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReleaseOut {
    version: String,
    /// The release day (UTC).
    released: String,
    /// `docs`, `docs-version`, `docs-date` or `public-history`.
    provenance: &'static str,
    /// The provenance in words.
    source: &'static str,
}

/// `intune-mock releases --json`.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReleasesReport {
    /// Always `intune-mock-releases/1`.
    format: &'static str,
    catalog: &'static str,
    releases: Vec<ReleaseOut>,
}

fn report(choice: CatalogChoice) -> ReleasesReport {
    let catalog = Catalog::shipped_from(choice);
    let mut releases: Vec<_> = catalog.releases().to_vec();
    releases.sort_by_key(|r| (r.released, r.version));
    ReleasesReport {
        format: "intune-mock-releases/1",
        catalog: choice.as_str(),
        releases: releases
            .iter()
            .map(|r| ReleaseOut {
                version: r.version.to_string(),
                released: r.released.format("%Y-%m-%d").to_string(),
                provenance: r.provenance.as_str(),
                source: r.provenance.describe(),
            })
            .collect(),
    }
}

fn table(r: &ReleasesReport) -> String {
    let mut s = format!(
        "{:<16}{:<12}{:<16}{}\n",
        "VERSION", "RELEASED", "PROVENANCE", "SOURCE"
    );
    for x in &r.releases {
        s.push_str(&format!(
            "{:<16}{:<12}{:<16}{}\n",
            x.version, x.released, x.provenance, x.source
        ));
    }
    s
}

pub(super) fn releases(args: ReleasesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let report = report(args.catalog);
    let body = if args.json {
        let mut json = serde_json::to_string_pretty(&report)?;
        json.push('\n');
        json
    } else {
        table(&report)
    };
    out.write_all(body.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write the releases")
}
