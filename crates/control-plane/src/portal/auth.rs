//! Sign-in, sign-out and self sign-up. Passwords are checked by the same function as the
//! REST APIs' Basic authentication; failures count toward the key manager's abuse limits
//! (per user name and per IP address), so the portal is no easier to guess through.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::session::{self, AnyForm, Visitor};
use super::{Nav, PortalError, render, render_status};
use crate::AppState;
use crate::service::workflows::Requested;

/// The role a self-registered user gets.
pub const SUBSCRIBER_ROLE: &str = "Internal/subscriber";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/portal", get(landing))
        .route("/portal/login", get(login_page).post(login))
        .route("/portal/logout", post(logout))
        .route("/devportal/signup", get(signup_page).post(signup))
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    nav: Nav,
    next: String,
    username: String,
    error: Option<String>,
    signup: bool,
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// Only a path on this server is a place to return to: `next` must be an absolute path,
/// and resolved by a URL parser (as a browser would) against a fixed origin it must stay on.
/// The parsed path and query are returned, never the raw text.
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next.filter(|n| n.starts_with('/'))?;
    let base = url::Url::parse("https://gantry.invalid/").ok()?;
    let resolved = base.join(next).ok()?;
    let path = resolved.path();
    // A path that begins `//` (from `/.//host`) is a network path again in a `Location`.
    if resolved.origin() != base.origin() || !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    Some(match resolved.query() {
        Some(query) => format!("{path}?{query}"),
        None => path.to_owned(),
    })
}

/// The visitor's session, started (anonymous) when they have none, with the cookie to set.
async fn ensure_session(
    visitor: &Visitor,
) -> Result<(session::Session, Option<String>), PortalError> {
    Ok(match &visitor.session {
        Some((_, s)) => (s.clone(), None),
        None => {
            let (id, s) = visitor.sessions.start(None).await?;
            (s, Some(session::set_cookie(&id)))
        }
    })
}

