//! The PFX module's Graph calls (`userPfxCertificates`) with every key syntax, filter, patch and
//! delete.

use super::*;

#[tokio::test]
async fn the_pfx_module_calls_work_with_every_key_syntax_filter_patch_and_delete() {
    let b = bench().await;
    let token = b.app.graph_token(&b.tenant).await.unwrap();
    let path = "/beta/deviceManagement/userPfxCertificates";
    let mut body = upload_body(b.dir());
    // The module writes enum values in PascalCase.
    body["intendedPurpose"] = json!("SmimeEncryption");
    body["paddingScheme"] = json!("OaepSha512");
    let created = b
        .app
        .request(Method::POST, path, Some(&token), Some(&body))
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["intendedPurpose"], "smimeEncryption");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let thumbprint = body["thumbprint"].as_str().unwrap().to_ascii_lowercase();

    let token = token.as_str();
    let app = &b.app;
    let get = |p: String| async move {
        app.request::<()>(Method::GET, &p, Some(token), None)
            .await
            .unwrap()
    };
    for form in [
        format!("{path}/{id}"),
        format!("{path}({id})"),
        format!("{path}('{id}')"),
    ] {
        let answer = get(form.clone()).await;
        assert_eq!(answer.status, 200, "{form}: {}", answer.body);
        assert_eq!(answer.body["id"], json!(id));
        assert_eq!(
            answer.body["@odata.type"],
            "#microsoft.graph.userPFXCertificate"
        );
    }
    let filtered = get(format!(
        "{path}?$filter=tolower(userPrincipalName)%20eq%20'user0001@contoso.com'%20and%20tolower(thumbprint)%20eq%20'{thumbprint}'"
    ))
    .await;
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert_eq!(filtered.body["value"].as_array().unwrap().len(), 1);
    let none = get(format!(
        "{path}?$filter=userPrincipalName%20eq%20'other@contoso.com'"
    ))
    .await;
    assert_eq!(none.body["value"], json!([]));
    let bad = get(format!("{path}?$filter=keyName%20eq%20'x'")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("keyName"));
    let not_a_set = get("/beta/deviceManagement/somethingElse('x')".to_owned()).await;
    assert_eq!(not_a_set.status, 404);

    // Import -IsUpdate: PATCH with parentheses and no quotes; 204.
    body["intendedPurpose"] = json!("SmimeSigning");
    let patched = b
        .app
        .request(
            Method::PATCH,
            &format!("{path}({id})"),
            Some(token),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(patched.status, 204, "{}", patched.body);
    assert_eq!(
        get(format!("{path}/{id}")).await.body["intendedPurpose"],
        "smimeSigning"
    );
    let mut other_user = body.clone();
    other_user["userPrincipalName"] = json!("user0002@contoso.com");
    let mismatch = b
        .app
        .request(
            Method::PATCH,
            &format!("{path}({id})"),
            Some(token),
            Some(&other_user),
        )
        .await
        .unwrap();
    assert_eq!(mismatch.status, 400, "{}", mismatch.body);
    assert_eq!(
        get(format!("{path}/{id}")).await.body["userPrincipalName"],
        "user0001@contoso.com"
    );

    let deleted = b
        .app
        .request::<()>(Method::DELETE, &format!("{path}/{id}"), Some(token), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 204);
    assert_eq!(get(format!("{path}('{id}')")).await.status, 404);
    let missing_patch = b
        .app
        .request(
            Method::PATCH,
            &format!("{path}({id})"),
            Some(token),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(missing_patch.status, 404);
}
