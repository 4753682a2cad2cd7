//! The portals: Publisher (`/publisher`), Developer Portal (`/devportal`) and Admin
//! (`/admin`), server-rendered HTML over the same store functions and code paths as the
//! REST APIs. Templates are askama (compiled in, HTML-escaped by default) under
//! `templates/portal/`; one CSS file and one small script are served from `/portal/assets`.
//!
//! Every page goes through [`session::Visitor`] / [`session::User`] (cookie session, roles
//! re-read per request) and every form through [`session::UserForm`] /
//! [`session::AnyForm`] (CSRF token checked), so a handler cannot forget either.

mod access;
pub mod admin;
pub mod api_edit;
pub mod api_form;
pub mod api_policies;
pub mod api_products;
pub mod applications;
pub mod auth;
pub mod deny_policies;
pub mod devportal;
mod documents;
mod endpoint_certificates;
mod feedback;
pub mod key_managers;
pub mod listing;
pub mod openapi;
pub mod publisher;
mod rollouts;
pub mod session;
pub mod throttling;
pub mod try_it;
pub mod workflows;

use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::Extension;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::AppState;
use crate::error::ApiError;
use session::{Portal, SignedIn};

/// Items per page in every portal list.
pub const PAGE_SIZE: i64 = 20;

/// Routes of the three portals, sign-in and the assets.
pub fn router(state: AppState) -> Router<AppState> {
    let sessions = Arc::new(session::Sessions::new(state.store().clone()));
    Router::new()
        .merge(auth::router())
        .merge(publisher::router().merge(rollouts::router()).route_layer(
            axum::middleware::from_fn_with_state(state.clone(), access::guard),
        ))
        .merge(api_products::router())
        .merge(endpoint_certificates::router())
        .merge(devportal::router())
        .merge(applications::router())
        .merge(admin::router())
        .route("/portal/assets/portal.css", get(css))
        .route("/portal/assets/portal.js", get(js))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            with_signed_in_nav,
        ))
        .layer(Extension(sessions))
}

async fn css() -> Response {
    asset(
        include_str!("../../templates/portal/portal.css"),
        "text/css",
    )
}

async fn js() -> Response {
    asset(
        include_str!("../../templates/portal/portal.js"),
        "text/javascript",
    )
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The top bar of every page: which portal, who is signed in, where they may go.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The portal's slug (`publisher`, `devportal`, `admin`; empty on sign-in pages).
    pub portal: &'static str,
    /// Its title.
    pub title: &'static str,
    /// The signed-in user.
    pub user: Option<String>,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// Portals the user may switch to: (path, title).
    pub links: Vec<(&'static str, &'static str)>,
    /// A one-line notice (after an action), shown above the content.
    pub notice: Option<String>,
}

impl Nav {
    /// The bar for `user` in `portal`.
    pub fn new(portal: Portal, user: &SignedIn) -> Self {
        let links = [Portal::Publisher, Portal::Devportal, Portal::Admin]
            .into_iter()
            .filter(|p| user.may_use(*p))
            .map(|p| match p {
                Portal::Publisher => ("/publisher", p.title()),
                Portal::Devportal => ("/devportal", p.title()),
                Portal::Admin => ("/admin", p.title()),
            })
            .collect();
        Self {
            portal: portal.slug(),
            title: portal.title(),
            user: Some(user.username.clone()),
            csrf: user.csrf.clone(),
            links,
            // The notice a redirect left in the session (see `see_other`), shown once.
            notice: user.notice.clone(),
        }
    }

    /// With `notice` (when there is one) instead of the session's.
    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        if notice.is_some() {
            self.notice = notice;
        }
        self
    }
}

/// A page of a list: which one, of how many, and the links around it.
#[derive(Debug, Clone, Default)]
pub struct Pager {
    /// 1-based page number.
    pub page: i64,
    /// Number of pages (at least 1).
    pub pages: i64,
    /// Items in all pages.
    pub total: i64,
    /// Link to the previous page, if any.
    pub prev: Option<String>,
    /// Link to the next page, if any.
    pub next: Option<String>,
}

impl Pager {
    /// The pager for `page` (1-based, clamped) of `total` items at `base?…&page=N`.
    pub fn new(base: &str, query: &str, page: i64, total: i64) -> Self {
        let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
        let page = page.clamp(1, pages);
        let link = |n: i64| {
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("q={}&", urlencode(query))
            };
            // A base may carry a filter of its own (`/devportal?category=…`).
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}{q}page={n}")
        };
        Self {
            page,
            pages,
            total,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        }
    }

    /// The offset of the page's first item.
    pub fn offset(&self) -> i64 {
        (self.page - 1) * PAGE_SIZE
    }
}

