//! The release catalog: every Certificate Connector release with its date (the docs' "What's new"
//! list and the later public releases), plus releases an operator publishes at run time.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub version: Version,
    pub released: DateTime<Utc>,
    pub shipped: bool,
}

/// The shipped catalog, oldest first (docs/behaviour.md, "Releases and the version lifecycle").
pub const SHIPPED: &[(Version, (i32, u32, u32))] = &[
    (Version::new(6, 2107, 45, 0), (2021, 7, 29)),
    (Version::new(6, 2108, 18, 0), (2021, 8, 16)),
    (Version::new(6, 2109, 51, 0), (2021, 9, 23)),
    (Version::new(6, 2110, 201, 0), (2021, 10, 11)),
    (Version::new(6, 2112, 1, 0), (2022, 1, 6)),
    (Version::new(6, 2201, 7, 0), (2022, 2, 18)),
    (Version::new(6, 2202, 38, 0), (2022, 3, 10)),
    (Version::new(6, 2203, 12, 0), (2022, 5, 4)),
    (Version::new(6, 2205, 201, 0), (2022, 6, 30)),
    (Version::new(6, 2206, 122, 0), (2022, 9, 21)),
    (Version::new(6, 2301, 1, 0), (2023, 2, 15)),
    (Version::new(6, 2406, 0, 1001), (2024, 9, 19)),
    (Version::new(6, 2406, 0, 1002), (2025, 6, 12)),
    (Version::new(6, 2406, 0, 2002), (2025, 7, 22)),
    (Version::new(6, 2510, 3, 2002), (2026, 2, 18)),
];

/// The release that ended support of the two legacy connector products (6.2109.51.0).
pub const PRODUCT_REPLACEMENT_VERSION: Version = Version::new(6, 2109, 51, 0);

pub fn midnight_utc(year: i32, month: u32, day: u32) -> DateTime<Utc> {
    let date = NaiveDate::from_ymd_opt(year, month, day).unwrap_or(NaiveDate::MIN);
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// All known releases, sorted by version. A release dated after `now` is known to the catalog but
/// not yet released: the rules treat it as absent until its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    releases: Vec<Release>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("version {0} is already in the catalog")]
    Duplicate(Version),
}

impl Catalog {
    pub fn shipped() -> Self {
        let releases = SHIPPED
            .iter()
            .map(|(version, (y, m, d))| Release {
                version: *version,
                released: midnight_utc(*y, *m, *d),
                shipped: true,
            })
            .collect();
        Catalog { releases }
    }

    pub fn with_published(
        mut self,
        published: impl IntoIterator<Item = (Version, DateTime<Utc>)>,
    ) -> Self {
        for (version, released) in published {
            if !self.releases.iter().any(|r| r.version == version) {
                self.releases.push(Release {
                    version,
                    released,
                    shipped: false,
                });
            }
        }
        self.releases.sort_by_key(|r| r.version);
        self
    }

    /// Checks that `version` may be published (not already known).
    pub fn check_new(&self, version: Version) -> Result<(), CatalogError> {
        if self.releases.iter().any(|r| r.version == version) {
            return Err(CatalogError::Duplicate(version));
        }
        Ok(())
    }

    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    pub fn release_date(&self, version: Version) -> Option<DateTime<Utc>> {
        self.releases
            .iter()
            .find(|r| r.version == version)
            .map(|r| r.released)
    }

    /// `S(v)`: the release date of the first version released after `v`, i.e. the earliest date
    /// among releases with a higher version. It may lie in the future of any given `now`.
    pub fn successor_date(&self, version: Version) -> Option<DateTime<Utc>> {
        self.releases
            .iter()
            .filter(|r| r.version > version)
            .map(|r| r.released)
            .min()
    }

    /// The earliest instant a version newer than `v` becomes available to a tenant whose rollout
    /// delay is `delay_days` (release date + delay).
    pub fn first_newer_available(
        &self,
        version: Version,
        delay_days: u32,
    ) -> Option<DateTime<Utc>> {
        self.successor_date(version)
            .map(|s| s + chrono::Duration::days(delay_days as i64))
    }

    /// The newest version available to a tenant at `now` (release date + delay <= now).
    pub fn newest_available(&self, now: DateTime<Utc>, delay_days: u32) -> Option<Version> {
        self.releases
            .iter()
            .filter(|r| r.released + chrono::Duration::days(delay_days as i64) <= now)
            .map(|r| r.version)
            .max()
    }
}
