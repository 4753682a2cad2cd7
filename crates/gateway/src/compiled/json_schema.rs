//! The JSON Schema subset MCP tools' `inputSchema`s and the `jsonSchemaGuardrail` use, compiled once per configuration so
//! a `tools/call` is checked without re-reading the schema: `type`, `properties`, `required`,
//! `additionalProperties`, `items`, `enum`, `const`, numeric and length bounds, `pattern`,
//! `allOf`/`anyOf`/`oneOf`. Other keywords (`format`, `description`, …) are not enforced.

use regex::Regex;
use serde_json::Value;

/// A compiled schema.
#[derive(Debug, Default)]
pub struct Schema {
    types: Option<Vec<Kind>>,
    properties: Vec<(String, Schema)>,
    required: Vec<String>,
    additional: Additional,
    items: Option<Box<Schema>>,
    allowed: Option<Vec<Value>>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<usize>,
    max_length: Option<usize>,
    min_items: Option<usize>,
    max_items: Option<usize>,
    pattern: Option<Regex>,
    all_of: Vec<Schema>,
    any_of: Vec<Schema>,
}

#[derive(Debug, Default)]
enum Additional {
    #[default]
    Any,
    Refused,
    Checked(Box<Schema>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
    String,
    Integer,
    Number,
    Boolean,
    Null,
}

impl Kind {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "object" => Kind::Object,
            "array" => Kind::Array,
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "number" => Kind::Number,
            "boolean" => Kind::Boolean,
            "null" => Kind::Null,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Array => "array",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::Null => "null",
        }
    }

    fn holds(self, v: &Value) -> bool {
        match self {
            Kind::Object => v.is_object(),
            Kind::Array => v.is_array(),
            Kind::String => v.is_string(),
            Kind::Integer => {
                v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            Kind::Number => v.is_number(),
            Kind::Boolean => v.is_boolean(),
            Kind::Null => v.is_null(),
        }
    }
}

