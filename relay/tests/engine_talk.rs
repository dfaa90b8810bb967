//! The relay core driven by simulated nodes on virtual time: who holds a
//! channel, how a talker is released or cut, and the one
//! end-of-transmission each listener gets per transmission.

mod engine_support;

use echostream_core::time::{Duration, Instant};
use echostream_core::wire::signal::ToRelay;
use echostream_core::wire::{Kind, MediaTimestamp};

use engine_support::{CH, Msg, World, config, three_on_channel};

#[test]
fn audio_reaches_the_others_intact_and_not_the_sender() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"opus frame one");
    assert!(w.nodes[0].datagrams.is_empty());
    for i in [1, 2] {
        let got = w.received(i);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Kind::Audio);
        // Sealed under the recipient's own stream for the channel.
        assert_eq!(got[0].1, w.nodes[i].streams[CH]);
        assert_eq!(got[0].2, b"opus frame one");
        assert!(w.nodes[i].inbox.contains(&Msg::Transmit {
            channel: CH.into(),
            node: "alpha".into(),
            active: true
        }));
    }
}

#[test]
fn a_second_talker_is_dropped_and_told_who_holds_the_channel() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"a1");
    w.received(1);
    w.received(2);
    w.nodes[1].inbox.clear();
    w.send(1, Kind::Audio, b"b1");
    assert!(w.nodes[0].datagrams.is_empty() && w.nodes[2].datagrams.is_empty());
    assert_eq!(w.relay.counters().drops.not_talker, 1);
    assert_eq!(
        w.nodes[1].inbox,
        vec![Msg::Transmit {
            channel: CH.into(),
            node: "alpha".into(),
            active: true
        }]
    );
}

#[test]
fn end_of_transmission_releases_the_channel() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"a1");
    w.send(0, Kind::EndOfTransmission, b"");
    let got = w.received(1);
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        vec![Kind::Audio, Kind::EndOfTransmission]
    );
    assert!(w.nodes[1].inbox.contains(&Msg::Transmit {
        channel: CH.into(),
        node: "alpha".into(),
        active: false
    }));
    w.send(1, Kind::Audio, b"b1");
    assert_eq!(w.received(0)[0].2, b"b1");
    assert_eq!(w.relay.counters().eot_in, 1);
}

#[test]
fn three_seconds_of_silence_release_the_channel() {
    let mut w = three_on_channel();
    w.send(0, Kind::Audio, b"a1");
    w.received(2);
    w.nodes[2].inbox.clear();
    // Everyone beats once a period (the session timeout is two).
    w.advance(1500);
    for i in 0..3 {
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    w.nodes[2].inbox.clear();
    w.advance(1499);
    w.send(1, Kind::Audio, b"b1");
    assert!(w.nodes[2].datagrams.is_empty());
    // Keep everyone alive across the session timeout boundary.
    for i in 0..3 {
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    assert_eq!(
        w.relay.poll_timeout(),
        Some(Instant::from_millis(1) + Duration::from_millis(3000))
    );
    w.advance(1);
    assert!(w.nodes[2].inbox.contains(&Msg::Transmit {
        channel: CH.into(),
        node: "alpha".into(),
        active: false
    }));
    w.send(1, Kind::Audio, b"b2");
    let got = w.received(2);
    assert_eq!(got[0].0, Kind::EndOfTransmission, "alpha's, in its place");
    assert_eq!(got[1].2, b"b2");
    assert_eq!(w.relay.counters().talker_timeouts, 1);
}

/// Node `i` talks `frames` 20 ms frames from media time 0, as one burst.
fn talk(w: &mut World, i: usize, frames: u32) {
    for n in 0..frames {
        let d = w.seal_at(
            i,
            Kind::Audio,
            MediaTimestamp(n * 960),
            format!("frame {n}").as_bytes(),
        );
        w.send_datagram(i, d);
    }
}

/// Every node sends a heartbeat (keeping its session alive); the echoes
/// stay in its datagrams.
fn keep_alive(w: &mut World) {
    for i in 0..w.nodes.len() {
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
    }
}

/// Listener `i` heard `frames` frames of a talk from media time 0, then
/// exactly one end-of-transmission: on its own stream, on the sequence
/// number after the datagram before it, one frame after the last audio.
fn assert_ended_once(w: &mut World, i: usize, frames: u32) {
    let heard = w.heard(i);
    let media: Vec<_> = heard
        .iter()
        .filter(|h| h.kind != Kind::HeartbeatEcho)
        .map(|h| h.kind)
        .collect();
    let mut expected = vec![Kind::Audio; frames as usize];
    expected.push(Kind::EndOfTransmission);
    assert_eq!(media, expected, "node {i}");
    let at = heard
        .iter()
        .position(|h| h.kind == Kind::EndOfTransmission)
        .unwrap();
    let end = &heard[at];
    assert_eq!(end.stream, w.nodes[i].streams[CH]);
    assert_eq!(
        end.seq.0,
        heard[at - 1].seq.0 + 1,
        "the next sequence number"
    );
    assert_eq!(end.timestamp, MediaTimestamp(frames * 960));
    assert!(end.payload.is_empty());
}

fn released_by(node: &str) -> Msg {
    Msg::Transmit {
        channel: CH.into(),
        node: node.into(),
        active: false,
    }
}

#[test]
fn a_talker_released_by_transmit_false_has_each_listener_sent_one_end() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 5);
    let channel_id = echostream_core::wire::signal::ChannelId::new(CH).unwrap();
    w.text(
        0,
        &ToRelay::Transmit {
            channel_id,
            active: false,
        },
    );
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 5);
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    assert!(w.heard(0).is_empty(), "nothing back to the talker");
    // Its own end, overtaken by the message: not passed on a second time.
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(5 * 960), b"");
    w.send_datagram(0, own);
    assert!(w.heard(1).is_empty() && w.heard(2).is_empty());
    let c = w.relay.counters();
    assert_eq!((c.transmit_releases, c.eot_made, c.eot_in), (1, 1, 0));
    assert_eq!(c.drops.not_talker, 1);
    // The channel is free for the next talker.
    w.send(1, Kind::Audio, b"b1");
    assert_eq!(w.received(2)[0].2, b"b1");
}

