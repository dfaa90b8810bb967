//! Why a signaling message was refused or not written.

use core::fmt;

use super::{MAX_MESSAGE_LEN, MAX_USERS, SECRET_LEN};

/// Why a signaling message was refused (parse) or not written (emit).
///
/// Callers count by [`reason`](Self::reason) and drop the message;
/// [`UnknownType`](Self::UnknownType) in particular is routine (DESIGN:
/// unknown types are ignored and counted, never fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignalError {
    /// The input is longer than [`MAX_MESSAGE_LEN`].
    TooLong,
    /// Not JSON: a syntax error, invalid UTF-8, trailing bytes, or nesting
    /// deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    Malformed,
    /// JSON, but not an object.
    NotAnObject,
    /// An object without a `"type"` member.
    MissingType,
    /// `"type"` names no message this side receives. Ignore and count.
    UnknownType,
    /// A member the message's type requires is absent.
    MissingField {
        /// The member's name.
        field: &'static str,
    },
    /// A member of the message's type appears more than once.
    DuplicateField {
        /// The member's name.
        field: &'static str,
    },
    /// A member holds the wrong JSON type (`null` included), or a number
    /// outside the field's range.
    WrongType {
        /// The member's name.
        field: &'static str,
    },
    /// A string longer than its limit.
    FieldTooLong {
        /// The member's name.
        field: &'static str,
    },
    /// A string that is empty, outside its charset, or escaped where
    /// escapes are not accepted (see the module docs).
    InvalidText {
        /// The member's name.
        field: &'static str,
    },
    /// A `key` that is not padded base64 of exactly [`SECRET_LEN`] bytes.
    BadKey,
    /// A `users` array longer than [`MAX_USERS`].
    TooManyUsers,
    /// Emit only: the output buffer is too small. A buffer of
    /// [`MAX_MESSAGE_LEN`] bytes never is.
    BufferTooSmall,
}

impl SignalError {
    /// A short, stable, snake_case name for counters and logs.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::TooLong => "too_long",
            Self::Malformed => "malformed",
            Self::NotAnObject => "not_an_object",
            Self::MissingType => "missing_type",
            Self::UnknownType => "unknown_type",
            Self::MissingField { .. } => "missing_field",
            Self::DuplicateField { .. } => "duplicate_field",
            Self::WrongType { .. } => "wrong_type",
            Self::FieldTooLong { .. } => "field_too_long",
            Self::InvalidText { .. } => "invalid_text",
            Self::BadKey => "bad_key",
            Self::TooManyUsers => "too_many_users",
            Self::BufferTooSmall => "buffer_too_small",
        }
    }

    /// The member at fault, when there is one.
    #[must_use]
    pub const fn field(&self) -> Option<&'static str> {
        match self {
            Self::MissingField { field }
            | Self::DuplicateField { field }
            | Self::WrongType { field }
            | Self::FieldTooLong { field }
            | Self::InvalidText { field } => Some(field),
            Self::BadKey => Some("key"),
            Self::TooManyUsers => Some("users"),
            Self::TooLong
            | Self::Malformed
            | Self::NotAnObject
            | Self::MissingType
            | Self::UnknownType
            | Self::BufferTooSmall => None,
        }
    }
}

impl fmt::Display for SignalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "signaling message longer than {MAX_MESSAGE_LEN} bytes"),
            Self::Malformed => f.write_str("signaling message is not valid JSON"),
            Self::NotAnObject => f.write_str("signaling message is not a JSON object"),
            Self::MissingType => f.write_str("signaling message has no \"type\""),
            Self::UnknownType => f.write_str("signaling message of an unknown type"),
            Self::MissingField { field } => write!(f, "signaling message lacks `{field}`"),
            Self::DuplicateField { field } => write!(f, "signaling message repeats `{field}`"),
            Self::WrongType { field } => write!(f, "`{field}` has the wrong type or range"),
            Self::FieldTooLong { field } => write!(f, "`{field}` is too long"),
            Self::InvalidText { field } => {
                write!(f, "`{field}` is empty, escaped or has forbidden characters")
            }
            Self::BadKey => write!(f, "`key` is not base64 of {SECRET_LEN} bytes"),
            Self::TooManyUsers => write!(f, "`users` lists more than {MAX_USERS} nodes"),
            Self::BufferTooSmall => f.write_str("buffer too small for the signaling message"),
        }
    }
}

impl core::error::Error for SignalError {}
