//! Shadow rules (`[shadow] rules`): a second rule set that a supervisor tries on live traffic.
//!
//! After the live chain has decided about a trigger (accepted, a customer message, idle,
//! escalation failed) and its decision is recorded, the chat hands the same trigger to its
//! shadow `Lane`: a task of its own evaluates the shadow rules on a blocking thread, compares
//! the result with the live decision (`agrees`) and records a [`Decision::Shadow`] after the
//! live record. Nothing the shadow rules decide is sent or changes the chat: the chat's `fired`,
//! `unanswered` and `awaiting` stay the live ones, and the shadow keeps its own (`Memory`) in
//! memory, per chat, for `once`, `unanswered` and `when.awaiting`. It starts empty when the chat
//! task starts (after a restart too).
//!
//! The live answer never waits for the shadow: the chat only clones what the shadow needs and
//! spawns. A shadow evaluation that panics or takes longer than its budget
//! ([`DEFAULT_BUDGET`]) is dropped with a log line and `gws_botd_shadow_failures_total`; the
//! shadow memory stays as it was. Evaluations of one chat run in order (each lane task waits
//! for the previous one), chats run concurrently.

use std::collections::{BTreeSet, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::task::JoinHandle;
use tracing::{debug, error, warn};

use super::Chat;
use super::respond::{responded, trigger_name};
use crate::event::{ChatId, UserData};
use crate::responder::rules::RuleSet;
use crate::responder::{ChatView, Line, Outcome, Trigger};
use crate::schedule::overrides;
use crate::store::decision_log::{Decision, DecisionLog};
use crate::telemetry::stats::Stats;

/// How long one shadow evaluation may take before it is dropped (rules take microseconds).
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(1);

/// The metric label of a disagreement where the shadow rules were silent.
pub const SILENT: &str = "no_match";

/// What the shadow evaluates: the shadow rule set, or (for tests) any function.
type Evaluate = dyn Fn(&ChatView<'_>, &Trigger) -> Outcome + Send + Sync;

/// The shadow rules of the daemon, shared by every chat.
pub struct Shadow {
    evaluate: Box<Evaluate>,
    budget: Duration,
}

impl std::fmt::Debug for Shadow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shadow")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Shadow {
    /// Evaluate whatever set `rules` holds at each trigger (a reload swaps it), with the
    /// emergency override that `overrides` follows in force as for the live rules.
    pub fn new(rules: Arc<ArcSwap<RuleSet>>, overrides: Option<Arc<overrides::Watch>>) -> Self {
        Shadow::from_fn(move |chat, trigger| {
            let active = overrides.as_ref().and_then(|w| w.current(chat.now));
            rules
                .load()
                .evaluate_traced(chat, trigger, active.as_deref(), None)
        })
    }

    /// A shadow deciding with `evaluate`: for tests of what happens when it panics or hangs.
    pub fn from_fn(
        evaluate: impl Fn(&ChatView<'_>, &Trigger) -> Outcome + Send + Sync + 'static,
    ) -> Self {
        Shadow {
            evaluate: Box::new(evaluate),
            budget: DEFAULT_BUDGET,
        }
    }

    /// Drop evaluations that take longer than `budget`.
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }
}

/// What the shadow rules remember of one chat, instead of the live chat's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Memory {
    /// Shadow rules that acted in this chat (for `once`).
    fired: HashSet<String>,
    /// Consecutive customer messages no shadow `message` rule matched.
    unanswered: u32,
    /// What the shadow's previous answer awaited, until the next customer message.
    awaiting: Option<String>,
}

impl Memory {
    /// Remember what the shadow rules did about `trigger`, as the chat does for the live
    /// rules (`respond.rs`).
    fn update(&mut self, trigger: &Trigger, outcome: &Outcome) {
        let message = matches!(trigger, Trigger::Message { .. });
        if message {
            self.awaiting = None;
        }
        match outcome {
            Outcome::Pass if message => self.unanswered += 1,
            Outcome::Pass => {}
            Outcome::Act(response) => {
                if message {
                    self.unanswered = if response.matched {
                        0
                    } else {
                        self.unanswered + 1
                    };
                }
                self.fired.extend(response.acted.iter().cloned());
                if response.awaiting.is_some() {
                    self.awaiting = response.awaiting.clone();
                }
            }
        }
    }
}

