//! Tests for signaling v1: fixtures, refusals, limits, round trips and
//! never-panic properties. A failing proptest prints the bytes or values
//! that reproduce it.

extern crate alloc;
extern crate std;

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use proptest::prelude::*;

use super::*;
use crate::wire::{KeyId, StreamId};

// ---------------------------------------------------------------------------
// Helpers

fn node(text: &str) -> NodeId<'_> {
    NodeId::new(text).expect("valid node id in test")
}

fn chan(text: &str) -> ChannelId<'_> {
    ChannelId::new(text).expect("valid channel id in test")
}

fn secret(seed: u8) -> SecretBytes {
    let mut bytes = [0u8; SECRET_LEN];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = seed.wrapping_add(i as u8).wrapping_mul(37);
    }
    SecretBytes::new(bytes)
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let mut out = [0u8; 64];
    let len = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out)
        .expect("test key fits");
    String::from(core::str::from_utf8(&out[..len]).expect("ascii"))
}

fn message(text: &str) -> ErrorMessage {
    ErrorMessage::try_from(text).expect("test message fits")
}

fn emit_to_relay(msg: &ToRelay<'_>) -> Vec<u8> {
    let mut buffer = [0u8; MAX_MESSAGE_LEN];
    let len = msg
        .emit(&mut buffer)
        .expect("MAX_MESSAGE_LEN always suffices");
    assert!(len <= msg.emitted_len_max(), "{len} > bound for {msg:?}");
    buffer[..len].to_vec()
}

fn emit_to_node(msg: &ToNode<'_>) -> Vec<u8> {
    let mut buffer = [0u8; MAX_MESSAGE_LEN];
    let len = msg
        .emit(&mut buffer)
        .expect("MAX_MESSAGE_LEN always suffices");
    assert!(len <= msg.emitted_len_max(), "{len} > bound for {msg:?}");
    buffer[..len].to_vec()
}

fn relay_err(input: &str) -> SignalError {
    ToRelay::parse(input.as_bytes()).expect_err(input)
}

fn node_err(input: &str) -> SignalError {
    ToNode::parse(input.as_bytes()).expect_err(input)
}

/// One message of every type each side receives.
fn every_to_relay() -> [ToRelay<'static>; 6] {
    [
        ToRelay::Hello {
            node_id: node("station-12"),
            token: Token::new("c2VjcmV0LXRva2Vu.abc_~+/=").expect("valid token"),
            version: PROTOCOL_VERSION,
        },
        ToRelay::Register {
            channel_id: chan("county-fire"),
        },
        ToRelay::Transmit {
            channel_id: chan("county-fire"),
            active: true,
        },
        ToRelay::ToneDetected {
            channel_id: chan("county-fire"),
            tone_id: ToneId::new("station_7").expect("valid tone id"),
            alert_type: AlertType::new("fire").expect("valid alert type"),
        },
        ToRelay::Ping { t: 1_234_567 },
        ToRelay::Pong { t: u64::MAX },
    ]
}

fn every_to_node() -> [ToNode<'static>; 9] {
    [
        ToNode::Welcome {
            udp_host: Host::new("relay.example.org").expect("valid host"),
            udp_port: 40_000,
            key: secret(1),
            key_id: KeyId(3),
            heartbeat_ms: 5_000,
        },
        ToNode::Registered {
            channel_id: chan("county-fire"),
            stream_id: StreamId(0xDEAD_BEEF),
        },
        ToNode::Transmit {
            channel_id: chan("county-fire"),
            node_id: node("station-3"),
            active: false,
        },
        ToNode::ToneDetected {
            channel_id: chan("county-fire"),
            node_id: node("station-3"),
            tone_id: ToneId::new("Station 7").expect("valid tone id"),
            alert_type: AlertType::new("fire").expect("valid alert type"),
        },
        ToNode::UsersConnected {
            channel_id: chan("county-fire"),
            users: Users::from_slice(&[node("station-3"), node("station-12")]).expect("fits"),
        },
        ToNode::Rekey {
            key: secret(2),
            key_id: KeyId(4),
        },
        ToNode::Error {
            code: 401,
            message: message("bad \"token\"\n\tretry later \\ ☎ \u{1}"),
        },
        ToNode::Ping { t: 0 },
        ToNode::Pong { t: 42 },
    ]
}

// ---------------------------------------------------------------------------
// Round trips and the emitted form

#[test]
fn every_to_relay_type_round_trips() {
    for msg in every_to_relay() {
        let bytes = emit_to_relay(&msg);
        assert_eq!(ToRelay::parse(&bytes), Ok(msg));
    }
}

#[test]
fn every_to_node_type_round_trips() {
    for msg in every_to_node() {
        let bytes = emit_to_node(&msg);
        assert_eq!(ToNode::parse(&bytes), Ok(msg));
    }
}

#[test]
fn emit_puts_type_first() {
    for msg in every_to_relay() {
        let bytes = emit_to_relay(&msg);
        let prefix = format!("{{\"type\":\"{}\",", msg.type_name());
        assert!(bytes.starts_with(prefix.as_bytes()), "{msg:?}");
    }
    for msg in every_to_node() {
        let bytes = emit_to_node(&msg);
        let prefix = format!("{{\"type\":\"{}\",", msg.type_name());
        assert!(bytes.starts_with(prefix.as_bytes()), "{msg:?}");
    }
}

