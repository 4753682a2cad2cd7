//! The `Docs/` and `Image/` parts of a WSO2 API project: each document as
//! `Docs/<name>/document.yaml` (`type: document`, `data`: the `Document` as the Publisher
//! shows it) beside its content (inline or Markdown text in a file named after the document,
//! an uploaded file under its own name), and the thumbnail as `Image/icon.<ext>`.
//!
//! Reading checks every document as `POST /apis/{apiId}/documents` would, before the import
//! changes anything; [`apply`] then makes the API's documents those of the project.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gantry_store::documents::{self, Document};
use serde_json::{Value, json};

use super::export::file_safe;
use crate::AppState;
use crate::documents::{
    DocumentRequest, MAX_FILE_BYTES, check_inline, document_json, file_name_only, image_type,
    new_document,
};
use crate::error::{ApiError, ApiResult};
use crate::project::{FORMAT_VERSION, Format, ProjectFiles, parse_document};

const META_FILES: [&str; 3] = ["document.yaml", "document.yml", "document.json"];

/// The documents and thumbnail a project carries, checked.
#[derive(Debug, Default)]
pub struct ProjectDocs {
    /// Whether the project has a `Docs/` folder at all (without one, an import leaves the
    /// API's documents alone).
    pub present: bool,
    /// Each document as it will be stored (its id, API and authors set when applied).
    pub documents: Vec<Document>,
    /// The thumbnail: media type and bytes.
    pub thumbnail: Option<(&'static str, Vec<u8>)>,
    /// The project paths read here.
    pub read: Vec<String>,
    /// Parts read but not taken, with the reason (reported as unsupported).
    pub skipped: Vec<String>,
}

/// Adds `api_id`'s documents and thumbnail to `project`.
pub(crate) async fn export(
    state: &AppState,
    api_id: &str,
    format: Format,
    project: &mut ProjectFiles,
) -> ApiResult<()> {
    let ext = format.extension();
    for doc in documents::list(state.store(), api_id).await? {
        let folder = format!("Docs/{}", file_safe(&doc.name));
        let document =
            json!({"type": "document", "version": FORMAT_VERSION, "data": document_json(&doc)});
        project
            .files
            .insert(format!("{folder}/document.{ext}"), format.write(&document));
        match doc.source_type.as_str() {
            "INLINE" | "MARKDOWN" => {
                project.files.insert(
                    format!("{folder}/{}", file_safe(&doc.name)),
                    doc.inline_content.clone().into_bytes(),
                );
            }
            "FILE" if !doc.file_content.is_empty() => {
                let bytes = STANDARD
                    .decode(&doc.file_content)
                    .map_err(|e| ApiError::Internal(format!("stored document file: {e}")))?;
                project
                    .files
                    .insert(format!("{folder}/{}", file_safe(&doc.file_name)), bytes);
            }
            _ => {}
        }
    }
    if let Some(thumbnail) = documents::thumbnail(state.store(), api_id).await? {
        let ext = match thumbnail.media_type.as_str() {
            "image/jpeg" => "jpg",
            "image/gif" => "gif",
            "image/webp" => "webp",
            _ => "png",
        };
        let bytes = STANDARD
            .decode(&thumbnail.content)
            .map_err(|e| ApiError::Internal(format!("stored thumbnail: {e}")))?;
        project.files.insert(format!("Image/icon.{ext}"), bytes);
    }
    Ok(())
}

/// Reads and checks `Docs/` and `Image/`; a folder under `Docs/` without `document.yaml`
/// is left unread (reported as unsupported by the caller).
pub(crate) fn read(project: &ProjectFiles) -> ApiResult<ProjectDocs> {
    let mut docs = ProjectDocs::default();
    let mut folders: BTreeMap<&str, Vec<(&str, &[u8])>> = BTreeMap::new();
    for (path, bytes) in &project.files {
        if let Some((folder, file)) = path
            .strip_prefix("Docs/")
            .and_then(|rest| rest.split_once('/'))
        {
            folders
                .entry(folder)
                .or_default()
                .push((file, bytes.as_slice()));
        }
    }
    docs.present = project.files.keys().any(|p| p.starts_with("Docs/"));
    for (folder, files) in folders {
        let Some((meta_name, meta)) = files.iter().find(|(f, _)| META_FILES.contains(f)) else {
            continue;
        };
        let at = format!("Docs/{folder}/{meta_name}");
        let document = parse_document(meta_name, meta)
            .map_err(|e| ApiError::BadRequest(format!("Docs/{folder}/{e}")))?;
        let data = document.get("data").cloned().unwrap_or(Value::Null);
        let request: DocumentRequest = serde_json::from_value(data)
            .map_err(|e| ApiError::BadRequest(format!("{at}: data: {e}")))?;
        let mut doc = new_document("", "");
        crate::documents::apply(request, &mut doc).map_err(|e| in_file(&at, e))?;
        let content = files
            .iter()
            .filter(|(f, _)| !META_FILES.contains(f))
            .max_by_key(|(f, _)| *f == doc.name || *f == file_safe(&doc.name));
        match (doc.source_type.as_str(), content) {
            ("INLINE" | "MARKDOWN", Some((file, bytes))) => {
                let text = std::str::from_utf8(bytes).map_err(|_| {
                    ApiError::BadRequest(format!("Docs/{folder}/{file}: is not UTF-8 text"))
                })?;
                check_inline(text).map_err(|e| in_file(&at, e))?;
                doc.inline_content = text.to_owned();
                docs.read.push(format!("Docs/{folder}/{file}"));
            }
            ("FILE", Some((file, bytes))) => {
                if bytes.len() > MAX_FILE_BYTES {
                    return Err(ApiError::PayloadTooLarge(format!(
                        "Docs/{folder}/{file}: at most {MAX_FILE_BYTES} bytes"
                    )));
                }
                doc.file_name = file_name_only(file);
                doc.file_media_type = media_type_of(file).to_owned();
                doc.file_content = STANDARD.encode(bytes);
                docs.read.push(format!("Docs/{folder}/{file}"));
            }
            _ => {}
        }
        docs.read.push(at);
        if docs
            .documents
            .iter()
            .any(|d| d.name.eq_ignore_ascii_case(&doc.name))
        {
            return Err(ApiError::BadRequest(format!(
                "Docs/{folder}: a second document named '{}'",
                doc.name
            )));
        }
        docs.documents.push(doc);
    }
    let images: Vec<(&String, &Vec<u8>)> = project
        .files
        .iter()
        .filter(|(p, _)| p.starts_with("Image/"))
        .collect();
    if let Some((path, bytes)) = images.first() {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "{path}: at most {MAX_FILE_BYTES} bytes"
            )));
        }
        // Not an image Gantry serves (an SVG, say): named, and the import goes on.
        match image_type(bytes) {
            Some(media_type) => docs.thumbnail = Some((media_type, bytes.to_vec())),
            None => docs.skipped.push(format!(
                "{path} (not a PNG, JPEG, GIF or WebP image: no thumbnail set)"
            )),
        }
        docs.read.push((*path).clone());
    }
    Ok(docs)
}

