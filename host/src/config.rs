//! Where an installation keeps its files: the *home* and the paths inside it.
//!
//! - home: env `EPURSE_HOME`, else `$XDG_DATA_HOME/epurse`, else `~/.local/share/epurse`;
//! - ledger: `--db PATH`, else env `EPURSE_DB`, else `HOME/backoffice.db`;
//! - master keys: `--keys PATH`, else env `EPURSE_KEYS`, else `HOME/master-keys.json`;
//! - SAM directory (POS): `--sam PATH`, else env `EPURSE_SAM`, else `HOME/sam/`.
//!
//! The resolvers take the command-line value (if any) and read the environment themselves;
//! the `*_from` variants take the environment as a lookup function, for tests.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Env var naming the installation home.
pub const ENV_HOME: &str = "EPURSE_HOME";
/// Env var naming the ledger file.
pub const ENV_DB: &str = "EPURSE_DB";
/// Env var naming the master-key file.
pub const ENV_KEYS: &str = "EPURSE_KEYS";
/// Env var naming the SAM directory.
pub const ENV_SAM: &str = "EPURSE_SAM";

/// File name of the ledger inside the home.
pub const DB_FILE: &str = "backoffice.db";
/// File name of the master keys inside the home.
pub const KEYS_FILE: &str = "master-keys.json";
/// Directory name of the SAM files inside the home.
pub const SAM_DIR: &str = "sam";

/// The installation home cannot be determined or created.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// None of `EPURSE_HOME`, `XDG_DATA_HOME`, `HOME` is set.
    #[error(
        "cannot find the epurse home: set EPURSE_HOME (or XDG_DATA_HOME or HOME) to a directory"
    )]
    NoHome,
    /// The home (or a directory in it) could not be created.
    #[error("cannot create directory {path}: {source}; set EPURSE_HOME to a writable directory")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The master-key file does not exist.
    #[error(
        "no master-key file at {path}: pass --keys PATH or set EPURSE_KEYS, or put the \
         installation's key file there (for a demo: cp keys/dev-master-keys.json {path})"
    )]
    NoKeys {
        /// Where it was looked for.
        path: PathBuf,
    },
}

fn non_empty(v: Option<OsString>) -> Option<OsString> {
    v.filter(|s| !s.is_empty())
}

/// The installation home, from an environment lookup (`EPURSE_HOME`, `XDG_DATA_HOME`, `HOME`).
pub fn home_from(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, ConfigError> {
    if let Some(h) = non_empty(env(ENV_HOME)) {
        return Ok(PathBuf::from(h));
    }
    if let Some(x) = non_empty(env("XDG_DATA_HOME")) {
        return Ok(PathBuf::from(x).join("epurse"));
    }
    if let Some(h) = non_empty(env("HOME")) {
        return Ok(PathBuf::from(h).join(".local/share/epurse"));
    }
    Err(ConfigError::NoHome)
}

/// The installation home from the process environment.
pub fn home() -> Result<PathBuf, ConfigError> {
    home_from(|k| std::env::var_os(k))
}

fn resolve_from(
    cli: Option<&Path>,
    var: &str,
    default: &str,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    if let Some(p) = cli {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = non_empty(env(var)) {
        return Ok(PathBuf::from(p));
    }
    Ok(home_from(env)?.join(default))
}

/// The ledger path: `cli`, else `EPURSE_DB`, else `HOME/backoffice.db` (from a lookup).
pub fn db_path_from(
    cli: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    resolve_from(cli, ENV_DB, DB_FILE, env)
}

/// The master-key path: `cli`, else `EPURSE_KEYS`, else `HOME/master-keys.json` (from a lookup).
pub fn keys_path_from(
    cli: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    resolve_from(cli, ENV_KEYS, KEYS_FILE, env)
}

/// The SAM directory: `cli`, else `EPURSE_SAM`, else `HOME/sam` (from a lookup).
pub fn sam_dir_from(
    cli: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, ConfigError> {
    resolve_from(cli, ENV_SAM, SAM_DIR, env)
}

/// The ledger path from the process environment.
pub fn db_path(cli: Option<&Path>) -> Result<PathBuf, ConfigError> {
    db_path_from(cli, |k| std::env::var_os(k))
}

/// The master-key path from the process environment.
pub fn keys_path(cli: Option<&Path>) -> Result<PathBuf, ConfigError> {
    keys_path_from(cli, |k| std::env::var_os(k))
}

/// The SAM directory from the process environment.
pub fn sam_dir(cli: Option<&Path>) -> Result<PathBuf, ConfigError> {
    sam_dir_from(cli, |k| std::env::var_os(k))
}

/// The master-key path, checked to exist (the error says how to provide one).
pub fn existing_keys_path(cli: Option<&Path>) -> Result<PathBuf, ConfigError> {
    let path = keys_path(cli)?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(ConfigError::NoKeys { path })
    }
}

/// Creates the parent directory of `path` (e.g. the home for a new ledger) if missing.
pub fn ensure_parent(path: &Path) -> Result<(), ConfigError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => ensure_dir(dir),
        _ => Ok(()),
    }
}

/// Creates a directory (and its parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<(), ConfigError> {
    std::fs::create_dir_all(dir).map_err(|source| ConfigError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn home_order() {
        let e = env(&[
            ("EPURSE_HOME", "/e"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(home_from(e).unwrap(), PathBuf::from("/e"));
        let e = env(&[("EPURSE_HOME", ""), ("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(home_from(e).unwrap(), PathBuf::from("/x/epurse"));
        let e = env(&[("HOME", "/h")]);
        assert_eq!(
            home_from(e).unwrap(),
            PathBuf::from("/h/.local/share/epurse")
        );
        assert!(matches!(home_from(env(&[])), Err(ConfigError::NoHome)));
    }

    #[test]
    fn paths_cli_then_env_then_home() {
        let e = env(&[("EPURSE_HOME", "/e"), ("EPURSE_DB", "/d.db")]);
        assert_eq!(
            db_path_from(Some(Path::new("/c.db")), &e).unwrap(),
            PathBuf::from("/c.db")
        );
        assert_eq!(db_path_from(None, &e).unwrap(), PathBuf::from("/d.db"));
        assert_eq!(
            keys_path_from(None, &e).unwrap(),
            PathBuf::from("/e/master-keys.json")
        );
        assert_eq!(sam_dir_from(None, &e).unwrap(), PathBuf::from("/e/sam"));
    }

    #[test]
    fn missing_keys_message_says_what_to_do() {
        let msg = ConfigError::NoKeys {
            path: PathBuf::from("/e/master-keys.json"),
        }
        .to_string();
        assert!(msg.contains("--keys"), "{msg}");
        assert!(msg.contains("dev-master-keys.json"), "{msg}");
    }
}
