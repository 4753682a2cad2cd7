//! The REST client of `gantry ctl`: TLS as the user chose (system roots, a CA file, or
//! `--insecure`), the WSO2 login flow (client registration, then the password grant), a
//! token refreshed when it expires, and every error mapped to what the user sees: the
//! server's own reason (exit 1) or why it could not be reached (exit 3).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::session::{Session, Sessions};
use super::{CtlError, ImportFlags};

pub(super) const PUBLISHER: &str = "/api/am/publisher/v4";
pub(super) const DEVPORTAL: &str = "/api/am/devportal/v3";
pub(super) const ADMIN: &str = "/api/am/admin/v4";
/// The scopes `gantry ctl` asks for; the server grants those the user's roles allow.
const SCOPES: &str = "apim:api_view apim:api_create apim:api_publish apim:api_delete \
    apim:api_manage apim:api_import_export apim:subscribe apim:app_manage apim:admin \
    apim:environment_read apim:tier_view apim:tier_manage apim:api_product_import_export \
    apim:app_import_export apim:policies_import_export";
/// Name of the OAuth2 client `login` registers.
const CLIENT_NAME: &str = "gantry_ctl";

/// How to check the control plane's certificate.
#[derive(Debug, Clone)]
pub struct Tls {
    /// Accept any certificate.
    pub insecure: bool,
    /// Trust this CA instead of the system roots.
    pub ca_cert: Option<PathBuf>,
}

/// A client for one environment.
pub struct Client {
    base: String,
    http: reqwest::Client,
    session: Option<Session>,
    refreshed: bool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Client {
    /// A client for `env` with its saved session (if logged in).
    pub fn new(sessions: &Sessions, env: &str, tls: &Tls) -> Result<Self, CtlError> {
        let config = sessions.env(env)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("gantry-ctl/", env!("CARGO_PKG_VERSION")));
        if tls.insecure {
            builder = builder.danger_accept_invalid_certs(true);
        } else if let Some(path) = tls.ca_cert.as_ref().or(config.ca_cert.as_ref()) {
            let pem = std::fs::read(path)
                .map_err(|e| CtlError::Local(format!("--ca-cert: {}: {e}", path.display())))?;
            let ca = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                CtlError::Local(format!(
                    "--ca-cert: {}: not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            builder = builder.tls_certs_only([ca]);
        }
        let http = builder
            .build()
            .map_err(|e| CtlError::Local(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            base: config.apim.clone(),
            http,
            session: sessions.session(env).cloned(),
            refreshed: false,
        })
    }

    /// The session, when this command had to refresh its token (to be saved).
    pub fn refreshed_session(&self) -> Option<&Session> {
        self.session.as_ref().filter(|_| self.refreshed)
    }

    /// The logged-in user ("" when not logged in).
    pub fn username(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.username.as_str())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: RequestBuilder) -> Result<reqwest::Response, CtlError> {
        request.send().await.map_err(|e| self.unreachable(&e))
    }

    fn unreachable(&self, error: &reqwest::Error) -> CtlError {
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            detail = format!("{detail}: {cause}");
            source = cause.source();
        }
        let hint = if detail.contains("certificate") || detail.contains("Certificate") {
            " (trust its CA with --ca-cert FILE, or pass --insecure for a self-signed test setup)"
        } else {
            ""
        };
        CtlError::Unreachable(format!("cannot reach {}: {detail}{hint}", self.base))
    }

