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

mod bad_input;
mod capture;
mod chaos;
mod cli;
mod conversation;
mod escalation;
mod fuzz_corpus;
mod hardening;
mod interop;
mod lifecycle;
mod notify;
mod observability;
mod operations;
mod packaging;
mod recovery;
mod responders;
mod rules_live;
mod secrets;
mod support;
mod tls;
