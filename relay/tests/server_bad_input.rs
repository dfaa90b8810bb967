//! Bad input against the running `echostream-relay`: each is dropped and
//! counted, the process keeps serving, and audio between well-behaved
//! nodes keeps flowing before, during and after.
//!
//! Counters are read from the `stats at=final` line the relay logs when
//! it stops on SIGTERM.

mod support;

use std::time::{Duration, Instant};

use echostream_core::wire::signal::MAX_TO_RELAY_LEN;
use echostream_core::wire::{Flags, HEADER_LEN, Kind, StreamId};
use support::{Event, Msg, Node, RelayProcess, Signaling, Stats, assert_audio_flows};
use tungstenite::Message;

const TOKEN: &str = "station-token-0123456789";

/// A relay with A and B on `fire` (audio checked) and C on `ems`.
fn fire_station(relay: &RelayProcess) -> (Node, Node, Node) {
    let mut a = Node::join(relay, "station-a", TOKEN);
    let mut b = Node::join(relay, "station-b", TOKEN);
    let mut c = Node::join(relay, "station-c", TOKEN);
    a.register("fire");
    b.register("fire");
    c.register("ems");
    assert_audio_flows(&mut a, &mut b, "fire", 3);
    (a, b, c)
}

/// Every datagram the relay read is accounted for: passed on, answered,
/// or dropped under a named reason.
fn assert_every_datagram_counted(stats: &Stats) {
    let accounted: u64 = [
        "audio_in",
        "eot_in",
        "heartbeats",
        "drop_malformed",
        "drop_unknown_stream",
        "drop_open_malformed",
        "drop_open_unknown_key",
        "drop_open_duplicate",
        "drop_open_too_old",
        "drop_open_forged",
        "drop_open_stream_table_full",
        "drop_unexpected_kind",
        "drop_not_talker",
    ]
    .iter()
    .map(|name| stats.get(name))
    .sum();
    assert_eq!(stats.get("datagrams_in"), accounted, "{stats:?}");
}

#[test]
fn malformed_json_and_binary_frames_are_answered_or_dropped_and_counted() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Node::join(&relay, "station-d", TOKEN);
    for bad in ["{not json", r#"{"type":"register"}"#, "[1,2,3]"] {
        d.send_text(bad);
        let error = d.wait_for(|m| matches!(m, Msg::Error { .. }));
        assert!(
            matches!(error, Msg::Error { code: 400, .. }),
            "{bad}: {error:?}"
        );
    }
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("signal_malformed"), 3);
    assert_eq!(stats.get("sessions_closed"), 0, "under the malformed limit");
}

#[test]
fn binary_frames_are_dropped_and_counted_without_closing() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Signaling::connect(relay.ws);
    d.hello("station-d", TOKEN);
    assert!(matches!(
        d.next(support::PATIENCE),
        Some(Event::Msg(Msg::Welcome { .. }))
    ));
    for _ in 0..4 {
        d.send_raw(Message::binary(vec![0xff; 64])).unwrap();
    }
    d.send_raw(Message::text(r#"{"type":"ping","t":7}"#))
        .unwrap();
    assert_eq!(
        d.next(support::PATIENCE),
        Some(Event::Msg(Msg::Pong { t: 7 })),
        "still served after binary frames"
    );
    assert_audio_flows(&mut a, &mut b, "fire", 3);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("ws_binary"), 4);
}

#[test]
fn unknown_message_types_are_ignored_and_counted() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Node::join(&relay, "station-d", TOKEN);
    for n in 0..5 {
        d.send_text(&format!(r#"{{"type":"future_thing_{n}","x":{n}}}"#));
    }
    // Still a member in good standing: it can register afterwards.
    d.register("ems");
    let seen = d.messages_within(Duration::from_millis(100));
    assert!(
        !seen
            .iter()
            .any(|e| matches!(e, Event::Msg(Msg::Error { .. }) | Event::Closed(_))),
        "{seen:?}"
    );
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("signal_unknown_type"), 5);
}

#[test]
fn a_one_mebibyte_frame_closes_only_its_connection() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Signaling::connect(relay.ws);
    d.hello("station-d", TOKEN);
    assert!(matches!(
        d.next(support::PATIENCE),
        Some(Event::Msg(Msg::Welcome { .. }))
    ));
    // The relay refuses it from its header, so the send may fail midway.
    let _ = d.send_raw(Message::text("a".repeat(1 << 20)));
    let code = d
        .closed(support::PATIENCE)
        .expect("the relay ends the connection");
    assert_eq!(code, Some(1009), "close code");
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("ws_too_long"), 1);
    assert_eq!(stats.get("sessions_welcomed"), 4);
}

