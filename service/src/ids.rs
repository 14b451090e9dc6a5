//! The one source of identifiers and secrets: random in production, seeded in simulations so a
//! scenario with the same seed produces the same ids, secrets and transcript.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use uuid::Uuid;

#[derive(Debug)]
pub struct IdSource {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    rng: StdRng,
    /// The millisecond and the counter within it of the last version-7 id.
    last_ms: u64,
    counter: u32,
}

/// Bits of the version-7 counter that follows the timestamp (RFC 9562 §6.2, method 1): the 12
/// bits of `rand_a` and the top 6 bits of `rand_b`.
const COUNTER_BITS: u32 = 18;

impl IdSource {
    pub fn random() -> Self {
        IdSource::with(StdRng::from_entropy())
    }

    pub fn seeded(seed: u64) -> Self {
        IdSource::with(StdRng::seed_from_u64(seed))
    }

    fn with(rng: StdRng) -> Self {
        IdSource {
            state: Mutex::new(State {
                rng,
                last_ms: 0,
                counter: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.state().rng.fill_bytes(&mut out);
        out
    }

    /// A version-4 GUID.
    pub fn uuid(&self) -> Uuid {
        uuid::Builder::from_random_bytes(self.bytes::<16>()).into_uuid()
    }

    /// A version-7 GUID: `unix_ms` (the service clock's time, virtual in a simulation) in the top
    /// 48 bits, then an 18-bit counter, then random bits. Each id sorts after the one before it,
    /// also within one millisecond (a virtual clock stands still between steps) and if the clock
    /// goes back, so a batch of new rows lands on the last pages of a B-tree index instead of on
    /// a random page each: random version-4 job ids made each batch of 100 jobs dirty about 100
    /// index pages of SQLite.
    pub fn uuid_v7(&self, unix_ms: i64) -> Uuid {
        let mut state = self.state();
        let mut ms = u64::try_from(unix_ms).unwrap_or(0).max(state.last_ms);
        if ms == state.last_ms {
            state.counter += 1;
            if state.counter >= 1 << COUNTER_BITS {
                ms += 1;
                state.counter = 0;
            }
        } else {
            state.counter = 0;
        }
        state.last_ms = ms;
        let counter = state.counter;
        let mut bytes = [0u8; 10];
        state.rng.fill_bytes(&mut bytes);
        // `from_unix_timestamp_millis` puts bytes[0..2] in `rand_a` under the version nibble and
        // bytes[2..] in `rand_b` under the two variant bits.
        bytes[0] = (counter >> 14) as u8 & 0x0f;
        bytes[1] = (counter >> 6) as u8;
        bytes[2] = (counter & 0x3f) as u8;
        uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
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
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex of `bytes`, two digits a byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_version_7_id_carries_its_millisecond_and_counts_within_it() {
        let ids = IdSource::seeded(1);
        // 2024-09-19T00:00:00Z.
        let first = ids.uuid_v7(1_726_704_000_000);
        let second = ids.uuid_v7(1_726_704_000_000);
        assert_eq!(first.get_version_num(), 7);
        assert_eq!(first.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(
            first.get_timestamp().map(|t| t.to_unix()),
            Some((1_726_704_000, 0))
        );
        // 48 bits of milliseconds, version 7, counter 0 then 1 (rand_a 000, top of rand_b under
        // the variant bits), then random bits.
        assert!(
            first.to_string().starts_with("01920794-1c00-7000-80"),
            "{first}"
        );
        assert!(
            second.to_string().starts_with("01920794-1c00-7000-81"),
            "{second}"
        );
    }

    proptest! {
        /// Whatever the clock does (stand still, step on, go back), each id sorts after the one
        /// made before it, as text and as bytes, and never carries an earlier millisecond.
        #[test]
        fn version_7_ids_sort_in_the_order_they_are_made(
            seed in any::<u64>(),
            steps in proptest::collection::vec(-5_000i64..5_000, 1..400),
        ) {
            let ids = IdSource::seeded(seed);
            let mut ms = 1_726_704_000_000i64;
            let mut previous: Option<Uuid> = None;
            for step in steps {
                // Half the steps keep the same millisecond.
                if step % 2 == 0 {
                    ms += step;
                }
                let id = ids.uuid_v7(ms);
                prop_assert_eq!(id.get_version_num(), 7);
                prop_assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
                if let Some(before) = previous {
                    prop_assert!(before < id, "{} then {}", before, id);
                    prop_assert!(before.to_string() < id.to_string());
                }
                previous = Some(id);
            }
        }
    }
}
