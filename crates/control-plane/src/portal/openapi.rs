//! "Create from an OpenAPI document" in the Publisher: reads a pasted OpenAPI 3 or Swagger 2
//! document (JSON or YAML) into the create form's fields — name, version, description, endpoint,
//! tags and one operation per path and method — which then go through the ordinary create
//! path, so the model types validate them and the user can fix what they reject.

use serde_json::Value;

/// What a document gives the create form.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// `info.title`.
    pub name: String,
    /// `info.version`.
    pub version: String,
    /// `info.description`.
    pub description: String,
    /// The first absolute server URL (OpenAPI 3) or scheme + host + basePath (Swagger 2).
    pub endpoint: String,
    /// Swagger 2's `basePath`, a context suggestion.
    pub context: String,
    /// Top-level tag names.
    pub tags: Vec<String>,
    /// `VERB /path` lines, `VERB /path open` when the operation needs no security.
    pub operations: Vec<String>,
}

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Reads `document`; the reason when it is not an OpenAPI 3 or Swagger 2 document.
pub fn import(document: &str) -> Result<Imported, String> {
    let doc: Value = match serde_json::from_str(document) {
        Ok(doc) => doc,
        Err(json) => serde_yaml_ng::from_str(document).map_err(|yaml| {
            format!("The document parses neither as JSON ({json}) nor as YAML ({yaml})")
        })?,
    };
    let openapi3 = text(&doc, "/openapi").starts_with('3');
    let swagger2 = text(&doc, "/swagger") == "2.0";
    if !openapi3 && !swagger2 {
        return Err(
            "This is not an OpenAPI 3 (\"openapi\": \"3.x\") or Swagger 2 (\"swagger\": \"2.0\") document."
                .into(),
        );
    }
    let endpoint = if openapi3 {
        doc.pointer("/servers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get("url").and_then(Value::as_str))
            .find(|u| u.starts_with("http://") || u.starts_with("https://"))
            .unwrap_or_default()
            .to_owned()
    } else {
        let host = text(&doc, "/host");
        let scheme = doc
            .pointer("/schemes/0")
            .and_then(Value::as_str)
            .unwrap_or("https");
        if host.is_empty() {
            String::new()
        } else {
            format!("{scheme}://{host}{}", text(&doc, "/basePath"))
        }
    };
    let secured_by_default = doc
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let mut operations = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                // An operation with `security: []` (or none anywhere) is open.
                let open = match op.get("security").and_then(Value::as_array) {
                    Some(list) => list.is_empty(),
                    None => !secured_by_default && doc.get("security").is_some(),
                };
                let verb = method.to_ascii_uppercase();
                operations.push(if open {
                    format!("{verb} {path} open")
                } else {
                    format!("{verb} {path}")
                });
            }
        }
    }
    if operations.is_empty() {
        return Err("The document has no operations under \"paths\".".into());
    }
    Ok(Imported {
        name: text(&doc, "/info/title")
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
            .collect::<String>()
            .trim()
            .to_owned(),
        version: text(&doc, "/info/version"),
        description: text(&doc, "/info/description"),
        endpoint,
        context: if swagger2 {
            text(&doc, "/basePath")
        } else {
            String::new()
        },
        tags: doc
            .get("tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect(),
        operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_openapi_3_document() {
        let doc = r#"{"openapi": "3.0.3",
            "info": {"title": "Pet Store (v1)", "version": "1.0.0", "description": "Pets."},
            "servers": [{"url": "/relative"}, {"url": "https://pets.example/v1"}],
            "tags": [{"name": "pets"}],
            "security": [{"oauth": []}],
            "paths": {"/pets": {"get": {"security": []}, "post": {}},
                      "/pets/{petId}": {"get": {}, "parameters": []}}}"#;
        let imported = import(doc).unwrap();
        assert_eq!(imported.name, "Pet Store v1");
        assert_eq!(imported.version, "1.0.0");
        assert_eq!(imported.endpoint, "https://pets.example/v1");
        assert_eq!(imported.tags, ["pets"]);
        assert_eq!(
            imported.operations,
            ["GET /pets open", "POST /pets", "GET /pets/{petId}"]
        );
    }

    #[test]
    fn reads_a_swagger_2_document() {
        let doc = r#"{"swagger": "2.0", "info": {"title": "Menu", "version": "2"},
            "host": "menu.example", "basePath": "/menu", "schemes": ["http"],
            "paths": {"/items": {"get": {}}}}"#;
        let imported = import(doc).unwrap();
        assert_eq!(imported.endpoint, "http://menu.example/menu");
        assert_eq!(imported.context, "/menu");
        assert_eq!(imported.operations, ["GET /items"]);
    }

    #[test]
    fn explains_what_it_cannot_read() {
        assert!(
            import("{{{ neither")
                .unwrap_err()
                .contains("neither as JSON")
        );
        assert!(
            import("openapi: 3.0.0")
                .unwrap_err()
                .contains("no operations")
        );
        let yaml = import(
            "openapi: 3.0.1\ninfo: {title: Pets, version: v1}\npaths:\n  /pets:\n    get: {}\n",
        )
        .unwrap();
        assert_eq!((yaml.name.as_str(), yaml.operations.len()), ("Pets", 1));
        assert!(import("{}").unwrap_err().contains("OpenAPI 3"));
        assert!(
            import(r#"{"openapi": "3.1.0", "paths": {}}"#)
                .unwrap_err()
                .contains("no operations")
        );
    }
}
