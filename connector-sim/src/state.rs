//! A connector's state folder (`intune-mock connector --state-dir`): what a restart needs to go
//! on as the same connector (docs/behaviour.md, "The simulated connector").
//!
//! - `connector.json`: its id, credential, version and enrollment date ([`Registered`]);
//! - `ca-key.pem`: the key of its embedded CA, so certificates issued before a restart still
//!   chain to the CA it publishes after;
//! - `scep-spool/`: the SCEP notifications the service has not taken yet.
//!
//! Files are written whole or not at all (a temporary file in the same folder, then a rename),
//! so a connector killed at any moment leaves either the old or the new file, never half of one.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;

use crate::connector::Registered;

/// The `connector.json` file's format name: a file of another format is refused, not guessed at.
const FORMAT: &str = "intune-mock-connector-state/1";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot use the state folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the state file {path} does not parse: {reason}; move it away to register a new connector"
    )]
    Corrupt { path: PathBuf, reason: String },
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateFile {
    format: String,
    connector_id: String,
    credential: String,
    version: String,
    enrolled_date_time: DateTime<Utc>,
}

/// An existing, writable state folder.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.to_owned(),
        source,
    }
}

impl StateDir {
    /// Makes the folder if needed and tries it (a file written and removed), so a folder that
    /// cannot be written is an error before the connector registers.
    pub fn open(dir: impl Into<PathBuf>) -> Result<StateDir, StateError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let probe = dir.join(format!(".write-test-{}", std::process::id()));
        fs::write(&probe, b"").map_err(io(&dir))?;
        fs::remove_file(&probe).map_err(io(&dir))?;
        Ok(StateDir { dir })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn registration_file(&self) -> PathBuf {
        self.dir.join("connector.json")
    }

    /// Where the SCEP module keeps the notifications the service has not taken.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.join("scep-spool")
    }

    /// The connector saved here, if one was: `None` when there is no `connector.json`.
    pub fn load(&self) -> Result<Option<Registered>, StateError> {
        let path = self.registration_file();
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let corrupt = |reason: String| StateError::Corrupt {
            path: path.clone(),
            reason,
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.format != FORMAT {
            return Err(corrupt(format!(
                "its format is {:?}, not {FORMAT:?}",
                file.format
            )));
        }
        if file.connector_id.is_empty() || file.credential.is_empty() {
            return Err(corrupt(
                "connectorId and credential must not be empty".into(),
            ));
        }
        Ok(Some(Registered {
            connector_id: file.connector_id,
            credential: file.credential,
            version: file.version,
            enrolled: file.enrolled_date_time,
        }))
    }

    /// Saves `registered` (atomically; the file is readable by its owner only: it holds the
    /// connector's credential).
    pub fn save(&self, registered: &Registered) -> Result<(), StateError> {
        let file = StateFile {
            format: FORMAT.to_owned(),
            connector_id: registered.connector_id.clone(),
            credential: registered.credential.clone(),
            version: registered.version.clone(),
            enrolled_date_time: registered.enrolled,
        };
        let mut text = serde_json::to_vec_pretty(&file).unwrap_or_default();
        text.push(b'\n');
        write_atomically(&self.registration_file(), &text)
    }

    /// The embedded CA's key: read from `ca-key.pem`, or made (RSA-2048) and saved there.
    pub fn ca_key(&self) -> Result<PKey<Private>, StateError> {
        let path = self.dir.join("ca-key.pem");
        match fs::read(&path) {
            Ok(pem) => PKey::private_key_from_pem(&pem).map_err(|e| StateError::Corrupt {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let crypto = |e: openssl::error::ErrorStack| StateError::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                };
                let key = PKey::from_rsa(Rsa::generate(2048).map_err(crypto)?).map_err(crypto)?;
                let pem = key.private_key_to_pem_pkcs8().map_err(crypto)?;
                write_atomically(&path, &pem)?;
                Ok(key)
            }
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, flushed to disk,
/// then renamed over it (owner-only permissions on Unix).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&temporary, path)) {
        let _ = fs::remove_file(&temporary);
        return Err(io(path)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> Registered {
        Registered {
            connector_id: "c-1".into(),
            credential: "secret".into(),
            version: "6.2510.3.2002".into(),
            enrolled: "2026-03-01T10:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn a_saved_connector_loads_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path().join("state")).unwrap();
        assert_eq!(state.load().unwrap(), None);
        state.save(&registered()).unwrap();
        assert_eq!(state.load().unwrap(), Some(registered()));
        // Only connector.json is left: the temporary file was renamed.
        let names: Vec<_> = fs::read_dir(state.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["connector.json".to_owned()]);
    }

    #[test]
    fn a_file_that_does_not_parse_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        fs::write(state.registration_file(), "{\"format\": ").unwrap();
        let error = state.load().unwrap_err().to_string();
        assert!(
            error.starts_with(&format!(
                "the state file {} does not parse: ",
                state.registration_file().display()
            )),
            "{error}"
        );
        fs::write(
            state.registration_file(),
            r#"{"format":"other/1","connectorId":"c","credential":"s","version":"1","enrolledDateTime":"2026-03-01T10:00:00Z"}"#,
        )
        .unwrap();
        let error = state.load().unwrap_err().to_string();
        assert!(error.contains("its format is \"other/1\""), "{error}");
    }
}
