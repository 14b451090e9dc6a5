//! The Graph (beta) surface over HTTP: `ndesConnectors` and `certificateConnectorDetails` with
//! their literal shapes, paging with an absolute `@odata.nextLink`, `$count`, `$filter`,
//! `$select`, tenant isolation, the token endpoint and the error envelope.

use reqwest::Method;
use scenarios::harness::{Answer, TestApp};
use serde_json::{json, Value};

use crate::support::{app_at, checkin, get, install, Installed};

const START: &str = "2022-06-01T00:00:00Z";
const NDES: &str = "/beta/deviceManagement/ndesConnectors";
const DETAILS: &str = "/beta/deviceManagement/certificateConnectorDetails";

/// A tenant with three connectors: A and B at 6.2202.38.0, C at 6.2203.12.0, all enrolled at
/// 2022-06-01T00:00:00Z. A and B checked in then; C never did.
struct Fleet {
    app: TestApp,
    tenant: wire::admin::Tenant,
    token: String,
    a: Installed,
    b: Installed,
    c: Installed,
}

async fn fleet() -> Fleet {
    let app = app_at(START).await;
    let tenant = app.create_tenant("Contoso", None).await.unwrap();
    let a = install(&app, &tenant, "SRV-A", "6.2202.38.0").await;
    let b = install(&app, &tenant, "SRV-B", "6.2202.38.0").await;
    let c = install(&app, &tenant, "SRV-C", "6.2203.12.0").await;
    assert_eq!(
        checkin(&app, &a.credential, "6.2202.38.0").await.status,
        200
    );
    assert_eq!(
        checkin(&app, &b.credential, "6.2202.38.0").await.status,
        200
    );
    let token = app.graph_token(&tenant).await.unwrap();
    Fleet {
        app,
        tenant,
        token,
        a,
        b,
        c,
    }
}

async fn graph(fleet: &Fleet, path: &str) -> Answer {
    get(&fleet.app, path, Some(&fleet.token)).await
}

fn ids(page: &Value) -> Vec<String> {
    page["value"]
        .as_array()
        .expect("a value array")
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn top_gives_a_page_and_an_absolute_next_link_that_reaches_the_last_item() {
    let fleet = fleet().await;
    let first = graph(&fleet, &format!("{NDES}?$top=2")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["value"].as_array().unwrap().len(), 2);
    assert_eq!(
        first.body["@odata.context"],
        json!(format!(
            "{}/beta/$metadata#deviceManagement/ndesConnectors",
            fleet.app.base_url
        ))
    );
    let next = first.body["@odata.nextLink"]
        .as_str()
        .expect("a nextLink")
        .to_owned();
    assert!(
        next.starts_with(&format!("{}{NDES}?", fleet.app.base_url)),
        "nextLink `{next}` is not absolute"
    );

    let response = fleet
        .app
        .http
        .get(&next)
        .bearer_auth(&fleet.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let second: Value = response.json().await.unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 1);
    assert_eq!(second.get("@odata.nextLink"), None);

    let mut seen = ids(&first.body);
    seen.extend(ids(&second));
    assert_eq!(
        sorted(seen),
        sorted(vec![
            fleet.a.id.clone(),
            fleet.b.id.clone(),
            fleet.c.id.clone()
        ])
    );

    let all = graph(&fleet, NDES).await;
    assert_eq!(all.body["value"].as_array().unwrap().len(), 3);
    assert_eq!(all.body.get("@odata.nextLink"), None);
    assert_eq!(all.body.get("@odata.count"), None);
    let skipped = graph(&fleet, &format!("{NDES}?$skip=3")).await;
    assert_eq!(skipped.body["value"], json!([]));
}

#[tokio::test]
async fn count_and_filters_narrow_the_listing() {
    let mut fleet = fleet().await;
    let counted = graph(&fleet, &format!("{NDES}?$count=true&$top=1")).await;
    assert_eq!(counted.status, 200, "{}", counted.body);
    assert_eq!(counted.body["@odata.count"], 3);
    assert_eq!(counted.body["value"].as_array().unwrap().len(), 1);

    for set in [NDES, DETAILS] {
        let path = format!("{set}?$filter=connectorVersion%20eq%20'6.2202.38.0'&$count=true");
        let filtered = graph(&fleet, &path).await;
        assert_eq!(filtered.status, 200, "{set}: {}", filtered.body);
        assert_eq!(filtered.body["@odata.count"], 2, "{set}");
        assert_eq!(
            sorted(ids(&filtered.body)),
            sorted(vec![fleet.a.id.clone(), fleet.b.id.clone()]),
            "{set}"
        );
    }

    // Two hours on, only A checks in again: B is inactive, C has never connected.
    let advanced = fleet
        .app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "advance": "PT2H" })),
        )
        .await
        .unwrap();
    assert_eq!(advanced.body["now"], "2022-06-01T02:00:00Z");
    // The first token has expired (tokens live one hour): take a new one.
    fleet.token = fleet.app.graph_token(&fleet.tenant).await.unwrap();
    assert_eq!(
        checkin(&fleet.app, &fleet.a.credential, "6.2202.38.0")
            .await
            .status,
        200
    );
    for (state, expected) in [
        ("active", &fleet.a),
        ("inactive", &fleet.b),
        ("none", &fleet.c),
    ] {
        let filtered = graph(&fleet, &format!("{NDES}?$filter=state%20eq%20'{state}'")).await;
        assert_eq!(filtered.status, 200, "{state}: {}", filtered.body);
        assert_eq!(ids(&filtered.body), [expected.id.as_str()], "{state}");
        assert_eq!(filtered.body["value"][0]["state"], state);
    }
    let both = graph(
        &fleet,
        &format!(
            "{NDES}?$filter=state%20eq%20'inactive'%20and%20connectorVersion%20eq%20'6.2202.38.0'"
        ),
    )
    .await;
    assert_eq!(ids(&both.body), [fleet.b.id.as_str()]);
    let none = graph(
        &fleet,
        &format!(
            "{NDES}?$filter=state%20eq%20'inactive'%20and%20connectorVersion%20eq%20'6.2203.12.0'"
        ),
    )
    .await;
    assert_eq!(none.body["value"], json!([]));
}

