//! Correlation ids for the calls a connector and its SCEP module make: GUID-shaped, from a
//! seeded counter, so a scenario's transcript repeats exactly.

/// Correlation ids: GUID-shaped, from a counter through splitmix64 (deterministic per seed).
#[derive(Debug, Clone)]
pub(crate) struct Correlation {
    state: u64,
}

impl Correlation {
    pub(crate) fn seeded(seed: u64) -> Correlation {
        Correlation { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn next_id(&mut self) -> String {
        let high = self.next_u64().to_be_bytes();
        let low = self.next_u64().to_be_bytes();
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&high);
        bytes[8..].copy_from_slice(&low);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}
