//! The Publisher portal's API products page: the products the user may manage, each with
//! its state, tiers and the operations it takes from each API. Read-only: products are
//! made, revised and deployed over REST (`publisher::api_products`).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use gantry_model::ApiProduct;

use super::session::{Portal, User};
use super::{Nav, PortalError, render};
use crate::AppState;
use crate::publisher::apis::may_manage;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/publisher/api-products", get(list))
}

/// One product as the page lists it.
struct ProductRow {
    name: String,
    version: String,
    context: String,
    state: String,
    provider: String,
    tiers: String,
    /// (API name and version, its operations taken: `GET /items, …`).
    apis: Vec<(String, String)>,
}

impl ProductRow {
    fn of(product: &ApiProduct) -> Self {
        Self {
            name: product.name.to_string(),
            version: product.version.to_string(),
            context: product.context.to_string(),
            state: product.state.as_str().to_owned(),
            provider: product.provider.clone(),
            tiers: product.policies.join(", "),
            apis: product
                .apis
                .iter()
                .map(|api| {
                    let operations: Vec<String> = api
                        .operations
                        .iter()
                        .map(|op| format!("{} {}", op.verb.as_str(), op.target))
                        .collect();
                    (
                        format!("{} {}", api.name, api.version),
                        operations.join(", "),
                    )
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/publisher_products.html")]
struct ProductsPage {
    nav: Nav,
    products: Vec<ProductRow>,
}

async fn list(State(state): State<AppState>, User(user): User) -> Result<Response, PortalError> {
    user.require(Portal::Publisher)?;
    let products = gantry_store::api_products::all(state.store())
        .await?
        .iter()
        .filter(|p| may_manage(&p.provider, &p.details, &user.username, &user.roles))
        .map(ProductRow::of)
        .collect();
    render(&ProductsPage {
        nav: Nav::new(Portal::Publisher, &user),
        products,
    })
}
