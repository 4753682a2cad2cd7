//! One typed configuration per process kind ([`UpConfig`], [`ControlPlaneConfig`],
//! [`GatewayConfig`]), loaded before anything starts: the command line, then `GANTRY_…`
//! variables, then the `--config` TOML file, then the built-in default. Every value is
//! checked here, once, before a port is bound or the database opened; a wrong one is a
//! [`ConfigError`] naming the key as the user wrote it and where it came from (exit code 64).
//!
//! The flags and variables are declared with clap (the `…Args` structs, which `--help`
//! documents); the file's keys are the long flag names (`gateway-port` or `gateway_port`) and
//! reach clap as flags ([`file`]), so all three layers parse alike. [`Layers`] remembers
//! which layer each value came from, for the error messages.

pub mod control_plane;
pub mod file;
pub mod gateway;
pub mod key_manager;
pub mod listener_limits;
pub mod up;
pub mod upstream_tls;
pub mod workflows;

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, FromArgMatches};

pub use control_plane::ControlPlaneConfig;
pub use gateway::GatewayConfig;
pub use up::UpConfig;

use crate::Cli;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A flag on the command line (`--gateway-port 9090`).
    CommandLine,
    /// A `GANTRY_…` environment variable.
    Environment,
    /// A key of the `--config` file.
    File(PathBuf),
    /// The built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::CommandLine => f.write_str("command line"),
            Origin::Environment => f.write_str("environment"),
            Origin::File(path) => write!(f, "config file {}", path.display()),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// The command line, environment or config file is wrong (exit code 64, EX_USAGE).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is wrong: `GANTRY_GATEWAY_PORT (environment, --gateway-port): must be …`.
    #[error("{key} ({origin}{}): {reason}", also_known_as(.key, .flag))]
    Invalid {
        /// The key as the user wrote it: `--gateway-port`, `GANTRY_GATEWAY_PORT` or
        /// `gateway_port`.
        key: String,
        /// The long flag it stands for (`--gateway-port`).
        flag: String,
        /// Where the value came from.
        origin: Origin,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing gives a setting that is needed.
    #[error("{key}: {reason}")]
    Missing {
        /// The setting, with every way to give it.
        key: String,
        /// Why it is needed.
        reason: String,
    },
    /// The `--config` file cannot be read or is not TOML.
    #[error("--config {}: {reason}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The `--config` file has a key no flag of the subcommand has.
    #[error(
        "--config {}: unknown key '{key}' for `gantry {command}` (see `gantry {command} --help`)",
        .path.display()
    )]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key as written.
        key: String,
        /// The subcommand.
        command: String,
    },
}

fn also_known_as(key: &str, flag: &str) -> String {
    match key == flag {
        true => String::new(),
        false => format!(", {flag}"),
    }
}

/// One setting as the user gave it: how it was spelled and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// As written: `--gateway-port`, `GANTRY_GATEWAY_PORT` or the file's `gateway_port`.
    pub written: String,
    /// The long flag: `--gateway-port`.
    pub flag: String,
    /// The layer the value came from.
    pub origin: Origin,
}

impl Key {
    /// The error for a wrong value of this setting.
    pub fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: self.written.clone(),
            flag: self.flag.clone(),
            origin: self.origin.clone(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.written, self.origin)
    }
}

/// Which layer gave each setting of one subcommand.
#[derive(Debug, Default, Clone)]
pub struct Layers {
    /// long flag name → where its value came from; absent: the default.
    given: HashMap<String, (String, Origin)>,
}

impl Layers {
    /// The setting of the long flag `long` (`"gateway-port"`).
    pub fn key(&self, long: &str) -> Key {
        let flag = format!("--{long}");
        match self.given.get(long) {
            Some((written, origin)) => Key {
                written: written.clone(),
                flag,
                origin: origin.clone(),
            },
            None => Key {
                written: flag.clone(),
                flag,
                origin: Origin::Default,
            },
        }
    }

    /// Records that `long` came from `origin`, spelled `written` (tests build layers so).
    #[cfg(test)]
    pub fn with(mut self, long: &str, written: &str, origin: Origin) -> Self {
        self.given
            .insert(long.to_owned(), (written.to_owned(), origin));
        self
    }
}

/// Why the command line could not be turned into settings.
pub enum ParseError {
    /// Help, version, an unknown flag: clap prints it and picks the exit code.
    Clap(clap::Error),
    /// A value or the file is wrong (exit code 64).
    Config(ConfigError),
}

