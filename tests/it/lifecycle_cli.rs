//! `intune-mock lifecycle` and `intune-mock releases`, by running the built binary: the docs'
//! worked example and the legacy rule's dates read literally, the catalog with each entry's
//! provenance, and bad input refused with a clear error and a non-zero exit.

use crate::support::intune_mock;

/// The value printed after `key` on its line of the text output.
fn field<'a>(out: &'a str, key: &str) -> Vec<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(key))
        .filter(|rest| rest.starts_with(' '))
        .map(str::trim)
        .collect()
}

#[test]
fn the_docs_worked_example_prints_its_three_dates() {
    let (code, out, err) =
        intune_mock(&["lifecycle", "6.2202.38.0", "--at", "2022-06-01T00:00:00Z"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        field(&out, "successor"),
        ["6.2203.12.0, released 2022-05-04 (docs)"],
        "{out}"
    );
    assert_eq!(field(&out, "deprecated from"), ["2022-05-04"], "{out}");
    assert_eq!(field(&out, "end of support"), ["2022-11-04"], "{out}");
    assert_eq!(field(&out, "end of function"), ["2023-11-04"], "{out}");
    assert_eq!(field(&out, "status"), ["warning"], "{out}");
    assert_eq!(field(&out, "refused"), ["nothing"], "{out}");
    let reasons = field(&out, "reason");
    assert_eq!(reasons.len(), 2, "{out}");
    assert!(
        reasons[0].starts_with("VersionDeprecated (warning): "),
        "{out}"
    );
    assert!(
        reasons[1].starts_with("AutoUpdateBlocked (warning): "),
        "{out}"
    );
}

#[test]
fn the_json_answer_carries_the_dates_status_and_refusals() {
    let (code, out, err) = intune_mock(&[
        "lifecycle",
        "6.2202.38.0",
        "--at",
        "2023-11-04T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "intune-mock-lifecycle/1");
    assert_eq!(v["successor"]["version"], "6.2203.12.0");
    assert_eq!(v["successor"]["released"], "2022-05-04");
    assert_eq!(v["deprecatedFrom"], "2022-05-04");
    assert_eq!(v["endOfSupport"], "2022-11-04");
    assert_eq!(v["endOfFunction"], "2023-11-04");
    assert_eq!(v["status"], "error");
    assert_eq!(v["reasons"][0]["code"], "VersionRetired");
    assert_eq!(v["reasons"][0]["since"], "2023-11-04T00:00:00Z");
    assert_eq!(
        v["refused"],
        serde_json::json!([
            {"operation": "checkin", "code": "ConnectorVersionRetired"},
            {"operation": "issue", "code": "ConnectorVersionRetired"},
            {"operation": "revoke", "code": "ConnectorVersionRetired"},
        ])
    );
}

#[test]
fn a_legacy_version_shows_the_legacy_dates_and_not_the_release_policy() {
    let (code, out, err) = intune_mock(&[
        "lifecycle",
        "6.2008.60.607",
        "--at",
        "2022-08-01T00:00:00Z",
        "--product",
        "pfx-certificate-connector",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(field(&out, "error from"), ["2022-04-01"], "{out}");
    assert_eq!(field(&out, "no revocation"), ["from 2022-08-01"], "{out}");
    assert_eq!(field(&out, "no issuance"), ["from 2022-09-01"], "{out}");
    assert!(field(&out, "end of function").is_empty(), "{out}");
    assert_eq!(field(&out, "status"), ["error"], "{out}");
    assert_eq!(
        field(&out, "refused"),
        ["revoke (LegacyVersionCannotRevoke)"],
        "{out}"
    );
}

#[test]
fn bad_input_is_refused_with_the_field_and_a_non_zero_exit() {
    let (code, out, err) = intune_mock(&["lifecycle", "6.2202.x", "--at", "2022-06-01T00:00:00Z"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("invalid value '6.2202.x' for '<VERSION>'"),
        "{err}"
    );
    assert!(
        err.contains("must have exactly four dot-separated parts"),
        "{err}"
    );

    let (code, out, err) =
        intune_mock(&["lifecycle", "6.2202.38.0", "--at", "2022-06-31T00:00:00Z"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("invalid value '2022-06-31T00:00:00Z' for '--at <AT>'"),
        "{err}"
    );
    assert!(err.contains("is not an RFC 3339 instant"), "{err}");

    let (code, out, err) = intune_mock(&["releases", "--catalog", "all"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("unknown catalog `all`; the catalogs are docs and extended"),
        "{err}"
    );
}

#[test]
fn releases_prints_every_entry_with_its_provenance_and_docs_keeps_the_documented_ones() {
    let (code, out, err) = intune_mock(&["releases", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["format"], "intune-mock-releases/1");
    assert_eq!(v["catalog"], "extended");
    let rows: Vec<(String, String, String)> = v["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["version"].as_str().unwrap().to_owned(),
                r["released"].as_str().unwrap().to_owned(),
                r["provenance"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("6.2107.45.0", "2021-07-29", "docs-date"),
        ("6.2108.18.0", "2021-08-16", "public-history"),
        ("6.2109.51.0", "2021-09-23", "docs-version"),
        ("6.2110.201.0", "2021-10-11", "public-history"),
        ("6.2112.1.0", "2022-01-06", "public-history"),
        ("6.2201.7.0", "2022-02-18", "public-history"),
        ("6.2202.38.0", "2022-03-10", "docs"),
        ("6.2203.12.0", "2022-05-04", "docs"),
        ("6.2205.201.0", "2022-06-30", "docs"),
        ("6.2206.122.0", "2022-09-21", "docs"),
        ("6.2301.1.0", "2023-02-15", "docs"),
        ("6.2406.0.1001", "2024-09-19", "docs"),
        ("6.2406.0.1002", "2025-06-12", "public-history"),
        ("6.2406.0.2002", "2025-07-22", "public-history"),
        ("6.2510.3.2002", "2026-02-18", "public-history"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(rows, expected);

    let (code, out, err) = intune_mock(&["releases", "--catalog", "docs"]);
    assert_eq!(code, 0, "{err}");
    let versions: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        versions,
        [
            "6.2202.38.0",
            "6.2203.12.0",
            "6.2205.201.0",
            "6.2206.122.0",
            "6.2301.1.0",
            "6.2406.0.1001"
        ]
    );
    assert!(out.lines().skip(1).all(|l| l.contains(" docs ")), "{out}");
}

#[test]
fn with_the_docs_catalog_the_first_successor_of_a_2021_version_is_6_2202_38_0() {
    let (code, out, err) = intune_mock(&[
        "lifecycle",
        "6.2110.201.0",
        "--catalog",
        "docs",
        "--at",
        "2022-03-10T00:00:00Z",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        field(&out, "catalog"),
        ["docs (this version is not a release in it)"],
        "{out}"
    );
    assert_eq!(field(&out, "deprecated from"), ["2022-03-10"], "{out}");
    assert_eq!(field(&out, "end of support"), ["2022-09-10"], "{out}");
    assert_eq!(field(&out, "end of function"), ["2023-09-10"], "{out}");
}
