//! What the daemon keeps on disk in `bot.state_dir`: each open chat's state, so a restart
//! continues where it stopped ([`state`]), and the decision log that explains every choice
//! ([`decision_log`]).
//!
//! Owns the files under the state directory (modes 0700/0600). Calls nothing above it; `chat`,
//! `runtime` and `cli` call it.

pub mod decision_log;
pub mod state;
