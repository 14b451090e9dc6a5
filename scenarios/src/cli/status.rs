//! `intune-mock status`: a tenant's connectors and their status, as a table or JSON.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long)]
    pub tenant: String,
    #[arg(long)]
    pub client_id: String,
    #[arg(long, env = "INTUNE_MOCK_CLIENT_SECRET")]
    pub client_secret: String,
    /// Print a JSON document (format `intune-mock-status/1`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `intune-mock status --json`: a tenant's connectors as `GET /admin/tenants/{id}/connectors`
/// lists them (each with its status), under a format name that changes only when a field's
/// meaning does.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport<'a> {
    /// Always `intune-mock-status/1`.
    pub format: &'static str,
    pub tenant_id: &'a str,
    pub connectors: &'a [wire::admin::ConnectorView],
}

pub(super) async fn status(
    args: StatusArgs,
    out: &mut dyn Write,
    colour: bool,
) -> anyhow::Result<()> {
    let http = crate::harness::http_client();
    let base = args.url.trim_end_matches('/');
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", args.client_id.as_str()),
        ("client_secret", args.client_secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let token_url = format!("{base}/{}/oauth2/v2.0/token", args.tenant);
    let response = http
        .post(&token_url)
        .form(&form)
        .send()
        .await
        .with_context(|| format!("cannot reach the service at {base}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        anyhow::bail!("the token endpoint refused the client credentials ({status}): {text}");
    }
    let token: wire::token::TokenResponse = response
        .json()
        .await
        .context("the token answer does not parse")?;
    let response = http
        .get(format!("{base}/admin/tenants/{}/connectors", args.tenant))
        .bearer_auth(&token.access_token)
        .send()
        .await
        .with_context(|| format!("cannot reach the service at {base}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        anyhow::bail!("listing connectors failed ({status}): {text}");
    }
    let list: wire::admin::Collection<wire::admin::ConnectorView> = response
        .json()
        .await
        .context("the connector list does not parse")?;
    let text = if args.json {
        let report = StatusReport {
            format: "intune-mock-status/1",
            tenant_id: &args.tenant,
            connectors: &list.value,
        };
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        status_table(&list.value, colour)
    };
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    Ok(())
}

fn day(at: Option<DateTime<Utc>>) -> String {
    at.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

/// An aligned table of connectors; `colour`: the header bold, the status green, yellow or red.
pub fn status_table(connectors: &[wire::admin::ConnectorView], colour: bool) -> String {
    use crate::output::{Table, BAD, GOOD, PLAIN, WARNING};
    let mut table = Table::new(&[
        "NAME",
        "MACHINE",
        "VERSION",
        "FEATURES",
        "STATE",
        "STATUS",
        "REASONS",
        "SUPPORT ENDS",
        "FUNCTION ENDS",
    ]);
    for c in connectors {
        let reasons: Vec<&str> = c.status.reasons.iter().map(|r| r.code.as_str()).collect();
        let status = format!("{:?}", c.status.status).to_lowercase();
        let style = match c.status.status {
            wire::admin::Status::Healthy => GOOD,
            wire::admin::Status::Warning => WARNING,
            wire::admin::Status::Error => BAD,
        };
        table.styled_row(vec![
            (c.display_name.clone(), PLAIN),
            (c.machine_name.clone(), PLAIN),
            (c.version.clone(), PLAIN),
            (
                c.features
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                PLAIN,
            ),
            (c.state.clone(), PLAIN),
            (status, style),
            (
                if reasons.is_empty() {
                    "-".to_owned()
                } else {
                    reasons.join(",")
                },
                PLAIN,
            ),
            (day(c.status.support_ends_date_time), PLAIN),
            (day(c.status.function_ends_date_time), PLAIN),
        ]);
    }
    table.render(colour)
}
