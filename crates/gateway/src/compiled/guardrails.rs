//! AI API guardrails, WSO2's policy names and parameters, compiled once per configuration:
//! `regexGuardrail` (`regex`, `invert`), `wordCountGuardrail` and `contentLengthGuardrail`
//! (`min`, `max`, `invert`), `jsonSchemaGuardrail` (`schema`, `invert`) and `piiMasking`
//! (`piiEntities`: `{piiEntity, piiRegex}`). All but `jsonSchemaGuardrail` read the prompt:
//! `jsonPath` when given, else every message's text (`messages[*].content`, `prompt`,
//! `input`, `system`); the schema guardrail reads the whole request body unless a path says.

use gantry_model::PolicyRef;
use gantry_model::json_schema::JsonSchema;
use regex::Regex;
use serde_json::Value;

use super::json_path::JsonPath;

/// A guardrail that refused a request: its policy, its name and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    /// `regexGuardrail`, …
    pub policy: &'static str,
    /// The name the publisher gave it (`name` parameter), or the policy name.
    pub name: String,
    /// Why, in words.
    pub reason: String,
}

#[derive(Debug)]
enum Check {
    Regex(Regex),
    Words { min: u64, max: u64 },
    Length { min: u64, max: u64 },
    Schema(Box<JsonSchema>),
}

#[derive(Debug)]
struct Guardrail {
    policy: &'static str,
    name: String,
    path: Option<JsonPath>,
    invert: bool,
    check: Check,
}

/// The compiled guardrails of one AI API.
#[derive(Debug, Default)]
pub struct Guardrails {
    checks: Box<[Guardrail]>,
    /// (entity label, pattern) of `piiMasking`, applied to prompts and responses.
    pii: Box<[(String, Regex)]>,
}

fn param<'a>(policy: &'a PolicyRef, name: &str) -> Option<&'a Value> {
    policy.parameters.get(name)
}

fn number(policy: &PolicyRef, name: &str) -> Result<Option<u64>, String> {
    match param(policy, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("'{name}' must be a whole number")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("'{name}' must be a whole number")),
        Some(_) => Err(format!("'{name}' must be a whole number")),
    }
}

fn flag(policy: &PolicyRef, name: &str) -> bool {
    match param(policy, name) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A parameter that WSO2's console sends as JSON text and API clients as JSON.
fn structured(policy: &PolicyRef, name: &str) -> Result<Option<Value>, String> {
    match param(policy, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("'{name}' is not JSON: {e}")),
        Some(other) => Ok(Some(other.clone())),
    }
}

impl Guardrails {
    /// Compiles `policies`; the error names the policy and parameter.
    pub fn compile(policies: &[PolicyRef]) -> Result<Self, String> {
        let mut checks = Vec::new();
        let mut pii = Vec::new();
        for (i, policy) in policies.iter().enumerate() {
            let named = |e: String| format!("guardrails[{i}] ({}): {e}", policy.policy_name);
            let path = match param(policy, "jsonPath").and_then(Value::as_str) {
                Some(p) if !p.is_empty() => Some(
                    JsonPath::parse(p)
                        .ok_or_else(|| named(format!("jsonPath '{p}' is not supported")))?,
                ),
                _ => None,
            };
            let range = |policy: &PolicyRef| -> Result<(u64, u64), String> {
                Ok((
                    number(policy, "min")?.unwrap_or(0),
                    number(policy, "max")?.unwrap_or(u64::MAX),
                ))
            };
            let (name, check) = match policy.policy_name.as_str() {
                "regexGuardrail" => {
                    let regex = param(policy, "regex")
                        .and_then(Value::as_str)
                        .ok_or_else(|| named("'regex' is required".into()))?;
                    let regex = Regex::new(regex).map_err(|e| named(format!("regex: {e}")))?;
                    ("regexGuardrail", Check::Regex(regex))
                }
                "wordCountGuardrail" => {
                    let (min, max) = range(policy).map_err(named)?;
                    ("wordCountGuardrail", Check::Words { min, max })
                }
                "contentLengthGuardrail" => {
                    let (min, max) = range(policy).map_err(named)?;
                    ("contentLengthGuardrail", Check::Length { min, max })
                }
                "jsonSchemaGuardrail" => {
                    let schema = structured(policy, "schema")
                        .map_err(named)?
                        .ok_or_else(|| named("'schema' is required".into()))?;
                    let schema = JsonSchema::compile_lenient(&schema)
                        .map_err(|e| named(e.within("schema").to_string()))?;
                    ("jsonSchemaGuardrail", Check::Schema(Box::new(schema)))
                }
                "piiMasking" => {
                    let entities = structured(policy, "piiEntities")
                        .map_err(named)?
                        .and_then(|v| v.as_array().cloned())
                        .ok_or_else(|| {
                            named("'piiEntities' must list {piiEntity, piiRegex}".into())
                        })?;
                    for entity in entities {
                        let (Some(label), Some(regex)) = (
                            entity.get("piiEntity").and_then(Value::as_str),
                            entity.get("piiRegex").and_then(Value::as_str),
                        ) else {
                            return Err(named("each entity needs piiEntity and piiRegex".into()));
                        };
                        let regex =
                            Regex::new(regex).map_err(|e| named(format!("piiRegex: {e}")))?;
                        pii.push((format!("<{label}>"), regex));
                    }
                    continue;
                }
                other => return Err(named(format!("'{other}' is not a guardrail"))),
            };
            checks.push(Guardrail {
                policy: name,
                name: param(policy, "name")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_owned(),
                path,
                invert: flag(policy, "invert"),
                check,
            });
        }
        Ok(Self {
            checks: checks.into_boxed_slice(),
            pii: pii.into_boxed_slice(),
        })
    }

