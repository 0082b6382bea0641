//! The chain: responders asked in order, each within its `timeout`, each failure handled as
//! its `on_error` says, each call counted in the per-responder metrics.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures::FutureExt;
use tracing::warn;

use super::{ChatView, Outcome, Responder, Response, Trigger};
use crate::telemetry::stats::{CallEnd, ResponderProbe, Stats};

/// What a failing responder (an error, a panic, its `timeout`) does to the chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Ask the next responder, as if this one had passed.
    #[default]
    Pass,
    /// Hand the chat to a human (the fallback skill, or a goodbye).
    HandOver,
}

/// One responder of the chain with its settings.
pub struct Link {
    /// The name in logs, metrics and the decision log (`name`, else the type).
    pub name: String,
    pub responder: Box<dyn Responder>,
    /// The longest one call may take; `None`: no limit.
    pub timeout: Option<Duration>,
    pub on_error: OnError,
}

impl Link {
    /// `responder` under its own name, without a time limit, handing the chat over when it
    /// fails: what a responder did before responders had settings.
    pub fn strict(responder: Box<dyn Responder>) -> Link {
        Link {
            name: responder.name().to_owned(),
            responder,
            timeout: None,
            on_error: OnError::HandOver,
        }
    }
}

/// What the chain decided about one trigger.
#[derive(Debug)]
pub enum Verdict<'c> {
    /// The responder `by` acted.
    Act { by: &'c str, response: Response },
    /// Every responder passed (or failed with `on_error = "pass"`); `last` was asked last
    /// (empty for an empty chain).
    Pass { last: &'c str },
    /// The responder `by` failed with `on_error = "hand_over"`: the chat needs a human.
    Failed { by: &'c str, error: String },
}

/// The chain's decision, and the responders that failed with `on_error = "pass"` before it
/// (name, error), for the decision log.
#[derive(Debug)]
pub struct Answer<'c> {
    pub decision: Verdict<'c>,
    pub skipped: Vec<(&'c str, String)>,
}

/// The merged idle timeouts, and the lists they were merged from.
struct IdleCache {
    parts: Vec<Arc<[Duration]>>,
    merged: Arc<[Duration]>,
}

/// The configured chain of responders, asked in order.
pub struct Chain {
    links: Vec<Link>,
    probes: OnceLock<Vec<ResponderProbe>>,
    idle: ArcSwap<IdleCache>,
}

impl Chain {
    /// A chain asking `responders` in the given order, each as [`Link::strict`].
    pub fn new(responders: Vec<Box<dyn Responder>>) -> Self {
        Chain::of(responders.into_iter().map(Link::strict).collect())
    }

    /// A chain of configured links.
    pub fn of(links: Vec<Link>) -> Self {
        let idle = IdleCache {
            parts: Vec::new(),
            merged: super::no_idle_timeouts(),
        };
        Chain {
            links,
            probes: OnceLock::new(),
            idle: ArcSwap::from_pointee(idle),
        }
    }

    /// Count every call in `stats` (`gws_botd_responder_*`); the first call wins.
    pub fn observe(&self, stats: &Stats) {
        let probes = self
            .links
            .iter()
            .map(|l| stats.responder_probe(&l.name, l.responder.name()))
            .collect();
        let _ = self.probes.set(probes);
    }

    /// Ask each responder in turn; the first that acts wins. A failing one (error, panic,
    /// timeout) is skipped or hands the chat over, as its `on_error` says; a late answer is
    /// dropped with its future, never used.
    pub async fn respond(&self, chat: &ChatView<'_>, trigger: &Trigger) -> Answer<'_> {
        let mut skipped = Vec::new();
        for (i, link) in self.links.iter().enumerate() {
            let probe = self.probes.get().and_then(|p| p.get(i));
            let started = tokio::time::Instant::now();
            let asked = ask(link, chat, trigger).await;
            if let Some(probe) = probe {
                let end = match &asked {
                    Ok(Outcome::Act(_)) => CallEnd::Acted,
                    Ok(Outcome::Pass) => CallEnd::Passed,
                    Err(_) => CallEnd::Failed,
                };
                probe.called(started.elapsed(), end);
            }
            match asked {
                Ok(Outcome::Pass) => {}
                Ok(Outcome::Act(response)) => {
                    let decision = Verdict::Act {
                        by: &link.name,
                        response,
                    };
                    return Answer { decision, skipped };
                }
                Err(error) => match link.on_error {
                    OnError::Pass => {
                        warn!(responder = %link.name, error = %error, chat_id = %chat.id,
                            "responder failed; asking the next one (on_error = \"pass\")");
                        skipped.push((link.name.as_str(), error));
                    }
                    OnError::HandOver => {
                        let by = &link.name;
                        let decision = Verdict::Failed { by, error };
                        return Answer { decision, skipped };
                    }
                },
            }
        }
        let last = self.links.last().map_or("", |l| l.name.as_str());
        Answer {
            decision: Verdict::Pass { last },
            skipped,
        }
    }

    /// Silences after which any responder wants a [`Trigger::Idle`], shortest first. Merged
    /// again only when a responder's list changed (a rule reload): no allocation per wait.
    pub fn idle_timeouts(&self) -> Arc<[Duration]> {
        if let [only] = self.links.as_slice() {
            return only.responder.idle_timeouts();
        }
        let cached = self.idle.load();
        let same = cached.parts.len() == self.links.len()
            && self
                .links
                .iter()
                .zip(&cached.parts)
                .all(|(l, p)| Arc::ptr_eq(&l.responder.idle_timeouts(), p));
        if same {
            return cached.merged.clone();
        }
        let parts: Vec<Arc<[Duration]>> = self
            .links
            .iter()
            .map(|l| l.responder.idle_timeouts())
            .collect();
        let mut all: Vec<Duration> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        all.sort();
        all.dedup();
        let merged: Arc<[Duration]> = Arc::from(all);
        self.idle.store(Arc::new(IdleCache {
            parts,
            merged: merged.clone(),
        }));
        merged
    }

    /// Names of the responders, in order.
    pub fn names(&self) -> Vec<&str> {
        self.links.iter().map(|l| l.name.as_str()).collect()
    }
}

/// One responder's answer within its time limit; an error, a panic or the timeout as a text
/// for the log.
async fn ask(link: &Link, chat: &ChatView<'_>, trigger: &Trigger) -> Result<Outcome, String> {
    let call = AssertUnwindSafe(link.responder.respond(chat, trigger)).catch_unwind();
    let answered = match link.timeout {
        Some(limit) => match tokio::time::timeout(limit, call).await {
            Ok(answered) => answered,
            Err(_) => {
                return Err(format!(
                    "no answer within {}",
                    humantime::format_duration(limit)
                ));
            }
        },
        None => call.await,
    };
    match answered {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err("the responder panicked".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use async_trait::async_trait;

    use super::*;
    use crate::event::{ChatId, UserData};
    use crate::responder::{Action, no_idle_timeouts};

    /// A responder that acts, passes, fails, panics or never answers, with idle timeouts.
    struct Fake(&'static str, Arc<[Duration]>);

    #[async_trait]
    impl Responder for Fake {
        fn name(&self) -> &str {
            "fake"
        }
        async fn respond(&self, _: &ChatView<'_>, _: &Trigger) -> anyhow::Result<Outcome> {
            match self.0 {
                "pass" => Ok(Outcome::Pass),
                "fail" => anyhow::bail!("down"),
                "panic" => panic!("bug"),
                "hang" => futures::future::pending().await,
                text => Ok(Outcome::Act(Response {
                    actions: vec![Action::Reply(text.into())],
                    ..Response::default()
                })),
            }
        }
        fn idle_timeouts(&self) -> Arc<[Duration]> {
            self.1.clone()
        }
    }

    fn link(name: &str, what: &'static str, on_error: OnError) -> Link {
        Link {
            name: name.into(),
            responder: Box::new(Fake(what, no_idle_timeouts())),
            timeout: Some(Duration::from_secs(2)),
            on_error,
        }
    }

    async fn ask(chain: &Chain) -> (String, Vec<String>) {
        let (id, data, fired) = (ChatId("c".into()), UserData::new(), HashSet::new());
        let view = ChatView {
            id: &id,
            message_id: None,
            recent: &[],
            customer: None,
            bot: "Ava",
            user_data: &data,
            turn: 1,
            unanswered: 0,
            fired: &fired,
            awaiting: None,
            now: jiff::Timestamp::UNIX_EPOCH,
        };
        let answer = chain.respond(&view, &Trigger::Accepted).await;
        let skipped = answer
            .skipped
            .iter()
            .map(|(n, e)| format!("{n}: {e}"))
            .collect();
        let decision = match answer.decision {
            Verdict::Act { by, response } => format!("{by} acted: {:?}", response.actions),
            Verdict::Pass { last } => format!("pass after {last}"),
            Verdict::Failed { by, error } => format!("{by} failed: {error}"),
        };
        (decision, skipped)
    }

    // Paused time: the hanging responder's 2 s pass at once, without a wall-clock wait.
    #[tokio::test(start_paused = true)]
    async fn failures_pass_or_hand_over_as_configured() {
        let chain = Chain::of(vec![
            link("a", "fail", OnError::Pass),
            link("b", "panic", OnError::Pass),
            link("c", "hang", OnError::Pass),
            link("d", "pass", OnError::HandOver),
            link("e", "hello", OnError::Pass),
        ]);
        let stats = Stats::default();
        chain.observe(&stats);
        let (decision, skipped) = ask(&chain).await;
        assert_eq!(decision, "e acted: [Reply(\"hello\")]");
        assert_eq!(
            skipped,
            [
                "a: down",
                "b: the responder panicked",
                "c: no answer within 2s"
            ]
        );
        let text = crate::telemetry::metrics::encode(stats.registry());
        for line in [
            "gws_botd_responder_calls_total{responder=\"c\",type=\"fake\"} 1",
            "gws_botd_responder_errors_total{responder=\"c\",type=\"fake\"} 1",
            "gws_botd_responder_passes_total{responder=\"d\",type=\"fake\"} 1",
            "gws_botd_responder_errors_total{responder=\"e\",type=\"fake\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        let strict = Chain::of(vec![
            link("a", "hang", OnError::HandOver),
            link("b", "hi", OnError::Pass),
        ]);
        assert_eq!(ask(&strict).await.0, "a failed: no answer within 2s");
        let silent = Chain::of(vec![
            link("a", "pass", OnError::Pass),
            link("b", "fail", OnError::Pass),
        ]);
        assert_eq!(ask(&silent).await.0, "pass after b");
    }

    #[test]
    fn idle_timeouts_are_merged_once_and_shared() {
        let secs =
            |s: &[u64]| -> Arc<[Duration]> { s.iter().map(|s| Duration::from_secs(*s)).collect() };
        let chain = Chain::of(vec![
            Link::strict(Box::new(Fake("pass", secs(&[300, 60])))),
            Link::strict(Box::new(Fake("pass", secs(&[60, 120])))),
        ]);
        let first = chain.idle_timeouts();
        assert_eq!(*first, *secs(&[60, 120, 300]));
        // Asked again with the same lists: the very same merged list, nothing built.
        assert!(Arc::ptr_eq(&first, &chain.idle_timeouts()));
        let one = secs(&[30]);
        let single = Chain::of(vec![Link::strict(Box::new(Fake("pass", one.clone())))]);
        assert!(Arc::ptr_eq(&single.idle_timeouts(), &one));
    }
}
