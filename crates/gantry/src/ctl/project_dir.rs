//! API projects on disk for `gantry ctl import` and `apply`: a zip file is sent as it is,
//! a folder is zipped the way the control plane reads archives (one top-level folder,
//! sorted paths, fixed timestamps), so the same folder always gives the same archive.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gantry_control_plane::project::{MAX_ENTRIES, ProjectFiles, ProjectKind};

use super::CtlError;

/// A name safe as a file name.
pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn local(path: &Path, e: impl std::fmt::Display) -> CtlError {
    CtlError::Local(format!("{}: {e}", path.display()))
}

/// Whether `dir` is a project folder (holds `api.yaml` or `api.json`).
pub fn is_project(dir: &Path) -> bool {
    ["api.yaml", "api.yml", "api.json"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

/// The project at `path` (zip file or folder) as a zip archive.
pub fn load(path: &Path) -> Result<Vec<u8>, CtlError> {
    load_of(path, ProjectKind::Api)
}

/// The project of `kind` at `path` (zip file or folder) as a zip archive.
pub fn load_of(path: &Path, kind: ProjectKind) -> Result<Vec<u8>, CtlError> {
    let meta = std::fs::metadata(path).map_err(|e| local(path, e))?;
    if meta.is_file() {
        return std::fs::read(path).map_err(|e| local(path, e));
    }
    let mut files = BTreeMap::new();
    collect(path, path, &mut files)?;
    let project = ProjectFiles::rooted_at(files, kind).map_err(|e| local(path, e))?;
    let root = match &project.root {
        Some(root) => root.clone(),
        None => path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "project".into()),
    };
    project.to_zip(&root).map_err(|e| local(path, e))
}

/// Every file under `dir` by path relative to `base` (`/`-separated); hidden files and
/// folders (`.git`) are left out.
fn collect(base: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) -> Result<(), CtlError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| local(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            collect(base, &entry, files)?;
            continue;
        }
        if files.len() >= MAX_ENTRIES {
            return Err(local(
                base,
                format!("more than {MAX_ENTRIES} files; is this an API project?"),
            ));
        }
        let relative = entry
            .strip_prefix(base)
            .map_err(|e| local(&entry, e))?
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        files.insert(
            relative,
            std::fs::read(&entry).map_err(|e| local(&entry, e))?,
        );
    }
    Ok(())
}

/// The projects `apply` reads from `dir`: `dir` itself when it is one, else each folder in
/// it that is one and each `.zip` in it, sorted by path.
pub fn projects_in(dir: &Path) -> Result<Vec<PathBuf>, CtlError> {
    if is_project(dir) {
        return Ok(vec![dir.to_owned()]);
    }
    let mut projects: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| local(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            (p.is_dir() && is_project(p))
                || (p.is_file() && p.extension().is_some_and(|e| e == "zip"))
        })
        .collect();
    projects.sort();
    Ok(projects)
}
