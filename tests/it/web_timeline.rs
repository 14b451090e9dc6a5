//! The timeline picture of the operator page: each connector's life as an inline SVG. Over HTTP
//! the SVG is parsed as XML and its bands, history marks and "now" line are read back with
//! literal expected dates: the docs' worked example (6.2202.38.0, whose successor 6.2203.12.0 was
//! released 2022-05-04) and a legacy version under the dated legacy rule. In headless Chromium a
//! screenshot is saved to `target/test-artifacts/timeline.png` and decoded: the band colours
//! must be painted. Without Chromium that test fails naming the package;
//! `INTUNE_MOCK_SKIP=chromium` skips it by name.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use scenarios::harness::{TestApp, OPERATOR_TOKEN};

use crate::browser::{artifacts_dir, chromium, Browser};
use crate::support::{app_at, install, require, set_clock, Need};

/// One `data-band` group of the SVG.
#[derive(Debug, Clone, PartialEq)]
struct Band {
    band: String,
    from: Option<String>,
    to: Option<String>,
    /// The rect's left edge and width.
    x: f64,
    width: f64,
    fill: String,
    /// The visible date label.
    label: String,
}

/// One history mark: its instant, status and tooltip.
#[derive(Debug, Clone, PartialEq)]
struct Mark {
    at: String,
    status: String,
    title: String,
}

/// What the SVG of one connector says.
#[derive(Debug, Default)]
struct Picture {
    role: String,
    aria_label: String,
    bands: Vec<Band>,
    marks: Vec<Mark>,
    now: String,
    now_x: f64,
}

fn attributes(e: &BytesStart<'_>) -> BTreeMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.expect("a well-formed attribute");
            (
                String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                a.normalized_value(XmlVersion::Implicit1_0)
                    .expect("an escaped value")
                    .into_owned(),
            )
        })
        .collect()
}