/// The chat as it was when the live chain decided: what the shadow's view is made of.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub id: ChatId,
    /// The transcript id of the customer message the trigger carries.
    pub message_id: Option<String>,
    pub recent: Vec<Line>,
    pub customer: Option<String>,
    pub bot: String,
    pub user_data: UserData,
    pub turn: u32,
    pub now: jiff::Timestamp,
}

impl Seen {
    fn view<'a>(&'a self, memory: &'a Memory) -> ChatView<'a> {
        ChatView {
            id: &self.id,
            message_id: self.message_id.as_deref(),
            recent: &self.recent,
            customer: self.customer.as_deref(),
            bot: &self.bot,
            user_data: &self.user_data,
            turn: self.turn,
            unanswered: memory.unanswered,
            fired: &memory.fired,
            awaiting: memory.awaiting.as_deref(),
            now: self.now,
        }
    }
}

/// What a decision says to the customer and does next: what [`agrees`] compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Said {
    replies: Vec<String>,
    attached: BTreeSet<String>,
    then: String,
}

impl Said {
    /// What a live or shadow decision record says; `None` when nothing acted.
    pub(crate) fn of(decision: &Decision) -> Option<Said> {
        match decision {
            Decision::Responded {
                replies,
                attached,
                then,
                ..
            } => Some(Said {
                replies: replies.clone(),
                attached: attached.iter().cloned().collect(),
                then: then.clone(),
            }),
            _ => None,
        }
    }
}

/// Whether the shadow decision is the live one: the same replies (rendered texts, in order),
/// the same attached-data keys and the same `then`; both silent agree, one silent does not.
/// Rule names do not count: a renamed rule that behaves the same agrees.
pub(crate) fn agrees(live: Option<&Said>, shadow: Option<&Said>) -> bool {
    live == shadow
}

/// One trigger for the shadow rules, with the live decision to compare against.
pub(crate) struct Job {
    pub shadow: Arc<Shadow>,
    pub stats: Arc<Stats>,
    pub decisions: DecisionLog,
    pub seen: Seen,
    pub trigger: Trigger,
    /// The transcript id of the customer message the trigger carries.
    pub message_id: Option<String>,
    /// What the live decision said; `None`: the live chain was silent.
    pub live: Option<Said>,
}

impl Job {
    /// Evaluate on a blocking thread within the budget and record the result; the memory
    /// after it, or as it was when the evaluation panicked or was too slow.
    async fn run(self, memory: Memory) -> Memory {
        let kept = memory.clone();
        let Job {
            shadow,
            stats,
            decisions,
            seen,
            trigger,
            message_id,
            live,
        } = self;
        let budget = shadow.budget;
        let id = seen.id.clone();
        let work = tokio::task::spawn_blocking(move || {
            let mut memory = memory;
            let evaluated = std::panic::catch_unwind(AssertUnwindSafe(|| {
                (shadow.evaluate)(&seen.view(&memory), &trigger)
            }));
            evaluated.map(|outcome| {
                memory.update(&trigger, &outcome);
                let decided = record(&trigger, message_id.as_deref(), &outcome, live.as_ref());
                (decided, memory)
            })
        });
        match tokio::time::timeout(budget, work).await {
            Ok(Ok(Ok(((decision, disagreement), memory)))) => {
                if let Some(rule) = disagreement {
                    debug!(rule = %rule, "the shadow rules disagree with the live decision");
                    stats.shadow_disagreement(&rule);
                }
                decisions.record(&id, decision);
                memory
            }
            Ok(Ok(Err(_)) | Err(_)) => {
                error!(
                    "the shadow rules panicked; nothing recorded for this trigger (the live answer is not affected)"
                );
                stats.shadow_failure("panic");
                kept
            }
            Err(_) => {
                warn!(budget = ?budget, "the shadow rules took too long; nothing recorded for this trigger (the live answer is not affected)");
                stats.shadow_failure("slow");
                kept
            }
        }
    }
}

