//! The authorise stage: what an authenticated application may do. Its subscription to the
//! API must exist and not be blocked for the key type used, the operation must accept its
//! kind of token, and the token must carry every scope the operation lists; an API key must
//! also name the API among the subscriptions it was made for. Callers admitted by a client
//! certificate alone, and anonymous ones, have nothing to check here.

use std::sync::Arc;

use gantry_model::{AuthType, KeyType, SubscriptionStatus};

use super::Answer;
use super::authenticate::Authenticated;
use super::route::Routed;
use crate::authn::denial::{Denial, forbidden, not_subscribed};
use crate::compiled::{ApiEntry, CompiledConfig, OperationEntry};
use crate::credential::{Caller, CallerClaims};
use crate::metrics::Outcome;

/// Lets `who` call `routed`, or answers 403 (`900907` blocked, `900908` not subscribed or
/// another kind of token, `900910` a scope missing).
pub fn check(
    config: &CompiledConfig,
    routed: &Routed<'_>,
    who: &Authenticated,
    outcome: &mut Outcome,
) -> Result<(), Answer> {
    let Some(caller) = &who.caller else {
        return Ok(());
    };
    match decide(config, &routed.api, routed.operation, caller) {
        Ok(()) => {
            outcome.application = Some(caller.application_id.clone());
            Ok(())
        }
        Err(denied) => {
            outcome.failure = Some(denied.reason());
            Err(denied.into_response())
        }
    }
}

/// Whether `caller` may call `operation` of `api`.
pub fn decide(
    config: &CompiledConfig,
    api: &ApiEntry,
    operation: &OperationEntry,
    caller: &Caller,
) -> Result<(), Denial> {
    match &caller.claims {
        CallerClaims::Access(_) => {
            check_subscription(config, &caller.application_id, api, caller.key_type)?;
        }
        CallerClaims::ApiKey(claims) => {
            if !claims.was_subscribed_to(&api.base_path) {
                return Err(not_subscribed());
            }
            check_subscription(config, &caller.application_id, api, caller.key_type)?;
        }
    }
    operation_allows(operation, caller)
}

