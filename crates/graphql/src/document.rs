//! A request document read once: the selected operation, with fragments expanded (a cycle
//! is refused), walked to find its root fields, its depth (a root field is depth 1) and its
//! complexity (the sum of every selected field's value, 1 unless the API sets one for the
//! `(type, field)`), and whether it asks for `__schema` or `__type`.

use std::collections::HashMap;

use graphql_parser::query::{
    Definition, FragmentDefinition, OperationDefinition, Selection, SelectionSet, TypeCondition,
    parse_query,
};

use crate::schema::one_line;
use crate::{MAX_NESTING, OperationKind, Schema, nesting};

/// What the gateway enforces of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// Query, mutation or subscription.
    pub kind: OperationKind,
    /// The root fields the operation selects (names, not aliases), each once, in order.
    pub root_fields: Vec<String>,
    /// The deepest field's nesting; a root field is depth 1.
    pub depth: u32,
    /// The sum of the selected fields' complexity values.
    pub complexity: u64,
    /// Whether a root field is `__schema` or `__type`.
    pub introspection: bool,
}

/// Why a document is refused (each a GraphQL error message for the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not GraphQL.
    #[error("Invalid GraphQL document: {0}")]
    Syntax(String),
    /// No operation in the document.
    #[error("The document has no operation")]
    NoOperation,
    /// `operationName` names none of the document's operations.
    #[error("Unknown operation named '{0}'")]
    UnknownOperation(String),
    /// Several operations and no `operationName`.
    #[error("Must provide operation name if query contains multiple operations")]
    AmbiguousOperation,
    /// A spread of a fragment the document does not define.
    #[error("Unknown fragment '{0}'")]
    UnknownFragment(String),
    /// A fragment that spreads itself, directly or not.
    #[error("Cannot spread fragment '{0}' within itself")]
    FragmentCycle(String),
    /// The schema has no root type for the operation's kind.
    #[error("Schema is not configured for {}s", .0.verb().to_ascii_lowercase())]
    NoRootType(OperationKind),
    /// A root field the schema does not define.
    #[error("Field '{field}' in type '{root}' is undefined")]
    UnknownRootField {
        /// The root type.
        root: String,
        /// The field asked for.
        field: String,
    },
    /// Nested or expanded beyond what the gateway walks.
    #[error("The document is too large to analyse (more than {0} fields or nesting levels)")]
    TooLarge(usize),
}

/// Fields walked (fragments expanded) before a document is refused as too large.
const MAX_FIELDS: usize = 50_000;

/// Analyses `document`'s operation `operation_name` (or its only one) against `schema`;
/// `cost` gives a field's complexity value from its parent type and name.
pub fn analyze(
    document: &str,
    operation_name: Option<&str>,
    schema: &Schema,
    cost: &dyn Fn(&str, &str) -> u64,
) -> Result<Analysis, QueryError> {
    if nesting(document) > MAX_NESTING {
        return Err(QueryError::TooLarge(MAX_NESTING));
    }
    let parsed = parse_query::<&str>(document).map_err(|e| QueryError::Syntax(one_line(&e)))?;
    let mut fragments = HashMap::new();
    let mut operations = Vec::new();
    for definition in &parsed.definitions {
        match definition {
            Definition::Fragment(fragment) => {
                fragments.insert(fragment.name, fragment);
            }
            Definition::Operation(operation) => operations.push(operation),
        }
    }
    let operation = select(&operations, operation_name)?;
    let (kind, set) = match operation {
        OperationDefinition::SelectionSet(set) => (OperationKind::Query, set),
        OperationDefinition::Query(q) => (OperationKind::Query, &q.selection_set),
        OperationDefinition::Mutation(m) => (OperationKind::Mutation, &m.selection_set),
        OperationDefinition::Subscription(s) => (OperationKind::Subscription, &s.selection_set),
    };
    let root = schema.root_type(kind).ok_or(QueryError::NoRootType(kind))?;
    let mut walk = Walk {
        fragments,
        schema,
        cost,
        root,
        spreading: Vec::new(),
        fields: 0,
        analysis: Analysis {
            kind,
            root_fields: Vec::new(),
            depth: 0,
            complexity: 0,
            introspection: false,
        },
    };
    walk.selections(set, Some(root), 0)?;
    Ok(walk.analysis)
}

