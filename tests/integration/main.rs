//! Integration tests: the real daemon against the real simulator over HTTP on 127.0.0.1.

mod bad_input;
mod capture;
mod conversation;
mod escalation;
mod lifecycle;
mod observability;
mod operations;
mod responders;
mod secrets;
mod support;
mod tls;
