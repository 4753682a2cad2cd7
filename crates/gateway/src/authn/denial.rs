//! Why a call was refused by the authenticate or authorise stage, in WSO2's codes
//! (`900901` invalid credentials, `900902` missing, `900907` blocked, `900908` not
//! subscribed or forbidden, `900910` missing scope), and the response each becomes.

use std::borrow::Cow;
use std::sync::Arc;

use http::{Response, StatusCode};

use crate::respond::{self, Body};

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

/// 403 `900908`: no subscription of the caller's application allows this call.
pub fn not_subscribed() -> Denial {
    forbidden(
        "900908",
        "Resource forbidden",
        "User is NOT authorized to access the Resource. API Subscription validation failed.",
    )
}

/// 401 `900902`: no credential the API accepts.
pub fn missing_credentials() -> Denial {
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

/// 401 `900902` for an API that takes API keys only.
pub fn missing_api_key(header: &str) -> Denial {
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

/// 401 `900901` (`error="invalid_token"`), saying why.
pub fn invalid(reason: &str) -> Denial {
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

/// 403 with `code`.
pub fn forbidden(
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
