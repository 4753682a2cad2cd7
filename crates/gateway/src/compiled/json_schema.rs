//! The JSON Schema subset the `jsonSchemaGuardrail` checks requests against: `type`,
//! `enum`, `const`, `required`, `properties`, `additionalProperties: false`, `items`,
//! `minItems`/`maxItems`, `minLength`/`maxLength`, `pattern`, `minimum`/`maximum`. The schema
//! is compiled once per configuration (its patterns included); a keyword outside the subset
//! refuses the configuration rather than passing everything.

use regex::Regex;
use serde_json::{Map, Value};

/// A compiled schema.
#[derive(Debug)]
pub struct Schema {
    types: Option<Vec<String>>,
    allowed: Option<Vec<Value>>,
    required: Vec<String>,
    properties: Vec<(String, Schema)>,
    closed: bool,
    items: Option<Box<Schema>>,
    items_range: (Option<u64>, Option<u64>),
    length_range: (Option<u64>, Option<u64>),
    pattern: Option<Regex>,
    value_range: (Option<f64>, Option<f64>),
}

const KNOWN: [&str; 18] = [
    "type",
    "enum",
    "const",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "$schema",
    "title",
    "description",
    "$id",
];

impl Schema {
    /// Compiles `schema`; the error names the keyword that cannot be checked.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        let map = schema
            .as_object()
            .ok_or_else(|| "a schema must be an object".to_owned())?;
        if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("the schema keyword '{unknown}' is not supported"));
        }
        let count = |name: &str| map.get(name).and_then(Value::as_u64);
        let number = |name: &str| map.get(name).and_then(Value::as_f64);
        let types = match map.get("type") {
            None => None,
            Some(Value::String(t)) => Some(vec![t.clone()]),
            Some(Value::Array(ts)) => Some(
                ts.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
            ),
            Some(_) => return Err("'type' must be a string or a list".to_owned()),
        };
        let allowed = match (map.get("enum"), map.get("const")) {
            (Some(Value::Array(values)), _) => Some(values.clone()),
            (_, Some(value)) => Some(vec![value.clone()]),
            _ => None,
        };
        let properties = match map.get("properties") {
            Some(Value::Object(props)) => props
                .iter()
                .map(|(k, v)| Ok((k.clone(), Schema::compile(v)?)))
                .collect::<Result<_, String>>()?,
            _ => Vec::new(),
        };
        let pattern = match map.get("pattern").and_then(Value::as_str) {
            Some(p) => Some(Regex::new(p).map_err(|e| format!("pattern '{p}': {e}"))?),
            None => None,
        };
        Ok(Self {
            types,
            allowed,
            required: map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(|n| n.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            properties,
            closed: map.get("additionalProperties") == Some(&Value::Bool(false)),
            items: match map.get("items") {
                Some(items) => Some(Box::new(Schema::compile(items)?)),
                None => None,
            },
            items_range: (count("minItems"), count("maxItems")),
            length_range: (count("minLength"), count("maxLength")),
            pattern,
            value_range: (number("minimum"), number("maximum")),
        })
    }

    /// Why `value` does not satisfy the schema (`at` names where it is), if it does not.
    pub fn check(&self, value: &Value, at: &str) -> Option<String> {
        if let Some(types) = &self.types
            && !types.iter().any(|t| is_type(value, t))
        {
            return Some(format!("{at} must be of type {}", types.join(" or ")));
        }
        if let Some(allowed) = &self.allowed
            && !allowed.contains(value)
        {
            return Some(format!("{at} is not one of the allowed values"));
        }
        let within = |n: u64, (min, max): (Option<u64>, Option<u64>)| {
            min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
        };
        match value {
            Value::Object(map) => self.check_object(map, at),
            Value::Array(items) => {
                if !within(items.len() as u64, self.items_range) {
                    return Some(format!("{at} has {} items, out of range", items.len()));
                }
                let schema = self.items.as_ref()?;
                items
                    .iter()
                    .enumerate()
                    .find_map(|(i, item)| schema.check(item, &format!("{at}[{i}]")))
            }
            Value::String(text) => {
                if !within(text.chars().count() as u64, self.length_range) {
                    return Some(format!("{at} has a length out of range"));
                }
                match &self.pattern {
                    Some(p) if !p.is_match(text) => {
                        Some(format!("{at} does not match the pattern {}", p.as_str()))
                    }
                    _ => None,
                }
            }
            Value::Number(n) => {
                let n = n.as_f64().unwrap_or(f64::NAN);
                let (min, max) = self.value_range;
                (!(min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)))
                    .then(|| format!("{at} is out of range"))
            }
            _ => None,
        }
    }

    fn check_object(&self, map: &Map<String, Value>, at: &str) -> Option<String> {
        if let Some(missing) = self.required.iter().find(|r| !map.contains_key(*r)) {
            return Some(format!("{at}.{missing} is required"));
        }
        if self.closed
            && let Some(extra) = map
                .keys()
                .find(|k| !self.properties.iter().any(|(p, _)| p == *k))
        {
            return Some(format!("{at}.{extra} is not allowed"));
        }
        self.properties.iter().find_map(|(name, schema)| {
            map.get(name)
                .and_then(|v| schema.check(v, &format!("{at}.{name}")))
        })
    }
}

fn is_type(value: &Value, name: &str) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn checks_the_subset_and_names_the_field() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "required": ["model", "messages"],
            "properties": {
                "model": {"type": "string", "enum": ["gpt-4o"]},
                "messages": {"type": "array", "maxItems": 2, "items": {"type": "object"}},
                "temperature": {"type": "number", "maximum": 1}
            }
        }))
        .unwrap();
        let ok = json!({"model": "gpt-4o", "messages": [{}]});
        assert_eq!(schema.check(&ok, "$"), None);
        let bad = json!({"model": "gpt-4o", "messages": [], "temperature": 2});
        assert_eq!(
            schema.check(&bad, "$").as_deref(),
            Some("$.temperature is out of range")
        );
        let missing = json!({"model": "gpt-4o"});
        assert_eq!(
            schema.check(&missing, "$").as_deref(),
            Some("$.messages is required")
        );
        assert!(Schema::compile(&json!({"oneOf": []})).is_err());
    }
}