#[test]
fn a_talker_released_by_silence_has_each_listener_sent_one_end() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 3);
    for _ in 0..2 {
        w.advance(1000);
        keep_alive(&mut w);
    }
    w.advance(999);
    keep_alive(&mut w);
    assert_eq!(w.relay.counters().eot_made, 0, "not silent long enough");
    w.advance(1);
    let c = w.relay.counters();
    assert_eq!((c.talker_timeouts, c.eot_made), (1, 1));
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 3);
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    // A late end of its own, and more silence: nothing more.
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(3 * 960), b"");
    w.send_datagram(0, own);
    for _ in 0..4 {
        keep_alive(&mut w);
        w.advance(1000);
    }
    for i in [1, 2] {
        let heard = w.heard(i);
        assert!(
            heard.iter().all(|h| h.kind == Kind::HeartbeatEcho),
            "{heard:?}"
        );
    }
    assert_eq!(w.relay.counters().eot_made, 1);
    assert_eq!(w.relay.counters().eot_in, 0);
}

#[test]
fn a_talker_silent_past_the_time_out_that_talks_again_starts_anew() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 2);
    w.heard(1);
    // The driver is late: the audio itself finds the talker expired.
    w.now += Duration::from_millis(3500);
    keep_alive(&mut w);
    let d = w.seal_at(0, Kind::Audio, MediaTimestamp(200 * 960), b"again");
    w.send_datagram(0, d);
    let media: Vec<_> = w
        .heard(1)
        .into_iter()
        .filter(|h| h.kind != Kind::HeartbeatEcho)
        .map(|h| (h.kind, h.timestamp))
        .collect();
    assert_eq!(
        media,
        [
            (Kind::EndOfTransmission, MediaTimestamp(2 * 960)),
            (Kind::Audio, MediaTimestamp(200 * 960))
        ]
    );
    let c = w.relay.counters();
    assert_eq!((c.talker_timeouts, c.eot_made, c.audio_in), (1, 1, 3));
}

#[test]
fn a_talkers_own_end_goes_through_once_and_nothing_stands_in() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 4);
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(4 * 960), b"");
    w.send_datagram(0, own);
    // The node's `transmit: false` follows its end; then silence.
    let channel_id = echostream_core::wire::signal::ChannelId::new(CH).unwrap();
    w.text(
        0,
        &ToRelay::Transmit {
            channel_id,
            active: false,
        },
    );
    for _ in 0..4 {
        keep_alive(&mut w);
        w.advance(1000);
    }
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 4);
        let releases = w.nodes[i]
            .inbox
            .iter()
            .filter(|m| **m == released_by("alpha"))
            .count();
        assert_eq!(releases, 1);
    }
    let c = w.relay.counters();
    assert_eq!(
        (c.eot_in, c.eot_made, c.transmit_releases, c.talker_timeouts),
        (1, 0, 0, 0)
    );
}

