//! Client authentication at the token, revocation and introspection endpoints (RFC 6749
//! §2.3): `client_secret_basic` or `client_secret_post`, never both; `none` (client_id
//! only) for public clients on the grants where PKCE or a refresh token binds them.
//! Secrets are compared as SHA-256 digests in constant time; failures count toward the
//! abuse limits.

use axum::http::header;
use gantry_store::applications::{self, Application, ApplicationKey};

use super::{Form, OAuthError, OAuthRequest};
use crate::AppState;
use crate::extract::parse_basic;

/// An authenticated OAuth2 client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its key (consumer key, grants, validity).
    pub key: ApplicationKey,
    /// Its application.
    pub app: Application,
    /// Authenticated without a secret (a public client).
    pub public: bool,
}

impl Client {
    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: &str) -> bool {
        self.key.grant_types.iter().any(|g| g == grant)
    }
}

/// The credentials a request presents.
pub enum Presented {
    /// Basic or form post.
    Secret(String, String),
    /// `client_id` alone.
    IdOnly(String),
    /// Nothing.
    Nothing,
}

/// What the request presents; 400 when it uses two methods at once.
pub(crate) fn presented(request: &OAuthRequest, form: &Form) -> Result<Presented, OAuthError> {
    let basic = request
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_basic);
    match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "Use one client authentication method, not two",
        )),
        (Some((id, _)), Some(other), None) if other != id => Err(OAuthError::invalid_request(
            "client_id differs from the authenticated client",
        )),
        (Some((id, secret)), _, None) => Ok(Presented::Secret(id, secret)),
        (None, Some(id), Some(secret)) => Ok(Presented::Secret(id.to_owned(), secret.to_owned())),
        (None, Some(id), None) => Ok(Presented::IdOnly(id.to_owned())),
        (None, None, _) => Ok(Presented::Nothing),
    }
}

/// Authenticates the client of `request`. `allow_public`: whether a public client may
/// present its id alone here.
pub(crate) async fn authenticate(
    state: &AppState,
    request: &OAuthRequest,
    form: &Form,
    allow_public: bool,
) -> Result<Client, OAuthError> {
    let presented = presented(request, form)?;
    let client_id = match &presented {
        Presented::Secret(id, _) | Presented::IdOnly(id) => Some(id.as_str()),
        Presented::Nothing => None,
    };
    if let Err(wait) = state.failures().check(client_id, request.peer) {
        return Err(OAuthError::too_many_attempts(wait));
    }
    let fail = || {
        state.failures().record_failure(client_id, request.peer);
        OAuthError::invalid_client()
    };
    let Some(client_id) = client_id else {
        return Err(fail());
    };
    let Some((key, app)) = applications::find_resident_client(state.store(), client_id).await?
    else {
        return Err(fail());
    };
    match &presented {
        Presented::Secret(_, secret) => {
            if !crate::verify_client_secret(state, secret, &key.consumer_secret_hash).await {
                return Err(fail());
            }
            Ok(Client {
                key,
                app,
                public: false,
            })
        }
        Presented::IdOnly(_) => {
            if allow_public && applications::is_public_client(state.store(), client_id).await? {
                Ok(Client {
                    key,
                    app,
                    public: true,
                })
            } else {
                Err(fail())
            }
        }
        Presented::Nothing => Err(fail()),
    }
}
