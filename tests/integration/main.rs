//! Integration tests: the real daemon against the real simulator over HTTP on 127.0.0.1.

mod bad_input;
mod chaos;
mod conversation;
mod escalation;
mod lifecycle;
mod operations;
mod recovery;
mod responders;
mod support;