/// Whether `caller`'s kind of token and scopes let it call `operation` (its subscription
/// aside): also each root field of a GraphQL document and each GraphQL subscription.
pub fn operation_allows(operation: &OperationEntry, caller: &Caller) -> Result<(), Denial> {
    match &caller.claims {
        CallerClaims::Access(claims) => {
            let user_token = claims.is_user_token();
            match operation.auth_type {
                AuthType::Application if user_token => {
                    return Err(forbidden(
                        "900908",
                        "Resource forbidden",
                        "This resource accepts application tokens only",
                    ));
                }
                AuthType::ApplicationUser if !user_token => {
                    return Err(forbidden(
                        "900908",
                        "Resource forbidden",
                        "This resource accepts application user tokens only",
                    ));
                }
                _ => {}
            }
            if !operation.scopes.is_empty() {
                let granted: Vec<&str> = claims.scope.split_whitespace().collect();
                if let Some(missing) = operation
                    .scopes
                    .iter()
                    .find(|s| !granted.contains(&s.as_str()))
                {
                    return Err(forbidden(
                        "900910",
                        "The access token does not allow you to access the requested resource",
                        format!("The access token is missing the scope '{missing}'"),
                    ));
                }
            }
        }
        CallerClaims::ApiKey(_) => {
            if operation.auth_type == AuthType::ApplicationUser {
                return Err(forbidden(
                    "900908",
                    "Resource forbidden",
                    "This resource accepts application user tokens only",
                ));
            }
            if let Some(missing) = operation.scopes.first() {
                return Err(forbidden(
                    "900910",
                    "The access token does not allow you to access the requested resource",
                    format!(
                        "The resource needs the scope '{missing}', which an API key cannot carry"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The (application, API) subscription exists and allows `key_type`: `UNBLOCKED` both,
/// `PROD_ONLY_BLOCKED` sandbox keys only.
fn check_subscription(
    config: &CompiledConfig,
    application_id: &Arc<str>,
    api: &ApiEntry,
    key_type: KeyType,
) -> Result<(), Denial> {
    match config
        .subscriptions
        .get(&(application_id.clone(), api.id.clone()))
    {
        None => Err(not_subscribed()),
        Some(subscription) if !subscription.status.allows(key_type) => {
            let description = match subscription.status {
                SubscriptionStatus::Blocked | SubscriptionStatus::ProdOnlyBlocked => {
                    "The subscription to the API is blocked"
                }
                _ => "The subscription to the API is not active",
            };
            Err(forbidden(
                "900907",
                "The requested API is temporarily blocked",
                description,
            ))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::compiled::RouteMatch;
    use crate::stage::authenticate::credential;
    use gantry_keys::{ApiKeyGrant, SigningAlgorithm, SigningKey, SubscribedApi, TokenIssuer};
    use gantry_model::snapshot::{
        DeployedApi, IssuerKey, KeyMapping, SnapshotSubscription, TrustedIssuer,
    };
    use gantry_model::{
        ApiContext, ApiName, ApiVersion, Endpoint, EndpointConfig, GatewaySnapshot, HttpVerb,
        LifecycleState, Operation, ResourceTarget,
    };
    use http::{HeaderMap, StatusCode};
    use http::{HeaderValue, Method};

    /// Authentication, then authorisation, as the two stages run them.
    fn authorize(
        config: &CompiledConfig,
        api: &ApiEntry,
        operation: &OperationEntry,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Caller, Denial> {
        let caller = credential(config, api, headers, query)?;
        decide(config, api, operation, &caller)?;
        Ok(caller)
    }

    const ISSUER: &str = "https://km.test/oauth2/token";
    const EXTERNAL: &str = "https://idp.test/realms/corp";

    fn api(id: &str, context: &str, scheme: &[&str]) -> DeployedApi {
        DeployedApi {
            api_id: id.into(),
            revision_id: "r".into(),
            name: ApiName::parse(id).unwrap(),
            context: ApiContext::parse(context).unwrap(),
            version: ApiVersion::parse("1.0.0").unwrap(),
            vhost: "localhost".into(),
            is_default_version: false,
            lifecycle: LifecycleState::Published,
            api_type: "HTTP".into(),
            authorization_header: "Authorization".into(),
            security_scheme: scheme.iter().map(|s| (*s).to_owned()).collect(),
            gateway: Default::default(),
            endpoint_config: EndpointConfig {
                production_endpoints: Some(
                    Endpoint {
                        url: "http://127.0.0.1:1".into(),
                        config: None,
                    }
                    .into(),
                ),
                ..Default::default()
            },
            cors_configuration: Default::default(),
            operations: vec![Operation {
                id: None,
                target: ResourceTarget::parse("/*").unwrap(),
                verb: HttpVerb::Get,
                auth_type: AuthType::Any,
                throttling_policy: "Unlimited".into(),
                scopes: vec![],
                operation_policies: Default::default(),
            }],
            client_certificates: vec![],
        }
    }

    fn trusted(issuer: &TokenIssuer, resident: bool) -> TrustedIssuer {
        let jwks = serde_json::to_value(issuer.keys().jwks()).unwrap();
        TrustedIssuer {
            issuer: issuer.issuer().into(),
            keys: IssuerKey::from_jwks(&jwks),
            jwks_uri: (!resident).then(|| format!("{}/jwks", issuer.issuer())),
            resident,
        }
    }

    /// The resident key manager, an external issuer, and a configuration where `app` holds
    /// the resident client `resident-ck` and `corp-app` the external client `corp-client`.
    fn setup() -> (TokenIssuer, TokenIssuer, CompiledConfig) {
        let issuer = TokenIssuer::new(
            ISSUER,
            SigningKey::generate(SigningAlgorithm::Es256).unwrap(),
        );
        let external = TokenIssuer::new(
            EXTERNAL,
            SigningKey::generate(SigningAlgorithm::Rs256).unwrap(),
        );
        let subscription = |app: &str, api: &str| SnapshotSubscription {
            id: format!("s-{app}-{api}"),
            application_id: app.into(),
            api_id: api.into(),
            tier: "Gold".into(),
            status: SubscriptionStatus::Unblocked,
        };
        let mapping = |consumer_key: &str, application_id: &str, issuer: &str| KeyMapping {
            consumer_key: consumer_key.into(),
            application_id: application_id.into(),
            key_type: KeyType::Production,
            issuer: issuer.into(),
        };
        let config = CompiledConfig::compile(&GatewaySnapshot {
            environment: "Default".into(),
            version: 1,
            apis: vec![
                api("keyed", "/keyed", &["api_key"]),
                api("other", "/other", &["oauth2", "api_key"]),
            ],
            key_mappings: vec![
                mapping("resident-ck", "app", ISSUER),
                mapping("corp-client", "corp-app", EXTERNAL),
            ],
            subscriptions: vec![
                subscription("app", "keyed"),
                subscription("app", "other"),
                subscription("corp-app", "other"),
            ],
            issuers: vec![trusted(&issuer, true), trusted(&external, false)],
            ..Default::default()
        })
        .unwrap();
        (issuer, external, config)
    }

    /// An access token of `issuer`'s active key for `client_id`, claiming `iss`.
    fn access_token(issuer: &TokenIssuer, iss: &str, client_id: &str) -> String {
        let now = gantry_keys::token::now_secs();
        let claims = serde_json::json!({"iss": iss, "sub": "someone", "azp": client_id,
            "exp": now + 300, "iat": now, "jti": format!("{iss}-{client_id}")});
        issuer.keys().active().sign_jwt("JWT", &claims).unwrap()
    }

    fn bearer(config: &CompiledConfig, path: &str, token: &str) -> Result<Caller, Denial> {
        let RouteMatch::Found { entry, operation } = config.route("localhost", path, &Method::GET)
        else {
            panic!("no route for {path}");
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        authorize(config, &entry.api, operation, &headers, None)
    }

    #[test]
    fn a_token_resolves_only_through_a_mapping_of_the_issuer_that_signed_it() {
        let (resident, external, config) = setup();
        let path = "/other/1.0.0/a";
        let app = |token: &str| bearer(&config, path, token).map(|c| c.application_id.to_string());
        assert_eq!(
            app(&access_token(&resident, ISSUER, "resident-ck")).unwrap(),
            "app"
        );
        assert_eq!(
            app(&access_token(&external, EXTERNAL, "corp-client")).unwrap(),
            "corp-app"
        );
        // Each issuer naming the other's client: authenticated, but no application → 403.
        for token in [
            access_token(&external, EXTERNAL, "resident-ck"),
            access_token(&resident, ISSUER, "corp-client"),
        ] {
            let denied = app(&token).unwrap_err();
            assert_eq!(
                (denied.status, denied.code),
                (StatusCode::FORBIDDEN, "900908")
            );
        }
        // The external key claiming the resident issuer: the key's issuer is pinned → 401.
        let denied = app(&access_token(&external, ISSUER, "resident-ck")).unwrap_err();
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn an_external_jwks_reusing_the_resident_kid_cannot_shadow_the_resident_key() {
        let (resident, external, _) = setup();
        let mut impostor = trusted(&external, false);
        impostor.keys[0].kid = resident.keys().active().kid().to_owned();
        // In either order of the issuer list.
        for issuers in [
            vec![impostor.clone(), trusted(&resident, true)],
            vec![trusted(&resident, true), impostor.clone()],
        ] {
            let config = CompiledConfig::compile(&GatewaySnapshot {
                apis: vec![api("other", "/other", &["oauth2"])],
                key_mappings: vec![KeyMapping {
                    consumer_key: "resident-ck".into(),
                    application_id: "app".into(),
                    key_type: KeyType::Production,
                    issuer: ISSUER.into(),
                }],
                subscriptions: vec![SnapshotSubscription {
                    id: "s".into(),
                    application_id: "app".into(),
                    api_id: "other".into(),
                    tier: "Gold".into(),
                    status: SubscriptionStatus::Unblocked,
                }],
                issuers,
                ..Default::default()
            })
            .unwrap();
            let token = access_token(&resident, ISSUER, "resident-ck");
            assert!(bearer(&config, "/other/1.0.0/a", &token).is_ok());
        }
    }

    #[test]
    fn an_api_key_minted_by_an_external_issuer_is_refused() {
        let (resident, external, config) = setup();
        assert!(
            call(
                &config,
                "/keyed/1.0.0/a",
                &key_for(&resident, &["/keyed/1.0.0"])
            )
            .is_ok()
        );
        // Signed by a trusted external issuer, naming the resident application: 401.
        let forged = key_for(&external, &["/keyed/1.0.0"]);
        let denied = call(&config, "/keyed/1.0.0/a", &forged).unwrap_err();
        assert_eq!(
            (denied.status, denied.code),
            (StatusCode::UNAUTHORIZED, "900901")
        );
        assert!(
            denied.description.contains("resident key manager"),
            "{denied:?}"
        );
    }

    fn key_for(issuer: &TokenIssuer, contexts: &[&str]) -> String {
        issuer
            .issue_api_key(ApiKeyGrant {
                application: gantry_keys::ApplicationClaim {
                    id: "app".into(),
                    uuid: "app".into(),
                    name: "App".into(),
                    tier: "Unlimited".into(),
                    owner: "admin".into(),
                },
                key_type: KeyType::Production,
                subscribed_apis: contexts
                    .iter()
                    .map(|c| SubscribedApi {
                        name: "x".into(),
                        context: (*c).into(),
                        version: "1.0.0".into(),
                        publisher: "admin".into(),
                        subscription_tier: "Gold".into(),
                        subscriber_tenant_domain: "carbon.super".into(),
                    })
                    .collect(),
                validity_secs: None,
                permitted_ip: String::new(),
                permitted_referer: String::new(),
            })
            .unwrap()
            .api_key
    }

    fn call(config: &CompiledConfig, path: &str, key: &str) -> Result<Caller, Denial> {
        let RouteMatch::Found { entry, operation } = config.route("localhost", path, &Method::GET)
        else {
            panic!("no route for {path}");
        };
        let mut headers = HeaderMap::new();
        headers.insert("apikey", HeaderValue::from_str(key).unwrap());
        authorize(config, &entry.api, operation, &headers, None)
    }

    fn b64(bytes: &[u8]) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes)
    }

    #[test]
    fn api_keys_are_checked_like_tokens_and_against_subscribed_apis() {
        let (issuer, _, config) = setup();
        let key = key_for(&issuer, &["/keyed/1.0.0"]);
        let caller = call(&config, "/keyed/1.0.0/a", &key).unwrap();
        assert_eq!(&*caller.application_id, "app");
        // Subscribed now, but not when the key was made.
        let denied = call(&config, "/other/1.0.0/a", &key).unwrap_err();
        assert_eq!(denied.status, StatusCode::FORBIDDEN);

        // alg none, a stripped signature, a forged payload: 401.
        let parts: Vec<&str> = key.split('.').collect();
        let none = format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        let stripped = format!("{}.{}.", parts[0], parts[1]);
        let mut claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
                .unwrap(),
        )
        .unwrap();
        claims["subscribedAPIs"][0]["context"] = "/other/1.0.0".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        );
        for bad in [none, stripped, forged] {
            let denied = call(&config, "/keyed/1.0.0/a", &bad).unwrap_err();
            assert_eq!(denied.status, StatusCode::UNAUTHORIZED, "{bad}");
        }
    }

    #[test]
    fn a_correctly_signed_jwt_without_token_type_api_key_is_not_an_api_key() {
        let (issuer, _, config) = setup();
        let key = key_for(&issuer, &["/keyed/1.0.0"]);
        let payload = key.split('.').nth(1).unwrap();
        let mut claims: serde_json::Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                .unwrap(),
        )
        .unwrap();
        claims.as_object_mut().unwrap().remove("token_type");
        let resigned = issuer.keys().active().sign_jwt("JWT", &claims).unwrap();
        let denied = call(&config, "/keyed/1.0.0/a", &resigned).unwrap_err();
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    }
}
