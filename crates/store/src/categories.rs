//! API categories (APIs name them in `categories`) and gateway labels, both kept by the
//! Admin API (see migration 0022). Names are unique case-insensitively.

use crate::{Result, Store, StoreError, found};

/// An API category, or a gateway label (the same shape: labels add access URLs).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Category {
    /// UUID.
    pub id: String,
    /// As given.
    pub name: String,
    /// One line.
    pub description: String,
}

/// A gateway label.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Label {
    /// UUID.
    pub id: String,
    /// As given.
    pub name: String,
    /// One line.
    pub description: String,
    /// The URLs the label's gateways answer on, as a JSON array.
    pub access_urls: String,
}

/// The two tables, with what differs between them.
#[derive(Clone, Copy)]
enum Table {
    Categories,
    Labels,
}

impl Table {
    fn taken(self) -> &'static str {
        match self {
            Self::Categories => "an API category of that name exists",
            Self::Labels => "a label of that name exists",
        }
    }
}

async fn insert(store: &Store, table: Table, row: (&str, &str, &str), urls: &str) -> Result<()> {
    let (id, name, description) = row;
    let sql = match table {
        Table::Categories => {
            "INSERT INTO api_categories (id, name, lower_name, description) VALUES ($1, $2, $3, $4)"
        }
        Table::Labels => {
            "INSERT INTO gateway_labels (id, name, lower_name, description, access_urls) \
             VALUES ($1, $2, $3, $4, $5)"
        }
    };
    let query = sqlx::query(sql)
        .bind(id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(description);
    let query = match table {
        Table::Labels => query.bind(urls),
        Table::Categories => query,
    };
    query
        .execute(store.pool())
        .await
        .map_err(StoreError::on_unique(table.taken()))?;
    Ok(())
}

async fn update(store: &Store, table: Table, row: (&str, &str, &str), urls: &str) -> Result<()> {
    let (id, name, description) = row;
    let sql = match table {
        Table::Categories => {
            "UPDATE api_categories SET name = $1, lower_name = $2, description = $3 WHERE id = $4"
        }
        Table::Labels => {
            "UPDATE gateway_labels SET name = $1, lower_name = $2, description = $3, \
             access_urls = $5 WHERE id = $4"
        }
    };
    let query = sqlx::query(sql)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(description)
        .bind(id);
    let query = match table {
        Table::Labels => query.bind(urls),
        Table::Categories => query,
    };
    let done = query
        .execute(store.pool())
        .await
        .map_err(StoreError::on_unique(table.taken()))?;
    found(&done)
}

async fn delete(store: &Store, table: Table, id: &str) -> Result<()> {
    let sql = match table {
        Table::Categories => "DELETE FROM api_categories WHERE id = $1",
        Table::Labels => "DELETE FROM gateway_labels WHERE id = $1",
    };
    let done = sqlx::query(sql).bind(id).execute(store.pool()).await?;
    found(&done)
}

/// Stores a new category; `Conflict` when the name is taken.
pub async fn insert_category(store: &Store, category: &Category) -> Result<()> {
    let row = (&*category.id, &*category.name, &*category.description);
    insert(store, Table::Categories, row, "").await
}

/// Renames or redescribes a category.
pub async fn update_category(store: &Store, category: &Category) -> Result<()> {
    let row = (&*category.id, &*category.name, &*category.description);
    update(store, Table::Categories, row, "").await
}

/// Deletes a category.
pub async fn delete_category(store: &Store, id: &str) -> Result<()> {
    delete(store, Table::Categories, id).await
}

/// Every category, by name.
pub async fn categories(store: &Store) -> Result<Vec<Category>> {
    Ok(sqlx::query_as::<_, Category>(
        "SELECT id, name, description FROM api_categories ORDER BY lower_name",
    )
    .fetch_all(store.pool())
    .await?)
}

/// One category; `NotFound` when there is none with that id.
pub async fn category(store: &Store, id: &str) -> Result<Category> {
    sqlx::query_as::<_, Category>("SELECT id, name, description FROM api_categories WHERE id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or(StoreError::NotFound)
}

/// Stores a new label; `Conflict` when the name is taken.
pub async fn insert_label(store: &Store, label: &Label) -> Result<()> {
    let row = (&*label.id, &*label.name, &*label.description);
    insert(store, Table::Labels, row, &label.access_urls).await
}

/// Changes a label.
pub async fn update_label(store: &Store, label: &Label) -> Result<()> {
    let row = (&*label.id, &*label.name, &*label.description);
    update(store, Table::Labels, row, &label.access_urls).await
}

/// Deletes a label.
pub async fn delete_label(store: &Store, id: &str) -> Result<()> {
    delete(store, Table::Labels, id).await
}

/// Every label, by name.
pub async fn labels(store: &Store) -> Result<Vec<Label>> {
    Ok(sqlx::query_as::<_, Label>(
        "SELECT id, name, description, access_urls FROM gateway_labels ORDER BY lower_name",
    )
    .fetch_all(store.pool())
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_are_unique_whatever_their_case() {
        let (store, _dir) = crate::test_support::sqlite().await;
        let finance = Category {
            id: crate::new_id(),
            name: "Finance".into(),
            description: "Money".into(),
        };
        insert_category(&store, &finance).await.unwrap();
        let again = Category {
            id: crate::new_id(),
            name: "FINANCE".into(),
            description: String::new(),
        };
        assert!(matches!(
            insert_category(&store, &again).await,
            Err(StoreError::Conflict(_))
        ));
        let renamed = Category {
            name: "Banking".into(),
            ..finance.clone()
        };
        update_category(&store, &renamed).await.unwrap();
        assert_eq!(category(&store, &finance.id).await.unwrap().name, "Banking");
        insert_category(&store, &again).await.unwrap();
        assert_eq!(categories(&store).await.unwrap().len(), 2);
        delete_category(&store, &finance.id).await.unwrap();
        assert!(matches!(
            delete_category(&store, &finance.id).await,
            Err(StoreError::NotFound)
        ));

        let label = Label {
            id: crate::new_id(),
            name: "Public".into(),
            description: "Public gateways".into(),
            access_urls: r#"["https://gw.example.com"]"#.into(),
        };
        insert_label(&store, &label).await.unwrap();
        assert_eq!(labels(&store).await.unwrap(), vec![label.clone()]);
        delete_label(&store, &label.id).await.unwrap();
        assert!(labels(&store).await.unwrap().is_empty());
    }
}
