//! WSO2's API project format: the archive `apictl` and `/apis/export|import` exchange.
//!
//! A project is a folder (zipped, usually under one `<name>-<version>/` directory) holding
//! `api.yaml` (`type`, `version`, `data`: the API as the Publisher REST API shows it),
//! `Definitions/swagger.yaml`, `deployment_environments.yaml`, `api_meta.yaml` and, with
//! apictl, `params.yaml`. This module reads archives defensively (entry count, sizes and
//! paths are limited before anything is inflated) and writes them; what the parts mean is
//! `publisher::import` and `publisher::export`'s business.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use serde_json::Value;

/// The `version` written in every project file (WSO2 4.7's exporter writes its own version).
pub const FORMAT_VERSION: &str = "v4.7.0";
/// At most this many entries in an archive.
pub const MAX_ENTRIES: usize = 512;
/// At most this many bytes in one entry, inflated.
pub const MAX_ENTRY_BYTES: u64 = 8 * 1024 * 1024;
/// At most this many bytes in all entries together, inflated.
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArchiveError {
    /// Not a zip file at all, or a broken one.
    #[error("file: not a valid zip archive ({0})")]
    NotZip(String),
    /// More entries than [`MAX_ENTRIES`].
    #[error("file: the archive has {0} entries; at most {MAX_ENTRIES} are accepted")]
    TooManyEntries(usize),
    /// An entry, or all of them, inflate past the limits (a zip bomb, or just too big).
    #[error(
        "file: '{0}' inflates past the limit ({MAX_ENTRY_BYTES} bytes per entry, {MAX_TOTAL_BYTES} in all)"
    )]
    TooLarge(String),
    /// An entry whose path is absolute or climbs out of the archive.
    #[error("file: entry '{0}' is not a relative path inside the archive")]
    UnsafePath(String),
    /// Neither `api.yaml` nor `api.json` at the project root.
    #[error(
        "file: the archive has no api.yaml (or api.json) at its root or in one top-level folder"
    )]
    NoApiFile,
    /// The project file of another kind (`api_product.yaml`, `application.yaml`) is missing.
    #[error("file: the archive has no {0} (or .json) at its root or in one top-level folder")]
    NoProjectFile(&'static str),
    /// A project file that is neither YAML nor JSON.
    #[error("{0}: {1}")]
    BadDocument(String, String),
}

