//! Integration tests: the real daemon against the real simulator over HTTP on 127.0.0.1.
//!
//! End-to-end tests run once per dialect: written as `async fn name(d: SimDialect)` and listed
//! in `per_dialect!(name, …)`, which makes `interactions::name` and `chats::name`. Tests about
//! one dialect's wire details stay single.

/// Instantiate each listed `async fn name(d: SimDialect)` as a test per dialect.
macro_rules! per_dialect {
    ($($name:ident),+ $(,)?) => {
        mod interactions {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(gws_botd::sim::SimDialect::Interactions).await
                }
            )+
        }
        mod chats {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(gws_botd::sim::SimDialect::Chats).await
                }
            )+
        }
    };
}

/// One test per dialect × participant form (`minimal`: type, nickname and an opaque
/// participantId; `named`: agents also carry the user they are).
macro_rules! per_reading {
    ($($name:ident),+ $(,)?) => {
        per_reading!(@in interactions_minimal, Interactions, Minimal, $($name),+);
        per_reading!(@in interactions_named, Interactions, Named, $($name),+);
        per_reading!(@in chats_minimal, Chats, Minimal, $($name),+);
        per_reading!(@in chats_named, Chats, Named, $($name),+);
    };
    (@in $module:ident, $dialect:ident, $form:ident, $($name:ident),+) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(
                        gws_botd::sim::SimDialect::$dialect,
                        gws_botd::sim::ParticipantForm::$form,
                    )
                    .await
                }
            )+
        }
    };
}

mod bad_input;
mod capture;
mod chaos;
mod chaos_found;
mod cli;
mod conversation;
mod escalation;
mod files;
mod fuzz_corpus;
mod handover;
mod hardening;
mod interop;
#[allow(dead_code)] // the benches use parts of the kit the tests do not
#[path = "../kit/mod.rs"]
mod kit;
mod layout;
mod lifecycle;
mod notify;
mod observability;
mod operations;
mod operator;
mod packaging;
mod readings;
mod recovery;
mod reports;
mod responders;
mod rules_await;
mod rules_check;
mod rules_live;
mod secrets;
mod shadow;
mod support;
mod tls;
mod webhook;
