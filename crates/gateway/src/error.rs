//! Why the gateway refused a configuration or a setting: the errors of its public API
//! (applying snapshots, loading the persisted one, Redis, the backend JWT key).

/// An error of the gateway's public API.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The snapshot is for another environment.
    #[error("snapshot is for environment '{snapshot}', this gateway serves '{serves}'")]
    WrongEnvironment {
        /// The snapshot's environment.
        snapshot: String,
        /// This gateway's.
        serves: String,
    },
    /// The snapshot is not newer than the one in use.
    #[error("version {next} is not newer than the version held ({held})")]
    NotNewer {
        /// The snapshot's version.
        next: u64,
        /// The version in use.
        held: u64,
    },
    /// The snapshot does not compile; every problem found.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The persisted snapshot cannot be read.
    #[error("{path}: {reason}")]
    Persisted {
        /// The snapshot file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Shared rate limits cannot use the Redis given.
    #[error("Redis: {0}")]
    Redis(String),
    /// The backend JWT signing key cannot be used.
    #[error("backend JWT key: {0}")]
    BackendJwtKey(String),
    /// The credential key (AI APIs' provider keys) cannot be used.
    #[error("credential key: {0}")]
    CredentialKey(String),
}