/// The files of a project, by path relative to the project root (`Definitions/swagger.yaml`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProjectFiles {
    /// The top-level folder the files were under (`PizzaShackAPI-1.0.0`), if any.
    pub root: Option<String>,
    /// Path → contents.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl ProjectFiles {
    /// Reads a zip archive, refusing unsafe paths and anything inflating past the limits.
    pub fn from_zip(bytes: &[u8]) -> Result<Self, ArchiveError> {
        Self::from_zip_of(bytes, ProjectKind::Api)
    }

    /// Reads a zip archive holding a project of `kind` (rooted where its main file is).
    pub fn from_zip_of(bytes: &[u8], kind: ProjectKind) -> Result<Self, ArchiveError> {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|e| ArchiveError::NotZip(e.to_string()))?;
        if archive.len() > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries(archive.len()));
        }
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        for index in 0..archive.len() {
            let mut entry = archive
                .by_index(index)
                .map_err(|e| ArchiveError::NotZip(e.to_string()))?;
            let name = entry
                .name()
                .map_err(|e| ArchiveError::NotZip(e.to_string()))?
                .replace('\\', "/");
            if !is_safe_path(&name) {
                return Err(ArchiveError::UnsafePath(name));
            }
            if entry.is_dir() {
                continue;
            }
            // The declared size may lie: read at most one byte past what is left.
            let allowed = MAX_ENTRY_BYTES.min(MAX_TOTAL_BYTES - total);
            let mut contents = Vec::new();
            (&mut entry)
                .take(allowed + 1)
                .read_to_end(&mut contents)
                .map_err(|e| ArchiveError::NotZip(format!("{name}: {e}")))?;
            if contents.len() as u64 > allowed {
                return Err(ArchiveError::TooLarge(name));
            }
            total += contents.len() as u64;
            files.insert(name, contents);
        }
        Self::rooted_at(files, kind)
    }

    /// The files of a project given by path (as read from a folder or an archive): finds the
    /// project root (where `api.yaml` is) and makes every path relative to it.
    pub fn rooted(files: BTreeMap<String, Vec<u8>>) -> Result<Self, ArchiveError> {
        Self::rooted_at(files, ProjectKind::Api)
    }

    /// As [`Self::rooted`], for a project of `kind`.
    pub fn rooted_at(
        files: BTreeMap<String, Vec<u8>>,
        kind: ProjectKind,
    ) -> Result<Self, ArchiveError> {
        let is_api_file = |p: &str| kind.main_files().contains(&p);
        if files.keys().any(|p| is_api_file(p)) {
            return Ok(Self { root: None, files });
        }
        let top = files
            .keys()
            .filter_map(|p| p.split_once('/'))
            .find(|(_, rest)| is_api_file(rest))
            .map(|(top, _)| top.to_owned())
            .ok_or(match kind {
                ProjectKind::Api => ArchiveError::NoApiFile,
                other => ArchiveError::NoProjectFile(other.main_files()[0]),
            })?;
        let prefix = format!("{top}/");
        let mut rooted = BTreeMap::new();
        for (path, contents) in files {
            match path.strip_prefix(&prefix) {
                Some(rest) => rooted.insert(rest.to_owned(), contents),
                // Outside the project folder: kept under its own name, reported as unsupported.
                None => rooted.insert(format!("../{path}"), contents),
            };
        }
        Ok(Self {
            root: Some(top),
            files: rooted,
        })
    }

    /// The first of `names` present, parsed as YAML or JSON; `Ok(None)` when none is.
    pub fn document(&self, names: &[&str]) -> Result<Option<(String, Value)>, ArchiveError> {
        for name in names {
            if let Some(bytes) = self.files.get(*name) {
                return parse_document(name, bytes).map(|v| Some(((*name).to_owned(), v)));
            }
        }
        Ok(None)
    }

    /// The project zipped under `root/` (deterministic: sorted paths, fixed timestamps).
    pub fn to_zip(&self, root: &str) -> std::io::Result<Vec<u8>> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        for (path, contents) in &self.files {
            let name = if root.is_empty() {
                path.clone()
            } else {
                format!("{root}/{path}")
            };
            writer.start_file(name, options).map_err(zip_io)?;
            writer.write_all(contents)?;
        }
        Ok(writer.finish().map_err(zip_io)?.into_inner())
    }
}

fn zip_io(e: zip::result::ZipError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Relative, no `..`, no drive letters or NUL: safe to name a file under a folder.
fn is_safe_path(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\0')
        && !name.contains(':')
        && name.split('/').all(|part| part != "..")
}

/// Parses a project file: JSON when it is JSON, YAML otherwise.
pub fn parse_document(name: &str, bytes: &[u8]) -> Result<Value, ArchiveError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ArchiveError::BadDocument(name.to_owned(), "is not UTF-8 text".into()))?;
    if name.ends_with(".json") {
        return serde_json::from_str(text).map_err(|e| {
            ArchiveError::BadDocument(name.to_owned(), format!("not valid JSON: {e}"))
        });
    }
    serde_yaml_ng::from_str(text)
        .map_err(|e| ArchiveError::BadDocument(name.to_owned(), format!("not valid YAML: {e}")))
}

/// The kinds of project WSO2 exchanges, each known by its main file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectKind {
    /// `api.yaml`, `type: api`.
    Api,
    /// `api_product.yaml`, `type: api_product` (dependent APIs under `APIs/`).
    ApiProduct,
    /// `application.yaml`, `type: application`.
    Application,
}

