//! GraphQL as Gantry governs it: a schema (SDL) read into the root operations and the types
//! and fields complexity values attach to (the control plane at import, the gateway at compile
//! time), and a request document read once into what the gateway enforces — the operation
//! kind, the root fields it touches, its depth and complexity, whether it introspects.
//! Parsing is `graphql-parser`'s; no IO.
#![forbid(unsafe_code)]

mod document;
mod schema;

pub use document::{Analysis, QueryError, analyze};
pub use schema::{Schema, SchemaError};

/// The three kinds of GraphQL operation (WSO2's operation verbs `QUERY`, `MUTATION`,
/// `SUBSCRIPTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OperationKind {
    /// `query`
    Query,
    /// `mutation`
    Mutation,
    /// `subscription`
    Subscription,
}

impl OperationKind {
    /// WSO2's verb: `QUERY`, `MUTATION` or `SUBSCRIPTION`.
    pub fn verb(self) -> &'static str {
        match self {
            OperationKind::Query => "QUERY",
            OperationKind::Mutation => "MUTATION",
            OperationKind::Subscription => "SUBSCRIPTION",
        }
    }

    /// The kind named by a WSO2 verb (case-insensitive).
    pub fn from_verb(verb: &str) -> Option<Self> {
        Some(match verb.to_ascii_uppercase().as_str() {
            "QUERY" => OperationKind::Query,
            "MUTATION" => OperationKind::Mutation,
            "SUBSCRIPTION" => OperationKind::Subscription,
            _ => return None,
        })
    }

    /// The root type's default name (`Query`, `Mutation`, `Subscription`).
    fn default_root(self) -> &'static str {
        match self {
            OperationKind::Query => "Query",
            OperationKind::Mutation => "Mutation",
            OperationKind::Subscription => "Subscription",
        }
    }
}

/// Whether `name` is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`).
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The deepest nesting of `{`, `(` and `[` in `text` outside string literals and comments:
/// checked before parsing, since the parser recurses once per level.
fn nesting(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                for c in chars.by_ref() {
                    if c == '\n' || c == '\r' {
                        break;
                    }
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '{' | '(' | '[' => {
                depth += 1;
                max = max.max(depth);
            }
            '}' | ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Deeper documents than this are refused before they are parsed.
pub const MAX_NESTING: usize = 128;
