//! Calendar-month arithmetic and ISO 8601 durations (docs/behaviour.md, "Releases and the
//! version lifecycle" and "Time").

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

/// Adds calendar months: the same day and time-of-day `months` later; when that day does not exist
/// in the target month, the month's last day (2022-08-31 + 6 months = 2023-02-28).
pub fn add_months(at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    let total = at.year() as i64 * 12 + (at.month0() as i64) + months as i64;
    let year = (total.div_euclid(12)) as i32;
    let month0 = total.rem_euclid(12) as u32;
    let last_day = last_day_of_month(year, month0 + 1);
    let day = at.day().min(last_day);
    let date = NaiveDate::from_ymd_opt(year, month0 + 1, day).unwrap_or(NaiveDate::MAX);
    Utc.from_utc_datetime(&date.and_time(at.time()))
}

fn last_day_of_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(28)
}

/// An ISO 8601 duration `PnYnMnWnDTnHnMnS` split into calendar months and exact milliseconds.
/// Years count as 12 months; weeks as 7 days; days as 24 hours (UTC has no daylight saving).
/// Fractions are allowed only on seconds (`PT0.5S`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoDuration {
    pub months: u32,
    pub millis: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not an ISO 8601 duration like P6M, P1Y6M, P3D or PT30S: {why}")]
pub struct DurationParseError {
    pub input: String,
    pub why: &'static str,
}

impl IsoDuration {
    pub fn parse(input: &str) -> Result<Self, DurationParseError> {
        let fail = |why| DurationParseError {
            input: input.to_owned(),
            why,
        };
        let rest = input
            .strip_prefix('P')
            .ok_or_else(|| fail("it must start with `P`"))?;
        if rest.is_empty() {
            return Err(fail("it has no components"));
        }
        let (date_part, time_part) = match rest.split_once('T') {
            Some((_, "")) => return Err(fail("`T` must be followed by a time component")),
            Some((d, t)) => (d, Some(t)),
            None => (rest, None),
        };
        let mut months: u64 = 0;
        let mut millis: i128 = 0;
        let mut seen_any = false;
        for (number, unit) in components(date_part).map_err(fail)? {
            seen_any = true;
            let whole = number.whole().map_err(fail)?;
            match unit {
                'Y' => months += whole * 12,
                'M' => months += whole,
                'W' => millis += whole as i128 * 7 * 86_400_000,
                'D' => millis += whole as i128 * 86_400_000,
                _ => return Err(fail("the date part takes only Y, M, W and D")),
            }
        }
        if let Some(time) = time_part {
            for (number, unit) in components(time).map_err(fail)? {
                seen_any = true;
                match unit {
                    'H' => millis += number.whole().map_err(fail)? as i128 * 3_600_000,
                    'M' => millis += number.whole().map_err(fail)? as i128 * 60_000,
                    'S' => millis += number.millis() as i128,
                    _ => return Err(fail("the time part takes only H, M and S")),
                }
            }
        }
        if !seen_any {
            return Err(fail("it has no components"));
        }
        // Bound durations to 1000 years so arithmetic on them can never overflow.
        if months > 12_000 || millis > 1000 * 366 * 86_400_000 {
            return Err(fail("it is longer than 1000 years"));
        }
        Ok(IsoDuration {
            months: months as u32,
            millis: millis as i64,
        })
    }

    /// `at` plus this duration: calendar months first, then the exact part.
    pub fn add_to(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        add_months(at, self.months) + Duration::milliseconds(self.millis)
    }
}

struct Number<'a>(&'a str);

impl Number<'_> {
    fn whole(&self) -> Result<u64, &'static str> {
        if self.0.contains(['.', ',']) {
            return Err("only seconds may have a fraction");
        }
        self.0
            .parse::<u64>()
            .map_err(|_| "a component is not a whole number")
    }

    fn millis(&self) -> u64 {
        let (whole, frac) = self.0.split_once(['.', ',']).unwrap_or((self.0, ""));
        let whole: u64 = whole.parse().unwrap_or(0);
        let frac_ms: u64 = format!("{frac:0<3}")[..3].parse().unwrap_or(0);
        whole.saturating_mul(1000).saturating_add(frac_ms)
    }
}

/// Splits `6M3D` into `[(6,'M'), (3,'D')]`; every unit letter at most once, in any order the
/// caller then checks.
fn components(part: &str) -> Result<Vec<(Number<'_>, char)>, &'static str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen = Vec::new();
    for (idx, ch) in part.char_indices() {
        if ch.is_ascii_digit() || ch == '.' || ch == ',' {
            continue;
        }
        let digits = &part[start..idx];
        if digits.is_empty() || digits.len() > 12 {
            return Err("each unit needs a number of at most 12 digits before it");
        }
        if digits.starts_with(['.', ','])
            || digits.ends_with(['.', ','])
            || digits.matches(['.', ',']).count() > 1
        {
            return Err("a number is malformed");
        }
        if seen.contains(&ch) {
            return Err("a unit appears twice");
        }
        seen.push(ch);
        out.push((Number(digits), ch));
        start = idx + ch.len_utf8();
    }
    if start != part.len() {
        return Err("it ends with a number that has no unit");
    }
    Ok(out)
}
