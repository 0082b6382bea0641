//! The `rules` responder: rule files written by supervisors.
