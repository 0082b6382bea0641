//! Which configuration a command works on: a file (`--config`), or a template instance
//! (`--instance NAME`, the `gws-botd@NAME` unit) whose file is `/etc/gws-botd/NAME.toml` and
//! whose state directory defaults to `/var/lib/gws-botd/NAME`, for the daemon and for every
//! tool alike.

use std::path::{Path, PathBuf};

use super::check::default_state_dir;
use super::{Config, ENV_PREFIX, Problems, Sources};

/// Where instance configurations live: `NAME.toml` in it.
pub const INSTANCE_DIR: &str = "/etc/gws-botd";

/// A configuration file, and the instance it belongs to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub path: PathBuf,
    pub instance: Option<String>,
}

impl Target {
    /// A plain configuration file (no instance).
    pub fn file(path: &Path) -> Target {
        Target {
            path: path.to_owned(),
            instance: None,
        }
    }

    /// The instance `name`: `/etc/gws-botd/NAME.toml`. The name must be usable as a file name
    /// (what systemd's `%i` gives for `gws-botd@NAME`).
    pub fn instance(name: &str) -> Result<Target, String> {
        let valid = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@:".contains(c));
        if !valid {
            return Err(format!(
                "--instance: {name:?} is not an instance name (letters, digits, - _ . @ :), as in \
                 gws-botd@NAME"
            ));
        }
        Ok(Target {
            path: Path::new(INSTANCE_DIR).join(format!("{name}.toml")),
            instance: Some(name.to_owned()),
        })
    }

    /// Load and check the configuration, with the process environment.
    pub fn load(&self) -> Result<Config, Problems> {
        Config::load_from(&Sources {
            file: Some(self.path.clone()),
            instance: self.instance.clone(),
            ..Sources::default()
        })
    }

    /// The state directory, read leniently for tools that need nothing else (`explain`,
    /// `override`, `reload`): `GWS_BOTD__BOT__STATE_DIR`, else `[bot] state_dir` in the file,
    /// else the default (per instance). An unreadable file or other invalid keys do not
    /// matter here.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(dir) = std::env::var_os(format!("{ENV_PREFIX}__BOT__STATE_DIR")) {
            return PathBuf::from(dir);
        }
        self.bot_key("state_dir")
            .map(PathBuf::from)
            .unwrap_or_else(|| default_state_dir(self.instance.as_deref()))
    }

    /// The rules directory, read as leniently as [`Target::state_dir`].
    pub fn rules_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os(format!("{ENV_PREFIX}__BOT__RULES")) {
            return Some(PathBuf::from(dir));
        }
        self.bot_key("rules").map(PathBuf::from)
    }

    fn bot_key(&self, key: &str) -> Option<String> {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .and_then(|t| t.get("bot")?.get(key)?.as_str().map(str::to_owned))
    }

    /// How the target is named in messages: the file, with the instance if any.
    pub fn describe(&self) -> String {
        match &self.instance {
            Some(name) => format!("{} (instance {name})", self.path.display()),
            None => self.path.display().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_resolve_their_file_and_state_directory() {
        let t = Target::instance("bot01").unwrap();
        assert_eq!(t.path, Path::new("/etc/gws-botd/bot01.toml"));
        assert_eq!(
            default_state_dir(t.instance.as_deref()),
            Path::new("/var/lib/gws-botd/bot01")
        );
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            assert!(Target::instance(bad).is_err(), "{bad:?}");
        }
    }
}