/// Parses the `<svg>` of the connector's timeline row out of the page.
fn picture(page: &str, connector_id: &str) -> Picture {
    let row = page
        .find(&format!("data-timeline-for=\"{connector_id}\""))
        .unwrap_or_else(|| panic!("no timeline row for {connector_id} in {page}"));
    let start = page[row..].find("<svg").expect("an svg in the row") + row;
    let end = page[start..].find("</svg>").expect("the svg's end") + start + "</svg>".len();
    let mut reader = Reader::from_str(&page[start..end]);
    let mut out = Picture::default();
    // The open groups: "band", "mark", "now" or "" for any other element.
    let mut open: Vec<String> = Vec::new();
    let mut text_of: Option<&'static str> = None;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("the SVG is not XML ({e}): {}", &page[start..end]));
        match event {
            Event::Start(e) => {
                let name = element(&mut out, &e, &open, &mut text_of);
                open.push(name);
            }
            Event::Empty(e) => {
                element(&mut out, &e, &open, &mut text_of);
            }
            Event::Text(t) => {
                let text = t.decode().unwrap().into_owned();
                match text_of.take() {
                    Some("band") => out.bands.last_mut().unwrap().label = text,
                    Some("mark") => out.marks.last_mut().unwrap().title = text,
                    _ => {}
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

/// Reads one element into `out`; answers the name `open` keeps for it (a group's class).
fn element(
    out: &mut Picture,
    e: &BytesStart<'_>,
    open: &[String],
    text_of: &mut Option<&'static str>,
) -> String {
    let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
    let a = attributes(e);
    let group = a.get("class").cloned().unwrap_or_default();
    match (name.as_str(), group.as_str()) {
        ("svg", _) => {
            out.role = a["role"].clone();
            out.aria_label = a["aria-label"].clone();
        }
        ("g", "band") => out.bands.push(Band {
            band: a["data-band"].clone(),
            from: a.get("data-from").cloned(),
            to: a.get("data-to").cloned(),
            x: 0.0,
            width: 0.0,
            fill: String::new(),
            label: String::new(),
        }),
        ("g", "mark") => out.marks.push(Mark {
            at: a["data-at"].clone(),
            status: a["data-status"].clone(),
            title: String::new(),
        }),
        ("g", "now") => out.now = a["data-now"].clone(),
        _ => {}
    }
    let inside = open.last().map(String::as_str).unwrap_or_default();
    match (name.as_str(), inside) {
        ("rect", "band") => {
            let band = out.bands.last_mut().unwrap();
            band.x = a["x"].parse().unwrap();
            band.width = a["width"].parse().unwrap();
            band.fill = a["fill"].clone();
        }
        ("line", "now") => out.now_x = a["x1"].parse().unwrap(),
        ("text", "band") => *text_of = Some("band"),
        ("title", "mark") => *text_of = Some("mark"),
        _ => {}
    }
    if name == "g" {
        group
    } else {
        String::new()
    }
}

/// The page as the operator gets it (bearer token).
async fn page(app: &TestApp) -> String {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/", app.base_url))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .expect("the page answers");
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// (band, from, to, visible label) of each band.
fn band_dates(picture: &Picture) -> Vec<(&str, Option<&str>, Option<&str>, &str)> {
    picture
        .bands
        .iter()
        .map(|b| {
            (
                b.band.as_str(),
                b.from.as_deref(),
                b.to.as_deref(),
                b.label.as_str(),
            )
        })
        .collect()
}

/// A service on 2022-04-20 with the docs' worked example (6.2202.38.0; 6.2203.12.0 is in the
/// shipped catalog, released 2022-05-04) and a legacy connector (6.2008.60.607), both checked
/// in on the day.
async fn world() -> (TestApp, String, String) {
    let app = app_at("2022-04-20T00:00:00Z").await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let example = install(&app, &tenant, "SRV-EXAMPLE", "6.2202.38.0").await;
    let legacy = install(&app, &tenant, "SRV-LEGACY", "6.2008.60.607").await;
    (app, example.id, legacy.id)
}

#[tokio::test]
async fn the_worked_example_shows_its_bands_from_2022_05_04_2022_11_04_and_2023_11_04() {
    let (app, example, legacy) = world().await;
    let before = picture(&page(&app).await, &example);
    assert_eq!(before.role, "img");
    assert_eq!(
        band_dates(&before),
        [
            (
                "supported",
                Some("2022-03-10"),
                Some("2022-05-04"),
                "2022-03-10"
            ),
            (
                "deprecated",
                Some("2022-05-04"),
                Some("2022-11-04"),
                "2022-05-04"
            ),
            (
                "out-of-support",
                Some("2022-11-04"),
                Some("2023-11-04"),
                "2022-11-04"
            ),
            ("retired", Some("2023-11-04"), None, "2023-11-04"),
        ]
    );
    assert!(
        before.aria_label.starts_with(
            "Lifecycle of version 6.2202.38.0: Supported from 2022-03-10 until 2022-05-04; \
             Deprecated from 2022-05-04 until 2022-11-04; Out of support from 2022-11-04 until \
             2023-11-04; Retired from 2023-11-04. Now 2022-04-20 00:00:00 UTC."
        ),
        "{}",
        before.aria_label
    );
    // The bands follow each other left to right, each where the one before ends.
    for pair in before.bands.windows(2) {
        let end = pair[0].x + pair[0].width;
        assert!((end - pair[1].x).abs() < 0.11, "{pair:?}");
    }
    // Now (2022-04-20) is inside the supported band; no mark yet at the successor's release.
    assert_eq!(before.now, "2022-04-20T00:00:00Z");
    let supported = &before.bands[0];
    assert!(
        supported.x < before.now_x && before.now_x < supported.x + supported.width,
        "{before:?}"
    );
    assert_eq!(
        before.marks,
        [Mark {
            at: "2022-04-20T00:00:00Z".into(),
            status: "healthy".into(),
            title: "2022-04-20 00:00:00 UTC: Healthy (no reasons)".into(),
        }]
    );

    // The clock passes 2022-05-04: the history's change is a mark there, and now has moved
    // into the deprecated band.
    set_clock(&app, "2022-05-10T00:00:00Z").await;
    let after = picture(&page(&app).await, &example);
    assert_eq!(after.now, "2022-05-10T00:00:00Z");
    let deprecated = &after.bands[1];
    assert!(
        deprecated.x < after.now_x && after.now_x < deprecated.x + deprecated.width,
        "{after:?}"
    );
    let mark = |at: &str, status: &str, title: &str| Mark {
        at: at.into(),
        status: status.into(),
        title: title.into(),
    };
    assert_eq!(
        after.marks,
        [
            mark(
                "2022-04-20T00:00:00Z",
                "healthy",
                "2022-04-20 00:00:00 UTC: Healthy (no reasons)"
            ),
            // No check-in for an hour.
            mark(
                "2022-04-20T01:00:00Z",
                "warning",
                "2022-04-20 01:00:00 UTC: Warning (Inactive)"
            ),
            mark(
                "2022-05-04T00:00:00Z",
                "warning",
                "2022-05-04 00:00:00 UTC: Warning (VersionDeprecated, Inactive)"
            ),
        ]
    );

    // The legacy connector has the legacy rule's bands.
    let legacy = picture(&page(&app).await, &legacy);
    assert_eq!(
        band_dates(&legacy)
            .iter()
            .map(|(band, from, to, _)| (*band, *from, *to))
            .collect::<Vec<_>>(),
        [
            ("legacy-warning", None, Some("2022-04-01")),
            ("legacy-error", Some("2022-04-01"), Some("2022-08-01")),
            (
                "legacy-no-revocation",
                Some("2022-08-01"),
                Some("2022-09-01")
            ),
            ("legacy-no-issuance", Some("2022-09-01"), None),
        ]
    );
    assert_eq!(legacy.bands[0].label, "until 2022-04-01");
}

/// How many pixels of `png` have exactly the colour `#rrggbb`.
fn pixels_of(png: &[u8], colour: &str) -> usize {
    let want: Vec<u8> = (0..3)
        .map(|i| u8::from_str_radix(&colour[1 + 2 * i..3 + 2 * i], 16).unwrap())
        .collect();
    let mut reader = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let samples = info.color_type.samples();
    assert!(samples >= 3, "{:?}", info.color_type);
    buffer[..info.buffer_size()]
        .chunks(samples)
        .filter(|p| p[..3] == want[..])
        .count()
}

#[tokio::test]
async fn headless_chromium_paints_the_timeline_bands() {
    let Some(chromium) = require(Need::Chromium, chromium) else {
        return;
    };
    let (app, _, _) = world().await;
    let mut browser = Browser::launch(&chromium).await;
    browser.navigate(&format!("{}/", app.base_url)).await;
    browser.type_into("input[name=token]", OPERATOR_TOKEN).await;
    browser.submit("form button[type=submit]").await;
    let dom = browser.dom().await;
    assert!(dom.contains("<svg class=\"lifeline\""), "{dom}");
    let png = browser.screenshot().await;
    browser.close().await;
    let path = artifacts_dir().join("timeline.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot of the timeline: {}", path.display());
    // Each band's flat colour, and the now line's, is painted (the bands are 28 px high and
    // tens of px wide at 1280 px; the line is 2 px wide).
    for (what, colour, at_least) in [
        ("supported", "#9fd89f", 500),
        ("deprecated and legacy warning", "#ffd966", 500),
        ("out of support and legacy error", "#f4a460", 500),
        ("retired and legacy no issuance", "#d9534f", 500),
        ("legacy no revocation", "#e8806f", 300),
        ("now", "#0078d4", 40),
    ] {
        let count = pixels_of(&png, colour);
        assert!(
            count >= at_least,
            "{what} ({colour}): {count} pixels in {}",
            path.display()
        );
    }
}
