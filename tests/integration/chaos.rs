//! The chaos test at a size for the test suite: the real binary killed with SIGKILL and
//! restarted while faults are injected; every chat must end well. The full size (1,000 chats,
//! 12 kills) runs with `cargo bench --bench chaos`, where a random seed can be given.
//!
//! The suite runs fixed seeds only: a new random seed every run made CI a lottery. Every seed
//! that ever failed is added to `SEEDS`.

use std::time::Duration;

use crate::kit::chaos::{self, Params};
use gws_botd::sim::{ParticipantForm, SimDialect};

/// Seeds the suite runs, in both dialects: 16928772949591916846 and 2 gave duplicate answers
/// on a loaded machine (interactions: a re-offer after a crash showed the first message again;
/// a transcript lost after a crash left an answered message to the next catch-up), and
/// 16928772949591916846 later held chats a minute after a re-offer (a stale "unlisted");
/// 1853431013489728293 sent an answer twice in the bench's soak (an old transcript taken for
/// the reply to the check after a timed-out send; see `chaos_found`); 15741823844905020889
/// sent a message on an invitation in the soak (an escalation's wait dropped an "unlisted");
/// 1 is an ordinary run.
const SEEDS: [u64; 5] = [
    1,
    2,
    16928772949591916846,
    1853431013489728293,
    15741823844905020889,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_survive_kills_and_faults() {
    for seed in SEEDS {
        survive(SimDialect::Interactions, ParticipantForm::Minimal, seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_survive_kills_and_faults_in_the_chats_dialect() {
    for seed in SEEDS {
        survive(SimDialect::Chats, ParticipantForm::Named, seed).await;
    }
}

async fn survive(dialect: SimDialect, participants: ParticipantForm, seed: u64) {
    let work = std::env::temp_dir().join(format!("gws-botd-chaos-{}", rand::random::<u64>()));
    let params = Params {
        chats: 60,
        kills: 4,
        faults: 12,
        ramp: Duration::from_secs(12),
        deadline: Duration::from_secs(90),
        seed,
        sim_restarts: true,
        dialect,
        participants,
    };
    let report = chaos::run(env!("CARGO_BIN_EXE_gws-botd").as_ref(), &work, &params)
        .await
        .expect("chaos run");
    println!("seed {}\n{report}", params.seed);
    assert!(
        report.passed(),
        "seed {}: {report}\n(daemon log in {})",
        params.seed,
        work.display()
    );
    assert_eq!(report.kills, 4);
    let _ = std::fs::remove_dir_all(&work);
}
