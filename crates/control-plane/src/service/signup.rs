//! Developer-portal self sign-up, shared by the REST endpoint (`self_signup`) and the
//! portal's form (`portal::auth`): the account is created at once, or, while
//! AM_USER_SIGNUP needs approval, only when an administrator approves the request (nothing
//! is stored for it before: a rejected sign-up leaves no account behind).

use gantry_store::users::{self, User};
use gantry_store::workflows::Workflow;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::self_signup::SUBSCRIBER_ROLE;
use crate::service::workflows::{self, Deferred, Requested, WorkflowType};

/// Signs `username` up with the subscriber role and `password_hash` (Argon2id), `profile`
/// its SCIM profile JSON. 409 when the name is taken or waits for approval already.
pub async fn register(
    state: &AppState,
    username: &str,
    password_hash: &str,
    profile: &str,
) -> ApiResult<Requested<User>> {
    let taken = || ApiError::Conflict(format!("user.username: '{username}' is taken"));
    if !state.workflows().requires(WorkflowType::UserSignup) {
        let user = users::create_with_profile(
            state.store(),
            username,
            password_hash,
            &[SUBSCRIBER_ROLE],
            profile,
        )
        .await
        .map_err(|e| match e {
            gantry_store::StoreError::Conflict(_) => taken(),
            other => other.into(),
        })?;
        return Ok(Requested::Done(user));
    }
    // Names are unique in any case (migration 0009); pending requests are keyed so too.
    let reference = username.to_lowercase();
    if users::find_by_username(state.store(), username)
        .await?
        .is_some()
        || !gantry_store::workflows::pending_for(
            state.store(),
            WorkflowType::UserSignup.as_str(),
            &reference,
        )
        .await?
        .is_empty()
    {
        return Err(taken());
    }
    let workflow: Workflow = workflows::request(
        state,
        WorkflowType::UserSignup,
        &reference,
        username,
        &format!("Approve the self sign-up of user {username}"),
        &Deferred::UserSignup {
            username: username.to_owned(),
            password_hash: password_hash.to_owned(),
            roles: vec![SUBSCRIBER_ROLE.to_owned()],
            profile: profile.to_owned(),
        },
    )
    .await?;
    Ok(Requested::Pending(Box::new(workflow)))
}
