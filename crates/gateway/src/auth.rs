//! Authentication and authorisation of one call: bearer JWT → trusted key → claims →
//! application (by the verifying key's issuer and the consumer key) → subscription to the
//! API → operation scopes. APIs whose security scheme includes `api_key` also take a WSO2
//! API key (a JWT of the resident key manager with `token_type: apiKey`) in their API key
//! header or query parameter: its application and key type are in the key, and the API must
//! be among its `subscribedAPIs` and still subscribed. A token is accepted only where its
//! type belongs: never an API key as a bearer token, never an access token as an API key.
//!
//! The verifier, not the token, chooses the key and the algorithm (RFC 8725 §3.1): `kid`
//! selects a key from the snapshot, each key accepts exactly one algorithm and one issuer.

use std::borrow::Cow;
use std::sync::Arc;

use gantry_model::snapshot::SnapshotApplication;
use gantry_model::{AuthType, KeyType, SubscriptionStatus};
use http::{HeaderMap, Response, StatusCode};
use serde::Deserialize;

use crate::respond::{self, Body};
use crate::routes::{ApiEntry, CompiledConfig, OperationEntry};

/// Why a call was refused; turned into a response by [`Denial::into_response`].
#[derive(Debug, Clone)]
pub struct Denial {
    /// 401 or 403.
    pub status: StatusCode,
    /// WSO2 error code (`900901`, …).
    pub code: &'static str,
    /// Short message.
    pub message: &'static str,
    /// What exactly is wrong.
    pub description: Cow<'static, str>,
    /// Whether a 401 names `error="invalid_token"` in its challenge.
    pub(crate) invalid_token: bool,
    /// The external issuer whose JWKS may hold the token's unknown key.
    pub(crate) refetch: Option<Arc<str>>,
}

impl Denial {
    /// Metric label for why the call was refused.
    pub fn reason(&self) -> &'static str {
        match self.code {
            "900902" => "missing_credentials",
            "900901" => "invalid_token",
            "900907" => "blocked",
            "900910" => "missing_scope",
            _ => "not_subscribed",
        }
    }

    /// The HTTP response for this refusal.
    pub fn into_response(self) -> Response<Body> {
        if self.status == StatusCode::UNAUTHORIZED {
            respond::unauthorized(
                self.code,
                self.message,
                &self.description,
                self.invalid_token,
            )
        } else {
            respond::error(self.status, self.code, self.message, &self.description)
        }
    }
}

/// Who is calling, once authenticated and authorised.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The calling application.
    pub application_id: Arc<str>,
    /// Which keys it used (chooses the endpoint).
    pub key_type: KeyType,
    /// The application as the configuration knows it, for an API that sends a backend JWT
    /// (`None` otherwise): its claims come from here, never from the credential.
    pub application: Option<Arc<SnapshotApplication>>,
    /// SHA-256 of the credential (keys per-caller caches such as the backend JWT's).
    pub credential_digest: [u8; 32],
    /// The verified claims.
    pub claims: CallerClaims,
}

/// The verified claims of the credential used.
#[derive(Debug, Clone)]
pub enum CallerClaims {
    /// An OAuth2 access token.
    Access(Arc<Claims>),
    /// An API key.
    ApiKey(Arc<ApiKeyClaims>),
}

/// The application block WSO2 puts in tokens and API keys.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ApplicationClaim {
    /// Application UUID.
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Owner's username.
    pub owner: String,
    /// Application tier.
    pub tier: String,
}

/// The claims the gateway reads from an access token.
#[derive(Debug, Deserialize)]
pub struct Claims {
    azp: Option<String>,
    client_id: Option<String>,
    /// Granted scopes, space-separated.
    #[serde(default)]
    pub scope: String,
    /// `APPLICATION` or `APPLICATION_USER` (WSO2's "aut" claim); absent in foreign tokens.
    pub aut: Option<String>,
    /// Expiry (required by validation), for the verified-token cache.
    exp: u64,
    /// Token id, checked against the revoked ids.
    jti: Option<String>,
    /// The subject (user or application owner).
    #[serde(default)]
    pub sub: String,
    /// `apiKey` for an API key: refused as a bearer token.
    token_type: Option<String>,
    /// The issuer whose key verified the token (set after verification, never read from
    /// the token): the client id is looked up among this issuer's clients only.
    #[serde(skip)]
    issuer: Arc<str>,
}