impl Schema {
    /// Compiles `schema`; an unknown type name or a pattern that is not a regular expression
    /// is an error naming where it is.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        Self::compile_at(schema, "inputSchema")
    }

    fn compile_at(schema: &Value, at: &str) -> Result<Self, String> {
        let Some(object) = schema.as_object() else {
            // `true` (or anything that is not an object) accepts every value.
            return Ok(Self::default());
        };
        let mut compiled = Self::default();
        match object.get("type") {
            None => {}
            Some(Value::String(name)) => {
                compiled.types =
                    Some(vec![Kind::parse(name).ok_or_else(|| {
                        format!("{at}.type: unknown type '{name}'")
                    })?]);
            }
            Some(Value::Array(names)) => {
                let kinds = names
                    .iter()
                    .map(|n| n.as_str().and_then(Kind::parse))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        format!("{at}.type: unknown type in {}", Value::Array(names.clone()))
                    })?;
                compiled.types = Some(kinds);
            }
            Some(other) => return Err(format!("{at}.type: {other} is not a type")),
        }
        if let Some(properties) = object.get("properties").and_then(Value::as_object) {
            for (name, sub) in properties {
                compiled.properties.push((
                    name.clone(),
                    Self::compile_at(sub, &format!("{at}.properties.{name}"))?,
                ));
            }
        }
        if let Some(required) = object.get("required").and_then(Value::as_array) {
            compiled.required = required
                .iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect();
        }
        compiled.additional = match object.get("additionalProperties") {
            Some(Value::Bool(false)) => Additional::Refused,
            Some(sub @ Value::Object(_)) => Additional::Checked(Box::new(Self::compile_at(
                sub,
                &format!("{at}.additionalProperties"),
            )?)),
            _ => Additional::Any,
        };
        if let Some(items) = object.get("items") {
            compiled.items = Some(Box::new(Self::compile_at(items, &format!("{at}.items"))?));
        }
        if let Some(Value::Array(values)) = object.get("enum") {
            compiled.allowed = Some(values.clone());
        }
        if let Some(value) = object.get("const") {
            compiled.allowed = Some(vec![value.clone()]);
        }
        let number = |name: &str| object.get(name).and_then(Value::as_f64);
        let count = |name: &str| {
            object
                .get(name)
                .and_then(Value::as_u64)
                .and_then(|n| usize::try_from(n).ok())
        };
        compiled.minimum = number("minimum");
        compiled.maximum = number("maximum");
        compiled.min_length = count("minLength");
        compiled.max_length = count("maxLength");
        compiled.min_items = count("minItems");
        compiled.max_items = count("maxItems");
        if let Some(pattern) = object.get("pattern").and_then(Value::as_str) {
            compiled.pattern =
                Some(Regex::new(pattern).map_err(|_| {
                    format!("{at}.pattern: '{pattern}' is not a regular expression")
                })?);
        }
        for (keyword, into) in [("allOf", true), ("anyOf", false), ("oneOf", false)] {
            if let Some(Value::Array(subs)) = object.get(keyword) {
                for (i, sub) in subs.iter().enumerate() {
                    let sub = Self::compile_at(sub, &format!("{at}.{keyword}[{i}]"))?;
                    if into {
                        compiled.all_of.push(sub);
                    } else {
                        compiled.any_of.push(sub);
                    }
                }
            }
        }
        Ok(compiled)
    }

    /// Checks `value` (the tool's `arguments`); the first violation, naming where it is.
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        self.check(value, "arguments")
    }

    /// Checks `value`, naming where a violation is from `at` (`$` for a whole request body).
    pub fn check(&self, value: &Value, at: &str) -> Result<(), String> {
        if let Some(types) = &self.types
            && !types.iter().any(|k| k.holds(value))
        {
            let names: Vec<&str> = types.iter().map(|k| k.name()).collect();
            return Err(format!("{at}: expected {}", names.join(" or ")));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(value)
        {
            return Err(format!(
                "{at}: must be one of {}",
                Value::Array(allowed.clone())
            ));
        }
        match value {
            Value::Object(map) => {
                for name in &self.required {
                    if !map.contains_key(name) {
                        return Err(format!("{at}: '{name}' is required"));
                    }
                }
                for (name, v) in map {
                    let here = format!("{at}.{name}");
                    match self.properties.iter().find(|(n, _)| n == name) {
                        Some((_, schema)) => schema.check(v, &here)?,
                        None => match &self.additional {
                            Additional::Any => {}
                            Additional::Refused => {
                                return Err(format!(
                                    "{at}: '{name}' is not an argument of this tool"
                                ));
                            }
                            Additional::Checked(schema) => schema.check(v, &here)?,
                        },
                    }
                }
            }
            Value::Array(items) => {
                if self.min_items.is_some_and(|n| items.len() < n) {
                    return Err(format!("{at}: too few items"));
                }
                if self.max_items.is_some_and(|n| items.len() > n) {
                    return Err(format!("{at}: too many items"));
                }
                if let Some(schema) = &self.items {
                    for (i, item) in items.iter().enumerate() {
                        schema.check(item, &format!("{at}[{i}]"))?;
                    }
                }
            }
            Value::String(text) => {
                let chars = text.chars().count();
                if self.min_length.is_some_and(|n| chars < n) {
                    return Err(format!("{at}: too short"));
                }
                if self.max_length.is_some_and(|n| chars > n) {
                    return Err(format!("{at}: too long"));
                }
                if let Some(pattern) = &self.pattern
                    && !pattern.is_match(text)
                {
                    return Err(format!("{at}: does not match '{}'", pattern.as_str()));
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or(f64::NAN);
                if self.minimum.is_some_and(|m| n < m) {
                    return Err(format!("{at}: below the minimum"));
                }
                if self.maximum.is_some_and(|m| n > m) {
                    return Err(format!("{at}: above the maximum"));
                }
            }
            _ => {}
        }
        for schema in &self.all_of {
            schema.check(value, at)?;
        }
        if !self.any_of.is_empty() && !self.any_of.iter().any(|s| s.check(value, at).is_ok()) {
            return Err(format!("{at}: matches none of the allowed shapes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_types_required_and_unknown_arguments() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "status": {"type": "string", "enum": ["open", "closed"]},
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["id"],
            "additionalProperties": false
        }))
        .unwrap();
        schema.validate(&json!({"id": 3, "tags": ["a"]})).unwrap();
        assert_eq!(
            schema.validate(&json!({"status": "open"})).unwrap_err(),
            "arguments: 'id' is required"
        );
        assert_eq!(
            schema.validate(&json!({"id": "3"})).unwrap_err(),
            "arguments.id: expected integer"
        );
        assert!(schema.validate(&json!({"id": 0})).is_err());
        assert!(
            schema
                .validate(&json!({"id": 1, "status": "lost"}))
                .is_err()
        );
        assert!(schema.validate(&json!({"id": 1, "tags": [1]})).is_err());
        assert!(schema.validate(&json!({"id": 1, "other": true})).is_err());
    }

    #[test]
    fn refuses_unknown_types_and_bad_patterns() {
        assert!(Schema::compile(&json!({"type": "thing"})).is_err());
        assert!(Schema::compile(&json!({"type": "string", "pattern": "("})).is_err());
        let any =
            Schema::compile(&json!({"anyOf": [{"type": "string"}, {"type": "null"}]})).unwrap();
        any.validate(&json!(null)).unwrap();
        assert!(any.validate(&json!(1)).is_err());
    }
}
