//! Validated field values: the strings and the key a signaling message may
//! carry.
//!
//! Each type checks its contract once, at construction (`new` for values
//! the caller builds, the parser for values that arrive), so a message made
//! of them always emits JSON that [`super::ToRelay::parse`] and
//! [`super::ToNode::parse`] accept. The borrowed types point into the
//! caller's input or the caller's own strings; nothing is copied.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Serialize, Serializer};

use super::{
    MAX_ERROR_MESSAGE_LEN, MAX_HOST_LEN, MAX_ID_LEN, MAX_TOKEN_LEN, SECRET_BASE64_LEN, SECRET_LEN,
    SignalError,
};

/// An identifier's charset: an ASCII letter or digit, then letters, digits,
/// `-`, `_` or `.`. Safe as an MQTT topic level (no `/`, `+`, `#`), a file
/// name (no leading `.`, so never `.` or `..`) and a command-line argument
/// (no leading `-`), and never needs a JSON escape.
fn check_id(text: &str, field: &'static str) -> Result<(), SignalError> {
    let bytes = text.as_bytes();
    if bytes.len() > MAX_ID_LEN {
        return Err(SignalError::FieldTooLong { field });
    }
    let Some((first, rest)) = bytes.split_first() else {
        return Err(SignalError::InvalidText { field });
    };
    let valid = first.is_ascii_alphanumeric()
        && rest
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(())
    } else {
        Err(SignalError::InvalidText { field })
    }
}

/// A label's charset: what a person names a page or an alert class, e.g.
/// `Station 12` or `fire page`. 1 to [`MAX_ID_LEN`] bytes of printable
/// ASCII starting with a letter or digit; spaces inside, but not at the
/// end; no `"`, `\`, `/` or control characters, so a label never needs a
/// JSON escape and never reads as a path.
fn check_label(text: &str, field: &'static str) -> Result<(), SignalError> {
    let bytes = text.as_bytes();
    if bytes.len() > MAX_ID_LEN {
        return Err(SignalError::FieldTooLong { field });
    }
    let Some((first, rest)) = bytes.split_first() else {
        return Err(SignalError::InvalidText { field });
    };
    let valid = first.is_ascii_alphanumeric()
        && !text.ends_with(' ')
        && rest
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'/'));
    if valid {
        Ok(())
    } else {
        Err(SignalError::InvalidText { field })
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        id_type!($(#[$doc])* $name, $field, check_id,
            "1 to [`MAX_ID_LEN`] bytes: an ASCII letter or digit, then letters, digits, `-`, `_` or `.`.");
    };
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:ident, $rule:literal) => {
        $(#[$doc])*
        ///
        #[doc = $rule]
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name<'a>(&'a str);

        impl<'a> $name<'a> {
            /// Checks `text` against the type's rules.
            ///
            /// # Errors
            ///
            #[doc = concat!("[`SignalError::FieldTooLong`] or [`SignalError::InvalidText`] naming `", $field, "`.")]
            pub fn new(text: &'a str) -> Result<Self, SignalError> {
                Self::checked(text, $field)
            }

            /// Like `new`, with errors naming `field` (e.g. `users`).
            pub(super) fn checked(text: &'a str, field: &'static str) -> Result<Self, SignalError> {
                $check(text, field).map(|()| Self(text))
            }

            /// The identifier.
            #[must_use]
            pub const fn as_str(&self) -> &'a str {
                self.0
            }
        }

        impl fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }

        impl fmt::Display for $name<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0)
            }
        }

        impl Serialize for $name<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.0)
            }
        }
    };
}

id_type!(
    /// Names an edge node (`hello.node_id`, `transmit.node_id`, the entries of
    /// `users_connected.users`).
    NodeId,
    "node_id"
);
id_type!(
    /// Names a radio channel shared through the relay (`channel_id`).
    ChannelId,
    "channel_id"
);
id_type!(
    /// Names a tone definition from the node's config (`tone_detected.tone_id`).
    ToneId,
    "tone_id",
    check_label,
    "1 to [`MAX_ID_LEN`] bytes of printable ASCII, a letter or digit first, spaces inside; no `\"`, `\\`, `/`."
);
id_type!(
    /// The alert class of a tone definition (`tone_detected.alert_type`), e.g.
    /// `fire` or `ems`.
    AlertType,
    "alert_type",
    check_label,
    "1 to [`MAX_ID_LEN`] bytes of printable ASCII, a letter or digit first, spaces inside; no `\"`, `\\`, `/`."
);

/// The bearer token a node presents in `hello`.
///
/// 1 to [`MAX_TOKEN_LEN`] bytes of RFC 6750 §2.1 `b64token`:
/// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, so it fits
/// an HTTP header unchanged and never needs a JSON escape. `Debug` does not
/// print it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Token<'a>(&'a str);

