//! The matrix itself: every route, every credential that must not work there, and what each
//! valid caller of a list route sees.

use super::*;

#[tokio::test]
async fn every_route_refuses_every_wrong_credential_and_no_tenant_sees_another() {
    let w = world().await;
    let before = snapshot(&w).await;

    // 1. The matrix: every route, every credential it must refuse. Every problem is collected
    //    before the test fails, so one run shows them all.
    let mut cases = 0usize;
    let mut problems: Vec<String> = Vec::new();
    for row in ROUTES {
        let path = w.fill(row.path);
        let wrong = refusals(row.auth).iter().chain(row.cross.iter());
        for &(cred, status, code) in wrong {
            cases += 1;
            let crid = format!("security-{cases:04}");
            let context = format!("{} {} with {cred:?}", row.method, row.template);
            let (bearer, body) = if row.auth == Auth::ClientSecret {
                (
                    None,
                    Some(("application/x-www-form-urlencoded", w.token_form(cred))),
                )
            } else if row.auth == Auth::PageSignIn {
                let form = w
                    .bearer(cred)
                    .map(|token| format!("token={}", form_encode(&token)))
                    .unwrap_or_default();
                (None, Some(("application/x-www-form-urlencoded", form)))
            } else {
                (
                    w.bearer(cred),
                    row.body.map(|b| ("application/json", w.fill(b))),
                )
            };
            let request_text = format!(
                "{path} {} {}",
                bearer.as_deref().unwrap_or_default(),
                body.as_ref().map(|(_, b)| b.as_str()).unwrap_or_default()
            );
            let reply = send(&w.app, row.method, &path, bearer.as_deref(), body, &crid).await;
            if reply.status != status || ![401, 403, 404].contains(&reply.status) {
                problems.push(format!(
                    "{context}: expected {status}, got {} {}",
                    reply.status, reply.text
                ));
                continue;
            }
            let checked = error_shape(&reply, shape(row.auth), code, &crid, &context)
                .and_then(|()| w.leaks(cred.viewer(), &request_text, &reply.text, &context));
            if let Err(problem) = checked {
                problems.push(problem);
            }
        }
        // Public probes answer anyone, and say nothing about any tenant.
        if row.auth == Auth::Public {
            for cred in [Cred::None, Cred::Garbage, Cred::GraphB, Cred::Uninstalled] {
                cases += 1;
                let reply = send(
                    &w.app,
                    row.method,
                    &path,
                    w.bearer(cred).as_deref(),
                    None,
                    "probe",
                )
                .await;
                assert_eq!(reply.status, 200, "{path} with {cred:?}: {}", reply.text);
                w.assert_no_leak(Viewer::Anonymous, &path, &reply.text, &path);
            }
        }
        // The web page without a credential is its sign-in form, with nothing of any tenant.
        if row.auth == Auth::PageView {
            cases += 1;
            let reply = send(&w.app, row.method, &path, None, None, "page").await;
            assert_eq!(
                reply.status, 200,
                "{path} without a credential: {}",
                reply.text
            );
            assert!(
                reply.text.contains("<input id=\"token\" name=\"token\""),
                "{}",
                reply.text
            );
            w.assert_no_leak(Viewer::Anonymous, &path, &reply.text, &path);
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {cases} matrix cases failed:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(cases, 478, "matrix size");

    // 2. A's resources named in B's valid calls, and B's in A's paths: refused or a wire-level
    //    "no" that changes nothing.
    let a = &w.a;
    let b = &w.b;
    let graph_b = Some(b.graph.as_str());
    let cred_b = Some(b.connector.credential.as_str());
    let json_body = |v: Value| Some(("application/json", v.to_string()));
    let mut cross = 0usize;
    let mut check = |reply: &Reply, viewer: Viewer, request: &str, context: &str| {
        cross += 1;
        w.assert_no_leak(viewer, request, &reply.text, context);
    };

    // A batch completion of A's job by B's connector: each entry answers 404 as it would alone.
    let batch = json!({"completions": [{"jobId": a.leased_job, "leaseToken": a.lease_token, "outcome": "succeeded", "result": {}}]});
    let reply = send(
        &w.app,
        "POST",
        "/connector/v1/jobs/complete",
        cred_b,
        json_body(batch.clone()),
        "x1",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["value"][0]["status"], 404, "{}", reply.text);
    assert_eq!(
        reply.json()["value"][0]["error"]["code"],
        "itemNotFound",
        "{}",
        reply.text
    );
    check(
        &reply,
        Viewer::B,
        &batch.to_string(),
        "batch completion of A's job by B",
    );

    // SCEP: A's CSR validated by B's CA or B's connector does not verify; B cannot notify A's
    // transaction.
    for (who, bearer) in [("B's CA", graph_b), ("B's connector", cred_b)] {
        let body = json!({"request": {"transactionId": "bravo-tx-steal", "certificateRequest": a.csr, "callerInfo": "intruder"}});
        let reply = send(
            &w.app,
            "POST",
            &format!("{SCEP}/ScepActions/validateRequest"),
            bearer,
            json_body(body.clone()),
            "x2",
        )
        .await;
        assert_eq!(reply.status, 200, "{who}: {}", reply.text);
        assert_eq!(
            reply.json()["code"],
            "SignatureValidationFailed",
            "{who}: {}",
            reply.text
        );
        check(
            &reply,
            Viewer::B,
            &body.to_string(),
            "validateRequest of A's CSR by B",
        );
        for action in ["successNotification", "failureNotification"] {
            let body = json!({"notification": {"transactionId": "alpha-tx-0001", "hResult": 1, "callerInfo": "intruder"}});
            let reply = send(
                &w.app,
                "POST",
                &format!("{SCEP}/ScepActions/{action}"),
                bearer,
                json_body(body.clone()),
                "x3",
            )
            .await;
            assert_eq!(reply.status, 200, "{who} {action}: {}", reply.text);
            assert_eq!(
                reply.json()["code"],
                "Unknown",
                "{who} {action}: {}",
                reply.text
            );
            check(&reply, Viewer::B, &body.to_string(), action);
        }
    }

    // Revocation: B's CA cannot answer the request A's CA downloaded.
    let body =
        json!({"results": [{"requestContext": a.ca_context, "succeeded": true, "errorCode": 0}]});
    let reply = send(
        &w.app,
        "POST",
        &format!("{PKI}/CertificateAuthorityRequests/uploadRevocationResults"),
        graph_b,
        json_body(body.clone()),
        "x4",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["value"], false, "{}", reply.text);
    check(
        &reply,
        Viewer::B,
        &body.to_string(),
        "upload of A's revocation by B",
    );

    // A's tenant in the path, B's resource after it: not found, for A's token and the operator.
    let mixed: [(&str, String, Option<&str>, u16); 8] = [
        (
            "GET",
            format!(
                "/admin/tenants/{}/connectors/{}",
                a.tenant.id, b.connector.id
            ),
            Some(a.graph.as_str()),
            404,
        ),
        (
            "GET",
            format!(
                "/admin/tenants/{}/connectors/{}/status",
                a.tenant.id, b.connector.id
            ),
            Some(a.graph.as_str()),
            404,
        ),
        (
            "GET",
            format!(
                "/admin/tenants/{}/connectors/{}/history",
                a.tenant.id, b.connector.id
            ),
            Some(a.graph.as_str()),
            404,
        ),
        (
            "GET",
            format!("/admin/tenants/{}/jobs/{}", a.tenant.id, b.leased_job),
            Some(a.graph.as_str()),
            404,
        ),
        (
            "GET",
            format!(
                "/admin/tenants/{}/connectors/{}",
                a.tenant.id, b.connector.id
            ),
            Some(OPERATOR_TOKEN),
            404,
        ),
        (
            "POST",
            format!(
                "/admin/tenants/{}/jobs/{}/cancel",
                a.tenant.id, b.leased_job
            ),
            Some(OPERATOR_TOKEN),
            404,
        ),
        (
            "GET",
            format!(
                "/admin/tenants/{}/scep/challenges/{}",
                a.tenant.id, b.challenge
            ),
            Some(OPERATOR_TOKEN),
            404,
        ),
        (
            "DELETE",
            format!(
                "/admin/tenants/{}/scep/challenges/{}",
                a.tenant.id, b.challenge
            ),
            Some(OPERATOR_TOKEN),
            404,
        ),
    ];
    for (method, path, bearer, status) in mixed {
        let reply = send(&w.app, method, &path, bearer, None, "x5").await;
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.text);
        assert_error_shape(&reply, Shape::Graph, "itemNotFound", "x5", &path);
        let viewer = if bearer == Some(OPERATOR_TOKEN) {
            Viewer::Operator
        } else {
            Viewer::A
        };
        check(&reply, viewer, &path, &path);
    }
    assert_eq!(cross, 16, "cross-tenant cases");

    // Nothing any of that did changed anything.
    let after = snapshot(&w).await;
    assert_eq!(
        before, after,
        "the refused calls changed the service's data"
    );

    // 3. Valid callers of the list routes see only their own tenant.
    let mut lists = 0usize;
    for (me, other, viewer) in [(a, b, Viewer::A), (b, a, Viewer::B)] {
        let graph = Some(me.graph.as_str());
        let cred = Some(me.connector.credential.as_str());
        let t = &me.tenant.id;
        // Two more revoke jobs: one for the tenant's CA, one for its connector.
        let enqueue = json!({"jobs": [
            {"kind": "revoke", "payload": {"serialNumber": "0B01", "issuerName": "CN=Issuing CA", "certificationAuthority": "ca01\\Issuing CA"}},
            {"kind": "revoke", "payload": {"serialNumber": "0B02", "issuerName": "CN=Issuing CA", "certificationAuthority": "ca01\\Issuing CA"}}
        ]});
        let enqueued = w
            .app
            .admin(
                Method::POST,
                &format!("/admin/tenants/{t}/jobs"),
                Some(&enqueue),
            )
            .await
            .unwrap();
        assert_eq!(enqueued.status, 201, "{}", enqueued.body);
        let fresh: BTreeSet<String> = enqueued.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_owned())
            .collect();
        let mut all_jobs: BTreeSet<String> = me.jobs.iter().cloned().collect();
        all_jobs.extend(fresh.iter().cloned());

        let calls: Vec<(&str, String, Option<&str>, Option<Value>)> = vec![
            ("GET", format!("/admin/tenants/{t}"), graph, None),
            ("GET", format!("/admin/tenants/{t}/connectors"), graph, None),
            ("GET", format!("/admin/tenants/{t}/jobs"), graph, None),
            (
                "GET",
                format!("/admin/tenants/{t}/jobs/{}", me.leased_job),
                graph,
                None,
            ),
            (
                "GET",
                "/beta/deviceManagement/ndesConnectors".into(),
                graph,
                None,
            ),
            (
                "GET",
                "/beta/deviceManagement/certificateConnectorDetails?$count=true".into(),
                graph,
                None,
            ),
            (
                "GET",
                "/beta/deviceManagement/connectorStatus".into(),
                graph,
                None,
            ),
            (
                "GET",
                "/beta/deviceManagement/userPfxCertificates".into(),
                graph,
                None,
            ),
            (
                "GET",
                format!("/beta/deviceManagement/ndesConnectors/{}", me.connector.id),
                graph,
                None,
            ),
            ("GET", "/connector/v1/self".into(), cred, None),
            ("GET", "/autoupdate/v1/latest".into(), cred, None),
            (
                "POST",
                format!("{PKI}/CertificateAuthorityRequests/downloadRevocationRequests"),
                graph,
                Some(json!({"downloadParameters": {"maxRequests": 1}})),
            ),
            (
                "POST",
                "/connector/v1/jobs/lease".into(),
                cred,
                Some(json!({"max": 10})),
            ),
        ];
        for (method, path, bearer, body) in calls {
            lists += 1;
            let text = body.as_ref().map(Value::to_string).unwrap_or_default();
            let reply = send(
                &w.app,
                method,
                &path,
                bearer,
                body.map(|b| ("application/json", b.to_string())),
                "own",
            )
            .await;
            assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text);
            w.assert_no_leak(viewer, &format!("{path} {text}"), &reply.text, &path);
            let body = reply.json();
            let ids = |key: &str| -> BTreeSet<String> {
                body[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v["id"].as_str().unwrap().to_owned())
                    .collect()
            };
            let one = |id: &str| BTreeSet::from([id.to_owned()]);
            match path.as_str() {
                "/connector/v1/self" => {
                    assert_eq!(body["id"], me.connector.id.as_str());
                    assert_eq!(body["tenantId"], t.as_str());
                }
                "/autoupdate/v1/latest" => assert_eq!(body["currentVersion"], VERSION, "{body}"),
                "/connector/v1/jobs/lease" => {
                    let leased = ids("jobs");
                    assert_eq!(leased.len(), 1, "{body}");
                    assert!(leased.is_subset(&fresh), "{leased:?} is not in {fresh:?}");
                }
                p if p == format!("/admin/tenants/{t}") => assert_eq!(body["id"], t.as_str()),
                p if p.ends_with("/connectors")
                    || p.ends_with("/ndesConnectors")
                    || p.contains("certificateConnectorDetails") =>
                {
                    assert_eq!(ids("value"), one(&me.connector.id), "{p}: {body}");
                }
                p if p.ends_with("/jobs") => assert_eq!(ids("value"), all_jobs, "{p}: {body}"),
                p if p.contains("/jobs/") => assert_eq!(body["tenantId"], t.as_str(), "{body}"),
                p if p.ends_with("/connectorStatus") => {
                    let instances: BTreeSet<String> = body["value"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v["connectorInstanceId"].as_str().unwrap().to_owned())
                        .collect();
                    assert_eq!(instances, one(&me.connector.id), "{body}");
                }
                p if p.ends_with("/userPfxCertificates") => {
                    assert_eq!(ids("value"), one(&me.pfx), "{body}")
                }
                p if p.contains("/ndesConnectors/") => {
                    assert_eq!(body["id"], me.connector.id.as_str())
                }
                p if p.ends_with("downloadRevocationRequests") => {
                    let value = body["value"].as_array().unwrap();
                    assert_eq!(value.len(), 1, "{body}");
                    let job = value[0]["requestContext"]
                        .as_str()
                        .unwrap()
                        .split(':')
                        .next()
                        .unwrap();
                    assert!(fresh.contains(job), "{job} is not one of {fresh:?}");
                }
                other => panic!("no check for {other}"),
            }
            // The other tenant's data never shows, whatever it is.
            for s in other.strings() {
                assert!(!reply.text.contains(&s), "{path}: shows `{s}`");
            }
            // The uninstalled connector is gone from its own tenant's lists too.
            assert!(
                !reply.text.contains(&w.uninstalled.id),
                "{path}: shows the uninstalled connector"
            );
        }
    }
    assert_eq!(lists, 26, "list checks");
    eprintln!(
        "security matrix: {} routes, {cases} refusal cases, {cross} cross-tenant cases, {lists} own-tenant list checks",
        ROUTES.len()
    );
}
