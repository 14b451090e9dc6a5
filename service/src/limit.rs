//! The per-connector request rate limit: each connector credential may make `per_second`
//! requests a second on average, in bursts of up to twice that; past it the service answers 429
//! with `Retry-After` (docs/behaviour.md, "Errors and limits"). It counts real (monotonic) time,
//! not the virtual clock: it protects the service from a runaway client, which is a matter of
//! real load. Where it reads that time is injected ([`TimeSource`]), so tests move it by hand.

use std::fmt::Debug;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Where the limiter reads time: how long since some fixed origin, never going back.
pub trait TimeSource: Send + Sync + Debug {
    fn elapsed(&self) -> Duration;
}

/// The machine's monotonic clock, from when the limiter was made (the service's source).
#[derive(Debug)]
pub struct MonotonicTime {
    origin: std::time::Instant,
}

impl MonotonicTime {
    pub fn new() -> MonotonicTime {
        MonotonicTime {
            origin: std::time::Instant::now(),
        }
    }
}

impl Default for MonotonicTime {
    fn default() -> Self {
        MonotonicTime::new()
    }
}

impl TimeSource for MonotonicTime {
    fn elapsed(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// Time that moves only when told to ([`ManualTime::advance`]): tests of the limit run on it
/// instead of sleeping. Clones share one time.
#[derive(Debug, Clone, Default)]
pub struct ManualTime {
    nanos: Arc<AtomicU64>,
}

impl ManualTime {
    pub fn new() -> ManualTime {
        ManualTime::default()
    }

    /// Moves the time on by `by` (saturating at about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }
}

impl TimeSource for ManualTime {
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// A [`TimeSource`] as governor's clock.
#[derive(Debug, Clone)]
struct SourceClock(Arc<dyn TimeSource>);

impl Clock for SourceClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.elapsed())
    }
}

type KeyedLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, SourceClock, NoOpMiddleware<Nanos>>;

#[derive(Debug)]
pub struct ConnectorLimit {
    limiter: KeyedLimiter,
    clock: SourceClock,
    per_second: NonZeroU32,
}

impl ConnectorLimit {
    /// The limit on the machine's monotonic clock.
    pub fn new(per_second: NonZeroU32) -> ConnectorLimit {
        ConnectorLimit::with_time(per_second, Arc::new(MonotonicTime::new()))
    }

    /// The limit on `time` (a [`ManualTime`] in tests).
    pub fn with_time(per_second: NonZeroU32, time: Arc<dyn TimeSource>) -> ConnectorLimit {
        let burst = per_second.saturating_mul(NonZeroU32::MIN.saturating_add(1));
        let clock = SourceClock(time);
        ConnectorLimit {
            limiter: RateLimiter::dashmap_with_clock(
                Quota::per_second(per_second).allow_burst(burst),
                clock.clone(),
            ),
            clock,
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

    fn limit(per_second: u32) -> (ConnectorLimit, ManualTime) {
        let time = ManualTime::new();
        let limit =
            ConnectorLimit::with_time(NonZeroU32::new(per_second).unwrap(), Arc::new(time.clone()));
        (limit, time)
    }

    fn allowed(limit: &ConnectorLimit, id: &str) -> usize {
        (0..50).take_while(|_| limit.check(id).is_ok()).count()
    }

    #[test]
    fn a_connector_gets_a_burst_of_twice_its_rate_then_a_retry_after_and_others_are_untouched() {
        let (limit, _time) = limit(5);
        assert_eq!(allowed(&limit, "c-1"), 10);
        assert_eq!(limit.check("c-1"), Err(1));
        assert_eq!(limit.check("c-2"), Ok(()));
    }

    #[test]
    fn one_request_comes_back_each_fifth_of_a_second_at_five_a_second() {
        let (limit, time) = limit(5);
        assert_eq!(allowed(&limit, "c-1"), 10);
        time.advance(Duration::from_millis(199));
        assert_eq!(limit.check("c-1"), Err(1));
        time.advance(Duration::from_millis(1));
        assert_eq!(limit.check("c-1"), Ok(()));
        assert_eq!(limit.check("c-1"), Err(1));
        // Two seconds idle refill the whole burst, and no more.
        time.advance(Duration::from_secs(2));
        assert_eq!(allowed(&limit, "c-1"), 10);
    }

    #[test]
    fn retry_after_rounds_the_wait_up_to_whole_seconds() {
        // One a second, bursts of two: the third request waits a whole second.
        let (limit, time) = limit(1);
        assert_eq!(allowed(&limit, "c-1"), 2);
        assert_eq!(limit.check("c-1"), Err(1));
        time.advance(Duration::from_millis(400));
        assert_eq!(limit.check("c-1"), Err(1));
        time.advance(Duration::from_millis(600));
        assert_eq!(limit.check("c-1"), Ok(()));
    }
}
