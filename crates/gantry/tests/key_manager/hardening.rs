//! Abuse limits and malformed input.

use super::fixture::*;

#[tokio::test]
async fn failed_client_authentication_is_rate_limited_with_retry_after() {
    let f = Fixture::start(&[]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let ck = keys["consumerKey"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let (status, _) = f
            .token(ck, "wrong", &[("grant_type", "client_credentials")])
            .await;
        statuses.push(status);
    }
    assert!(
        statuses[..10]
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    let r = f
        .form(
            "/oauth2/token",
            Some((ck, keys["consumerSecret"].as_str().unwrap())),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
}

#[tokio::test]
async fn malformed_requests_to_the_key_manager_are_4xx_never_5xx() {
    // Once the failures from this address pass the limit, answers become 429: still a 4xx.
    let f = Fixture::start(&[]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let ck = keys["consumerKey"].as_str().unwrap().to_owned();
    let form = "application/x-www-form-urlencoded";
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        (
            form,
            b"grant_type=client_credentials&\xff\xfe=\xc3\x28".to_vec(),
        ),
        (form, b"%%%%&&&===".to_vec()),
        (form, vec![b'a'; 200 * 1024]),
        (form, b"grant_type=".to_vec()),
        (form, b"token=a.b.c&token_type_hint=\x00".to_vec()),
        (
            "application/json",
            b"{\"grant_type\":\"client_credentials\"}".to_vec(),
        ),
        ("text/plain", b"grant_type=client_credentials".to_vec()),
        (
            form,
            b"grant_type=authorization_code&code=x&code_verifier=short".to_vec(),
        ),
        (form, b"grant_type=refresh_token&refresh_token=".to_vec()),
        (form, b"grant_type=password&username=admin".to_vec()),
    ];
    let authorizations = [
        None,
        Some("Basic".to_owned()),
        Some("Basic !!!not-base64".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{ck}:wrong"))
        )),
        Some("Bearer a.b.c".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe])
        )),
    ];
    for path in [
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/introspect",
        "/oauth2/authorize",
    ] {
        for (content_type, body) in &bodies {
            for auth in &authorizations {
                let mut request = f
                    .client
                    .post(f.up.cp_url(path))
                    .header("content-type", *content_type)
                    .body(body.clone());
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                let status = request.send().await.unwrap().status();
                assert!(
                    status.is_client_error(),
                    "{path} {content_type} {auth:?} {} bytes: {status}",
                    body.len()
                );
            }
        }
    }
    for query in [
        "",
        "?client_id=%ff",
        "?response_type=code&client_id=a&client_id=b",
        "?%%%",
    ] {
        let status = f
            .client
            .get(f.up.cp_url(&format!("/oauth2/authorize{query}")))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "authorize{query}: {status}");
    }
    for token in ["", "a.b.c", "Bearer", "x".repeat(9000).as_str()] {
        let status = f
            .client
            .get(f.up.cp_url("/oauth2/userinfo"))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_client_error(), "userinfo {token:.10}: {status}");
    }
}
