//! The authenticate (and, for now, authorise) stage: operations with `authType: None` pass as
//! anonymous; others need the credentials the API's security scheme names — a bearer JWT,
//! an API key or a client certificate (`mtls::authorize` chooses) — and a subscription and
//! the scopes the operation lists (`auth.rs`).

use gantry_model::{AuthType, KeyType};
use http::Request;

use super::Answer;
use super::route::Routed;
use crate::auth::Caller;
use crate::jwks::JwksRefresher;
use crate::metrics::Outcome;
use crate::mtls::{self, CertificateTier};
use crate::routes::CompiledConfig;

/// Who a request was admitted as.
#[derive(Default)]
pub struct Authenticated {
    /// The application whose token or API key was presented.
    pub caller: Option<Caller>,
    /// The client certificate's tier, when the certificate alone admitted the call.
    pub certificate: Option<CertificateTier>,
}

impl Authenticated {
    /// The keys used, which choose the endpoint (production for anonymous callers).
    pub fn key_type(&self) -> KeyType {
        self.caller
            .as_ref()
            .map_or(KeyType::Production, |c| c.key_type)
    }
}

/// Authenticates and authorises `request` for `routed`, or answers 401/403.
pub async fn run<B>(
    config: &CompiledConfig,
    jwks: &JwksRefresher,
    routed: &Routed<'_>,
    request: &Request<B>,
    outcome: &mut Outcome,
) -> Result<Authenticated, Answer> {
    if routed.operation.auth_type == AuthType::None {
        return Ok(Authenticated::default());
    }
    let admitted = mtls::authorize(
        config,
        jwks,
        &routed.api,
        routed.operation,
        request.headers(),
        request.uri().query(),
        request.extensions().get(),
    )
    .await;
    match admitted {
        Ok(mtls::Admitted::Caller(caller)) => {
            outcome.application = Some(caller.application_id.clone());
            Ok(Authenticated {
                caller: Some(caller),
                certificate: None,
            })
        }
        Ok(mtls::Admitted::Certificate(certificate)) => Ok(Authenticated {
            caller: None,
            certificate,
        }),
        Err(denied) => {
            outcome.failure = Some(denied.reason());
            Err(denied.into_response())
        }
    }
}
