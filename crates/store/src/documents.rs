//! An API's documents (how-tos, samples, forums…: inline text, Markdown, a URL or a file) and
//! its thumbnail. The control plane validates and encodes what it stores; binary content is
//! kept base64-encoded (see migration 0021).

use crate::{Result, Store, StoreError, found, now_ms};

/// One stored document.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Document {
    /// UUID.
    pub id: String,
    /// The API it belongs to.
    pub api_id: String,
    /// Unique per API.
    pub name: String,
    /// WSO2's `type`: `HOWTO`, `SAMPLES`, `PUBLIC_FORUM`, `SUPPORT_FORUM`,
    /// `API_MESSAGE_FORMAT`, `SWAGGER_DOC` or `OTHER`.
    pub doc_type: String,
    /// With `OTHER`: what kind it is.
    pub other_type_name: String,
    /// One line.
    pub summary: String,
    /// `INLINE`, `MARKDOWN`, `URL` or `FILE`.
    pub source_type: String,
    /// With `URL`.
    pub source_url: String,
    /// `OWNER_ONLY`, `PRIVATE` or `API_LEVEL`.
    pub visibility: String,
    /// With `INLINE` and `MARKDOWN`.
    pub inline_content: String,
    /// With `FILE`: the uploaded file's name.
    pub file_name: String,
    /// With `FILE`: its media type.
    pub file_media_type: String,
    /// With `FILE`: its bytes, base64.
    pub file_content: String,
    /// Epoch ms.
    pub created_at: i64,
    /// User name.
    pub created_by: String,
    /// Epoch ms.
    pub updated_at: i64,
    /// User name.
    pub updated_by: String,
}

macro_rules! document_columns {
    () => {
        "id, api_id, name, doc_type, other_type_name, summary, source_type, source_url, \
         visibility, inline_content, file_name, file_media_type, file_content, created_at, \
         created_by, updated_at, updated_by"
    };
}

/// Stores a new document; `Conflict` when its API already has one of that name.
pub async fn insert(store: &Store, doc: &Document) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO api_documents (",
        document_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(&doc.id)
    .bind(&doc.api_id)
    .bind(&doc.name)
    .bind(&doc.doc_type)
    .bind(&doc.other_type_name)
    .bind(&doc.summary)
    .bind(&doc.source_type)
    .bind(&doc.source_url)
    .bind(&doc.visibility)
    .bind(&doc.inline_content)
    .bind(&doc.file_name)
    .bind(&doc.file_media_type)
    .bind(&doc.file_content)
    .bind(doc.created_at)
    .bind(&doc.created_by)
    .bind(doc.updated_at)
    .bind(&doc.updated_by)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "the API already has a document of that name",
    ))?;
    Ok(())
}

/// Replaces a document's fields (all of them but its id, API and creation).
pub async fn update(store: &Store, doc: &Document) -> Result<()> {
    let done = sqlx::query(
        "UPDATE api_documents SET name = $1, doc_type = $2, other_type_name = $3, summary = $4, \
         source_type = $5, source_url = $6, visibility = $7, inline_content = $8, file_name = $9, \
         file_media_type = $10, file_content = $11, updated_at = $12, updated_by = $13 \
         WHERE api_id = $14 AND id = $15",
    )
    .bind(&doc.name)
    .bind(&doc.doc_type)
    .bind(&doc.other_type_name)
    .bind(&doc.summary)
    .bind(&doc.source_type)
    .bind(&doc.source_url)
    .bind(&doc.visibility)
    .bind(&doc.inline_content)
    .bind(&doc.file_name)
    .bind(&doc.file_media_type)
    .bind(&doc.file_content)
    .bind(now_ms())
    .bind(&doc.updated_by)
    .bind(&doc.api_id)
    .bind(&doc.id)
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique(
        "the API already has a document of that name",
    ))?;
    found(&done)
}

/// The API's documents, by name.
pub async fn list(store: &Store, api_id: &str) -> Result<Vec<Document>> {
    Ok(sqlx::query_as::<_, Document>(concat!(
        "SELECT ",
        document_columns!(),
        " FROM api_documents WHERE api_id = $1 ORDER BY name"
    ))
    .bind(api_id)
    .fetch_all(store.pool())
    .await?)
}

