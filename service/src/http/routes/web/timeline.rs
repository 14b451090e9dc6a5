//! The picture of one connector's life on the operator page: a server-rendered SVG timeline
//! (docs/behaviour.md, "Releases and the version lifecycle"). No script: the page stays static.
//!
//! Two pure steps. [`lifeline`] reads the bands of a version out of the rules of the lifecycle
//! crate (the release policy's `lifecycle_dates`, or the dated legacy rule for the versions it
//! governs), so the picture cannot disagree with the status the API answers. [`svg`] draws the
//! bands, the history's changes and the service's "now" on one time axis.
//!
//! Every band carries its dates for machines (`data-band`, `data-from`, `data-to`) and a visible
//! date label for people; the picture is `role="img"` with a `<title>` and an `aria-label` that
//! say the same as the bands. A date is `YYYY-MM-DD` when it is a UTC midnight (every rule's
//! boundary is), RFC 3339 otherwise (a release an operator published at another instant).
//!
//! The SVG is inline in HTML, where the parser puts `<svg>` in the SVG namespace itself: it has no
//! `xmlns`, so the page names no URL at all.

use chrono::{DateTime, Duration, SecondsFormat, Timelike, Utc};

use crate::domain::lifecycle::{
    legacy_error_from, legacy_no_issue_from, legacy_no_revoke_from, lifecycle_dates,
    release_policy_applies,
};
use crate::domain::{Catalog, ReasonCode, Status, Version};

use super::escape;

/// What a stretch of the version's life means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BandKind {
    /// Before the successor's release (or with no newer release yet).
    Supported,
    /// From the successor's release: a warning.
    Deprecated,
    /// Six calendar months after the successor: an error.
    OutOfSupport,
    /// Eighteen calendar months after the successor: the service refuses the version's calls.
    Retired,
    /// A legacy version before 2022-04-01: at most a warning.
    LegacyWarning,
    /// A legacy version from 2022-04-01: Error.
    LegacyError,
    /// A legacy version from 2022-08-01: revocation refused.
    LegacyNoRevocation,
    /// A legacy version from 2022-09-01: issuance (SCEP included) refused.
    LegacyNoIssuance,
}

impl BandKind {
    /// The `data-band` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BandKind::Supported => "supported",
            BandKind::Deprecated => "deprecated",
            BandKind::OutOfSupport => "out-of-support",
            BandKind::Retired => "retired",
            BandKind::LegacyWarning => "legacy-warning",
            BandKind::LegacyError => "legacy-error",
            BandKind::LegacyNoRevocation => "legacy-no-revocation",
            BandKind::LegacyNoIssuance => "legacy-no-issuance",
        }
    }

    fn label(self) -> &'static str {
        match self {
            BandKind::Supported => "Supported",
            BandKind::Deprecated => "Deprecated",
            BandKind::OutOfSupport => "Out of support",
            BandKind::Retired => "Retired",
            BandKind::LegacyWarning => "Legacy: at most a warning",
            BandKind::LegacyError => "Legacy: Error",
            BandKind::LegacyNoRevocation => "Legacy: revocation refused",
            BandKind::LegacyNoIssuance => "Legacy: issuance refused",
        }
    }

    /// The band's fill: flat colours, one per meaning, from green to red.
    pub(crate) fn fill(self) -> &'static str {
        match self {
            BandKind::Supported => "#9fd89f",
            BandKind::Deprecated | BandKind::LegacyWarning => "#ffd966",
            BandKind::OutOfSupport | BandKind::LegacyError => "#f4a460",
            BandKind::Retired | BandKind::LegacyNoIssuance => "#d9534f",
            BandKind::LegacyNoRevocation => "#e8806f",
        }
    }
}

/// One stretch `[from, to)`; `None` is open (before anything known, or for ever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Band {
    pub(crate) kind: BandKind,
    pub(crate) from: Option<DateTime<Utc>>,
    pub(crate) to: Option<DateTime<Utc>>,
}

/// The bands of one version's life, in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lifeline {
    pub(crate) version: Version,
    pub(crate) bands: Vec<Band>,
    /// No newer release yet: one open "supported" band, labelled so.
    pub(crate) no_successor: bool,
}

/// One change of the connector's status history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) at: DateTime<Utc>,
    pub(crate) status: Status,
    pub(crate) reasons: Vec<ReasonCode>,
}

