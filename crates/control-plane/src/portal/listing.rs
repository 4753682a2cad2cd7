//! What the Publisher and the Developer Portal both list: API rows, search and paging over
//! the store's APIs, and operations as a reader sees them.

use gantry_model::Api;
use gantry_store::apis as store_apis;
use serde::Deserialize;

use super::{Pager, PortalError, paginate};
use crate::AppState;

/// `?q=…&page=…` of list pages (`&category=…` in the Developer Portal's catalogue).
#[derive(Debug, Deserialize, Default)]
pub(super) struct ListQuery {
    pub q: Option<String>,
    pub page: Option<i64>,
    pub category: Option<String>,
}

/// One API in a list.
pub(super) struct ApiRow {
    pub id: String,
    pub initial: String,
    pub name: String,
    pub version: String,
    pub context: String,
    pub state: String,
    pub description: String,
    pub tags: Vec<String>,
    pub categories: Vec<String>,
    pub provider: String,
}

impl ApiRow {
    pub fn of(api: &Api) -> Self {
        Self {
            id: api.id.clone(),
            initial: api
                .name
                .as_str()
                .chars()
                .next()
                .map(|c| c.to_uppercase().collect())
                .unwrap_or_default(),
            name: api.name.as_str().to_owned(),
            version: api.version.as_str().to_owned(),
            context: api.context.as_str().to_owned(),
            state: api.life_cycle_status.as_str().to_owned(),
            description: api.description.clone().unwrap_or_default(),
            tags: api.tags.clone(),
            categories: api.details.categories.clone(),
            provider: api.provider.clone(),
        }
    }
}

/// Whether `api` is in the category named `category` (any case; `None`: every API is).
pub(super) fn in_category(api: &Api, category: Option<&str>) -> bool {
    category.is_none_or(|wanted| {
        api.details
            .categories
            .iter()
            .any(|c| c.eq_ignore_ascii_case(wanted))
    })
}

/// Whether `api` matches the search text (name, context, description, tags; any case).
pub(super) fn matches_query(api: &Api, query: &str) -> bool {
    let q = query.to_lowercase();
    [
        api.name.as_str(),
        api.context.as_str(),
        api.version.as_str(),
        api.description.as_deref().unwrap_or_default(),
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(&q))
        || api.tags.iter().any(|t| t.to_lowercase().contains(&q))
}

/// Every API the store holds that `keep` accepts, filtered by `query`, and the page asked
/// for. Search reads all APIs and filters here: fine for the thousands a control plane
/// holds; a store-side search comes when lists grow past that.
pub(super) async fn search(
    state: &AppState,
    base: &str,
    query: &str,
    page: Option<i64>,
    keep: impl Fn(&Api) -> bool,
) -> Result<(Vec<Api>, Pager), PortalError> {
    let (all, _) = store_apis::list(state.store(), 0, i64::from(u32::MAX)).await?;
    let found: Vec<Api> = all
        .into_iter()
        .filter(|a| keep(a) && (query.is_empty() || matches_query(a, query)))
        .collect();
    let pager = paginate(base, query, page, i64::try_from(found.len()).unwrap_or(0));
    let start = usize::try_from(pager.offset()).unwrap_or(0);
    let items = found
        .into_iter()
        .skip(start)
        .take(usize::try_from(super::PAGE_SIZE).unwrap_or(20))
        .collect();
    Ok((items, pager))
}

pub(super) fn operation_rows(api: &Api) -> Vec<OperationSummary> {
    api.operations
        .iter()
        .map(|op| OperationSummary {
            verb: op.verb.as_str().to_owned(),
            target: op.target.as_str().to_owned(),
            secured: !matches!(op.auth_type, gantry_model::AuthType::None),
            scopes: op.scopes.join(" "),
        })
        .collect()
}

/// A GraphQL API's root fields as the portals show its operations (the routes that serve
/// them are its `operations`).
pub(super) fn graphql_operation_rows(api: &Api) -> Option<Vec<OperationSummary>> {
    let graphql = api.gateway.graphql.as_deref()?;
    Some(
        graphql
            .operations
            .iter()
            .map(|op| OperationSummary {
                verb: op.verb.as_str().to_owned(),
                target: op.target.clone(),
                secured: !matches!(op.auth_type, gantry_model::AuthType::None),
                scopes: op.scopes.join(" "),
            })
            .collect(),
    )
}

/// An operation as the developer portal shows it.
pub(super) struct OperationSummary {
    pub verb: String,
    pub target: String,
    pub secured: bool,
    pub scopes: String,
}