fn select<'d, 'a>(
    operations: &[&'d OperationDefinition<'a, &'a str>],
    name: Option<&str>,
) -> Result<&'d OperationDefinition<'a, &'a str>, QueryError> {
    let name_of = |op: &OperationDefinition<'a, &'a str>| match op {
        OperationDefinition::SelectionSet(_) => None,
        OperationDefinition::Query(q) => q.name,
        OperationDefinition::Mutation(m) => m.name,
        OperationDefinition::Subscription(s) => s.name,
    };
    match name.filter(|n| !n.is_empty()) {
        Some(wanted) => operations
            .iter()
            .find(|op| name_of(op) == Some(wanted))
            .copied()
            .ok_or_else(|| QueryError::UnknownOperation(wanted.to_owned())),
        None => match operations {
            [] => Err(QueryError::NoOperation),
            [only] => Ok(only),
            _ => Err(QueryError::AmbiguousOperation),
        },
    }
}

struct Walk<'d, 'a, 's> {
    fragments: HashMap<&'a str, &'d FragmentDefinition<'a, &'a str>>,
    schema: &'s Schema,
    cost: &'s dyn Fn(&str, &str) -> u64,
    root: &'s str,
    /// Fragments being expanded, outermost first (a spread of one of them is a cycle).
    spreading: Vec<&'a str>,
    fields: usize,
    analysis: Analysis,
}

