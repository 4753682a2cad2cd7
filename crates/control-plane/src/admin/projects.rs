//! Admin v4's export and import of APIs, API products and applications (`/export/api`,
//! `/export/api-product`, `/export/applications`, `/import/api`, `/import/api-product`,
//! `/import/applications`, WSO2 4.7): the same projects and the same code as the Publisher's
//! and the Developer Portal's operations, behind the administrator's scopes
//! (`apim:admin` or the import/export scope of the kind; an `apim:api_view` token, enough to
//! export from the Publisher, is not enough here).

use std::marker::PhantomData;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};

use crate::AppState;
use crate::devportal::application_project;
use crate::error::ApiResult;
use crate::extract::{QueryParams, Scoped};
use crate::publisher::{export, import, product_project};
use crate::rest_scopes;

/// Routes under `/api/am/admin/v4`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/export/api", get(export_api))
        .route("/export/api-product", get(export_api_product))
        .route("/export/applications", get(application_project::export))
        .route(
            "/import/api",
            post(import::import).layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES)),
        )
        .route(
            "/import/api-product",
            post(product_project::import).layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES)),
        )
        .route(
            "/import/applications",
            post(application_project::import)
                .layer(DefaultBodyLimit::max(application_project::MAX_UPLOAD_BYTES)),
        )
}

/// `GET /export/api`: the Publisher's export, for an administrator.
async fn export_api(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiImport>,
    query: QueryParams<export::ExportQuery>,
) -> ApiResult<Response> {
    export::export(State(state), Scoped(user, PhantomData), query).await
}

/// `GET /export/api-product`: the Publisher's product export, for an administrator.
async fn export_api_product(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::ApiProductImport>,
    query: QueryParams<product_project::ExportQuery>,
) -> ApiResult<Response> {
    product_project::export(State(state), Scoped(user, PhantomData), query).await
}
