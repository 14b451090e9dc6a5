//! Connector versions: four dot-separated numeric parts, ordered part by part.

use std::fmt;

/// A four-part connector version such as `6.2406.0.1001`. Ordering is numeric, part by part,
/// so `6.2406.0.1001 < 6.2406.0.2002` and `6.9.0.0 < 6.10.0.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version([u32; 4]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionParseError {
    #[error("version `{0}` must have exactly four dot-separated parts, like 6.2406.0.1001")]
    PartCount(String),
    #[error("version `{input}` has a part `{part}` that is not a number from 0 to 2147483647")]
    BadPart { input: String, part: String },
}

impl Version {
    pub const fn new(major: u32, minor: u32, build: u32, revision: u32) -> Self {
        Version([major, minor, build, revision])
    }

    pub fn parse(input: &str) -> Result<Self, VersionParseError> {
        let parts: Vec<&str> = input.split('.').collect();
        if parts.len() != 4 {
            return Err(VersionParseError::PartCount(input.to_owned()));
        }
        let mut out = [0u32; 4];
        for (slot, part) in out.iter_mut().zip(&parts) {
            // .NET's Version parts are non-negative Int32; digits only (no sign, no spaces).
            let ok =
                !part.is_empty() && part.len() <= 10 && part.bytes().all(|b| b.is_ascii_digit());
            let value = if ok { part.parse::<u32>().ok() } else { None };
            match value {
                Some(v) if v <= i32::MAX as u32 => *slot = v,
                _ => {
                    return Err(VersionParseError::BadPart {
                        input: input.to_owned(),
                        part: (*part).to_owned(),
                    })
                }
            }
        }
        Ok(Version(out))
    }

    pub fn parts(&self) -> [u32; 4] {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl std::str::FromStr for Version {
    type Err = VersionParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}