impl Claims {
    /// The client id (`azp`, else `client_id`).
    pub fn client_id(&self) -> Option<&str> {
        self.azp.as_deref().or(self.client_id.as_deref())
    }

    /// Expiry, seconds since the epoch.
    pub fn exp(&self) -> u64 {
        self.exp
    }
}

impl ApiKeyClaims {
    /// Expiry, if the key expires.
    pub fn exp(&self) -> Option<u64> {
        self.exp
    }
}

/// One entry of an API key's `subscribedAPIs`.
#[derive(Debug, Deserialize)]
pub struct SubscribedApi {
    /// `context/version`.
    #[serde(default)]
    pub context: String,
}

/// The claims the gateway reads from an API key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyClaims {
    /// Expiry, if the key expires.
    exp: Option<u64>,
    /// Key id, checked against the revoked ids.
    jti: Option<String>,
    /// The application owner.
    #[serde(default)]
    pub sub: String,
    /// Must be `apiKey`.
    #[serde(rename = "token_type")]
    token_type: Option<String>,
    /// PRODUCTION or SANDBOX.
    pub keytype: KeyType,
    /// The application the key belongs to.
    pub application: ApplicationClaim,
    /// The APIs subscribed to when the key was made.
    #[serde(rename = "subscribedAPIs", default)]
    subscribed_apis: Vec<SubscribedApi>,
}

/// The `token_type` of API keys.
const API_KEY_TOKEN_TYPE: &str = "apiKey";

/// Authenticates the call to `api` / `operation` from `headers` (or, for an API key, the
/// request's `query`), with the credential types the API's security scheme accepts.
pub fn authorize(
    config: &CompiledConfig,
    api: &ApiEntry,
    operation: &OperationEntry,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Caller, Denial> {
    if api.accepts_oauth {
        let mut values = headers.get_all(&api.authorization_header).iter();
        if let Some(raw) = values.next() {
            if values.next().is_some() {
                // Which one would count is ambiguous (RFC 6750 §3.1 invalid_request).
                return Err(invalid(
                    "The request carries more than one authorization header",
                ));
            }
            return authorize_bearer(config, api, operation, raw);
        }
    }
    if let Some(key_in) = &api.api_key {
        if let Some(raw) = headers.get(&key_in.header) {
            let key = raw.to_str().map(str::trim).unwrap_or_default();
            return authorize_api_key(config, api, operation, key);
        }
        if let Some(key) = query.and_then(|q| query_param(q, &key_in.query)) {
            return authorize_api_key(config, api, operation, key);
        }
        if !api.accepts_oauth {
            return Err(missing_api_key(key_in.header.as_str()));
        }
    }
    Err(missing_credentials())
}

/// [`authorize`], and when the credential is signed by a key the configuration does not
/// hold, of an external issuer with a JWKS URL: re-reads that JWKS through `refresher`
/// (single-flight, rate-limited per issuer) and tries once more.
pub async fn authorize_refreshing(
    config: &CompiledConfig,
    refresher: &crate::jwks::JwksRefresher,
    api: &ApiEntry,
    operation: &OperationEntry,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Caller, Denial> {
    match authorize(config, api, operation, headers, query) {
        Err(Denial {
            refetch: Some(issuer),
            ..
        }) => {
            refresher.refresh(config, &issuer).await;
            authorize(config, api, operation, headers, query)
        }
        decided => decided,
    }
}

/// The value of query parameter `name` (matched case-insensitively), if present.
pub fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.eq_ignore_ascii_case(name).then_some(v)
    })
}

