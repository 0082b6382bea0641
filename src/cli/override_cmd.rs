//! `gws-botd override closed|clear|show`: set, end or show the emergency override (see
//! [`crate::schedule::overrides`]) in the daemon's state directory.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::cli::{EXIT_FAILURE, EXIT_OK, EXIT_USAGE};
use crate::schedule::overrides::{self, Override};

/// Longest message an override may carry.
pub const MAX_MESSAGE: usize = 4096;

/// What `override` was asked to do.
#[derive(Debug, Clone)]
pub enum Request {
    Closed {
        /// A point in time, or a duration from now (`2h`).
        until: String,
        schedule: Option<String>,
        message: Option<PathBuf>,
    },
    Clear,
    Show,
}

/// The state directory: `--state-dir`, else `bot.state_dir` of the configuration if it
/// loads, else the default.
pub fn state_dir(flag: Option<&Path>, config: &Path) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_owned();
    }
    match crate::config::Config::load(config) {
        Ok(config) => config.bot.state_dir,
        Err(_) => PathBuf::from(crate::config::DEFAULT_STATE_DIR),
    }
}

/// Parse `--until`: a duration from `now` (`90m`, `2h`) or a point in time.
pub fn parse_until(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    if let Ok(d) = humantime::parse_duration(text.trim()) {
        let span = jiff::SignedDuration::try_from(d).map_err(|e| e.to_string())?;
        return now.checked_add(span).map_err(|e| e.to_string());
    }
    crate::cli::simulate::parse_time(text)
}

/// Run `override` against `dir`; prints what it did.
pub fn run(request: &Request, dir: &Path, now: Timestamp) -> u8 {
    match request {
        Request::Closed {
            until,
            schedule,
            message,
        } => {
            let until = match parse_until(until, now) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("--until: {e}");
                    return EXIT_USAGE;
                }
            };
            if until <= now {
                eprintln!("--until: {until} is not in the future");
                return EXIT_USAGE;
            }
            let message = match message {
                None => None,
                Some(path) => match std::fs::read_to_string(path) {
                    Ok(text) if text.trim().is_empty() => {
                        eprintln!("--message: {} is empty", path.display());
                        return EXIT_USAGE;
                    }
                    Ok(text) if text.len() > MAX_MESSAGE => {
                        eprintln!(
                            "--message: {} is longer than {MAX_MESSAGE} bytes",
                            path.display()
                        );
                        return EXIT_USAGE;
                    }
                    Ok(text) => Some(text.trim().to_owned()),
                    Err(e) => {
                        eprintln!("--message: {}: {e}", path.display());
                        return EXIT_USAGE;
                    }
                },
            };
            let o = Override {
                until,
                schedule: schedule.clone(),
                message,
                set_at: now,
            };
            match overrides::write(dir, &o) {
                Ok(()) => {
                    println!("override set: {o} ({})", overrides::path(dir).display());
                    EXIT_OK
                }
                Err(e) => {
                    eprintln!("cannot write {}: {e}", overrides::path(dir).display());
                    EXIT_FAILURE
                }
            }
        }
        Request::Clear => match overrides::clear(dir) {
            Ok(true) => {
                println!("override cleared");
                EXIT_OK
            }
            Ok(false) => {
                println!("no override was set");
                EXIT_OK
            }
            Err(e) => {
                eprintln!("cannot remove {}: {e}", overrides::path(dir).display());
                EXIT_FAILURE
            }
        },
        Request::Show => match overrides::read(dir) {
            Ok(None) => {
                println!("no override");
                EXIT_OK
            }
            Ok(Some(o)) => {
                let state = if o.active(now) { "in force" } else { "expired" };
                println!("{o} ({state}; set at {})", o.set_at);
                if let Some(message) = &o.message {
                    println!("message: {message}");
                }
                EXIT_OK
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_durations_and_times() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        assert_eq!(
            parse_until("2h", now).unwrap(),
            "2026-11-25T12:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            parse_until("2026-11-25T15:00:00+01:00", now).unwrap(),
            "2026-11-25T14:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert!(parse_until("someday", now).is_err());
    }

    #[test]
    fn closed_then_show_then_clear() {
        let dir = std::env::temp_dir().join(format!("gws-botd-ovr-cli-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        let msg = dir.join("msg.txt");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&msg, "Closed today.\n").unwrap();
        let closed = |until: &str| Request::Closed {
            until: until.into(),
            schedule: Some("support".into()),
            message: Some(msg.clone()),
        };
        assert_eq!(run(&closed("2026-11-25T09:00:00Z"), &dir, now), EXIT_USAGE);
        assert_eq!(run(&closed("3h"), &dir, now), EXIT_OK);
        let o = overrides::read(&dir).unwrap().unwrap();
        assert_eq!(o.message.as_deref(), Some("Closed today."));
        assert_eq!(
            o.until,
            "2026-11-25T13:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(run(&Request::Show, &dir, now), EXIT_OK);
        assert_eq!(run(&Request::Clear, &dir, now), EXIT_OK);
        assert_eq!(overrides::read(&dir).unwrap(), None);
        std::fs::write(&msg, "  ").unwrap();
        assert_eq!(run(&closed("3h"), &dir, now), EXIT_USAGE);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
