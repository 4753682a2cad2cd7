//! Issuer attribution end to end, with two stand-in OIDC providers as key managers: a token
//! is billed only through a key mapping of the issuer that signed it; API keys come from the
//! resident key manager only; backend JWTs name the resolved application; the control plane
//! takes no external token as its own.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use gantry_keys::{SigningAlgorithm, SigningKey};
use gantry_testkit::idp::FakeIdp;
use gantry_testkit::{EchoUpstream, GantryUp};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gantry");
const ADM: &str = "/api/am/admin/v4";
const DEV: &str = "/api/am/devportal/v3";
const PATH: &str = "/attributed/1.0.0/data";

/// A stand-in identity provider and the key it signs with.
struct Idp {
    server: FakeIdp,
    key: SigningKey,
}

impl Idp {
    async fn start() -> Self {
        let key = SigningKey::generate(SigningAlgorithm::Rs256).unwrap();
        let jwks = json!({"keys": [serde_json::to_value(key.public_jwk()).unwrap()]});
        Self {
            server: FakeIdp::start(jwks).await,
            key,
        }
    }

    /// An access token of this provider with `claims` added (`azp` and the like).
    fn token(&self, claims: Value) -> String {
        let now = gantry_keys::token::now_secs();
        let mut all = json!({"iss": self.server.issuer(), "sub": "idp-user", "typ": "Bearer",
            "exp": now + 300, "iat": now, "jti": format!("jti-{now}-{}", claims)});
        for (name, value) in claims.as_object().unwrap() {
            all[name] = value.clone();
        }
        self.key.sign_jwt("JWT", &all).unwrap()
    }

    fn access_token(&self, client_id: &str) -> String {
        self.token(json!({"azp": client_id}))
    }
}

/// The resident key manager's issuer, as the Admin API lists it.
async fn resident_issuer(up: &GantryUp) -> String {
    let (status, list) = up.rest().get(&format!("{ADM}/key-managers")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["list"][0]["id"], "resident", "{list}");
    list["list"][0]["issuer"].as_str().unwrap().to_owned()
}

