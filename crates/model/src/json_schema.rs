//! The one JSON Schema validator: the draft-7 validation keywords for types, objects,
//! arrays, strings, numbers and combinators, compiled once. The `jsonSchemaValidator`
//! policy compiles strictly: keywords it does not enforce (`$ref`, `if`, …) are refused,
//! so a schema never passes a body it was meant to refuse. Schemas written elsewhere (MCP
//! tools' `inputSchema`s, the AI `jsonSchemaGuardrail`) compile leniently: such keywords
//! are skipped, as other MCP servers skip them.

use regex::Regex;
use serde_json::Value;

use crate::InvalidField;

/// A compiled schema.
#[derive(Debug, Clone, Default)]
pub struct JsonSchema {
    types: Vec<String>,
    properties: Vec<(String, JsonSchema)>,
    required: Vec<String>,
    additional: Option<Additional>,
    items: Option<Box<JsonSchema>>,
    enumeration: Option<Vec<Value>>,
    constant: Option<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    exclusive_minimum: Option<f64>,
    exclusive_maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<Regex>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    unique_items: bool,
    min_properties: Option<u64>,
    max_properties: Option<u64>,
    all_of: Vec<JsonSchema>,
    any_of: Vec<JsonSchema>,
    one_of: Vec<JsonSchema>,
    not: Option<Box<JsonSchema>>,
    never: bool,
}

#[derive(Debug, Clone)]
enum Additional {
    Forbidden,
    Schema(Box<JsonSchema>),
}

/// The first place a document breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Where, as a JSON path (`$.items[2].name`).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

const ANNOTATIONS: &[&str] = &[
    "$schema",
    "$id",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "format",
    "readOnly",
    "writeOnly",
    "definitions",
    "$defs",
];

/// How strictly a schema is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Every keyword is enforced or refused.
    Strict,
    /// Keywords not enforced, and malformed ones other than `type` and `pattern`, are skipped.
    Lenient,
}

impl JsonSchema {
    /// Compiles `schema`, refusing what it would not enforce; errors name the keyword
    /// (`properties.name.type`).
    pub fn compile(schema: &Value) -> Result<Self, InvalidField> {
        Self::read(schema, Reading::Strict)
    }

    /// Compiles a schema written for other validators (an MCP tool's `inputSchema`, a
    /// guardrail's): keywords it does not enforce, and malformed keywords other than `type`
    /// and `pattern`, are skipped; an unknown type or a bad pattern is still an error.
    pub fn compile_lenient(schema: &Value) -> Result<Self, InvalidField> {
        Self::read(schema, Reading::Lenient)
    }