/// Parses `argv` with the `--config` file and the environment into the command and the
/// layer each setting came from.
pub fn parse(argv: Vec<OsString>) -> Result<(Cli, Layers), ParseError> {
    let (args, from_file) = file::expand(argv).map_err(ParseError::Config)?;
    let command = Cli::command();
    let matches = match command.clone().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(e) => return Err(from_clap(e, &args, &from_file)),
    };
    let cli = Cli::from_arg_matches(&matches).map_err(ParseError::Clap)?;
    let mut layers = Layers::default();
    if let Some((name, sub_matches)) = matches.subcommand() {
        let mut built = command;
        built.build();
        if let Some(sub) = built.find_subcommand(name) {
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                let source = sub_matches.value_source(arg.get_id().as_str());
                if !matches!(
                    source,
                    Some(clap::parser::ValueSource::CommandLine)
                        | Some(clap::parser::ValueSource::EnvVariable)
                ) {
                    continue;
                }
                if let Some(given) = given_by(arg, &args, from_file.as_ref()) {
                    layers.given.insert(long.to_owned(), given);
                }
            }
        }
    }
    Ok((cli, layers))
}

/// Which layer gave `arg` (None: none did), as `file::expand` decided precedence.
fn given_by(
    arg: &clap::Arg,
    args: &[OsString],
    from_file: Option<&file::FromFile>,
) -> Option<(String, Origin)> {
    let long = arg.get_long()?;
    if let Some(file) = from_file
        && let Some(written) = file.keys.get(long)
    {
        return Some((written.clone(), Origin::File(file.path.clone())));
    }
    if file::on_command_line(args, long) {
        return Some((format!("--{long}"), Origin::CommandLine));
    }
    let env = arg.get_env()?;
    std::env::var_os(env)?;
    Some((env.to_string_lossy().into_owned(), Origin::Environment))
}

