//! The chaos test at a size for the test suite: the real binary killed with SIGKILL and
//! restarted while faults are injected; every chat must end well. The full size (1,000 chats,
//! 12 kills) runs with `cargo bench --bench chaos`.

use std::time::Duration;

use gws_botd::chaos::{self, Params};
use gws_botd::sim::SimDialect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_survive_kills_and_faults() {
    survive(SimDialect::Interactions).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chats_survive_kills_and_faults_in_the_chats_dialect() {
    survive(SimDialect::Chats).await;
}

async fn survive(dialect: SimDialect) {
    let work = std::env::temp_dir().join(format!("gws-botd-chaos-{}", rand::random::<u64>()));
    let params = Params {
        chats: 60,
        kills: 4,
        faults: 12,
        ramp: Duration::from_secs(12),
        deadline: Duration::from_secs(90),
        seed: rand::random(),
        sim_restarts: true,
        dialect,
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