/// The bands of `version` under the rules: the release policy's three dates after its own
/// release, or the legacy rule's dated steps for a version the policy does not govern.
pub(crate) fn lifeline(catalog: &Catalog, version: Version) -> Lifeline {
    let released = catalog.release_date(version);
    let steps: Vec<(BandKind, DateTime<Utc>)> = if !release_policy_applies(version) {
        vec![
            (BandKind::LegacyError, legacy_error_from()),
            (BandKind::LegacyNoRevocation, legacy_no_revoke_from()),
            (BandKind::LegacyNoIssuance, legacy_no_issue_from()),
        ]
    } else if let Some(d) = lifecycle_dates(catalog, version) {
        vec![
            (BandKind::Deprecated, d.deprecated_from),
            (BandKind::OutOfSupport, d.support_ends),
            (BandKind::Retired, d.function_ends),
        ]
    } else {
        return Lifeline {
            version,
            bands: vec![Band {
                kind: BandKind::Supported,
                from: released,
                to: None,
            }],
            no_successor: true,
        };
    };
    let first = if release_policy_applies(version) {
        BandKind::Supported
    } else {
        BandKind::LegacyWarning
    };
    let mut bands = vec![Band {
        kind: first,
        from: released,
        to: Some(steps[0].1),
    }];
    for (i, (kind, from)) in steps.iter().enumerate() {
        bands.push(Band {
            kind: *kind,
            from: Some(*from),
            to: steps.get(i + 1).map(|(_, at)| *at),
        });
    }
    // A version released after its successor (a fix of an older line) was never in the first
    // band: drop a band that is empty.
    bands.retain(|b| !matches!((b.from, b.to), (Some(from), Some(to)) if from >= to));
    Lifeline {
        version,
        bands,
        no_successor: false,
    }
}

/// The picture's size in SVG user units (one CSS pixel each when shown at its width).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 132.0;
/// Left and right room, so a mark or label at the edge is whole.
const MARGIN: f64 = 8.0;
const BAND_TOP: f64 = 18.0;
const BAND_HEIGHT: f64 = 28.0;
/// The two rows of band date labels (alternating, so neighbouring dates do not overlap).
const DATE_ROWS: [f64; 2] = [60.0, 72.0];
const NOW_LABEL_Y: f64 = 86.0;
const LEGEND_Y: f64 = 100.0;
const NOW_COLOUR: &str = "#0078d4";

/// A date for people and for `data-*`: the day when it is a UTC midnight, RFC 3339 otherwise.
pub(crate) fn date(at: DateTime<Utc>) -> String {
    if at.num_seconds_from_midnight() == 0 && at.timestamp_subsec_nanos() == 0 {
        at.format("%Y-%m-%d").to_string()
    } else {
        at.to_rfc3339_opts(SecondsFormat::Secs, true)
    }
}

/// The instants the axis spans: every known band boundary, every mark and now, with room
/// around them (a twelfth of the span, at least 30 days).
fn axis(lifeline: &Lifeline, marks: &[Mark], now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let instants = lifeline
        .bands
        .iter()
        .flat_map(|b| [b.from, b.to])
        .flatten()
        .chain(marks.iter().map(|m| m.at))
        .chain([now]);
    let (lo, hi) = instants.fold((now, now), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let pad = ((hi - lo) / 12).max(Duration::days(30));
    (lo - pad, hi + pad)
}

/// Maps instants to x.
struct Scale {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Scale {
    fn x(&self, at: DateTime<Utc>) -> f64 {
        let span = (self.end - self.start).num_milliseconds().max(1) as f64;
        let offset = (at - self.start).num_milliseconds() as f64;
        MARGIN + (offset / span).clamp(0.0, 1.0) * (WIDTH - 2.0 * MARGIN)
    }
}

/// What a band says in words: "Deprecated from 2022-05-04 until 2022-11-04".
fn band_words(band: &Band, no_successor: bool) -> String {
    let mut words = band.kind.label().to_owned();
    match band.from {
        Some(from) if band.to.is_none() && no_successor => {
            words.push_str(&format!(" since {}", date(from)));
        }
        Some(from) => words.push_str(&format!(" from {}", date(from))),
        None => {}
    }
    if let Some(to) = band.to {
        words.push_str(&format!(" until {}", date(to)));
    }
    if no_successor {
        words.push_str(" (no newer release yet)");
    }
    words
}

fn mark_words(mark: &Mark) -> String {
    let reasons = if mark.reasons.is_empty() {
        "no reasons".to_owned()
    } else {
        mark.reasons
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}: {} ({reasons})",
        mark.at.format("%Y-%m-%d %H:%M:%S UTC"),
        status_label(mark.status)
    )
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Healthy => "Healthy",
        Status::Warning => "Warning",
        Status::Error => "Error",
    }
}

