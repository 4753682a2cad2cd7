//! What people say about an API or MCP server: comments (with one level of replies) and
//! ratings from 1 to 5, one per user (see migration 0022).

use crate::{Result, Store, StoreError, found, new_id, now_ms};

/// One stored comment or reply.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Comment {
    /// UUID.
    pub id: String,
    /// The API (or MCP server) it is about.
    pub api_id: String,
    /// The comment it replies to; `None` for a top-level comment.
    pub parent_id: Option<String>,
    /// The text (at most 512 characters).
    pub content: String,
    /// WSO2's `category` (`general` unless given).
    pub category: String,
    /// `devPortal` or `publisher`: where it was written.
    pub entry_point: String,
    /// Epoch ms.
    pub created_at: i64,
    /// User name.
    pub created_by: String,
    /// Epoch ms.
    pub updated_at: i64,
}

macro_rules! comment_columns {
    () => {
        "id, api_id, parent_id, content, category, entry_point, created_at, created_by, updated_at"
    };
}

/// Stores a new comment (its parent, when it has one, belongs to the same API: the caller
/// checked).
pub async fn insert_comment(store: &Store, comment: &Comment) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO api_comments (",
        comment_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&comment.id)
    .bind(&comment.api_id)
    .bind(&comment.parent_id)
    .bind(&comment.content)
    .bind(&comment.category)
    .bind(&comment.entry_point)
    .bind(comment.created_at)
    .bind(&comment.created_by)
    .bind(comment.updated_at)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("the comment could not be stored"))?;
    Ok(())
}

/// One comment of the API; `NotFound` when the API has no such comment.
pub async fn get_comment(store: &Store, api_id: &str, id: &str) -> Result<Comment> {
    sqlx::query_as::<_, Comment>(concat!(
        "SELECT ",
        comment_columns!(),
        " FROM api_comments WHERE api_id = $1 AND id = $2"
    ))
    .bind(api_id)
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// A page of the API's top-level comments (`parent = None`) or of one comment's replies,
/// newest first for comments and oldest first for replies (a conversation reads down), and
/// how many there are in all.
pub async fn list_comments(
    store: &Store,
    api_id: &str,
    parent: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Comment>, i64)> {
    let page = match parent {
        None => sqlx::query_as::<_, Comment>(concat!(
            "SELECT ",
            comment_columns!(),
            " FROM api_comments WHERE api_id = $1 AND parent_id IS NULL \
             ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
        ))
        .bind(api_id)
        .bind(limit)
        .bind(offset),
        Some(parent) => sqlx::query_as::<_, Comment>(concat!(
            "SELECT ",
            comment_columns!(),
            " FROM api_comments WHERE api_id = $1 AND parent_id = $4 \
             ORDER BY created_at, id LIMIT $2 OFFSET $3"
        ))
        .bind(api_id)
        .bind(limit)
        .bind(offset)
        .bind(parent),
    }
    .fetch_all(store.pool())
    .await?;
    let total: i64 = match parent {
        None => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_comments WHERE api_id = $1 AND parent_id IS NULL",
            )
            .bind(api_id)
            .fetch_one(store.pool())
            .await?
        }
        Some(parent) => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_comments WHERE api_id = $1 AND parent_id = $2",
            )
            .bind(api_id)
            .bind(parent)
            .fetch_one(store.pool())
            .await?
        }
    };
    Ok((page, total))
}

/// Changes a comment's text and category.
pub async fn update_comment(
    store: &Store,
    api_id: &str,
    id: &str,
    content: &str,
    category: &str,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE api_comments SET content = $1, category = $2, updated_at = $3 \
         WHERE api_id = $4 AND id = $5",
    )
    .bind(content)
    .bind(category)
    .bind(now_ms())
    .bind(api_id)
    .bind(id)
    .execute(store.pool())
    .await?;
    found(&done)
}

/// Deletes a comment and its replies.
pub async fn delete_comment(store: &Store, api_id: &str, id: &str) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM api_comments WHERE api_id = $1 AND parent_id = $2")
        .bind(api_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM api_comments WHERE api_id = $1 AND id = $2")
        .bind(api_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    found(&done)?;
    tx.commit().await?;
    Ok(())
}

/// One user's rating of an API.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Rating {
    /// UUID, kept when the user changes the rating.
    pub id: String,
    /// The API (or MCP server) rated.
    pub api_id: String,
    /// User name.
    pub rated_by: String,
    /// 1 to 5.
    pub rating: i32,
}