#[test]
fn emitted_json_matches_fixtures() {
    let hello = ToRelay::Hello {
        node_id: node("station-12"),
        token: Token::new("tok").expect("valid token"),
        version: 1,
    };
    assert_eq!(
        emit_to_relay(&hello),
        br#"{"type":"hello","node_id":"station-12","token":"tok","version":1}"#
    );
    let welcome = ToNode::Welcome {
        udp_host: Host::new("10.0.0.1").expect("valid host"),
        udp_port: 5004,
        key: SecretBytes::new([0; SECRET_LEN]),
        key_id: KeyId(1),
        heartbeat_ms: 5000,
    };
    assert_eq!(
        emit_to_node(&welcome),
        br#"{"type":"welcome","udp_host":"10.0.0.1","udp_port":5004,"key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","key_id":1,"heartbeat_ms":5000}"#
    );
    let users = ToNode::UsersConnected {
        channel_id: chan("ch1"),
        users: Users::from_slice(&[node("a"), node("b")]).expect("fits"),
    };
    assert_eq!(
        emit_to_node(&users),
        br#"{"type":"users_connected","channel_id":"ch1","users":["a","b"]}"#
    );
    let alert = ToNode::ToneDetected {
        channel_id: chan("pages"),
        node_id: node("station-b"),
        tone_id: ToneId::new("Station 1").expect("valid tone id"),
        alert_type: AlertType::new("fire").expect("valid alert type"),
    };
    assert_eq!(
        emit_to_node(&alert),
        br#"{"type":"tone_detected","channel_id":"pages","node_id":"station-b","tone_id":"Station 1","alert_type":"fire"}"#
    );
    let error = ToNode::Error {
        code: 400,
        message: message("say \"hi\"\n"),
    };
    assert_eq!(
        emit_to_node(&error),
        br#"{"type":"error","code":400,"message":"say \"hi\"\n"}"#
    );
}

#[test]
fn emit_reports_a_short_buffer() {
    let msg = ToRelay::Register {
        channel_id: chan("ch1"),
    };
    let exact = emit_to_relay(&msg).len();
    let mut buffer = [0u8; 64];
    assert_eq!(
        msg.emit(&mut buffer[..exact - 1]),
        Err(SignalError::BufferTooSmall)
    );
    assert_eq!(msg.emit(&mut buffer[..exact]), Ok(exact));
    assert_eq!(msg.emit(&mut []), Err(SignalError::BufferTooSmall));
}

#[test]
fn largest_messages_fit_the_limit_and_round_trip() {
    let id = "i".repeat(MAX_ID_LEN);
    let ids: Vec<String> = (0..MAX_USERS)
        .map(|i| format!("{i:0width$}", width = MAX_ID_LEN))
        .collect();
    let token = "t".repeat(MAX_TOKEN_LEN);
    let host = "h".repeat(MAX_HOST_LEN);
    // Control characters take the most room escaped (`\u0001`).
    let text = "\u{1}".repeat(MAX_ERROR_MESSAGE_LEN);

    let relay = [
        ToRelay::Hello {
            node_id: node(&id),
            token: Token::new(&token).expect("longest token"),
            version: u32::MAX,
        },
        ToRelay::ToneDetected {
            channel_id: chan(&id),
            tone_id: ToneId::new(&id).expect("longest id"),
            alert_type: AlertType::new(&id).expect("longest id"),
        },
        ToRelay::Ping { t: u64::MAX },
    ];
    for msg in relay {
        let bytes = emit_to_relay(&msg);
        assert!(bytes.len() <= MAX_MESSAGE_LEN);
        assert_eq!(ToRelay::parse(&bytes), Ok(msg));
    }

    let mut users = Users::new();
    for id in &ids {
        users.push(node(id)).expect("MAX_USERS fit");
    }
    let to_node = [
        ToNode::UsersConnected {
            channel_id: chan(&id),
            users,
        },
        ToNode::ToneDetected {
            channel_id: chan(&id),
            node_id: node(&id),
            tone_id: ToneId::new(&id).expect("longest id"),
            alert_type: AlertType::new(&id).expect("longest id"),
        },
        ToNode::Welcome {
            udp_host: Host::new(&host).expect("longest host"),
            udp_port: u16::MAX,
            key: secret(9),
            key_id: KeyId(u8::MAX),
            heartbeat_ms: u32::MAX,
        },
        ToNode::Error {
            code: u16::MAX,
            message: message(&text),
        },
    ];
    for msg in to_node {
        let bytes = emit_to_node(&msg);
        assert!(bytes.len() <= MAX_MESSAGE_LEN);
        assert_eq!(ToNode::parse(&bytes), Ok(msg));
    }
}

// ---------------------------------------------------------------------------
// Fixtures: hand-written text, members reordered, whitespace everywhere