fn status_colour(status: Status) -> &'static str {
    match status {
        Status::Healthy => "#107c10",
        Status::Warning => "#8a6100",
        Status::Error => "#a4262c",
    }
}

/// The SVG of `lifeline` with the history's `marks` and the service's `now`. Pure: the same
/// arguments give the same text.
pub(crate) fn svg(lifeline: &Lifeline, marks: &[Mark], now: DateTime<Utc>) -> String {
    let (start, end) = axis(lifeline, marks, now);
    let scale = Scale { start, end };
    let summary = format!(
        "Lifecycle of version {}: {}. Now {}.",
        lifeline.version,
        lifeline
            .bands
            .iter()
            .map(|b| band_words(b, lifeline.no_successor))
            .collect::<Vec<_>>()
            .join("; "),
        now.format("%Y-%m-%d %H:%M:%S UTC")
    );
    let mut out = format!(
        "<svg class=\"lifeline\" viewBox=\"0 0 {WIDTH} \
         {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" aria-label=\"{}\" \
         data-version=\"{}\" font-family=\"sans-serif\" font-size=\"11\">\n<title>{}</title>\n",
        escape(&summary),
        escape(&lifeline.version.to_string()),
        escape(&summary),
    );
    years(&mut out, &scale);
    out.push_str("<g class=\"bands\">\n");
    for (i, band) in lifeline.bands.iter().enumerate() {
        band_svg(&mut out, &scale, band, lifeline.no_successor, i);
    }
    out.push_str("</g>\n<g class=\"marks\">\n");
    for mark in marks {
        let words = escape(&mark_words(mark));
        out.push_str(&format!(
            "<g class=\"mark\" data-at=\"{}\" data-status=\"{}\"><title>{words}</title><circle \
             cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{}\" stroke=\"#ffffff\" \
             stroke-width=\"1.5\"/></g>\n",
            mark.at.to_rfc3339_opts(SecondsFormat::Secs, true),
            mark.status.as_str(),
            scale.x(mark.at),
            BAND_TOP + BAND_HEIGHT / 2.0,
            status_colour(mark.status),
        ));
    }
    out.push_str("</g>\n");
    now_line(&mut out, &scale, now);
    legend(&mut out, lifeline);
    out.push_str("</svg>");
    out
}

/// A faint line and the year at every 1 January on the axis.
fn years(out: &mut String, scale: &Scale) {
    out.push_str("<g class=\"years\" fill=\"#605e5c\">\n");
    for year in scale
        .start
        .format("%Y")
        .to_string()
        .parse::<i32>()
        .unwrap_or(0)
        + 1
        ..=scale
            .end
            .format("%Y")
            .to_string()
            .parse::<i32>()
            .unwrap_or(0)
    {
        let Some(jan1) = chrono::NaiveDate::from_ymd_opt(year, 1, 1) else {
            continue;
        };
        let x = scale.x(jan1.and_time(chrono::NaiveTime::MIN).and_utc());
        out.push_str(&format!(
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"13\" y2=\"{:.1}\" stroke=\"#c8c6c4\"/><text \
             x=\"{:.1}\" y=\"11\">{year}</text>\n",
            BAND_TOP + BAND_HEIGHT,
            x + 2.0,
        ));
    }
    out.push_str("</g>\n");
}

