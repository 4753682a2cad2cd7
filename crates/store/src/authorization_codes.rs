//! Authorization codes (RFC 6749 §4.1), stored as digests: short-lived, bound to a client,
//! a redirect URI and a PKCE challenge, and redeemable once. A second redemption is
//! reported so the tokens of the first can be revoked (RFC 6749 §4.1.2).

use crate::{Result, Store, StoreError, now_ms};

/// A stored authorization code.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuthorizationCode {
    /// Digest of the code.
    pub code_hash: String,
    /// OAuth2 client id.
    pub client_id: String,
    /// The user who consented.
    pub username: String,
    /// The redirect URI of the authorization request (must match at the token endpoint).
    pub redirect_uri: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// PKCE S256 challenge (empty when none was sent).
    pub code_challenge: String,
    /// OIDC nonce (empty when none).
    pub nonce: String,
    /// Family of the tokens it is exchanged for.
    pub family_id: String,
    /// When the user authenticated (epoch s).
    pub auth_time: i64,
    /// Expiry (epoch ms).
    pub expires_at: i64,
    /// 1 once redeemed.
    pub used: i64,
    /// The access token it was exchanged for.
    pub access_jti: String,
    /// Its expiry (epoch ms).
    pub access_expires_at: i64,
    /// Epoch ms.
    pub created_at: i64,
}

macro_rules! columns {
    () => {
        "code_hash, client_id, username, redirect_uri, scope, code_challenge, nonce, family_id, \
         auth_time, expires_at, used, access_jti, access_expires_at, created_at"
    };
}

/// What redeeming a code found.
#[derive(Debug, Clone)]
pub enum Redemption {
    /// First use: the code.
    Redeemed(AuthorizationCode),
    /// The code was redeemed before.
    Reused(AuthorizationCode),
    /// No such code.
    Unknown,
}

/// Stores a new code.
pub async fn insert(store: &Store, code: &AuthorizationCode) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO authorization_codes (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, '', 0, $11)"
    ))
    .bind(&code.code_hash)
    .bind(&code.client_id)
    .bind(&code.username)
    .bind(&code.redirect_uri)
    .bind(&code.scope)
    .bind(&code.code_challenge)
    .bind(&code.nonce)
    .bind(&code.family_id)
    .bind(code.auth_time)
    .bind(code.expires_at)
    .bind(now_ms())
    .execute(store.pool())
    .await
    .map_err(StoreError::on_unique("authorization code exists"))?;
    Ok(())
}

/// Marks the code used, atomically, and returns it; or says it was used or is unknown.
pub async fn redeem(store: &Store, code_hash: &str) -> Result<Redemption> {
    let first =
        sqlx::query("UPDATE authorization_codes SET used = 1 WHERE code_hash = $1 AND used = 0")
            .bind(code_hash)
            .execute(store.pool())
            .await?
            .rows_affected()
            == 1;
    let code = sqlx::query_as::<_, AuthorizationCode>(concat!(
        "SELECT ",
        columns!(),
        " FROM authorization_codes WHERE code_hash = $1"
    ))
    .bind(code_hash)
    .fetch_optional(store.pool())
    .await?;
    Ok(match (code, first) {
        (Some(code), true) => Redemption::Redeemed(code),
        (Some(code), false) => Redemption::Reused(code),
        (None, _) => Redemption::Unknown,
    })
}

/// Records the access token a code was exchanged for (revoked if the code is replayed).
pub async fn record_access_token(
    store: &Store,
    code_hash: &str,
    jti: &str,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE authorization_codes SET access_jti = $1, access_expires_at = $2 WHERE code_hash = $3",
    )
    .bind(jti)
    .bind(expires_at)
    .bind(code_hash)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// Deletes codes that expired more than a day before `now` (kept a while to detect replays).
pub async fn purge_expired(store: &Store, now: i64) -> Result<u64> {
    let done = sqlx::query("DELETE FROM authorization_codes WHERE expires_at <= $1")
        .bind(now - 86_400_000)
        .execute(store.pool())
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::sqlite;

    #[tokio::test]
    async fn a_code_is_redeemed_once() {
        let (store, _dir) = sqlite().await;
        let code = AuthorizationCode {
            code_hash: "h".into(),
            client_id: "ck".into(),
            username: "alice".into(),
            redirect_uri: "https://app/cb".into(),
            scope: "openid".into(),
            code_challenge: String::new(),
            nonce: String::new(),
            family_id: "f".into(),
            auth_time: 1,
            expires_at: now_ms() + 60_000,
            used: 0,
            access_jti: String::new(),
            access_expires_at: 0,
            created_at: 0,
        };
        insert(&store, &code).await.unwrap();
        assert!(
            matches!(redeem(&store, "h").await.unwrap(), Redemption::Redeemed(c) if c.username == "alice")
        );
        record_access_token(&store, "h", "j", 5).await.unwrap();
        assert!(
            matches!(redeem(&store, "h").await.unwrap(), Redemption::Reused(c) if c.access_jti == "j")
        );
        assert!(matches!(
            redeem(&store, "x").await.unwrap(),
            Redemption::Unknown
        ));
    }
}