#[test]
fn to_relay_fixtures_parse() {
    let hello = br#"
        {
          "version": 1,
          "token" : "s3cr3t-Token",
          "node_id": "station-12",
          "type": "hello"
        }
    "#;
    assert_eq!(
        ToRelay::parse(hello),
        Ok(ToRelay::Hello {
            node_id: node("station-12"),
            token: Token::new("s3cr3t-Token").expect("valid token"),
            version: 1,
        })
    );
    assert_eq!(
        ToRelay::parse(b"{\"channel_id\":\"ch-1\",\r\n\t\"type\":\"register\"}"),
        Ok(ToRelay::Register {
            channel_id: chan("ch-1"),
        })
    );
    assert_eq!(
        ToRelay::parse(br#"{ "active" : false , "channel_id" : "ch-1" , "type" : "transmit" }"#),
        Ok(ToRelay::Transmit {
            channel_id: chan("ch-1"),
            active: false,
        })
    );
    assert_eq!(
        ToRelay::parse(
            br#"{"alert_type":"ems","tone_id":"qc2.station.4","type":"tone_detected","channel_id":"dispatch"}"#
        ),
        Ok(ToRelay::ToneDetected {
            channel_id: chan("dispatch"),
            tone_id: ToneId::new("qc2.station.4").expect("valid tone id"),
            alert_type: AlertType::new("ems").expect("valid alert type"),
        })
    );
    assert_eq!(
        ToRelay::parse(br#"{"t":18446744073709551615,"type":"ping"}"#),
        Ok(ToRelay::Ping { t: u64::MAX })
    );
    assert_eq!(
        ToRelay::parse(br#"  {"t": 0, "type": "pong"}  "#),
        Ok(ToRelay::Pong { t: 0 })
    );
}

#[test]
fn to_node_fixtures_parse() {
    let key = base64_of(secret(5).as_bytes());
    let welcome = format!(
        r#"{{
            "heartbeat_ms": 5000,
            "key_id": 7,
            "key": "{key}",
            "udp_port": 40000,
            "udp_host": "::1",
            "type": "welcome"
        }}"#
    );
    assert_eq!(
        ToNode::parse(welcome.as_bytes()),
        Ok(ToNode::Welcome {
            udp_host: Host::new("::1").expect("valid host"),
            udp_port: 40000,
            key: secret(5),
            key_id: KeyId(7),
            heartbeat_ms: 5000,
        })
    );
    assert_eq!(
        ToNode::parse(br#"{"stream_id": 4294967295, "channel_id": "ch-1", "type": "registered"}"#),
        Ok(ToNode::Registered {
            channel_id: chan("ch-1"),
            stream_id: StreamId(u32::MAX),
        })
    );
    assert_eq!(
        ToNode::parse(
            br#"{"active":true,"node_id":"station-3","channel_id":"ch-1","type":"transmit"}"#
        ),
        Ok(ToNode::Transmit {
            channel_id: chan("ch-1"),
            node_id: node("station-3"),
            active: true,
        })
    );
    assert_eq!(
        ToNode::parse(
            br#"{ "alert_type" : "ems page", "node_id": "station-3", "tone_id": "qc2 4",
                 "channel_id": "dispatch", "type": "tone_detected" }"#
        ),
        Ok(ToNode::ToneDetected {
            channel_id: chan("dispatch"),
            node_id: node("station-3"),
            tone_id: ToneId::new("qc2 4").expect("valid tone id"),
            alert_type: AlertType::new("ems page").expect("valid alert type"),
        })
    );
    assert_eq!(
        ToNode::parse(
            br#"{"users": [ "a" , "b.c" ,"d_e" ], "type": "users_connected", "channel_id": "x"}"#
        ),
        Ok(ToNode::UsersConnected {
            channel_id: chan("x"),
            users: Users::from_slice(&[node("a"), node("b.c"), node("d_e")]).expect("fits"),
        })
    );
    assert_eq!(
        ToNode::parse(br#"{"users":[],"type":"users_connected","channel_id":"x"}"#),
        Ok(ToNode::UsersConnected {
            channel_id: chan("x"),
            users: Users::new(),
        })
    );
    let rekey = format!(r#"{{"key_id":0,"key":"{key}","type":"rekey"}}"#);
    assert_eq!(
        ToNode::parse(rekey.as_bytes()),
        Ok(ToNode::Rekey {
            key: secret(5),
            key_id: KeyId(0),
        })
    );
    assert_eq!(
        ToNode::parse(
            br#"{"message":"token \"x\" unknown\nbye \u263A \/","code":401,"type":"error"}"#
        ),
        Ok(ToNode::Error {
            code: 401,
            message: message("token \"x\" unknown\nbye ☺ /"),
        })
    );
    assert_eq!(
        ToNode::parse(br#"{"t":99,"type":"ping"}"#),
        Ok(ToNode::Ping { t: 99 })
    );
    assert_eq!(
        ToNode::parse(br#"{"t":99,"type":"pong"}"#),
        Ok(ToNode::Pong { t: 99 })
    );
}

#[test]
fn extra_members_are_tolerated() {
    // Unknown names, names other messages use (with values those messages
    // would refuse), nested values, all skipped.
    let input = br#"{
        "type": "ping",
        "t": 5,
        "future": {"nested": [1, 2.5e3, -7, true, null, "s\n", {"k": []}]},
        "channel_id": 17,
        "users": "not a list",
        "key": "not base64"
    }"#;
    assert_eq!(ToRelay::parse(input), Ok(ToRelay::Ping { t: 5 }));
    assert_eq!(ToNode::parse(input), Ok(ToNode::Ping { t: 5 }));
    // The relay's `transmit` carries node_id; a node's need not, and the
    // relay ignores one if sent.
    assert_eq!(
        ToRelay::parse(br#"{"type":"transmit","channel_id":"c","active":true,"node_id":"?"}"#),
        Ok(ToRelay::Transmit {
            channel_id: chan("c"),
            active: true,
        })
    );
}

#[test]
fn escaped_names_type_and_key_are_unescaped() {
    assert_eq!(
        ToRelay::parse(br#"{"typ\u0065":"p\u0069ng","\u0074":3}"#),
        Ok(ToRelay::Ping { t: 3 })
    );
    // `\/` is a legal spelling of `/`, which base64 uses.
    let bytes = [0xFF_u8; SECRET_LEN];
    let key = base64_of(&bytes);
    assert!(key.contains('/'));
    let escaped = key.replace('/', "\\/");
    let input = format!(r#"{{"type":"rekey","key":"{escaped}","key_id":1}}"#);
    assert_eq!(
        ToNode::parse(input.as_bytes()),
        Ok(ToNode::Rekey {
            key: SecretBytes::new(bytes),
            key_id: KeyId(1),
        })
    );
}

#[test]
fn surrogate_pair_escapes_are_malformed() {
    // A serde-json-core limitation, documented in the module docs: the
    // same text unescaped is fine.
    assert_eq!(
        node_err(r#"{"type":"error","code":1,"message":"\ud83d\ude00"}"#),
        SignalError::Malformed
    );
    assert_eq!(
        ToNode::parse(r#"{"type":"error","code":1,"message":"😀"}"#.as_bytes()),
        Ok(ToNode::Error {
            code: 1,
            message: message("😀"),
        })
    );
}

#[test]
fn escaped_identifiers_are_refused() {
    assert_eq!(
        relay_err(r#"{"type":"register","channel_id":"\u0041"}"#),
        SignalError::InvalidText {
            field: "channel_id"
        }
    );
    assert_eq!(
        relay_err(r#"{"type":"hello","node_id":"n","token":"a\/b","version":1}"#),
        SignalError::InvalidText { field: "token" }
    );
    assert_eq!(
        node_err(r#"{"type":"users_connected","channel_id":"c","users":["ok","b\"ad"]}"#),
        SignalError::InvalidText { field: "users" }
    );
}

// ---------------------------------------------------------------------------
// Refusals, one reason each

#[test]
fn not_json_is_malformed() {
    let cases: [&[u8]; 14] = [
        b"",
        b"   \n",
        b"hello",
        b"{",
        b"{\"type\":\"ping\",\"t\":1",
        b"{\"type\":\"ping\",\"t\":1,}",
        b"{\"type\":\"ping\" \"t\":1}",
        b"{\"type\":\"ping\",\"t\":1} trailing",
        b"{\"type\":\"ping\",\"t\":1}{}",
        b"{type:\"ping\",\"t\":1}",
        b"{\"type\":\"ping\",\"t\":01}",
        b"{\"type\":\"ping\",\"t\":1,\"x\":\"bad \\q escape\"}",
        b"{\"type\":\"ping\",\"t\":1,\"x\":\"\xff\"}",
        b"\xef\xbb\xbf{\"type\":\"ping\",\"t\":1}",
    ];
    for input in cases {
        assert_eq!(
            ToRelay::parse(input),
            Err(SignalError::Malformed),
            "{input:?}"
        );
        assert_eq!(
            ToNode::parse(input),
            Err(SignalError::Malformed),
            "{input:?}"
        );
    }
}

#[test]
fn json_that_is_not_an_object_is_refused() {
    for input in [
        "[1, 2]", "[]", "\"ping\"", "42", "-1.5e3", "true", "false", "null", " [{}] ",
    ] {
        assert_eq!(relay_err(input), SignalError::NotAnObject, "{input}");
        assert_eq!(node_err(input), SignalError::NotAnObject, "{input}");
    }
    // Not JSON at all, even if it starts like a scalar.
    for input in ["tru", "nul", "-", "[1,", "\"open"] {
        assert_eq!(relay_err(input), SignalError::Malformed, "{input}");
    }
}

#[test]
fn object_without_type_is_refused() {
    for input in ["{}", r#"{"t":1}"#, r#"{"Type":"ping","t":1}"#] {
        assert_eq!(relay_err(input), SignalError::MissingType, "{input}");
        assert_eq!(node_err(input), SignalError::MissingType, "{input}");
    }
}

#[test]
fn unknown_type_is_distinct_from_malformed() {
    for input in [
        r#"{"type":"dance","anything":[1,{"goes":null}]}"#,
        r#"{"type":"","t":1}"#,
        r#"{"type":"PING","t":1}"#,
    ] {
        assert_eq!(relay_err(input), SignalError::UnknownType, "{input}");
        assert_eq!(node_err(input), SignalError::UnknownType, "{input}");
    }
    // Each side's types are unknown to the other.
    assert_eq!(
        relay_err(r#"{"type":"rekey","key":"x","key_id":1}"#),
        SignalError::UnknownType
    );
    assert_eq!(relay_err(r#"{"type":"welcome"}"#), SignalError::UnknownType);
    assert_eq!(
        node_err(r#"{"type":"hello","node_id":"n","token":"t","version":1}"#),
        SignalError::UnknownType
    );
    assert_eq!(
        node_err(r#"{"type":"register","channel_id":"c"}"#),
        SignalError::UnknownType
    );
}

#[test]
fn type_that_is_not_a_string_is_a_wrong_type() {
    for input in [r#"{"type":5}"#, r#"{"type":null}"#, r#"{"type":["ping"]}"#] {
        assert_eq!(
            relay_err(input),
            SignalError::WrongType { field: "type" },
            "{input}"
        );
    }
}

#[test]
fn duplicate_members_are_refused() {
    assert_eq!(
        relay_err(r#"{"type":"ping","t":1,"type":"pong"}"#),
        SignalError::DuplicateField { field: "type" }
    );
    assert_eq!(
        relay_err(r#"{"type":"ping","t":1,"t":2}"#),
        SignalError::DuplicateField { field: "t" }
    );
}

#[test]
fn missing_members_are_named() {
    assert_eq!(
        relay_err(r#"{"type":"register"}"#),
        SignalError::MissingField {
            field: "channel_id"
        }
    );
    assert_eq!(
        relay_err(r#"{"type":"hello","node_id":"n","version":1}"#),
        SignalError::MissingField { field: "token" }
    );
    assert_eq!(
        relay_err(r#"{"type":"ping"}"#),
        SignalError::MissingField { field: "t" }
    );
    assert_eq!(
        node_err(r#"{"type":"transmit","channel_id":"c","active":true}"#),
        SignalError::MissingField { field: "node_id" }
    );
    // What a node sends is not enough for a node to receive: the relay
    // names who heard the page.
    assert_eq!(
        node_err(r#"{"type":"tone_detected","channel_id":"c","tone_id":"t","alert_type":"a"}"#),
        SignalError::MissingField { field: "node_id" }
    );
    let key = base64_of(&[0; SECRET_LEN]);
    assert_eq!(
        node_err(&format!(
            r#"{{"type":"welcome","udp_host":"h","udp_port":1,"key":"{key}","key_id":1}}"#
        )),
        SignalError::MissingField {
            field: "heartbeat_ms"
        }
    );
}

#[test]
fn wrong_member_types_are_named() {
    let cases = [
        (r#"{"type":"ping","t":"1"}"#, "t"),
        (r#"{"type":"ping","t":-1}"#, "t"),
        (r#"{"type":"ping","t":null}"#, "t"),
        (r#"{"type":"ping","t":18446744073709551616}"#, "t"),
        (r#"{"type":"register","channel_id":5}"#, "channel_id"),
        (r#"{"type":"register","channel_id":null}"#, "channel_id"),
        (r#"{"type":"register","channel_id":["c"]}"#, "channel_id"),
        (
            r#"{"type":"transmit","channel_id":"c","active":"yes"}"#,
            "active",
        ),
        (
            r#"{"type":"transmit","channel_id":"c","active":1}"#,
            "active",
        ),
        (
            r#"{"type":"hello","node_id":"n","token":"t","version":"1"}"#,
            "version",
        ),
    ];
    for (input, field) in cases {
        assert_eq!(
            relay_err(input),
            SignalError::WrongType { field },
            "{input}"
        );
    }
    let key = base64_of(&[0; SECRET_LEN]);
    let cases = [
        (
            format!(r#"{{"type":"rekey","key":"{key}","key_id":256}}"#),
            "key_id",
        ),
        (
            String::from(r#"{"type":"rekey","key":7,"key_id":1}"#),
            "key",
        ),
        (
            String::from(r#"{"type":"registered","channel_id":"c","stream_id":4294967296}"#),
            "stream_id",
        ),
        (
            String::from(r#"{"type":"users_connected","channel_id":"c","users":"a"}"#),
            "users",
        ),
        (
            String::from(r#"{"type":"users_connected","channel_id":"c","users":[1]}"#),
            "users",
        ),
        (
            String::from(r#"{"type":"error","code":-5,"message":"m"}"#),
            "code",
        ),
        (
            String::from(r#"{"type":"error","code":1,"message":false}"#),
            "message",
        ),
        (
            format!(
                r#"{{"type":"welcome","udp_host":"h","udp_port":65536,"key":"{key}","key_id":1,"heartbeat_ms":1}}"#
            ),
            "udp_port",
        ),
    ];
    for (input, field) in cases {
        assert_eq!(
            node_err(&input),
            SignalError::WrongType { field },
            "{input}"
        );
    }
}

#[test]
fn message_over_8_kib_is_refused() {
    let msg = br#"{"type":"ping","t":1}"#;
    let mut input = msg.to_vec();
    input.resize(MAX_MESSAGE_LEN, b' ');
    assert_eq!(ToRelay::parse(&input), Ok(ToRelay::Ping { t: 1 }));
    input.push(b' ');
    assert_eq!(input.len(), 8193);
    assert_eq!(ToRelay::parse(&input), Err(SignalError::TooLong));
    assert_eq!(ToNode::parse(&input), Err(SignalError::TooLong));
}

#[test]
fn bad_keys_are_refused() {
    let key_of = |text: &str| node_err(&format!(r#"{{"type":"rekey","key":"{text}","key_id":1}}"#));
    let short = base64_of(&[7; SECRET_LEN - 1]);
    let long = base64_of(&[7; SECRET_LEN + 1]);
    let good = base64_of(&[7; SECRET_LEN]);
    assert_eq!(short.len(), SECRET_BASE64_LEN);
    assert_eq!(key_of(&short), SignalError::BadKey, "31 bytes");
    assert_eq!(key_of(&long), SignalError::BadKey, "33 bytes");
    assert_eq!(
        key_of(&base64_of(&[7; 48])),
        SignalError::BadKey,
        "48 bytes"
    );
    assert_eq!(key_of(""), SignalError::BadKey);
    assert_eq!(
        key_of(&"!".repeat(SECRET_BASE64_LEN)),
        SignalError::BadKey,
        "not base64"
    );
    assert_eq!(
        key_of(good.trim_end_matches('=')),
        SignalError::BadKey,
        "unpadded"
    );
    let url_safe = base64_of(&[0xFF; SECRET_LEN]).replace('/', "_");
    assert_eq!(key_of(&url_safe), SignalError::BadKey, "URL-safe alphabet");
    // Non-canonical: the last character carries bits past the 32nd byte.
    let mut noncanonical = good.clone().into_bytes();
    noncanonical[SECRET_BASE64_LEN - 2] = b'D';
    let noncanonical = String::from_utf8(noncanonical).expect("ascii");
    assert_ne!(noncanonical, good);
    assert_eq!(key_of(&noncanonical), SignalError::BadKey, "trailing bits");
    assert!(
        ToNode::parse(format!(r#"{{"type":"rekey","key":"{good}","key_id":1}}"#).as_bytes())
            .is_ok()
    );
}

#[test]
fn too_many_users_are_refused() {
    let list = |count: usize| {
        let users: Vec<String> = (0..count).map(|i| format!("\"n{i}\"")).collect();
        format!(
            r#"{{"type":"users_connected","channel_id":"c","users":[{}]}}"#,
            users.join(",")
        )
    };
    match ToNode::parse(list(MAX_USERS).as_bytes()) {
        Ok(ToNode::UsersConnected { users, .. }) => assert_eq!(users.len(), MAX_USERS),
        other => panic!("{other:?}"),
    }
    assert_eq!(node_err(&list(MAX_USERS + 1)), SignalError::TooManyUsers);
}

#[test]
fn over_long_strings_are_refused() {
    let at_limit = "a".repeat(MAX_ID_LEN);
    let over = "a".repeat(MAX_ID_LEN + 1);
    assert!(
        ToRelay::parse(format!(r#"{{"type":"register","channel_id":"{at_limit}"}}"#).as_bytes())
            .is_ok()
    );
    assert_eq!(
        relay_err(&format!(r#"{{"type":"register","channel_id":"{over}"}}"#)),
        SignalError::FieldTooLong {
            field: "channel_id"
        }
    );
    assert_eq!(
        relay_err(&format!(
            r#"{{"type":"tone_detected","channel_id":"c","tone_id":"t","alert_type":"{over}"}}"#
        )),
        SignalError::FieldTooLong {
            field: "alert_type"
        }
    );
    assert_eq!(
        node_err(&format!(
            r#"{{"type":"users_connected","channel_id":"c","users":["{over}"]}}"#
        )),
        SignalError::FieldTooLong { field: "users" }
    );
    let token = "t".repeat(MAX_TOKEN_LEN + 1);
    assert_eq!(
        relay_err(&format!(
            r#"{{"type":"hello","node_id":"n","token":"{token}","version":1}}"#
        )),
        SignalError::FieldTooLong { field: "token" }
    );
    // The message limit counts unescaped bytes: 128 × `\n` is 256 bytes on
    // the wire and 128 unescaped.
    let escaped = "\\n".repeat(MAX_ERROR_MESSAGE_LEN / 2);
    assert!(
        ToNode::parse(format!(r#"{{"type":"error","code":1,"message":"{escaped}"}}"#).as_bytes())
            .is_ok()
    );
    let text = "m".repeat(MAX_ERROR_MESSAGE_LEN + 1);
    assert_eq!(
        node_err(&format!(
            r#"{{"type":"error","code":1,"message":"{text}"}}"#
        )),
        SignalError::FieldTooLong { field: "message" }
    );
}

#[test]
fn text_outside_its_charset_is_refused() {
    for id in [
        "", "-lead", ".hidden", "..", "a/b", "a b", "a+b", "a#b", "é",
    ] {
        assert_eq!(
            NodeId::new(id),
            Err(SignalError::InvalidText { field: "node_id" }),
            "{id:?}"
        );
        assert_eq!(
            relay_err(&format!(r#"{{"type":"register","channel_id":"{id}"}}"#)),
            SignalError::InvalidText {
                field: "channel_id"
            },
            "{id:?}"
        );
    }
    for token in ["", "=", "a b", "a=b", "tök"] {
        assert_eq!(
            Token::new(token),
            Err(SignalError::InvalidText { field: "token" }),
            "{token:?}"
        );
    }
    assert!(Token::new("abc==").is_ok());
    for host in ["", "a b", "h/x", "h?x"] {
        assert_eq!(
            Host::new(host),
            Err(SignalError::InvalidText { field: "udp_host" }),
            "{host:?}"
        );
    }
    for host in ["relay.example.org", "192.0.2.1", "fe80::1%eth0", "[::1]"] {
        assert!(Host::new(host).is_ok(), "{host}");
    }
}

#[test]
fn deep_nesting_is_refused_without_recursing() {
    let depth = 2000;
    let input = format!(
        r#"{{"type":"ping","t":1,"x":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(input.len() <= MAX_MESSAGE_LEN);
    assert_eq!(relay_err(&input), SignalError::Malformed);
    let objects = format!(
        r#"{{"x":{}1{},"type":"ping","t":1}}"#,
        r#"{"a":"#.repeat(500),
        "}".repeat(500)
    );
    assert_eq!(relay_err(&objects), SignalError::Malformed);
    assert_eq!(relay_err(&"[".repeat(4000)), SignalError::Malformed);
    // Up to MAX_DEPTH is fine (the message object is level 1).
    let ok = format!(
        r#"{{"type":"ping","t":1,"x":{}{}}}"#,
        "[".repeat(MAX_DEPTH - 1),
        "]".repeat(MAX_DEPTH - 1)
    );
    assert_eq!(ToRelay::parse(ok.as_bytes()), Ok(ToRelay::Ping { t: 1 }));
    let too_deep = format!(
        r#"{{"type":"ping","t":1,"x":{}{}}}"#,
        "[".repeat(MAX_DEPTH),
        "]".repeat(MAX_DEPTH)
    );
    assert_eq!(relay_err(&too_deep), SignalError::Malformed);
}

// ---------------------------------------------------------------------------
// Errors and secrets as callers see them

#[test]
fn error_reasons_are_distinct_and_displayed() {
    let all = [
        SignalError::TooLong,
        SignalError::Malformed,
        SignalError::NotAnObject,
        SignalError::MissingType,
        SignalError::UnknownType,
        SignalError::MissingField { field: "f" },
        SignalError::DuplicateField { field: "f" },
        SignalError::WrongType { field: "f" },
        SignalError::FieldTooLong { field: "f" },
        SignalError::InvalidText { field: "f" },
        SignalError::BadKey,
        SignalError::TooManyUsers,
        SignalError::BufferTooSmall,
    ];
    for (i, a) in all.iter().enumerate() {
        assert!(!format!("{a}").is_empty());
        for b in &all[i + 1..] {
            assert_ne!(a.reason(), b.reason());
        }
    }
    assert_eq!(SignalError::MissingField { field: "t" }.field(), Some("t"));
    assert_eq!(SignalError::UnknownType.field(), None);
    let _: &dyn core::error::Error = &SignalError::Malformed;
}

#[test]
fn debug_output_hides_secrets() {
    let token = Token::new("hunter2hunter2").expect("valid token");
    assert!(!format!("{token:?}").contains("hunter2"));
    let hello = ToRelay::Hello {
        node_id: node("n"),
        token,
        version: 1,
    };
    assert!(!format!("{hello:?}").contains("hunter2"));
    let key = SecretBytes::new([0xAB; SECRET_LEN]);
    let shown = format!("{key:?}");
    assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab,"));
}

#[test]
fn secret_base64_round_trips() {
    let key = secret(77);
    let mut out = [0u8; SECRET_BASE64_LEN];
    let text = key.to_base64(&mut out);
    assert_eq!(text, base64_of(key.as_bytes()));
    assert_eq!(SecretBytes::from_base64(text), Ok(key.clone()));
    assert_eq!(key.clone().into_bytes(), *key.as_bytes());
}

// ---------------------------------------------------------------------------
// Properties

/// Owned values for one of every message; the borrowed messages are built
/// from them inside the test body.
#[derive(Debug, Clone)]
struct Values {
    ids: [String; 4],
    users: Vec<String>,
    token: String,
    host: String,
    text: String,
    key: [u8; SECRET_LEN],
    t: u64,
    version: u32,
    heartbeat_ms: u32,
    stream_id: u32,
    port: u16,
    code: u16,
    key_id: u8,
    active: bool,
}

fn id_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9._-]{0,47}"
}

fn truncated(mut text: String, len_max: usize) -> String {
    while text.len() > len_max {
        text.pop();
    }
    text
}

prop_compose! {
    fn values()(
        ids in [id_strategy(), id_strategy(), id_strategy(), id_strategy()],
        users in proptest::collection::vec(id_strategy(), 0..=MAX_USERS),
        token in "[A-Za-z0-9._~+/-]{1,200}={0,2}",
        host in "[A-Za-z0-9.:_%\\[\\]-]{1,253}",
        text in any::<String>(),
        key in any::<[u8; SECRET_LEN]>(),
        t in any::<u64>(),
        version in any::<u32>(),
        heartbeat_ms in any::<u32>(),
        stream_id in any::<u32>(),
        port in any::<u16>(),
        code in any::<u16>(),
        key_id in any::<u8>(),
        active in any::<bool>(),
    ) -> Values {
        Values {
            ids, users, token, host, text: truncated(text, MAX_ERROR_MESSAGE_LEN), key, t,
            version, heartbeat_ms, stream_id, port, code, key_id, active,
        }
    }
}

fn to_relay_from(v: &Values) -> [ToRelay<'_>; 6] {
    [
        ToRelay::Hello {
            node_id: node(&v.ids[0]),
            token: Token::new(&v.token).expect("strategy makes valid tokens"),
            version: v.version,
        },
        ToRelay::Register {
            channel_id: chan(&v.ids[1]),
        },
        ToRelay::Transmit {
            channel_id: chan(&v.ids[1]),
            active: v.active,
        },
        ToRelay::ToneDetected {
            channel_id: chan(&v.ids[1]),
            tone_id: ToneId::new(&v.ids[2]).expect("strategy makes valid ids"),
            alert_type: AlertType::new(&v.ids[3]).expect("strategy makes valid ids"),
        },
        ToRelay::Ping { t: v.t },
        ToRelay::Pong { t: v.t },
    ]
}

fn to_node_from(v: &Values) -> [ToNode<'_>; 9] {
    let mut users = Users::new();
    for user in &v.users {
        users
            .push(node(user))
            .expect("strategy stays within MAX_USERS");
    }
    [
        ToNode::Welcome {
            udp_host: Host::new(&v.host).expect("strategy makes valid hosts"),
            udp_port: v.port,
            key: SecretBytes::new(v.key),
            key_id: KeyId(v.key_id),
            heartbeat_ms: v.heartbeat_ms,
        },
        ToNode::Registered {
            channel_id: chan(&v.ids[0]),
            stream_id: StreamId(v.stream_id),
        },
        ToNode::Transmit {
            channel_id: chan(&v.ids[0]),
            node_id: node(&v.ids[1]),
            active: v.active,
        },
        ToNode::ToneDetected {
            channel_id: chan(&v.ids[0]),
            node_id: node(&v.ids[1]),
            tone_id: ToneId::new(&v.ids[2]).expect("strategy makes valid ids"),
            alert_type: AlertType::new(&v.ids[3]).expect("strategy makes valid ids"),
        },
        ToNode::UsersConnected {
            channel_id: chan(&v.ids[0]),
            users,
        },
        ToNode::Rekey {
            key: SecretBytes::new(v.key),
            key_id: KeyId(v.key_id),
        },
        ToNode::Error {
            code: v.code,
            message: message(&v.text),
        },
        ToNode::Ping { t: v.t },
        ToNode::Pong { t: v.t },
    ]
}

/// Valid messages of every type, as bytes, to mutate.
fn valid_corpus() -> Vec<Vec<u8>> {
    let mut corpus: Vec<Vec<u8>> = every_to_relay().iter().map(emit_to_relay).collect();
    corpus.extend(every_to_node().iter().map(emit_to_node));
    corpus
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
    /// Insert a JSON-significant byte, the likeliest to reach new paths.
    InsertToken(usize, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let token = prop::sample::select(vec![
        b'{', b'}', b'[', b']', b'"', b'\\', b',', b':', b'-', b'0', b'u', b'n', b' ',
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Remove),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), token).prop_map(|(i, b)| Mutation::InsertToken(i, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match *mutation {
        Mutation::Set(i, b) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes[i] = b;
            }
        }
        Mutation::Insert(i, b) | Mutation::InsertToken(i, b) => {
            let i = at(i, bytes.len() + 1);
            bytes.insert(i, b);
        }
        Mutation::Remove(i) => {
            if !bytes.is_empty() {
                let i = at(i, bytes.len());
                bytes.remove(i);
            }
        }
        Mutation::Truncate(i) => {
            let i = at(i, bytes.len() + 1);
            bytes.truncate(i);
        }
    }
}

/// Parses with both entry points; a parse that succeeds must re-emit to
/// something that parses back to the same value.
fn parse_both(input: &[u8]) {
    if let Ok(msg) = ToRelay::parse(input) {
        let bytes = emit_to_relay(&msg);
        assert_eq!(ToRelay::parse(&bytes), Ok(msg));
    }
    if let Ok(msg) = ToNode::parse(input) {
        let bytes = emit_to_node(&msg);
        assert_eq!(ToNode::parse(&bytes), Ok(msg));
    }
}

proptest! {
    #[test]
    fn round_trip_with_arbitrary_values(v in values()) {
        for msg in to_relay_from(&v) {
            let bytes = emit_to_relay(&msg);
            prop_assert_eq!(ToRelay::parse(&bytes), Ok(msg));
        }
        for msg in to_node_from(&v) {
            let bytes = emit_to_node(&msg);
            prop_assert_eq!(ToNode::parse(&bytes), Ok(msg));
        }
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(
        input in proptest::collection::vec(any::<u8>(), 0..=MAX_MESSAGE_LEN + 8),
    ) {
        parse_both(&input);
    }

    #[test]
    fn parse_never_panics_on_json_like_text(input in r#"[{}\[\]":,.0-9a-z_\\ \-+eEtfnul]{0,300}"#) {
        parse_both(input.as_bytes());
        let wrapped = format!(r#"{{"type":"ping","t":1,"x":{input}}}"#);
        parse_both(wrapped.as_bytes());
    }

    #[test]
    fn parse_never_panics_on_mutated_messages(
        index in any::<prop::sample::Index>(),
        mutations in proptest::collection::vec(mutation(), 1..8),
    ) {
        let corpus = valid_corpus();
        let mut input = corpus[index.index(corpus.len())].clone();
        for mutation in &mutations {
            apply(&mut input, mutation);
        }
        parse_both(&input);
    }
}

#[test]
fn tone_ids_and_alert_types_are_labels_people_write() {
    let msg = ToRelay::ToneDetected {
        channel_id: ChannelId::new("dispatch").unwrap(),
        tone_id: ToneId::new("Station 12").unwrap(),
        alert_type: AlertType::new("fire page").unwrap(),
    };
    let mut out = [0u8; MAX_MESSAGE_LEN];
    let len = msg.emit(&mut out).unwrap();
    assert_eq!(ToRelay::parse(&out[..len]), Ok(msg));
    for bad in [
        "",
        " lead",
        "trail ",
        "a/b",
        "quote\"d",
        "back\\slash",
        "tab\there",
    ] {
        assert!(ToneId::new(bad).is_err(), "{bad:?} accepted");
    }
    assert!(
        ChannelId::new("has space").is_err(),
        "channel ids stay topic-safe"
    );
}

#[test]
fn a_page_report_with_an_empty_or_over_long_label_is_refused_both_ways() {
    let at_limit = "a".repeat(MAX_ID_LEN);
    let over = "a".repeat(MAX_ID_LEN + 1);
    let to_relay = |tone_id: &str, alert_type: &str| {
        format!(
            r#"{{"type":"tone_detected","channel_id":"c","tone_id":"{tone_id}","alert_type":"{alert_type}"}}"#
        )
    };
    let to_node = |node_id: &str, tone_id: &str, alert_type: &str| {
        format!(
            r#"{{"type":"tone_detected","channel_id":"c","node_id":"{node_id}","tone_id":"{tone_id}","alert_type":"{alert_type}"}}"#
        )
    };
    assert!(ToRelay::parse(to_relay(&at_limit, &at_limit).as_bytes()).is_ok());
    assert!(ToNode::parse(to_node(&at_limit, &at_limit, &at_limit).as_bytes()).is_ok());
    let tone_id = "tone_id";
    let alert_type = "alert_type";
    let cases = [
        ("", "fire", SignalError::InvalidText { field: tone_id }),
        ("t", "", SignalError::InvalidText { field: alert_type }),
        (&over, "fire", SignalError::FieldTooLong { field: tone_id }),
        ("t", &over, SignalError::FieldTooLong { field: alert_type }),
    ];
    for (tone, alert, error) in cases {
        assert_eq!(
            relay_err(&to_relay(tone, alert)),
            error,
            "{tone:?} {alert:?}"
        );
        assert_eq!(
            node_err(&to_node("n", tone, alert)),
            error,
            "{tone:?} {alert:?}"
        );
    }
    assert_eq!(
        node_err(&to_node("", "t", "a")),
        SignalError::InvalidText { field: "node_id" }
    );
    assert_eq!(
        node_err(&to_node(&over, "t", "a")),
        SignalError::FieldTooLong { field: "node_id" }
    );
}
