//! A schema (SDL) as Gantry needs it: the root type of each operation kind, and for every
//! object and interface type its fields and the named type each returns (complexity values
//! attach to `(type, field)`; nested selections are costed against the field's type).

use std::collections::BTreeMap;

use graphql_parser::schema::{Definition, Type, TypeDefinition, TypeExtension, parse_schema};

use crate::{MAX_NESTING, OperationKind, nesting};

/// A schema that parsed and names a query root type with fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    roots: [Option<String>; 3],
    /// Object and interface types: field → the named type it returns.
    types: BTreeMap<String, BTreeMap<String, String>>,
}

/// Why a schema is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The SDL does not parse.
    #[error("the schema does not parse: {0}")]
    Syntax(String),
    /// It parses but cannot serve as an API's schema.
    #[error("{0}")]
    Invalid(String),
}

impl Schema {
    /// Reads `sdl`: a `schema { … }` definition names the root types, else `Query`,
    /// `Mutation` and `Subscription` are (when defined). The query root must exist.
    pub fn parse(sdl: &str) -> Result<Self, SchemaError> {
        if nesting(sdl) > MAX_NESTING {
            return Err(SchemaError::Invalid(format!(
                "the schema nests deeper than {MAX_NESTING} levels"
            )));
        }
        let document =
            parse_schema::<String>(sdl).map_err(|e| SchemaError::Syntax(one_line(&e)))?;
        let mut named_roots: Option<[Option<String>; 3]> = None;
        let mut types: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut add = |name: &str, fields: &[graphql_parser::schema::Field<'_, String>]| {
            let entry = types.entry(name.to_owned()).or_default();
            for field in fields {
                entry.insert(field.name.clone(), named(&field.field_type).to_owned());
            }
        };
        for definition in &document.definitions {
            match definition {
                Definition::SchemaDefinition(schema) => {
                    named_roots = Some([
                        schema.query.clone(),
                        schema.mutation.clone(),
                        schema.subscription.clone(),
                    ]);
                }
                Definition::TypeDefinition(TypeDefinition::Object(object)) => {
                    add(&object.name, &object.fields);
                }
                Definition::TypeDefinition(TypeDefinition::Interface(interface)) => {
                    add(&interface.name, &interface.fields);
                }
                Definition::TypeExtension(TypeExtension::Object(object)) => {
                    add(&object.name, &object.fields);
                }
                Definition::TypeExtension(TypeExtension::Interface(interface)) => {
                    add(&interface.name, &interface.fields);
                }
                _ => {}
            }
        }
        let roots = match named_roots {
            Some(roots) => {
                for name in roots.iter().flatten() {
                    if !types.contains_key(name) {
                        return Err(SchemaError::Invalid(format!(
                            "the schema names '{name}' as a root type, which is not defined"
                        )));
                    }
                }
                roots
            }
            None => [
                OperationKind::Query,
                OperationKind::Mutation,
                OperationKind::Subscription,
            ]
            .map(|kind| {
                let name = kind.default_root();
                types.contains_key(name).then(|| name.to_owned())
            }),
        };
        let schema = Self { roots, types };
        match schema.root_type(OperationKind::Query) {
            Some(query) if schema.types.get(query).is_some_and(|f| !f.is_empty()) => Ok(schema),
            _ => Err(SchemaError::Invalid(
                "the schema has no query type with fields (type Query { … })".to_owned(),
            )),
        }
    }

    /// The root type of `kind`, if the schema has one.
    pub fn root_type(&self, kind: OperationKind) -> Option<&str> {
        self.roots[kind as usize].as_deref()
    }

    /// Every root field: the API's operations, queries then mutations then subscriptions.
    pub fn root_fields(&self) -> Vec<(OperationKind, &str)> {
        [
            OperationKind::Query,
            OperationKind::Mutation,
            OperationKind::Subscription,
        ]
        .into_iter()
        .flat_map(|kind| {
            self.root_type(kind)
                .and_then(|t| self.types.get(t))
                .into_iter()
                .flat_map(move |fields| fields.keys().map(move |f| (kind, f.as_str())))
        })
        .collect()
    }

    /// Object and interface types with their field names, by type name.
    pub fn types(&self) -> impl Iterator<Item = (&str, impl Iterator<Item = &str>)> {
        self.types
            .iter()
            .map(|(name, fields)| (name.as_str(), fields.keys().map(String::as_str)))
    }

    /// The named type `field` of `type_name` returns, when both exist.
    pub fn field_type(&self, type_name: &str, field: &str) -> Option<&str> {
        self.types.get(type_name)?.get(field).map(String::as_str)
    }

    /// Whether `type_name` is an object or interface type with a field `field`.
    pub fn has_field(&self, type_name: &str, field: &str) -> bool {
        self.field_type(type_name, field).is_some()
    }
}

fn named<'t>(ty: &'t Type<'_, String>) -> &'t str {
    match ty {
        Type::NamedType(name) => name,
        Type::ListType(inner) | Type::NonNullType(inner) => named(inner),
    }
}

/// A parser error on one line (the parser's own spans several).
pub(crate) fn one_line(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SDL: &str = r#"
        type Query { hero(id: ID): Character, books: [Book!]! }
        type Mutation { addBook(title: String!): Book }
        type Subscription { bookAdded: Book }
        interface Character { name: String, friends: [Character] }
        type Book { title: String, author: Character }
    "#;

    #[test]
    fn reads_root_fields_and_field_types() {
        let schema = Schema::parse(SDL).unwrap();
        assert_eq!(
            schema.root_fields(),
            vec![
                (OperationKind::Query, "books"),
                (OperationKind::Query, "hero"),
                (OperationKind::Mutation, "addBook"),
                (OperationKind::Subscription, "bookAdded"),
            ]
        );
        assert_eq!(schema.field_type("Query", "books"), Some("Book"));
        assert_eq!(schema.field_type("Character", "friends"), Some("Character"));
        assert!(schema.types().any(|(t, _)| t == "Book"));
    }

    #[test]
    fn a_schema_definition_renames_the_roots() {
        let schema = Schema::parse("schema { query: Root } type Root { ping: String }").unwrap();
        assert_eq!(schema.root_type(OperationKind::Query), Some("Root"));
        assert_eq!(schema.root_type(OperationKind::Mutation), None);
        let missing = Schema::parse("schema { query: Nope } type Root { a: Int }").unwrap_err();
        assert!(missing.to_string().contains("'Nope'"));
    }

    #[test]
    fn refuses_broken_or_rootless_schemas() {
        assert!(matches!(
            Schema::parse("type Query {").unwrap_err(),
            SchemaError::Syntax(_)
        ));
        assert!(matches!(
            Schema::parse("type Book { title: String }").unwrap_err(),
            SchemaError::Invalid(_)
        ));
        let deep = format!(
            "type Query {{ a: {}Int{} }}",
            "[".repeat(500),
            "]".repeat(500)
        );
        assert!(Schema::parse(&deep).is_err());
    }
}
