//! Integration tests: the real daemon against the real simulator over HTTP on 127.0.0.1.

mod bad_input;
mod capture;
mod chaos;
mod cli;
mod conversation;
mod escalation;
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