#[tokio::test]
async fn the_entities_carry_the_graph_fields_and_types() {
    let fleet = fleet().await;
    let base = fleet.app.base_url.clone();

    let a = graph(&fleet, &format!("{NDES}/{}", fleet.a.id)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body,
        json!({
            "@odata.context": format!("{base}/beta/$metadata#deviceManagement/ndesConnectors/$entity"),
            "@odata.type": "#microsoft.graph.ndesConnector",
            "id": fleet.a.id,
            "lastConnectionDateTime": "2022-06-01T00:00:00Z",
            "state": "active",
            "displayName": "SRV-A connector",
            "machineName": "SRV-A",
            "enrolledDateTime": "2022-06-01T00:00:00Z",
            "roleScopeTagIds": ["0"],
            "connectorVersion": "6.2202.38.0",
        })
    );

    let c = graph(&fleet, &format!("{DETAILS}/{}", fleet.c.id)).await;
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(
        c.body,
        json!({
            "@odata.context": format!("{base}/beta/$metadata#deviceManagement/certificateConnectorDetails/$entity"),
            "@odata.type": "#microsoft.graph.certificateConnectorDetails",
            "id": fleet.c.id,
            "connectorName": "SRV-C connector",
            "machineName": "SRV-C",
            "enrollmentDateTime": "2022-06-01T00:00:00Z",
            "lastCheckinDateTime": null,
            "connectorVersion": "6.2203.12.0",
        })
    );

    let list = graph(&fleet, DETAILS).await;
    assert_eq!(
        list.body["@odata.context"],
        json!(format!(
            "{base}/beta/$metadata#deviceManagement/certificateConnectorDetails"
        ))
    );
    let listed_c = list.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == json!(fleet.c.id))
        .unwrap()
        .clone();
    let mut expected = c.body.clone();
    expected.as_object_mut().unwrap().remove("@odata.context");
    assert_eq!(listed_c, expected);

    let never = graph(&fleet, &format!("{NDES}/{}", fleet.c.id)).await;
    assert_eq!(never.body["state"], "none");
    assert_eq!(never.body["lastConnectionDateTime"], Value::Null);
    let b = graph(&fleet, &format!("{DETAILS}/{}", fleet.b.id)).await;
    assert_eq!(b.body["lastCheckinDateTime"], "2022-06-01T00:00:00Z");
}

