//! GWS's vocabulary by name instead of magic numbers and strings: the `statusCode` of a reply
//! (`docs/gws-protocol.md` §9) and the capabilities a chat lists (§6: decide by capabilities,
//! not by state names).

use std::fmt;

/// The capabilities are domain vocabulary (events carry them); named here too for callers
/// of the GWS layer.
pub use crate::event::Capability;

/// A GWS `statusCode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    MissingParameter,
    /// Parameter not valid for the current state (e.g. an operation on an invitation, or
    /// completing a consultation nobody has joined yet).
    InvalidState,
    Forbidden,
    InternalError,
    NoPermission,
    NotFound,
    PartialSuccess,
    PasswordChange,
    Incomplete,
    OutOfRange,
    ReadOnly,
    CannotRetrieve,
    CannotCreate,
    CannotDelete,
    CannotUpdate,
    CannotAssign,
    CannotUnassign,
    AlreadyExists,
    InUse,
    NotAuthenticated,
    /// An error reported without a usable code (`{"status":"error"}`).
    Uncoded,
    /// A code this build does not know.
    Unknown(i64),
}

/// Every named status with its wire code and meaning, in code order.
const TABLE: [(Status, i64, &str); 22] = [
    (Status::Success, 0, "success"),
    (Status::MissingParameter, 1, "required parameter missing"),
    (
        Status::InvalidState,
        2,
        "parameter not valid for the current state",
    ),
    (Status::Forbidden, 3, "operation forbidden"),
    (Status::InternalError, 4, "internal error"),
    (Status::NoPermission, 5, "no permission"),
    (Status::NotFound, 6, "resource not found"),
    (Status::PartialSuccess, 7, "partial success"),
    (Status::PasswordChange, 8, "password change demanded"),
    (Status::Incomplete, 9, "processing incomplete"),
    (Status::OutOfRange, 10, "value out of range"),
    (Status::ReadOnly, 11, "read-only property"),
    (Status::CannotRetrieve, 12, "unable to retrieve resource"),
    (Status::CannotCreate, 13, "unable to create resource"),
    (Status::CannotDelete, 14, "unable to delete resource"),
    (Status::CannotUpdate, 15, "unable to update resource"),
    (Status::CannotAssign, 16, "unable to assign"),
    (Status::CannotUnassign, 17, "unable to unassign"),
    (Status::AlreadyExists, 18, "already exists"),
    (Status::InUse, 19, "already in use"),
    (Status::NotAuthenticated, 20, "not authenticated"),
    (Status::Uncoded, -1, "error reported without a code"),
];

impl Status {
    /// The status a wire code stands for.
    pub fn from_code(code: i64) -> Status {
        TABLE
            .iter()
            .find(|(_, c, _)| *c == code)
            .map_or(Status::Unknown(code), |(s, _, _)| *s)
    }

    /// The wire code.
    pub fn code(self) -> i64 {
        match self {
            Status::Unknown(code) => code,
            named => TABLE
                .iter()
                .find(|(s, _, _)| *s == named)
                .map_or(-1, |(_, c, _)| *c),
        }
    }

    /// What it means, in the words of the GWS documentation.
    pub fn meaning(self) -> &'static str {
        TABLE
            .iter()
            .find(|(s, _, _)| *s == self)
            .map_or("unknown status code", |(_, _, m)| m)
    }

    /// Worth one more try: an internal error or processing that did not complete.
    pub fn is_transient(self) -> bool {
        matches!(self, Status::InternalError | Status::Incomplete)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "statusCode {} ({})", self.code(), self.meaning())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_have_meanings() {
        for code in -1..=20 {
            let status = Status::from_code(code);
            assert_ne!(status, Status::Unknown(code), "code {code}");
            assert_eq!(status.code(), code);
            assert_ne!(status.meaning(), "unknown status code", "code {code}");
        }
        assert_eq!(Status::from_code(21), Status::Unknown(21));
        assert_eq!(Status::Unknown(21).code(), 21);
        assert_eq!(Status::Unknown(21).meaning(), "unknown status code");
        assert_eq!(
            Status::InvalidState.to_string(),
            "statusCode 2 (parameter not valid for the current state)"
        );
        assert!(Status::from_code(4).is_transient() && Status::from_code(9).is_transient());
        assert!(!Status::NotFound.is_transient());
    }
}
