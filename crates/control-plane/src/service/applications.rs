//! Applications and their OAuth2 keys: create, update, delete, generate keys, regenerate a
//! secret, issue a test token. The Developer Portal REST handlers (`devportal::applications`,
//! `devportal::key_tokens`) and the Developer Portal pages (`portal::applications`) call
//! these; each edge reads its request and words its own rejections of the fields.

use gantry_keys::IssuedToken;
use gantry_model::KeyType;
use gantry_store::applications::{self, Application, ApplicationKey, NewApplication};
use gantry_store::policies::{self, PolicyLevel};
use gantry_store::{StoreError, now_ms};
use serde_json::{Map, Value};

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::oauth::client_auth::Client;
use crate::service::workflows::{self, Deferred, PendingKey, WorkflowType};
use gantry_store::workflows::Workflow;

/// The resident key manager's name, as WSO2 calls it.
pub const RESIDENT_KEY_MANAGER: &str = gantry_store::applications::RESIDENT_KEY_MANAGER;

/// Default access-token lifetime, seconds (WSO2's default).
pub const DEFAULT_TOKEN_VALIDITY_SECS: i64 = 3600;

/// Grant types the resident key manager knows.
pub const KNOWN_GRANTS: [&str; 6] = [
    "client_credentials",
    "password",
    "refresh_token",
    "authorization_code",
    "implicit",
    "urn:ietf:params:oauth:grant-type:jwt-bearer",
];

/// Loads `owner`'s application or answers 404 (also for other users' applications).
pub async fn load_owned(state: &AppState, id: &str, owner: &str) -> ApiResult<Application> {
    match applications::get_owned(state.store(), id, owner).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("application", id)),
        other => Ok(other?),
    }
}

/// What is wrong with an application name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Empty (after trimming).
    Missing,
    /// Longer than 100 characters.
    TooLong,
}

/// Checks an application name (trimmed): required, at most 100 characters.
pub fn check_name(name: &str) -> Option<NameProblem> {
    let name = name.trim();
    if name.is_empty() {
        Some(NameProblem::Missing)
    } else if name.chars().count() > 100 {
        Some(NameProblem::TooLong)
    } else {
        None
    }
}

/// Whether `tier` is an application throttling policy.
pub async fn is_application_tier(state: &AppState, tier: &str) -> ApiResult<bool> {
    Ok(
        policies::find(state.store(), PolicyLevel::Application, tier)
            .await?
            .is_some(),
    )
}

/// The names of the application throttling policies.
pub async fn application_tiers(state: &AppState) -> ApiResult<Vec<String>> {
    Ok(policies::list(state.store(), PolicyLevel::Application)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect())
}

/// The fields of an application a user sets (checked by the edge with [`check_name`] and
/// [`is_application_tier`]).
#[derive(Debug, Clone, Copy)]
pub struct ApplicationFields<'a> {
    /// Name, unique per owner.
    pub name: &'a str,
    /// Application throttling policy.
    pub throttling_policy: &'a str,
    /// Free text.
    pub description: &'a str,
    /// WSO2's custom attributes.
    pub attributes: &'a Map<String, Value>,
}

impl<'a> ApplicationFields<'a> {
    fn with(self, owner: &'a str, token_type: &'a str) -> NewApplication<'a> {
        NewApplication {
            name: self.name,
            owner,
            throttling_policy: self.throttling_policy,
            description: self.description,
            token_type,
            attributes: self.attributes,
        }
    }
}

