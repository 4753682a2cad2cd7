//! An API's documents and thumbnail, as WSO2 4.7 serves them: the Publisher writes
//! (`/apis/{apiId}/documents[/{documentId}[/content]]`, `/documents/validate`,
//! `/apis/{apiId}/thumbnail`), the Developer Portal reads what it may show.
//!
//! Content is served so a browser cannot be made to run it: inline and Markdown text as
//! `text/plain`, files as attachments, thumbnails only when their bytes are a PNG, JPEG, GIF
//! or WebP image (SVG, which can carry script, is refused), all with `nosniff`. The
//! Developer Portal's page renders Markdown itself, with raw HTML escaped
//! (`portal::documents`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gantry_model::Api;
use gantry_store::StoreError;
use gantry_store::documents::{self, Document};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, JsonBody, MaybeUser, QueryParams, Scoped};
use crate::rejection::{MultipartForm, multipart_error};
use crate::rest_scopes;
use crate::wire::{Paging, list_envelope, page_of, rfc3339};

/// Largest document file or thumbnail accepted.
pub(crate) const MAX_FILE_BYTES: usize = 1024 * 1024;
/// Largest inline or Markdown text accepted.
const MAX_INLINE_CHARS: usize = 512 * 1024;

const TYPES: [&str; 7] = [
    "HOWTO",
    "SAMPLES",
    "PUBLIC_FORUM",
    "SUPPORT_FORUM",
    "API_MESSAGE_FORMAT",
    "SWAGGER_DOC",
    "OTHER",
];
const SOURCE_TYPES: [&str; 4] = ["INLINE", "MARKDOWN", "URL", "FILE"];
const VISIBILITIES: [&str; 3] = ["OWNER_ONLY", "PRIVATE", "API_LEVEL"];

/// Routes under `/api/am/publisher/v4`.
pub(crate) fn publisher() -> Router<AppState> {
    Router::new()
        .route("/apis/{api_id}/documents", get(list_publisher).post(create))
        .route("/apis/{api_id}/documents/validate", post(validate_name))
        .route(
            "/apis/{api_id}/documents/{document_id}",
            get(get_publisher).put(update).delete(remove),
        )
        .route(
            "/apis/{api_id}/documents/{document_id}/content",
            get(content_publisher).post(set_content),
        )
        .route(
            "/apis/{api_id}/thumbnail",
            get(thumbnail_publisher).put(put_thumbnail),
        )
}

/// Routes under `/api/am/devportal/v3`.
pub(crate) fn devportal() -> Router<AppState> {
    Router::new()
        .route("/apis/{api_id}/documents", get(list_devportal))
        .route("/apis/{api_id}/documents/{document_id}", get(get_devportal))
        .route(
            "/apis/{api_id}/documents/{document_id}/content",
            get(content_devportal),
        )
        .route("/apis/{api_id}/thumbnail", get(thumbnail_devportal))
}

/// WSO2 `Document` (the Publisher's; the Developer Portal shows fewer fields).
pub fn document_json(doc: &Document) -> Value {
    let mut body = json!({
        "documentId": doc.id,
        "name": doc.name,
        "type": doc.doc_type,
        "summary": doc.summary,
        "sourceType": doc.source_type,
        "visibility": doc.visibility,
        "createdTime": rfc3339(doc.created_at),
        "createdBy": doc.created_by,
        "lastUpdatedTime": rfc3339(doc.updated_at),
        "lastUpdatedBy": doc.updated_by,
    });
    if !doc.source_url.is_empty() {
        body["sourceUrl"] = json!(doc.source_url);
    }
    if !doc.file_name.is_empty() {
        body["fileName"] = json!(doc.file_name);
    }
    if !doc.other_type_name.is_empty() {
        body["otherTypeName"] = json!(doc.other_type_name);
    }
    body
}