/// One document of the API; `NotFound` when the API has no such document.
pub async fn get(store: &Store, api_id: &str, id: &str) -> Result<Document> {
    sqlx::query_as::<_, Document>(concat!(
        "SELECT ",
        document_columns!(),
        " FROM api_documents WHERE api_id = $1 AND id = $2"
    ))
    .bind(api_id)
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or(StoreError::NotFound)
}

/// Whether the API has a document named `name` (case-insensitively, as WSO2 compares).
pub async fn name_taken(store: &Store, api_id: &str, name: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_documents WHERE api_id = $1 AND LOWER(name) = LOWER($2)",
    )
    .bind(api_id)
    .bind(name)
    .fetch_one(store.pool())
    .await?;
    Ok(n > 0)
}

/// Deletes one document of the API.
pub async fn delete(store: &Store, api_id: &str, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM api_documents WHERE api_id = $1 AND id = $2")
        .bind(api_id)
        .bind(id)
        .execute(store.pool())
        .await?;
    found(&done)
}

/// An API's thumbnail: media type and base64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Thumbnail {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    /// The image, base64.
    pub content: String,
    /// Epoch ms.
    pub updated_at: i64,
}

/// Sets (or replaces) the API's thumbnail.
pub async fn put_thumbnail(
    store: &Store,
    api_id: &str,
    media_type: &str,
    content: &str,
) -> Result<()> {
    let mut tx = store.begin_write().await?;
    sqlx::query("DELETE FROM api_thumbnails WHERE api_id = $1")
        .bind(api_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO api_thumbnails (api_id, media_type, content, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(api_id)
    .bind(media_type)
    .bind(content)
    .bind(now_ms())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::on_unique("the API does not exist"))?;
    tx.commit().await?;
    Ok(())
}

/// The API's thumbnail, if it has one.
pub async fn thumbnail(store: &Store, api_id: &str) -> Result<Option<Thumbnail>> {
    Ok(sqlx::query_as::<_, Thumbnail>(
        "SELECT media_type, content, updated_at FROM api_thumbnails WHERE api_id = $1",
    )
    .bind(api_id)
    .fetch_optional(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(api_id: &str, name: &str) -> Document {
        Document {
            id: crate::new_id(),
            api_id: api_id.into(),
            name: name.into(),
            doc_type: "HOWTO".into(),
            other_type_name: String::new(),
            summary: "How to".into(),
            source_type: "MARKDOWN".into(),
            source_url: String::new(),
            visibility: "API_LEVEL".into(),
            inline_content: "# Hello".into(),
            file_name: String::new(),
            file_media_type: String::new(),
            file_content: String::new(),
            created_at: now_ms(),
            created_by: "admin".into(),
            updated_at: now_ms(),
            updated_by: "admin".into(),
        }
    }

    #[tokio::test]
    async fn documents_are_kept_per_api_with_unique_names() {
        let (store, api_id, _dir) = crate::test_support::store_with_api().await;
        let first = doc(&api_id, "Getting started");
        insert(&store, &first).await.unwrap();
        assert!(matches!(
            insert(&store, &doc(&api_id, "Getting started")).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(
            name_taken(&store, &api_id, "getting STARTED")
                .await
                .unwrap()
        );
        let mut changed = first.clone();
        changed.inline_content = "# Changed".into();
        update(&store, &changed).await.unwrap();
        assert_eq!(
            get(&store, &api_id, &first.id)
                .await
                .unwrap()
                .inline_content,
            "# Changed"
        );
        assert_eq!(list(&store, &api_id).await.unwrap().len(), 1);
        assert!(matches!(
            get(&store, "other-api", &first.id).await,
            Err(StoreError::NotFound)
        ));
        delete(&store, &api_id, &first.id).await.unwrap();
        assert!(list(&store, &api_id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn one_thumbnail_per_api() {
        let (store, api_id, _dir) = crate::test_support::store_with_api().await;
        assert_eq!(thumbnail(&store, &api_id).await.unwrap(), None);
        put_thumbnail(&store, &api_id, "image/png", "AAAA")
            .await
            .unwrap();
        put_thumbnail(&store, &api_id, "image/gif", "BBBB")
            .await
            .unwrap();
        let found = thumbnail(&store, &api_id).await.unwrap().unwrap();
        assert_eq!(
            (found.media_type.as_str(), found.content.as_str()),
            ("image/gif", "BBBB")
        );
    }
}