fn authorize_api_key(
    config: &CompiledConfig,
    api: &ApiEntry,
    operation: &OperationEntry,
    key: &str,
) -> Result<Caller, Denial> {
    if key.is_empty() {
        return Err(invalid("The API key is empty"));
    }
    let digest = crate::token_cache::digest(key);
    let claims = config.api_key_cache.get_or_verify_digest(digest, || {
        verify_api_key(config, key).map(|claims| {
            let until = claims.exp.map_or(u64::MAX, |exp| {
                exp.saturating_add(crate::routes::CLOCK_SKEW_SECS)
            });
            (claims, until)
        })
    })?;
    if let Some(jti) = &claims.jti
        && config.revoked_token_ids.contains(jti)
    {
        return Err(invalid("The API key has been revoked"));
    }
    if !claims
        .subscribed_apis
        .iter()
        .any(|s| s.context == api.base_path)
    {
        return Err(not_subscribed());
    }
    let Some((application_id, _)) = config
        .subscriptions
        .get_key_value(&(Arc::from(claims.application.uuid.as_str()), api.id.clone()))
    else {
        return Err(not_subscribed());
    };
    let application_id = application_id.0.clone();
    check_subscription(config, &application_id, api, claims.keytype)?;
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
            format!("The resource needs the scope '{missing}', which an API key cannot carry"),
        ));
    }
    Ok(Caller {
        application: application_of(config, api, &application_id),
        application_id,
        key_type: claims.keytype,
        credential_digest: digest,
        claims: CallerClaims::ApiKey(claims),
    })
}

fn verify_api_key(config: &CompiledConfig, key: &str) -> Result<ApiKeyClaims, Denial> {
    let (verified, issuer): (ApiKeyClaims, _) =
        verify_with(config, key, |k| &k.api_key_validation)?;
    if verified.token_type.as_deref() != Some(API_KEY_TOKEN_TYPE) {
        return Err(invalid("The credential is not an API key"));
    }
    // Only the resident key manager mints API keys: the application named in a key is
    // taken on its word alone, which no other issuer's word may stand in for.
    if config.resident_issuer.as_deref() != Some(&*issuer) {
        return Err(invalid(
            "The API key is not issued by the resident key manager",
        ));
    }
    Ok(verified)
}

/// The application `application_id` as the configuration knows it, when `api` sends a
/// backend JWT.
fn application_of(
    config: &CompiledConfig,
    api: &ApiEntry,
    application_id: &Arc<str>,
) -> Option<Arc<SnapshotApplication>> {
    if !api.backend_jwt {
        return None;
    }
    config.applications.get(application_id).cloned()
}

fn not_subscribed() -> Denial {
    forbidden(
        "900908",
        "Resource forbidden",
        "User is NOT authorized to access the Resource. API Subscription validation failed.",
    )
}

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

fn authorize_bearer(
    config: &CompiledConfig,
    api: &ApiEntry,
    operation: &OperationEntry,
    raw: &http::HeaderValue,
) -> Result<Caller, Denial> {
    let token = raw
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(missing_credentials)?;
    let digest = crate::token_cache::digest(token);
    let claims = config.token_cache.get_or_verify_digest(digest, || {
        verify(config, token).map(|claims| {
            // Cache until expiry plus the tolerated skew, exactly as long as it would verify.
            let until = claims.exp.saturating_add(crate::routes::CLOCK_SKEW_SECS);
            (claims, until)
        })
    })?;
    if let Some(jti) = &claims.jti
        && config.revoked_token_ids.contains(jti)
    {
        return Err(invalid("The token has been revoked"));
    }
    if claims.token_type.is_some() {
        // An API key (`token_type: apiKey`) is not a bearer token.
        return Err(invalid("The credential is not an access token"));
    }

    let client_id = claims.client_id().unwrap_or_default();
    // Among the clients of the issuer whose key verified the token only: another key
    // manager's client of the same id is not this caller.
    let Some(owner) = config.consumer_keys.resolve(&claims.issuer, client_id) else {
        return Err(not_subscribed());
    };
    let (application_id, key_type) = (&owner.application_id, &owner.key_type);
    check_subscription(config, application_id, api, *key_type)?;
    let user_token = claims.aut.as_deref() == Some("APPLICATION_USER");
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
    Ok(Caller {
        application: application_of(config, api, application_id),
        application_id: application_id.clone(),
        key_type: *key_type,
        credential_digest: digest,
        claims: CallerClaims::Access(claims),
    })
}

fn verify(config: &CompiledConfig, token: &str) -> Result<Claims, Denial> {
    let (mut claims, issuer): (Claims, _) = verify_with(config, token, |k| &k.validation)?;
    claims.issuer = issuer;
    Ok(claims)
}

