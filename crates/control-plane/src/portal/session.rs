//! Browser sessions of the portals: a random id in a `__Host-` cookie (Secure, HttpOnly,
//! SameSite=Lax) naming a server-side entry that holds the signed-in user and the CSRF token
//! every form must echo.
//!
//! Sessions live in memory, per process: a restart signs everyone out, and behind several
//! control-plane replicas the load balancer must keep a browser on one replica (sticky
//! sessions). Roles are not cached here: every request re-reads the user, so a role change
//! or a deleted user takes effect at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use serde::de::DeserializeOwned;

use super::PortalError;
use crate::AppState;

/// The session cookie. `__Host-` makes browsers refuse it unless it is Secure, host-only and
/// scoped to `/`.
pub const COOKIE: &str = "__Host-gantry-portal";
/// How long a session lives after its last use.
const IDLE: Duration = Duration::from_secs(60 * 60);
/// How long a session lives at most.
const ABSOLUTE: Duration = Duration::from_secs(12 * 60 * 60);
/// Most sessions kept; beyond, expired ones are dropped, then the oldest.
const MAX_SESSIONS: usize = 50_000;
/// Largest form body a portal POST accepts.
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// One browser's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in user; `None` before sign-in (the session then only carries the CSRF
    /// token of the sign-in and sign-up forms).
    pub username: Option<String>,
    /// The token every form of this session posts back.
    pub csrf: String,
    /// The last test token generated in the developer portal (prefills "Try it").
    pub test_token: Option<String>,
    /// What the last action did, shown once on the next page.
    notice: Option<String>,
    created: Instant,
    used: Instant,
}

impl Session {
    fn new(username: Option<String>) -> Self {
        let now = Instant::now();
        Self {
            username,
            csrf: gantry_keys::secret::random_token(24),
            test_token: None,
            notice: None,
            created: now,
            used: now,
        }
    }

    fn expired(&self, now: Instant) -> bool {
        now.duration_since(self.used) > IDLE || now.duration_since(self.created) > ABSOLUTE
    }
}

/// The server-side session map.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The live session `id`, touched.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match map.get_mut(id) {
            Some(s) if !s.expired(now) => {
                s.used = now;
                Some(s.clone())
            }
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// Starts a session (for `username`, or anonymous); its new id.
    pub fn start(&self, username: Option<String>) -> (String, Session) {
        let id = gantry_keys::secret::random_token(32);
        let session = Session::new(username);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            let now = Instant::now();
            map.retain(|_, s| !s.expired(now));
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.used)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// Ends session `id`.
    pub fn end(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Leaves `notice` for the next page of session `id`.
    pub fn set_notice(&self, id: &str, notice: String) {
        if let Some(s) = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(id)
        {
            s.notice = Some(notice);
        }
    }

    /// The notice waiting in session `id`, removed.
    pub fn take_notice(&self, id: &str) -> Option<String> {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(id)
            .and_then(|s| s.notice.take())
    }

    /// Remembers a test token in session `id`.
    pub fn set_test_token(&self, id: &str, token: String) {
        if let Some(s) = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(id)
        {
            s.test_token = Some(token);
        }
    }
}

/// `Set-Cookie` value for session `id`.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        ABSOLUTE.as_secs()
    )
}

/// `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

fn cookie_value(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

pub(super) fn sessions(parts: &Parts) -> Result<Arc<Sessions>, PortalError> {
    parts
        .extensions
        .get::<Arc<Sessions>>()
        .cloned()
        .ok_or_else(|| PortalError::Internal("the portal session layer is missing".into()))
}

/// Whoever is looking: the session (if any) and, when signed in, the user with fresh roles.
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The session id and its data, when the browser sent a live one.
    pub session: Option<(String, Session)>,
    /// The signed-in user.
    pub user: Option<SignedIn>,
    /// The session map.
    pub sessions: Arc<Sessions>,
    /// The path and query asked for (where sign-in returns to).
    pub path: String,
    /// The client's IP address (failed sign-ins are limited by it).
    pub peer: Option<std::net::IpAddr>,
}

/// A signed-in user.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Login name.
    pub username: String,
    /// Roles, read from the store on this request.
    pub roles: Vec<String>,
    /// The session id.
    pub session_id: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The session's last test token.
    pub test_token: Option<String>,
    /// The session map (to update this session).
    pub sessions: Arc<Sessions>,
}

/// What a portal needs of its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Portal {
    /// API creators and publishers.
    Publisher,
    /// Application developers.
    Devportal,
    /// Administrators.
    Admin,
}

impl Portal {
    /// The portal's path and name in the navigation.
    pub fn slug(self) -> &'static str {
        match self {
            Portal::Publisher => "publisher",
            Portal::Devportal => "devportal",
            Portal::Admin => "admin",
        }
    }

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Portal::Publisher => "Publisher",
            Portal::Devportal => "Developer Portal",
            Portal::Admin => "Admin",
        }
    }

    /// The roles (besides `admin`) that open it.
    pub fn roles(self) -> &'static [&'static str] {
        match self {
            Portal::Publisher => &["Internal/creator", "Internal/publisher"],
            Portal::Devportal => &["Internal/subscriber"],
            Portal::Admin => &[],
        }
    }
}

impl SignedIn {
    /// Whether the user may use `portal`.
    pub fn may_use(&self, portal: Portal) -> bool {
        self.roles
            .iter()
            .any(|r| r == gantry_keys::scopes::ADMIN_ROLE || portal.roles().contains(&r.as_str()))
    }

