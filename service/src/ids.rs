//! The one source of identifiers and secrets: random in production, seeded in simulations so a
//! scenario with the same seed produces the same ids, secrets and transcript.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use uuid::Uuid;

#[derive(Debug)]
pub struct IdSource {
    rng: Mutex<StdRng>,
}

impl IdSource {
    pub fn random() -> Self {
        IdSource {
            rng: Mutex::new(StdRng::from_entropy()),
        }
    }

    pub fn seeded(seed: u64) -> Self {
        IdSource {
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
        }
    }

    fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .fill_bytes(&mut out);
        out
    }

    /// A version-4 GUID.
    pub fn uuid(&self) -> Uuid {
        uuid::Builder::from_random_bytes(self.bytes::<16>()).into_uuid()
    }

    /// A URL-safe secret with 256 bits of entropy, prefixed so leaked secrets are recognisable.
    pub fn secret(&self, prefix: &str) -> String {
        use base64::Engine as _;
        let raw = self.bytes::<32>();
        format!(
            "{prefix}_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        )
    }
}

/// SHA-256 hex of a secret: the store keeps only this, and looks secrets up by it.
pub fn secret_hash(secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
