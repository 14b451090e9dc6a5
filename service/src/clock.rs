//! The one source of time in the service: real, or virtual (frozen, set, advanced).
//!
//! Invariant: nothing else in the service reads the system time; SQL never calls `now()`.
//! Time is kept at millisecond resolution, the resolution the store keeps.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};

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
    /// Past [`LAST_INSTANT`] (or before [`FIRST_INSTANT`]): `requested` says how it was asked for.
    #[error(
        "the clock cannot pass {}: {requested} is past it (an RFC 3339 date has a four-digit year)",
        rfc3339(LAST_INSTANT)
    )]
    OutOfRange { requested: String },
    /// At start, the database holds another instant than the start asked for.
    #[error("the database's virtual clock is at {}, not at the start asked for, {}: a restart continues from the stored instant (serve: leave out --start to continue from it, or add --reset-clock to move it to the start)", rfc3339(*stored), rfc3339(*start))]
    StoredDiffers {
        stored: DateTime<Utc>,
        start: DateTime<Utc>,
    },
    /// A reset at start would move the clock back over a database that holds tenants.
    #[error("the database's virtual clock is at {}: --reset-clock cannot move it back to {} while the database holds tenants (their history and leases are dated up to then); remove them first (POST /admin/reset with {{\"clock\": …}} does both), or start on a fresh database", rfc3339(*stored), rfc3339(*start))]
    ResetBackwards {
        stored: DateTime<Utc>,
        start: DateTime<Utc>,
    },
}

/// The last instant the clock may show: the last second RFC 3339 writes (four-digit years).
/// Every date the service writes is the clock's instant or derived from it.
pub const LAST_INSTANT: DateTime<Utc> = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(day) => match day.and_hms_opt(23, 59, 59) {
        Some(at) => at.and_utc(),
        None => DateTime::<Utc>::MAX_UTC,
    },
    None => DateTime::<Utc>::MAX_UTC,
};

/// The first instant the clock may show (year 0000, the first RFC 3339 writes).
pub const FIRST_INSTANT: DateTime<Utc> = match NaiveDate::from_ymd_opt(0, 1, 1) {
    Some(day) => match day.and_hms_opt(0, 0, 0) {
        Some(at) => at.and_utc(),
        None => DateTime::<Utc>::MIN_UTC,
    },
    None => DateTime::<Utc>::MIN_UTC,
};

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `by` written back as an ISO 8601 duration (calendar months, then seconds).
fn iso(by: &IsoDuration) -> String {
    let mut text = String::from("P");
    if by.months > 0 {
        text.push_str(&format!("{}M", by.months));
    }
    if by.millis != 0 || by.months == 0 {
        let (seconds, ms) = (by.millis / 1000, by.millis % 1000);
        match ms {
            0 => text.push_str(&format!("T{seconds}S")),
            ms => text.push_str(&format!("T{seconds}.{ms:03}S")),
        }
    }
    text
}

/// `at` when the clock may show it; otherwise [`ClockError::OutOfRange`], `asked` saying how it
/// was asked for (`set to …`, `… plus P1D`, `start …`).
pub fn in_range(
    at: DateTime<Utc>,
    asked: impl FnOnce() -> String,
) -> Result<DateTime<Utc>, ClockError> {
    if (FIRST_INSTANT..=LAST_INSTANT).contains(&at) {
        Ok(at)
    } else {
        Err(ClockError::OutOfRange { requested: asked() })
    }
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
        let to = in_range(truncate_ms(to), || format!("set to {}", rfc3339(to)))?;
        let mut guard = at.lock().unwrap_or_else(|e| e.into_inner());
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
        let to = in_range(truncate_ms(to), || format!("set to {}", rfc3339(to)))?;
        let mut guard = at.lock().unwrap_or_else(|e| e.into_inner());
        *guard = to;
        Ok(*guard)
    }

    pub fn advance(&self, by: &IsoDuration) -> Result<DateTime<Utc>, ClockError> {
        let Clock::Virtual(at) = self else {
            return Err(ClockError::NotVirtual);
        };
        let mut guard = at.lock().unwrap_or_else(|e| e.into_inner());
        let from = *guard;
        *guard = in_range(truncate_ms(by.add_to(from)), || {
            format!("{} plus {}", rfc3339(from), iso(by))
        })?;
        Ok(*guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_clock_reaches_the_last_second_of_9999_and_no_further() {
        let clock = Clock::virtual_at(at("9999-12-31T23:59:58Z"));
        assert_eq!(
            clock.set(at("9999-12-31T23:59:59Z")),
            Ok(at("9999-12-31T23:59:59Z"))
        );
        let past = clock.advance(&IsoDuration::parse("PT1S").unwrap());
        assert_eq!(
            past.unwrap_err().to_string(),
            "the clock cannot pass 9999-12-31T23:59:59Z: 9999-12-31T23:59:59Z plus PT1S is past it (an RFC 3339 date has a four-digit year)"
        );
        assert_eq!(clock.now(), at("9999-12-31T23:59:59Z"));
        let past = clock.set(at("9999-12-31T23:59:59.001Z"));
        assert_eq!(
            past.unwrap_err().to_string(),
            "the clock cannot pass 9999-12-31T23:59:59Z: set to 9999-12-31T23:59:59.001Z is past it (an RFC 3339 date has a four-digit year)"
        );
        let months = clock
            .reset_to(at("9999-12-01T00:00:00Z"))
            .and_then(|_| clock.advance(&IsoDuration::parse("P1M").unwrap()));
        assert_eq!(
            months.unwrap_err().to_string(),
            "the clock cannot pass 9999-12-31T23:59:59Z: 9999-12-01T00:00:00Z plus P1M is past it (an RFC 3339 date has a four-digit year)"
        );
    }
}