/// The shadow record of `outcome` and, when it disagrees with `live`, the metric label: the
/// first shadow rule that acted, or [`SILENT`].
pub(crate) fn record(
    trigger: &Trigger,
    message_id: Option<&str>,
    outcome: &Outcome,
    live: Option<&Said>,
) -> (Decision, Option<String>) {
    let (rules, matched, said) = match outcome {
        Outcome::Pass => (Vec::new(), false, None),
        Outcome::Act(response) => {
            let decision = responded(trigger, "shadow", message_id, response);
            (
                response.acted.clone(),
                response.matched,
                Said::of(&decision),
            )
        }
    };
    let agree = agrees(live, said.as_ref());
    let disagreement =
        (!agree).then(|| rules.first().cloned().unwrap_or_else(|| SILENT.to_owned()));
    let (replies, then) = match said {
        Some(said) => (said.replies, said.then),
        None => (Vec::new(), "none".to_owned()),
    };
    let decision = Decision::Shadow {
        trigger: trigger_name(trigger).into(),
        message_id: message_id.map(str::to_owned),
        rules,
        matched,
        replies,
        reply_chars: Vec::new(),
        then,
        agrees: agree,
    };
    (decision, disagreement)
}

/// A chat's shadow evaluations, one after another.
#[derive(Debug, Default)]
pub(crate) struct Lane {
    /// The last evaluation started: the next one waits for it and takes its memory.
    tail: Option<JoinHandle<Memory>>,
}

impl Lane {
    /// Start `job` after the evaluations started before it.
    fn push(&mut self, job: Job) {
        let previous = self.tail.take();
        self.tail = Some(tokio::spawn(async move {
            let memory = match previous {
                None => Memory::default(),
                Some(task) => task.await.unwrap_or_else(|e| {
                    warn!(error = %e, "a shadow evaluation was lost; the shadow memory of this chat starts again");
                    Memory::default()
                }),
            };
            job.run(memory).await
        }));
    }
}