    /// Whether there is nothing to check or mask.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.pii.is_empty()
    }

    /// Whether responses are masked.
    pub fn masks(&self) -> bool {
        !self.pii.is_empty()
    }

    /// Runs the checks on a request `body`, then masks its prompts; the first guardrail that
    /// intervenes, if one does.
    pub fn inspect(&self, body: &mut Value) -> Result<(), Intervention> {
        for g in self.checks.iter() {
            let texts: Vec<&str> = match &g.path {
                Some(path) => path
                    .select(body)
                    .into_iter()
                    .filter_map(Value::as_str)
                    .collect(),
                None => prompt_texts(body),
            };
            let text = texts.join("\n");
            let (passed, reason) = match &g.check {
                Check::Regex(regex) => (
                    regex.is_match(&text),
                    if g.invert {
                        format!("the prompt matches the denied pattern {}", regex.as_str())
                    } else {
                        format!("the prompt does not match the pattern {}", regex.as_str())
                    },
                ),
                Check::Words { min, max } => {
                    let words = text.split_whitespace().count() as u64;
                    (
                        (*min..=*max).contains(&words),
                        format!("the prompt has {words} words; allowed: {min} to {max}"),
                    )
                }
                Check::Length { min, max } => {
                    let bytes = text.len() as u64;
                    (
                        (*min..=*max).contains(&bytes),
                        format!("the prompt is {bytes} bytes long; allowed: {min} to {max}"),
                    )
                }
                Check::Schema(schema) => {
                    let problem = match &g.path {
                        None => schema.validate(body).err().map(|v| v.to_string()),
                        Some(path) => path.select(body).into_iter().find_map(|v| match v {
                            Value::String(s) => match serde_json::from_str::<Value>(s) {
                                Ok(parsed) => schema.validate(&parsed).err().map(|v| v.to_string()),
                                Err(_) => Some("the content is not JSON".to_owned()),
                            },
                            other => schema.validate(other).err().map(|v| v.to_string()),
                        }),
                    };
                    (
                        problem.is_none(),
                        problem.unwrap_or_else(|| "the request matches the schema".to_owned()),
                    )
                }
            };
            if passed == g.invert {
                return Err(Intervention {
                    policy: g.policy,
                    name: g.name.clone(),
                    reason,
                });
            }
        }
        if !self.pii.is_empty() {
            for_each_prompt_mut(body, &mut |text| self.mask(text));
        }
        Ok(())
    }

    /// `text` with every configured PII match replaced by its entity label.
    pub fn mask(&self, text: &mut String) {
        for (label, regex) in self.pii.iter() {
            if regex.is_match(text) {
                *text = regex.replace_all(text, label.as_str()).into_owned();
            }
        }
    }

    /// Masks every string of a response body (choices' messages and deltas included).
    pub fn mask_response(&self, body: &mut Value) {
        match body {
            Value::String(text) => self.mask(text),
            Value::Array(items) => items.iter_mut().for_each(|v| self.mask_response(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.mask_response(v)),
            _ => {}
        }
    }
}