impl<'d, 'a, 's> Walk<'d, 'a, 's>
where
    's: 'd,
{
    /// Walks `set`, whose fields belong to `parent` (when known) and sit at `depth` + 1.
    fn selections(
        &mut self,
        set: &'d SelectionSet<'a, &'a str>,
        parent: Option<&'d str>,
        depth: u32,
    ) -> Result<(), QueryError> {
        // Fragments nest the walk without nesting the text: bound the recursion itself.
        if depth as usize + self.spreading.len() > MAX_NESTING {
            return Err(QueryError::TooLarge(MAX_NESTING));
        }
        for selection in &set.items {
            match selection {
                Selection::Field(field) => {
                    self.fields += 1;
                    if self.fields > MAX_FIELDS {
                        return Err(QueryError::TooLarge(MAX_FIELDS));
                    }
                    let depth = depth + 1;
                    self.analysis.depth = self.analysis.depth.max(depth);
                    let parent_name = parent.unwrap_or_default();
                    self.analysis.complexity = self
                        .analysis
                        .complexity
                        .saturating_add((self.cost)(parent_name, field.name));
                    if depth == 1 {
                        self.root_field(field.name)?;
                    }
                    let field_type = parent.and_then(|p| self.schema.field_type(p, field.name));
                    self.selections(&field.selection_set, field_type, depth)?;
                }
                Selection::InlineFragment(inline) => {
                    let on = match &inline.type_condition {
                        Some(TypeCondition::On(name)) => Some(*name),
                        None => parent,
                    };
                    self.selections(&inline.selection_set, on, depth)?;
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name;
                    if self.spreading.contains(&name) {
                        return Err(QueryError::FragmentCycle(name.to_owned()));
                    }
                    let fragment = *self
                        .fragments
                        .get(name)
                        .ok_or_else(|| QueryError::UnknownFragment(name.to_owned()))?;
                    let TypeCondition::On(on) = &fragment.type_condition;
                    self.spreading.push(name);
                    self.selections(&fragment.selection_set, Some(on), depth)?;
                    self.spreading.pop();
                }
            }
        }
        Ok(())
    }

    fn root_field(&mut self, name: &str) -> Result<(), QueryError> {
        match name {
            "__typename" => return Ok(()),
            "__schema" | "__type" => self.analysis.introspection = true,
            _ if !self.schema.has_field(self.root, name) => {
                return Err(QueryError::UnknownRootField {
                    root: self.root.to_owned(),
                    field: name.to_owned(),
                });
            }
            _ => {}
        }
        if !self.analysis.root_fields.iter().any(|f| f == name) {
            self.analysis.root_fields.push(name.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SDL: &str = r#"
        type Query { hero: Character, books: [Book] }
        type Mutation { addBook(title: String!): Book }
        type Subscription { bookAdded: Book }
        type Character { name: String, friends: [Character] }
        type Book { title: String, author: Character }
    "#;

    fn run(document: &str, name: Option<&str>) -> Result<Analysis, QueryError> {
        let schema = Schema::parse(SDL).unwrap();
        let cost = |ty: &str, field: &str| match (ty, field) {
            ("Character", "friends") => 10,
            _ => 1,
        };
        analyze(document, name, &schema, &cost)
    }

    #[test]
    fn measures_depth_and_complexity_with_fragments_expanded() {
        let a = run(
            "query Q { hero { name ...F } books { title } }
             fragment F on Character { friends { name friends { name } } }",
            None,
        )
        .unwrap();
        assert_eq!(a.kind, OperationKind::Query);
        assert_eq!(a.root_fields, vec!["hero", "books"]);
        assert_eq!(a.depth, 4);
        // hero 1, name 1, friends 10, name 1, friends 10, name 1, books 1, title 1
        assert_eq!(a.complexity, 26);
        assert!(!a.introspection);
    }

    #[test]
    fn selects_the_named_operation() {
        let doc = "query A { hero { name } } mutation B { addBook(title: \"x\") { title } }";
        let b = run(doc, Some("B")).unwrap();
        assert_eq!(b.kind, OperationKind::Mutation);
        assert_eq!(b.root_fields, vec!["addBook"]);
        assert_eq!(run(doc, None).unwrap_err(), QueryError::AmbiguousOperation);
        assert!(matches!(
            run(doc, Some("C")).unwrap_err(),
            QueryError::UnknownOperation(_)
        ));
    }

    #[test]
    fn refuses_cycles_unknown_fragments_and_unknown_root_fields() {
        let cycle = run(
            "{ hero { ...A } } fragment A on Character { friends { ...B } }
             fragment B on Character { ...A }",
            None,
        );
        assert!(matches!(cycle.unwrap_err(), QueryError::FragmentCycle(_)));
        assert!(matches!(
            run("{ hero { ...Nope } }", None).unwrap_err(),
            QueryError::UnknownFragment(_)
        ));
        assert_eq!(
            run("{ villain { name } }", None).unwrap_err().to_string(),
            "Field 'villain' in type 'Query' is undefined"
        );
        assert!(matches!(
            run("{ hero { name }", None).unwrap_err(),
            QueryError::Syntax(_)
        ));
        let deep = format!("{{ hero {} }}", "{ friends ".repeat(200) + &"}".repeat(200));
        assert!(matches!(
            run(&deep, None).unwrap_err(),
            QueryError::TooLarge(_)
        ));
    }

    #[test]
    fn sees_introspection_and_subscriptions() {
        let a = run("{ __schema { types { name } } }", None).unwrap();
        assert!(a.introspection);
        let t = run("{ __typename hero { name } }", None).unwrap();
        assert!(!t.introspection);
        assert_eq!(t.root_fields, vec!["hero"]);
        let s = run("subscription { bookAdded { title } }", None).unwrap();
        assert_eq!(s.kind, OperationKind::Subscription);
    }

    #[test]
    fn exponential_fragment_fan_out_is_cut_off() {
        let mut doc = String::from("{ hero { ...F0 } }\n");
        for i in 0..30 {
            doc.push_str(&format!(
                "fragment F{i} on Character {{ friends {{ ...F{n} }} name {{ ...F{n} }} }}\n",
                n = i + 1
            ));
        }
        doc.push_str("fragment F30 on Character { name }\n");
        assert!(matches!(
            run(&doc, None).unwrap_err(),
            QueryError::TooLarge(_)
        ));
    }
}