/// Creates an application of `owner` (409 when the owner has one of that name). While
/// AM_APPLICATION_CREATION needs approval it is created `CREATED` (usable for nothing) with
/// the approval request, and becomes `APPROVED` or `REJECTED` when decided.
pub async fn create(
    state: &AppState,
    owner: &str,
    token_type: &str,
    fields: ApplicationFields<'_>,
) -> ApiResult<(Application, Option<Workflow>)> {
    if !state
        .workflows()
        .requires(WorkflowType::ApplicationCreation)
    {
        let app = applications::create(state.store(), fields.with(owner, token_type)).await?;
        tracing::info!(application_id = %app.id, owner = %app.owner, "application created");
        return Ok((app, None));
    }
    let app = applications::create_with_status(
        state.store(),
        fields.with(owner, token_type),
        applications::STATUS_CREATED,
    )
    .await?;
    let workflow = workflows::request(
        state,
        WorkflowType::ApplicationCreation,
        &app.id,
        owner,
        &format!(
            "Approve application [{}] creation request from application creator - {} with throttling tier - {}",
            app.name, app.owner, app.throttling_policy
        ),
        &Deferred::ApplicationCreation {
            application_id: app.id.clone(),
        },
    )
    .await?;
    Ok((app, Some(workflow)))
}

/// 409 unless `app` is approved: an application waiting for approval, or rejected, gets no
/// keys and no subscriptions.
pub fn require_approved(app: &Application) -> ApiResult<()> {
    match app.status.as_str() {
        applications::STATUS_APPROVED => Ok(()),
        applications::STATUS_CREATED => Err(ApiError::Conflict(format!(
            "Application '{}' is waiting for approval; it can get keys and subscriptions once approved",
            app.name
        ))),
        other => Err(ApiError::Conflict(format!(
            "Application '{}' is {other}; it can get no keys or subscriptions",
            app.name
        ))),
    }
}

/// Changes name, tier, description and attributes of `current` (409 when the owner has
/// another application of that name); gateways learn a new tier.
pub async fn update(
    state: &AppState,
    current: &Application,
    fields: ApplicationFields<'_>,
) -> ApiResult<Application> {
    let app = applications::update_owned(
        state.store(),
        &current.id,
        &current.owner,
        fields.with(&current.owner, &current.token_type),
    )
    .await?;
    tracing::info!(application_id = %app.id, "application updated");
    if app.throttling_policy != current.throttling_policy {
        // Gateways enforce the application tier.
        state.sync_environments().await?;
    }
    Ok(app)
}

/// Deletes `owner`'s application with its keys and subscriptions (404 when there is none).
pub async fn delete(state: &AppState, id: &str, owner: &str) -> ApiResult<()> {
    applications::delete_owned(state.store(), id, owner)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("application", id),
            other => other.into(),
        })?;
    gantry_store::workflows::withdraw_pending_for(state.store(), id, owner).await?;
    tracing::info!(application_id = %id, owner, "application deleted");
    state.sync_environments().await?;
    Ok(())
}