#[test]
fn a_message_one_byte_over_the_limit_is_refused_and_one_at_it_is_not() {
    let relay = RelayProcess::start(&[]);
    let mut d = Signaling::connect(relay.ws);
    d.hello("station-d", TOKEN);
    assert!(matches!(
        d.next(support::PATIENCE),
        Some(Event::Msg(Msg::Welcome { .. }))
    ));
    let padded = |len: usize| {
        let mut text = r#"{"type":"ping","t":5,"pad":""#.to_owned();
        let tail = r#""}"#;
        text.push_str(&"p".repeat(len - text.len() - tail.len()));
        text.push_str(tail);
        assert_eq!(text.len(), len);
        text
    };
    d.send_raw(Message::text(padded(MAX_TO_RELAY_LEN))).unwrap();
    assert_eq!(
        d.next(support::PATIENCE),
        Some(Event::Msg(Msg::Pong { t: 5 }))
    );
    let _ = d.send_raw(Message::text(padded(MAX_TO_RELAY_LEN + 1)));
    assert!(d.closed(support::PATIENCE).is_some());
    let stats = relay.stop();
    assert_eq!(stats.get("ws_too_long"), 1);
}

#[test]
fn a_wrong_token_is_refused_and_the_others_keep_talking() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(
        &tokens,
        format!("# stations\n{TOKEN}\n\nspare-token-0123456789abcd\n"),
    )
    .unwrap();
    let mut relay = RelayProcess::start(&["--tokens", tokens.to_str().unwrap()]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Signaling::connect(relay.ws);
    d.hello("station-d", "wrong-token");
    match d.next(support::PATIENCE) {
        Some(Event::Msg(Msg::Error { code: 401, .. })) => {}
        other => panic!("expected error 401, got {other:?}"),
    }
    assert_eq!(
        d.closed(support::PATIENCE),
        Some(Some(1008)),
        "policy violation"
    );
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("auth_failures"), 1);
    assert_eq!(stats.get("sessions_welcomed"), 3);
}

#[test]
fn replayed_datagrams_are_dropped_and_counted() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let first = a.send_audio("fire", Flags::NONE, b"first");
    assert_eq!(b.receive_media().unwrap().payload, b"first");
    let mut recent = Vec::new();
    for n in 0..130u32 {
        recent.push(a.send_audio("fire", Flags::NONE, &n.to_be_bytes()));
        assert_eq!(b.receive_media().unwrap().payload, n.to_be_bytes());
    }
    // Within the 128-packet window: duplicates; beyond it: too old.
    for datagram in &recent[127..] {
        a.send_datagram(datagram);
    }
    a.send_datagram(&first);
    b.assert_no_datagram(Duration::from_millis(200));
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("drop_open_duplicate"), 3);
    assert_eq!(stats.get("drop_open_too_old"), 1);
    assert_every_datagram_counted(&stats);
}

#[test]
fn forged_datagrams_are_dropped_and_counted() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    // One bit flipped in the ciphertext, in the authenticated header
    // (timestamp), and in the tag.
    for at in [HEADER_LEN + 2, 14, usize::MAX] {
        let mut forged = a.seal("fire", Kind::Audio, Flags::NONE, b"forged frame");
        let at = if at == usize::MAX {
            forged.len() - 1
        } else {
            at
        };
        forged[at] ^= 0x01;
        a.send_datagram(&forged);
    }
    b.assert_no_datagram(Duration::from_millis(200));
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("drop_open_forged"), 3);
    assert_every_datagram_counted(&stats);
}

#[test]
fn datagrams_on_another_nodes_stream_are_dropped_and_counted() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, c) = fire_station(&relay);
    // C, on another channel, speaks on A's stream with its own keys, and
    // on a stream nobody holds.
    let stolen = c.seal_on_stream(a.streams["fire"], Kind::Audio, b"not from A");
    c.send_datagram(&stolen);
    let nobody = c.seal_on_stream(StreamId(0x7fff_0000), Kind::Audio, b"nobody's");
    c.send_datagram(&nobody);
    b.assert_no_datagram(Duration::from_millis(200));
    // A's address was not taken over: audio to A still reaches A.
    a.send_audio("fire", Flags::NONE, b"over");
    b.receive_media().unwrap();
    let end = a.seal("fire", Kind::EndOfTransmission, Flags::NONE, &[]);
    a.send_datagram(&end);
    b.receive_media().unwrap();
    assert_audio_flows(&mut b, &mut a, "fire", 3);
    relay.assert_alive();
    let stats = relay.stop();
    // Refused by A's receiver: as a duplicate of A's own sequence number
    // or as forged, either way before any state changed.
    let refused: u64 = ["forged", "unknown_key", "duplicate", "too_old"]
        .iter()
        .map(|kind| stats.get(&format!("drop_open_{kind}")))
        .sum();
    assert_eq!(refused, 1);
    assert_eq!(stats.get("drop_unknown_stream"), 1);
    assert_every_datagram_counted(&stats);
}

