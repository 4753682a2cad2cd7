//! Checks JSON responses against OpenAPI 3.0 documents: Gantry's own served documents and
//! WSO2's published ones. The subset both use: `$ref`, `allOf`, `oneOf`/`anyOf`, `type`,
//! `nullable`, `required`, `properties`, `items`, `enum`.

use serde_json::Value;

/// How `null` is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// Only where the schema says `nullable: true` (Gantry's documents).
    WhereNullable,
    /// Anywhere an optional field may be (WSO2 itself emits `null` for absent fields; a
    /// required one is still caught).
    AsAbsent,
}

/// Every mismatch of `value` against `schema` in `doc`, each with the JSON path where it is.
pub fn mismatches(doc: &Value, schema: &Value, value: &Value, nulls: Nulls) -> Vec<String> {
    let mut out = Vec::new();
    check(doc, schema, value, "$", nulls, &mut out);
    out
}

fn check(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    nulls: Nulls,
    out: &mut Vec<String>,
) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return check(
            doc,
            &doc["components"]["schemas"][name],
            value,
            at,
            nulls,
            out,
        );
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            check(doc, part, value, at, nulls, out);
        }
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            let fits = parts.iter().any(|part| {
                let mut errors = Vec::new();
                check(doc, part, value, at, nulls, &mut errors);
                errors.is_empty()
            });
            if !fits {
                out.push(format!("{at}: fits none of {key}"));
            }
        }
    }
    if value.is_null() && (nulls == Nulls::AsAbsent || schema["nullable"] == true) {
        return;
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => true,
        };
        if !ok {
            out.push(format!("{at}: expected {kind}, got {value}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    for field in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let missing = match nulls {
            Nulls::AsAbsent => value.get(field).is_none_or(Value::is_null),
            Nulls::WhereNullable => value.get(field).is_none(),
        };
        if missing {
            out.push(format!("{at}: required '{field}' missing in {value}"));
        }
    }
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object(),
    ) {
        for (name, sub) in properties {
            if let Some(v) = object.get(name) {
                check(doc, sub, v, &format!("{at}.{name}"), nulls, out);
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(doc, items, v, &format!("{at}[{i}]"), nulls, out);
        }
    }
}

/// The operation of `doc` for `method path` (lower-case method; path parameters match any
/// segment, a literal segment wins over a parameter, as routers do).
pub fn find_operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    let segments: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .collect();
    let mut best: Option<(usize, &Value)> = None;
    for (template, item) in doc["paths"].as_object()? {
        let parts: Vec<&str> = template.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut literal = 0;
        let fits = parts.iter().zip(&segments).all(|(p, s)| {
            if p.starts_with('{') {
                true
            } else {
                literal += 1;
                p == s
            }
        });
        if let (true, Some(operation)) = (fits, item.get(method))
            && best.is_none_or(|(n, _)| literal > n)
        {
            best = Some((literal, operation));
        }
    }
    best.map(|(_, operation)| operation)
}

/// Where WSO2 4.7's reference OpenAPI documents are, if anywhere: `GANTRY_WSO2_SPECS`, or
/// `../shared/reference/wso2-specs/v4.7.0` beside the checkout, or the team's copy.
pub fn wso2_specs_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("GANTRY_WSO2_SPECS").map(PathBuf::from),
        Some(manifest.join("../../../shared/reference/wso2-specs/v4.7.0")),
        Some(PathBuf::from("/work/shared/reference/wso2-specs/v4.7.0")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|dir| dir.join("publisher-api.yaml").is_file())
}

/// One of WSO2's YAML documents in `dir` as JSON.
pub fn wso2_document(dir: &std::path::Path, file: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(file)).expect("read a WSO2 document");
    yaml_to_json(serde_yaml_ng::from_str(&text).expect("parse a WSO2 document"))
}

/// YAML → JSON, with map keys (WSO2 writes status codes as integers) turned into strings.
pub fn yaml_to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, yaml_to_json(v))
                })
                .collect::<serde_json::Map<_, _>>(),
        ),
        Y::Tagged(tagged) => yaml_to_json(tagged.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nulls_and_refs() {
        let doc = json!({"components": {"schemas": {"A": {"type": "object", "required": ["id"],
            "properties": {"id": {"type": "string"}, "n": {"type": "integer"}}}}}});
        let schema = json!({"$ref": "#/components/schemas/A"});
        assert!(
            mismatches(
                &doc,
                &schema,
                &json!({"id": "x", "n": 1}),
                Nulls::WhereNullable
            )
            .is_empty()
        );
        assert_eq!(
            mismatches(
                &doc,
                &schema,
                &json!({"id": "x", "n": null}),
                Nulls::WhereNullable
            )
            .len(),
            1
        );
        assert!(
            mismatches(
                &doc,
                &schema,
                &json!({"id": "x", "n": null}),
                Nulls::AsAbsent
            )
            .is_empty()
        );
        assert_eq!(
            mismatches(&doc, &schema, &json!({"id": null}), Nulls::AsAbsent).len(),
            1
        );
        assert_eq!(
            mismatches(&doc, &schema, &json!({"id": 3}), Nulls::AsAbsent).len(),
            1
        );
    }

    #[test]
    fn literal_segments_win() {
        let doc = json!({"paths": {"/apis/{id}": {"get": {"operationId": "one"}},
                                   "/apis/export": {"get": {"operationId": "export"}}}});
        assert_eq!(
            find_operation(&doc, "get", "/apis/export").unwrap()["operationId"],
            "export"
        );
        assert_eq!(
            find_operation(&doc, "get", "/apis/42?x=1").unwrap()["operationId"],
            "one"
        );
    }
}