    /// 403 unless the user may use `portal`.
    pub fn require(&self, portal: Portal) -> Result<(), PortalError> {
        if self.may_use(portal) {
            Ok(())
        } else {
            let needed = match portal.roles() {
                [] => "the admin role".to_owned(),
                roles => format!("one of the roles {} (or admin)", roles.join(", ")),
            };
            Err(PortalError::Forbidden(format!(
                "The {} needs {needed}; you are signed in as '{}'.",
                portal.title(),
                self.username
            )))
        }
    }

    /// Whether WSO2's role → scope map grants the user the REST `scope` (e.g.
    /// `apim:api_publish`): the portals split work between roles exactly as the REST API does.
    pub fn has_scope(&self, scope: &str) -> bool {
        gantry_keys::scopes::role_allows(self.roles.iter().map(String::as_str), scope)
    }

    /// 403 unless the user [`has_scope`](Self::has_scope) `scope`; `what` names the action.
    pub fn require_scope(&self, scope: &str, what: &str) -> Result<(), PortalError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(PortalError::Forbidden(format!(
                "{what} needs a role with the {scope} scope (admin, or {}).",
                match scope {
                    "apim:api_publish" => "Internal/publisher",
                    _ => "Internal/creator",
                }
            )))
        }
    }

    /// The first portal the user may use (where sign-in lands by default).
    pub fn home(&self) -> &'static str {
        [Portal::Publisher, Portal::Devportal, Portal::Admin]
            .into_iter()
            .find(|p| self.may_use(*p))
            .map_or("/devportal", |p| match p {
                Portal::Publisher => "/publisher",
                Portal::Devportal => "/devportal",
                Portal::Admin => "/admin",
            })
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let sessions = sessions(parts)?;
        let session = cookie_value(parts).and_then(|id| sessions.get(&id).map(|s| (id, s)));
        let mut user = None;
        if let Some((id, s)) = &session
            && let Some(name) = &s.username
        {
            match gantry_store::users::find_by_username(state.store(), name).await? {
                Some(u) => {
                    user = Some(SignedIn {
                        username: u.username.clone(),
                        roles: u.role_list().map(str::to_owned).collect(),
                        session_id: id.clone(),
                        csrf: s.csrf.clone(),
                        test_token: s.test_token.clone(),
                        sessions: sessions.clone(),
                    });
                }
                // The user was deleted: the session is worthless.
                None => sessions.end(id),
            }
        }
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Visitor {
            session,
            user,
            sessions,
            path,
            peer,
        })
    }
}

/// A signed-in user; anonymous visitors are sent to sign in (GET) or refused (other methods).
#[derive(Debug, Clone)]
pub struct User(pub SignedIn);

impl FromRequestParts<AppState> for User {
    type Rejection = PortalError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.user {
            Some(user) => Ok(User(user)),
            None if parts.method == Method::GET || parts.method == Method::HEAD => {
                Err(PortalError::SignIn { next: visitor.path })
            }
            None => Err(PortalError::Forbidden(
                "Your session has ended; sign in again.".into(),
            )),
        }
    }
}

/// A form posted by a signed-in user, its CSRF token checked.
pub struct UserForm<T> {
    /// Who posted it.
    pub user: SignedIn,
    /// The form.
    pub form: T,
}

/// A form posted from a page that carries the session's CSRF token, signed in or not
/// (sign-in, sign-up).
pub struct AnyForm<T> {
    /// Whoever posted it (their session is live: the CSRF token matched it).
    pub visitor: Visitor,
    /// The form.
    pub form: T,
}

async fn read_form<T: DeserializeOwned>(
    req: Request,
    state: &AppState,
) -> Result<(Visitor, T), PortalError> {
    let (mut parts, body) = req.into_parts();
    let visitor = Visitor::from_request_parts(&mut parts, state).await?;
    let Some((_, session)) = &visitor.session else {
        return Err(PortalError::Forbidden(
            "Your session has ended (or cookies are off); reload the page and try again.".into(),
        ));
    };
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| PortalError::BadRequest("The form is too large.".into()))?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|_| PortalError::BadRequest("The form could not be read.".into()))?;
    let presented = pairs
        .iter()
        .find(|(k, _)| k == "_csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let expected = session.csrf.as_bytes();
    let matches = presented.len() == expected.len()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            presented.as_bytes(),
            expected,
        ));
    if !matches {
        return Err(PortalError::Forbidden(
            "The form's security token is missing or stale; reload the page and try again.".into(),
        ));
    }
    let form: T = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| PortalError::BadRequest(format!("The form could not be read: {e}")))?;
    Ok((visitor, form))
}

impl<T: DeserializeOwned> FromRequest<AppState> for AnyForm<T> {
    type Rejection = PortalError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (visitor, form) = read_form(req, state).await?;
        Ok(AnyForm { visitor, form })
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for UserForm<T> {
    type Rejection = PortalError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (visitor, form) = read_form(req, state).await?;
        let user = visitor.user.ok_or_else(|| {
            PortalError::Forbidden("Your session has ended; sign in again.".into())
        })?;
        Ok(UserForm { user, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let (id, s) = sessions.start(Some("alice".into()));
        assert!(s.csrf.len() >= 24);
        assert_eq!(
            sessions.get(&id).and_then(|s| s.username).as_deref(),
            Some("alice")
        );
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
        assert!(sessions.get("forged").is_none());
    }

    #[test]
    fn cookie_is_host_only_secure_and_http_only() {
        let c = set_cookie("abc");
        assert!(c.starts_with("__Host-gantry-portal=abc;"));
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(c.contains(attribute), "{c}");
        }
        assert!(!c.contains("Domain"));
    }
}
