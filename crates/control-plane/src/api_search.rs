//! WSO2's API search syntax (`GET /apis?query=…` in the publisher and the devportal):
//! space-separated terms, all of which must match. `name:`, `context:`, `version:`,
//! `provider:`, `description:`, `tag:` match a case-insensitive substring (`"…"` quotes an
//! exact value), `status:` a lifecycle state; a bare word matches the name, context or
//! description.

use gantry_model::Api;

use crate::error::ApiError;

/// The attribute a term looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attribute {
    Name,
    Context,
    Version,
    Provider,
    Description,
    Tag,
    Status,
    Content,
}

#[derive(Debug, Clone)]
struct Term {
    attribute: Attribute,
    value: String,
    exact: bool,
}

/// A parsed `query` parameter; the empty query matches every API.
#[derive(Debug, Clone, Default)]
pub struct ApiQuery {
    terms: Vec<Term>,
}

impl ApiQuery {
    /// Parses a query; an unknown `attribute:` is a 400 naming it.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let mut terms = Vec::new();
        for raw in split_terms(query) {
            let (attribute, value) = match raw.split_once(':') {
                Some((name, value)) => {
                    let attribute = match name.to_ascii_lowercase().as_str() {
                        "name" => Attribute::Name,
                        "context" => Attribute::Context,
                        "version" => Attribute::Version,
                        "provider" => Attribute::Provider,
                        "description" => Attribute::Description,
                        "tag" | "tags" => Attribute::Tag,
                        "status" | "lifecyclestatus" => Attribute::Status,
                        "content" => Attribute::Content,
                        other => {
                            return Err(ApiError::BadRequest(format!(
                                "query: '{other}:' is not a search attribute; use name, context, version, provider, description, tag, status or content"
                            )));
                        }
                    };
                    (attribute, value)
                }
                None => (Attribute::Content, raw.as_str()),
            };
            let (value, exact) = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                Some(inner) => (inner, true),
                None => (value, false),
            };
            if value.is_empty() {
                continue;
            }
            terms.push(Term {
                attribute,
                value: value.to_lowercase(),
                exact,
            });
        }
        Ok(Self { terms })
    }

    /// Whether `api` matches every term.
    pub fn matches(&self, api: &Api) -> bool {
        self.terms.iter().all(|term| term.matches(api))
    }
}

impl Term {
    fn hit(&self, candidate: &str) -> bool {
        let candidate = candidate.to_lowercase();
        if self.exact {
            candidate == self.value
        } else {
            candidate.contains(&self.value)
        }
    }

    fn matches(&self, api: &Api) -> bool {
        match self.attribute {
            Attribute::Name => self.hit(api.name.as_str()),
            Attribute::Context => self.hit(api.context.as_str()),
            Attribute::Version => self.hit(api.version.as_str()),
            Attribute::Provider => self.hit(&api.provider),
            Attribute::Description => self.hit(api.description.as_deref().unwrap_or_default()),
            Attribute::Tag => api.tags.iter().any(|t| self.hit(t)),
            Attribute::Status => api
                .life_cycle_status
                .as_str()
                .eq_ignore_ascii_case(&self.value),
            Attribute::Content => {
                self.hit(api.name.as_str())
                    || self.hit(api.context.as_str())
                    || self.hit(api.description.as_deref().unwrap_or_default())
            }
        }
    }
}

/// Splits on spaces outside double quotes.
fn split_terms(query: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_terms() {
        assert_eq!(
            split_terms(r#"name:"Pizza Shack" tag:food  x"#),
            [r#"name:"Pizza Shack""#, "tag:food", "x"]
        );
    }

    #[test]
    fn unknown_attributes_are_refused() {
        assert!(ApiQuery::parse("colour:red").is_err());
        assert!(ApiQuery::parse("name:pizza status:PUBLISHED").is_ok());
    }
}