#[tokio::test]
async fn select_keeps_only_the_chosen_property_with_id_and_type() {
    let fleet = fleet().await;
    let page = graph(&fleet, &format!("{NDES}?$select=displayName")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let items = page.body["value"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let a = items
        .iter()
        .find(|item| item["id"] == json!(fleet.a.id))
        .unwrap();
    assert_eq!(
        a,
        &json!({ "@odata.type": "#microsoft.graph.ndesConnector", "id": fleet.a.id, "displayName": "SRV-A connector" })
    );
    for item in items {
        let mut keys: Vec<&String> = item.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["@odata.type", "displayName", "id"]);
    }

    // The selection is carried into the next page.
    let first = graph(&fleet, &format!("{DETAILS}?$select=machineName&$top=2")).await;
    let next = first.body["@odata.nextLink"].as_str().unwrap().to_owned();
    let second: Value = fleet
        .app
        .http
        .get(&next)
        .bearer_auth(&fleet.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = second["value"][0].as_object().unwrap();
    let mut keys: Vec<&String> = item.keys().collect();
    keys.sort();
    assert_eq!(keys, ["@odata.type", "id", "machineName"]);
}

#[tokio::test]
async fn unsupported_query_options_are_bad_requests() {
    let fleet = fleet().await;
    for path in [
        format!("{NDES}?$filter=displayName%20eq%20'SRV-A%20connector'"),
        format!("{NDES}?$filter=state%20ne%20'active'"),
        format!("{NDES}?$filter=state%20eq%20'active'%20or%20state%20eq%20'none'"),
        format!("{NDES}?$filter=state%20eq%20active"),
        format!("{DETAILS}?$filter=state%20eq%20'active'"),
        format!("{NDES}?$top=0"),
        format!("{NDES}?$top=1000"),
        format!("{NDES}?$top=two"),
        format!("{NDES}?$count=yes"),
        format!("{NDES}?$select=colour"),
        format!("{NDES}?$orderby=displayName"),
    ] {
        let answer = graph(&fleet, &path).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, Some("invalidRequest")),
            "{path}: {}",
            answer.body
        );
    }
}

#[tokio::test]
async fn another_tenant_sees_none_of_the_connectors() {
    let fleet = fleet().await;
    let fabrikam = fleet.app.create_tenant("Fabrikam", None).await.unwrap();
    let theirs = fleet.app.graph_token(&fabrikam).await.unwrap();

    for set in [NDES, DETAILS] {
        let one = get(&fleet.app, &format!("{set}/{}", fleet.a.id), Some(&theirs)).await;
        assert_eq!(
            (one.status, one.error_code()),
            (404, Some("itemNotFound")),
            "{set}: {}",
            one.body
        );
        let list = get(&fleet.app, set, Some(&theirs)).await;
        assert_eq!(list.status, 200, "{set}: {}", list.body);
        assert_eq!(list.body["value"], json!([]), "{set}");
        let mine = graph(&fleet, &format!("{set}/{}", fleet.a.id)).await;
        assert_eq!(mine.status, 200, "{set}: {}", mine.body);
    }
    let unknown = graph(
        &fleet,
        &format!("{NDES}/00000000-0000-0000-0000-000000000000"),
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, Some("itemNotFound")),
        "{}",
        unknown.body
    );
}

#[tokio::test]
async fn the_token_endpoint_needs_the_right_client_secret_form_or_basic() {
    let fleet = fleet().await;
    let app = &fleet.app;
    let tenant = &fleet.tenant;
    let url = format!("{}/{}/oauth2/v2.0/token", app.base_url, tenant.id);
    let secret = tenant.client_secret.clone().unwrap();
    let scope = "https://graph.microsoft.com/.default";

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", tenant.client_id.as_str()),
        ("client_secret", &secret),
        ("scope", scope),
    ];
    let response = app.http.post(&url).form(&form).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let issued: Value = response.json().await.unwrap();
    assert_eq!(issued["token_type"], "Bearer");
    assert_eq!(issued["expires_in"], 3600);
    assert_eq!(issued["ext_expires_in"], 3600);
    assert!(
        issued["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{issued}"
    );

    let wrong = [
        ("grant_type", "client_credentials"),
        ("client_id", tenant.client_id.as_str()),
        ("client_secret", "not-it"),
        ("scope", scope),
    ];
    let response = app.http.post(&url).form(&wrong).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    // The right credentials against another tenant's token URL are not valid either.
    let other = app.create_tenant("Fabrikam", None).await.unwrap();
    let response = app
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", app.base_url, other.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let password = [
        ("grant_type", "password"),
        ("client_id", tenant.client_id.as_str()),
        ("client_secret", &secret),
    ];
    let response = app.http.post(&url).form(&password).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    let basic = app
        .http
        .post(&url)
        .basic_auth(&tenant.client_id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 200);
    let basic_token = basic.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = get(app, NDES, Some(&basic_token)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["value"].as_array().unwrap().len(), 3);

    let bad_basic = app
        .http
        .post(&url)
        .basic_auth(&tenant.client_id, Some("not-it"))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_basic.status().as_u16(), 401);

    for bearer in [None, Some("tok-made-up"), Some(fleet.a.credential.as_str())] {
        let answer = get(app, NDES, bearer).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (401, Some("InvalidAuthenticationToken")),
            "{bearer:?}: {}",
            answer.body
        );
    }

    // A token lives one hour.
    let advanced = app
        .admin(
            Method::POST,
            "/admin/clock",
            Some(&json!({ "advance": "PT59M59S" })),
        )
        .await
        .unwrap();
    assert_eq!(advanced.status, 200);
    assert_eq!(get(app, NDES, Some(&basic_token)).await.status, 200);
    app.admin(
        Method::POST,
        "/admin/clock",
        Some(&json!({ "advance": "PT1S" })),
    )
    .await
    .unwrap();
    let expired = get(app, NDES, Some(&basic_token)).await;
    assert_eq!(
        (expired.status, expired.error_code()),
        (401, Some("InvalidAuthenticationToken")),
        "{}",
        expired.body
    );
}

