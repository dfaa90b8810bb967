//! Signaling v1: the JSON messages on the node ↔ relay WebSocket.
//!
//! DESIGN.md "Signaling v1" is the spec. Every message is one JSON object
//! in one text frame, at most [`MAX_MESSAGE_LEN`] bytes, with a `"type"`
//! member naming it. [`ToRelay`] holds what nodes send, [`ToNode`] what the
//! relay sends; each has one `parse` entry point for untrusted bytes and an
//! `emit` into a caller's buffer. Nothing here allocates: strings are
//! borrowed from the input, limits are consts, and a buffer of
//! [`MAX_MESSAGE_LEN`] bytes always holds any emitted message.
//!
//! # What parse accepts
//!
//! - Members may come in any order, with any JSON whitespace.
//! - **Unknown types** give [`SignalError::UnknownType`], which callers
//!   ignore and count (DESIGN: never fatal). A type only the *other* side
//!   receives (say `welcome` handed to [`ToRelay::parse`]) is unknown here
//!   too.
//! - **Extra members are tolerated** and skipped unjudged, whatever their
//!   names or values, so a newer peer can add members without breaking an
//!   older one (the protocol is versioned by `hello.version`, not by
//!   refusing what it does not know). Skipped values must still be JSON and
//!   nest at most [`MAX_DEPTH`] deep.
//! - **A member of the message's own type** must appear exactly once (a
//!   second copy is [`SignalError::DuplicateField`]: JSON parsers disagree
//!   on which copy wins) and hold the right JSON type; numbers are
//!   non-negative integers in the field's range; `null` is a wrong type,
//!   not an absence.
//! - **Escapes.** Identifiers ([`NodeId`], [`ChannelId`], [`ToneId`],
//!   [`AlertType`]), [`Token`] and [`Host`] are borrowed from the input, and
//!   their charsets contain nothing JSON must escape; an escape inside one is
//!   refused as [`SignalError::InvalidText`] even if it would unescape to
//!   allowed characters (`"\u0041"`, `"a\/b"`). The free-text
//!   `error.message` is unescaped into an owned [`ErrorMessage`]. `"type"`,
//!   member names and `key` are unescaped before use, so `"typ\u0065"` and a
//!   key written with `\/` are fine.
//!   serde-json-core does not join UTF-16 surrogate pairs (`"\ud83d\ude00"`),
//!   so a message holding one anywhere is [`SignalError::Malformed`]; send
//!   non-ASCII text unescaped, as `emit` does.
//! - `key` is canonical padded standard base64 (RFC 4648 §4) of exactly
//!   [`SECRET_LEN`] bytes, exposed decoded as [`SecretBytes`].
//!
//! # What emit writes
//!
//! Compact JSON, `"type"` first, then the members in the order of the table
//! in DESIGN.md; serde-json-core escapes strings. Whatever `emit` writes,
//! `parse` reads back to an equal value, and it is never longer than
//! [`MAX_MESSAGE_LEN`] (checked at compile time from the limits below).

mod de;
mod error;
mod message;
mod schema;
mod size;
mod value;

#[cfg(test)]
mod tests;

pub use self::error::SignalError;
pub use self::message::{ToNode, ToRelay};
pub use self::value::{
    AlertType, ChannelId, ErrorMessage, Host, NodeId, SecretBytes, Token, ToneId,
};

/// The longest message either side parses or emits, in bytes: 8 KiB, so
/// that a `users_connected` listing [`MAX_USERS`] ids of the longest
/// length fits. Every message a node sends is far shorter (at most
/// [`MAX_TO_RELAY_LEN`]).
pub const MAX_MESSAGE_LEN: usize = 8192;

/// The longest message a node sends, in bytes (DESIGN: "4 KiB per
/// message"); checked at compile time for every [`ToRelay`] message. The
/// relay closes a connection that sends a longer frame.
pub const MAX_TO_RELAY_LEN: usize = 4096;

/// The longest identifier (`node_id`, `channel_id`, `tone_id`,
/// `alert_type`, each entry of `users`), in bytes.
pub const MAX_ID_LEN: usize = 48;

/// The most node ids in one `users_connected` message, and so the most
/// members of one channel: 128 (a county dispatch channel with every
/// station's node on it).
pub const MAX_USERS: usize = 128;

/// The longest `hello.token`, in bytes.
pub const MAX_TOKEN_LEN: usize = 1024;

/// The longest `welcome.udp_host`, in bytes (RFC 1035 §2.3.4: 253
/// characters of text for the longest domain name).
pub const MAX_HOST_LEN: usize = 253;

/// The longest `error.message`, in bytes once unescaped.
pub const MAX_ERROR_MESSAGE_LEN: usize = 256;

/// How deep skipped values may nest, counting the message object as 1.
pub const MAX_DEPTH: usize = 16;

/// The protocol version this module speaks, for `hello.version`.
pub const PROTOCOL_VERSION: u32 = 1;

/// Length of the relay-issued secret in `welcome` and `rekey`, in bytes.
pub const SECRET_LEN: usize = 32;

/// Length of [`SECRET_LEN`] bytes in padded base64, in characters.
pub const SECRET_BASE64_LEN: usize = SECRET_LEN.div_ceil(3) * 4;

/// The node ids of a `users_connected` message.
pub type Users<'a> = heapless::Vec<NodeId<'a>, MAX_USERS>;

const _: () = {
    // The key schedule takes what signaling carries.
    assert!(SECRET_LEN == crate::crypto::SECRET_LEN);
    // RFC 4648 §4: 4 characters per 3 bytes, padded.
    assert!(SECRET_BASE64_LEN == 44);
    // An identifier has at least one character; skipping a member's value
    // needs at least the object's level and the value's own.
    assert!(MAX_ID_LEN >= 1 && MAX_USERS >= 1 && MAX_DEPTH >= 2);
    // Every limited string fits in one message (the parser unescapes into
    // a MAX_MESSAGE_LEN buffer); the exact per-message bounds are in `size`.
    assert!(MAX_TOKEN_LEN < MAX_MESSAGE_LEN && MAX_HOST_LEN < MAX_MESSAGE_LEN);
    assert!(MAX_ERROR_MESSAGE_LEN < MAX_MESSAGE_LEN);
};