fn with_cookie(mut response: Response, cookie: Option<String>) -> Response {
    if let Some(cookie) = cookie
        && let Ok(value) = cookie.parse()
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn anonymous_nav(csrf: String) -> Nav {
    Nav {
        csrf,
        ..Nav::default()
    }
}

async fn landing(visitor: Visitor) -> Response {
    match visitor.user {
        Some(user) => Redirect::to(user.home()).into_response(),
        None => Redirect::to("/portal/login").into_response(),
    }
}

async fn login_page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<NextQuery>,
) -> Result<Response, PortalError> {
    let next = safe_next(query.next.as_deref());
    if let Some(user) = &visitor.user {
        return Ok(Redirect::to(next.as_deref().unwrap_or(user.home())).into_response());
    }
    let (session, cookie) = ensure_session(&visitor).await?;
    let page = LoginPage {
        nav: anonymous_nav(session.csrf),
        next: next.unwrap_or_default(),
        username: String::new(),
        error: None,
        signup: state.self_signup_enabled(),
    };
    Ok(with_cookie(render(&page)?, cookie))
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

async fn login(
    State(state): State<AppState>,
    AnyForm { visitor, form }: AnyForm<LoginForm>,
) -> Result<Response, PortalError> {
    let typed = form.username.trim();
    let Some(user) =
        crate::credentials::verify_password(&state, typed, &form.password, visitor.peer).await?
    else {
        tracing::info!(username = typed, "portal sign-in failed");
        let csrf = visitor
            .session
            .as_ref()
            .map(|(_, s)| s.csrf.clone())
            .unwrap_or_default();
        let page = LoginPage {
            nav: anonymous_nav(csrf),
            next: safe_next(Some(&form.next)).unwrap_or_default(),
            username: typed.to_owned(),
            error: Some("Wrong username or password.".into()),
            signup: state.self_signup_enabled(),
        };
        return render_status(StatusCode::UNAUTHORIZED, &page);
    };
    let username = user.username.as_str();
    // A fresh session id on sign-in: an id planted before sign-in is worthless after it.
    if let Some((old, _)) = &visitor.session {
        visitor.sessions.end(old).await?;
    }
    let (id, _) = visitor.sessions.start(Some(username.to_owned())).await?;
    tracing::info!(username, "portal sign-in");
    let target = match safe_next(Some(&form.next)) {
        Some(next) => next,
        None => session::SignedIn {
            username: username.to_owned(),
            roles: user.roles,
            // Only the landing page is chosen here, by roles.
            rest_scopes: Vec::new(),
            session_id: id.clone(),
            csrf: String::new(),
            test_token: None,
            notice: None,
            sessions: visitor.sessions.clone(),
        }
        .home()
        .to_owned(),
    };
    Ok(with_cookie(
        Redirect::to(&target).into_response(),
        Some(session::set_cookie(&id)),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct Empty {}

async fn logout(AnyForm { visitor, .. }: AnyForm<Empty>) -> Result<Response, PortalError> {
    if let Some((id, _)) = &visitor.session {
        // Deleted from the store: the cookie is dead on every replica, even if kept.
        visitor.sessions.end(id).await?;
    }
    Ok(with_cookie(
        Redirect::to("/portal/login").into_response(),
        Some(session::clear_cookie()),
    ))
}

#[derive(Template)]
#[template(path = "portal/signup.html")]
struct SignupPage {
    nav: Nav,
    username: String,
    username_error: Option<String>,
    password_error: Option<String>,
}

fn signup_enabled(state: &AppState) -> Result<(), PortalError> {
    if state.self_signup_enabled() {
        Ok(())
    } else {
        Err(PortalError::NotFound(
            "Self sign-up is turned off on this server; ask an administrator for an account."
                .into(),
        ))
    }
}

async fn signup_page(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, PortalError> {
    signup_enabled(&state)?;
    let (session, cookie) = ensure_session(&visitor).await?;
    let page = SignupPage {
        nav: anonymous_nav(session.csrf),
        username: String::new(),
        username_error: None,
        password_error: None,
    };
    Ok(with_cookie(render(&page)?, cookie))
}

#[derive(Debug, Deserialize)]
pub(super) struct SignupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

/// Why `name` cannot be a user name, if it cannot.
pub fn username_problem(name: &str) -> Option<&'static str> {
    if name.chars().count() < 3 || name.len() > 64 {
        return Some("Use 3 to 64 characters.");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Some("Use letters, digits and . _ - @ only.");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("Start with a letter or a digit.");
    }
    None
}

/// Why `password` is not acceptable, if it is not.
pub fn password_problem(password: &str) -> Option<&'static str> {
    if password.chars().count() < 8 {
        return Some("Use at least 8 characters.");
    }
    if password.len() > 1024 {
        return Some("Use at most 1024 characters.");
    }
    None
}

/// Hashes a password (Argon2id) off the async runtime.
pub async fn hash_password(password: &str) -> Result<String, PortalError> {
    Ok(crate::scim::users::hash_password(password).await?)
}

async fn signup(
    State(state): State<AppState>,
    AnyForm { visitor, form }: AnyForm<SignupForm>,
) -> Result<Response, PortalError> {
    signup_enabled(&state)?;
    let username = form.username.trim().to_owned();
    let mut username_error = username_problem(&username).map(str::to_owned);
    let mut password_error = password_problem(&form.password).map(str::to_owned);
    if password_error.is_none() && form.password != form.password_again {
        password_error = Some("The two passwords differ.".into());
    }
    if username_error.is_none() && password_error.is_none() {
        // Each sign-up costs an Argon2 hash: count it against the IP's failure budget, so one
        // address cannot keep the CPU busy (or mint accounts) faster than it could guess passwords.
        if let Err(wait) = state.failures().check(None, visitor.peer) {
            return Err(PortalError::TooMany(wait));
        }
        state.failures().record_failure(None, visitor.peer);
        let hash = hash_password(&form.password).await?;
        match crate::service::signup::register(&state, &username, &hash, "{}").await {
            Ok(Requested::Pending(_)) => {
                tracing::info!(%username, "self sign-up waits for approval");
                let csrf = visitor
                    .session
                    .as_ref()
                    .map(|(_, s)| s.csrf.clone())
                    .unwrap_or_default();
                let page = SignupPage {
                    nav: anonymous_nav(csrf).with_notice(Some(
                        "Thanks! Your account waits for an administrator's approval; sign in once it is approved."
                            .into(),
                    )),
                    username: String::new(),
                    username_error: None,
                    password_error: None,
                };
                return render_status(StatusCode::ACCEPTED, &page);
            }
            Ok(Requested::Done(_)) => {
                tracing::info!(%username, "user signed up in the developer portal");
                if let Some((old, _)) = &visitor.session {
                    visitor.sessions.end(old).await?;
                }
                let (id, _) = visitor.sessions.start(Some(username)).await?;
                visitor
                    .sessions
                    .set_notice(&id, "Welcome! Your account is ready.".into())
                    .await?;
                return Ok(with_cookie(
                    Redirect::to("/devportal").into_response(),
                    Some(session::set_cookie(&id)),
                ));
            }
            Err(crate::error::ApiError::Conflict(_)) => {
                username_error = Some("This username is taken.".into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let csrf = visitor
        .session
        .as_ref()
        .map(|(_, s)| s.csrf.clone())
        .unwrap_or_default();
    let page = SignupPage {
        nav: anonymous_nav(csrf),
        username,
        username_error,
        password_error,
    };
    render_status(StatusCode::BAD_REQUEST, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_server() {
        assert_eq!(
            safe_next(Some("/publisher?x=1")).as_deref(),
            Some("/publisher?x=1")
        );
        assert_eq!(
            safe_next(Some("/devportal/apis?q=a b")).as_deref(),
            Some("/devportal/apis?q=a%20b")
        );
        assert_eq!(
            safe_next(Some("/%2F%2Fevil.example")).as_deref(),
            Some("/%2F%2Fevil.example")
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/\\/evil.example",
            "\\\\evil.example",
            "/\t/evil.example/",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/.//evil.example",
            "/..//evil.example",
            "javascript:alert(1)",
            "%2F%2Fevil.example",
            " //evil.example",
            "publisher",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(username_problem("alice").is_none());
        assert!(username_problem("a.b-c_d@example.com").is_none());
        assert!(username_problem("al").is_some());
        assert!(username_problem("<script>").is_some());
        assert!(username_problem("-alice").is_some());
        assert!(password_problem("short").is_some());
        assert!(password_problem("long enough").is_none());
    }
}
