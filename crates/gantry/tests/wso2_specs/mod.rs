//! WSO2 API Manager 4.7's own OpenAPI documents, read from the team's reference copies
//! (`GANTRY_WSO2_SPECS`, or `../shared/reference/wso2-specs/v4.7.0` beside the checkout, or
//! `/work/shared/reference/wso2-specs/v4.7.0`), as JSON the schema checker reads. Shared by
//! the tests that check responses against WSO2's schemas.

use std::path::PathBuf;

use serde_json::{Map, Value};

/// Where the reference copies are, if anywhere.
pub fn specs_dir() -> Option<PathBuf> {
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

/// YAML → JSON, with map keys (WSO2 writes status codes as integers) turned into strings.
pub fn to_json(value: serde_yaml_ng::Value) -> Value {
    use serde_yaml_ng::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        Y::Number(n) => n.to_string(),
                        Y::Bool(b) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Y::Tagged(tagged) => to_json(tagged.value),
    }
}

/// WSO2's document `file` (e.g. `publisher-api.yaml`) as JSON, when the copies are there.
#[allow(dead_code)] // not every test that includes this module reads whole documents
pub fn document(file: &str) -> Option<Value> {
    let text = std::fs::read_to_string(specs_dir()?.join(file)).ok()?;
    Some(to_json(serde_yaml_ng::from_str(&text).ok()?))
}