#[test]
fn a_datagram_flood_is_counted_and_others_keep_their_audio() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Node::join(&relay, "station-d", TOKEN);
    d.register("flood");
    let forged = {
        let mut f = d.seal("flood", Kind::Audio, Flags::NONE, &[0; 60]);
        f[HEADER_LEN] ^= 0xff;
        f
    };
    let junk = [0xa5u8; 40];
    let flooder = std::thread::spawn(move || {
        for n in 0..20_000u32 {
            d.send_datagram(if n % 2 == 0 { &forged } else { &junk });
        }
        d
    });
    // Talk during the flood at the audio rate.
    let mut heard = 0;
    for n in 0..25u32 {
        a.send_audio("fire", Flags::NONE, &n.to_be_bytes());
        if b.receive(Duration::from_millis(20), false).is_some() {
            heard += 1;
        }
    }
    let _d = flooder.join().unwrap();
    while b.receive(Duration::from_millis(50), false).is_some() {
        heard += 1;
    }
    assert!(heard >= 20, "B heard {heard} of 25 frames during the flood");
    assert_audio_flows(&mut a, &mut b, "fire", 10);
    relay.assert_alive();
    let stats = relay.stop();
    assert!(
        stats.get("drop_malformed") + stats.get("drop_open_forged") >= 1000,
        "{stats:?}"
    );
    assert_every_datagram_counted(&stats);
}

#[test]
fn a_message_flood_is_counted_and_others_keep_their_audio() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Node::join(&relay, "station-d", TOKEN);
    for n in 0..5_000 {
        d.send_text(&format!(r#"{{"type":"chatter","n":{n}}}"#));
    }
    d.send_text(r#"{"type":"ping","t":99}"#);
    assert_eq!(
        d.wait_for(|m| *m == Msg::Pong { t: 99 }),
        Msg::Pong { t: 99 }
    );
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("signal_unknown_type"), 5_000);
}

#[test]
fn a_client_that_stops_reading_is_dropped_not_waited_for() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut d = Signaling::connect(relay.ws);
    d.hello("station-d", TOKEN);
    // Ask for far more answers than a stuck socket and the write queue
    // hold, and never read them.
    for t in 0..40_000u64 {
        d.send_raw(Message::text(format!(r#"{{"type":"ping","t":{t}}}"#)))
            .unwrap();
    }
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    // Keep the session alive (pings) until the relay gives up on it: after
    // its 5 s write-stall limit, once it has worked through the backlog
    // (generous: a debug build on a loaded machine is slow at that).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sent = d.send_raw(Message::text(r#"{"type":"ping","t":1}"#));
        if sent.is_err() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stuck reader was never dropped"
        );
        std::thread::sleep(Duration::from_millis(100));
        // Others are served meanwhile.
        assert_audio_flows(&mut a, &mut b, "fire", 1);
    }
    relay.assert_alive();
    let stats = relay.stop();
    assert!(stats.get("ws_queue_full") > 0, "{stats:?}");
    assert_eq!(stats.get("ws_stalled"), 1);
}

#[test]
fn a_connection_that_never_finishes_its_handshake_is_dropped() {
    let mut relay = RelayProcess::start(&[]);
    let (mut a, mut b, _c) = fire_station(&relay);
    let mut silent = std::net::TcpStream::connect(relay.ws).unwrap();
    // Half a request, then nothing.
    std::io::Write::write_all(&mut silent, b"GET / HTTP/1.1\r\nHost: relay\r\n").unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(9)))
        .unwrap();
    let started = Instant::now();
    let read = std::io::Read::read(&mut silent, &mut [0u8; 64]);
    let waited = started.elapsed();
    assert!(matches!(read, Ok(0)), "{read:?}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_millis(3500),
        "dropped after {waited:?}; hello is due 2 s after the accept, handshake included"
    );
    // Meanwhile a's silence released the channel, with an end in its
    // place; the loop served the timers all along.
    let end = b.receive_media().expect("the end of a's first talk");
    assert_eq!(end.kind, Kind::EndOfTransmission);
    assert_audio_flows(&mut a, &mut b, "fire", 3);
    relay.assert_alive();
    let stats = relay.stop();
    assert_eq!(stats.get("handshake_timeout"), 1);
}
