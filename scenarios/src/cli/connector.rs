//! `intune-mock connector`: one simulated connector against a service, on the wall clock.

#[derive(Debug, clap::Args)]
pub struct ConnectorArgs {
    #[arg(long)]
    pub url: String,
    #[arg(long, env = "INTUNE_MOCK_ENROLLMENT_SECRET")]
    pub enrollment_secret: String,
    #[arg(long)]
    pub machine: String,
    #[arg(long)]
    pub display_name: Option<String>,
    /// Comma-separated: pkcs, pkcs_import, scep, revocation.
    #[arg(long, value_delimiter = ',', default_value = "pkcs", value_parser = feature)]
    pub features: Vec<wire::connector::Feature>,
    #[arg(long, default_value = "6.2510.3.2002")]
    pub version: String,
    /// Seconds between polls.
    #[arg(long, default_value_t = 30)]
    pub poll_seconds: u32,
    /// Reach the service through this HTTP proxy (`http://host:port`).
    #[arg(long)]
    pub proxy: Option<String>,
    /// Basic-authentication user for the proxy.
    #[arg(long, requires = "proxy")]
    pub proxy_user: Option<String>,
    #[arg(
        long,
        env = "INTUNE_MOCK_PROXY_PASSWORD",
        requires = "proxy_user",
        hide_env_values = true
    )]
    pub proxy_password: Option<String>,
}

pub(super) async fn connector(args: ConnectorArgs) -> anyhow::Result<()> {
    let config = connector_sim::ConnectorConfig {
        name: args.machine.clone(),
        display_name: args.display_name.unwrap_or_else(|| args.machine.clone()),
        machine_name: args.machine,
        features: args.features,
        version: args.version,
        product: None,
        auto_update: true,
        co_installed: vec![],
        service_account: None,
        import_key_thumbprint: None,
        proxy: args.proxy.clone(),
        poll_interval: chrono::Duration::seconds(args.poll_seconds.max(1) as i64),
        update_check_interval: chrono::Duration::hours(1),
        health_interval: chrono::Duration::minutes(5),
        crash_after_download: false,
        seed: std::process::id() as u64,
    };
    // The machine's CA: an embedded Enterprise-CA-like issuer under the default profile's name.
    // A real-time connector's CA starts now, by the connector's clock.
    let now = connector_sim::clock::wall();
    let cas = connector_sim::ca::CaDirectory::new();
    cas.add_embedded(connector_sim::pki::CertificateAuthority::new(
        "ca01.contoso.com\\Contoso Issuing CA",
        "Contoso Issuing CA",
        now,
    )?);
    let workbench = connector_sim::Workbench::new(cas);
    let proxy = args.proxy.map(|url| connector_sim::ProxySettings {
        url,
        username: args.proxy_user,
        password: args.proxy_password,
    });
    let http = connector_sim::http_client(proxy.as_ref())?;
    let client = connector_sim::ServiceClient::new(args.url, http);
    connector_sim::run_realtime(
        config,
        client,
        &args.enrollment_secret,
        Some(workbench),
        super::shutdown_signal(),
    )
    .await?;
    Ok(())
}

/// A `--features` item, by the service's own names (an unknown one is refused before anything
/// is sent, with the list of the four).
fn feature(name: &str) -> Result<wire::connector::Feature, String> {
    service::domain::Feature::parse(name)
        .map(Into::into)
        .map_err(|e| e.to_string())
}