    /// Gets tokens with the password grant: as the client `previous` registered for the
    /// same user when it still works (re-registering would give that client a new secret,
    /// cutting off every other session using it), else as a newly registered one.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        previous: Option<&Session>,
    ) -> Result<Session, CtlError> {
        let form = [
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", SCOPES),
        ];
        if let Some(previous) = previous.filter(|p| p.username == username) {
            let mut session = Session {
                access_token: String::new(),
                refresh_token: None,
                expires_at: 0,
                ..previous.clone()
            };
            match self.token(&mut session, &form).await {
                Ok(()) => return Ok(session),
                // A client deleted or re-registered elsewhere: register again below.
                Err(CtlError::Refused(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let response = self
            .send(
                self.http
                    .post(self.url("/client-registration/v0.17/register"))
                    .basic_auth(username, Some(password))
                    .json(&json!({
                        "clientName": CLIENT_NAME, "owner": username,
                        "grantType": "password refresh_token", "saasApp": true,
                    })),
            )
            .await?;
        let client = success_json(response).await?;
        let (Some(client_id), Some(client_secret)) =
            (client["clientId"].as_str(), client["clientSecret"].as_str())
        else {
            return Err(CtlError::Refused(format!(
                "client registration answered without clientId/clientSecret: {client}"
            )));
        };
        let mut session = Session {
            username: username.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            access_token: String::new(),
            refresh_token: None,
            expires_at: 0,
        };
        self.token(&mut session, &form).await?;
        Ok(session)
    }

    /// Calls the token endpoint with `form` as the session's client; stores the tokens.
    async fn token(&self, session: &mut Session, form: &[(&str, &str)]) -> Result<(), CtlError> {
        let body = serde_urlencoded::to_string(form).map_err(|e| CtlError::Local(e.to_string()))?;
        let response = self
            .send(
                self.http
                    .post(self.url("/oauth2/token"))
                    .basic_auth(&session.client_id, Some(&session.client_secret))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await?;
        let token = success_json(response).await?;
        session.access_token = token["access_token"]
            .as_str()
            .ok_or_else(|| {
                CtlError::Refused(format!("token endpoint: no access_token in {token}"))
            })?
            .to_owned();
        if let Some(refresh) = token["refresh_token"].as_str() {
            session.refresh_token = Some(refresh.to_owned());
        }
        session.expires_at = now_secs() + token["expires_in"].as_u64().unwrap_or(3600);
        Ok(())
    }

    /// A valid access token: the cached one, or a refreshed one when it (nearly) expired.
    async fn access_token(&mut self) -> Result<String, CtlError> {
        let Some(mut session) = self.session.clone() else {
            return Err(CtlError::Local(
                "not logged in; run: gantry ctl login ENV -u USER --password-stdin".into(),
            ));
        };
        if session.expires_at > now_secs() + 30 {
            return Ok(session.access_token);
        }
        let Some(refresh) = session.refresh_token.clone() else {
            return Err(CtlError::Local(
                "the session expired; log in again with gantry ctl login".into(),
            ));
        };
        self.token(
            &mut session,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        )
        .await
        .map_err(|e| match e {
            CtlError::Refused(reason) => CtlError::Local(format!(
                "the session expired and could not be refreshed ({reason}); log in again with gantry ctl login"
            )),
            other => other,
        })?;
        let token = session.access_token.clone();
        self.session = Some(session);
        self.refreshed = true;
        Ok(token)
    }

    async fn call(&mut self, method: Method, path: &str) -> Result<RequestBuilder, CtlError> {
        let token = self.access_token().await?;
        Ok(self.http.request(method, self.url(path)).bearer_auth(token))
    }

    pub(super) async fn get_json(&mut self, path: &str) -> Result<Value, CtlError> {
        let request = self.call(Method::GET, path).await?;
        success_json(self.send(request).await?).await
    }

    /// Every API (page by page), optionally filtered by WSO2's search syntax.
    pub async fn list_apis(&mut self, query: Option<&str>) -> Result<Vec<Value>, CtlError> {
        const PAGE: usize = 1000;
        let filter = match query {
            Some(query) => format!(
                "&{}",
                serde_urlencoded::to_string([("query", query)]).unwrap_or_default()
            ),
            None => String::new(),
        };
        let mut apis = Vec::new();
        loop {
            let path = format!(
                "{PUBLISHER}/apis?limit={PAGE}&offset={}{filter}",
                apis.len()
            );
            let page = list_of(self.get_json(&path).await?);
            let last = page.len() < PAGE;
            apis.extend(page);
            if last {
                return Ok(apis);
            }
        }
    }

    /// The id of API `name` `version`.
    pub async fn api_id(&mut self, name: &str, version: &str) -> Result<String, CtlError> {
        self.list_apis(None)
            .await?
            .iter()
            .find(|a| a["name"] == name && a["version"] == version)
            .and_then(|a| a["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                CtlError::Refused(format!("no API named '{name}' with version '{version}'"))
            })
    }

    /// The revisions of an API.
    pub async fn revisions(&mut self, api_id: &str) -> Result<Vec<Value>, CtlError> {
        self.revisions_of(&format!("apis/{api_id}")).await
    }

    /// The revisions of `resource` (`apis/{id}` or `api-products/{id}`).
    async fn revisions_of(&mut self, resource: &str) -> Result<Vec<Value>, CtlError> {
        Ok(list_of(
            self.get_json(&format!("{PUBLISHER}/{resource}/revisions"))
                .await?,
        ))
    }

    /// The id of the API product `name` `version`.
    pub async fn product_id(&mut self, name: &str, version: &str) -> Result<String, CtlError> {
        list_of(
            self.get_json(&format!("{PUBLISHER}/api-products?limit=1000"))
                .await?,
        )
        .iter()
        .find(|p| p["name"] == name && p["version"] == version)
        .and_then(|p| p["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| {
            CtlError::Refused(format!(
                "no API product named '{name}' with version '{version}'"
            ))
        })
    }

    /// The logged-in user's applications.
    pub async fn applications(&mut self) -> Result<Vec<Value>, CtlError> {
        Ok(list_of(
            self.get_json(&format!("{DEVPORTAL}/applications?limit=1000"))
                .await?,
        ))
    }

    /// `GET /apis/export?query`: the archive.
    pub async fn export_api(&mut self, query: &str) -> Result<Vec<u8>, CtlError> {
        self.download(&format!("{PUBLISHER}/apis/export?{query}"))
            .await
    }

    /// The body of a successful `GET path` (an archive or a document).
    pub(super) async fn download(&mut self, path: &str) -> Result<Vec<u8>, CtlError> {
        let request = self.call(Method::GET, path).await?;
        let response = self.send(request).await?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| self.unreachable(&e))
    }

    /// `POST /apis/import` of a zipped project; the server's outcome.
    pub async fn import_api(
        &mut self,
        zip: &[u8],
        flags: &ImportFlags,
        env: &str,
        overwrite: bool,
    ) -> Result<Value, CtlError> {
        let mut query = format!(
            "preserveProvider={}&rotateRevision={}&overwrite={overwrite}&dryRun={}",
            flags.preserve_provider, flags.rotate_revision, flags.dry_run
        );
        let params = match &flags.params {
            Some(path) => {
                let text = std::fs::read(path)
                    .map_err(|e| CtlError::Local(format!("--params: {}: {e}", path.display())))?;
                let environment = flags.params_env.as_deref().unwrap_or(env);
                query.push('&');
                query.push_str(
                    &serde_urlencoded::to_string([("environment", environment)])
                        .unwrap_or_default(),
                );
                Some(text)
            }
            None => None,
        };
        let mut parts: Vec<(&str, &str, &str, &[u8])> =
            vec![("file", "project.zip", "application/zip", zip)];
        if let Some(params) = &params {
            parts.push(("params", "params.yaml", "application/yaml", params));
        }
        self.upload(&format!("{PUBLISHER}/apis/import?{query}"), &parts)
            .await
    }

    /// `POST path` with a multipart body of `(name, file name, content type, bytes)` parts;
    /// the JSON answer.
    pub(super) async fn upload(
        &mut self,
        path: &str,
        parts: &[(&str, &str, &str, &[u8])],
    ) -> Result<Value, CtlError> {
        let boundary = format!(
            "gantry-ctl-{:016x}",
            now_secs().wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        let mut body = Vec::with_capacity(parts.iter().map(|p| p.3.len()).sum::<usize>() + 512);
        for (name, filename, content_type, bytes) in parts {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let request = self
            .call(Method::POST, path)
            .await?
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        success_json(self.send(request).await?).await
    }

    /// Applies a lifecycle action; the new state.
    pub async fn change_status(&mut self, api_id: &str, action: &str) -> Result<String, CtlError> {
        let query = serde_urlencoded::to_string([("apiId", api_id), ("action", action)])
            .unwrap_or_default();
        let request = self
            .call(
                Method::POST,
                &format!("{PUBLISHER}/apis/change-lifecycle?{query}"),
            )
            .await?;
        let body = success_json(self.send(request).await?).await?;
        Ok(body["lifecycleState"]["state"]
            .as_str()
            .unwrap_or("?")
            .to_owned())
    }

    /// Deploys (or undeploys) a revision to (from) gateway environments.
    pub async fn deployment(
        &mut self,
        api_id: &str,
        revision_id: &str,
        environments: &[String],
        vhost: Option<&str>,
        deploy: bool,
    ) -> Result<(), CtlError> {
        let verb = if deploy {
            "deploy-revision"
        } else {
            "undeploy-revision"
        };
        let targets: Vec<Value> = environments
            .iter()
            .map(|name| match vhost {
                Some(vhost) => json!({"name": name, "vhost": vhost, "displayOnDevportal": true}),
                None => json!({"name": name, "displayOnDevportal": true}),
            })
            .collect();
        let request = self
            .call(
                Method::POST,
                &format!("{PUBLISHER}/apis/{api_id}/{verb}?revisionId={revision_id}"),
            )
            .await?
            .json(&targets);
        success_json(self.send(request).await?).await.map(|_| ())
    }

    /// The id of revision `number` of `resource` (`apis/{id}` or `api-products/{id}`).
    pub async fn revision_id(&mut self, resource: &str, number: u32) -> Result<String, CtlError> {
        let wanted = format!("Revision {number}");
        self.revisions_of(resource)
            .await?
            .iter()
            .find(|r| r["displayName"] == wanted.as_str())
            .and_then(|r| r["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| CtlError::Refused(format!("{resource} has no revision {number}")))
    }

    /// Starts a rollout of `plan` for `resource` (`apis/{id}` or `api-products/{id}`); the
    /// rollout.
    pub async fn start_rollout(&mut self, resource: &str, plan: &Value) -> Result<Value, CtlError> {
        let request = self
            .call(Method::POST, &format!("{PUBLISHER}/{resource}/rollouts"))
            .await?
            .json(plan);
        success_json(self.send(request).await?).await
    }

    /// The rollouts of `resource`, newest first.
    pub async fn rollouts(&mut self, resource: &str) -> Result<Vec<Value>, CtlError> {
        Ok(list_of(
            self.get_json(&format!("{PUBLISHER}/{resource}/rollouts"))
                .await?,
        ))
    }

    /// One rollout of `resource` with its progress.
    pub async fn rollout(&mut self, resource: &str, id: &str) -> Result<Value, CtlError> {
        self.get_json(&format!("{PUBLISHER}/{resource}/rollouts/{id}"))
            .await
    }

    /// `promote`, `pause`, `resume` or `abort`; the rollout.
    pub async fn rollout_action(
        &mut self,
        resource: &str,
        id: &str,
        action: &str,
    ) -> Result<Value, CtlError> {
        let request = self
            .call(
                Method::POST,
                &format!("{PUBLISHER}/{resource}/rollouts/{id}/{action}"),
            )
            .await?;
        success_json(self.send(request).await?).await
    }

    /// Deletes an API.
    pub async fn delete_api(&mut self, api_id: &str) -> Result<(), CtlError> {
        let request = self
            .call(Method::DELETE, &format!("{PUBLISHER}/apis/{api_id}"))
            .await?;
        let response = self.send(request).await?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(refusal(response).await)
        }
    }
}

/// `list` of a WSO2 list envelope (or the value itself when it is an array).
pub(super) fn list_of(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        mut envelope => match envelope["list"].take() {
            Value::Array(items) => items,
            _ => Vec::new(),
        },
    }
}

/// The JSON body of a successful response, or the server's reason as the error.
async fn success_json(response: reqwest::Response) -> Result<Value, CtlError> {
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    let text = response.text().await.unwrap_or_default();
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| {
        CtlError::Refused(format!(
            "the server answered something that is not JSON ({e})"
        ))
    })
}

/// The server's refusal: status and WSO2's `description` (or OAuth2's `error_description`).
async fn refusal(response: reqwest::Response) -> CtlError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let reason = ["description", "error_description", "message", "error"]
        .iter()
        .find_map(|k| body[*k].as_str().filter(|s| !s.is_empty()))
        .map(str::to_owned)
        .unwrap_or_else(|| text.chars().take(300).collect());
    let hint = match status {
        StatusCode::UNAUTHORIZED => " (log in again with gantry ctl login)",
        _ => "",
    };
    CtlError::Refused(format!(
        "{} {}: {reason}{hint}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    ))
}
