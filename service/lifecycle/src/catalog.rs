//! The release catalog: every Certificate Connector release with its date (the docs' "What's new"
//! list and the later public releases), plus releases an operator publishes at run time. Every
//! shipped entry says where its version and date come from ([`Provenance`]).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use super::version::Version;

/// Where a catalog entry's version and date come from. `intune-mock releases` prints it beside each
/// release (docs/behaviour.md, "Releases and the version lifecycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provenance {
    /// Version and date are both listed in the product documentation's "What's new".
    Docs,
    /// The product documentation names the version (as the release that ended the legacy
    /// products) but not its date; the date is from the public release history.
    DocsVersion,
    /// The product documentation gives the date (the new connector replaced the legacy products
    /// on July 29, 2021) but not the version number; the number is from the public release
    /// history.
    DocsDate,
    /// Neither is in the product documentation: the public release history.
    PublicHistory,
    /// Published by an operator at run time.
    Published,
}

impl Provenance {
    /// The short name printed by `intune-mock releases`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Provenance::Docs => "docs",
            Provenance::DocsVersion => "docs-version",
            Provenance::DocsDate => "docs-date",
            Provenance::PublicHistory => "public-history",
            Provenance::Published => "published",
        }
    }

    /// Where the version and the date come from, in words.
    pub fn describe(&self) -> &'static str {
        match self {
            Provenance::Docs => "version and date from the product documentation (What's new)",
            Provenance::DocsVersion => {
                "version from the product documentation (it ended the legacy connectors); date from the public release history"
            }
            Provenance::DocsDate => {
                "date from the product documentation (the new connector replaced the legacy ones on July 29, 2021); version number from the public release history"
            }
            Provenance::PublicHistory => {
                "version and date from the public release history; not in the product documentation"
            }
            Provenance::Published => "published by an operator at run time",
        }
    }

    /// Whether the product documentation lists both the version and its date.
    pub fn in_docs(&self) -> bool {
        matches!(self, Provenance::Docs)
    }
}

/// One release: a version and the instant it came out (midnight UTC of its day for the shipped
/// ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub version: Version,
    pub released: DateTime<Utc>,
    /// Part of the shipped catalog (not published at run time).
    pub shipped: bool,
    pub provenance: Provenance,
}

/// One entry of the shipped catalog: a version, its release day and where both come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    pub version: Version,
    /// (year, month, day), UTC.
    pub day: (i32, u32, u32),
    pub provenance: Provenance,
}

const fn entry(version: Version, day: (i32, u32, u32), provenance: Provenance) -> Shipped {
    Shipped {
        version,
        day,
        provenance,
    }
}

/// The shipped catalog, oldest first (docs/behaviour.md, "Releases and the version lifecycle").
pub const SHIPPED: &[Shipped] = &[
    entry(
        Version::new(6, 2107, 45, 0),
        (2021, 7, 29),
        Provenance::DocsDate,
    ),
    entry(
        Version::new(6, 2108, 18, 0),
        (2021, 8, 16),
        Provenance::PublicHistory,
    ),
    entry(
        Version::new(6, 2109, 51, 0),
        (2021, 9, 23),
        Provenance::DocsVersion,
    ),
    entry(
        Version::new(6, 2110, 201, 0),
        (2021, 10, 11),
        Provenance::PublicHistory,
    ),
    entry(
        Version::new(6, 2112, 1, 0),
        (2022, 1, 6),
        Provenance::PublicHistory,
    ),
    entry(
        Version::new(6, 2201, 7, 0),
        (2022, 2, 18),
        Provenance::PublicHistory,
    ),
    entry(
        Version::new(6, 2202, 38, 0),
        (2022, 3, 10),
        Provenance::Docs,
    ),
    entry(Version::new(6, 2203, 12, 0), (2022, 5, 4), Provenance::Docs),
    entry(
        Version::new(6, 2205, 201, 0),
        (2022, 6, 30),
        Provenance::Docs,
    ),
    entry(
        Version::new(6, 2206, 122, 0),
        (2022, 9, 21),
        Provenance::Docs,
    ),
    entry(Version::new(6, 2301, 1, 0), (2023, 2, 15), Provenance::Docs),
    entry(
        Version::new(6, 2406, 0, 1001),
        (2024, 9, 19),
        Provenance::Docs,
    ),
    entry(
        Version::new(6, 2406, 0, 1002),
        (2025, 6, 12),
        Provenance::PublicHistory,
    ),
    entry(
        Version::new(6, 2406, 0, 2002),
        (2025, 7, 22),
        Provenance::PublicHistory,
    ),
    entry(
        Version::new(6, 2510, 3, 2002),
        (2026, 2, 18),
        Provenance::PublicHistory,
    ),
];

/// Which shipped catalog to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatalogChoice {
    /// Only the releases whose version and date the product documentation lists.
    Docs,
    /// Every known release (the default): the documented ones and the public release history.
    #[default]
    Extended,
}

/// A catalog name that is neither `docs` nor `extended`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown catalog `{0}`; the catalogs are docs and extended")]
pub struct CatalogChoiceError(pub String);

impl CatalogChoice {
    pub fn parse(input: &str) -> Result<Self, CatalogChoiceError> {
        match input {
            "docs" => Ok(CatalogChoice::Docs),
            "extended" => Ok(CatalogChoice::Extended),
            other => Err(CatalogChoiceError(other.to_owned())),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            CatalogChoice::Docs => "docs",
            CatalogChoice::Extended => "extended",
        }
    }
}

/// The release that ended support of the two legacy connector products (6.2109.51.0).
pub const PRODUCT_REPLACEMENT_VERSION: Version = Version::new(6, 2109, 51, 0);

/// Midnight UTC of a day (`NaiveDate::MIN` for a day that does not exist: the shipped days all do).
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

/// Why a release cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("version {0} is already in the catalog")]
    Duplicate(Version),
}

impl Catalog {
    /// The extended shipped catalog: every release in [`SHIPPED`].
    ///
    /// ```
    /// use intune_mock_lifecycle::{catalog::midnight_utc, Catalog, Version};
    ///
    /// let catalog = Catalog::shipped();
    /// assert_eq!(
    ///     catalog.release_date(Version::new(6, 2203, 12, 0)),
    ///     Some(midnight_utc(2022, 5, 4))
    /// );
    /// ```
    pub fn shipped() -> Self {
        Catalog::shipped_from(CatalogChoice::Extended)
    }

    /// The shipped catalog `choice` names: [`CatalogChoice::Docs`] keeps only the releases whose
    /// version and date the product documentation lists.
    pub fn shipped_from(choice: CatalogChoice) -> Self {
        let releases = SHIPPED
            .iter()
            .filter(|e| choice == CatalogChoice::Extended || e.provenance.in_docs())
            .map(|e| Release {
                version: e.version,
                released: midnight_utc(e.day.0, e.day.1, e.day.2),
                shipped: true,
                provenance: e.provenance,
            })
            .collect();
        Catalog { releases }
    }

    /// This catalog with releases published at run time added (a version already known keeps
    /// its entry).
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
                    provenance: Provenance::Published,
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

    /// Every release, sorted by version.
    pub fn releases(&self) -> &[Release] {
        &self.releases
    }

    /// When `version` was released, if the catalog knows it.
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