/// Sets (or changes) `rated_by`'s rating of the API, and returns it.
pub async fn put_rating(
    store: &Store,
    api_id: &str,
    rated_by: &str,
    rating: i32,
) -> Result<Rating> {
    let mut tx = store.begin_write().await?;
    let changed = sqlx::query(
        "UPDATE api_ratings SET rating = $1, updated_at = $2 WHERE api_id = $3 AND rated_by = $4",
    )
    .bind(rating)
    .bind(now_ms())
    .bind(api_id)
    .bind(rated_by)
    .execute(&mut *tx)
    .await?;
    if changed.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO api_ratings (id, api_id, rated_by, rating, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(new_id())
        .bind(api_id)
        .bind(rated_by)
        .bind(rating)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(StoreError::on_unique("the rating could not be stored"))?;
    }
    tx.commit().await?;
    user_rating(store, api_id, rated_by)
        .await?
        .ok_or(StoreError::NotFound)
}

/// `rated_by`'s rating of the API, if any.
pub async fn user_rating(store: &Store, api_id: &str, rated_by: &str) -> Result<Option<Rating>> {
    Ok(sqlx::query_as::<_, Rating>(
        "SELECT id, api_id, rated_by, rating FROM api_ratings WHERE api_id = $1 AND rated_by = $2",
    )
    .bind(api_id)
    .bind(rated_by)
    .fetch_optional(store.pool())
    .await?)
}

/// Removes `rated_by`'s rating of the API (`NotFound` when there was none).
pub async fn delete_rating(store: &Store, api_id: &str, rated_by: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM api_ratings WHERE api_id = $1 AND rated_by = $2")
        .bind(api_id)
        .bind(rated_by)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// Every rating of the API, newest change first.
pub async fn ratings(store: &Store, api_id: &str) -> Result<Vec<Rating>> {
    Ok(sqlx::query_as::<_, Rating>(
        "SELECT id, api_id, rated_by, rating FROM api_ratings WHERE api_id = $1 \
         ORDER BY updated_at DESC, id",
    )
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::store_with_api;

    fn comment(api_id: &str, parent: Option<&str>, content: &str, at: i64) -> Comment {
        Comment {
            id: new_id(),
            api_id: api_id.to_owned(),
            parent_id: parent.map(str::to_owned),
            content: content.to_owned(),
            category: "general".into(),
            entry_point: "devPortal".into(),
            created_at: at,
            created_by: "alice".into(),
            updated_at: at,
        }
    }

    #[tokio::test]
    async fn comments_page_newest_first_and_replies_go_with_their_comment() {
        let (store, api_id, _dir) = store_with_api().await;
        let first = comment(&api_id, None, "first", 1);
        let second = comment(&api_id, None, "second", 2);
        insert_comment(&store, &first).await.unwrap();
        insert_comment(&store, &second).await.unwrap();
        let reply = comment(&api_id, Some(&first.id), "a reply", 3);
        insert_comment(&store, &reply).await.unwrap();

        let (page, total) = list_comments(&store, &api_id, None, 0, 10).await.unwrap();
        assert_eq!(total, 2);
        assert_eq!(
            page.iter().map(|c| c.content.as_str()).collect::<Vec<_>>(),
            ["second", "first"]
        );
        let (replies, total) = list_comments(&store, &api_id, Some(&first.id), 0, 10)
            .await
            .unwrap();
        assert_eq!((total, replies[0].content.as_str()), (1, "a reply"));
        let (page, total) = list_comments(&store, &api_id, None, 1, 1).await.unwrap();
        assert_eq!((total, page[0].content.as_str()), (2, "first"));

        update_comment(&store, &api_id, &reply.id, "edited", "general")
            .await
            .unwrap();
        assert_eq!(
            get_comment(&store, &api_id, &reply.id)
                .await
                .unwrap()
                .content,
            "edited"
        );
        delete_comment(&store, &api_id, &first.id).await.unwrap();
        assert!(matches!(
            get_comment(&store, &api_id, &reply.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            delete_comment(&store, &api_id, &first.id).await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            get_comment(&store, "another-api", &second.id).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn one_rating_per_user_changed_in_place() {
        let (store, api_id, _dir) = store_with_api().await;
        let first = put_rating(&store, &api_id, "alice", 4).await.unwrap();
        let again = put_rating(&store, &api_id, "alice", 2).await.unwrap();
        assert_eq!((again.id.as_str(), again.rating), (first.id.as_str(), 2));
        put_rating(&store, &api_id, "bob", 5).await.unwrap();
        assert_eq!(ratings(&store, &api_id).await.unwrap().len(), 2);
        delete_rating(&store, &api_id, "alice").await.unwrap();
        assert_eq!(user_rating(&store, &api_id, "alice").await.unwrap(), None);
        assert!(matches!(
            delete_rating(&store, &api_id, "alice").await,
            Err(StoreError::NotFound)
        ));
    }
}