impl<'a> Token<'a> {
    /// Checks `text` against the `b64token` grammar and length limit.
    ///
    /// # Errors
    ///
    /// [`SignalError::FieldTooLong`] or [`SignalError::InvalidText`] naming
    /// `token`.
    pub fn new(text: &'a str) -> Result<Self, SignalError> {
        const FIELD: &str = "token";
        if text.len() > MAX_TOKEN_LEN {
            return Err(SignalError::FieldTooLong { field: FIELD });
        }
        let body = text.trim_end_matches('=');
        let valid = !body.is_empty()
            && body.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
            });
        if valid {
            Ok(Self(text))
        } else {
            Err(SignalError::InvalidText { field: FIELD })
        }
    }

    /// The token. Handle with care: it authenticates the node.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Token(<{} bytes>)", self.0.len())
    }
}

impl Serialize for Token<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// The relay's UDP host in `welcome`: a DNS name or an IP literal.
///
/// 1 to [`MAX_HOST_LEN`] bytes (RFC 1035 §2.3.4's longest name in text
/// form) of ASCII letters, digits, `.`, `-`, `_`, `:` (IPv6), `%` (IPv6 zone)
/// and `[` `]` (bracketed IPv6). Whether it resolves is the caller's concern.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Host<'a>(&'a str);

impl<'a> Host<'a> {
    /// Checks `text` against the host charset and length limit.
    ///
    /// # Errors
    ///
    /// [`SignalError::FieldTooLong`] or [`SignalError::InvalidText`] naming
    /// `udp_host`.
    pub fn new(text: &'a str) -> Result<Self, SignalError> {
        const FIELD: &str = "udp_host";
        if text.len() > MAX_HOST_LEN {
            return Err(SignalError::FieldTooLong { field: FIELD });
        }
        let valid = !text.is_empty()
            && text.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'-' | b'_' | b':' | b'%' | b'[' | b']')
            });
        if valid {
            Ok(Self(text))
        } else {
            Err(SignalError::InvalidText { field: FIELD })
        }
    }

    /// The host.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Debug for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Host({:?})", self.0)
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for Host<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// The free text of an `error` message, unescaped: any UTF-8 up to
/// [`MAX_ERROR_MESSAGE_LEN`] bytes. Owned, because JSON escapes (quotes,
/// newlines) are expected in free text and an unescaped copy cannot borrow
/// from the input.
pub type ErrorMessage = heapless::String<MAX_ERROR_MESSAGE_LEN>;

/// The 32-byte secret of `welcome.key` and `rekey.key`, as signaling
/// carries it; hand it to the key schedule with
/// `crypto::Secret::from_bytes(key.into_bytes())`.
///
/// On the wire it is standard base64 with padding (RFC 4648 §4), exactly
/// [`SECRET_BASE64_LEN`] characters. `Debug` does not print it; `==` is not
/// constant-time (it exists for tests, not for authentication).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes([u8; SECRET_LEN]);

impl SecretBytes {
    /// Wraps raw secret bytes.
    #[must_use]
    pub const fn new(bytes: [u8; SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw secret bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// The raw secret bytes, by value.
    #[must_use]
    pub const fn into_bytes(self) -> [u8; SECRET_LEN] {
        self.0
    }

    /// Decodes the wire form: canonical padded standard base64 of exactly
    /// [`SECRET_LEN`] bytes.
    ///
    /// # Errors
    ///
    /// [`SignalError::BadKey`] for any other text.
    pub fn from_base64(text: &str) -> Result<Self, SignalError> {
        if text.len() != SECRET_BASE64_LEN {
            return Err(SignalError::BadKey);
        }
        // One spare byte: a text that decodes to more than SECRET_LEN bytes
        // shows up as a wrong length instead of a short-buffer error.
        let mut bytes = [0u8; SECRET_LEN + 1];
        match STANDARD.decode_slice(text, &mut bytes) {
            Ok(SECRET_LEN) => {
                let mut secret = [0u8; SECRET_LEN];
                secret.copy_from_slice(&bytes[..SECRET_LEN]);
                Ok(Self(secret))
            }
            _ => Err(SignalError::BadKey),
        }
    }

    /// Encodes the wire form into `out` and returns it as text.
    pub fn to_base64<'o>(&self, out: &'o mut [u8; SECRET_BASE64_LEN]) -> &'o str {
        let len = STANDARD
            .encode_slice(self.0, out)
            .expect("SECRET_BASE64_LEN is the padded base64 length of SECRET_LEN");
        debug_assert_eq!(len, SECRET_BASE64_LEN);
        core::str::from_utf8(out).expect("base64 output is ASCII")
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(..)")
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = [0u8; SECRET_BASE64_LEN];
        serializer.serialize_str(self.to_base64(&mut out))
    }
}
