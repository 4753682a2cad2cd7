//! Browser sessions of the portals: a random id in a `__Host-` cookie (Secure, HttpOnly,
//! SameSite=Lax) naming a server-side entry, kept in the database (`portal_sessions`, keyed
//! by a hash of the id) so every control-plane replica knows it: no sticky sessions, and a
//! restart signs no one out. Roles are not kept: every request re-reads the user.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use gantry_store::portal_sessions::{self, SessionRow};
use gantry_store::{Store, StoreError, now_ms};
use serde::de::DeserializeOwned;

use super::PortalError;
use crate::AppState;

/// The session cookie. `__Host-` makes browsers refuse it unless it is Secure, host-only and
/// scoped to `/`.
pub const COOKIE: &str = "__Host-gantry-portal";
/// How long a session lives after its last use, in ms.
const IDLE_MS: i64 = 60 * 60 * 1000;
/// How long a session lives at most, in ms.
const ABSOLUTE_MS: i64 = 12 * 60 * 60 * 1000;
/// A use is recorded at most this often (ms), so browsing does not write on every page.
const TOUCH_EVERY_MS: i64 = 60 * 1000;
/// Most anonymous sessions (sign-in and sign-up forms) kept; the least recently used go.
const MAX_ANONYMOUS: i64 = 50_000;
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
    pub notice: Option<String>,
}

fn expired(row: &SessionRow, now: i64) -> bool {
    now - row.used_at > IDLE_MS || now - row.created_at > ABSOLUTE_MS
}

/// The sessions, in the store.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Store,
}

/// What is stored for the cookie value `id`: its hash, never the id.
fn key(id: &str) -> String {
    gantry_keys::secret::hash_secret(id)
}

impl Sessions {
    /// Sessions kept in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The live session `id`, its use recorded; with `take_notice`, the waiting notice is
    /// taken out of it (a page is about to show it).
    pub async fn get(&self, id: &str, take_notice: bool) -> Result<Option<Session>, StoreError> {
        let key = key(id);
        let Some(row) = portal_sessions::find(&self.store, &key).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if expired(&row, now) {
            portal_sessions::delete(&self.store, &key).await?;
            return Ok(None);
        }
        if now - row.used_at > TOUCH_EVERY_MS {
            portal_sessions::touch(&self.store, &key, now).await?;
        }
        let notice = match row.notice {
            Some(notice) if take_notice => {
                portal_sessions::set_notice(&self.store, &key, None).await?;
                Some(notice)
            }
            _ => None,
        };
        Ok(Some(Session {
            username: row.username,
            csrf: row.csrf,
            test_token: row.test_token,
            notice,
        }))
    }

    /// Starts a session (for `username`, or anonymous); its new id.
    pub async fn start(&self, username: Option<String>) -> Result<(String, Session), StoreError> {
        let now = now_ms();
        portal_sessions::purge(&self.store, now - IDLE_MS, now - ABSOLUTE_MS).await?;
        if username.is_none() {
            portal_sessions::trim_anonymous(&self.store, MAX_ANONYMOUS - 1).await?;
        }
        let id = gantry_keys::secret::random_token(32);
        let row = SessionRow {
            username,
            csrf: gantry_keys::secret::random_token(24),
            test_token: None,
            notice: None,
            created_at: now,
            used_at: now,
        };
        portal_sessions::create(&self.store, &key(&id), &row).await?;
        Ok((
            id,
            Session {
                username: row.username,
                csrf: row.csrf,
                test_token: None,
                notice: None,
            },
        ))
    }

    /// Ends session `id` (on every replica: the row is gone).
    pub async fn end(&self, id: &str) -> Result<(), StoreError> {
        portal_sessions::delete(&self.store, &key(id)).await
    }

    /// Leaves `notice` for the next page of session `id`.
    pub async fn set_notice(&self, id: &str, notice: String) -> Result<(), StoreError> {
        portal_sessions::set_notice(&self.store, &key(id), Some(&notice)).await
    }

    /// Remembers a test token in session `id`.
    pub async fn set_test_token(&self, id: &str, token: String) -> Result<(), StoreError> {
        portal_sessions::set_test_token(&self.store, &key(id), &token).await
    }
}

/// `Set-Cookie` value for session `id`.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        ABSOLUTE_MS / 1000
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
    /// The REST scopes the roles give under the map in force (`/system-scopes`).
    pub rest_scopes: Vec<String>,
    /// The session id.
    pub session_id: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The session's last test token.
    pub test_token: Option<String>,
    /// The notice a redirect left for this page.
    pub notice: Option<String>,
    /// The sessions (to update this one).
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

    /// Whether the role → scope map in force grants the user the REST `scope` (e.g.
    /// `apim:api_publish`): the portals split work between roles exactly as the REST API does.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.rest_scopes.iter().any(|s| s == scope)
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
        let session = match cookie_value(parts) {
            // A page (GET) shows the notice a redirect left; other requests leave it.
            Some(id) => sessions
                .get(&id, parts.method == Method::GET)
                .await?
                .map(|s| (id, s)),
            None => None,
        };
        let mut user = None;
        if let Some((id, s)) = &session
            && let Some(name) = &s.username
        {
            match gantry_store::users::find_by_username(state.store(), name).await? {
                Some(u) => {
                    let roles: Vec<String> = u.role_list().map(str::to_owned).collect();
                    let rest_scopes = crate::system_scopes::map(state).await?.scopes_of(&roles);
                    user = Some(SignedIn {
                        username: u.username.clone(),
                        roles,
                        rest_scopes,
                        session_id: id.clone(),
                        csrf: s.csrf.clone(),
                        test_token: s.test_token.clone(),
                        notice: s.notice.clone(),
                        sessions: sessions.clone(),
                    });
                }
                // The user was deleted: the session is worthless.
                None => sessions.end(id).await?,
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

    #[tokio::test]
    async fn sessions_are_shared_through_the_store_and_end_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("gantry.db"))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        // Two replicas: two `Sessions` over one database.
        let (one, two) = (Sessions::new(store.clone()), Sessions::new(store.clone()));
        let (id, s) = one.start(Some("alice".into())).await.unwrap();
        assert!(s.csrf.len() >= 24);
        let seen = two.get(&id, false).await.unwrap().unwrap();
        assert_eq!(seen.username.as_deref(), Some("alice"));
        assert_eq!(seen.csrf, s.csrf);
        two.set_notice(&id, "done".into()).await.unwrap();
        let page = one.get(&id, true).await.unwrap().unwrap();
        assert_eq!(page.notice.as_deref(), Some("done"));
        assert_eq!(two.get(&id, true).await.unwrap().unwrap().notice, None);
        one.end(&id).await.unwrap();
        assert!(two.get(&id, false).await.unwrap().is_none());
        assert!(two.get("forged", false).await.unwrap().is_none());
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