#[tokio::test]
async fn a_client_request_id_is_echoed_in_the_header_and_the_error_envelope() {
    let fleet = fleet().await;
    let response = fleet
        .app
        .http
        .get(format!("{}{NDES}/not-a-connector", fleet.app.base_url))
        .bearer_auth(&fleet.token)
        .header("client-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let headers = response.headers().clone();
    assert_eq!(
        headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("abc-123")
    );
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let request_id = headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .expect("a request-id header")
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "itemNotFound");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not-a-connector"),
        "{body}"
    );
    assert_eq!(
        body["error"]["innerError"],
        json!({ "date": "2022-06-01T00:00:00Z", "request-id": request_id, "client-request-id": "abc-123" })
    );
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error"]);

    // Without the header nothing is echoed and innerError carries an empty id.
    let answer = get(
        &fleet.app,
        &format!("{NDES}/not-a-connector"),
        Some(&fleet.token),
    )
    .await;
    assert_eq!(answer.body["error"]["innerError"]["client-request-id"], "");
}

#[tokio::test]
async fn the_next_link_carries_the_filter_and_the_count() {
    let fleet = fleet().await;
    let path =
        format!("{DETAILS}?$filter=connectorVersion%20eq%20'6.2202.38.0'&$count=true&$top=1");
    let first = graph(&fleet, &path).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["@odata.count"], 2);
    let next = first.body["@odata.nextLink"]
        .as_str()
        .expect("a nextLink")
        .to_owned();
    let second: Value = fleet
        .app
        .http
        .get(&next)
        .bearer_auth(&fleet.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["@odata.count"], 2, "{second}");
    assert_eq!(second.get("@odata.nextLink"), None, "{second}");
    let mut seen = ids(&first.body);
    seen.extend(ids(&second));
    assert_eq!(
        sorted(seen),
        sorted(vec![fleet.a.id.clone(), fleet.b.id.clone()])
    );
}

#[tokio::test]
async fn a_connector_turns_inactive_exactly_one_hour_after_its_last_check_in() {
    let mut fleet = fleet().await;
    let advance = |by: &'static str| json!({ "advance": by });
    fleet
        .app
        .admin(Method::POST, "/admin/clock", Some(&advance("PT59M59S")))
        .await
        .unwrap();
    let a = graph(&fleet, &format!("{NDES}/{}", fleet.a.id)).await;
    assert_eq!(a.body["state"], "active", "{}", a.body);
    // A runs a deprecated version behind C's; only Inactive is still to come.
    let s = crate::support::status(&fleet.app, &fleet.tenant.id, &fleet.a.id).await;
    assert_eq!(
        crate::support::codes(&s),
        ["VersionDeprecated", "VersionSkew", "AutoUpdateBlocked"]
    );

    fleet
        .app
        .admin(Method::POST, "/admin/clock", Some(&advance("PT1S")))
        .await
        .unwrap();
    fleet.token = fleet.app.graph_token(&fleet.tenant).await.unwrap();
    let a = graph(&fleet, &format!("{NDES}/{}", fleet.a.id)).await;
    assert_eq!(a.body["state"], "inactive", "{}", a.body);
    let s = crate::support::status(&fleet.app, &fleet.tenant.id, &fleet.a.id).await;
    assert_eq!(s["status"], "warning", "{s}");
    assert_eq!(
        crate::support::codes(&s),
        [
            "VersionDeprecated",
            "Inactive",
            "VersionSkew",
            "AutoUpdateBlocked"
        ]
    );
    assert_eq!(
        crate::support::reason(&s, "Inactive")["since"],
        "2022-06-01T01:00:00Z"
    );
}