    fn read(schema: &Value, reading: Reading) -> Result<Self, InvalidField> {
        let object = match schema {
            Value::Bool(true) => return Ok(Self::default()),
            Value::Bool(false) => {
                return Ok(Self {
                    never: true,
                    ..Self::default()
                });
            }
            Value::Object(object) => object,
            _ if reading == Reading::Lenient => return Ok(Self::default()),
            _ => {
                return Err(InvalidField::new(
                    "schema",
                    "must be an object or a boolean",
                ));
            }
        };
        let mut out = Self::default();
        // Draft 4 and OpenAPI 3.0 write `exclusiveMinimum: true` beside `minimum`.
        let (mut exclusive_min_flag, mut exclusive_max_flag) = (false, false);
        for (keyword, value) in object {
            let read = |s: &Value| Self::read(s, reading);
            let bad = |reason: &str| InvalidField::new(keyword.clone(), reason.to_owned());
            let count = || {
                value
                    .as_u64()
                    .ok_or_else(|| bad("must be a non-negative integer"))
            };
            let number = || value.as_f64().ok_or_else(|| bad("must be a number"));
            let list = || {
                value
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| bad("must be a non-empty array of schemas"))?
                    .iter()
                    .enumerate()
                    .map(|(i, s)| read(s).map_err(|e| e.within(&format!("{keyword}[{i}]"))))
                    .collect::<Result<Vec<_>, _>>()
            };
            let compiled = (|| -> Result<(), InvalidField> {
                match keyword.as_str() {
                    "type" => {
                        out.types = match value {
                            Value::String(t) => vec![t.clone()],
                            Value::Array(ts) => ts
                                .iter()
                                .map(|t| t.as_str().map(str::to_owned))
                                .collect::<Option<_>>()
                                .ok_or_else(|| bad("must be a type name or a list of them"))?,
                            _ => return Err(bad("must be a type name or a list of them")),
                        };
                        if let Some(t) = out.types.iter().find(|t| {
                            !matches!(
                                t.as_str(),
                                "object"
                                    | "array"
                                    | "string"
                                    | "number"
                                    | "integer"
                                    | "boolean"
                                    | "null"
                            )
                        }) {
                            return Err(bad(&format!("'{t}' is not a JSON Schema type")));
                        }
                    }
                    "properties" => {
                        let props = value.as_object().ok_or_else(|| bad("must be an object"))?;
                        for (name, s) in props {
                            let compiled =
                                read(s).map_err(|e| e.within(&format!("properties.{name}")))?;
                            out.properties.push((name.clone(), compiled));
                        }
                    }
                    "required" => {
                        out.required = value
                            .as_array()
                            .and_then(|a| a.iter().map(|n| n.as_str().map(str::to_owned)).collect())
                            .ok_or_else(|| bad("must be an array of property names"))?;
                    }
                    "additionalProperties" => {
                        out.additional = match value {
                            Value::Bool(true) => None,
                            Value::Bool(false) => Some(Additional::Forbidden),
                            other => Some(Additional::Schema(Box::new(
                                read(other).map_err(|e| e.within(keyword))?,
                            ))),
                        };
                    }
                    "items" => {
                        if value.is_array() {
                            return Err(bad(
                                "tuple items (an array) are not supported; use one schema",
                            ));
                        }
                        out.items = Some(Box::new(read(value).map_err(|e| e.within(keyword))?));
                    }
                    "enum" => {
                        out.enumeration = Some(
                            value
                                .as_array()
                                .cloned()
                                .ok_or_else(|| bad("must be an array"))?,
                        );
                    }
                    "const" => out.constant = Some(value.clone()),
                    "minimum" => out.minimum = Some(number()?),
                    "maximum" => out.maximum = Some(number()?),
                    "exclusiveMinimum" => match value {
                        Value::Bool(flag) => exclusive_min_flag = *flag,
                        _ => out.exclusive_minimum = Some(number()?),
                    },
                    "exclusiveMaximum" => match value {
                        Value::Bool(flag) => exclusive_max_flag = *flag,
                        _ => out.exclusive_maximum = Some(number()?),
                    },
                    "minLength" => out.min_length = Some(count()?),
                    "maxLength" => out.max_length = Some(count()?),
                    "minItems" => out.min_items = Some(count()?),
                    "maxItems" => out.max_items = Some(count()?),
                    "minProperties" => out.min_properties = Some(count()?),
                    "maxProperties" => out.max_properties = Some(count()?),
                    "uniqueItems" => {
                        out.unique_items =
                            value.as_bool().ok_or_else(|| bad("must be a boolean"))?;
                    }
                    "pattern" => {
                        let pattern = value.as_str().ok_or_else(|| bad("must be a string"))?;
                        out.pattern = Some(
                            regex::RegexBuilder::new(pattern)
                                .size_limit(1 << 20)
                                .build()
                                .map_err(|e| {
                                    bad(&format!("is not a valid regular expression: {e}"))
                                })?,
                        );
                    }
                    "allOf" => out.all_of = list()?,
                    "anyOf" => out.any_of = list()?,
                    "oneOf" => out.one_of = list()?,
                    "not" => out.not = Some(Box::new(read(value).map_err(|e| e.within(keyword))?)),
                    k if ANNOTATIONS.contains(&k) => {}
                    other => {
                        return Err(InvalidField::new(
                            other,
                            "is not a keyword this validator enforces (supported: type, properties, required, additionalProperties, items, enum, const, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern, minItems, maxItems, uniqueItems, minProperties, maxProperties, allOf, anyOf, oneOf, not)",
                        ));
                    }
                }
                Ok(())
            })();
            match compiled {
                // Leniently, a keyword's own problem skips it (a nested schema's problems
                // are its `type` or `pattern`, which stand).
                Err(error)
                    if reading == Reading::Lenient
                        && error.field == *keyword
                        && !matches!(keyword.as_str(), "type" | "pattern") => {}
                other => other?,
            }
        }
        if exclusive_min_flag && let Some(minimum) = out.minimum.take() {
            out.exclusive_minimum = Some(minimum);
        }
        if exclusive_max_flag && let Some(maximum) = out.maximum.take() {
            out.exclusive_maximum = Some(maximum);
        }
        Ok(out)
    }

    /// The first violation of the schema in `doc`, if any; paths start at `$`.
    pub fn validate(&self, doc: &Value) -> Result<(), Violation> {
        self.validate_at(doc, "$")
    }

    /// The first violation of the schema in `doc`, with paths starting at `root` (an MCP
    /// tool's `arguments`).
    pub fn validate_at(&self, doc: &Value, root: &str) -> Result<(), Violation> {
        self.check(doc, &mut String::from(root))
    }

    fn check(&self, doc: &Value, path: &mut String) -> Result<(), Violation> {
        let fail = |path: &str, message: String| {
            Err(Violation {
                path: path.to_owned(),
                message,
            })
        };
        if self.never {
            return fail(path, "no value is allowed here".to_owned());
        }
        if !self.types.is_empty() && !self.types.iter().any(|t| is_type(doc, t)) {
            return fail(
                path,
                format!(
                    "{} found, {} expected",
                    type_of(doc),
                    self.types.join(" or ")
                ),
            );
        }
        if let Some(values) = &self.enumeration
            && !values.iter().any(|v| equal(v, doc))
        {
            return fail(path, format!("{doc} is not one of the allowed values"));
        }
        if let Some(value) = &self.constant
            && !equal(value, doc)
        {
            return fail(path, format!("must be {value}"));
        }
        match doc {
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or(f64::NAN);
                if self.minimum.is_some_and(|m| n < m)
                    || self.exclusive_minimum.is_some_and(|m| n <= m)
                {
                    return fail(path, format!("{n} is below the minimum"));
                }
                if self.maximum.is_some_and(|m| n > m)
                    || self.exclusive_maximum.is_some_and(|m| n >= m)
                {
                    return fail(path, format!("{n} is above the maximum"));
                }
            }
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if self.min_length.is_some_and(|m| len < m) {
                    return fail(
                        path,
                        format!("shorter than {} characters", self.min_length.unwrap_or(0)),
                    );
                }
                if self.max_length.is_some_and(|m| len > m) {
                    return fail(
                        path,
                        format!("longer than {} characters", self.max_length.unwrap_or(0)),
                    );
                }
                if let Some(pattern) = &self.pattern
                    && !pattern.is_match(s)
                {
                    return fail(
                        path,
                        format!("does not match the pattern {}", pattern.as_str()),
                    );
                }
            }
            Value::Array(items) => {
                let len = items.len() as u64;
                if self.min_items.is_some_and(|m| len < m) {
                    return fail(
                        path,
                        format!("fewer than {} items", self.min_items.unwrap_or(0)),
                    );
                }
                if self.max_items.is_some_and(|m| len > m) {
                    return fail(
                        path,
                        format!("more than {} items", self.max_items.unwrap_or(0)),
                    );
                }
                if self.unique_items
                    && items
                        .iter()
                        .enumerate()
                        .any(|(i, a)| items[..i].iter().any(|b| equal(a, b)))
                {
                    return fail(path, "items are not unique".to_owned());
                }
                if let Some(schema) = &self.items {
                    for (i, item) in items.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        schema.check(item, path)?;
                        path.truncate(len);
                    }
                }
            }
            Value::Object(object) => {
                let len = object.len() as u64;
                if self.min_properties.is_some_and(|m| len < m) {
                    return fail(
                        path,
                        format!("fewer than {} properties", self.min_properties.unwrap_or(0)),
                    );
                }
                if self.max_properties.is_some_and(|m| len > m) {
                    return fail(
                        path,
                        format!("more than {} properties", self.max_properties.unwrap_or(0)),
                    );
                }
                if let Some(missing) = self.required.iter().find(|r| !object.contains_key(*r)) {
                    return fail(path, format!("required property '{missing}' is missing"));
                }
                for (name, value) in object {
                    let len = path.len();
                    path.push('.');
                    path.push_str(name);
                    match self.properties.iter().find(|(n, _)| n == name) {
                        Some((_, schema)) => schema.check(value, path)?,
                        None => match self.additional.as_ref() {
                            Some(Additional::Forbidden) => {
                                return fail(path, "is not an allowed property".to_owned());
                            }
                            Some(Additional::Schema(schema)) => schema.check(value, path)?,
                            None => {}
                        },
                    }
                    path.truncate(len);
                }
            }
            _ => {}
        }
        for schema in &self.all_of {
            schema.check(doc, path)?;
        }
        if !self.any_of.is_empty()
            && !self
                .any_of
                .iter()
                .any(|s| s.check(doc, &mut path.clone()).is_ok())
        {
            return fail(path, "matches none of anyOf".to_owned());
        }
        if !self.one_of.is_empty() {
            let matching = self
                .one_of
                .iter()
                .filter(|s| s.check(doc, &mut path.clone()).is_ok())
                .count();
            if matching != 1 {
                return fail(
                    path,
                    format!("matches {matching} of oneOf, not exactly one"),
                );
            }
        }
        if let Some(schema) = &self.not
            && schema.check(doc, &mut path.clone()).is_ok()
        {
            return fail(path, "matches a schema it must not (not)".to_owned());
        }
        Ok(())
    }
}

