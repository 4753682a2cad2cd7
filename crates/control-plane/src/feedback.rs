//! Comments and ratings, as WSO2 4.7 serves them for APIs and MCP servers: the Publisher's
//! and the Developer Portal's `…/{id}/comments[/{commentId}[/replies]]` (one level of
//! replies, `?replyTo=` on the POST), and the Developer Portal's `…/{id}/ratings` and
//! `…/{id}/user-rating` (1 to 5, one per user).
//!
//! Who may do what: anyone who may see the API reads its comments and ratings (the
//! Developer Portal's visibility, the Publisher's access control); a comment is edited only
//! by its author, and deleted by its author or a moderator (`apim:comment_manage` or
//! `apim:admin`). Comments are plain text: the portals escape them.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gantry_model::Api;
use gantry_model::mcp::MCP_API_TYPE;
use gantry_store::StoreError;
use gantry_store::feedback::{self, Comment, Rating};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::extract::{AuthUser, JsonBody, MaybeUser, QueryParams, Scoped};
use crate::rest_scopes::{self, ScopeSet};
use crate::wire::{Paging, list_envelope, resolve_paging, rfc3339};

/// Longest comment WSO2 accepts.
const MAX_CONTENT: usize = 512;
/// Replies shown under each comment of a list.
const REPLIES_IN_LIST: i64 = 5;
/// Scopes that let a caller delete anyone's comment.
const MODERATORS: &[&str] = &["apim:comment_manage", "apim:admin"];

/// What comments are about: an API or an MCP server (both are APIs in the store).
pub(crate) trait Subject: Send + Sync + 'static {
    /// In messages: `API`, `MCP server`.
    const WHAT: &'static str;
    /// The collection's path segment.
    const SEGMENT: &'static str;
    /// Whether it is an MCP server.
    const MCP: bool;
    /// The Publisher's scopes for reading its comments.
    type View: ScopeSet;
}

/// `/apis/{apiId}/…`.
pub(crate) struct OfApi;
impl Subject for OfApi {
    const WHAT: &'static str = "API";
    const SEGMENT: &'static str = "apis";
    const MCP: bool = false;
    type View = rest_scopes::CommentViewApi;
}

/// `/mcp-servers/{mcpServerId}/…`.
pub(crate) struct OfMcpServer;
impl Subject for OfMcpServer {
    const WHAT: &'static str = "MCP server";
    const SEGMENT: &'static str = "mcp-servers";
    const MCP: bool = true;
    type View = rest_scopes::CommentViewMcp;
}

/// Where a request comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Portal {
    Publisher,
    DevPortal,
}

impl Portal {
    fn base(self) -> &'static str {
        match self {
            Self::Publisher => "/api/am/publisher/v4",
            Self::DevPortal => "/api/am/devportal/v3",
        }
    }

    fn entry_point(self) -> &'static str {
        match self {
            Self::Publisher => "publisher",
            Self::DevPortal => "devPortal",
        }
    }
}

fn comment_routes<S: Subject>(router: Router<AppState>, portal: Portal) -> Router<AppState> {
    let segment = S::SEGMENT;
    let (list, create, one, edit, remove, replies) = match portal {
        Portal::Publisher => (
            get(list_publisher::<S>),
            axum::routing::post(create_publisher::<S>),
            get(get_publisher::<S>),
            axum::routing::patch(edit_publisher::<S>),
            axum::routing::delete(delete_publisher::<S>),
            get(replies_publisher::<S>),
        ),
        Portal::DevPortal => (
            get(list_devportal::<S>),
            axum::routing::post(create_devportal::<S>),
            get(get_devportal::<S>),
            axum::routing::patch(edit_devportal::<S>),
            axum::routing::delete(delete_devportal::<S>),
            get(replies_devportal::<S>),
        ),
    };
    router
        .route(&format!("/{segment}/{{id}}/comments"), list.merge(create))
        .route(
            &format!("/{segment}/{{id}}/comments/{{comment_id}}"),
            one.merge(edit).merge(remove),
        )
        .route(
            &format!("/{segment}/{{id}}/comments/{{comment_id}}/replies"),
            replies,
        )
}

fn rating_routes<S: Subject>(router: Router<AppState>) -> Router<AppState> {
    let segment = S::SEGMENT;
    router
        .route(&format!("/{segment}/{{id}}/ratings"), get(ratings::<S>))
        .route(
            &format!("/{segment}/{{id}}/user-rating"),
            get(user_rating::<S>)
                .put(put_user_rating::<S>)
                .delete(delete_user_rating::<S>),
        )
}