/// The prompt's text: message contents (strings, or `text` parts), `prompt`, `input`,
/// `system`.
pub fn prompt_texts(body: &Value) -> Vec<&str> {
    fn content<'a>(v: &'a Value, texts: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => texts.push(s.as_str()),
            Value::Array(parts) => texts.extend(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str)),
            ),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            if let Some(c) = m.get("content") {
                content(c, &mut texts);
            }
        }
    }
    for key in ["prompt", "input", "system"] {
        if let Some(v) = body.get(key) {
            content(v, &mut texts);
        }
    }
    texts
}

fn for_each_prompt_mut(body: &mut Value, f: &mut dyn FnMut(&mut String)) {
    let mut content = |v: &mut Value| match v {
        Value::String(s) => f(s),
        Value::Array(parts) => {
            for part in parts {
                if let Some(Value::String(s)) = part.get_mut("text") {
                    f(s);
                }
            }
        }
        _ => {}
    };
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        for m in messages {
            if let Some(c) = m.get_mut("content") {
                content(c);
            }
        }
    }
    for key in ["prompt", "input", "system"] {
        if let Some(v) = body.get_mut(key) {
            content(v);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn policy(name: &str, parameters: Value) -> PolicyRef {
        PolicyRef {
            policy_name: name.into(),
            policy_version: None,
            policy_id: None,
            parameters: parameters.as_object().unwrap().clone(),
        }
    }

    fn chat(text: &str) -> Value {
        json!({"model": "m", "messages": [{"role": "user", "content": text}]})
    }

    #[test]
    fn an_inverted_regex_denies_what_matches() {
        let g = Guardrails::compile(&[policy(
            "regexGuardrail",
            json!({"name": "no-secrets", "regex": "(?i)password", "invert": true}),
        )])
        .unwrap();
        assert!(g.inspect(&mut chat("hello")).is_ok());
        let refused = g.inspect(&mut chat("my PASSWORD is")).unwrap_err();
        assert_eq!(refused.name, "no-secrets");
        assert_eq!(refused.policy, "regexGuardrail");
    }

    #[test]
    fn word_count_and_length_bound_the_prompt() {
        let g = Guardrails::compile(&[
            policy("wordCountGuardrail", json!({"max": 3})),
            policy("contentLengthGuardrail", json!({"max": "100"})),
        ])
        .unwrap();
        assert!(g.inspect(&mut chat("one two three")).is_ok());
        assert_eq!(
            g.inspect(&mut chat("one two three four"))
                .unwrap_err()
                .policy,
            "wordCountGuardrail"
        );
    }

    #[test]
    fn pii_is_masked_in_prompts_and_responses() {
        let g = Guardrails::compile(&[policy(
            "piiMasking",
            json!({"piiEntities": "[{\"piiEntity\":\"EMAIL\",\"piiRegex\":\"[\\\\w.]+@[\\\\w.]+\"}]"}),
        )])
        .unwrap();
        let mut body = chat("mail me at a.b@example.com");
        g.inspect(&mut body).unwrap();
        assert_eq!(body["messages"][0]["content"], "mail me at <EMAIL>");
        let mut response = json!({"choices": [{"message": {"content": "x@y.org"}}]});
        g.mask_response(&mut response);
        assert_eq!(response["choices"][0]["message"]["content"], "<EMAIL>");
    }

    #[test]
    fn the_schema_guardrail_reads_the_whole_body() {
        let g = Guardrails::compile(&[policy(
            "jsonSchemaGuardrail",
            json!({"schema": {"type": "object", "required": ["max_tokens"]}}),
        )])
        .unwrap();
        let refused = g.inspect(&mut chat("hi")).unwrap_err();
        assert!(refused.reason.contains("max_tokens"), "{}", refused.reason);
    }
}
