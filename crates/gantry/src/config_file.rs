//! `--config FILE`: a flat TOML file whose keys are the long flag names of the subcommand
//! (`control-plane-port = 9443`, `database_url = "…"`). Precedence: command line, then
//! environment (`GANTRY_…`), then the file, then the built-in default. An unknown key is an
//! error naming the key and the file, before anything starts.

use std::ffi::OsString;
use std::path::Path;

use clap::CommandFactory;

use crate::Cli;
use crate::up::ConfigError;

/// Expands `--config FILE` (or `GANTRY_CONFIG`) into flags appended to `args`.
pub fn expand(mut args: Vec<OsString>) -> Result<Vec<OsString>, ConfigError> {
    let Some(path) = config_path(&args) else {
        return Ok(args);
    };
    let Some(subcommand) = args
        .iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .find(|a| !a.starts_with('-'))
        .map(str::to_owned)
    else {
        return Ok(args);
    };
    // Built, so global flags (--log-level, --otlp-endpoint, …) appear on every subcommand.
    let mut command = Cli::command();
    command.build();
    let Some(sub) = command.find_subcommand(&subcommand) else {
        return Ok(args);
    };

    let text = std::fs::read_to_string(&path)
        .map_err(|e| ConfigError(format!("--config {}: {e}", path.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(format!("--config {}: {e}", path.display())))?;
    for (key, value) in table {
        let flag = key.replace('_', "-");
        let Some(arg) = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()))
        else {
            return Err(ConfigError(format!(
                "--config {}: unknown key '{key}' for `gantry {subcommand}` (see `gantry {subcommand} --help`)",
                path.display()
            )));
        };
        let on_command_line = args
            .iter()
            .filter_map(|a| a.to_str())
            .any(|a| a == format!("--{flag}") || a.starts_with(&format!("--{flag}=")));
        let in_environment = arg
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some());
        if on_command_line || in_environment {
            continue;
        }
        match value {
            // A flag that takes true|false (`--self-signup false`) gets its value either way.
            toml::Value::Boolean(b) if arg.get_action().takes_values() => {
                args.extend([format!("--{flag}").into(), b.to_string().into()])
            }
            toml::Value::Boolean(true) => args.push(format!("--{flag}").into()),
            toml::Value::Boolean(false) => {}
            toml::Value::String(s) => args.extend([format!("--{flag}").into(), s.into()]),
            toml::Value::Integer(i) => {
                args.extend([format!("--{flag}").into(), i.to_string().into()])
            }
            toml::Value::Float(f) => {
                args.extend([format!("--{flag}").into(), f.to_string().into()])
            }
            other => {
                return Err(ConfigError(format!(
                    "--config {}: key '{key}' must be a string, number or boolean, not {}",
                    path.display(),
                    other.type_str()
                )));
            }
        }
    }
    Ok(args)
}

fn config_path(args: &[OsString]) -> Option<std::path::PathBuf> {
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
        let expanded = expand(args(&[
            "gantry",
            "gateway",
            "--config",
            file.to_str().unwrap(),
            "--http-port",
            "7070",
        ]))
        .unwrap();
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
        let expanded = expand(args(&["gantry", "up", "--config", file.to_str().unwrap()])).unwrap();
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
        assert!(e.0.contains("enviroment"), "{}", e.0);
    }
}
