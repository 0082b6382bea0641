//! Tracing setup: human-readable text, JSON lines, or the systemd journal with native fields.
//!
//! `--log-format auto` (the default) picks the journal when the process was started by systemd
//! — `$JOURNAL_STREAM` names stderr's device and inode (systemd connected stderr to the journal),
//! or `$INVOCATION_ID` is set — and text otherwise. In the journal every span and event field
//! becomes an upper-case field without prefix, so `journalctl CHAT_ID=… RULE=greeting` and
//! `journalctl GWS_STATUS_CODE=2` work. `RUST_LOG` filters in every format.

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
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
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
