//! Tests for the output queues: frames and payloads stored once however
//! many they go to, sealed per stream, and slots served round robin.

use echostream_core::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use echostream_core::time::Instant;
use echostream_core::wire::signal::{ChannelId, MAX_ID_LEN, MAX_USERS, NodeId, Users};
use echostream_core::wire::{KeyId, StreamId};

use super::super::session::Membership;
use super::*;

const SLOTS: usize = 64;

/// `slots` sessions; stores that hold one longest frame and one
/// longest payload only.
fn outputs(slots: usize) -> Outputs {
    Outputs::new(&Limits {
        sessions_max: slots,
        pending_max: 1,
        pending_per_ip_max: 1,
        queued_text_bytes_max: MAX_MESSAGE_LEN,
        queued_payload_bytes_max: MAX_PAYLOAD_LEN,
        ..Limits::default()
    })
}

fn keys() -> SessionKeys {
    SessionKeys::derive(&Secret::from_bytes([7; 32]), KeyId(1))
}

/// `slots` sessions with one stream each, stream id = slot + 1.
fn sessions(slots: usize) -> Vec<Option<Session>> {
    (0..slots)
        .map(|slot| {
            let mut session = Session::new(
                ConnId(slot as u64),
                std::net::Ipv4Addr::LOCALHOST.into(),
                Instant::from_millis(0),
            );
            let stream_id = StreamId(slot as u32 + 1);
            session.memberships.push(Membership {
                channel: 0,
                stream_id,
                sender: Sender::new(&keys(), Direction::RelayToNode, stream_id),
                addr: None,
                newest: None,
                listen: true,
                talk: true,
            });
            Some(session)
        })
        .collect()
}

#[test]
fn a_frame_for_every_member_is_stored_once() {
    let mut out = outputs(SLOTS);
    let mut drops = Drops::default();
    let ids: Vec<String> = (0..MAX_USERS)
        .map(|i| format!("{i:0>width$}", width = MAX_ID_LEN))
        .collect();
    let mut users = Users::new();
    for id in &ids {
        users.push(NodeId::new(id).unwrap()).unwrap();
    }
    let channel_id = ChannelId::new("fire").unwrap();
    let text = out.text(&ToNode::UsersConnected { channel_id, users });
    for slot in 0..SLOTS {
        let class = Class::Members { channel: 0 };
        out.queue_text(slot, text, class, &mut drops, &mut 0)
            .unwrap();
    }
    out.release_text(text);
    assert_eq!(drops, Drops::default(), "one copy fits, {SLOTS} would not");
    let (mut sessions, mut buf) = (sessions(SLOTS), vec![0u8; MAX_OUTPUT_LEN]);
    let mut first = None;
    for slot in 0..SLOTS {
        let output = out.pop(&mut sessions, &mut buf, &mut drops).unwrap();
        assert_eq!(
            output,
            Output::SendText {
                conn: ConnId(slot as u64),
                len: output.payload(&buf).len(),
                droppable: false,
            }
        );
        let bytes = output.payload(&buf).to_vec();
        assert!(bytes.len() > MAX_MESSAGE_LEN / 2);
        assert_eq!(first.get_or_insert_with(|| bytes.clone()), &bytes);
    }
    assert_eq!(out.pop(&mut sessions, &mut buf, &mut drops), None);
    assert!(out.texts.is_empty());
}

#[test]
fn a_fanned_out_payload_is_stored_once_and_sealed_per_stream() {
    let mut out = outputs(SLOTS);
    let mut drops = Drops::default();
    let payload = [0x5a; MAX_PAYLOAD_LEN];
    let to = SocketAddr::from(([10, 0, 0, 1], 5000));
    let datagram = Datagram {
        to,
        membership: 0,
        kind: Kind::Audio,
        flags: Flags::NONE,
        timestamp: MediaTimestamp(960),
    };
    let mut stored = None;
    for slot in 0..SLOTS {
        out.queue_datagram(slot, datagram, &payload, &mut stored, &mut drops);
    }
    out.release_payload(stored);
    // A second payload does not fit while the first is queued.
    let mut other = None;
    out.queue_datagram(0, datagram, &[1], &mut other, &mut drops);
    assert_eq!(other, Some(Err(StoreFull)));
    assert_eq!(drops.payload_store_full, 1);
    let (mut sessions, mut buf) = (sessions(SLOTS), vec![0u8; MAX_OUTPUT_LEN]);
    for slot in 0..SLOTS {
        let output = out.pop(&mut sessions, &mut buf, &mut drops).unwrap();
        let Output::SendDatagram { to: sent_to, len } = output else {
            panic!("a datagram, got {output:?}");
        };
        assert_eq!(sent_to, to);
        let mut receiver = Receiver::<1>::new(&keys(), Direction::RelayToNode);
        let opened = receiver
            .open(Instant::from_millis(0), &mut buf[..len])
            .unwrap();
        assert_eq!(opened.repr.stream_id, StreamId(slot as u32 + 1));
        assert_eq!(&buf[opened.payload], payload);
    }
    assert!(out.payloads.is_empty());
}

#[test]
fn slots_are_served_round_robin_and_idle_ones_skipped() {
    let slots = 150;
    let mut out = outputs(slots);
    let mut drops = Drops::default();
    let busy = [3, 70, 149];
    for t in 0..2 {
        for slot in busy {
            let text = out.text(&ToNode::Pong { t });
            let class = Class::Droppable;
            out.queue_text(slot, text, class, &mut drops, &mut 0)
                .unwrap();
            out.release_text(text);
        }
    }
    let (mut sessions, mut buf) = (sessions(slots), vec![0u8; MAX_OUTPUT_LEN]);
    let mut served = Vec::new();
    while let Some(output) = out.pop(&mut sessions, &mut buf, &mut drops) {
        let Output::SendText { conn, .. } = output else {
            panic!("a frame, got {output:?}");
        };
        served.push(conn.0);
    }
    assert_eq!(served, [3, 70, 149, 3, 70, 149]);
    assert_eq!(out.pending, [0, 0, 0]);
    assert!(out.texts.is_empty());
}

#[test]
fn debug_output_shows_counts_never_bytes() {
    let mut out = outputs(SLOTS);
    let mut drops = Drops::default();
    let text = out.text(&super::super::error_message(400, "zebra-secret"));
    out.queue_text(5, text, Class::State, &mut drops, &mut 0)
        .unwrap();
    out.release_text(text);
    let debug = format!("{out:?}");
    assert!(debug.contains("texts: 1"), "{debug}");
    // Bytes would print as a list of numbers: the frame's "zebra".
    let zebra = format!("{:?}", &b"zebra"[..]);
    let zebra = zebra.trim_matches(|c| c == '[' || c == ']');
    assert!(!debug.contains(zebra), "{debug}");
    assert!(debug.len() < 400, "{debug}");
}