fn devportal_document_json(doc: &Document) -> Value {
    let mut body = json!({
        "documentId": doc.id,
        "name": doc.name,
        "type": doc.doc_type,
        "summary": doc.summary,
        "sourceType": doc.source_type,
    });
    if !doc.source_url.is_empty() {
        body["sourceUrl"] = json!(doc.source_url);
    }
    if !doc.other_type_name.is_empty() {
        body["otherTypeName"] = json!(doc.other_type_name);
    }
    body
}

/// The body of POST/PUT `/documents` (WSO2 `Document`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DocumentRequest {
    name: Option<String>,
    #[serde(rename = "type")]
    doc_type: Option<String>,
    summary: Option<String>,
    source_type: Option<String>,
    source_url: Option<String>,
    other_type_name: Option<String>,
    visibility: Option<String>,
    inline_content: Option<String>,
}

fn one_of(field: &str, value: Option<&str>, allowed: &[&str], default: &str) -> ApiResult<String> {
    let value = value.unwrap_or(default);
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::BadRequest(format!(
            "{field}: '{value}' is not one of {}",
            allowed.join(", ")
        )))
    }
}

/// Applies a request to `doc` (a new one, or the stored one for an update), checking it.
pub(crate) fn apply(request: DocumentRequest, doc: &mut Document) -> ApiResult<()> {
    let name = request.name.unwrap_or_default();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(ApiError::BadRequest(
            "name: is required, at most 60 characters".into(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "name: must not contain control characters".into(),
        ));
    }
    doc.name = name.to_owned();
    doc.doc_type = one_of("type", request.doc_type.as_deref(), &TYPES, "")?;
    doc.source_type = one_of(
        "sourceType",
        request.source_type.as_deref(),
        &SOURCE_TYPES,
        "",
    )?;
    doc.visibility = one_of(
        "visibility",
        request.visibility.as_deref(),
        &VISIBILITIES,
        "API_LEVEL",
    )?;
    doc.summary = request.summary.unwrap_or_default();
    if doc.summary.chars().count() > 1024 {
        return Err(ApiError::BadRequest(
            "summary: at most 1024 characters".into(),
        ));
    }
    doc.other_type_name = match (doc.doc_type.as_str(), request.other_type_name) {
        ("OTHER", Some(n)) if !n.trim().is_empty() => n.trim().to_owned(),
        ("OTHER", _) => {
            return Err(ApiError::BadRequest(
                "otherTypeName: is required when type is OTHER".into(),
            ));
        }
        _ => String::new(),
    };
    doc.source_url = match (doc.source_type.as_str(), request.source_url) {
        ("URL", Some(url)) => {
            let parsed = url::Url::parse(&url)
                .map_err(|e| ApiError::BadRequest(format!("sourceUrl: not a valid URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ApiError::BadRequest(
                    "sourceUrl: must be an http or https URL".into(),
                ));
            }
            url
        }
        ("URL", None) => {
            return Err(ApiError::BadRequest(
                "sourceUrl: is required when sourceType is URL".into(),
            ));
        }
        _ => String::new(),
    };
    match doc.source_type.as_str() {
        "INLINE" | "MARKDOWN" => {
            if let Some(text) = request.inline_content {
                check_inline(&text)?;
                doc.inline_content = text;
            }
            clear_file(doc);
        }
        "FILE" => doc.inline_content.clear(),
        _ => {
            doc.inline_content.clear();
            clear_file(doc);
        }
    }
    Ok(())
}

/// An empty document of `api_id` made by `by` now, to [`apply`] a request to.
pub(crate) fn new_document(api_id: &str, by: &str) -> Document {
    let now = gantry_store::now_ms();
    Document {
        id: gantry_store::new_id(),
        api_id: api_id.to_owned(),
        name: String::new(),
        doc_type: String::new(),
        other_type_name: String::new(),
        summary: String::new(),
        source_type: String::new(),
        source_url: String::new(),
        visibility: String::new(),
        inline_content: String::new(),
        file_name: String::new(),
        file_media_type: String::new(),
        file_content: String::new(),
        created_at: now,
        created_by: by.to_owned(),
        updated_at: now,
        updated_by: by.to_owned(),
    }
}