fn band_svg(out: &mut String, scale: &Scale, band: &Band, no_successor: bool, index: usize) {
    let x0 = band.from.map_or(MARGIN, |t| scale.x(t));
    let x1 = band.to.map_or(WIDTH - MARGIN, |t| scale.x(t));
    let mut attributes = format!("data-band=\"{}\"", band.kind.as_str());
    if let Some(from) = band.from {
        attributes.push_str(&format!(" data-from=\"{}\"", escape(&date(from))));
    }
    if let Some(to) = band.to {
        attributes.push_str(&format!(" data-to=\"{}\"", escape(&date(to))));
    }
    if no_successor {
        attributes.push_str(" data-open=\"no-newer-release\"");
    }
    out.push_str(&format!(
        "<g class=\"band\" {attributes}><title>{}</title><rect x=\"{x0:.1}\" y=\"{BAND_TOP}\" \
         width=\"{:.1}\" height=\"{BAND_HEIGHT}\" fill=\"{}\"/>",
        escape(&band_words(band, no_successor)),
        (x1 - x0).max(0.0),
        band.kind.fill(),
    ));
    // The visible date: where the band starts, under it (or the open band's words).
    let label = match band.from {
        Some(from) => date(from),
        None => format!("until {}", band.to.map(date).unwrap_or_default()),
    };
    let anchor = if x0 > WIDTH - 80.0 { "end" } else { "start" };
    out.push_str(&format!(
        "<line x1=\"{x0:.1}\" x2=\"{x0:.1}\" y1=\"{BAND_TOP}\" y2=\"{:.1}\" \
         stroke=\"#605e5c\"/><text class=\"band-date\" x=\"{x0:.1}\" y=\"{:.1}\" \
         text-anchor=\"{anchor}\">{}</text></g>\n",
        DATE_ROWS[index % 2] - 9.0,
        DATE_ROWS[index % 2],
        escape(&label),
    ));
}

fn now_line(out: &mut String, scale: &Scale, now: DateTime<Utc>) {
    let x = scale.x(now);
    let anchor = if x > WIDTH / 2.0 { "end" } else { "start" };
    out.push_str(&format!(
        "<g class=\"now\" data-now=\"{}\"><line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"14\" \
         y2=\"{:.1}\" stroke=\"{NOW_COLOUR}\" stroke-width=\"2\"/><text x=\"{x:.1}\" y=\"{}\" \
         text-anchor=\"{anchor}\" fill=\"{NOW_COLOUR}\" font-weight=\"bold\">now {}</text></g>\n",
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
        NOW_LABEL_Y - 9.0,
        NOW_LABEL_Y,
        now.format("%Y-%m-%d %H:%M UTC"),
    ));
}