#[test]
fn a_talker_that_leaves_has_each_listener_sent_one_end() {
    let mut w = three_on_channel();
    talk(&mut w, 0, 2);
    let conn = w.nodes[0].conn;
    w.relay.handle_disconnect(w.now, conn);
    w.drain();
    for i in [1, 2] {
        assert_ended_once(&mut w, i, 2);
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    assert_eq!(w.relay.counters().eot_made, 1);
}

/// The media kinds listener `i` heard, heartbeat echoes left out.
fn media_kinds(w: &mut World, i: usize) -> Vec<Kind> {
    w.heard(i)
        .into_iter()
        .filter(|h| h.kind != Kind::HeartbeatEcho)
        .map(|h| h.kind)
        .collect()
}

#[test]
fn a_talker_trickling_one_byte_every_two_and_a_half_seconds_loses_the_channel() {
    let mut w = three_on_channel();
    let trickle = |w: &mut World, n: u32| {
        let d = w.seal_at(0, Kind::Audio, MediaTimestamp(n * 960), b"x");
        w.send_datagram(0, d);
    };
    trickle(&mut w, 0);
    for _ in 0..5 {
        w.advance(500);
        keep_alive(&mut w);
    }
    trickle(&mut w, 1);
    for _ in 0..5 {
        w.advance(500);
        keep_alive(&mut w);
    }
    assert_eq!(
        w.relay.counters().talker_trickles,
        0,
        "the silence timer never fires"
    );
    // Its third in 5 s: three datagrams in the 3 s up to it is no stream.
    trickle(&mut w, 2);
    assert_eq!(w.relay.counters().talker_trickles, 1);
    for i in [1, 2] {
        assert_eq!(
            media_kinds(&mut w, i),
            [Kind::Audio, Kind::Audio, Kind::EndOfTransmission]
        );
        assert!(w.nodes[i].inbox.contains(&released_by("alpha")));
    }
    // Another talker takes it; the trickle goes on and is refused.
    w.send(1, Kind::Audio, b"b1");
    assert_eq!(media_kinds(&mut w, 2), [Kind::Audio]);
    for n in 3..8 {
        for _ in 0..5 {
            w.advance(500);
            keep_alive(&mut w);
            // Packets batched: what counts is the number per 3 s.
            for _ in 0..5 {
                w.send(1, Kind::Audio, b"b");
            }
        }
        trickle(&mut w, n);
    }
    assert!(media_kinds(&mut w, 2).iter().all(|k| *k == Kind::Audio));
    let c = w.relay.counters();
    assert_eq!(c.drops.locked_out, 6, "the cut one and five more");
    assert_eq!(
        (c.talker_trickles, c.talker_timeouts, c.eot_made),
        (1, 0, 1)
    );
    // Bravo, at a real rate, kept it all along.
    assert!(!w.nodes[2].inbox.contains(&released_by("bravo")));
}

#[test]
fn a_talker_at_a_normal_rate_is_cut_at_max_talk_s_until_it_ends_its_transmission() {
    let mut config = config();
    config.max_talk_s = 5;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    for node in &mut w.nodes {
        node.inbox.clear();
    }
    // 20 ms frames for 6 s, without a pause.
    for n in 0..300u32 {
        let d = w.seal_at(0, Kind::Audio, MediaTimestamp(n * 960), b"frame");
        w.send_datagram(0, d);
        if n % 50 == 49 {
            keep_alive(&mut w);
        }
        w.advance(20);
    }
    let c = w.relay.counters();
    assert_eq!(
        (c.talk_time_limits, c.talker_timeouts, c.eot_made),
        (1, 0, 1)
    );
    // 5 s of it: 250 frames, then the end in its place.
    assert_ended_once(&mut w, 1, 250);
    assert!(w.nodes[2].inbox.contains(&released_by("alpha")));
    assert_eq!(w.relay.counters().drops.locked_out, 50);
    // Its own end closes the transmission; it may talk again.
    let own = w.seal_at(0, Kind::EndOfTransmission, MediaTimestamp(300 * 960), b"");
    w.send_datagram(0, own);
    w.send(0, Kind::Audio, b"again");
    assert_eq!(
        w.received(2)
            .into_iter()
            .filter(|h| h.0 != Kind::HeartbeatEcho)
            .map(|h| h.2)
            .collect::<Vec<_>>()
            .last(),
        Some(&b"again".to_vec())
    );
}
