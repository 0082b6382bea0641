//! `gws-botd reload`: ask the running daemon to reload its rules and wait until it says
//! whether the new rules are live, so `systemctl reload` (whose `ExecReload=` runs it) returns
//! only then, and fails when the rules were refused.
//!
//! The daemon keeps a small status file in its state directory ([`FILE_NAME`]): its process id,
//! how many SIGHUPs it has handled and the outcome of the last one. `reload` reads it, sends
//! SIGHUP, and waits for the count to move on. Only the rules are checked and reloaded: an
//! unrelated edit of the configuration file never blocks a rule reload.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::cli::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, block_on};

/// The status file's name inside the state directory.
pub const FILE_NAME: &str = "reload-status.json";
/// The largest process id Linux hands out (`PID_MAX_LIMIT`); anything above is refused, so a
/// bad number can never turn into "every process" for `kill`.
const PID_MAX: u32 = 4_194_304;
/// How often `reload` looks at the status file while waiting.
const POLL: Duration = Duration::from_millis(50);

/// What the daemon reports about its reloads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The daemon's process id.
    pub pid: u32,
    /// SIGHUPs handled since the daemon started.
    pub sighups: u64,
    /// Whether the last SIGHUP's reload made the new rules live.
    pub ok: bool,
    /// The active rules (`3 files, 12 rules, …`), or the problems of the refused set.
    pub detail: String,
}

/// Where the status file of `state_dir` lives.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE_NAME)
}

/// Write the status atomically (temporary file, then rename). Runs on a blocking thread.
pub fn write(state_dir: &Path, status: &Status) -> std::io::Result<()> {
    crate::store::state::create_private_dir(state_dir)?;
    let text = serde_json::to_string(status).map_err(std::io::Error::other)?;
    let tmp = state_dir.join(format!(".{FILE_NAME}.tmp"));
    std::io::Write::write_all(
        &mut crate::store::state::private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?,
        (text + "\n").as_bytes(),
    )?;
    std::fs::rename(&tmp, path(state_dir))
}

/// Read the status of `state_dir`; `None` when there is none (or it is unreadable).
pub fn read(state_dir: &Path) -> Option<Status> {
    let text = std::fs::read_to_string(path(state_dir)).ok()?;
    serde_json::from_str(&text).ok()
}

/// `gws-botd reload [--pid PID]`: signal the daemon of `state_dir` (or `pid`) and wait up to
/// `timeout` for its answer. Exit 0 when the new rules are live, 78 when they were refused
/// (the problems are printed), 1 when no daemon answered.
pub fn command(state_dir: &Path, pid: Option<u32>, timeout: Duration) -> u8 {
    let before = read(state_dir);
    let Some(pid) = pid.or(before.as_ref().map(|s| s.pid)) else {
        eprintln!(
            "no running gws-botd found: {} is missing (give --pid, or the right --instance or \
             --config)",
            path(state_dir).display()
        );
        return EXIT_FAILURE;
    };
    if !(2..=PID_MAX).contains(&pid) {
        eprintln!("--pid: {pid} is not a process id of a daemon");
        return EXIT_FAILURE;
    }
    // Only a count from this very daemon says how many SIGHUPs it had handled.
    let handled = before.filter(|s| s.pid == pid).map_or(0, |s| s.sighups);
    match std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
    {
        Ok(status) if status.success() => {}
        Ok(_) => {
            eprintln!("cannot signal process {pid}: is gws-botd running?");
            return EXIT_FAILURE;
        }
        Err(e) => {
            eprintln!("cannot run kill to signal process {pid}: {e}");
            return EXIT_FAILURE;
        }
    }
    let dir = state_dir.to_owned();
    block_on(async move {
        let wait = async {
            loop {
                let dir = dir.clone();
                let status = tokio::task::spawn_blocking(move || read(&dir))
                    .await
                    .ok()
                    .flatten();
                if let Some(status) = status.filter(|s| s.pid == pid && s.sighups > handled) {
                    return report(&status);
                }
                tokio::time::sleep(POLL).await;
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or_else(|_| {
                eprintln!(
                    "gws-botd (process {pid}) did not report the reload within {}",
                    humantime::format_duration(timeout)
                );
                EXIT_FAILURE
            })
    })
}

/// How a status detail starts when the live rules reloaded and the shadow rules did not.
pub(crate) const LIVE_RELOADED: &str = "live rules reloaded: ";

fn report(status: &Status) -> u8 {
    if status.ok {
        println!("rules reloaded and live: {}", status.detail);
        EXIT_OK
    } else if status.detail.starts_with(LIVE_RELOADED) {
        // The shadow rules (`[shadow]`) were refused; the detail says so after the live line.
        eprintln!("{}", status.detail);
        EXIT_CONFIG
    } else {
        eprintln!(
            "rules not reloaded; the previous rules stay active:\n{}",
            status.detail
        );
        EXIT_CONFIG
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_survives_a_round_trip() {
        let dir = std::env::temp_dir().join(format!("gws-botd-reload-{}", rand::random::<u64>()));
        assert_eq!(read(&dir), None);
        let status = Status {
            pid: 42,
            sighups: 3,
            ok: false,
            detail: "r.toml:3:1: broken".into(),
        };
        write(&dir, &status).unwrap();
        assert_eq!(read(&dir), Some(status));
        std::fs::remove_dir_all(&dir).unwrap();
        // No daemon to ask, and no process id that could mean "every process".
        assert_eq!(command(&dir, None, Duration::from_secs(1)), EXIT_FAILURE);
        for pid in [0, 1, u32::MAX] {
            assert_eq!(
                command(&dir, Some(pid), Duration::from_secs(1)),
                EXIT_FAILURE
            );
        }
    }
}
