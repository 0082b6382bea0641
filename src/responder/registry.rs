//! The list of built-in responders and their configuration.
