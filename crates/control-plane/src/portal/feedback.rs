//! Ratings and comments on an API's Developer Portal page: the average and the reader's own
//! rating, the comments with their replies (shown as text: the template escapes them), and
//! the forms to rate, comment and reply. The checks are the REST API's (`crate::feedback`).

use axum::extract::{Path, State};
use axum::response::Response;
use gantry_store::feedback;
use serde::Deserialize;

use super::devportal::load_visible;
use super::session::UserForm;
use super::{Portal, PortalError, see_other, when};
use crate::AppState;
use crate::feedback::{CommentRequest, add_comment, average, checked_rating};

/// Comments shown on the page (newest first), and replies under each.
const COMMENTS_SHOWN: i64 = 50;
const REPLIES_SHOWN: i64 = 20;

/// One comment or reply as the page shows it.
pub(super) struct CommentRow {
    pub id: String,
    pub author: String,
    pub when: String,
    pub content: String,
    pub replies: Vec<CommentRow>,
}

/// What the page shows of an API's ratings and comments.
pub(super) struct FeedbackView {
    /// One decimal, `0.0` when nobody rated it.
    pub average: String,
    pub count: usize,
    /// The reader's own rating, 0 when none.
    pub mine: i32,
    pub comments: Vec<CommentRow>,
}

fn row(comment: &feedback::Comment, replies: Vec<CommentRow>) -> CommentRow {
    CommentRow {
        id: comment.id.clone(),
        author: comment.created_by.clone(),
        when: when(comment.created_at),
        content: comment.content.clone(),
        replies,
    }
}

/// The ratings and comments of the API `api_id`, for `username`.
pub(super) async fn view(
    state: &AppState,
    api_id: &str,
    username: &str,
) -> Result<FeedbackView, PortalError> {
    let ratings = feedback::ratings(state.store(), api_id).await?;
    let mine = ratings
        .iter()
        .find(|r| r.rated_by == username)
        .map_or(0, |r| r.rating);
    let (top, _) = feedback::list_comments(state.store(), api_id, None, 0, COMMENTS_SHOWN).await?;
    let mut comments = Vec::with_capacity(top.len());
    for comment in &top {
        let (replies, _) =
            feedback::list_comments(state.store(), api_id, Some(&comment.id), 0, REPLIES_SHOWN)
                .await?;
        let replies = replies.iter().map(|r| row(r, Vec::new())).collect();
        comments.push(row(comment, replies));
    }
    Ok(FeedbackView {
        average: average(&ratings),
        count: ratings.len(),
        mine,
        comments,
    })
}

#[derive(Deserialize)]
pub(super) struct CommentForm {
    #[serde(default)]
    content: String,
    #[serde(default)]
    reply_to: String,
}

/// `POST /devportal/apis/{id}/comments`: a comment, or a reply (`reply_to`).
pub(super) async fn comment(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<CommentForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let api = load_visible(&state, &api_id, &user).await?;
    let reply_to = (!form.reply_to.is_empty()).then_some(form.reply_to);
    let replying = reply_to.is_some();
    add_comment(
        &state,
        &api.id,
        &user.username,
        reply_to,
        CommentRequest::text(form.content),
        "devPortal",
    )
    .await?;
    let notice = if replying {
        "Your reply is posted."
    } else {
        "Your comment is posted."
    };
    see_other(
        &user,
        &format!("/devportal/apis/{}#feedback", api.id),
        notice,
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct RatingForm {
    #[serde(default)]
    rating: String,
}

/// `POST /devportal/apis/{id}/rating`: rates the API (1 to 5) or changes the rating.
pub(super) async fn rate(
    State(state): State<AppState>,
    Path(api_id): Path<String>,
    UserForm { user, form }: UserForm<RatingForm>,
) -> Result<Response, PortalError> {
    user.require(Portal::Devportal)?;
    let api = load_visible(&state, &api_id, &user).await?;
    let rating = checked_rating(form.rating.trim().parse().ok())?;
    feedback::put_rating(state.store(), &api.id, &user.username, rating).await?;
    let notice = format!("You rated {} {rating} of 5.", api.name.as_str());
    see_other(
        &user,
        &format!("/devportal/apis/{}#feedback", api.id),
        &notice,
    )
    .await
}