/// One swatch and the band's words per band, two to a row under the axis (a legacy band's
/// words are long).
fn legend(out: &mut String, lifeline: &Lifeline) {
    out.push_str("<g class=\"legend\">\n");
    let slot = (WIDTH - 2.0 * MARGIN) / 2.0;
    for (i, band) in lifeline.bands.iter().enumerate() {
        let x = MARGIN + slot * (i % 2) as f64;
        let y = LEGEND_Y + 14.0 * (i / 2) as f64;
        let words = band_words(band, lifeline.no_successor);
        out.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text \
             x=\"{:.1}\" y=\"{:.1}\">{}</text>\n",
            band.kind.fill(),
            x + 14.0,
            y + 9.0,
            escape(&words),
        ));
    }
    out.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalog::midnight_utc;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    /// The docs' worked example: 6.2202.38.0 with 6.2203.12.0 released 2022-05-04.
    #[test]
    fn the_worked_example_has_its_three_bands_from_the_rules() {
        let line = lifeline(&Catalog::shipped(), v("6.2202.38.0"));
        let kinds: Vec<_> = line.bands.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            [
                BandKind::Supported,
                BandKind::Deprecated,
                BandKind::OutOfSupport,
                BandKind::Retired
            ]
        );
        assert_eq!(line.bands[1].from, Some(midnight_utc(2022, 5, 4)));
        assert_eq!(line.bands[2].from, Some(midnight_utc(2022, 11, 4)));
        assert_eq!(line.bands[3].from, Some(midnight_utc(2023, 11, 4)));
        assert_eq!(line.bands[3].to, None);
        assert_eq!(line.bands[0].to, Some(midnight_utc(2022, 5, 4)));
        assert!(!line.no_successor);

        let svg = svg(&line, &[], at("2022-06-01T00:00:00Z"));
        for band in [
            "data-band=\"deprecated\" data-from=\"2022-05-04\" data-to=\"2022-11-04\"",
            "data-band=\"out-of-support\" data-from=\"2022-11-04\" data-to=\"2023-11-04\"",
            "data-band=\"retired\" data-from=\"2023-11-04\">",
        ] {
            assert!(svg.contains(band), "{band} in {svg}");
        }
        assert!(
            svg.contains("<g class=\"now\" data-now=\"2022-06-01T00:00:00Z\">"),
            "{svg}"
        );
        assert!(svg.contains(">2023-11-04</text>"), "{svg}");
        assert!(svg.starts_with("<svg class=\"lifeline\""), "{svg}");
        assert!(svg.contains("role=\"img\""), "{svg}");
        assert!(
            svg.contains("<title>Lifecycle of version 6.2202.38.0: "),
            "{svg}"
        );
    }

    #[test]
    fn a_version_with_no_newer_release_has_one_open_supported_band_labelled_so() {
        let catalog =
            Catalog::shipped().with_published(vec![(v("9.9999.1.0"), midnight_utc(2030, 1, 2))]);
        let line = lifeline(&catalog, v("9.9999.1.0"));
        assert_eq!(
            line.bands,
            [Band {
                kind: BandKind::Supported,
                from: Some(midnight_utc(2030, 1, 2)),
                to: None
            }]
        );
        assert!(line.no_successor);
        let svg = svg(&line, &[], at("2030-02-01T00:00:00Z"));
        assert!(
            svg.contains(
                "data-band=\"supported\" data-from=\"2030-01-02\" data-open=\"no-newer-release\""
            ),
            "{svg}"
        );
        assert!(
            svg.contains("Supported since 2030-01-02 (no newer release yet)"),
            "{svg}"
        );
    }

    #[test]
    fn a_legacy_version_has_the_legacy_rules_dated_bands() {
        let line = lifeline(&Catalog::shipped(), v("6.2008.60.607"));
        let bands: Vec<_> = line
            .bands
            .iter()
            .map(|b| (b.kind.as_str(), b.from.map(date), b.to.map(date)))
            .collect();
        assert_eq!(
            bands[1..],
            [
                (
                    "legacy-error",
                    Some("2022-04-01".to_owned()),
                    Some("2022-08-01".to_owned())
                ),
                (
                    "legacy-no-revocation",
                    Some("2022-08-01".to_owned()),
                    Some("2022-09-01".to_owned())
                ),
                ("legacy-no-issuance", Some("2022-09-01".to_owned()), None),
            ]
        );
        assert_eq!(bands[0].0, "legacy-warning");
        assert_eq!(bands[0].2, Some("2022-04-01".to_owned()));
    }

    #[test]
    fn marks_and_now_sit_where_their_instants_are() {
        let line = Lifeline {
            version: v("6.2202.38.0"),
            bands: vec![Band {
                kind: BandKind::Supported,
                from: Some(at("2022-01-01T00:00:00Z")),
                to: None,
            }],
            no_successor: true,
        };
        let marks = [
            Mark {
                at: at("2022-01-01T00:00:00Z"),
                status: Status::Healthy,
                reasons: vec![],
            },
            Mark {
                at: at("2022-03-01T12:30:00Z"),
                status: Status::Error,
                reasons: vec![ReasonCode::Inactive],
            },
        ];
        let svg = svg(&line, &marks, at("2022-02-01T00:00:00Z"));
        assert!(
            svg.contains("<g class=\"mark\" data-at=\"2022-03-01T12:30:00Z\" data-status=\"error\"><title>2022-03-01 12:30:00 UTC: Error (Inactive)</title>"),
            "{svg}"
        );
        // The axis: 2021-12-02 (30 days of room before the first instant) to 2022-03-31T12:30.
        let x_of = |needle: &str| -> f64 {
            let i = svg.find(needle).unwrap() + needle.len();
            let rest = &svg[i..];
            let key = if needle.starts_with("data-at") {
                "cx=\""
            } else {
                "x1=\""
            };
            let j = rest.find(key).unwrap() + key.len();
            rest[j..j + rest[j..].find('"').unwrap()].parse().unwrap()
        };
        let first = x_of("data-at=\"2022-01-01T00:00:00Z\"");
        let now = x_of("data-now=\"2022-02-01T00:00:00Z\"");
        let second = x_of("data-at=\"2022-03-01T12:30:00Z\"");
        // 30, 61 and 89.52 days into 119.52 days, over the 944 units between the margins.
        assert_eq!((first, now, second), (244.9, 489.8, 715.1));
        // A pure function.
        assert_eq!(svg, super::svg(&line, &marks, at("2022-02-01T00:00:00Z")));
    }

    #[test]
    fn a_date_is_a_day_at_midnight_and_rfc_3339_otherwise() {
        assert_eq!(date(at("2022-05-04T00:00:00Z")), "2022-05-04");
        assert_eq!(date(at("2022-05-04T10:11:12Z")), "2022-05-04T10:11:12Z");
    }
}