/// Routes under `/api/am/publisher/v4`.
pub(crate) fn publisher() -> Router<AppState> {
    let router = comment_routes::<OfApi>(Router::new(), Portal::Publisher);
    comment_routes::<OfMcpServer>(router, Portal::Publisher)
}

/// Routes under `/api/am/devportal/v3`.
pub(crate) fn devportal() -> Router<AppState> {
    let router = comment_routes::<OfApi>(Router::new(), Portal::DevPortal);
    let router = comment_routes::<OfMcpServer>(router, Portal::DevPortal);
    rating_routes::<OfMcpServer>(rating_routes::<OfApi>(router))
}

// ---- Loading what a comment is about ---------------------------------------------------------

/// The API or MCP server `id` for the Publisher (its access control ran before the handler,
/// in `publisher::access`), or 404.
async fn publisher_subject<S: Subject>(state: &AppState, id: &str) -> ApiResult<Api> {
    let api = crate::service::apis::load(state, id)
        .await
        .map_err(|_| ApiError::not_found(S::WHAT, id))?;
    of_kind::<S>(api, id)
}

/// The API or MCP server `id` if the Developer Portal shows it to `user`, or 404.
async fn devportal_subject<S: Subject>(
    state: &AppState,
    id: &str,
    user: Option<&AuthUser>,
) -> ApiResult<Api> {
    let api = crate::devportal::apis::load_visible(state, id, user)
        .await
        .map_err(|_| ApiError::not_found(S::WHAT, id))?;
    of_kind::<S>(api, id)
}

fn of_kind<S: Subject>(api: Api, id: &str) -> ApiResult<Api> {
    if (api.api_type == MCP_API_TYPE) == S::MCP {
        Ok(api)
    } else {
        Err(ApiError::not_found(S::WHAT, id))
    }
}

async fn load_comment(state: &AppState, api_id: &str, id: &str) -> ApiResult<Comment> {
    match feedback::get_comment(state.store(), api_id, id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("comment", id)),
        other => Ok(other?),
    }
}

// ---- The wire format -------------------------------------------------------------------------

/// `?includeCommenterInfo=`, `?replyLimit=`, `?replyOffset=` and paging.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CommentQuery {
    #[serde(default)]
    include_commenter_info: bool,
    reply_limit: Option<i64>,
    reply_offset: Option<i64>,
    limit: Option<i64>,
    offset: Option<i64>,
}

impl CommentQuery {
    fn paging(&self) -> ApiResult<(i64, i64)> {
        resolve_paging(self.limit, self.offset, ("limit", "offset"))
    }

    fn reply_paging(&self) -> ApiResult<(i64, i64)> {
        resolve_paging(
            self.reply_limit,
            self.reply_offset,
            ("replyLimit", "replyOffset"),
        )
    }
}

/// The body of POST and PATCH (WSO2 `PostRequest`, `PatchRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommentRequest {
    content: Option<String>,
    category: Option<String>,
}

/// `?replyTo=` on a POST.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyTo {
    reply_to: Option<String>,
}

impl CommentRequest {
    /// A comment of `content` in the default category.
    pub(crate) fn text(content: String) -> Self {
        Self {
            content: Some(content),
            category: None,
        }
    }

    /// The checked (content, category); `current` supplies what a PATCH leaves out.
    fn checked(self, current: Option<&Comment>) -> ApiResult<(String, String)> {
        let content = match (self.content, current) {
            (Some(content), _) => content,
            (None, Some(current)) => current.content.clone(),
            (None, None) => return Err(ApiError::BadRequest("content: is required".into())),
        };
        if content.trim().is_empty() {
            return Err(ApiError::BadRequest("content: must not be blank".into()));
        }
        if content.chars().count() > MAX_CONTENT {
            return Err(ApiError::BadRequest(format!(
                "content: at most {MAX_CONTENT} characters"
            )));
        }
        if content
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(ApiError::BadRequest(
                "content: must not contain control characters".into(),
            ));
        }
        let category = match (self.category, current) {
            (Some(category), _) => category,
            (None, Some(current)) => current.category.clone(),
            (None, None) => "general".to_owned(),
        };
        let valid = !category.is_empty()
            && category.len() <= 50
            && category
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(ApiError::BadRequest(
                "category: 1 to 50 letters, digits, '_' or '-'".into(),
            ));
        }
        Ok((content, category))
    }
}

