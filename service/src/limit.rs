//! The per-connector request rate limit: each connector credential may make `per_second`
//! requests a second on average, in bursts of up to twice that; past it the service answers 429
//! with `Retry-After`. It counts real (wall) time, not the virtual clock: it protects the service
//! from a runaway client, which is a matter of real load.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Debug)]
pub struct ConnectorLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    per_second: NonZeroU32,
}

impl ConnectorLimit {
    pub fn new(per_second: NonZeroU32) -> ConnectorLimit {
        let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        ConnectorLimit {
            limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)),
            clock: DefaultClock::default(),
            per_second,
        }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second.get()
    }

    /// Counts one request of `connector_id`: `Err(seconds)` when it is over its limit, with the
    /// whole seconds (at least 1) until it may ask again.
    pub fn check(&self, connector_id: &str) -> Result<(), u32> {
        if self.limiter.len() > 100_000 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&connector_id.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(self.clock.now());
                (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).clamp(1, 3600) as u32
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connector_gets_a_burst_of_twice_its_rate_then_a_retry_after_and_others_are_untouched() {
        let limit = ConnectorLimit::new(NonZeroU32::new(5).unwrap());
        let started = std::time::Instant::now();
        let allowed = (0..50).take_while(|_| limit.check("c-1").is_ok()).count();
        // The burst is 10; a slow machine may see a cell replenished every 200 ms meanwhile.
        let refills = (started.elapsed().as_millis() / 200) as usize;
        assert!((10..=11 + refills).contains(&allowed), "{allowed}");
        assert!(allowed < 50, "never refused");
        assert_eq!(limit.check("c-1"), Err(1));
        assert_eq!(limit.check("c-2"), Ok(()));
    }
}
