//! What a configuration needs from the file system, checked before the daemon starts so that a
//! problem stops it with exit 78 (which systemd does not restart) instead of failing later with
//! exit 1 in a restart loop: the CA file can be read and holds certificates, and the state
//! directory can be created and written.

use std::path::Path;

use super::{Config, Problems};

/// The name of the probe file written into the state directory and removed again.
pub(super) const PROBE: &str = ".gws-botd-write-check";

impl Config {
    /// Check the files the configuration names: `gws.tls_ca_file` readable PEM with at least
    /// one certificate; `bot.state_dir` writable, or creatable where it does not exist yet
    /// (nothing is created: the nearest existing parent must be writable).
    pub fn check_files(&self) -> Result<(), Problems> {
        let mut problems = Vec::new();
        if let Some(path) = &self.gws.tls_ca_file {
            problems.extend(ca_file_problem(path));
        }
        problems.extend(state_dir_problem(&self.bot.state_dir));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Problems(problems))
        }
    }
}

fn ca_file_problem(path: &Path) -> Option<String> {
    let key = "gws.tls_ca_file";
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(e) => {
            return Some(format!(
                "{key}: cannot read {}: {e} (the service's user must be able to read it)",
                path.display()
            ));
        }
    };
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certs) if !certs.is_empty() => None,
        Ok(_) => Some(format!(
            "{key}: {} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
            path.display()
        )),
        Err(e) => Some(format!("{key}: {} is not valid PEM: {e}", path.display())),
    }
}

fn state_dir_problem(dir: &Path) -> Option<String> {
    let key = "bot.state_dir";
    // The directory itself if it exists, else the nearest parent that does.
    let existing = dir.ancestors().find(|d| d.exists())?;
    if !existing.is_dir() {
        return Some(format!("{key}: {} is not a directory", existing.display()));
    }
    let probe = existing.join(PROBE);
    let written = crate::store::state::private_file()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&probe);
    match written {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) if existing == dir => Some(format!(
            "{key}: cannot write into {}: {e} (under systemd it must be the unit's \
             StateDirectory, /var/lib/gws-botd…, as ProtectSystem=strict makes the rest read-only)",
            dir.display()
        )),
        Err(e) => Some(format!(
            "{key}: {} does not exist and cannot be created in {}: {e} (under systemd use the \
             unit's StateDirectory, /var/lib/gws-botd…, as ProtectSystem=strict makes the rest \
             read-only)",
            dir.display(),
            existing.display()
        )),
    }
}
