//! Approval workflows, as WSO2 API Manager's: while a workflow type is switched on
//! ([`WorkflowSettings`], from the configuration), the operation of that type records a
//! request ([`request`]) holding the deferred action instead of doing it, and it takes
//! effect only when an administrator (or the type's external approver, over a signed
//! callback) approves it ([`decide`]); a rejection rolls back what the request left, so
//! nothing that grants access remains. The gates sit in the domain operations
//! (`service::{applications, subscriptions, apis, revisions, signup}`), one per action, so
//! the REST APIs and the portals behave the same.

use gantry_store::workflows::{self as store, NewWorkflow, Workflow};
use gantry_store::{StoreError, applications, subscriptions, users};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::error::{ApiError, ApiResult};

/// WSO2's workflow types that Gantry can hold for approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkflowType {
    /// Creating an application.
    ApplicationCreation,
    /// Generating an application's production keys.
    ApplicationRegistrationProduction,
    /// Generating an application's sandbox keys.
    ApplicationRegistrationSandbox,
    /// Subscribing an application to an API.
    SubscriptionCreation,
    /// Moving a subscription to another tier.
    SubscriptionUpdate,
    /// Changing an API's lifecycle state.
    ApiState,
    /// Deploying an API revision to gateway environments.
    RevisionDeployment,
    /// Self sign-up of a developer-portal user.
    UserSignup,
}

impl WorkflowType {
    /// Every type, in the order the Admin portal lists them.
    pub const ALL: [WorkflowType; 8] = [
        WorkflowType::ApplicationCreation,
        WorkflowType::ApplicationRegistrationProduction,
        WorkflowType::ApplicationRegistrationSandbox,
        WorkflowType::SubscriptionCreation,
        WorkflowType::SubscriptionUpdate,
        WorkflowType::ApiState,
        WorkflowType::RevisionDeployment,
        WorkflowType::UserSignup,
    ];

    /// WSO2's name (`AM_SUBSCRIPTION_CREATION`): configuration, storage, the REST filter.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowType::ApplicationCreation => "AM_APPLICATION_CREATION",
            WorkflowType::ApplicationRegistrationProduction => {
                "AM_APPLICATION_REGISTRATION_PRODUCTION"
            }
            WorkflowType::ApplicationRegistrationSandbox => "AM_APPLICATION_REGISTRATION_SANDBOX",
            WorkflowType::SubscriptionCreation => "AM_SUBSCRIPTION_CREATION",
            WorkflowType::SubscriptionUpdate => "AM_SUBSCRIPTION_UPDATE",
            WorkflowType::ApiState => "AM_API_STATE",
            WorkflowType::RevisionDeployment => "AM_REVISION_DEPLOYMENT",
            WorkflowType::UserSignup => "AM_USER_SIGNUP",
        }
    }

    /// The name in WSO2's `WorkflowInfo.workflowType` (without `AM_`).
    pub fn info_name(self) -> &'static str {
        &self.as_str()[3..]
    }

    /// Parses WSO2's name, with or without `AM_`, in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        let upper = raw.trim().to_ascii_uppercase();
        let name = upper.strip_prefix("AM_").unwrap_or(&upper);
        WorkflowType::ALL
            .into_iter()
            .find(|t| t.info_name() == name)
    }

    /// The key-generation type for `key_type`.
    pub fn registration(key_type: gantry_model::KeyType) -> Self {
        match key_type {
            gantry_model::KeyType::Production => WorkflowType::ApplicationRegistrationProduction,
            gantry_model::KeyType::Sandbox => WorkflowType::ApplicationRegistrationSandbox,
        }
    }

    /// One line for the approver's inbox.
    pub fn title(self) -> &'static str {
        match self {
            WorkflowType::ApplicationCreation => "Application creation",
            WorkflowType::ApplicationRegistrationProduction => "Production key generation",
            WorkflowType::ApplicationRegistrationSandbox => "Sandbox key generation",
            WorkflowType::SubscriptionCreation => "Subscription",
            WorkflowType::SubscriptionUpdate => "Subscription tier change",
            WorkflowType::ApiState => "API lifecycle change",
            WorkflowType::RevisionDeployment => "Revision deployment",
            WorkflowType::UserSignup => "User self sign-up",
        }
    }
}