/// The SCIM names of the users who wrote `comments`, for `commenterInfo`.
async fn commenters(state: &AppState, comments: &[&Comment]) -> ApiResult<HashMap<String, Value>> {
    let mut found = HashMap::new();
    for comment in comments {
        if found.contains_key(&comment.created_by) {
            continue;
        }
        let user =
            gantry_store::users::find_by_username(state.store(), &comment.created_by).await?;
        let profile: Value = user
            .and_then(|u| serde_json::from_str(&u.profile).ok())
            .unwrap_or(Value::Null);
        let name = &profile["name"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let (first, last) = (text(&name["givenName"]), text(&name["familyName"]));
        let full = match (name["formatted"].as_str(), profile["displayName"].as_str()) {
            (Some(formatted), _) => formatted.to_owned(),
            (None, Some(display)) => display.to_owned(),
            _ => format!("{first} {last}").trim().to_owned(),
        };
        found.insert(
            comment.created_by.clone(),
            json!({"firstName": first, "lastName": last, "fullName": full}),
        );
    }
    Ok(found)
}

/// WSO2 `Comment`, without replies.
fn comment_json(comment: &Comment, commenters: Option<&HashMap<String, Value>>) -> Value {
    let mut body = json!({
        "id": comment.id,
        "content": comment.content,
        "createdTime": rfc3339(comment.created_at),
        "createdBy": comment.created_by,
        "updatedTime": rfc3339(comment.updated_at),
        "category": comment.category,
        "entryPoint": comment.entry_point,
    });
    if let Some(parent) = &comment.parent_id {
        body["parentCommentId"] = json!(parent);
    }
    if let Some(info) = commenters.and_then(|c| c.get(&comment.created_by)) {
        body["commenterInfo"] = info.clone();
    }
    body
}

/// A page of comments (or of one comment's replies) as WSO2's `CommentList`.
async fn comment_page(
    state: &AppState,
    api_id: &str,
    parent: Option<&str>,
    (offset, limit): (i64, i64),
    include_commenter_info: bool,
    path: &str,
) -> ApiResult<Value> {
    let (page, total) =
        feedback::list_comments(state.store(), api_id, parent, offset, limit).await?;
    let mut replies = Vec::with_capacity(page.len());
    if parent.is_none() {
        for comment in &page {
            replies.push(
                feedback::list_comments(
                    state.store(),
                    api_id,
                    Some(&comment.id),
                    0,
                    REPLIES_IN_LIST,
                )
                .await?,
            );
        }
    }
    let everyone: Vec<&Comment> = page
        .iter()
        .chain(replies.iter().flat_map(|(r, _)| r))
        .collect();
    let names = if include_commenter_info {
        Some(commenters(state, &everyone).await?)
    } else {
        None
    };
    let list: Vec<Value> = page
        .iter()
        .enumerate()
        .map(|(i, comment)| {
            let mut body = comment_json(comment, names.as_ref());
            if let Some((replies, total)) = replies.get(i) {
                let list: Vec<Value> = replies
                    .iter()
                    .map(|r| comment_json(r, names.as_ref()))
                    .collect();
                body["replies"] = list_envelope(
                    list,
                    0,
                    REPLIES_IN_LIST,
                    *total,
                    &format!("{path}/{}/replies", comment.id),
                );
            }
            body
        })
        .collect();
    Ok(list_envelope(list, offset, limit, total, path))
}

fn comments_path<S: Subject>(portal: Portal, id: &str) -> String {
    format!("{}/{}/{id}/comments", portal.base(), S::SEGMENT)
}

// ---- The operations, once for both portals ---------------------------------------------------

async fn list<S: Subject>(
    state: &AppState,
    portal: Portal,
    id: &str,
    query: &CommentQuery,
) -> ApiResult<axum::Json<Value>> {
    let paging = query.paging()?;
    let path = comments_path::<S>(portal, id);
    Ok(axum::Json(
        comment_page(state, id, None, paging, query.include_commenter_info, &path).await?,
    ))
}

async fn one<S: Subject>(
    state: &AppState,
    portal: Portal,
    id: &str,
    comment_id: &str,
    query: &CommentQuery,
) -> ApiResult<axum::Json<Value>> {
    let comment = load_comment(state, id, comment_id).await?;
    let (offset, limit) = query.reply_paging()?;
    let path = format!("{}/{comment_id}/replies", comments_path::<S>(portal, id));
    let page = comment_page(
        state,
        id,
        Some(comment_id),
        (offset, limit),
        query.include_commenter_info,
        &path,
    )
    .await?;
    let names = if query.include_commenter_info {
        Some(commenters(state, &[&comment]).await?)
    } else {
        None
    };
    let mut body = comment_json(&comment, names.as_ref());
    body["replies"] = page;
    Ok(axum::Json(body))
}

async fn replies<S: Subject>(
    state: &AppState,
    portal: Portal,
    id: &str,
    comment_id: &str,
    query: &CommentQuery,
) -> ApiResult<axum::Json<Value>> {
    let paging = query.paging()?;
    load_comment(state, id, comment_id).await?;
    let path = format!("{}/{comment_id}/replies", comments_path::<S>(portal, id));
    Ok(axum::Json(
        comment_page(
            state,
            id,
            Some(comment_id),
            paging,
            query.include_commenter_info,
            &path,
        )
        .await?,
    ))
}

/// Adds `username`'s comment on the API `id` (a reply to `reply_to` when given: one level
/// only), written from `entry_point` (`publisher`, `devPortal`); the REST handlers and the
/// Developer Portal's page share it.
pub(crate) async fn add_comment(
    state: &AppState,
    id: &str,
    username: &str,
    reply_to: Option<String>,
    request: CommentRequest,
    entry_point: &str,
) -> ApiResult<Comment> {
    let (content, category) = request.checked(None)?;
    let parent = match reply_to.filter(|p| !p.is_empty()) {
        None => None,
        Some(parent) => {
            let parent = load_comment(state, id, &parent).await?;
            if parent.parent_id.is_some() {
                return Err(ApiError::BadRequest(
                    "replyTo: a reply cannot be replied to; reply to the comment it answers".into(),
                ));
            }
            Some(parent.id)
        }
    };
    let now = gantry_store::now_ms();
    let comment = Comment {
        id: gantry_store::new_id(),
        api_id: id.to_owned(),
        parent_id: parent,
        content,
        category,
        entry_point: entry_point.to_owned(),
        created_at: now,
        created_by: username.to_owned(),
        updated_at: now,
    };
    feedback::insert_comment(state.store(), &comment).await?;
    tracing::info!(api_id = id, comment = %comment.id, by = %username, "comment added");
    Ok(comment)
}

async fn create<S: Subject>(
    state: &AppState,
    portal: Portal,
    user: &AuthUser,
    id: &str,
    reply_to: Option<String>,
    request: CommentRequest,
) -> ApiResult<Response> {
    let comment = add_comment(
        state,
        id,
        &user.username,
        reply_to,
        request,
        portal.entry_point(),
    )
    .await?;
    let location = format!("{}/{}", comments_path::<S>(portal, id), comment.id);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(comment_json(&comment, None)),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn edit(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    comment_id: &str,
    request: CommentRequest,
) -> ApiResult<axum::Json<Value>> {
    let current = load_comment(state, id, comment_id).await?;
    if current.created_by != user.username {
        return Err(ApiError::Forbidden(
            "Only the comment's author may edit it".into(),
        ));
    }
    let (content, category) = request.checked(Some(&current))?;
    feedback::update_comment(state.store(), id, comment_id, &content, &category).await?;
    let comment = load_comment(state, id, comment_id).await?;
    Ok(axum::Json(comment_json(&comment, None)))
}

async fn delete(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    comment_id: &str,
) -> ApiResult<StatusCode> {
    let current = load_comment(state, id, comment_id).await?;
    if current.created_by != user.username && !user.has_any_scope(MODERATORS) {
        return Err(ApiError::Forbidden(
            "Only the comment's author or a moderator (apim:comment_manage, apim:admin) may delete it"
                .into(),
        ));
    }
    match feedback::delete_comment(state.store(), id, comment_id).await {
        Err(StoreError::NotFound) => return Err(ApiError::not_found("comment", comment_id)),
        other => other?,
    }
    tracing::info!(api_id = id, comment = %comment_id, by = %user.username, "comment deleted");
    Ok(StatusCode::OK)
}

// ---- Publisher handlers ----------------------------------------------------------------------

async fn list_publisher<S: Subject>(
    State(state): State<AppState>,
    _: Scoped<S::View>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<CommentQuery>,
) -> ApiResult<axum::Json<Value>> {
    publisher_subject::<S>(&state, &id).await?;
    list::<S>(&state, Portal::Publisher, &id, &query).await
}

async fn get_publisher<S: Subject>(
    State(state): State<AppState>,
    _: Scoped<S::View>,
    Path((id, comment_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<CommentQuery>,
) -> ApiResult<axum::Json<Value>> {
    publisher_subject::<S>(&state, &id).await?;
    one::<S>(&state, Portal::Publisher, &id, &comment_id, &query).await
}

async fn replies_publisher<S: Subject>(
    State(state): State<AppState>,
    _: Scoped<S::View>,
    Path((id, comment_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<CommentQuery>,
) -> ApiResult<axum::Json<Value>> {
    publisher_subject::<S>(&state, &id).await?;
    replies::<S>(&state, Portal::Publisher, &id, &comment_id, &query).await
}

async fn create_publisher<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::CommentWrite>,
    Path(id): Path<String>,
    QueryParams(reply): QueryParams<ReplyTo>,
    JsonBody(request): JsonBody<CommentRequest>,
) -> ApiResult<Response> {
    publisher_subject::<S>(&state, &id).await?;
    create::<S>(
        &state,
        Portal::Publisher,
        &user,
        &id,
        reply.reply_to,
        request,
    )
    .await
}

async fn edit_publisher<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::CommentWrite>,
    Path((id, comment_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<CommentRequest>,
) -> ApiResult<axum::Json<Value>> {
    publisher_subject::<S>(&state, &id).await?;
    edit(&state, &user, &id, &comment_id, request).await
}

async fn delete_publisher<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::CommentDelete>,
    Path((id, comment_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    publisher_subject::<S>(&state, &id).await?;
    delete(&state, &user, &id, &comment_id).await
}

// ---- Developer Portal handlers ---------------------------------------------------------------

async fn list_devportal<S: Subject>(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<CommentQuery>,
) -> ApiResult<axum::Json<Value>> {
    devportal_subject::<S>(&state, &id, user.as_ref()).await?;
    list::<S>(&state, Portal::DevPortal, &id, &query).await
}

async fn get_devportal<S: Subject>(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, comment_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<CommentQuery>,
) -> ApiResult<axum::Json<Value>> {
    devportal_subject::<S>(&state, &id, user.as_ref()).await?;
    one::<S>(&state, Portal::DevPortal, &id, &comment_id, &query).await
}

async fn replies_devportal<S: Subject>(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path((id, comment_id)): Path<(String, String)>,
    QueryParams(query): QueryParams<CommentQuery>,
) -> ApiResult<axum::Json<Value>> {
    devportal_subject::<S>(&state, &id, user.as_ref()).await?;
    replies::<S>(&state, Portal::DevPortal, &id, &comment_id, &query).await
}

async fn create_devportal<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path(id): Path<String>,
    QueryParams(reply): QueryParams<ReplyTo>,
    JsonBody(request): JsonBody<CommentRequest>,
) -> ApiResult<Response> {
    devportal_subject::<S>(&state, &id, Some(&user)).await?;
    create::<S>(
        &state,
        Portal::DevPortal,
        &user,
        &id,
        reply.reply_to,
        request,
    )
    .await
}

async fn edit_devportal<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path((id, comment_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<CommentRequest>,
) -> ApiResult<axum::Json<Value>> {
    devportal_subject::<S>(&state, &id, Some(&user)).await?;
    edit(&state, &user, &id, &comment_id, request).await
}

async fn delete_devportal<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::SubscribeOrAdmin>,
    Path((id, comment_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    devportal_subject::<S>(&state, &id, Some(&user)).await?;
    delete(&state, &user, &id, &comment_id).await
}

// ---- Ratings (Developer Portal) --------------------------------------------------------------

/// WSO2 `Rating`.
fn rating_json(rating: &Rating) -> Value {
    json!({
        "ratingId": rating.id,
        "apiId": rating.api_id,
        "ratedBy": rating.rated_by,
        "rating": rating.rating,
    })
}

/// The average of `ratings`, as WSO2 writes it (a string, one decimal at most).
pub(crate) fn average(ratings: &[Rating]) -> String {
    if ratings.is_empty() {
        return "0.0".to_owned();
    }
    let sum: i64 = ratings.iter().map(|r| i64::from(r.rating)).sum();
    let average = sum as f64 / ratings.len() as f64;
    format!("{:.1}", (average * 10.0).round() / 10.0)
}

/// `GET …/ratings`: WSO2 `RatingList` (`avgRating`, the caller's `userRating`, a page).
async fn ratings<S: Subject>(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Path(id): Path<String>,
    QueryParams(paging): QueryParams<Paging>,
) -> ApiResult<axum::Json<Value>> {
    let (offset, limit) = paging.resolve()?;
    devportal_subject::<S>(&state, &id, user.as_ref()).await?;
    let all = feedback::ratings(state.store(), &id).await?;
    let average = average(&all);
    let user_rating = user
        .as_ref()
        .and_then(|u| all.iter().find(|r| r.rated_by == u.username))
        .map_or(0, |r| r.rating);
    let list: Vec<Value> = all.iter().map(rating_json).collect();
    let (page, total) = crate::wire::page_of(list, offset, limit);
    let mut body = list_envelope(
        page,
        offset,
        limit,
        total,
        &format!("{}/{}/{id}/ratings", Portal::DevPortal.base(), S::SEGMENT),
    );
    body["avgRating"] = json!(average);
    body["userRating"] = json!(user_rating);
    Ok(axum::Json(body))
}

/// `GET …/user-rating`: the caller's rating, 404 when they have not rated it.
async fn user_rating<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    devportal_subject::<S>(&state, &id, Some(&user)).await?;
    match feedback::user_rating(state.store(), &id, &user.username).await? {
        Some(rating) => Ok(axum::Json(rating_json(&rating))),
        None => Err(ApiError::NotFound(format!(
            "'{}' has not rated the {} '{id}'",
            user.username,
            S::WHAT
        ))),
    }
}

#[derive(Debug, Deserialize)]
struct RatingRequest {
    rating: Option<i64>,
}

/// A rating as given: 1 to 5, else 400.
pub(crate) fn checked_rating(rating: Option<i64>) -> ApiResult<i32> {
    match rating {
        Some(r @ 1..=5) => Ok(r as i32),
        Some(other) => Err(ApiError::BadRequest(format!(
            "rating: must be 1 to 5, not {other}"
        ))),
        None => Err(ApiError::BadRequest("rating: is required".into())),
    }
}

/// `PUT …/user-rating`: sets or changes the caller's rating (1 to 5).
async fn put_user_rating<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<RatingRequest>,
) -> ApiResult<axum::Json<Value>> {
    let rating = checked_rating(request.rating)?;
    devportal_subject::<S>(&state, &id, Some(&user)).await?;
    let stored = feedback::put_rating(state.store(), &id, &user.username, rating).await?;
    Ok(axum::Json(rating_json(&stored)))
}

/// `DELETE …/user-rating`: removes the caller's rating (200 whether or not there was one).
async fn delete_user_rating<S: Subject>(
    State(state): State<AppState>,
    Scoped(user, _): Scoped<rest_scopes::Subscribe>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    devportal_subject::<S>(&state, &id, Some(&user)).await?;
    match feedback::delete_rating(state.store(), &id, &user.username).await {
        Ok(()) | Err(StoreError::NotFound) => Ok(StatusCode::OK),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating(value: i32) -> Rating {
        Rating {
            id: String::new(),
            api_id: String::new(),
            rated_by: String::new(),
            rating: value,
        }
    }

    #[test]
    fn the_average_is_written_with_one_decimal() {
        assert_eq!(average(&[]), "0.0");
        assert_eq!(average(&[rating(4), rating(5)]), "4.5");
        assert_eq!(average(&[rating(1), rating(2), rating(2)]), "1.7");
    }

    #[test]
    fn comment_bodies_are_checked() {
        let request = |content: Option<&str>, category: Option<&str>| CommentRequest {
            content: content.map(str::to_owned),
            category: category.map(str::to_owned),
        };
        assert_eq!(
            request(Some("Nice"), None).checked(None).unwrap(),
            ("Nice".to_owned(), "general".to_owned())
        );
        assert!(request(None, None).checked(None).is_err());
        assert!(request(Some("  "), None).checked(None).is_err());
        assert!(request(Some(&"x".repeat(513)), None).checked(None).is_err());
        assert!(request(Some("a\u{0}b"), None).checked(None).is_err());
        assert!(request(Some("ok"), Some("<script>")).checked(None).is_err());
        assert!(
            request(Some("line\nbreak"), Some("question"))
                .checked(None)
                .is_ok()
        );
    }
}
