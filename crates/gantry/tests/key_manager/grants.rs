//! The grants: password with refresh rotation, authorization code with PKCE through the login
//! page, WSO2's DCR, and discovery.

use super::fixture::*;

#[tokio::test]
async fn password_grant_refresh_rotation_and_reuse_revokes_the_family() {
    let f = Fixture::start(&[]).await;
    let keys = f
        .keys(
            "PRODUCTION",
            json!({"grantTypesToBeSupported": ["password", "refresh_token"]}),
        )
        .await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
    );
    // client_credentials is not among this client's grants.
    let (status, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", "wrong"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("scope", "apim:api_view apim:admin openid not:mine"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "apim:api_view apim:admin openid");
    assert!(body["id_token"].is_string(), "{body}");
    let first_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    // The user's access token works at the gateway; the ID token is not an access token
    // (catalogue J24): it names no client, so no application matches it.
    f.gateway_eventually(&access_token(&body), StatusCode::OK)
        .await;
    let (status, _) = f.gateway(body["id_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let refresh = |rt: String| {
        let f = &f;
        async move {
            f.token(
                ck,
                cs,
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await
        }
    };
    let (status, body) = refresh(first_refresh.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second_refresh = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh, "refresh tokens rotate");
    let second_access = access_token(&body);
    f.gateway_eventually(&second_access, StatusCode::OK).await;
    // Scope cannot widen on refresh.
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &second_refresh),
                ("scope", "apim:api_create"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    // Replaying the spent first token revokes the whole family.
    let (status, body) = refresh(first_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, body) = refresh(second_refresh).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(f.introspect_as_admin(&second_access).await["active"], false);
    let (_, body) = f
        .gateway_eventually(&second_access, StatusCode::UNAUTHORIZED)
        .await;
    assert!(body.contains("revoked"), "{body}");
}

#[tokio::test]
async fn authorization_code_with_pkce_through_the_login_page() {
    let f = Fixture::start(&[]).await;
    let keys = f
        .keys(
            "PRODUCTION",
            json!({
                "grantTypesToBeSupported": ["authorization_code", "refresh_token"],
                "callbackUrl": "https://app.example/cb",
                "additionalProperties": {"bypassClientCredentials": true}
            }),
        )
        .await;
    let ck = keys["consumerKey"].as_str().unwrap().to_owned();
    let no_redirects = f.up.cp_client_without_redirects();
    let verifier = "a-verifier-of-at-least-forty-three-characters-long-0123456789";
    let challenge = gantry_keys::pkce::s256_challenge(verifier);
    let authorize = |params: Vec<(&str, &str)>| {
        let url = format!(
            "{}?{}",
            f.up.cp_url("/oauth2/authorize"),
            serde_urlencoded::to_string(params).unwrap()
        );
        no_redirects.get(url).send()
    };

    // A redirect URI that is not exactly the registered one: error page, no redirect.
    let r = authorize(vec![
        ("response_type", "code"),
        ("client_id", &ck),
        ("redirect_uri", "https://app.example/cb/../evil"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    // A public client without PKCE: the error goes back to the client.
    let r = authorize(vec![
        ("response_type", "code"),
        ("client_id", &ck),
        ("state", "s1"),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with("https://app.example/cb?error=invalid_request"),
        "{location}"
    );
    assert!(location.contains("state=s1"));

    let params = vec![
        ("response_type", "code"),
        ("client_id", ck.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        ("scope", "openid apim:subscribe"),
        ("state", "xyz"),
        ("nonce", "n-0S6"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = authorize(params.clone()).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"));
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("<label for=\"username\">") && html.contains("<label for=\"password\">"));
    let csrf = csrf_field(&html);

    let submit = |extra: Vec<(&'static str, String)>, cookie: Option<String>| {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        form.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        let mut request = with_form(no_redirects.post(f.up.cp_url("/oauth2/authorize")), &form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    // Without the CSRF cookie the form is refused.
    let r = submit(
        vec![
            ("csrf_token", csrf.clone()),
            ("username", "admin".into()),
            ("password", ADMIN_PASSWORD.into()),
            ("decision", "allow".into()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A wrong password shows the page again.
    let r = submit(
        vec![
            ("csrf_token", csrf.clone()),
            ("username", "admin".into()),
            ("password", "nope".into()),
            ("decision", "allow".into()),
        ],
        Some(cookie.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = submit(
        vec![
            ("csrf_token", csrf.clone()),
            ("username", "admin".into()),
            ("password", ADMIN_PASSWORD.into()),
            ("decision", "allow".into()),
        ],
        Some(cookie.clone()),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(get("state"), "xyz");
    assert!(get("iss").ends_with("/oauth2/token"));
    let code = get("code");

    // The wrong verifier fails (and spends the code: codes are single-use).
    let wrong = [
        ("grant_type", "authorization_code"),
        ("client_id", ck.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        (
            "code_verifier",
            "b-wrong-verifier-of-at-least-forty-three-characters-0123",
        ),
    ];
    let r = f.form("/oauth2/token", None, &wrong).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");

    // A second round with the right verifier.
    let page = authorize(params.clone()).await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = csrf_field(&page.text().await.unwrap());
    let r = submit(
        vec![
            ("csrf_token", csrf),
            ("username", "admin".into()),
            ("password", ADMIN_PASSWORD.into()),
            ("decision", "allow".into()),
        ],
        Some(cookie),
    )
    .await
    .unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(location.split_once('?').unwrap().1).unwrap();
    let code2 = query.iter().find(|(k, _)| k == "code").unwrap().1.clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", ck.as_str()),
        ("code", code2.as_str()),
        ("redirect_uri", "https://app.example/cb"),
        ("code_verifier", verifier),
    ];
    let r = f.form("/oauth2/token", None, &form).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "openid apim:subscribe");
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());
    let access = access_token(&body);
    let userinfo = f
        .client
        .get(f.up.cp_url("/oauth2/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
    assert_eq!(userinfo.json::<Value>().await.unwrap()["sub"], "admin");
    // Redeeming the code again fails and revokes what the first redemption produced.
    let r = f.form("/oauth2/token", None, &form).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(f.introspect_as_admin(&access).await["active"], false);
}

#[tokio::test]
async fn wso2_rest_client_flow_dcr_then_password_grant() {
    let f = Fixture::start(&[]).await;
    let register = json!({
        "callbackUrl": "www.google.lk", "clientName": "rest_api_publisher", "owner": "admin",
        "grantType": "client_credentials password refresh_token", "saasApp": true
    });
    let (status, first) = f
        .post_json("/client-registration/v0.17/register", register.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["clientName"], "rest_api_publisher");
    assert_eq!(first["appOwner"], "admin");
    let (ck, cs) = (
        first["clientId"].as_str().unwrap(),
        first["clientSecret"].as_str().unwrap(),
    );
    let scopes = "apim:api_view apim:api_create apim:api_publish apim:subscribe apim:app_manage apim:sub_manage apim:admin";
    let (status, body) = f
        .token(
            ck,
            cs,
            &[
                ("grant_type", "password"),
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("scope", scopes),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], scopes);
    assert!(body["refresh_token"].is_string());

    // Registering again returns the same client with a new secret.
    let (_, again) = f
        .post_json("/client-registration/v0.17/register", register)
        .await;
    assert_eq!(again["clientId"], ck);
    let new_secret = again["clientSecret"].as_str().unwrap();
    let (status, _) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = f
        .token(ck, new_secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn discovery_documents_name_the_issuer_and_its_endpoints() {
    let f = Fixture::start(&[]).await;
    for path in [
        "/oauth2/token/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/oauth2/token",
    ] {
        let (status, doc) = f.get_json(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let issuer = doc["issuer"].as_str().unwrap();
        assert_eq!(
            issuer,
            format!("https://localhost:{}/oauth2/token", f.up.cp_port)
        );
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        for endpoint in [
            "token_endpoint",
            "jwks_uri",
            "revocation_endpoint",
            "introspection_endpoint",
        ] {
            assert!(
                doc[endpoint]
                    .as_str()
                    .unwrap()
                    .starts_with("https://localhost:"),
                "{endpoint}"
            );
        }
    }
    let (_, jwks) = f.get_json("/oauth2/jwks").await;
    for key in jwks["keys"].as_array().unwrap() {
        assert_eq!(key["use"], "sig");
        assert!(key.get("d").is_none() && key.get("p").is_none());
    }
}

#[tokio::test]
async fn jwt_bearer_assertions_from_a_trusted_idp_are_exchanged_once() {
    use gantry_keys::{SigningAlgorithm, SigningKey};
    let idp = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let trust = dir.path().join("trust.json");
    std::fs::write(
        &trust,
        json!([{"issuer": "https://idp.example", "jwks": {"keys": [idp.public_jwk()]}}])
            .to_string(),
    )
    .unwrap();
    let f = Fixture::start(&[("GANTRY_JWT_BEARER_TRUST_FILE", trust.to_str().unwrap())]).await;
    let keys = f
        .keys(
            "PRODUCTION",
            json!({"grantTypesToBeSupported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"]}),
        )
        .await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
    );
    let now = gantry_keys::token::now_secs();
    let audience = f.up.cp_url("/oauth2/token");
    let assertion = |sub: &str, aud: &str, jti: &str| {
        idp.sign_jwt(
            "JWT",
            &json!({"iss": "https://idp.example", "sub": sub, "aud": aud,
                "exp": now + 300, "iat": now, "jti": jti}),
        )
        .unwrap()
    };
    let f = &f;
    let exchange = |assertion: String| async move {
        f.token(
            ck,
            cs,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &assertion),
                ("scope", "apim:admin"),
            ],
        )
        .await
    };
    let first = assertion("admin", &audience, "a-1");
    let (status, body) = exchange(first.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "apim:admin");
    assert!(body.get("refresh_token").is_none());
    let info = f.introspect_as_admin(&access_token(&body)).await;
    assert_eq!(
        (info["username"].as_str(), info["aut"].as_str()),
        (Some("admin"), Some("APPLICATION_USER"))
    );

    for (why, refused) in [
        ("replayed", first),
        (
            "wrong audience",
            assertion("admin", "https://elsewhere.example/token", "a-2"),
        ),
        ("unknown user", assertion("nobody", &audience, "a-3")),
        (
            "untrusted signer",
            SigningKey::generate(SigningAlgorithm::Es256)
                .unwrap()
                .sign_jwt(
                    "JWT",
                    &json!({"iss": "https://idp.example", "sub": "admin",
                    "aud": audience, "exp": now + 300, "jti": "a-4"}),
                )
                .unwrap(),
        ),
    ] {
        let (status, body) = exchange(refused).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{why}: {body}"
        );
    }
}

#[test]
fn an_unreadable_or_invalid_trust_file_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("trust.json");
    std::fs::write(
        &bad,
        r#"[{"issuer": "https://idp.example", "jwks": {"keys": [{"kty": "oct"}]}}]"#,
    )
    .unwrap();
    for file in [dir.path().join("missing.json"), bad] {
        let port = || gantry_testkit::free_port().to_string();
        let out = std::process::Command::new(BIN)
            .arg("up")
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--no-demo")
            .args(["--control-plane-port", &port(), "--gateway-port", &port()])
            .args(["--ops-port", &port()])
            .env("GANTRY_JWT_BEARER_TRUST_FILE", &file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{file:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--jwt-bearer-trust-file"), "{stderr}");
    }
}