/// Which workflow types need approval in this deployment, and which of them ask an
/// external approver (a webhook) as well as the Admin inbox.
#[derive(Clone, Default)]
pub struct WorkflowSettings {
    enabled: Vec<WorkflowType>,
    webhooks: Vec<(WorkflowType, String)>,
    secret: Option<String>,
    callback_base: String,
}

impl std::fmt::Debug for WorkflowSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkflowSettings")
            .field("enabled", &self.enabled)
            .field("webhooks", &self.webhooks)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("callback_base", &self.callback_base)
            .finish()
    }
}

impl WorkflowSettings {
    /// `enabled` types need approval; each of `webhooks` (type, URL) is POSTed its requests,
    /// signed with `secret`, and decides over `<callback_base>/api/am/admin/v4/workflows/callback/{ref}`.
    pub fn new(
        enabled: impl IntoIterator<Item = WorkflowType>,
        webhooks: Vec<(WorkflowType, String)>,
        secret: Option<String>,
        callback_base: &str,
    ) -> Self {
        let mut enabled: Vec<WorkflowType> = enabled.into_iter().collect();
        enabled.sort();
        enabled.dedup();
        Self {
            enabled,
            webhooks,
            secret,
            callback_base: callback_base.trim_end_matches('/').to_owned(),
        }
    }

    /// Whether `workflow_type` needs approval.
    pub fn requires(&self, workflow_type: WorkflowType) -> bool {
        self.enabled.contains(&workflow_type)
    }

    /// The types that need approval.
    pub fn enabled(&self) -> &[WorkflowType] {
        &self.enabled
    }

    /// The external approver of `workflow_type`, if any.
    pub fn webhook(&self, workflow_type: WorkflowType) -> Option<&str> {
        self.webhooks
            .iter()
            .find(|(t, _)| *t == workflow_type)
            .map(|(_, url)| url.as_str())
    }

    /// The secret webhook messages and callbacks are signed with.
    pub fn secret(&self) -> Option<&str> {
        self.secret.as_deref()
    }

    /// Where an external approver calls back for request `reference`.
    pub fn callback_url(&self, reference: &str) -> String {
        format!(
            "{}/api/am/admin/v4/workflows/callback/{reference}",
            self.callback_base
        )
    }
}

/// What an operation that may need approval did.
#[derive(Debug)]
pub enum Requested<T> {
    /// Done at once.
    Done(T),
    /// Recorded for approval; done when approved.
    Pending(Box<Workflow>),
}

/// A resident client whose registration waits for approval: stored on approval, never
/// before (so its credentials open nothing while pending, and nothing stays on rejection).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingKey {
    /// `keyMappingId` it will get.
    pub id: String,
    /// PRODUCTION or SANDBOX.
    pub key_type: String,
    /// Client id.
    pub consumer_key: String,
    /// Argon2id hash of the secret (shown once, when requested).
    pub consumer_secret_hash: String,
    /// Grants.
    pub grant_types: Vec<String>,
    /// Redirect URI.
    pub callback_url: String,
    /// Token lifetime, seconds.
    pub validity_period: i64,
    /// A public client (PKCE, no secret).
    pub public: bool,
}

/// The action a request holds back, performed on approval.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Deferred {
    /// The application (status `CREATED`) becomes `APPROVED`.
    #[serde(rename_all = "camelCase")]
    ApplicationCreation {
        /// The application.
        application_id: String,
    },
    /// The client is stored and reaches the gateways.
    #[serde(rename_all = "camelCase")]
    KeyGeneration {
        /// The application.
        application_id: String,
        /// The client.
        key: PendingKey,
    },
    /// The subscription (`ON_HOLD`) becomes `UNBLOCKED`.
    #[serde(rename_all = "camelCase")]
    Subscription {
        /// The subscription.
        subscription_id: String,
    },
    /// The subscription moves to `tier`.
    #[serde(rename_all = "camelCase")]
    SubscriptionUpdate {
        /// The subscription.
        subscription_id: String,
        /// The tier asked for.
        tier: String,
        /// The tier it has.
        previous_tier: String,
    },
    /// The lifecycle action is applied (if still allowed).
    #[serde(rename_all = "camelCase")]
    ApiState {
        /// The API.
        api_id: String,
        /// WSO2's action name (`Publish`).
        action: String,
        /// State when asked.
        from: String,
        /// State it leads to.
        to: String,
    },
    /// The revision is deployed to the environments.
    #[serde(rename_all = "camelCase")]
    RevisionDeployment {
        /// The API.
        api_id: String,
        /// The revision.
        revision_id: String,
        /// Environments, vhosts, devportal flags.
        targets: Vec<crate::service::revisions::DeploymentTarget>,
    },
    /// The user account is created.
    #[serde(rename_all = "camelCase")]
    UserSignup {
        /// Name.
        username: String,
        /// Argon2id PHC string.
        password_hash: String,
        /// Roles.
        roles: Vec<String>,
        /// SCIM profile JSON.
        profile: String,
    },
}