/// The requested page of `total` items: (offset, pager).
pub fn paginate(base: &str, query: &str, page: Option<i64>, total: i64) -> Pager {
    Pager::new(base, query, page.unwrap_or(1), total)
}

/// Percent-encodes `text` for a query string.
pub fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// A redirect after a successful POST (303, so the browser GETs the target); `notice` waits
/// in the session for the next page (never in the URL, where a link could forge one).
pub async fn see_other(user: &SignedIn, path: &str, notice: &str) -> Result<Response, PortalError> {
    user.sessions
        .set_notice(&user.session_id, notice.to_owned())
        .await?;
    Ok(Redirect::to(path).into_response())
}

/// Renders a page with the portals' security headers.
pub fn render<T: Template>(template: &T) -> Result<Response, PortalError> {
    render_status(StatusCode::OK, template)
}

/// Renders a page with `status`.
pub fn render_status<T: Template>(
    status: StatusCode,
    template: &T,
) -> Result<Response, PortalError> {
    let html = template
        .render()
        .map_err(|e| PortalError::Internal(format!("template: {e}")))?;
    Ok(html_response(status, html))
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Why a portal request failed; each becomes a page with the right status.
#[derive(Debug)]
pub enum PortalError {
    /// Not signed in: go to the sign-in page, then back to `next`.
    SignIn {
        /// Where to return after signing in.
        next: String,
    },
    /// 400 with an explanation.
    BadRequest(String),
    /// 403 with an explanation.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 409 with an explanation.
    Conflict(String),
    /// 429: too many failed sign-ins.
    TooMany(Duration),
    /// 503: the database is unavailable.
    Unavailable(String),
    /// 500; the detail is logged, not shown.
    Internal(String),
}

impl From<ApiError> for PortalError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::BadRequest(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UnsupportedMediaType(m) => PortalError::BadRequest(m),
            ApiError::Unauthenticated(m) | ApiError::Forbidden(m) => PortalError::Forbidden(m),
            ApiError::NotFound(m) => PortalError::NotFound(m),
            ApiError::Conflict(m) => PortalError::Conflict(m),
            ApiError::Unavailable(m) => PortalError::Unavailable(m),
            ApiError::Internal(m) => PortalError::Internal(m),
            ApiError::TooManyRequests { retry_after, .. } => PortalError::TooMany(retry_after),
            // A variant added to the REST errors later (main adds 412 Precondition Failed)
            // still reads as "that did not work", with its message.
            #[allow(
                unreachable_patterns,
                reason = "covers ApiError variants this module does not know yet"
            )]
            other => PortalError::Conflict(other.to_string()),
        }
    }
}

