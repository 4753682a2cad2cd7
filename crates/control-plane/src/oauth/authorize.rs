//! `/oauth2/authorize`: the authorization-code flow's login + consent page, server-rendered
//! plain HTML.
//!
//! The request is checked before anything is shown: an unknown client or a redirect URI
//! that is not exactly the registered one gets an error page and never a redirect (RFC 9700
//! §4.1.3); other errors go back to the client. Public clients must send a PKCE S256
//! challenge; `plain` is refused. The form carries a CSRF token that must equal a
//! `SameSite=Strict` cookie set with the page (double submit). The code is single-use,
//! lives 60 s, and the redirect carries `state` and `iss` (RFC 9207).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gantry_store::applications;
use gantry_store::authorization_codes::{self, AuthorizationCode};
use subtle::ConstantTimeEq;

use super::client_auth::Client;
use super::grants::{user_roles, user_scopes};
use super::{Form, OAuthRequest};
use crate::AppState;
use crate::credentials::{PasswordError, verify_password};

/// Lifetime of an authorization code.
const CODE_TTL_MS: i64 = 60_000;
const CSRF_COOKIE: &str = "gantry_csrf";

/// The parameters of an authorization request.
const PARAMS: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "nonce",
];

/// A checked authorization request.
struct Checked {
    client: Client,
    redirect_uri: String,
    state: Option<String>,
    challenge: String,
    nonce: String,
}

/// Why a request cannot proceed.
enum Refusal {
    /// Shown at the authorization server: the redirect URI cannot be trusted.
    Page(StatusCode, String),
    /// Sent back to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        error: &'static str,
        description: String,
        state: Option<String>,
    },
}

impl From<gantry_store::StoreError> for Refusal {
    fn from(e: gantry_store::StoreError) -> Self {
        tracing::error!(error = %e, "authorize store failure");
        Refusal::Page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The authorization server is unavailable; try again shortly.".into(),
        )
    }
}

impl From<super::OAuthError> for Refusal {
    fn from(e: super::OAuthError) -> Self {
        Refusal::Page(e.status, e.description)
    }
}

async fn check(state: &AppState, form: &Form) -> Result<Checked, Refusal> {
    let page = |msg: &str| Refusal::Page(StatusCode::BAD_REQUEST, msg.to_owned());
    let client_id = form
        .get("client_id")
        .ok_or_else(|| page("The request names no client (client_id)."))?;
    let Some((key, app)) = applications::find_resident_client(state.store(), client_id).await?
    else {
        return Err(page("The client is unknown."));
    };
    if key.callback_url.is_empty() {
        return Err(page("The client has no registered redirect URI."));
    }
    // Exact string match with the registered URI (RFC 9700 §4.1.3).
    let redirect_uri = match form.get("redirect_uri") {
        None => key.callback_url.clone(),
        Some(uri) if uri == key.callback_url => uri.to_owned(),
        Some(_) => return Err(page("The redirect URI is not registered for this client.")),
    };
    let client_state = form.get("state").map(str::to_owned);
    let refuse = |error: &'static str, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        description: description.to_owned(),
        state: client_state.clone(),
    };
    match form.get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "Only response_type=code is supported",
            ));
        }
        None => return Err(refuse("invalid_request", "response_type is required")),
    }
    if !key.grant_types.iter().any(|g| g == "authorization_code") {
        return Err(refuse(
            "unauthorized_client",
            "The client may not use the authorization_code grant",
        ));
    }
    let public = applications::is_public_client(state.store(), client_id).await?;
    let challenge = form.get("code_challenge").unwrap_or_default().to_owned();
    // RFC 7636 §4.3: an absent method means `plain`, which is refused (RFC 9700 §2.1.1).
    match (form.get("code_challenge_method"), challenge.is_empty()) {
        (None, true) | (Some("S256"), false) => {}
        (Some("S256"), true) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method=S256 needs a code_challenge",
            ));
        }
        (None, false) => {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method=S256 is required (plain is not supported)",
            ));
        }
        (Some(_), _) => {
            return Err(refuse(
                "invalid_request",
                "Only the S256 code_challenge_method is supported",
            ));
        }
    }
    if !challenge.is_empty() && !gantry_keys::pkce::challenge_is_well_formed(&challenge) {
        return Err(refuse("invalid_request", "code_challenge is malformed"));
    }
    if public && challenge.is_empty() {
        return Err(refuse(
            "invalid_request",
            "Public clients must use PKCE (code_challenge with S256)",
        ));
    }
    Ok(Checked {
        client: Client { key, app, public },
        redirect_uri,
        state: client_state,
        challenge,
        nonce: form.get("nonce").unwrap_or_default().to_owned(),
    })
}