impl Deferred {
    /// What the approver sees of the request (never a secret or a password hash).
    pub fn properties(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.remove("passwordHash");
            map.remove("profile");
            if let Some(key) = map.get_mut("key").and_then(|k| k.as_object_mut()) {
                key.remove("consumerSecretHash");
            }
        }
        value
    }
}

/// Records a request of `workflow_type` about `reference` by `requested_by`, holding
/// `deferred`; tells the type's external approver, if any.
pub async fn request(
    state: &AppState,
    workflow_type: WorkflowType,
    reference: &str,
    requested_by: &str,
    description: &str,
    deferred: &Deferred,
) -> ApiResult<Workflow> {
    let payload = serde_json::to_string(deferred)
        .map_err(|e| ApiError::Internal(format!("workflow payload: {e}")))?;
    let workflow = store::create(
        state.store(),
        NewWorkflow {
            workflow_type: workflow_type.as_str(),
            reference,
            requested_by,
            description,
            payload: &payload,
        },
    )
    .await?;
    tracing::info!(
        workflow = %workflow.id,
        workflow_type = workflow_type.as_str(),
        reference,
        requested_by,
        "approval requested"
    );
    crate::service::workflow_webhook::notify(state, workflow_type, &workflow, deferred);
    Ok(workflow)
}

/// 409 when a request of `workflow_type` about `reference` is pending already.
pub async fn refuse_if_pending(
    state: &AppState,
    workflow_type: WorkflowType,
    reference: &str,
) -> ApiResult<()> {
    match store::pending_for(state.store(), workflow_type.as_str(), reference)
        .await?
        .first()
    {
        Some(pending) => Err(ApiError::Conflict(format!(
            "A {} request is waiting for approval already (workflow {})",
            workflow_type.title().to_lowercase(),
            pending.id
        ))),
        None => Ok(()),
    }
}

/// A decision on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Perform the deferred action.
    Approve,
    /// Roll back what the request left.
    Reject,
}

impl Decision {
    /// WSO2's status name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approve => store::STATUS_APPROVED,
            Decision::Reject => store::STATUS_REJECTED,
        }
    }
}

/// Who decides.
#[derive(Debug, Clone, Copy)]
pub enum Decider<'a> {
    /// A signed-in administrator (who may not decide their own request).
    User(&'a str),
    /// The type's external approver, over a verified callback.
    Webhook,
}

/// Loads request `id` or answers 404.
pub async fn load(state: &AppState, id: &str) -> ApiResult<Workflow> {
    match store::get(state.store(), id).await {
        Err(StoreError::NotFound) => Err(ApiError::not_found("workflow", id)),
        other => Ok(other?),
    }
}

/// Approves or rejects request `id` with `comment`: the decision is recorded (once, even
/// with several replicas), then the deferred action is performed or the request's traces
/// rolled back. 403 for the requester's own request, 409 when decided already; when the
/// action cannot be performed any more (the API moved on, the user name was taken), the
/// request stays pending and the error says why.
pub async fn decide(
    state: &AppState,
    id: &str,
    decision: Decision,
    decider: Decider<'_>,
    comment: &str,
) -> ApiResult<Workflow> {
    let workflow = load(state, id).await?;
    let by = match decider {
        Decider::User(user) => {
            if user.eq_ignore_ascii_case(&workflow.requested_by) {
                return Err(ApiError::Forbidden(
                    "You cannot approve or reject your own request; another administrator must decide"
                        .into(),
                ));
            }
            user
        }
        Decider::Webhook => "webhook",
    };
    let deferred: Deferred = serde_json::from_str(&workflow.payload)
        .map_err(|e| ApiError::Internal(format!("workflow {id} payload: {e}")))?;
    let decided = match store::decide(state.store(), id, decision.as_str(), by, comment).await {
        Err(StoreError::Conflict(why)) => return Err(ApiError::Conflict(why)),
        other => other?,
    };
    let outcome = match decision {
        Decision::Approve => perform(state, &workflow, deferred).await,
        Decision::Reject => roll_back(state, deferred).await,
    };
    if let Err(error) = outcome {
        store::reopen(state.store(), id).await?;
        return Err(error);
    }
    tracing::info!(workflow = %id, workflow_type = %workflow.workflow_type, decision = decision.as_str(), by, "workflow decided");
    Ok(decided)
}

