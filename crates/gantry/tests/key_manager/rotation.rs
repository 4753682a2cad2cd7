//! Signing-key rotation seen by the JWKS, the gateway and introspection; encryption at rest;
//! the non-RSA algorithms.

use super::fixture::*;

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_until_they_expire_then_removes_the_key() {
    // Manual rotation only; a retired key goes one second after its tokens expire.
    let f = Fixture::start(&[
        ("GANTRY_KEY_ROTATION_PERIOD_SECS", "0"),
        ("GANTRY_KEY_RETIRE_GRACE_SECS", "1"),
    ])
    .await;
    let keys = f.keys("PRODUCTION", json!({"validityTime": 4})).await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap(),
        keys["consumerSecret"].as_str().unwrap(),
    );
    let (status, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let before = access_token(&body);
    let old_kid = kid_of(&before);
    let published = f.jwks_kids().await;
    assert_eq!(
        published.len(),
        2,
        "active and next are published: {published:?}"
    );
    assert!(published.contains(&old_kid));
    let next_kid = published.iter().find(|k| **k != old_kid).unwrap().clone();
    f.gateway_eventually(&before, StatusCode::OK).await;

    // The Admin API needs the admin role and credentials.
    let r = f
        .client
        .post(f.up.cp_url(&format!("{ADMIN}/key-manager/signing-keys/rotate")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, rotated) = f
        .post_json(
            &format!("{ADMIN}/key-manager/signing-keys/rotate"),
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        rotated["activeKid"],
        next_kid.as_str(),
        "the next key becomes active"
    );

    let (_, body) = f
        .token(ck, cs, &[("grant_type", "client_credentials")])
        .await;
    let after = access_token(&body);
    assert_eq!(kid_of(&after), next_kid, "new tokens use the new kid");
    let published = f.jwks_kids().await;
    assert_eq!(
        published.len(),
        3,
        "retired, active, new next: {published:?}"
    );
    assert!(published.contains(&old_kid));
    // Both verify at the gateway: the snapshot carries every published key.
    f.gateway_eventually(&after, StatusCode::OK).await;
    f.gateway_eventually(&before, StatusCode::OK).await;
    assert_eq!(f.introspect_as_admin(&before).await["active"], true);

    // The retired key leaves once its tokens (4 s) have expired (+1 s grace). The gateway
    // would still accept the old token for 30 s of clock skew: it is refused because the
    // key is gone from its snapshot.
    let gone = eventually(Duration::from_secs(15), || async {
        !f.jwks_kids().await.contains(&old_kid)
    })
    .await;
    assert!(gone, "the retired key was never removed");
    let (_, body) = f
        .gateway_eventually(&before, StatusCode::UNAUTHORIZED)
        .await;
    assert!(body.contains("unknown key"), "{body}");
    let (_, list) = f
        .client
        .get(f.up.cp_url(&format!("{ADMIN}/key-manager/signing-keys")))
        .basic_auth("admin", Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .map(|v| (StatusCode::OK, v))
        .unwrap();
    let removed = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .unwrap();
    assert_eq!(removed["state"], "removed");
}

#[tokio::test]
async fn scheduled_rotation_changes_the_signing_key_and_keys_are_encrypted_at_rest() {
    let mut f = Fixture::start(&[("GANTRY_KEY_ROTATION_PERIOD_SECS", "2")]).await;
    let keys = f.keys("PRODUCTION", json!({})).await;
    let (ck, cs) = (
        keys["consumerKey"].as_str().unwrap().to_owned(),
        keys["consumerSecret"].as_str().unwrap().to_owned(),
    );
    let (_, body) = f
        .token(&ck, &cs, &[("grant_type", "client_credentials")])
        .await;
    let first = kid_of(&access_token(&body));
    let rotated = eventually(Duration::from_secs(15), || async {
        let (_, body) = f
            .token(&ck, &cs, &[("grant_type", "client_credentials")])
            .await;
        kid_of(&access_token(&body)) != first
    })
    .await;
    assert!(rotated, "the schedule never rotated the key");

    // The key-encryption key was generated into the data directory, owner-only.
    let kek_path = f.up.data_dir().join("key-encryption-key");
    let kek = std::fs::read_to_string(&kek_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&kek_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // With another key-encryption key the stored signing keys cannot be opened: start
    // fails, naming the cause, rather than signing with something else.
    assert!(f.up.stop());
    let wrong = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let port = |p: u16| p.to_string();
    let out = std::process::Command::new(BIN)
        .arg("up")
        .arg("--data-dir")
        .arg(f.up.data_dir())
        .arg("--no-demo")
        .args(["--control-plane-port", &port(gantry_testkit::free_port())])
        .args(["--gateway-port", &port(gantry_testkit::free_port())])
        .args(["--ops-port", &port(gantry_testkit::free_port())])
        .env("GANTRY_KEY_ENCRYPTION_KEY", &wrong)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be decrypted"), "{stderr}");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(kek.trim())
        .unwrap();
    assert_eq!(decoded.len(), 32);
}

#[tokio::test]
async fn es256_and_eddsa_keys_sign_tokens_that_verify_with_the_jwks() {
    for (alg, kty) in [("ES256", "EC"), ("EdDSA", "OKP")] {
        let f = Fixture::start(&[("GANTRY_SIGNING_ALGORITHM", alg)]).await;
        let keys = f.keys("PRODUCTION", json!({})).await;
        let (ck, cs) = (
            keys["consumerKey"].as_str().unwrap(),
            keys["consumerSecret"].as_str().unwrap(),
        );
        let (status, body) = f
            .token(ck, cs, &[("grant_type", "client_credentials")])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let token = access_token(&body);
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg);
        let (_, jwks) = f.get_json("/oauth2/jwks").await;
        let key = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .unwrap()
            .clone();
        assert_eq!(
            (key["kty"].as_str(), key["alg"].as_str()),
            (Some(kty), Some(alg))
        );
        assert_eq!(f.introspect_as_admin(&token).await["active"], true);
    }
}