/// `GET /oauth2/authorize`: the login + consent page.
pub async fn show(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let form = match Form::from_pairs(pairs) {
        Ok(form) => form,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    match check(&state, &form).await {
        Ok(checked) => {
            let csrf = gantry_keys::secret::random_token(24);
            login_page(StatusCode::OK, &form, &checked, &csrf, None)
        }
        Err(refusal) => refusal_response(&state, refusal),
    }
}

/// `POST /oauth2/authorize`: the submitted login + consent.
pub async fn submit(State(state): State<AppState>, request: axum::extract::Request) -> Response {
    let request = match OAuthRequest::read(request).await {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    let form = match request.form() {
        Ok(form) => form,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, &e.description),
    };
    let cookie = csrf_cookie(&request.headers);
    let field = form.get("csrf_token").unwrap_or_default();
    let csrf_ok = matches!(&cookie, Some(c) if !field.is_empty() && bool::from(c.as_bytes().ct_eq(field.as_bytes())));
    if !csrf_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form expired or was not sent from this page; go back and try again.",
        );
    }
    let checked = match check(&state, &form).await {
        Ok(c) => c,
        Err(refusal) => return refusal_response(&state, refusal),
    };
    if form.get("decision") != Some("allow") {
        return refusal_response(
            &state,
            Refusal::Redirect {
                redirect_uri: checked.redirect_uri,
                error: "access_denied",
                description: "The user denied the request".into(),
                state: checked.state,
            },
        );
    }
    let typed = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let user = match verify_password(&state, typed, password, request.peer).await {
        Ok(Some(user)) => user,
        Err(PasswordError::TooManyFailures(wait)) => {
            let mut response = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &form,
                &checked,
                field,
                Some("Too many failed sign-ins; wait a minute and try again."),
            );
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return response;
        }
        Ok(None) | Err(PasswordError::Failed(_)) => {
            return login_page(
                StatusCode::UNAUTHORIZED,
                &form,
                &checked,
                field,
                Some("Wrong user name or password."),
            );
        }
    };
    let username = user.username.as_str();
    match issue_code(&state, &form, &checked, username).await {
        Ok(code) => {
            let mut params = vec![("code", code.as_str()), ("iss", state.issuer().issuer())];
            if let Some(s) = checked.state.as_deref() {
                params.push(("state", s));
            }
            redirect(&checked.redirect_uri, &params)
        }
        Err(refusal) => refusal_response(&state, refusal),
    }
}

async fn issue_code(
    state: &AppState,
    form: &Form,
    checked: &Checked,
    username: &str,
) -> Result<String, Refusal> {
    let roles = user_roles(state, username).await?;
    let requested = form.get("scope").unwrap_or_default().split_whitespace();
    let scopes = user_scopes(state, &checked.client, &roles, requested).await?;
    let code = gantry_keys::secret::random_token(32);
    authorization_codes::insert(
        state.store(),
        &AuthorizationCode {
            code_hash: gantry_keys::secret::hash_secret(&code),
            client_id: checked.client.key.consumer_key.clone(),
            username: username.to_owned(),
            redirect_uri: checked.redirect_uri.clone(),
            scope: scopes.join(" "),
            code_challenge: checked.challenge.clone(),
            nonce: checked.nonce.clone(),
            family_id: gantry_store::new_id(),
            auth_time: i64::try_from(gantry_keys::token::now_secs()).unwrap_or_default(),
            expires_at: gantry_store::now_ms() + CODE_TTL_MS,
            used: 0,
            access_jti: String::new(),
            access_expires_at: 0,
            created_at: 0,
        },
    )
    .await?;
    Ok(code)
}

fn refusal_response(state: &AppState, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Page(status, message) => error_page(status, &message),
        Refusal::Redirect {
            redirect_uri,
            error,
            description,
            state: client_state,
        } => {
            let mut params = vec![
                ("error", error),
                ("error_description", description.as_str()),
                ("iss", state.issuer().issuer()),
            ];
            if let Some(s) = client_state.as_deref() {
                params.push(("state", s));
            }
            redirect(&redirect_uri, &params)
        }
    }
}

fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let query = serde_urlencoded::to_string(params).unwrap_or_default();
    let separator = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{separator}{query}");
    match HeaderValue::from_str(&location) {
        Ok(value) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, value),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        Err(_) => error_page(StatusCode::BAD_REQUEST, "The redirect URI is not usable."),
    }
}

fn csrf_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CSRF_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}\
label{display:block;margin-top:1rem}input[type=text],input[type=password]{width:100%;padding:.4rem}\
.actions{margin-top:1.5rem;display:flex;gap:1rem}.error{color:#a00}";

fn error_page(status: StatusCode, message: &str) -> Response {
    html(
        status,
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization error</title>\
<style>{STYLE}</style></head><body><main><h1>Authorization error</h1><p role=\"alert\">{}</p></main></body></html>",
            escape(message)
        ),
    )
}

fn login_page(
    status: StatusCode,
    form: &Form,
    checked: &Checked,
    csrf: &str,
    error: Option<&str>,
) -> Response {
    let hidden: String = PARAMS
        .iter()
        .chain(["code_challenge_method"].iter())
        .filter_map(|name| form.get(name).map(|v| (name, v)))
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(value)
            )
        })
        .collect();
    let scopes: String = form
        .get("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(|s| format!("<li>{}</li>", escape(s)))
        .collect();
    let scopes = if scopes.is_empty() {
        "<p>No particular permissions.</p>".to_owned()
    } else {
        format!("<p>It asks for:</p><ul>{scopes}</ul>")
    };
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let username = form.get("username").unwrap_or_default();
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sign in to Gantry</title>\
<style>{STYLE}</style></head><body><main><h1>Sign in</h1>\
<p>The application <strong>{app}</strong> wants to access your account.</p>{scopes}{error}\
<form method=\"post\" action=\"/oauth2/authorize\">{hidden}\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<label for=\"username\">User name</label><input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"{username}\">\
<label for=\"password\">Password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button></div>\
</form></main></body></html>",
        app = escape(&checked.client.app.name),
        csrf = escape(csrf),
        username = escape(username),
    );
    let mut response = html(status, body);
    let cookie = format!(
        "{CSRF_COOKIE}={csrf}; Path=/oauth2/authorize; HttpOnly; Secure; SameSite=Strict; Max-Age=600"
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<script>\"x\"&'y'</script>"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn csrf_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; gantry_csrf=tok; b=2"),
        );
        assert_eq!(csrf_cookie(&headers).as_deref(), Some("tok"));
    }
}