fn clear_file(doc: &mut Document) {
    doc.file_name.clear();
    doc.file_media_type.clear();
    doc.file_content.clear();
}

pub(crate) fn check_inline(text: &str) -> ApiResult<()> {
    if text.chars().count() > MAX_INLINE_CHARS {
        return Err(ApiError::PayloadTooLarge(format!(
            "inlineContent: at most {MAX_INLINE_CHARS} characters"
        )));
    }
    Ok(())
}

async fn publisher_api(state: &AppState, api_id: &str) -> ApiResult<Api> {
    crate::service::apis::load(state, api_id).await
}

async fn load_document(state: &AppState, api_id: &str, id: &str) -> ApiResult<Document> {
    match documents::get(state.store(), api_id, id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("document", id)),
        other => Ok(other?),
    }
}

async fn list_publisher(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    publisher_api(&state, &api_id).await?;
    let all: Vec<Value> = documents::list(state.store(), &api_id)
        .await?
        .iter()
        .map(document_json)
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("/api/am/publisher/v4/apis/{api_id}/documents"),
    )))
}

async fn create(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    Path(api_id): Path<String>,
    JsonBody(request): JsonBody<DocumentRequest>,
) -> ApiResult<Response> {
    publisher_api(&state, &api_id).await?;
    let mut doc = new_document(&api_id, &user.username);
    apply(request, &mut doc)?;
    if documents::name_taken(state.store(), &api_id, &doc.name).await? {
        return Err(ApiError::Conflict(format!(
            "The API already has a document named '{}'",
            doc.name
        )));
    }
    documents::insert(state.store(), &doc).await?;
    tracing::info!(api_id, document = %doc.id, by = %user.username, "document added");
    let location = format!("/api/am/publisher/v4/apis/{api_id}/documents/{}", doc.id);
    let mut response = (StatusCode::CREATED, axum::Json(document_json(&doc))).into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn get_publisher(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path((api_id, document_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    publisher_api(&state, &api_id).await?;
    let doc = load_document(&state, &api_id, &document_id).await?;
    Ok(axum::Json(document_json(&doc)))
}

async fn update(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    Path((api_id, document_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<DocumentRequest>,
) -> ApiResult<axum::Json<Value>> {
    publisher_api(&state, &api_id).await?;
    let current = load_document(&state, &api_id, &document_id).await?;
    let mut doc = current.clone();
    apply(request, &mut doc)?;
    if !doc.name.eq_ignore_ascii_case(&current.name)
        && documents::name_taken(state.store(), &api_id, &doc.name).await?
    {
        return Err(ApiError::Conflict(format!(
            "The API already has a document named '{}'",
            doc.name
        )));
    }
    doc.updated_by = user.username.clone();
    documents::update(state.store(), &doc).await?;
    let doc = load_document(&state, &api_id, &document_id).await?;
    Ok(axum::Json(document_json(&doc)))
}

async fn remove(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    Path((api_id, document_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    publisher_api(&state, &api_id).await?;
    match documents::delete(state.store(), &api_id, &document_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("document", &document_id)),
        other => other?,
    }
    tracing::info!(api_id, document = %document_id, by = %user.username, "document deleted");
    Ok(StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct NameQuery {
    name: Option<String>,
}

/// `POST /apis/{apiId}/documents/validate?name=`: 200 when the API has a document of that
/// name, 404 when it has none (WSO2's check before creating one).
async fn validate_name(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
    QueryParams(query): QueryParams<NameQuery>,
) -> ApiResult<StatusCode> {
    let name = query
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("name: query parameter is required".into()))?;
    publisher_api(&state, &api_id).await?;
    if documents::name_taken(state.store(), &api_id, name.trim()).await? {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::NotFound(format!(
            "The API has no document named '{name}'"
        )))
    }
}

/// `POST …/content`: multipart `inlineContent` (INLINE, MARKDOWN) or `file` (FILE).
async fn set_content(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    Path((api_id, document_id)): Path<(String, String)>,
    MultipartForm(mut multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    publisher_api(&state, &api_id).await?;
    let mut doc = load_document(&state, &api_id, &document_id).await?;
    let mut given = false;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name().unwrap_or_default() {
            "inlineContent" => {
                if !matches!(doc.source_type.as_str(), "INLINE" | "MARKDOWN") {
                    return Err(ApiError::BadRequest(format!(
                        "inlineContent: the document's sourceType is {}; inline content is for INLINE and MARKDOWN documents",
                        doc.source_type
                    )));
                }
                let text = field.text().await.map_err(multipart_error)?;
                check_inline(&text)?;
                doc.inline_content = text;
                given = true;
            }
            "file" => {
                if doc.source_type != "FILE" {
                    return Err(ApiError::BadRequest(format!(
                        "file: the document's sourceType is {}; files are for FILE documents",
                        doc.source_type
                    )));
                }
                let name = field
                    .file_name()
                    .map(file_name_only)
                    .unwrap_or_else(|| "document".to_owned());
                let media_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                let bytes = field.bytes().await.map_err(multipart_error)?;
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "file: at most {MAX_FILE_BYTES} bytes"
                    )));
                }
                doc.file_name = name;
                doc.file_media_type = media_type;
                doc.file_content = STANDARD.encode(&bytes);
                given = true;
            }
            _ => {}
        }
    }
    if !given {
        return Err(ApiError::BadRequest(
            "inlineContent or file: one is required".into(),
        ));
    }
    doc.updated_by = user.username;
    documents::update(state.store(), &doc).await?;
    Ok(axum::Json(document_json(&doc)))
}

/// The last path segment of an uploaded file's name, without control characters.
pub(crate) fn file_name_only(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    if cleaned.is_empty() {
        "document".to_owned()
    } else {
        cleaned
    }
}

/// A document's content as a client gets it: text as `text/plain`, a file as an attachment,
/// a URL document as a 303 to it.
pub(crate) fn content_response(doc: &Document) -> ApiResult<Response> {
    let mut response = match doc.source_type.as_str() {
        "URL" => return Ok(Redirect::to(&doc.source_url).into_response()),
        "FILE" => {
            if doc.file_content.is_empty() {
                return Err(ApiError::NotFound(format!(
                    "The document '{}' has no file yet",
                    doc.name
                )));
            }
            let bytes = STANDARD
                .decode(&doc.file_content)
                .map_err(|e| ApiError::Internal(format!("stored document file: {e}")))?;
            let mut response = bytes.into_response();
            let disposition = format!(
                "attachment; filename=\"{}\"",
                doc.file_name.replace(['"', '\\'], "_")
            );
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_str(&doc.file_media_type)
                    .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
            );
            if let Ok(value) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        _ => {
            let mut response = doc.inline_content.clone().into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    };
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

async fn content_publisher(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path((api_id, document_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    publisher_api(&state, &api_id).await?;
    content_response(&load_document(&state, &api_id, &document_id).await?)
}

// ---- Developer Portal ------------------------------------------------------------------------

/// Whether a reader of the Developer Portal sees a document: `API_LEVEL` ones with the API,
/// `PRIVATE` ones only when signed in; `OWNER_ONLY` ones never (they are the publishers').
pub fn shown_in_devportal(doc: &Document, signed_in: bool) -> bool {
    match doc.visibility.as_str() {
        "API_LEVEL" => true,
        "PRIVATE" => signed_in,
        _ => false,
    }
}

async fn list_devportal(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(api_id): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    crate::devportal::apis::load_visible(&state, &api_id, user.as_ref()).await?;
    let all: Vec<Value> = documents::list(state.store(), &api_id)
        .await?
        .iter()
        .filter(|d| shown_in_devportal(d, user.is_some()))
        .map(devportal_document_json)
        .collect();
    let (page, total) = page_of(all, offset, limit);
    Ok(axum::Json(list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("/api/am/devportal/v3/apis/{api_id}/documents"),
    )))
}

async fn devportal_document(
    state: &AppState,
    user: Option<&AuthUser>,
    api_id: &str,
    document_id: &str,
) -> ApiResult<Document> {
    crate::devportal::apis::load_visible(state, api_id, user).await?;
    let doc = load_document(state, api_id, document_id).await?;
    if shown_in_devportal(&doc, user.is_some()) {
        Ok(doc)
    } else {
        Err(ApiError::not_found("document", document_id))
    }
}

async fn get_devportal(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((api_id, document_id)): Path<(String, String)>,
) -> ApiResult<axum::Json<Value>> {
    let doc = devportal_document(&state, user.as_ref(), &api_id, &document_id).await?;
    Ok(axum::Json(devportal_document_json(&doc)))
}

async fn content_devportal(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((api_id, document_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let doc = devportal_document(&state, user.as_ref(), &api_id, &document_id).await?;
    content_response(&doc)
}

// ---- thumbnails ------------------------------------------------------------------------------

/// The image type of `bytes`, read from their signature; none for anything else (SVG
/// included: it can carry script).
pub(crate) fn image_type(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => Some("image/png"),
        [0xff, 0xd8, 0xff, ..] => Some("image/jpeg"),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some("image/gif"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some("image/webp"),
        _ => None,
    }
}

/// `PUT /apis/{apiId}/thumbnail`, multipart `file`.
async fn put_thumbnail(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiCreate>,
    Path(api_id): Path<String>,
    MultipartForm(mut multipart): MultipartForm,
) -> ApiResult<axum::Json<Value>> {
    publisher_api(&state, &api_id).await?;
    let mut image = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        if field.name() == Some("file") {
            image = Some(field.bytes().await.map_err(multipart_error)?);
        }
    }
    let bytes = image.ok_or_else(|| ApiError::BadRequest("file: is required".into()))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ApiError::PayloadTooLarge(format!(
            "file: at most {MAX_FILE_BYTES} bytes"
        )));
    }
    let media_type = image_type(&bytes).ok_or_else(|| {
        ApiError::BadRequest(
            "file: must be a PNG, JPEG, GIF or WebP image (SVG is not accepted)".into(),
        )
    })?;
    documents::put_thumbnail(state.store(), &api_id, media_type, &STANDARD.encode(&bytes)).await?;
    tracing::info!(api_id, by = %user.username, "thumbnail set");
    Ok(axum::Json(json!({
        "relativePath": format!("/apis/{api_id}/thumbnail"),
        "mediaType": media_type,
    })))
}

async fn thumbnail_response(state: &AppState, api_id: &str) -> ApiResult<Response> {
    let found = documents::thumbnail(state.store(), api_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("The API '{api_id}' has no thumbnail")))?;
    let bytes = STANDARD
        .decode(&found.content)
        .map_err(|e| ApiError::Internal(format!("stored thumbnail: {e}")))?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&found.media_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

async fn thumbnail_publisher(
    State(state): State<AppState>,
    _: Scoped<rest_scopes::ApiView>,
    Path(api_id): Path<String>,
) -> ApiResult<Response> {
    publisher_api(&state, &api_id).await?;
    thumbnail_response(&state, &api_id).await
}

async fn thumbnail_devportal(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(api_id): Path<String>,
) -> ApiResult<Response> {
    crate::devportal::apis::load_visible(&state, &api_id, user.as_ref()).await?;
    thumbnail_response(&state, &api_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raster_images_are_thumbnails() {
        assert_eq!(
            image_type(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some("image/png")
        );
        assert_eq!(image_type(b"GIF89a...."), Some("image/gif"));
        assert_eq!(image_type(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<svg onload=alert(1)>"), None);
        assert_eq!(image_type(b""), None);
    }

    #[test]
    fn uploaded_file_names_lose_their_directories_and_quotes() {
        assert_eq!(file_name_only("../../etc/passwd"), "passwd");
        assert_eq!(file_name_only("C:\\x\\a\"b.pdf"), "ab.pdf");
        assert_eq!(file_name_only(""), "document");
    }
}