/// Does what the request held back.
async fn perform(state: &AppState, workflow: &Workflow, deferred: Deferred) -> ApiResult<()> {
    let gone = |what: &'static str| {
        move |e: StoreError| match e {
            StoreError::NotFound => ApiError::Conflict(format!(
                "The {what} of this request no longer exists; reject it instead"
            )),
            other => other.into(),
        }
    };
    match deferred {
        Deferred::ApplicationCreation { application_id } => {
            applications::set_status(
                state.store(),
                &application_id,
                applications::STATUS_APPROVED,
            )
            .await
            .map_err(gone("application"))?;
        }
        Deferred::KeyGeneration {
            application_id,
            key,
        } => {
            let app = applications::get(state.store(), &application_id)
                .await
                .map_err(gone("application"))?;
            crate::service::applications::store_key(state, &app, key).await?;
        }
        Deferred::Subscription { subscription_id } => {
            subscriptions::set_status(
                state.store(),
                &subscription_id,
                gantry_model::SubscriptionStatus::Unblocked,
            )
            .await
            .map_err(gone("subscription"))?;
            state.sync_environments().await?;
        }
        Deferred::SubscriptionUpdate {
            subscription_id,
            tier,
            ..
        } => {
            subscriptions::set_tier(state.store(), &subscription_id, &tier)
                .await
                .map_err(gone("subscription"))?;
            state.sync_environments().await?;
        }
        Deferred::ApiState { api_id, action, .. } => {
            crate::service::apis::change_lifecycle(state, &api_id, &action, &workflow.requested_by)
                .await?;
        }
        Deferred::RevisionDeployment {
            api_id,
            revision_id,
            targets,
        } => {
            crate::service::revisions::deploy_revision(state, &api_id, &revision_id, &targets)
                .await?;
        }
        Deferred::UserSignup {
            username,
            password_hash,
            roles,
            profile,
        } => {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            users::create_with_profile(state.store(), &username, &password_hash, &roles, &profile)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => ApiError::Conflict(format!(
                        "The user name '{username}' was taken meanwhile; reject this request"
                    )),
                    other => other.into(),
                })?;
        }
    }
    Ok(())
}

/// Removes what a rejected request left: the application is `REJECTED`, the subscription
/// `REJECTED` (neither reaches a gateway); the other types stored nothing yet.
async fn roll_back(state: &AppState, deferred: Deferred) -> ApiResult<()> {
    match deferred {
        Deferred::ApplicationCreation { application_id } => {
            match applications::set_status(
                state.store(),
                &application_id,
                applications::STATUS_REJECTED,
            )
            .await
            {
                Err(StoreError::NotFound) | Ok(()) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Deferred::Subscription { subscription_id } => {
            match subscriptions::set_status(
                state.store(),
                &subscription_id,
                gantry_model::SubscriptionStatus::Rejected,
            )
            .await
            {
                Err(StoreError::NotFound) | Ok(()) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Deferred::KeyGeneration { .. }
        | Deferred::SubscriptionUpdate { .. }
        | Deferred::ApiState { .. }
        | Deferred::RevisionDeployment { .. }
        | Deferred::UserSignup { .. } => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_or_without_the_prefix() {
        for t in WorkflowType::ALL {
            assert_eq!(WorkflowType::parse(t.as_str()), Some(t));
            assert_eq!(WorkflowType::parse(t.info_name()), Some(t));
        }
        assert_eq!(
            WorkflowType::parse("am_subscription_creation"),
            Some(WorkflowType::SubscriptionCreation)
        );
        assert_eq!(WorkflowType::parse("AM_APPLICATION_DELETION"), None);
    }

    #[test]
    fn properties_never_show_secrets() {
        let signup = Deferred::UserSignup {
            username: "dev".into(),
            password_hash: "$argon2id$...".into(),
            roles: vec!["Internal/subscriber".into()],
            profile: "{}".into(),
        };
        let shown = signup.properties().to_string();
        assert!(
            shown.contains("dev") && !shown.contains("argon2"),
            "{shown}"
        );
    }
}
