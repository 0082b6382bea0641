//! The chaos run at full size: 1,000 chats, 12 SIGKILLs, 40 faults (env CHATS, KILLS,
//! FAULTS, SEED (random when not given), RAMP_SECS to change; DIALECT=chats for the released chat API; PARTICIPANTS=named for participants that name their user). Prints the counts and exits 1 if an invariant broke.
//!
//! `cargo bench --bench chaos`

use std::time::Duration;

#[allow(dead_code)]
#[path = "../tests/kit/mod.rs"]
mod kit;

use kit::chaos::{self, Params};

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[tokio::main]
async fn main() {
    let mut params = Params::full();
    if let Some(n) = env("CHATS") {
        params.chats = n.min(10_000) as usize;
    }
    if let Some(n) = env("KILLS") {
        params.kills = n as usize;
    }
    if let Some(n) = env("FAULTS") {
        params.faults = n as usize;
    }
    // A random seed unless one is given, printed first so that a run that hangs or crashes
    // can be repeated.
    params.seed = env("SEED").unwrap_or_else(rand::random);
    println!("seed {}", params.seed);
    if let Some(n) = env("RAMP_SECS") {
        params.ramp = Duration::from_secs(n);
    }
    if let Ok(d) = std::env::var("DIALECT") {
        params.dialect = match d.as_str() {
            "chats" => gws_botd::sim::SimDialect::Chats,
            _ => gws_botd::sim::SimDialect::Interactions,
        };
    }
    if let Ok(form) = std::env::var("PARTICIPANTS") {
        params.participants = match form.as_str() {
            "named" => gws_botd::sim::ParticipantForm::Named,
            _ => gws_botd::sim::ParticipantForm::Minimal,
        };
    }
    let work = std::env::temp_dir().join(format!("gws-botd-chaos-{}", std::process::id()));
    let report = chaos::run(env!("CARGO_BIN_EXE_gws-botd").as_ref(), &work, &params)
        .await
        .expect("chaos run");
    println!("{params:?}\n{report}");
    if !report.passed() {
        println!("daemon log: {}", work.join("daemon.log").display());
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(&work);
}
