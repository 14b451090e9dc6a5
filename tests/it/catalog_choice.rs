//! `serve --catalog` and `run --catalog`: the service evaluates against the shipped catalog named
//! (docs: only the releases whose version and date the product documentation lists; extended,
//! the default: with the public release history). Driven as the built binary, as a user would.

use crate::support::{intune_mock, serve_process, start_served, Served};

const OPERATOR: &str = "catalog-choice-operator-token";

/// `serve --catalog <choice>` on a fresh in-memory database: the versions `GET /admin/releases`
/// lists.
async fn served_versions(choice: &[&str]) -> Vec<String> {
    let extra = [&["--start", "2026-01-01T00:00:00Z"], choice].concat();
    let Served { mut child, url } =
        start_served(serve_process(OPERATOR, "sqlite::memory:", &extra)).await;
    let releases: serde_json::Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{url}/admin/releases"))
        .bearer_auth(OPERATOR)
        .send()
        .await
        .expect("the service answers")
        .json()
        .await
        .expect("a JSON collection");
    // Our own child, by its handle.
    child.kill().await.unwrap();
    releases["value"]
        .as_array()
        .expect("a collection")
        .iter()
        .map(|r| r["version"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn serve_with_the_docs_catalog_lists_only_the_documented_releases() {
    assert_eq!(
        served_versions(&["--catalog", "docs"]).await,
        [
            "6.2202.38.0",
            "6.2203.12.0",
            "6.2205.201.0",
            "6.2206.122.0",
            "6.2301.1.0",
            "6.2406.0.1001",
        ]
    );
    // The default is the extended catalog: the public release history too.
    let extended = served_versions(&[]).await;
    assert_eq!(extended.len(), 15, "{extended:?}");
    assert!(
        extended.contains(&"6.2406.0.1002".to_owned()),
        "{extended:?}"
    );
}

/// A connector on 6.2406.0.1001 in July 2025. Only the extended catalog has a newer release
/// (6.2406.0.1002, 2025-06-12, from the public release history): there it is deprecated; under
/// the docs' catalog nothing newer exists and it is healthy, as this scenario expects.
const DOCS_ONLY: &str = r#"
name = "catalog-docs-only"
description = "6.2406.0.1001 is current while the docs list nothing newer"
seed = 1
start = "2025-07-01T00:00:00Z"

[[tenant]]
name = "contoso"

[[connector]]
name = "latest-documented"
tenant = "contoso"
machine = "CA-CONN-01"
features = ["pkcs"]
version = "6.2406.0.1001"
auto_update = false

[[step]]
expect_status = { connector = "latest-documented", status = "healthy", reasons = [] }
"#;

#[test]
fn run_with_the_docs_catalog_passes_a_scenario_written_for_it_that_fails_with_the_extended_one() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-docs-only.toml");
    std::fs::write(&file, DOCS_ONLY).unwrap();
    let file = file.to_str().unwrap();

    let (code, stdout, stderr) = intune_mock(&["run", file, "--catalog", "docs"]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    for extended in [&["run", file, "--catalog", "extended"][..], &["run", file]] {
        let (code, stdout, stderr) = intune_mock(extended);
        assert_eq!(code, 1, "{extended:?}: {stdout}{stderr}");
        assert!(
            stdout.contains("VersionDeprecated") || stderr.contains("VersionDeprecated"),
            "{extended:?}: {stdout}{stderr}"
        );
    }

    let (code, _, stderr) = intune_mock(&["run", file, "--catalog", "newest"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("unknown catalog `newest`; the catalogs are docs and extended"),
        "{stderr}"
    );
}
