//! The GWS REST client and the API dialects.

pub mod operation;

pub use operation::{Operation, SessionOperation};
