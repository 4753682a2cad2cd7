//! Revocation (RFC 7009) reaching the gateway, introspection (RFC 7662), and deleted keys.

use super::fixture::*;

#[tokio::test]
async fn revoked_access_token_is_refused_by_the_gateway_and_inactive_at_introspection() {
    let f = Fixture::start(&[]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
    );
    let (_, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    let token = access_token(&body);
    f.gateway_eventually(&token, StatusCode::OK).await;
    let info = f.introspect_as_admin(&token).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], ck);
    // A client may introspect its own token.
    let r = f
        .form("/oauth2/introspect", Some((ck, cs)), &[("token", &token)])
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    // Unauthenticated callers may not.
    let r = f
        .form("/oauth2/introspect", None, &[("token", &token)])
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Unauthenticated revocation is refused; unknown tokens are a 200 no-op.
    let r = f.form("/oauth2/revoke", None, &[("token", &token)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = f
        .form("/oauth2/revoke", Some((ck, cs)), &[("token", "nonsense")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = f
        .form(
            "/oauth2/revoke",
            Some((ck, cs)),
            &[("token", &token), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, body) = f.gateway_eventually(&token, StatusCode::UNAUTHORIZED).await;
    assert!(
        body.contains("revoked") && body.contains("900901"),
        "{body}"
    );
    assert_eq!(
        f.introspect_as_admin(&token).await,
        json!({"active": false})
    );
    // Revocation is per token: a new one works.
    let (_, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    f.gateway_eventually(&access_token(&body), StatusCode::OK)
        .await;

    // Deleting the client's keys ends its live tokens.
    let fresh = access_token(&body);
    let mapping = keys["keyMappingId"].as_str().unwrap();
    let r = f
        .client
        .delete(f.up.cp_url(&format!(
            "{DEV}/applications/{}/oauth-keys/{mapping}",
            f.app_id
        )))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        f.introspect_as_admin(&fresh).await,
        json!({"active": false})
    );
    let (status, _) = f.gateway(&fresh).await;
    assert!(status.is_client_error(), "{status}");
    assert_ne!(
        f.gateway_eventually(&fresh, StatusCode::FORBIDDEN).await.0,
        StatusCode::OK
    );
}
