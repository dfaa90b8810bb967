//! Worst-case emitted sizes, so that the 4 KiB limit holds by construction.
//!
//! Strings of every limited field need no escapes except `error.message`,
//! so each bound below is exact arithmetic on the limits; the tests check
//! real maximal messages against them.

use super::schema::Kind;
use super::{
    MAX_ERROR_MESSAGE_LEN, MAX_HOST_LEN, MAX_ID_LEN, MAX_MESSAGE_LEN, MAX_TO_RELAY_LEN,
    MAX_TOKEN_LEN, MAX_USERS, SECRET_BASE64_LEN,
};

// Each member is `"name":value` plus one separator (the `{` or a `,`), and
// the object adds its closing `}`.
const U8_DIGITS: usize = 3;
const U16_DIGITS: usize = 5;
const U32_DIGITS: usize = 10;
const U64_DIGITS: usize = 20;
const BOOL_LEN: usize = 5;

const fn member(name: &str, value_len_max: usize) -> usize {
    name.len() + 3 + value_len_max + 1
}

const fn string(len_max: usize) -> usize {
    len_max + 2
}

const fn object(kind: Kind, members: &[usize]) -> usize {
    let mut len = member("type", string(kind.name().len())) + 1;
    let mut i = 0;
    while i < members.len() {
        len += members[i];
        i += 1;
    }
    len
}

const ID: usize = string(MAX_ID_LEN);
// `tone_id` and `alert_type` are labels (spaces allowed) of the same
// length limit; like identifiers they never need an escape.
const LABEL: usize = string(MAX_ID_LEN);
const KEY: usize = string(SECRET_BASE64_LEN);
// serde-json-core writes a control character as `\u00XX`: 6 bytes for 1.
const ESCAPED_MESSAGE: usize = string(6 * MAX_ERROR_MESSAGE_LEN);
const USERS: usize = 2 + MAX_USERS * ID + (MAX_USERS - 1);

pub(super) const HELLO_LEN_MAX: usize = object(
    Kind::Hello,
    &[
        member("node_id", ID),
        member("token", string(MAX_TOKEN_LEN)),
        member("version", U32_DIGITS),
    ],
);
pub(super) const REGISTER_LEN_MAX: usize = object(Kind::Register, &[member("channel_id", ID)]);
pub(super) const TRANSMIT_TO_RELAY_LEN_MAX: usize = object(
    Kind::Transmit,
    &[member("channel_id", ID), member("active", BOOL_LEN)],
);
pub(super) const TONE_DETECTED_TO_RELAY_LEN_MAX: usize = object(
    Kind::ToneDetected,
    &[
        member("channel_id", ID),
        member("tone_id", LABEL),
        member("alert_type", LABEL),
    ],
);
pub(super) const PING_LEN_MAX: usize = object(Kind::Ping, &[member("t", U64_DIGITS)]);
pub(super) const PONG_LEN_MAX: usize = object(Kind::Pong, &[member("t", U64_DIGITS)]);
pub(super) const WELCOME_LEN_MAX: usize = object(
    Kind::Welcome,
    &[
        member("udp_host", string(MAX_HOST_LEN)),
        member("udp_port", U16_DIGITS),
        member("key", KEY),
        member("key_id", U8_DIGITS),
        member("heartbeat_ms", U32_DIGITS),
    ],
);
pub(super) const REGISTERED_LEN_MAX: usize = object(
    Kind::Registered,
    &[member("channel_id", ID), member("stream_id", U32_DIGITS)],
);
pub(super) const TRANSMIT_TO_NODE_LEN_MAX: usize = object(
    Kind::Transmit,
    &[
        member("channel_id", ID),
        member("node_id", ID),
        member("active", BOOL_LEN),
    ],
);
pub(super) const TONE_DETECTED_TO_NODE_LEN_MAX: usize = object(
    Kind::ToneDetected,
    &[
        member("channel_id", ID),
        member("node_id", ID),
        member("tone_id", LABEL),
        member("alert_type", LABEL),
    ],
);
pub(super) const USERS_CONNECTED_LEN_MAX: usize = object(
    Kind::UsersConnected,
    &[member("channel_id", ID), member("users", USERS)],
);
pub(super) const REKEY_LEN_MAX: usize = object(
    Kind::Rekey,
    &[member("key", KEY), member("key_id", U8_DIGITS)],
);
pub(super) const ERROR_LEN_MAX: usize = object(
    Kind::Error,
    &[
        member("code", U16_DIGITS),
        member("message", ESCAPED_MESSAGE),
    ],
);

const _: () = {
    let all = [
        HELLO_LEN_MAX,
        REGISTER_LEN_MAX,
        TRANSMIT_TO_RELAY_LEN_MAX,
        TONE_DETECTED_TO_RELAY_LEN_MAX,
        PING_LEN_MAX,
        PONG_LEN_MAX,
        WELCOME_LEN_MAX,
        REGISTERED_LEN_MAX,
        TRANSMIT_TO_NODE_LEN_MAX,
        TONE_DETECTED_TO_NODE_LEN_MAX,
        USERS_CONNECTED_LEN_MAX,
        REKEY_LEN_MAX,
        ERROR_LEN_MAX,
    ];
    let mut i = 0;
    while i < all.len() {
        // Everything emit can write fits the limit parse enforces.
        assert!(all[i] <= MAX_MESSAGE_LEN);
        i += 1;
    }
    // What nodes send fits the relay's (smaller) limit for them.
    let to_relay = [
        HELLO_LEN_MAX,
        REGISTER_LEN_MAX,
        TRANSMIT_TO_RELAY_LEN_MAX,
        TONE_DETECTED_TO_RELAY_LEN_MAX,
        PING_LEN_MAX,
        PONG_LEN_MAX,
    ];
    let mut i = 0;
    while i < to_relay.len() {
        assert!(to_relay[i] <= MAX_TO_RELAY_LEN);
        i += 1;
    }
};
