//! Tracing setup: human-readable text, JSON lines, or the systemd journal with native fields.
//!
//! `--log-format auto` (the default) picks the journal when the process was started by systemd
//! — `$JOURNAL_STREAM` names stderr's device and inode (systemd connected stderr to the journal),
//! or `$INVOCATION_ID` is set — and text otherwise. In the journal every span and event field
//! becomes an upper-case field without prefix, so `journalctl CHAT_ID=… RULE=greeting` and
//! `journalctl GWS_STATUS_CODE=2` work. `RUST_LOG` filters in every format.
//!
//! Dependencies stay quiet under any filter: `RUST_LOG=trace` means the daemon's own trace,
//! while the crates in [`CAPPED_CRATES`] log at most at [`DEPENDENCY_LEVEL`] unless `RUST_LOG`
//! names the crate itself (`RUST_LOG=trace,hyper=trace`). Their trace output (one line per
//! inotify event, per socket readiness, per HTTP frame) can otherwise feed on itself: a log
//! file in a watched directory made a line per write, and the log grew by gigabytes.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

/// The journal's `SYSLOG_IDENTIFIER`.
pub const SYSLOG_IDENTIFIER: &str = "gws-botd";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// The journal under systemd, text otherwise.
    #[default]
    Auto,
    /// Human-readable text on stderr.
    Pretty,
    /// One JSON object per line on stderr.
    Json,
    /// The systemd journal, with structured fields.
    Journald,
}

/// Install the global subscriber, filtered by `RUST_LOG` or else `default_filter`. Returns the
/// format in use (the journal falls back to text when its socket cannot be opened).
pub fn init(format: Format, default_filter: &str) -> Format {
    let wanted_filter = std::env::var(EnvFilter::DEFAULT_ENV)
        .ok()
        .filter(|f| !f.trim().is_empty());
    let user = wanted_filter.as_deref().unwrap_or(default_filter);
    let filter = EnvFilter::try_new(directives(user))
        .unwrap_or_else(|_| EnvFilter::new(directives(default_filter)));
    let wanted = match format {
        Format::Auto if started_by_systemd() => Format::Journald,
        Format::Auto => Format::Pretty,
        other => other,
    };
    let (layer, used, problem) = match wanted {
        Format::Journald => match tracing_journald::layer() {
            Ok(journal) => (
                journal
                    .with_field_prefix(None)
                    .with_syslog_identifier(SYSLOG_IDENTIFIER.into())
                    .boxed(),
                Format::Journald,
                None,
            ),
            Err(e) => (pretty(), Format::Pretty, Some(e)),
        },
        Format::Json => (json(std::io::stderr), Format::Json, None),
        _ => (pretty(), Format::Pretty, None),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
    if let Some(e) = problem {
        tracing::warn!(error = %e, "cannot write to the systemd journal; logging to stderr");
    }
    used
}

/// Crates whose events are capped at [`DEPENDENCY_LEVEL`] unless the filter names them.
pub const CAPPED_CRATES: &[&str] = &[
    "notify",
    "inotify",
    "mio",
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "h2",
    "tower",
    "axum",
    "want",
    "cookie_store",
];

/// The most a capped dependency logs when the filter does not name it.
pub const DEPENDENCY_LEVEL: &str = "info";

/// The filter directives for `user` (`RUST_LOG` or the default): `user`, then a cap for every
/// crate in [`CAPPED_CRATES`] that `user` does not name. A directive for a target is more
/// specific than a bare level, so `trace,notify=info` logs notify at info.
pub fn directives(user: &str) -> String {
    let named: Vec<&str> = user
        .split(',')
        .filter_map(|d| {
            let target = d.trim().split(['=', '[']).next()?.trim();
            (!target.is_empty()).then_some(target)
        })
        .collect();
    let mut out = user.trim().to_owned();
    for krate in CAPPED_CRATES {
        let mentioned = named
            .iter()
            .any(|t| t == krate || t.strip_prefix(krate).is_some_and(|r| r.starts_with("::")));
        if !mentioned {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(&format!("{krate}={DEPENDENCY_LEVEL}"));
        }
    }
    out
}

fn pretty() -> Box<dyn Layer<Registry> + Send + Sync> {
    fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .boxed()
}

/// JSON lines: the event's fields at the top level, the current span's fields under `span`.
fn json<W>(writer: W) -> Box<dyn Layer<Registry> + Send + Sync>
where
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
        .boxed()
}

/// Whether systemd started this process (see the module docs).
pub fn started_by_systemd() -> bool {
    detect(
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        std::env::var_os("INVOCATION_ID").is_some(),
        stderr_id(),
    )
}

/// `$JOURNAL_STREAM` is `device:inode` of the stream systemd connected; it only counts when
/// that stream is still our stderr (not redirected by a wrapper).
fn detect(journal_stream: Option<&str>, invocation_id: bool, stderr: Option<(u64, u64)>) -> bool {
    let journal = journal_stream
        .and_then(|s| s.split_once(':'))
        .and_then(|(dev, ino)| Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?)));
    matches!((journal, stderr), (Some(j), Some(s)) if j == s) || invocation_id
}

#[cfg(unix)]
fn stderr_id() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn stderr_id() -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn systemd_is_recognised_by_its_stream_or_invocation() {
        assert!(detect(Some("8:1234"), false, Some((8, 1234))));
        assert!(!detect(Some("8:1234"), false, Some((8, 99))), "redirected");
        assert!(!detect(Some("garbage"), false, Some((8, 1234))));
        assert!(detect(None, true, None));
        assert!(!detect(None, false, Some((8, 1234))));
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn dependencies_are_capped_unless_named() {
        let all = directives("trace");
        assert!(all.starts_with("trace,"), "{all}");
        assert!(
            all.contains("notify=info") && all.contains("hyper=info"),
            "{all}"
        );
        let named = directives("trace,notify::inotify=trace,hyper=debug");
        let parts: Vec<&str> = named.split(',').collect();
        assert!(!parts.contains(&"notify=info"), "{named}");
        assert!(!parts.contains(&"hyper=info"), "{named}");
        assert!(parts.contains(&"reqwest=info"), "{named}");
        assert!(directives("").starts_with("notify=info"));
    }

    /// Under `trace` for everything, a dependency's trace events are dropped and the daemon's
    /// are kept.
    #[test]
    fn a_trace_filter_keeps_dependency_trace_out() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let filter = EnvFilter::try_new(directives("trace")).unwrap();
        let layer = fmt::layer()
            .with_writer(move || sink.clone())
            .with_filter(filter);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(target: "notify::inotify", "inotify event: Event {{ .. }}");
            tracing::trace!(target: "mio::poll", "registering event source");
            tracing::info!(target: "notify::inotify", "watching a directory");
            tracing::trace!(target: "gws_botd::cometd", "polling");
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!out.contains("inotify event"), "{out}");
        assert!(!out.contains("registering"), "{out}");
        assert!(out.contains("watching a directory"), "{out}");
        assert!(out.contains("polling"), "{out}");
    }

    #[test]
    fn json_lines_carry_event_and_span_fields() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(json(move || sink.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("chat", chat_id = "c-7");
            let _in = span.enter();
            tracing::info!(rule = "greeting", "rule acted");
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(line["message"], "rule acted", "{out}");
        assert_eq!(line["rule"], "greeting", "{out}");
        assert_eq!(line["span"]["chat_id"], "c-7", "{out}");
        assert_eq!(line["level"], "INFO", "{out}");
    }
}