fn in_file(at: &str, e: ApiError) -> ApiError {
    match e {
        ApiError::BadRequest(m) => ApiError::BadRequest(format!("{at}: data.{m}")),
        ApiError::PayloadTooLarge(m) => ApiError::PayloadTooLarge(format!("{at}: data.{m}")),
        other => other,
    }
}

/// The media type a document file is served with, by its extension.
fn media_type_of(file: &str) -> &'static str {
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("md") => "text/markdown",
        Some("json") => "application/json",
        Some("yaml" | "yml") => "application/yaml",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Makes `api_id`'s documents those of the project (kept by name: a document of the same
/// name keeps its id; one the project lacks is deleted) and sets its thumbnail.
pub(crate) async fn apply(
    state: &AppState,
    api_id: &str,
    by: &str,
    docs: &ProjectDocs,
) -> ApiResult<()> {
    if docs.present {
        let existing = documents::list(state.store(), api_id).await?;
        for wanted in &docs.documents {
            let current = existing
                .iter()
                .find(|d| d.name.eq_ignore_ascii_case(&wanted.name));
            match current {
                Some(current) => {
                    let doc = Document {
                        id: current.id.clone(),
                        api_id: api_id.to_owned(),
                        created_at: current.created_at,
                        created_by: current.created_by.clone(),
                        updated_by: by.to_owned(),
                        ..wanted.clone()
                    };
                    documents::update(state.store(), &doc).await?;
                }
                None => {
                    let fresh = new_document(api_id, by);
                    let doc = Document {
                        id: fresh.id,
                        api_id: api_id.to_owned(),
                        created_at: fresh.created_at,
                        created_by: fresh.created_by,
                        updated_at: fresh.updated_at,
                        updated_by: fresh.updated_by,
                        ..wanted.clone()
                    };
                    documents::insert(state.store(), &doc).await?;
                }
            }
        }
        for stale in existing.iter().filter(|d| {
            !docs
                .documents
                .iter()
                .any(|w| w.name.eq_ignore_ascii_case(&d.name))
        }) {
            documents::delete(state.store(), api_id, &stale.id).await?;
        }
    }
    if let Some((media_type, bytes)) = &docs.thumbnail {
        documents::put_thumbnail(state.store(), api_id, media_type, &STANDARD.encode(bytes))
            .await?;
    }
    Ok(())
}
