//! A user's own "when does support end?" function, property-tested against the crate.
//!
//! Say your fleet tool keeps its own list of releases and answers "which of my connectors leave
//! support next month?" with the function below. The crate's generators give it random release
//! histories (releases published later, out of order), versions and instants biased to the
//! boundaries; the crate's `lifecycle_dates` is the reference.
//!
//! Run it: `cargo run -p intune-mock-lifecycle --example end_of_support --features proptest`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use intune_mock_lifecycle::lifecycle::lifecycle_dates;
use intune_mock_lifecycle::strategies::{instant_near, release_history, version};
use intune_mock_lifecycle::Version;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The tool's function: support ends six calendar months after the next release (the day
/// clamped to the month's end), for versions from 6.2101.13.0 on; `None` while no newer release
/// exists.
fn my_end_of_support(releases: &[(Version, DateTime<Utc>)], v: Version) -> Option<DateTime<Utc>> {
    if v < Version::new(6, 2101, 13, 0) {
        return None;
    }
    let next = releases
        .iter()
        .filter(|(other, _)| *other > v)
        .map(|(_, at)| *at)
        .min()?;
    let months = next.year() * 12 + next.month0() as i32 + 6;
    let (year, month) = (months / 12, (months % 12 + 1) as u32);
    let day = (1..=next.day())
        .rev()
        .find_map(|d| NaiveDate::from_ymd_opt(year, month, d))?;
    Some(day.and_time(next.time()).and_utc())
}

/// Is `v` out of support at `now`, according to the tool?
fn my_out_of_support(
    releases: &[(Version, DateTime<Utc>)],
    v: Version,
    now: DateTime<Utc>,
) -> bool {
    my_end_of_support(releases, v).is_some_and(|end| now >= end)
}

fn main() {
    let cases = (release_history(), version()).prop_flat_map(|(history, v)| {
        let near = instant_near(&history.catalog(), v);
        (Just(history), Just(v), near)
    });
    let config = Config {
        failure_persistence: None,
        ..Config::with_cases(2_000)
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&cases, |(history, v, now)| {
        let catalog = history.catalog();
        let releases: Vec<(Version, DateTime<Utc>)> = catalog
            .releases()
            .iter()
            .map(|r| (r.version, r.released))
            .collect();
        let reference = lifecycle_dates(&catalog, v).map(|d| d.support_ends);
        prop_assert_eq!(my_end_of_support(&releases, v), reference, "{}", v);
        let out = reference.is_some_and(|end| now >= end);
        prop_assert_eq!(
            my_out_of_support(&releases, v, now),
            out,
            "{} at {}",
            v,
            now
        );
        Ok(())
    });
    match result {
        Ok(()) => println!("my_end_of_support agrees with intune-mock-lifecycle on 2000 cases"),
        Err(e) => {
            eprintln!("my_end_of_support disagrees: {e}");
            std::process::exit(1);
        }
    }
}
