//! The relay core driven by simulated nodes on virtual time: heartbeats,
//! datagrams that are forged, replayed or unknown, and where a stream's
//! datagrams are sent back to.

mod engine_support;

use std::net::SocketAddr;

use echostream_core::crypto::OpenErrorKind;
use echostream_core::wire::{HEADER_LEN, Kind};

use engine_support::{CH, World, config, three_on_channel};

#[test]
fn heartbeats_are_echoed() {
    let mut w = three_on_channel();
    w.send(1, Kind::Heartbeat, &123_456u64.to_be_bytes());
    let got = w.received(1);
    assert_eq!(
        got,
        vec![(
            Kind::HeartbeatEcho,
            w.nodes[1].streams[CH],
            123_456u64.to_be_bytes().to_vec()
        )]
    );
    assert!(w.nodes[0].datagrams.is_empty());
}

#[test]
fn forged_replayed_and_unknown_datagrams_are_dropped_and_counted() {
    let mut w = three_on_channel();
    let good = w.seal(0, Kind::Audio, b"a1");
    w.send_datagram(0, good.clone());
    w.received(1);
    w.received(2);
    w.send_datagram(0, good.clone());
    let mut forged = w.seal(0, Kind::Audio, b"a2");
    forged[HEADER_LEN] ^= 1;
    w.send_datagram(0, forged);
    let mut unknown = w.seal(0, Kind::Audio, b"a3");
    unknown[4..8].copy_from_slice(&999u32.to_be_bytes());
    w.send_datagram(0, unknown);
    w.send_datagram(0, vec![1, 2, 3]);
    assert!(w.nodes[1].datagrams.is_empty() && w.nodes[2].datagrams.is_empty());
    let drops = &w.relay.counters().drops;
    assert_eq!(drops.open(OpenErrorKind::Duplicate), 1);
    assert_eq!(drops.open(OpenErrorKind::Forged), 1);
    assert_eq!(drops.unknown_stream, 1);
    assert_eq!(drops.malformed, 1);
}

/// Bravo talks; whether alpha (node 0) heard it at its address, and where
/// else datagrams went.
fn alpha_hears_bravo(w: &mut World) -> (bool, Vec<SocketAddr>) {
    w.send(1, Kind::Audio, b"opus");
    let heard = w
        .received(0)
        .iter()
        .any(|(kind, _, p)| *kind == Kind::Audio && p == b"opus");
    w.received(2);
    w.send(1, Kind::EndOfTransmission, &[]);
    w.received(0);
    w.received(2);
    (heard, std::mem::take(&mut w.strays))
}

#[test]
fn an_old_datagram_replayed_from_elsewhere_leaves_the_return_address() {
    let mut w = three_on_channel();
    let old = w.seal(0, Kind::Heartbeat, &1u64.to_be_bytes());
    let older = w.seal(0, Kind::Heartbeat, &2u64.to_be_bytes());
    w.send(0, Kind::Heartbeat, &3u64.to_be_bytes());
    w.received(0);
    // Captured on the path and replayed, still inside the replay window
    // and never seen by the relay: from another port of alpha's own IP
    // (so only its age can refuse it) and from another IP.
    let same_ip = SocketAddr::from(([10, 0, 0, 1], 6666));
    let elsewhere = SocketAddr::from(([192, 0, 2, 66], 4000));
    w.send_from(same_ip, old);
    w.send_from(elsewhere, older);
    assert_eq!(w.relay.counters().return_addr_kept_not_newest, 2);
    assert_eq!(w.relay.counters().return_addr_moves, 0);
    // The replayed heartbeats' echoes went to alpha, not to the replayer.
    let echoes: Vec<_> = w.received(0).into_iter().map(|(kind, ..)| kind).collect();
    assert_eq!(echoes, [Kind::HeartbeatEcho, Kind::HeartbeatEcho]);
    assert_eq!(w.strays, []);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
}

#[test]
fn a_newer_datagram_moves_the_return_address_only_within_the_peers_ip() {
    let mut w = three_on_channel();
    // Another IP: a newer datagram is used but moves nothing.
    let elsewhere = SocketAddr::from(([192, 0, 2, 66], 4000));
    let hb = w.seal(0, Kind::Heartbeat, &2u64.to_be_bytes());
    w.send_from(elsewhere, hb);
    assert_eq!(w.relay.counters().return_addr_kept_foreign_ip, 1);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
    // Another port of alpha's IP (its NAT mapping changed): it moves.
    w.nodes[0].addr = SocketAddr::from(([10, 0, 0, 1], 6000));
    w.send(0, Kind::Heartbeat, &3u64.to_be_bytes());
    assert_eq!(w.relay.counters().return_addr_moves, 1);
    assert_eq!(w.received(0)[0].0, Kind::HeartbeatEcho);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
}

#[test]
fn with_roaming_allowed_a_newer_datagram_moves_the_return_address_anywhere() {
    let mut config = config();
    config.allow_roaming = true;
    let mut w = World::new(config, &["alpha", "bravo", "charlie"]);
    for i in 0..3 {
        w.join(i);
        w.send(i, Kind::Heartbeat, &1u64.to_be_bytes());
        w.received(i);
    }
    w.nodes[0].addr = SocketAddr::from(([192, 0, 2, 7], 5000));
    w.send(0, Kind::Heartbeat, &2u64.to_be_bytes());
    assert_eq!(w.relay.counters().return_addr_moves, 1);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
    // Even roaming, an old datagram does not move it back.
    let old = w.seal(0, Kind::Heartbeat, &3u64.to_be_bytes());
    w.send(0, Kind::Heartbeat, &4u64.to_be_bytes());
    w.send_from(SocketAddr::from(([10, 0, 0, 1], 5000)), old);
    assert_eq!(w.relay.counters().return_addr_kept_not_newest, 1);
    assert_eq!(alpha_hears_bravo(&mut w), (true, vec![]));
}