/// Checks `token`'s signature with the key its `kid` names, pinned to that key's algorithm,
/// and its claims with the checks `validation` picks for the credential type. The claims,
/// and the issuer of the key that verified them.
fn verify_with<C: serde::de::DeserializeOwned>(
    config: &CompiledConfig,
    token: &str,
    validation: impl Fn(&crate::routes::VerificationKey) -> &jsonwebtoken::Validation,
) -> Result<(C, Arc<str>), Denial> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("The token is not a well-formed JWT"))?;
    if header.crit.is_some() {
        // RFC 7515 §4.1.11: extensions listed as critical must be understood; none are.
        return Err(invalid(
            "The token lists critical header parameters the gateway does not support",
        ));
    }
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("The token names no signing key (kid)"))?;
    let fetched;
    let key = match config.keys.get(kid) {
        Some(key) => key,
        None => {
            // Only an unknown kid gets here: the claimed issuer picks which fetched keys to
            // look in (the signature check then requires `iss` to be that issuer).
            let issuer = unverified_issuer(token);
            match issuer
                .as_deref()
                .and_then(|iss| config.fetched_keys.get(iss, kid))
            {
                Some(key) => {
                    fetched = key;
                    &*fetched
                }
                None => {
                    let mut denial = invalid("The token is signed by an unknown key");
                    denial.refetch = issuer
                        .filter(|iss| config.jwks_sources.contains_key(iss.as_str()))
                        .map(|iss| Arc::from(iss.as_str()));
                    return Err(denial);
                }
            }
        }
    };
    if header.alg != key.algorithm {
        return Err(invalid("The token's algorithm does not match its key"));
    }
    match jsonwebtoken::decode::<C>(token, &key.key, validation(key)) {
        Ok(data) => Ok((data.claims, key.issuer.clone())),
        Err(e) => Err(invalid(match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => "Access Token Expired",
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                "The token is not valid yet (nbf)"
            }
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                "The token's issuer is not trusted for this key"
            }
            jsonwebtoken::errors::ErrorKind::InvalidSignature => "The token's signature is invalid",
            _ => "The token could not be validated",
        })),
    }
}

/// The `iss` a token claims, read without verification: only to choose where to look for
/// an unknown `kid`, never trusted as such.
fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Issuer {
        iss: String,
    }
    let payload = token.split('.').nth(1)?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    serde_json::from_slice::<Issuer>(&bytes).ok().map(|i| i.iss)
}

fn missing_credentials() -> Denial {
    Denial {
        status: StatusCode::UNAUTHORIZED,
        code: "900902",
        message: "Missing Credentials",
        description: Cow::Borrowed(
            "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ***'",
        ),
        invalid_token: false,
        refetch: None,
    }
}

fn missing_api_key(header: &str) -> Denial {
    Denial {
        status: StatusCode::UNAUTHORIZED,
        code: "900902",
        message: "Missing Credentials",
        description: Cow::Owned(format!(
            "Invalid Credentials. Make sure your API invocation call has a header: '{header}' with an API key"
        )),
        invalid_token: false,
        refetch: None,
    }
}

fn invalid(reason: &str) -> Denial {
    Denial {
        status: StatusCode::UNAUTHORIZED,
        code: "900901",
        message: "Invalid Credentials",
        description: Cow::Owned(format!(
            "Invalid Credentials. {reason}. Make sure you have provided the correct security credentials"
        )),
        invalid_token: true,
        refetch: None,
    }
}

fn forbidden(
    code: &'static str,
    message: &'static str,
    description: impl Into<Cow<'static, str>>,
) -> Denial {
    Denial {
        status: StatusCode::FORBIDDEN,
        code,
        message,
        description: description.into(),
        invalid_token: false,
        refetch: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::routes::RouteMatch;
    use gantry_keys::{ApiKeyGrant, SigningAlgorithm, SigningKey, SubscribedApi, TokenIssuer};
    use gantry_model::snapshot::{
        DeployedApi, IssuerKey, KeyMapping, SnapshotSubscription, TrustedIssuer,
    };
    use gantry_model::{
        ApiContext, ApiName, ApiVersion, Endpoint, EndpointConfig, GatewaySnapshot, HttpVerb,
        LifecycleState, Operation, ResourceTarget,
    };
    use http::{HeaderValue, Method};

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