impl Chat {
    /// Record the live decision about `trigger`, then hand the trigger to the shadow rules (if
    /// configured) without waiting for them.
    pub(super) fn decided(&mut self, trigger: &Trigger, live: Decision) {
        let message_id = match &live {
            Decision::Responded { message_id, .. } | Decision::NoAnswer { message_id, .. } => {
                message_id.clone()
            }
            _ => None,
        };
        let said = Said::of(&live);
        self.note(live);
        let Some(shadow) = self.ctx.shadow.clone() else {
            return;
        };
        let seen = Seen {
            id: self.id.clone(),
            message_id: message_id.clone(),
            recent: self.memory.recent.clone(),
            customer: self.memory.customer().map(str::to_owned),
            bot: self.ctx.nickname.clone(),
            user_data: self.memory.user_data.clone(),
            turn: self.turn,
            now: self.ctx.clock.now(),
        };
        self.shadow.push(Job {
            shadow,
            stats: self.ctx.stats.clone(),
            decisions: self.ctx.decisions.clone(),
            seen,
            trigger: trigger.clone(),
            message_id,
            live: said,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::responder::{Action, Response, Team, TeamMode, Then};

    fn said(replies: &[&str], attached: &[&str], then: &str) -> Said {
        Said {
            replies: replies.iter().map(|r| (*r).to_owned()).collect(),
            attached: attached.iter().map(|a| (*a).to_owned()).collect(),
            then: then.into(),
        }
    }

    fn act(rules: &[&str], replies: &[&str], then: Then) -> Outcome {
        Outcome::Act(Response {
            actions: replies
                .iter()
                .map(|r| Action::Reply((*r).to_owned()))
                .collect(),
            then,
            acted: rules.iter().map(|r| (*r).to_owned()).collect(),
            matched: true,
            awaiting: None,
        })
    }

    fn message() -> Trigger {
        Trigger::Message {
            text: "hello".into(),
        }
    }

    #[test]
    fn agreement_is_about_what_the_customer_would_see_and_what_happens_next() {
        let live = said(&["Hi."], &["Segment"], "stay");
        assert!(agrees(Some(&live), Some(&live.clone())));
        assert!(agrees(None, None), "both silent agree");
        assert!(!agrees(Some(&live), None));
        assert!(!agrees(None, Some(&live)));
        assert!(!agrees(
            Some(&live),
            Some(&said(&["Hello."], &["Segment"], "stay"))
        ));
        assert!(!agrees(Some(&live), Some(&said(&["Hi."], &[], "stay"))));
        assert!(!agrees(
            Some(&live),
            Some(&said(&["Hi."], &["Segment"], "close"))
        ));
        assert!(!agrees(
            Some(&live),
            Some(&said(&["Hi.", "Hi."], &["Segment"], "stay"))
        ));
        // The keys of attached data as a set: their order in the rule does not matter.
        let two = said(&[], &["a", "b"], "stay");
        assert!(agrees(Some(&two), Some(&said(&[], &["b", "a"], "stay"))));
    }

    #[test]
    fn a_renamed_rule_that_behaves_the_same_agrees_and_a_difference_names_the_shadow_rule() {
        let trigger = message();
        let live = Said::of(&responded(
            &trigger,
            "rules",
            Some("e-1"),
            &match act(&["hours"], &["8 to 18"], Then::Stay) {
                Outcome::Act(r) => r,
                Outcome::Pass => unreachable!(),
            },
        ));
        let (decision, disagreement) = record(
            &trigger,
            Some("e-1"),
            &act(&["hours-v2"], &["8 to 18"], Then::Stay),
            live.as_ref(),
        );
        assert_eq!(disagreement, None);
        assert_eq!(
            decision,
            Decision::Shadow {
                trigger: "message".into(),
                message_id: Some("e-1".into()),
                rules: vec!["hours-v2".into()],
                matched: true,
                replies: vec!["8 to 18".into()],
                reply_chars: vec![],
                then: "stay".into(),
                agrees: true,
            }
        );
        let team = Team {
            name: "billing".into(),
            agents: vec![],
            skill: None,
            wait: Duration::from_secs(1),
            mode: TeamMode::Transfer,
            resume: false,
        };
        let (decision, disagreement) = record(
            &trigger,
            Some("e-1"),
            &act(&["refund", "tag"], &["8 to 18"], Then::Escalate(team)),
            live.as_ref(),
        );
        assert_eq!(
            disagreement.as_deref(),
            Some("refund"),
            "the first rule that acted"
        );
        assert!(
            matches!(decision, Decision::Shadow { agrees: false, ref then, .. } if then == "escalate to team billing")
        );
        // Silent where the live rules answered: `no_match`, `then` is `none`.
        let (decision, disagreement) = record(&trigger, Some("e-1"), &Outcome::Pass, live.as_ref());
        assert_eq!(disagreement.as_deref(), Some(SILENT));
        assert!(
            matches!(decision, Decision::Shadow { agrees: false, ref then, ref rules, .. } if then == "none" && rules.is_empty())
        );
        // Both silent: agreement, nothing counted.
        let (decision, disagreement) = record(&Trigger::Accepted, None, &Outcome::Pass, None);
        assert_eq!(disagreement, None);
        assert!(matches!(decision, Decision::Shadow { agrees: true, .. }));
    }

    #[test]
    fn the_shadow_memory_follows_the_shadow_rules_as_the_chat_follows_the_live_ones() {
        let mut memory = Memory::default();
        memory.update(&message(), &Outcome::Pass);
        memory.update(&message(), &Outcome::Pass);
        assert_eq!(memory.unanswered, 2);
        let Outcome::Act(mut answer) = act(&["ask"], &["Your order number?"], Then::Stay) else {
            unreachable!()
        };
        answer.awaiting = Some("order".into());
        memory.update(&message(), &Outcome::Act(answer.clone()));
        assert_eq!(memory.unanswered, 0);
        assert_eq!(memory.awaiting.as_deref(), Some("order"));
        assert!(memory.fired.contains("ask"));
        // Not a message: `awaiting` and `unanswered` stay.
        memory.update(
            &Trigger::Idle {
                silent: Duration::from_secs(60),
            },
            &Outcome::Pass,
        );
        assert_eq!(memory.awaiting.as_deref(), Some("order"));
        // A `no_match` answer counts as unanswered and ends the wait.
        answer.matched = false;
        answer.awaiting = None;
        answer.acted = vec!["rephrase".into()];
        memory.update(&message(), &Outcome::Act(answer));
        assert_eq!((memory.unanswered, memory.awaiting.as_deref()), (1, None));
        assert!(memory.fired.contains("rephrase"));
    }

    fn job(shadow: Shadow, stats: &Arc<Stats>, live: Option<Said>) -> Job {
        Job {
            shadow: Arc::new(shadow),
            stats: stats.clone(),
            decisions: DecisionLog::default(),
            seen: Seen {
                id: ChatId::from("c-1"),
                message_id: Some("e-1".into()),
                recent: Vec::new(),
                customer: None,
                bot: "Ava".into(),
                user_data: UserData::new(),
                turn: 1,
                now: jiff::Timestamp::UNIX_EPOCH,
            },
            trigger: message(),
            message_id: Some("e-1".into()),
            live,
        }
    }

    #[tokio::test]
    async fn a_panicking_shadow_is_counted_and_leaves_its_memory_as_it_was() {
        let stats = Arc::new(Stats::default());
        let panics = Shadow::from_fn(|_, _| panic!("a bug in the shadow rules"));
        let before = Memory {
            unanswered: 3,
            ..Memory::default()
        };
        let after = job(panics, &stats, None).run(before.clone()).await;
        assert_eq!(after, before);
        assert_eq!(stats.snapshot().shadow_failures.get("panic"), Some(&1));
        assert!(stats.snapshot().shadow_disagreements.is_empty());
    }

    /// The evaluation blocks until the test releases it, after the budget: always too slow,
    /// whatever the machine's load. (Not with paused time: tokio does not advance it while a
    /// blocking task runs.)
    #[tokio::test]
    async fn a_hanging_shadow_is_dropped_after_its_budget() {
        let stats = Arc::new(Stats::default());
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let blocked = std::sync::Mutex::new(blocked);
        let hangs = Shadow::from_fn(move |_, _| {
            let _ = blocked.lock().unwrap().recv();
            Outcome::Pass
        })
        .with_budget(Duration::from_millis(20));
        let after = job(hangs, &stats, None).run(Memory::default()).await;
        release.send(()).unwrap();
        assert_eq!(after, Memory::default());
        assert_eq!(stats.snapshot().shadow_failures.get("slow"), Some(&1));
    }

    #[tokio::test]
    async fn a_disagreement_is_counted_under_the_shadow_rule() {
        let stats = Arc::new(Stats::default());
        let shadow = Shadow::from_fn(|_, _| act(&["hours-v2"], &["9 to 17"], Then::Stay));
        let live = Some(said(&["8 to 18"], &[], "stay"));
        let after = job(shadow, &stats, live).run(Memory::default()).await;
        assert!(after.fired.contains("hours-v2"));
        assert_eq!(
            stats.snapshot().shadow_disagreements.get("hours-v2"),
            Some(&1)
        );
        // A lane runs its jobs in order, each with the memory the one before left.
        let mut lane = Lane::default();
        let counting = || {
            Shadow::from_fn(|chat, _| {
                act(&[&format!("seen-{}", chat.fired.len())], &[], Then::Stay)
            })
        };
        lane.push(job(counting(), &stats, None));
        lane.push(job(counting(), &stats, None));
        lane.push(job(counting(), &stats, None));
        let memory = lane.tail.take().unwrap().await.unwrap();
        let mut fired: Vec<_> = memory.fired.into_iter().collect();
        fired.sort();
        assert_eq!(fired, ["seen-0", "seen-1", "seen-2"]);
    }
}
