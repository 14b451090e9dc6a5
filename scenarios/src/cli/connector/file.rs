//! `intune-mock connector --config FILE`: the connector's settings as TOML, with the options of
//! the scenario format's `[[connector]]` (docs/behaviour.md, "The simulated connector").
//! Command-line flags override the file. A key the file does not know is an error that names
//! the file and the line.

use std::path::{Path, PathBuf};

use wire::connector::Feature;

/// The file's settings; every one may be left out.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFile {
    pub machine: Option<String>,
    pub display_name: Option<String>,
    pub features: Option<Vec<Feature>>,
    pub version: Option<String>,
    pub product: Option<String>,
    pub auto_update: Option<bool>,
    pub co_installed: Option<Vec<String>>,
    pub service_account: Option<String>,
    pub import_key_thumbprint: Option<String>,
    pub poll_seconds: Option<u32>,
    pub proxy: Option<String>,
    pub proxy_user: Option<String>,
    pub log: Option<LogFile>,
}

/// `[log]`: the event log's settings.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    pub dir: Option<PathBuf>,
    pub debug: Option<bool>,
    pub max_bytes: Option<u64>,
    pub archives: Option<usize>,
}

/// Reads `path`; an error names the file and, where the parser knows it, the line.
pub fn read(path: &Path) -> anyhow::Result<ConnectorFile> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
    parse(&text).map_err(|(line, message)| match line {
        Some(line) => anyhow::anyhow!("{}:{line}: {message}", path.display()),
        None => anyhow::anyhow!("{}: {message}", path.display()),
    })
}

/// Parses the file's text; an error is (line, message).
fn parse(text: &str) -> Result<ConnectorFile, (Option<usize>, String)> {
    toml::from_str(text).map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        (line, e.message().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_reads() {
        let file = parse(
            "machine = \"SRV01\"\nfeatures = [\"pkcs\", \"scep\"]\nversion = \"6.2510.3.2002\"\n\
             service_account = 'CONTOSO\\svc'\nco_installed = [\"ndes\"]\nauto_update = false\n\
             import_key_thumbprint = \"AB12\"\nproxy = \"http://proxy:8888\"\npoll_seconds = 5\n\
             [log]\ndir = \"logs\"\ndebug = true\nmax_bytes = 1000\narchives = 2\n",
        )
        .unwrap();
        assert_eq!(file.features, Some(vec![Feature::Pkcs, Feature::Scep]));
        assert_eq!(file.service_account.as_deref(), Some("CONTOSO\\svc"));
        assert_eq!(file.auto_update, Some(false));
        let log = file.log.unwrap();
        assert_eq!(log.max_bytes, Some(1000));
        assert_eq!(log.dir, Some(PathBuf::from("logs")));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let (line, message) =
            parse("machine = \"SRV01\"\n\n[log]\ndebug = true\nmax_size = 5\n").unwrap_err();
        assert_eq!(line, Some(5));
        assert!(message.starts_with("unknown field `max_size`"), "{message}");
    }
}