/// Registers `idp` as the key manager `name`.
async fn register(up: &GantryUp, name: &str, idp: &Idp) {
    let (status, km) = up
        .rest()
        .post(
            &format!("{ADM}/key-managers"),
            json!({"name": name, "type": "KeyCloak",
                   "wellKnownEndpoint": idp.server.url("/.well-known/openid-configuration")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{km}");
}

async fn map_keys(
    up: &GantryUp,
    app_id: &str,
    consumer_key: &str,
    km: &str,
) -> (StatusCode, Value) {
    up.rest()
        .post(
            &format!("{DEV}/applications/{app_id}/map-keys"),
            json!({"consumerKey": consumer_key, "keyType": "PRODUCTION", "keyManager": km}),
        )
        .await
}

/// GET `PATH` with one header; the status and, on success, what the upstream received.
async fn call(up: &GantryUp, header: &str, value: &str) -> (u16, Value) {
    let response = up
        .gw_client()
        .get(up.gw_url(PATH))
        .header(header, value)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn bearer(up: &GantryUp, token: &str) -> (u16, Value) {
    call(up, "authorization", &format!("Bearer {token}")).await
}

/// The claims of the backend JWT the upstream received.
fn backend_claims(seen: &Value) -> Value {
    let jwt = seen["headers"]["x-jwt-assertion"].as_str().unwrap();
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_billed_only_to_an_application_mapped_under_its_own_issuer() {
    let upstream = EchoUpstream::start().await;
    let (idp_a, idp_b) = (Idp::start().await, Idp::start().await);
    let mut up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    register(&up, "IdP A", &idp_a).await;
    register(&up, "IdP B", &idp_b).await;

    let api_id = rest
        .create_and_deploy(json!({"name": "Attributed", "context": "/attributed", "version": "1.0.0",
            "policies": ["Gold"], "enableBackendJwt": true, "securityScheme": ["oauth2", "api_key"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": upstream.url()}},
            "operations": [{"target": "/data", "verb": "GET"}]}))
        .await;
    // A resident application with keys of Gantry's own key manager, and one whose client
    // lives at IdP A. Both subscribed.
    let resident_app = rest.application("resident-app").await;
    rest.subscribe(&resident_app, &api_id, "Gold").await;
    let (resident_ck, resident_cs) = rest.keys(&resident_app).await;
    let corp_app = rest.application("corp-app").await;
    rest.subscribe(&corp_app, &api_id, "Gold").await;
    let (status, mapped) = map_keys(&up, &corp_app, "a-client", "IdP A").await;
    assert_eq!(status, StatusCode::OK, "{mapped}");

    // (d) the resident token, and (c) IdP A's token for its mapped client: 200, each billed
    // to its own application.
    let (status, resident_token) = rest.token(&resident_ck, &resident_cs).await;
    assert_eq!(status, StatusCode::OK, "{resident_token}");
    let resident_token = resident_token["access_token"].as_str().unwrap().to_owned();
    assert!(up.eventually_gw_status(PATH, &resident_token, 200).await);
    let a_token = idp_a.access_token("a-client");
    assert!(up.eventually_gw_status(PATH, &a_token, 200).await);

    let reached = upstream.hits();
    // (a) IdP A's token naming the resident application's consumer key: refused.
    let (status, _) = bearer(&up, &idp_a.access_token(&resident_ck)).await;
    assert!(matches!(status, 401 | 403), "{status}");
    // (b) IdP B's token naming the client mapped under IdP A: refused.
    let (status, _) = bearer(&up, &idp_b.access_token("a-client")).await;
    assert!(matches!(status, 401 | 403), "{status}");
    // IdP A's key claiming to be the resident issuer: the key's issuer is pinned.
    let posing = {
        let now = gantry_keys::token::now_secs();
        let resident_iss = resident_issuer(&up).await;
        idp_a
            .key
            .sign_jwt(
                "JWT",
                &json!({"iss": resident_iss, "sub": "x", "azp": resident_ck, "exp": now + 300}),
            )
            .unwrap()
    };
    let (status, _) = bearer(&up, &posing).await;
    assert!(matches!(status, 401 | 403), "{status}");
    // (e) An API-key-shaped JWT minted by IdP A naming the resident application: refused.
    let forged_key = idp_a.token(json!({
        "token_type": "apiKey", "keytype": "PRODUCTION",
        "application": {"id": 1, "uuid": resident_app, "name": "resident-app",
                        "owner": "admin", "tier": "Unlimited"},
        "subscribedAPIs": [{"name": "Attributed", "context": "/attributed/1.0.0",
                            "version": "1.0.0", "publisher": "admin", "subscriptionTier": "Gold"}],
    }));
    let (status, _) = call(&up, "apikey", &forged_key).await;
    assert_eq!(status, 401);
    assert_eq!(
        upstream.hits(),
        reached,
        "no refused call reached the upstream"
    );

    // The resident key manager's API key still works.
    let (status, body) = rest
        .post(
            &format!("{DEV}/applications/{resident_app}/api-keys/PRODUCTION/generate"),
            json!({"validityPeriod": 3600, "additionalProperties": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(&up, "apikey", body["apikey"].as_str().unwrap()).await;
    assert_eq!(status, 200);

    // (f) The backend JWT names the application the gateway resolved, not the one a token
    // claims: IdP A's token for its client, carrying a WSO2-style claim naming the resident app.
    let claiming = idp_a.token(json!({"azp": "a-client",
        "application": {"uuid": resident_app, "name": "resident-app", "owner": "admin", "tier": "Gold"}}));
    let (status, seen) = bearer(&up, &claiming).await;
    assert_eq!(status, 200, "{seen}");
    let claims = backend_claims(&seen);
    assert_eq!(
        claims["http://wso2.org/claims/applicationUUId"],
        corp_app.as_str()
    );
    assert_eq!(claims["http://wso2.org/claims/applicationname"], "corp-app");
    assert_eq!(claims["http://wso2.org/claims/client_id"], "a-client");
    let (status, seen) = bearer(&up, &resident_token).await;
    assert_eq!(status, 200, "{seen}");
    let claims = backend_claims(&seen);
    assert_eq!(
        claims["http://wso2.org/claims/applicationUUId"],
        resident_app.as_str()
    );
    assert_eq!(
        claims["http://wso2.org/claims/applicationname"],
        "resident-app"
    );
    assert_eq!(claims["http://wso2.org/claims/subscriber"], "admin");
    up.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_key_belongs_to_one_application_and_one_key_manager() {
    let idp_a = Idp::start().await;
    let idp_b = Idp::start().await;
    let mut up = GantryUp::start_with(BIN, false).await;
    let rest = up.rest();
    register(&up, "IdP A", &idp_a).await;
    register(&up, "IdP B", &idp_b).await;
    let owner = rest.application("owner-app").await;
    let squatter = rest.application("squatter-app").await;
    let (resident_ck, resident_cs) = rest.keys(&owner).await;
    let (status, mapped) = map_keys(&up, &owner, "shared-client", "IdP A").await;
    assert_eq!(status, StatusCode::OK, "{mapped}");

    // Taken under another key manager, by another application, or a resident key: 409.
    for (consumer_key, km) in [
        ("shared-client", "IdP B"),
        ("shared-client", "IdP A"),
        (resident_ck.as_str(), "IdP A"),
    ] {
        let (status, body) = map_keys(&up, &squatter, consumer_key, km).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{consumer_key} @ {km}: {body}"
        );
    }
    // A mapped client's secret lives at its key manager: no secret can be made for it here,
    // and it cannot authenticate at Gantry's token endpoint.
    let key_mapping = mapped["keyMappingId"].as_str().unwrap();
    let (status, body) = rest
        .post_empty(&format!(
            "{DEV}/applications/{owner}/oauth-keys/{key_mapping}/regenerate-secret"
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = rest.token("shared-client", "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An external issuer's token is no resident user's token: the REST API refuses it, and
    // introspection (as admin) reports it inactive.
    let external = idp_a.token(json!({"sub": "admin", "azp": "shared-client",
        "scope": "apim:admin apim:subscribe apim:app_manage"}));
    let (status, _) = rest
        .with_bearer(&external)
        .get(&format!("{DEV}/applications"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let introspect = |token: String| {
        let request = rest
            .request(reqwest::Method::POST, "/oauth2/introspect")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(gantry_testkit::rest::form_encode(&[("token", &token)]));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let (status, resident_token) = rest.token(&resident_ck, &resident_cs).await;
    assert_eq!(status, StatusCode::OK, "{resident_token}");
    let resident_token = resident_token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(resident_token).await["active"], true);
    let introspected = introspect(external.clone()).await;
    assert_eq!(introspected, json!({"active": false}));

    // An external key manager cannot take the resident issuer, on create or update.
    let resident_iss = resident_issuer(&up).await;
    let (status, body) = rest
        .post(
            &format!("{ADM}/key-managers"),
            json!({"name": "Impostor", "type": "KeyCloak", "issuer": resident_iss,
                   "certificates": {"type": "JWKS", "value": idp_b.server.url("/jwks")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, list) = rest.get(&format!("{ADM}/key-managers")).await;
    let b_id = list["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|km| km["name"] == "IdP B")
        .and_then(|km| km["id"].as_str())
        .unwrap()
        .to_owned();
    let (status, body) = rest
        .put(
            &format!("{ADM}/key-managers/{b_id}"),
            json!({"name": "IdP B", "type": "KeyCloak", "issuer": resident_iss,
                   "certificates": {"type": "JWKS", "value": idp_b.server.url("/jwks")}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    up.stop();
}