impl From<crate::credentials::PasswordError> for PortalError {
    fn from(e: crate::credentials::PasswordError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<gantry_store::StoreError> for PortalError {
    fn from(e: gantry_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

#[derive(Template, Clone)]
#[template(path = "portal/error.html")]
struct ErrorPage {
    nav: Nav,
    status: u16,
    heading: &'static str,
    message: String,
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let retry_after = match &self {
            PortalError::TooMany(wait) => Some(wait.as_secs().max(1)),
            _ => None,
        };
        let (status, heading, message) = match self {
            PortalError::SignIn { next } => {
                let target = format!("/portal/login?next={}", urlencode(&next));
                return Redirect::to(&target).into_response();
            }
            PortalError::BadRequest(m) => (StatusCode::BAD_REQUEST, "That did not work", m),
            PortalError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            PortalError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            PortalError::Conflict(m) => (StatusCode::CONFLICT, "That did not work", m),
            PortalError::TooMany(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!(
                    "Too many attempts from here; try again in {} seconds.",
                    wait.as_secs().max(1)
                ),
            ),
            PortalError::Unavailable(m) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                m,
            ),
            PortalError::Internal(detail) => {
                tracing::error!(%detail, "portal request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not complete this request; it has been logged.".to_owned(),
                )
            }
        };
        let page = ErrorPage {
            nav: Nav::default(),
            status: status.as_u16(),
            heading,
            message,
        };
        let mut response = match page.render() {
            Ok(html) => html_response(status, html),
            Err(_) => (status, "error").into_response(),
        };
        if let Some(secs) = retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        // Kept so `with_signed_in_nav` can render the page again with the user's top bar.
        response.extensions_mut().insert(page);
        response
    }
}

/// Error pages are rendered where the user is not at hand; for a signed-in visitor this
/// renders them again with the portal's top bar (navigation, sign-out).
async fn with_signed_in_nav(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let cookies = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .cloned()
        .collect::<Vec<_>>();
    let sessions = request
        .extensions()
        .get::<Arc<session::Sessions>>()
        .cloned();
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    let Some(page) = response.extensions_mut().remove::<ErrorPage>() else {
        return response;
    };
    let (Some(sessions), false) = (sessions, cookies.is_empty()) else {
        return response;
    };
    let mut probe = axum::http::Request::new(());
    probe
        .headers_mut()
        .extend(cookies.into_iter().map(|c| (header::COOKIE, c)));
    probe.extensions_mut().insert(sessions);
    let (mut parts, ()) = probe.into_parts();
    let Ok(visitor) =
        <session::Visitor as axum::extract::FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await
    else {
        return response;
    };
    let Some(user) = visitor.user else {
        return response;
    };
    let portal = [Portal::Publisher, Portal::Devportal, Portal::Admin]
        .into_iter()
        .find(|p| path.starts_with(&format!("/{}", p.slug())) && user.may_use(*p));
    let mut nav = match portal {
        Some(p) => Nav::new(p, &user),
        None => Nav {
            portal: "",
            title: "",
            ..Nav::new(Portal::Devportal, &user)
        },
    };
    nav.notice = None;
    let status = response.status();
    match (ErrorPage { nav, ..page }).render() {
        Ok(html) => {
            let mut again = html_response(status, html);
            if let Some(retry_after) = response.headers().get(header::RETRY_AFTER) {
                again
                    .headers_mut()
                    .insert(header::RETRY_AFTER, retry_after.clone());
            }
            again
        }
        Err(_) => response,
    }
}

/// The templates' HTML escaper (set in `askama.toml`): `<`, `>`, `&`, `"` and `'` become
/// `&lt;`, `&gt;`, `&amp;`, `&quot;` and `&#39;`, safe in text and in quoted attributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

impl askama::filters::Escaper for Html {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, string: &str) -> std::fmt::Result {
        let mut last = 0;
        for (i, byte) in string.bytes().enumerate() {
            let entity = match byte {
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'&' => "&amp;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&string[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&string[last..])
    }
}

/// Splits a REST validation message `field: reason` into the form field it names (when it
/// is one of `fields`) and the reason, so the page shows it next to that field.
pub fn field_error(message: &str, fields: &[&str]) -> (Option<String>, String) {
    if let Some((field, reason)) = message.split_once(": ")
        && fields.contains(&field)
    {
        return (Some(field.to_owned()), reason.to_owned());
    }
    (None, message.to_owned())
}

/// The message shown next to `field` among a form's (field, message) errors.
pub fn error_for<'a>(errors: &'a [(String, String)], field: &str) -> Option<&'a str> {
    errors
        .iter()
        .find(|(f, _)| f == field)
        .map(|(_, e)| e.as_str())
}

/// Epoch milliseconds as `2026-11-26 14:03 UTC`.
pub fn when(ms: i64) -> String {
    let text = crate::wire::rfc3339(ms);
    match (text.get(..10), text.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pager_keeps_a_filter_its_base_carries() {
        let pager = Pager::new("/devportal?category=Finance", "pay", 2, 3 * PAGE_SIZE);
        assert_eq!(
            pager.prev.as_deref(),
            Some("/devportal?category=Finance&q=pay&page=1")
        );
        let plain = Pager::new("/devportal", "", 1, 2 * PAGE_SIZE);
        assert_eq!(plain.next.as_deref(), Some("/devportal?page=2"));
    }

    #[test]
    fn pager_clamps_and_links() {
        let p = Pager::new("/publisher", "pet store", 9, 45);
        assert_eq!((p.page, p.pages), (3, 3));
        assert_eq!(p.offset(), 40);
        assert_eq!(p.prev.as_deref(), Some("/publisher?q=pet+store&page=2"));
        assert!(p.next.is_none());
        let p = Pager::new("/x", "", 0, 0);
        assert_eq!((p.page, p.pages, p.offset()), (1, 1, 0));
    }

    #[test]
    fn html_is_escaped_with_named_entities() {
        let mut out = String::new();
        askama::filters::Escaper::write_escaped_str(
            &Html,
            &mut out,
            "<script>alert('x') & \"y\"</script>é",
        )
        .unwrap();
        assert_eq!(
            out,
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;é"
        );
    }

    #[test]
    fn field_errors_are_split_only_for_known_fields() {
        assert_eq!(
            field_error("name: must not contain '<'", &["name"]),
            (Some("name".into()), "must not contain '<'".into())
        );
        assert_eq!(
            field_error("policies: x", &["name"]),
            (None, "policies: x".into())
        );
    }
}
