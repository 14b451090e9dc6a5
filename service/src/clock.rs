//! The one source of time in the service: real, or virtual (frozen, set, advanced).
//!
//! Invariant: nothing else in the service reads the system time; SQL never calls `now()`.
//! Time is kept at millisecond resolution, the resolution the store keeps.

use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::IsoDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    Real,
    Virtual,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    #[error(
        "the clock is real; only a virtual clock (serve --clock virtual) can be set or advanced"
    )]
    NotVirtual,
    #[error("the virtual clock cannot go backwards: it is {now} and {requested} is earlier")]
    Backwards {
        now: DateTime<Utc>,
        requested: DateTime<Utc>,
    },
}

pub fn truncate_ms(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(at.timestamp_millis())
        .single()
        .unwrap_or(at)
}

pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[derive(Debug)]
pub enum Clock {
    Real,
    Virtual(Mutex<DateTime<Utc>>),
}

impl Clock {
    pub fn real() -> Self {
        Clock::Real
    }

    pub fn virtual_at(start: DateTime<Utc>) -> Self {
        Clock::Virtual(Mutex::new(truncate_ms(start)))
    }

    pub fn mode(&self) -> ClockMode {
        match self {
            Clock::Real => ClockMode::Real,
            Clock::Virtual(_) => ClockMode::Virtual,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match self {
            #[allow(clippy::disallowed_methods)] // The one place the system time is read.
            Clock::Real => truncate_ms(Utc::now()),
            Clock::Virtual(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Moves a virtual clock to `to`; the same instant is accepted, an earlier one is not.
    pub fn set(&self, to: DateTime<Utc>) -> Result<DateTime<Utc>, ClockError> {
        let Clock::Virtual(at) = self else {
            return Err(ClockError::NotVirtual);
        };
        let mut guard = at.lock().unwrap_or_else(|e| e.into_inner());
        let to = truncate_ms(to);
        if to < *guard {
            return Err(ClockError::Backwards {
                now: *guard,
                requested: to,
            });
        }
        *guard = to;
        Ok(to)
    }

    /// Moves a virtual clock to `to` in either direction: only for a reset, when nothing that
    /// depends on the past instants is left.
    pub fn reset_to(&self, to: DateTime<Utc>) -> Result<DateTime<Utc>, ClockError> {
        let Clock::Virtual(at) = self else {
            return Err(ClockError::NotVirtual);
        };
        let mut guard = at.lock().unwrap_or_else(|e| e.into_inner());
        *guard = truncate_ms(to);
        Ok(*guard)
    }

    pub fn advance(&self, by: &IsoDuration) -> Result<DateTime<Utc>, ClockError> {
        let Clock::Virtual(at) = self else {
            return Err(ClockError::NotVirtual);
        };
        let mut guard = at.lock().unwrap_or_else(|e| e.into_inner());
        *guard = truncate_ms(by.add_to(*guard));
        Ok(*guard)
    }
}
