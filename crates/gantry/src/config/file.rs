//! `--config FILE`: a flat TOML file whose keys are the long flag names of the subcommand
//! (`control-plane-port = 9443`, `database_url = "…"`). Precedence: command line, then
//! environment (`GANTRY_…`), then the file, then the built-in default. The file's values
//! reach clap as flags, so they parse exactly like the others; [`FromFile`] remembers which
//! ones came from the file and how their keys were written, for the error messages. An
//! unknown key is an error naming the key and the file, before anything starts.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::{ConfigError, Key, Origin};
use crate::Cli;

/// The settings the `--config` file gave (those not on the command line nor in the
/// environment).
#[derive(Debug, Clone)]
pub struct FromFile {
    /// The file.
    pub path: PathBuf,
    /// long flag name → the key as written in the file (`gateway_port`).
    pub keys: HashMap<String, String>,
}

/// Expands `--config FILE` (or `GANTRY_CONFIG`) into flags appended to `args`.
pub fn expand(mut args: Vec<OsString>) -> Result<(Vec<OsString>, Option<FromFile>), ConfigError> {
    let Some(path) = config_path(&args) else {
        return Ok((args, None));
    };
    let Some(subcommand) = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'))
        .map(str::to_owned)
    else {
        return Ok((args, None));
    };
    // Built, so global flags (--log-level, --otlp-endpoint, …) appear on every subcommand.
    let mut command = Cli::command();
    command.build();
    let Some(sub) = command.find_subcommand(&subcommand) else {
        return Ok((args, None));
    };

    let unusable = |e: &dyn std::fmt::Display| ConfigError::File {
        path: path.clone(),
        reason: e.to_string(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| unusable(&e))?;
    let table: toml::Table = text.parse().map_err(|e| unusable(&e))?;
    let mut from_file = FromFile {
        path: path.clone(),
        keys: HashMap::new(),
    };
    for (key, value) in table {
        let flag = key.replace('_', "-");
        let Some(arg) = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()))
        else {
            return Err(ConfigError::UnknownKey {
                path: path.clone(),
                key,
                command: subcommand.clone(),
            });
        };
        let in_environment = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some());
        if on_command_line(&args, &flag) || in_environment {
            continue;
        }
        let given = |args: &mut Vec<OsString>, value: String| {
            args.extend([format!("--{flag}").into(), value.into()])
        };
        match value {
            // A flag that takes true|false (`--self-signup false`) gets its value either way.
            toml::Value::Boolean(b) if arg.get_action().takes_values() => {
                given(&mut args, b.to_string())
            }
            toml::Value::Boolean(true) => args.push(format!("--{flag}").into()),
            toml::Value::Boolean(false) => continue,
            toml::Value::String(s) => given(&mut args, s),
            toml::Value::Integer(i) => given(&mut args, i.to_string()),
            toml::Value::Float(f) => given(&mut args, f.to_string()),
            // A list setting (`workflows = ["AM_API_STATE", …]`) is the comma-separated flag.
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => {
                let joined: Vec<&str> = items.iter().filter_map(toml::Value::as_str).collect();
                given(&mut args, joined.join(","))
            }
            other => {
                return Err(Key {
                    written: key.clone(),
                    flag: format!("--{flag}"),
                    origin: Origin::File(path.clone()),
                }
                .invalid(format!(
                    "must be a string, number, boolean or list of strings, not {}",
                    other.type_str()
                )));
            }
        }
        from_file.keys.insert(flag, key);
    }
    Ok((args, Some(from_file)))
}

/// Whether `--long` (or `--long=…`) is among `args`.
pub fn on_command_line(args: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    args.iter()
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .any(|a| {
            a == flag
                || a.strip_prefix(flag.as_str())
                    .is_some_and(|rest| rest.starts_with('='))
        })
}

fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut iter = args.iter().filter_map(|a| a.to_str());
    while let Some(arg) = iter.next() {
        if arg == "--config" {
            return iter.next().map(|p| Path::new(p).to_owned());
        }
        if let Some(p) = arg.strip_prefix("--config=") {
            return Some(Path::new(p).to_owned());
        }
    }
    std::env::var_os("GANTRY_CONFIG").map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn file_values_fill_in_what_the_command_line_does_not_set() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.toml");
        std::fs::write(
            &file,
            "environment = \"dp-prod-a\"\nhttp_port = 8080\nops-port = 9100\nlog-level = \"debug\"\n",
        )
        .unwrap();
        let (expanded, from_file) = expand(args(&[
            "gantry",
            "gateway",
            "--config",
            file.to_str().unwrap(),
            "--http-port",
            "7070",
        ]))
        .unwrap();
        let from_file = from_file.unwrap();
        assert_eq!(from_file.keys["environment"], "environment");
        assert_eq!(
            from_file.keys.get("http-port"),
            None,
            "the command line gave it"
        );
        assert_eq!(
            from_file.keys["ops-port"], "ops-port",
            "the key as the file spells it"
        );
        let text: Vec<String> = expanded
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(text.windows(2).any(|w| w == ["--environment", "dp-prod-a"]));
        assert!(text.windows(2).any(|w| w == ["--ops-port", "9100"]));
        assert!(
            text.windows(2).any(|w| w == ["--log-level", "debug"]),
            "global flags too: {text:?}"
        );
        assert!(
            !text.contains(&"8080".to_owned()),
            "the command line wins: {text:?}"
        );
    }

    #[test]
    fn booleans_reach_flags_that_take_true_or_false() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("up.toml");
        std::fs::write(&file, "self-signup = false\nno-demo = true\n").unwrap();
        let (expanded, _) =
            expand(args(&["gantry", "up", "--config", file.to_str().unwrap()])).unwrap();
        let text: Vec<String> = expanded
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            text.windows(2).any(|w| w == ["--self-signup", "false"]),
            "{text:?}"
        );
        assert!(text.contains(&"--no-demo".to_owned()), "{text:?}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gw.toml");
        std::fs::write(&file, "enviroment = \"typo\"\n").unwrap();
        let e = expand(args(&[
            "gantry",
            "gateway",
            "--config",
            file.to_str().unwrap(),
        ]))
        .unwrap_err();
        assert!(
            matches!(&e, ConfigError::UnknownKey { key, .. } if key == "enviroment"),
            "{e:?}"
        );
        assert!(e.to_string().contains("'enviroment'"), "{e}");
    }
}