/// 400 unless every grant is one of [`KNOWN_GRANTS`].
pub fn check_grants(grants: &[String]) -> ApiResult<()> {
    match grants.iter().find(|g| !KNOWN_GRANTS.contains(&g.as_str())) {
        Some(bad) => Err(ApiError::BadRequest(format!(
            "grantTypesToBeSupported: '{bad}' is not a grant type (known: {})",
            KNOWN_GRANTS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// What a new resident client is to be.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// PRODUCTION or SANDBOX.
    pub key_type: KeyType,
    /// Grants the client may use (each one of [`KNOWN_GRANTS`]).
    pub grant_types: Vec<String>,
    /// Redirect URI for the authorization code and implicit grants.
    pub callback_url: String,
    /// Access-token lifetime, seconds.
    pub validity_period: i64,
    /// A public client: holds no secret and must use PKCE.
    pub public: bool,
}

/// Keys just generated: the client, its secret (shown once), and the approval request
/// when key generation of that type needs approval (the client is then stored, and its
/// credentials work, only once approved).
#[derive(Debug)]
pub struct GeneratedKeys {
    /// The client.
    pub key: ApplicationKey,
    /// Its secret.
    pub secret: String,
    /// The approval request, while pending.
    pub pending: Option<Workflow>,
}

/// Registers a resident OAuth2 client for `app`: the key and its secret (shown once; only
/// its hash is kept). 409 when the application has keys of that type already, is not
/// approved, or has such a registration waiting for approval.
pub async fn generate_keys(
    state: &AppState,
    app: &Application,
    request: KeyRequest,
) -> ApiResult<GeneratedKeys> {
    require_approved(app)?;
    check_grants(&request.grant_types)?;
    let secret = gantry_keys::secret::new_consumer_secret();
    let pending = PendingKey {
        id: applications::new_key_id(),
        key_type: request.key_type.as_str().to_owned(),
        consumer_key: gantry_keys::secret::new_consumer_key(),
        consumer_secret_hash: crate::hash_client_secret(&secret).await?,
        grant_types: request.grant_types,
        callback_url: request.callback_url,
        validity_period: request.validity_period,
        public: request.public,
    };
    let workflow_type = WorkflowType::registration(request.key_type);
    if !state.workflows().requires(workflow_type) {
        let key = store_key(state, app, pending).await?;
        return Ok(GeneratedKeys {
            key,
            secret,
            pending: None,
        });
    }
    workflows::refuse_if_pending(state, workflow_type, &app.id).await?;
    let held = applications::keys_of(state.store(), &app.id).await?;
    if held
        .iter()
        .any(|k| k.key_type == pending.key_type && k.is_resident())
    {
        return Err(ApiError::Conflict(
            "the application already has keys of this type from this key manager".into(),
        ));
    }
    let key = pending.to_key(&app.id);
    let workflow = workflows::request(
        state,
        workflow_type,
        &app.id,
        &app.owner,
        &format!(
            "Approve {} key generation for application [{}] of {}",
            pending.key_type.to_lowercase(),
            app.name,
            app.owner
        ),
        &Deferred::KeyGeneration {
            application_id: app.id.clone(),
            key: pending,
        },
    )
    .await?;
    Ok(GeneratedKeys {
        key,
        secret,
        pending: Some(workflow),
    })
}

/// Stores a resident client of `app` (at once, or when its registration is approved);
/// gateways learn it.
pub(crate) async fn store_key(
    state: &AppState,
    app: &Application,
    pending: PendingKey,
) -> ApiResult<ApplicationKey> {
    let public = pending.public;
    let key = pending.to_key(&app.id);
    applications::create_key(state.store(), &key).await?;
    if public {
        applications::set_public_client(state.store(), &key.consumer_key, true).await?;
    }
    tracing::info!(application_id = %app.id, key_type = %key.key_type, public, "keys generated");
    state.sync_environments().await?;
    Ok(key)
}

/// `app`'s clients whose registration waits for approval (shown with `keyState: CREATED`).
pub async fn pending_keys(state: &AppState, app: &Application) -> ApiResult<Vec<ApplicationKey>> {
    let mut keys = Vec::new();
    for workflow_type in [
        WorkflowType::ApplicationRegistrationProduction,
        WorkflowType::ApplicationRegistrationSandbox,
    ] {
        for workflow in
            gantry_store::workflows::pending_for(state.store(), workflow_type.as_str(), &app.id)
                .await?
        {
            if let Ok(Deferred::KeyGeneration { key, .. }) =
                serde_json::from_str::<Deferred>(&workflow.payload)
            {
                keys.push(key.to_key(&app.id));
            }
        }
    }
    Ok(keys)
}

impl PendingKey {
    fn to_key(&self, application_id: &str) -> ApplicationKey {
        ApplicationKey {
            id: self.id.clone(),
            application_id: application_id.to_owned(),
            key_type: self.key_type.clone(),
            key_manager: RESIDENT_KEY_MANAGER.to_owned(),
            consumer_key: self.consumer_key.clone(),
            consumer_secret_hash: self.consumer_secret_hash.clone(),
            grant_types: self.grant_types.clone(),
            callback_url: self.callback_url.clone(),
            validity_period: self.validity_period,
            created_at: now_ms(),
        }
    }
}

/// Deletes `app`'s key mapping `key_id` (404 when there is none). Its live tokens die with
/// it: refresh tokens are deleted, and access tokens name a client id that no longer exists
/// (client ids are random and never reused), so gateways find no application for them (the
/// key mapping leaves their snapshot) and introspection reports them inactive.
pub async fn delete_key(state: &AppState, app: &Application, key_id: &str) -> ApiResult<()> {
    let key = applications::delete_key(state.store(), &app.id, key_id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("key mapping", key_id),
            other => other.into(),
        })?;
    gantry_store::refresh_tokens::delete_for_client(state.store(), &key.consumer_key).await?;
    tracing::info!(application_id = %app.id, key_type = %key.key_type, "keys deleted; their tokens are void");
    state.sync_environments().await?;
    Ok(())
}

/// Changes which grants the resident client `key` may use and its callback URL (WSO2's key
/// update); the token endpoint holds the client to them from the next request. 400 for an
/// unknown grant or a client of an external key manager (whose settings live there).
pub async fn update_key(
    state: &AppState,
    app: &Application,
    key: &ApplicationKey,
    grant_types: Vec<String>,
    callback_url: String,
) -> ApiResult<ApplicationKey> {
    if !key.is_resident() {
        return Err(ApiError::BadRequest(format!(
            "keys of the key manager '{}' are changed there, not here",
            key.key_manager
        )));
    }
    check_grants(&grant_types)?;
    applications::update_key_settings(state.store(), &app.id, &key.id, &grant_types, &callback_url)
        .await?;
    tracing::info!(application_id = %app.id, key_type = %key.key_type, "keys updated");
    Ok(ApplicationKey {
        grant_types,
        callback_url,
        ..key.clone()
    })
}

/// Binds `consumer_key`, a client registered at the external key manager `key_manager`, to
/// `app`, so gateways accept that client's tokens for the application's subscriptions.
/// Gantry never holds its secret.
pub async fn map_key(
    state: &AppState,
    app: &Application,
    key_type: KeyType,
    key_manager: &str,
    consumer_key: &str,
) -> ApiResult<ApplicationKey> {
    require_approved(app)?;
    let key = ApplicationKey {
        id: applications::new_key_id(),
        application_id: app.id.clone(),
        key_type: key_type.as_str().to_owned(),
        key_manager: key_manager.to_owned(),
        consumer_key: consumer_key.to_owned(),
        // No secret: the client authenticates at its own key manager, never here.
        consumer_secret_hash: String::new(),
        grant_types: Vec::new(),
        callback_url: String::new(),
        validity_period: DEFAULT_TOKEN_VALIDITY_SECS,
        created_at: now_ms(),
    };
    applications::create_key(state.store(), &key).await?;
    tracing::info!(application_id = %app.id, key_manager, key_type = key_type.as_str(), "external client mapped");
    state.sync_environments().await?;
    Ok(key)
}

/// Gives the resident client `key` of `app` a new secret (stored hashed) and returns it;
/// the old one stops working at once. 400 for a client mapped from an external key
/// manager, whose secret lives there (a secret here would let it authenticate at Gantry's
/// OAuth2 server as a client it does not hold).
pub async fn regenerate_secret(
    state: &AppState,
    app: &Application,
    key: &ApplicationKey,
) -> ApiResult<String> {
    if !key.is_resident() {
        return Err(ApiError::BadRequest(format!(
            "The key manager '{}' holds this client's secret; regenerate it there",
            key.key_manager
        )));
    }
    let secret = gantry_keys::secret::new_consumer_secret();
    let hash = crate::hash_client_secret(&secret).await?;
    applications::set_secret_hash(state.store(), &key.consumer_key, &hash).await?;
    tracing::info!(application_id = %app.id, key_type = %key.key_type, "consumer secret regenerated");
    Ok(secret)
}

/// Issues a client_credentials access token for `app`'s `key`, exactly as the token
/// endpoint would for that client (the signed-in owner stands in for the secret).
pub fn test_token(
    state: &AppState,
    app: &Application,
    key: ApplicationKey,
) -> ApiResult<IssuedToken> {
    let client = Client {
        key,
        app: app.clone(),
        public: false,
    };
    if !client.allows("client_credentials") {
        return Err(ApiError::BadRequest(
            "These keys may not use the client_credentials grant.".into(),
        ));
    }
    crate::oauth::grants::sign(state, &client, gantry_keys::Subject::Application, &[])
        .map_err(|e| ApiError::Internal(format!("signing a test token: {e:?}")))
}
