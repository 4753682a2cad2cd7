//! Authentication and authorisation of one call: bearer JWT → trusted key → claims →
//! application (by consumer key) → subscription to the API → operation scopes.
//!
//! The verifier, not the token, chooses the key and the algorithm (RFC 8725 §3.1): `kid`
//! selects a key from the snapshot, each key accepts exactly one algorithm and one issuer.

use std::borrow::Cow;
use std::sync::Arc;

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
    invalid_token: bool,
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
}

/// The claims the gateway reads from an access token.
#[derive(Debug, Deserialize)]
pub struct Claims {
    azp: Option<String>,
    client_id: Option<String>,
    #[serde(default)]
    scope: String,
    /// `APPLICATION` or `APPLICATION_USER` (WSO2's "aut" claim); absent in foreign tokens.
    aut: Option<String>,
    /// Expiry (required by validation), for the verified-token cache.
    exp: u64,
    /// Token id, checked against the revoked ids.
    jti: Option<String>,
}

/// Authenticates the call to `api` / `operation` from `headers`.
pub fn authorize(
    config: &CompiledConfig,
    api: &ApiEntry,
    operation: &OperationEntry,
    headers: &HeaderMap,
) -> Result<Caller, Denial> {
    let Some(raw) = headers.get(&api.authorization_header) else {
        return Err(missing_credentials());
    };
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
    let claims = config.token_cache.get_or_verify(token, || {
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

    let client_id = claims
        .azp
        .as_deref()
        .or(claims.client_id.as_deref())
        .unwrap_or_default();
    let Some((application_id, key_type)) = config.consumer_keys.get(client_id) else {
        return Err(forbidden(
            "900908",
            "Resource forbidden",
            "User is NOT authorized to access the Resource. API Subscription validation failed.",
        ));
    };
    match config
        .subscriptions
        .get(&(application_id.clone(), api.id.clone()))
    {
        None => {
            return Err(forbidden(
                "900908",
                "Resource forbidden",
                "User is NOT authorized to access the Resource. API Subscription validation failed.",
            ));
        }
        Some(status) if !status.allows(*key_type) => {
            let description = match status {
                SubscriptionStatus::Blocked | SubscriptionStatus::ProdOnlyBlocked => {
                    "The subscription to the API is blocked"
                }
                _ => "The subscription to the API is not active",
            };
            return Err(forbidden(
                "900907",
                "The requested API is temporarily blocked",
                description,
            ));
        }
        Some(_) => {}
    }
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
        application_id: application_id.clone(),
        key_type: *key_type,
    })
}

fn verify(config: &CompiledConfig, token: &str) -> Result<Claims, Denial> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| invalid("The token is not a well-formed JWT"))?;
    let kid = header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("The token names no signing key (kid)"))?;
    let key = config
        .keys
        .get(kid)
        .ok_or_else(|| invalid("The token is signed by an unknown key"))?;
    if header.alg != key.algorithm {
        return Err(invalid("The token's algorithm does not match its key"));
    }
    match jsonwebtoken::decode::<Claims>(token, &key.key, &key.validation) {
        Ok(data) => Ok(data.claims),
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

fn missing_credentials() -> Denial {
    Denial {
        status: StatusCode::UNAUTHORIZED,
        code: "900902",
        message: "Missing Credentials",
        description: Cow::Borrowed(
            "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ***'",
        ),
        invalid_token: false,
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
    }
}
