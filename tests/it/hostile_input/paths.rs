//! Hostile path parameters: every path parameter of every route, given segments that are not ids.

use super::*;

// ----- path parameters ---------------------------------------------------------------------------

/// Every route with a path parameter, `{}` where the hostile segment goes.
fn path_routes(w: &World) -> Vec<(Method, String, Caller, Refusal)> {
    let t = &w.tenant.id;
    let c = &w.connector;
    use Caller::*;
    use Refusal::*;
    vec![
        (
            Method::DELETE,
            "/admin/faults/{}".into(),
            Operator,
            Envelope,
        ),
        (Method::GET, "/admin/tenants/{}".into(), Operator, Envelope),
        (
            Method::DELETE,
            "/admin/tenants/{}".into(),
            Operator,
            Envelope,
        ),
        (
            Method::PUT,
            "/admin/tenants/{}/import-key".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            "/admin/tenants/{}/connectors".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/connectors/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{{}}/connectors/{c}/status"),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/connectors/{{}}/history"),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            "/admin/tenants/{}/scep/challenges".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/scep/challenges/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::DELETE,
            format!("/admin/tenants/{t}/scep/challenges/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            "/connector/v1/jobs/{}/complete".into(),
            Connector,
            Envelope,
        ),
        (
            Method::GET,
            "/admin/tenants/{}/jobs".into(),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            "/admin/tenants/{}/jobs".into(),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            format!("/admin/tenants/{t}/jobs/{{}}"),
            Operator,
            Envelope,
        ),
        (
            Method::POST,
            format!("/admin/tenants/{t}/jobs/{{}}/cancel"),
            Operator,
            Envelope,
        ),
        (
            Method::GET,
            "/v1.0/servicePrincipals/{}/endpoints".into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/ndesConnectors/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/certificateConnectorDetails/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::POST,
            "/beta/deviceManagement/certificateConnectorDetails/{}/getHealthMetrics".into(),
            Graph,
            Envelope,
        ),
        (
            Method::POST,
            "/beta/deviceManagement/certificateConnectorDetails/{}/getHealthMetricTimeSeries"
                .into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/userPfxCertificates/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::PATCH,
            "/beta/deviceManagement/userPfxCertificates/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::DELETE,
            "/beta/deviceManagement/userPfxCertificates/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::GET,
            "/beta/deviceManagement/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::PATCH,
            "/beta/deviceManagement/{}".into(),
            Graph,
            Envelope,
        ),
        (
            Method::DELETE,
            "/beta/deviceManagement/{}".into(),
            Graph,
            Envelope,
        ),
        (Method::POST, "/{}/oauth2/v2.0/token".into(), Graph, OAuth),
    ]
}

fn hostile_segment(pick: usize, garbage: &str) -> String {
    let segments = [
        "%FF".to_owned(),
        "%C3".to_owned(),
        "%ED%A0%80".to_owned(),
        "%".to_owned(),
        "%G1".to_owned(),
        "%00".to_owned(),
        "a%2Fb".to_owned(),
        "x".repeat(10 * 1024),
        "userPfxCertificates(%FF)".to_owned(),
        "userPfxCertificates('%00')".to_owned(),
        "appId=%FF".to_owned(),
        format!("g{garbage}"),
    ];
    segments[pick % segments.len()].clone()
}

#[test]
fn hostile_path_segments_get_a_4xx_json_error_and_the_service_keeps_serving() {
    let w = world();
    let routes = path_routes(&w);
    let strategy = (0..routes.len(), any::<usize>(), "[%'()a-zA-Z0-9]{0,12}");
    run("hostile paths", strategy, |(route, pick, garbage)| {
        let (method, template, caller, refusal) = &routes[route];
        let path = template.replacen("{}", &hostile_segment(pick, &garbage), 1);
        let body = match refusal {
            Refusal::OAuth => Some((
                format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}",
                    w.tenant.client_id,
                    w.tenant.client_secret.as_deref().unwrap()
                )
                .into_bytes(),
                "application/x-www-form-urlencoded",
            )),
            _ if *method == Method::GET || *method == Method::DELETE => None,
            _ => Some((b"{}".to_vec(), "application/json")),
        };
        let bearer = match refusal {
            Refusal::OAuth => None,
            _ => Some(w.bearer(*caller)),
        };
        w.runtime.block_on(async {
            let (status, text) = send_raw(&w.app, method.clone(), &path, bearer, body).await?;
            check_refused(status, &text, *refusal, &format!("{method} {path:.300}"))?;
            w.still_serving().await
        })
    });
}
