//! The service's clock, and a virtual clock shared through the database (docs/behaviour.md,
//! "Time"): replicas on one database follow the stored instant, and a restart continues from it.

use chrono::{DateTime, Utc};

use crate::clock::{from_millis, ClockError, ClockMode};
use crate::config::StoredClock;
use crate::domain::IsoDuration;

use super::deps::Deps;
use super::error::OpsResult;

/// The clock's operations.
pub struct Time<'a> {
    pub(super) deps: &'a Deps,
}

impl Time<'_> {
    pub fn now(&self) -> DateTime<Utc> {
        self.deps.now()
    }

    pub fn mode(&self) -> ClockMode {
        self.deps.clock.mode()
    }

    /// Sets a virtual clock (never backwards) and stores it for the other processes on the
    /// database. Answers the clock's instant.
    pub async fn set(&self, to: DateTime<Utc>) -> OpsResult<DateTime<Utc>> {
        self.deps.clock.set(to)?;
        self.moved().await
    }

    /// Advances a virtual clock and stores it. Answers the clock's instant.
    pub async fn advance(&self, by: &IsoDuration) -> OpsResult<DateTime<Utc>> {
        self.deps.clock.advance(by)?;
        self.moved().await
    }

    /// After a set or an advance: stored, and the waiting leases look again (a backoff may have
    /// ended, a lease run out).
    async fn moved(&self) -> OpsResult<DateTime<Utc>> {
        let now = self.publish(false).await;
        self.deps.waits.wake_all();
        now
    }

    /// Moves a virtual clock to any instant, earlier ones included (a reset of everything), and
    /// stores it.
    pub(super) async fn reset_to(&self, to: DateTime<Utc>) -> OpsResult<DateTime<Utc>> {
        self.deps.clock.reset_to(to)?;
        self.publish(true).await
    }

    /// A virtual clock follows the one stored in a database that other processes share: it moves
    /// to the stored instant when that is later. A no-op for a real clock or a private store.
    pub async fn sync(&self) -> OpsResult<()> {
        if self.mode() != ClockMode::Virtual || !self.deps.store.shared() {
            return Ok(());
        }
        self.adopt_stored().await
    }

    /// At start, with the instant a database already holds (a restart, or a replica joining):
    /// `stored` says whether the clock continues from it, must find its own start there, or moves
    /// it to its start (docs/behaviour.md, "Time"). Then the clock stores itself. A fresh
    /// database starts at the clock's start.
    pub async fn start(&self, stored: StoredClock) -> OpsResult<()> {
        if self.mode() != ClockMode::Virtual {
            return Ok(());
        }
        let start = self.now();
        let Some(ms) = self.deps.store.clock_ms().await? else {
            self.publish(false).await?;
            return Ok(());
        };
        let held = from_millis(ms);
        match stored {
            StoredClock::Continue => {
                // Not stored backwards: a replica that moved the clock on meanwhile wins.
                self.deps.clock.reset_to(held)?;
                self.publish(false).await?;
            }
            StoredClock::MatchStart if held != start => {
                return Err(ClockError::StoredDiffers {
                    stored: held,
                    start,
                }
                .into());
            }
            StoredClock::MatchStart => {
                self.publish(false).await?;
            }
            StoredClock::ResetToStart => {
                if start < held && !self.deps.store.list_tenants().await?.is_empty() {
                    return Err(ClockError::ResetBackwards {
                        stored: held,
                        start,
                    }
                    .into());
                }
                self.publish(true).await?;
            }
        }
        Ok(())
    }

    async fn adopt_stored(&self) -> OpsResult<()> {
        if let Some(ms) = self.deps.store.clock_ms().await? {
            let stored = from_millis(ms);
            if stored > self.now() {
                self.deps.clock.set(stored)?;
            }
        }
        Ok(())
    }

    /// Stores a virtual clock after it was set or advanced (`backwards`: a reset moved it back).
    /// A later instant stored by another process meanwhile wins. Answers the clock's instant.
    async fn publish(&self, backwards: bool) -> OpsResult<DateTime<Utc>> {
        if self.mode() != ClockMode::Virtual {
            return Ok(self.now());
        }
        let stored = self
            .deps
            .store
            .store_clock_ms(self.now().timestamp_millis(), backwards)
            .await?;
        let stored = from_millis(stored);
        if stored > self.now() {
            self.deps.clock.set(stored)?;
        }
        Ok(self.now())
    }
}
