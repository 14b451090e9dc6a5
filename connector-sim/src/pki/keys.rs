//! Key pairs: the algorithms a PKCS profile may ask for and a pool of pre-made RSA keys.

use std::sync::{Arc, Mutex, OnceLock};

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;

use super::CaError;

/// Key algorithms a PKCS profile may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa2048,
    Rsa4096,
    P256,
    P384,
}

impl KeyAlgorithm {
    pub fn parse(text: &str) -> Option<KeyAlgorithm> {
        match text.to_ascii_lowercase().as_str() {
            "rsa2048" | "rsa" => Some(KeyAlgorithm::Rsa2048),
            "rsa4096" => Some(KeyAlgorithm::Rsa4096),
            "p256" | "ecdsa_p256" => Some(KeyAlgorithm::P256),
            "p384" | "ecdsa_p384" => Some(KeyAlgorithm::P384),
            _ => None,
        }
    }
}

/// Pre-generated RSA-2048 keys: RSA key generation takes about 150 ms with OpenSSL 3, so load
/// runs fill a pool first. An empty pool generates on demand.
#[derive(Debug, Clone, Default)]
pub struct KeyPool {
    keys: Arc<Mutex<Vec<PKey<Private>>>>,
}

impl KeyPool {
    pub fn new() -> Self {
        Self::default()
    }

    /// Generates `count` RSA-2048 keys into the pool.
    pub fn fill(&self, count: usize) -> Result<(), CaError> {
        let mut fresh = Vec::with_capacity(count);
        for _ in 0..count {
            fresh.push(PKey::from_rsa(Rsa::generate(2048)?)?);
        }
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(fresh);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds pre-made RSA-2048 keys (from a fixture file, say); they are handed out before any
    /// generated on demand.
    pub fn add(&self, keys: impl IntoIterator<Item = PKey<Private>>) {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(keys);
    }

    fn take(&self) -> Option<PKey<Private>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// A new key of `algorithm` (RSA-2048 from the pool when it has one).
    pub fn generate(&self, algorithm: KeyAlgorithm) -> Result<PKey<Private>, CaError> {
        Ok(match algorithm {
            KeyAlgorithm::Rsa2048 => match self.take() {
                Some(key) => key,
                None => PKey::from_rsa(Rsa::generate(2048)?)?,
            },
            KeyAlgorithm::Rsa4096 => PKey::from_rsa(Rsa::generate(4096)?)?,
            KeyAlgorithm::P256 => {
                static P256: OnceLock<EcGroup> = OnceLock::new();
                PKey::from_ec_key(EcKey::generate(curve(&P256, Nid::X9_62_PRIME256V1)?)?)?
            }
            KeyAlgorithm::P384 => {
                static P384: OnceLock<EcGroup> = OnceLock::new();
                PKey::from_ec_key(EcKey::generate(curve(&P384, Nid::SECP384R1)?)?)?
            }
        })
    }
}

/// The named curve `nid`, made once: making the group (its parameters and generator) costs
/// about as much as making a key on it.
fn curve(cell: &'static OnceLock<EcGroup>, nid: Nid) -> Result<&'static EcGroup, CaError> {
    if let Some(group) = cell.get() {
        return Ok(group);
    }
    let group = EcGroup::from_curve_name(nid)?;
    Ok(cell.get_or_init(|| group))
}
