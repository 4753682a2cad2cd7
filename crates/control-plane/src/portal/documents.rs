//! An API's documents on its Developer Portal page: Markdown rendered to HTML with raw HTML
//! escaped and only `http(s)`, `mailto` and relative links kept, inline text shown as text,
//! URL documents as links, file documents downloaded through the portal (the signed-in
//! session is the reader, so `PRIVATE` documents work here as in the REST API).

use axum::extract::{Path, State};
use axum::response::Response;
use gantry_model::Api;
use gantry_store::documents::{self, Document};
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

use super::session::User;
use super::{Portal, PortalError};
use crate::AppState;
use crate::documents::{content_response, shown_in_devportal};

/// One document as the page shows it.
pub(super) struct DocumentRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub summary: String,
    /// `MARKDOWN`: the rendered, safe HTML.
    pub html: Option<String>,
    /// `INLINE`: the text, shown as text.
    pub text: Option<String>,
    /// `URL`: where it is.
    pub url: Option<String>,
    /// `FILE`: its file name (downloaded through the portal).
    pub file_name: Option<String>,
}

/// The documents of `api` a signed-in reader of the Developer Portal may see.
pub(super) async fn rows(state: &AppState, api: &Api) -> Result<Vec<DocumentRow>, PortalError> {
    Ok(documents::list(state.store(), &api.id)
        .await?
        .into_iter()
        .filter(|d| shown_in_devportal(d, true))
        .map(|d| DocumentRow {
            kind: if d.doc_type == "OTHER" {
                d.other_type_name.clone()
            } else {
                d.doc_type.replace('_', " ").to_lowercase()
            },
            html: (d.source_type == "MARKDOWN").then(|| markdown_to_html(&d.inline_content)),
            text: (d.source_type == "INLINE").then(|| d.inline_content.clone()),
            url: (d.source_type == "URL").then(|| d.source_url.clone()),
            file_name: (d.source_type == "FILE" && !d.file_content.is_empty())
                .then(|| d.file_name.clone()),
            id: d.id,
            name: d.name,
            summary: d.summary,
        })
        .collect())
}

/// `GET /devportal/apis/{apiId}/documents/{documentId}`: the document's content, as the REST
/// API serves it (files as attachments).
pub(super) async fn download(
    State(state): State<AppState>,
    User(user): User,
    Path((api_id, document_id)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let api = super::devportal::load_visible(&state, &api_id, &user).await?;
    let doc: Document = match documents::get(state.store(), &api.id, &document_id).await {
        Err(gantry_store::StoreError::NotFound) => {
            return Err(PortalError::NotFound("No such document.".into()));
        }
        other => other?,
    };
    if !shown_in_devportal(&doc, true) {
        return Err(PortalError::NotFound("No such document.".into()));
    }
    Ok(content_response(&doc)?)
}

/// Markdown → HTML that cannot run anything: raw HTML in the text is shown as text, and a
/// link or image whose destination is not `http(s):`, `mailto:` or relative becomes `#`.
pub fn markdown_to_html(markdown: &str) -> String {
    let events = Parser::new_ext(
        markdown,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH,
    )
    .map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

fn safe_url(url: CowStr<'_>) -> CowStr<'_> {
    let lower = url.trim().to_ascii_lowercase();
    let scheme_end = lower.find(':');
    let first_separator = lower.find(['/', '?', '#']);
    let relative = match (scheme_end, first_separator) {
        (None, _) => true,
        (Some(colon), Some(sep)) => sep < colon,
        (Some(_), None) => false,
    };
    if relative
        || lower.starts_with("http://")
        || lower.starts_with("https://")
        || lower.starts_with("mailto:")
    {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[cfg(test)]
mod tests {
    use super::markdown_to_html;

    #[test]
    fn markdown_renders_without_anything_that_runs() {
        let html = markdown_to_html(
            "# Title\n\n<script>alert(1)</script>\n\nText <img src=x onerror=alert(1)> **bold**\n\n\
             [ok](https://example.com) [rel](/docs#a) [bad](javascript:alert(1)) \
             [bad2]( JAVASCRIPT:alert(1)) ![img](data:text/html,x)",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("href=\"https://example.com\""), "{html}");
        assert!(html.contains("href=\"/docs#a\""), "{html}");
        assert!(!html.to_lowercase().contains("javascript:"), "{html}");
        assert!(!html.contains("data:text/html"), "{html}");
    }
}