impl ProjectKind {
    /// The names the main file may have, the usual one first.
    pub fn main_files(self) -> &'static [&'static str] {
        match self {
            ProjectKind::Api => &["api.yaml", "api.yml", "api.json"],
            ProjectKind::ApiProduct => &["api_product.yaml", "api_product.yml", "api_product.json"],
            ProjectKind::Application => {
                &["application.yaml", "application.yml", "application.json"]
            }
        }
    }

    /// The `type` its main file declares.
    pub fn type_name(self) -> &'static str {
        match self {
            ProjectKind::Api => "api",
            ProjectKind::ApiProduct => "api_product",
            ProjectKind::Application => "application",
        }
    }
}

/// Output format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.yaml` files (the default, as in WSO2).
    Yaml,
    /// `.json` files.
    Json,
}

impl Format {
    /// WSO2's `format` query parameter (`YAML`, the default, or `JSON`, any case).
    pub fn from_query(raw: Option<&str>) -> Result<Self, String> {
        match raw {
            None => Ok(Format::Yaml),
            Some(f) if f.eq_ignore_ascii_case("yaml") => Ok(Format::Yaml),
            Some(f) if f.eq_ignore_ascii_case("json") => Ok(Format::Json),
            Some(other) => Err(format!("format: '{other}' is not one of YAML, JSON")),
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
        }
    }

    /// `value` written in this format (JSON pretty-printed, YAML as serde writes it).
    pub fn write(self, value: &Value) -> Vec<u8> {
        match self {
            Format::Json => {
                let mut text = serde_json::to_vec_pretty(value).unwrap_or_default();
                text.push(b'\n');
                text
            }
            Format::Yaml => serde_yaml_ng::to_string(value)
                .unwrap_or_default()
                .into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, body) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(body).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn finds_the_project_under_one_folder() {
        let bytes = zip_of(&[
            ("Pizza-1.0/api.yaml", b"type: api"),
            ("Pizza-1.0/Definitions/swagger.yaml", b"openapi: 3.0.1"),
        ]);
        let project = ProjectFiles::from_zip(&bytes).unwrap();
        assert_eq!(project.root.as_deref(), Some("Pizza-1.0"));
        assert!(project.files.contains_key("Definitions/swagger.yaml"));
    }

    #[test]
    fn refuses_paths_that_climb_out() {
        let bytes = zip_of(&[("api.yaml", b"type: api"), ("../../etc/passwd", b"x")]);
        assert_eq!(
            ProjectFiles::from_zip(&bytes).unwrap_err(),
            ArchiveError::UnsafePath("../../etc/passwd".into())
        );
        let bytes = zip_of(&[("/abs/api.yaml", b"type: api")]);
        assert!(matches!(
            ProjectFiles::from_zip(&bytes).unwrap_err(),
            ArchiveError::UnsafePath(_)
        ));
    }

    #[test]
    fn refuses_an_entry_that_inflates_past_the_limit() {
        let big = vec![0u8; (MAX_ENTRY_BYTES + 1) as usize];
        let bytes = zip_of(&[("api.yaml", b"type: api"), ("bomb.bin", &big)]);
        // Deflate shrinks zeros ~1000x: a small upload, refused before it is kept.
        assert!(bytes.len() < 64 * 1024);
        assert_eq!(
            ProjectFiles::from_zip(&bytes).unwrap_err(),
            ArchiveError::TooLarge("bomb.bin".into())
        );
    }

    #[test]
    fn refuses_non_zips_and_projects_without_api_yaml() {
        assert!(matches!(
            ProjectFiles::from_zip(b"not a zip").unwrap_err(),
            ArchiveError::NotZip(_)
        ));
        let bytes = zip_of(&[("x/readme.md", b"hi")]);
        assert_eq!(
            ProjectFiles::from_zip(&bytes).unwrap_err(),
            ArchiveError::NoApiFile
        );
    }

    #[test]
    fn writes_what_it_reads() {
        let mut project = ProjectFiles::default();
        project
            .files
            .insert("api.yaml".into(), b"type: api\n".to_vec());
        let bytes = project.to_zip("A-1").unwrap();
        let read = ProjectFiles::from_zip(&bytes).unwrap();
        assert_eq!(read.files, project.files);
        assert_eq!(project.to_zip("A-1").unwrap(), bytes, "deterministic");
    }
}
