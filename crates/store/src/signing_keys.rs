//! The key manager's signing keys: sealed PKCS#8 documents and their lifecycle state
//! (`next`, `active`, `retired`, `removed`).
//!
//! The store does not know cryptography: the private key arrives sealed and leaves sealed.
//! Every state change is conditional on the state it leaves, and a rotation's changes are
//! applied in one transaction, so two control-plane replicas rotating at once cannot both
//! win: the loser sees [`StoreError::Conflict`] and reloads.

use crate::{Result, Store, StoreError, now_ms};

/// A stored signing key.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    /// Key id, as published in the JWKS.
    pub kid: String,
    /// JWS algorithm (`RS256`, `ES256`).
    pub algorithm: String,
    /// The sealed PKCS#8 document (empty once removed; plain base64 in rows older than
    /// encryption at rest, sealed at the next start).
    pub private_key: String,
    /// `next`, `active`, `retired` or `removed`.
    pub state: String,
    /// Epoch ms.
    pub created_at: i64,
    /// When it became active (epoch ms).
    pub activated_at: Option<i64>,
    /// When it was retired (epoch ms).
    pub retired_at: Option<i64>,
    /// When a retired key may be removed: every token it signed has expired (epoch ms).
    pub remove_after: Option<i64>,
}

macro_rules! key_columns {
    () => {
        "kid, algorithm, private_key, state, created_at, activated_at, retired_at, remove_after"
    };
}

/// A key to insert.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Key id.
    pub kid: String,
    /// JWS algorithm.
    pub algorithm: String,
    /// Sealed PKCS#8.
    pub sealed_private_key: String,
    /// `next` or `active`.
    pub state: &'static str,
}

/// One change of a rotation.
#[derive(Debug, Clone)]
pub enum KeyChange {
    /// Insert a new key.
    Insert(NewKey),
    /// `next → active`.
    Activate {
        /// Key id.
        kid: String,
    },
    /// `active → retired`, removable after `remove_after` (epoch ms).
    Retire {
        /// Key id.
        kid: String,
        /// When every token it signed has expired.
        remove_after: i64,
    },
    /// `retired → removed`; the private key is wiped.
    Remove {
        /// Key id.
        kid: String,
    },
}

/// Every key, newest first, removed ones included.
pub async fn list(store: &Store) -> Result<Vec<StoredKey>> {
    Ok(sqlx::query_as::<_, StoredKey>(concat!(
        "SELECT ",
        key_columns!(),
        " FROM signing_keys ORDER BY created_at DESC, kid"
    ))
    .fetch_all(store.pool())
    .await?)
}

/// Applies a rotation's changes atomically; `Conflict` when another writer changed a key's
/// state first (nothing is applied then).
pub async fn apply(store: &Store, changes: &[KeyChange]) -> Result<()> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    for change in changes {
        let done =
            match change {
                KeyChange::Insert(key) => sqlx::query(concat!(
                    "INSERT INTO signing_keys (",
                    key_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)"
                ))
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.sealed_private_key)
                .bind(key.state)
                .bind(now)
                .bind((key.state == "active").then_some(now))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::on_unique("a signing key with this kid exists"))?,
                KeyChange::Activate { kid } => {
                    sqlx::query(
                        "UPDATE signing_keys SET state = 'active', activated_at = $1 \
                 WHERE kid = $2 AND state = 'next'",
                    )
                    .bind(now)
                    .bind(kid)
                    .execute(&mut *tx)
                    .await?
                }
                KeyChange::Retire { kid, remove_after } => sqlx::query(
                    "UPDATE signing_keys SET state = 'retired', retired_at = $1, remove_after = $2 \
                 WHERE kid = $3 AND state = 'active'",
                )
                .bind(now)
                .bind(*remove_after)
                .bind(kid)
                .execute(&mut *tx)
                .await?,
                KeyChange::Remove { kid } => {
                    sqlx::query(
                        "UPDATE signing_keys SET state = 'removed', private_key = '' \
                 WHERE kid = $1 AND state = 'retired'",
                    )
                    .bind(kid)
                    .execute(&mut *tx)
                    .await?
                }
            };
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "signing key changed concurrently ({change:?})"
            )));
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Replaces a key's stored private key (sealing a row written before encryption at rest).
pub async fn reseal(store: &Store, kid: &str, sealed_private_key: &str) -> Result<()> {
    sqlx::query("UPDATE signing_keys SET private_key = $1 WHERE kid = $2")
        .bind(sealed_private_key)
        .bind(kid)
        .execute(store.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sqlite;

    fn new(kid: &str, state: &'static str) -> KeyChange {
        KeyChange::Insert(NewKey {
            kid: kid.into(),
            algorithm: "ES256".into(),
            sealed_private_key: format!("v1:{kid}"),
            state,
        })
    }

    #[tokio::test]
    async fn rotation_moves_keys_through_their_states_atomically() {
        let (store, _dir) = sqlite().await;
        apply(&store, &[new("a", "active"), new("n", "next")])
            .await
            .unwrap();
        apply(
            &store,
            &[
                KeyChange::Retire {
                    kid: "a".into(),
                    remove_after: 42,
                },
                KeyChange::Activate { kid: "n".into() },
                new("n2", "next"),
            ],
        )
        .await
        .unwrap();
        let keys = list(&store).await.unwrap();
        let state = |kid: &str| {
            keys.iter()
                .find(|k| k.kid == kid)
                .map(|k| k.state.clone())
                .unwrap()
        };
        assert_eq!(state("a"), "retired");
        assert_eq!(state("n"), "active");
        assert_eq!(state("n2"), "next");
        let retired = keys.iter().find(|k| k.kid == "a").unwrap();
        assert_eq!(retired.remove_after, Some(42));

        // A second replica that planned from the old states loses, and changes nothing.
        let stale = apply(
            &store,
            &[
                KeyChange::Retire {
                    kid: "n".into(),
                    remove_after: 1,
                },
                KeyChange::Activate { kid: "a".into() },
            ],
        )
        .await;
        assert!(matches!(stale, Err(StoreError::Conflict(_))));
        assert_eq!(list(&store).await.unwrap().len(), 3);
        assert!(
            list(&store)
                .await
                .unwrap()
                .iter()
                .any(|k| k.kid == "n" && k.state == "active")
        );

        apply(&store, &[KeyChange::Remove { kid: "a".into() }])
            .await
            .unwrap();
        let removed = list(&store).await.unwrap();
        let a = removed.iter().find(|k| k.kid == "a").unwrap();
        assert_eq!((a.state.as_str(), a.private_key.as_str()), ("removed", ""));
    }
}