fn is_type(doc: &Value, t: &str) -> bool {
    match t {
        "object" => doc.is_object(),
        "array" => doc.is_array(),
        "string" => doc.is_string(),
        "number" => doc.is_number(),
        "integer" => doc.as_f64().is_some_and(|n| n.fract() == 0.0),
        "boolean" => doc.is_boolean(),
        "null" => doc.is_null(),
        _ => false,
    }
}

fn type_of(doc: &Value) -> &'static str {
    match doc {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_name_the_path_and_the_rule() {
        let schema = JsonSchema::compile(&json!({
            "type": "object", "required": ["name", "qty"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 2, "pattern": "^[a-z]+$"},
                "qty": {"type": "integer", "minimum": 1, "maximum": 10},
                "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": true}
            }
        }))
        .unwrap();
        schema
            .validate(&json!({"name": "pizza", "qty": 2, "tags": ["a"]}))
            .unwrap();
        let err = |doc| schema.validate(&doc).unwrap_err().to_string();
        assert_eq!(
            err(json!({"name": "pizza"})),
            "$: required property 'qty' is missing"
        );
        assert_eq!(
            err(json!({"name": "pizza", "qty": 11})),
            "$.qty: 11 is above the maximum"
        );
        assert_eq!(
            err(json!({"name": 3, "qty": 1})),
            "$.name: number found, string expected"
        );
        assert_eq!(
            err(json!({"name": "pizza", "qty": 1, "x": 1})),
            "$.x: is not an allowed property"
        );
        assert!(
            err(json!({"name": "pizza", "qty": 1, "tags": ["a", "c"]})).starts_with("$.tags[1]")
        );
        assert!(err(json!([])).contains("array found, object expected"));
    }

    #[test]
    fn read_leniently_unenforced_keywords_are_skipped_but_types_and_patterns_stand() {
        // An MCP tool's schema, OpenAPI-flavoured: `example`, `$ref`, tuple items, a
        // draft-4 boolean `exclusiveMinimum`.
        let schema = JsonSchema::compile_lenient(&json!({
            "type": "object", "required": ["id"], "additionalProperties": false, "example": {},
            "properties": {
                "id": {"type": "integer", "minimum": 0, "exclusiveMinimum": true},
                "status": {"type": "string", "enum": ["open", "closed"], "x-order": 1},
                "pair": {"type": "array", "items": [{"type": "string"}]},
                "owner": {"$ref": "#/components/schemas/Owner"}
            }
        }))
        .unwrap();
        schema
            .validate_at(&json!({"id": 3, "pair": [1], "owner": 7}), "arguments")
            .unwrap();
        let err = |doc| {
            schema
                .validate_at(&doc, "arguments")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(json!({"status": "open"})),
            "arguments: required property 'id' is missing"
        );
        assert_eq!(
            err(json!({"id": "3"})),
            "arguments.id: string found, integer expected"
        );
        assert!(
            err(json!({"id": 0})).contains("below the minimum"),
            "exclusive"
        );
        assert_eq!(
            err(json!({"id": 1, "other": true})),
            "arguments.other: is not an allowed property"
        );
        assert!(JsonSchema::compile_lenient(&json!({"type": "thing"})).is_err());
        let e = JsonSchema::compile_lenient(&json!({"properties": {"a": {"pattern": "("}}}))
            .unwrap_err();
        assert_eq!(e.field, "properties.a.pattern");
        // Strictly, the same schema is refused at its first unenforced keyword.
        assert!(JsonSchema::compile(&json!({"type": "object", "example": {}})).is_err());
        // Anything but an object or a boolean accepts every value, leniently.
        JsonSchema::compile_lenient(&json!("any"))
            .unwrap()
            .validate(&json!(1))
            .unwrap();
    }

    #[test]
    fn keywords_it_cannot_enforce_are_refused() {
        let e = JsonSchema::compile(&json!({"properties": {"a": {"$ref": "#/x"}}})).unwrap_err();
        assert_eq!(e.field, "properties.a.$ref");
        assert!(JsonSchema::compile(&json!({"type": "text"})).is_err());
        assert!(JsonSchema::compile(&json!({"pattern": "("})).is_err());
        let one =
            JsonSchema::compile(&json!({"oneOf": [{"type": "integer"}, {"minimum": 5}]})).unwrap();
        assert!(one.validate(&json!(3)).is_ok());
        assert!(one.validate(&json!(7)).is_err());
    }
}
