//! What `gantry ctl` remembers between runs, in the user's configuration directory
//! (`$XDG_CONFIG_HOME/gantry`, else `~/.config/gantry`): the environments (`envs.json`) and
//! one session per environment (`sessions.json`: the registered client and its tokens,
//! never the password). The directory is 0700 and the files 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CtlError;
use super::client::Client;

/// A control plane `gantry ctl` talks to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvConfig {
    /// Base URL, e.g. `https://localhost:9443`.
    pub apim: String,
    /// CA (PEM) to trust for it, when not the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

/// A logged-in session: the client registered for `gantry ctl` and its tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Who logged in.
    pub username: String,
    /// The OAuth2 client registered at login.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The current access token.
    pub access_token: String,
    /// Refreshes the access token when it expires.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// When the access token expires (Unix seconds).
    pub expires_at: u64,
}

/// The saved environments and sessions.
#[derive(Debug)]
pub struct Sessions {
    dir: PathBuf,
    envs: BTreeMap<String, EnvConfig>,
    sessions: BTreeMap<String, Session>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct EnvsFile {
    #[serde(default)]
    environments: BTreeMap<String, EnvConfig>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SessionsFile {
    #[serde(default)]
    sessions: BTreeMap<String, Session>,
}

/// `$XDG_CONFIG_HOME/gantry`, else `$HOME/.config/gantry`.
fn config_dir() -> Result<PathBuf, CtlError> {
    if let Some(xdg) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(xdg).join("gantry"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".config").join("gantry"))
        .ok_or_else(|| CtlError::Local("neither XDG_CONFIG_HOME nor HOME is set".into()))
}

fn read_json<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> Result<T, CtlError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| CtlError::Local(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(CtlError::Local(format!("{}: {e}", path.display()))),
    }
}

/// Writes `value` to `path` with mode 0600, atomically (a temporary file renamed over it).
fn write_private(path: &Path, value: &impl Serialize) -> Result<(), CtlError> {
    let local = |e: std::io::Error| CtlError::Local(format!("{}: {e}", path.display()));
    let text = serde_json::to_vec_pretty(value).map_err(|e| CtlError::Local(e.to_string()))?;
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(local)?;
    file.write_all(&text).map_err(local)?;
    file.sync_all().map_err(local)?;
    std::fs::rename(&temporary, path).map_err(local)
}

impl Sessions {
    /// Reads the saved environments and sessions (none yet is fine).
    pub fn open() -> Result<Self, CtlError> {
        let dir = config_dir()?;
        let envs: EnvsFile = read_json(&dir.join("envs.json"))?;
        let sessions: SessionsFile = read_json(&dir.join("sessions.json"))?;
        Ok(Self {
            dir,
            envs: envs.environments,
            sessions: sessions.sessions,
        })
    }

    fn save(&self) -> Result<(), CtlError> {
        std::fs::create_dir_all(&self.dir)
            .and_then(|()| {
                std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| CtlError::Local(format!("{}: {e}", self.dir.display())))?;
        write_private(
            &self.dir.join("envs.json"),
            &EnvsFile {
                environments: self.envs.clone(),
            },
        )?;
        write_private(
            &self.dir.join("sessions.json"),
            &SessionsFile {
                sessions: self.sessions.clone(),
            },
        )
    }

    /// The environments, by name.
    pub fn environments(&self) -> BTreeMap<String, EnvConfig> {
        self.envs.clone()
    }

    /// The environment `name`, or an error saying how to add it.
    pub fn env(&self, name: &str) -> Result<&EnvConfig, CtlError> {
        self.envs.get(name).ok_or_else(|| {
            CtlError::Local(format!(
                "no environment '{name}'; add it with: gantry ctl add env {name} --apim https://HOST:9443"
            ))
        })
    }

    /// The session of `env`, if logged in.
    pub fn session(&self, env: &str) -> Option<&Session> {
        self.sessions.get(env)
    }

    /// Adds (or replaces) an environment.
    pub fn add_env(
        &mut self,
        name: &str,
        apim: &str,
        ca_cert: Option<&Path>,
    ) -> Result<(), CtlError> {
        if !(apim.starts_with("https://") || apim.starts_with("http://")) || apim.len() < 10 {
            return Err(CtlError::Local(format!(
                "--apim: '{apim}' is not an http(s) URL"
            )));
        }
        let ca_cert = match ca_cert {
            Some(path) => Some(
                std::fs::canonicalize(path)
                    .map_err(|e| CtlError::Local(format!("--ca-cert: {}: {e}", path.display())))?,
            ),
            None => None,
        };
        self.envs.insert(
            name.to_owned(),
            EnvConfig {
                apim: apim.trim_end_matches('/').to_owned(),
                ca_cert,
            },
        );
        // A session belongs to the control plane it was made with.
        self.sessions.remove(name);
        self.save()
    }

    /// Removes an environment and its session.
    pub fn remove_env(&mut self, name: &str) -> Result<(), CtlError> {
        self.env(name)?;
        self.envs.remove(name);
        self.sessions.remove(name);
        self.save()
    }

    /// Saves the session made by `login`.
    pub fn save_session(&mut self, env: &str, session: Session) -> Result<(), CtlError> {
        self.sessions.insert(env.to_owned(), session);
        self.save()
    }

    /// Forgets the session of `env`.
    pub fn forget_session(&mut self, env: &str) -> Result<(), CtlError> {
        self.env(env)?;
        self.sessions.remove(env);
        self.save()
    }

    /// Saves `client`'s session when it refreshed its token during the command.
    pub fn remember(&mut self, env: &str, client: &Client) -> Result<(), CtlError> {
        match client.refreshed_session() {
            Some(session) => self.save_session(env, session.clone()),
            None => Ok(()),
        }
    }
}