/// A value clap cannot parse, or a missing required one, becomes a [`ConfigError`] naming
/// the key and the layer; anything else stays clap's to report.
fn from_clap(e: clap::Error, args: &[OsString], from_file: &Option<file::FromFile>) -> ParseError {
    // `gantry ctl` is a client with no settings file: its usage errors are clap's (exit 2).
    let first = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'));
    if first == Some("ctl") {
        return ParseError::Clap(e);
    }
    let value_error = matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::InvalidUtf8
    );
    if !value_error && e.kind() != ErrorKind::MissingRequiredArgument {
        return ParseError::Clap(e);
    }
    let names: Vec<String> = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(list)) => list.clone(),
        _ => return ParseError::Clap(e),
    };
    // "--gateway-port <GATEWAY_PORT>" → "gateway-port"
    let longs: Vec<String> = names
        .iter()
        .filter_map(|n| n.split_whitespace().next())
        .filter_map(|n| n.strip_prefix("--"))
        .map(str::to_owned)
        .collect();
    let Some(long) = longs.first() else {
        return ParseError::Clap(e);
    };
    let mut command = Cli::command();
    command.build();
    let subcommand = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'));
    let sub = subcommand.and_then(|name| command.find_subcommand(name));
    let arg = sub
        .into_iter()
        .flat_map(|s| s.get_arguments())
        .chain(command.get_arguments())
        .find(|a| a.get_long() == Some(long.as_str()));
    if !value_error {
        let sub_arg = |long: &str| {
            sub.into_iter()
                .flat_map(|s| s.get_arguments())
                .find(|a| a.get_long() == Some(long))
        };
        let key = longs
            .iter()
            .map(|long| match sub_arg(long).and_then(|a| a.get_env()) {
                Some(env) => format!("--{long} (or {})", env.to_string_lossy()),
                None => format!("--{long}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        // Not required on its own: another setting that was given needs it (a pair such as
        // --tls-cert and --tls-key).
        let paired = longs
            .iter()
            .any(|long| sub_arg(long).is_some_and(|a| !a.is_required_set()));
        let file_keys = longs
            .iter()
            .map(|long| format!("`{long}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let reason = format!(
            "required{}: give {} on the command line, in the environment or as {file_keys} in \
             the --config file",
            match paired {
                true => " by another setting that was given (see --help)",
                false => "",
            },
            match longs.len() {
                1 => "it",
                _ => "each",
            }
        );
        return ParseError::Config(ConfigError::Missing { key, reason });
    }
    let (written, origin) = arg
        .and_then(|arg| given_by(arg, args, from_file.as_ref()))
        .unwrap_or_else(|| (format!("--{long}"), Origin::CommandLine));
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) => format!("'{v}'"),
        _ => "the value".to_owned(),
    };
    let why = match (e.kind(), e.get(ContextKind::ValidValue)) {
        (ErrorKind::InvalidValue, Some(ContextValue::Strings(valid))) => {
            format!("one of {}", valid.join(", "))
        }
        _ => match std::error::Error::source(&e) {
            Some(source) => source.to_string(),
            None => "valid".to_owned(),
        },
    };
    let reason = match e.kind() {
        ErrorKind::InvalidValue => format!("{value} is not {why}"),
        ErrorKind::InvalidUtf8 => "is not valid UTF-8".to_owned(),
        _ => format!("{value} is not valid: {why}"),
    };
    ParseError::Config(
        Key {
            written,
            flag: format!("--{long}"),
            origin,
        }
        .invalid(reason),
    )
}

// The checks every process kind shares; each names the key it checks.

/// A port to listen on: 1–65535.
pub(crate) fn port(layers: &Layers, long: &str, port: u16) -> Result<u16, ConfigError> {
    match port {
        0 => Err(layers
            .key(long)
            .invalid("must be a port number between 1 and 65535")),
        port => Ok(port),
    }
}

/// Ports of one process: each valid and none used twice; the error names both keys.
pub(crate) fn distinct_ports(
    layers: &Layers,
    ports: &[(&str, Option<u16>)],
) -> Result<(), ConfigError> {
    let ports: Vec<(&str, u16)> = ports
        .iter()
        .filter_map(|(long, port)| port.map(|p| (*long, p)))
        .collect();
    for (i, (long, value)) in ports.iter().enumerate() {
        port(layers, long, *value)?;
        if let Some((other, _)) = ports[..i].iter().find(|(_, p)| p == value) {
            return Err(layers.key(long).invalid(format!(
                "port {value} is already used by {}",
                layers.key(other)
            )));
        }
    }
    Ok(())
}

/// The longest duration any `…-secs` setting takes: ten years. Beyond, adding it to a clock
/// reading could overflow (and nothing means to wait that long; 0 is "never" where allowed).
pub(crate) const MAX_SECS: u64 = 10 * 365 * 24 * 3600;

/// A `…-secs` setting as a duration, at most [`MAX_SECS`].
pub(crate) fn secs(layers: &Layers, long: &str, secs: u64) -> Result<Duration, ConfigError> {
    match secs > MAX_SECS {
        true => Err(layers.key(long).invalid(format!(
            "{secs} seconds is more than ten years ({MAX_SECS})"
        ))),
        false => Ok(Duration::from_secs(secs)),
    }
}

/// A `…-secs` setting where 0 means "off".
pub(crate) fn secs_or_off(
    layers: &Layers,
    long: &str,
    value: u64,
) -> Result<Option<Duration>, ConfigError> {
    Ok(Some(secs(layers, long, value)?).filter(|d| !d.is_zero()))
}

/// A file that must exist now (TLS certificates and keys, CA files, key files).
pub(crate) fn existing_file(layers: &Layers, long: &str, path: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(layers
            .key(long)
            .invalid(format!("{} is not a file", path.display()))),
        Err(e) => Err(layers
            .key(long)
            .invalid(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Reads a file that must exist now; the error names the key and the file.
pub(crate) fn read_file(layers: &Layers, long: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    existing_file(layers, long, path)?;
    std::fs::read(path).map_err(|e| {
        layers
            .key(long)
            .invalid(format!("cannot read {}: {e}", path.display()))
    })
}

/// A host name as it goes into URLs and certificates (no scheme, port or path).
pub(crate) fn hostname(layers: &Layers, long: &str, host: &str) -> Result<(), ConfigError> {
    let bad = host.is_empty()
        || host.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '/' | ':' | '@' | '?' | '#')
        });
    match bad {
        true => Err(layers
            .key(long)
            .invalid(format!("'{host}' is not a host name"))),
        false => Ok(()),
    }
}

/// An absolute `http://` or `https://` URL with a host.
pub(crate) fn http_url(layers: &Layers, long: &str, url: &str) -> Result<(), ConfigError> {
    let parsed = url.parse::<http::Uri>().ok().filter(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https"))
            && uri.host().is_some_and(|h| !h.is_empty())
    });
    match parsed {
        Some(_) => Ok(()),
        None => Err(layers
            .key(long)
            .invalid(format!("'{url}' is not an http(s) URL"))),
    }
}

/// `--rollout-prometheus-url`: http(s) base URLs, without a trailing `/`.
pub(crate) fn prometheus_urls(
    layers: &Layers,
    urls: Vec<String>,
) -> Result<Vec<String>, ConfigError> {
    let mut checked = Vec::with_capacity(urls.len());
    for url in urls {
        let url = url.trim().trim_end_matches('/').to_owned();
        if url.is_empty() {
            continue;
        }
        http_url(layers, "rollout-prometheus-url", &url)?;
        checked.push(url);
    }
    Ok(checked)
}

/// A non-empty value.
pub(crate) fn non_empty(layers: &Layers, long: &str, value: &str) -> Result<(), ConfigError> {
    match value.trim().is_empty() {
        true => Err(layers.key(long).invalid("must not be empty")),
        false => Ok(()),
    }
}

#[cfg(test)]
mod tests;
