//! The small JSON path subset AI APIs use (WSO2 writes `$.usage.prompt_tokens` for token
//! counts and `$.messages[-1].content` for what a guardrail inspects): object keys, array
//! indexes (negative from the end) and `[*]`. Parsed once per configuration.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(Box<str>),
    Index(i64),
    Every,
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Box<[Step]>,
}

impl JsonPath {
    /// Parses `$.a.b[0][*].c`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut rest = text.strip_prefix('$')?;
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let key = &after[..end];
                if key.is_empty() {
                    return None;
                }
                steps.push(Step::Key(key.into()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let end = after.find(']')?;
                let inside = after[..end].trim();
                steps.push(if inside == "*" {
                    Step::Every
                } else {
                    Step::Index(inside.parse().ok()?)
                });
                rest = &after[end + 1..];
            } else {
                return None;
            }
        }
        Some(Self {
            steps: steps.into_boxed_slice(),
        })
    }

    /// Every value the path reaches in `value`.
    pub fn select<'a>(&self, value: &'a Value) -> Vec<&'a Value> {
        let mut found = vec![value];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in found {
                match (step, v) {
                    (Step::Key(k), Value::Object(map)) => next.extend(map.get(&**k)),
                    (Step::Index(i), Value::Array(items)) => {
                        let at = if *i < 0 {
                            items.len().checked_sub(i.unsigned_abs() as usize)
                        } else {
                            Some(*i as usize)
                        };
                        next.extend(at.and_then(|at| items.get(at)));
                    }
                    (Step::Every, Value::Array(items)) => next.extend(items.iter()),
                    (Step::Every, Value::Object(map)) => next.extend(map.values()),
                    _ => {}
                }
            }
            found = next;
        }
        found
    }

    /// Sets the value at a path of object keys to `text` (when its parent object exists).
    pub fn set_text(&self, value: &mut Value, text: &str) {
        let Some((Step::Key(last), parents)) = self.steps.split_last() else {
            return;
        };
        let mut at = value;
        for step in parents {
            let Step::Key(k) = step else { return };
            match at.get_mut(&**k) {
                Some(next) => at = next,
                None => return,
            }
        }
        if let Value::Object(map) = at {
            map.insert(last.to_string(), Value::String(text.to_owned()));
        }
    }

    /// The first value reached, as a count.
    pub fn count(&self, value: &Value) -> Option<u64> {
        self.select(value).first().and_then(|v| v.as_u64())
    }

    /// The first value reached, as text.
    pub fn text<'a>(&self, value: &'a Value) -> Option<&'a str> {
        self.select(value).first().and_then(|v| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_keys_indexes_and_wildcards() {
        let v = serde_json::json!({"usage": {"prompt_tokens": 7},
            "messages": [{"content": "a"}, {"content": "b"}]});
        assert_eq!(
            JsonPath::parse("$.usage.prompt_tokens").unwrap().count(&v),
            Some(7)
        );
        assert_eq!(
            JsonPath::parse("$.messages[-1].content").unwrap().text(&v),
            Some("b")
        );
        let all = JsonPath::parse("$.messages[*].content").unwrap();
        assert_eq!(all.select(&v).len(), 2);
        assert!(JsonPath::parse("usage").is_none());
        assert!(JsonPath::parse("$..x").is_none());
        assert!(JsonPath::parse("$.a[x]").is_none());
    }
}
