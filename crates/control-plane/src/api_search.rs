//! WSO2's API search syntax (`GET /apis?query=…` in the publisher and the devportal):
//! space-separated terms, all of which must match. `name:`, `context:`, `version:`,
//! `provider:`, `description:`, `tag:` match a case-insensitive substring (`"…"` quotes an
//! exact value), `api-category:` a category by its whole name (case-insensitively), `status:`
//! a lifecycle state; a bare word matches the name, context or description.

use gantry_model::{Api, ApiProduct, LifecycleState};

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
    Category,
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
                        "api-category" | "category" => Attribute::Category,
                        "status" | "lifecyclestatus" => Attribute::Status,
                        "content" => Attribute::Content,
                        other => {
                            return Err(ApiError::BadRequest(format!(
                                "query: '{other}:' is not a search attribute; use name, context, version, provider, description, tag, api-category, status or content"
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
        self.matches_fields(&Searched {
            name: api.name.as_str(),
            context: api.context.as_str(),
            version: api.version.as_str(),
            provider: &api.provider,
            description: api.description.as_deref().unwrap_or_default(),
            tags: &api.tags,
            categories: &api.details.categories,
            state: api.life_cycle_status,
        })
    }

    /// Whether the API product `product` matches every term.
    pub fn matches_product(&self, product: &ApiProduct) -> bool {
        self.matches_fields(&Searched {
            name: product.name.as_str(),
            context: product.context.as_str(),
            version: product.version.as_str(),
            provider: &product.provider,
            description: product.description.as_deref().unwrap_or_default(),
            tags: &product.tags,
            categories: &product.details.categories,
            state: product.state,
        })
    }

    fn matches_fields(&self, searched: &Searched<'_>) -> bool {
        self.terms.iter().all(|term| term.matches(searched))
    }
}

/// The fields a search looks at, of an API or an API product.
struct Searched<'a> {
    name: &'a str,
    context: &'a str,
    version: &'a str,
    provider: &'a str,
    description: &'a str,
    tags: &'a [String],
    categories: &'a [String],
    state: LifecycleState,
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

    fn matches(&self, api: &Searched<'_>) -> bool {
        match self.attribute {
            Attribute::Name => self.hit(api.name),
            Attribute::Context => self.hit(api.context),
            Attribute::Version => self.hit(api.version),
            Attribute::Provider => self.hit(api.provider),
            Attribute::Description => self.hit(api.description),
            Attribute::Tag => api.tags.iter().any(|t| self.hit(t)),
            Attribute::Category => api
                .categories
                .iter()
                .any(|c| c.to_lowercase() == self.value),
            Attribute::Status => api.state.as_str().eq_ignore_ascii_case(&self.value),
            Attribute::Content => {
                self.hit(api.name) || self.hit(api.context) || self.hit(api.description)
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
