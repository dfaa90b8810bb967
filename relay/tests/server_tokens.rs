//! Tokens bound to nodes and channels, against the real `echostream-relay`
//! on loopback: a token cannot be another node, use a channel it has no
//! right to, or fill the relay past its own limits, and a token removed
//! from the file (SIGHUP) ends its session.

mod support;

use std::path::Path;
use std::time::Duration;

use echostream_core::wire::Flags;
use support::{Event, Msg, Node, RelayProcess, Signaling, assert_audio_flows};

/// A strong token per role, and its line.
fn token(name: &str) -> String {
    format!("{name}-token-0123456789abcdef")
}

fn line(name: &str, rights: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token(name).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex} {rights}\n")
}

fn write_tokens(path: &Path, lines: &[String]) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, lines.concat()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn relay_with(lines: &[String]) -> (RelayProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    write_tokens(&path, lines);
    let relay = RelayProcess::start(&["--tokens", path.to_str().unwrap(), "--strict"]);
    (relay, dir)
}

/// Says `hello` as `node` with `token` and expects an `error` with
/// `code`, then the close.
fn refused_hello(relay: &RelayProcess, node: &str, token: &str, code: u16) {
    let mut s = Signaling::connect(relay.ws);
    s.hello(node, token);
    match s.next(support::PATIENCE) {
        Some(Event::Msg(Msg::Error { code: got, .. })) if got == code => {}
        other => panic!("{node}: expected error {code}, got {other:?}"),
    }
    assert!(s.closed(support::PATIENCE).is_some(), "{node}: not closed");
}

/// `talker` lets `channel` go; `listener` gets the end of transmission.
fn release(talker: &mut Node, listener: &mut Node, channel: &str) {
    talker.send_text(&format!(
        r#"{{"type":"transmit","channel_id":"{channel}","active":false}}"#
    ));
    let end = listener.receive_media().expect("an end of transmission");
    assert_eq!(end.kind, echostream_core::wire::Kind::EndOfTransmission);
}

fn error_code(node: &mut Node) -> u16 {
    match node.wait_for(|m| matches!(m, Msg::Error { .. })) {
        Msg::Error { code, .. } => code,
        _ => unreachable!("matched above"),
    }
}

#[test]
fn a_token_cannot_be_another_node_and_the_real_session_is_untouched() {
    let (relay, _dir) = relay_with(&[
        line("a", "node=station-a listen=fire talk=fire"),
        line("b", "node=station-b listen=fire talk=fire"),
        line("a2", "node=station-a listen=fire talk=fire"),
    ]);
    let mut a = Node::join(&relay, "station-a", &token("a"));
    let mut b = Node::join(&relay, "station-b", &token("b"));
    a.register("fire");
    b.register("fire");
    assert_audio_flows(&mut a, &mut b, "fire", 3);

    // B's token as station-a: not B's node. A second token of station-a's
    // own: station-a is connected with another one.
    refused_hello(&relay, "station-a", &token("b"), 403);
    refused_hello(&relay, "station-a", &token("a2"), 409);

    // The real station-a never noticed: it hears and is heard.
    assert_audio_flows(&mut a, &mut b, "fire", 3);
    release(&mut a, &mut b, "fire");
    assert_audio_flows(&mut b, &mut a, "fire", 3);
    release(&mut b, &mut a, "fire");
    assert!(
        !a.messages_within(Duration::from_millis(200))
            .iter()
            .any(|e| matches!(e, Event::Closed(_) | Event::Msg(Msg::Error { .. }))),
        "station-a was disturbed"
    );

    // Its own token replaces it (a node reconnecting).
    let mut again = Node::join(&relay, "station-a", &token("a"));
    assert_eq!(a.wait_closed(), Some(1008));
    again.register("fire");
    assert_audio_flows(&mut b, &mut again, "fire", 2);

    let stats = relay.stop();
    assert_eq!(stats.get("auth_wrong_node"), 2, "{stats:?}");
    assert_eq!(stats.get("sessions_welcomed"), 3);
}

#[test]
fn a_token_registers_hears_and_talks_only_where_it_may() {
    let (relay, _dir) = relay_with(&[
        line("full", "node=dispatch listen=fire talk=fire"),
        line("ear", "node=scanner listen=fire,pages-*"),
        line("mouth", "node=pager talk=fire"),
    ]);
    let mut full = Node::join(&relay, "dispatch", &token("full"));
    let mut ear = Node::join(&relay, "scanner", &token("ear"));
    let mut mouth = Node::join(&relay, "pager", &token("mouth"));

    // A channel the token may neither hear nor talk on is refused.
    ear.send_text(r#"{"type":"register","channel_id":"ems"}"#);
    assert_eq!(error_code(&mut ear), 403);
    ear.register("pages-north");
    for node in [&mut full, &mut ear, &mut mouth] {
        node.register("fire");
    }

    // The full member talks: the listener hears it, the talk-only one not.
    assert_audio_flows(&mut full, &mut ear, "fire", 3);
    mouth.assert_no_datagram(Duration::from_millis(300));
    release(&mut full, &mut ear, "fire");

    // The listen-only node's audio reaches nobody and never takes the
    // channel, and its page report is not passed on.
    ear.send_audio("fire", Flags::NONE, b"from the scanner");
    ear.send_text(
        r#"{"type":"tone_detected","channel_id":"fire","tone_id":"Station 1","alert_type":"fire"}"#,
    );
    full.assert_no_datagram(Duration::from_millis(300));
    assert!(
        !full
            .messages_within(Duration::from_millis(200))
            .iter()
            .any(|e| matches!(e, Event::Msg(Msg::ToneDetected { .. }))),
        "a listener's page report was passed on"
    );

    // The talk-only node is heard.
    assert_audio_flows(&mut mouth, &mut full, "fire", 2);

    let stats = relay.stop();
    assert_eq!(stats.get("register_forbidden"), 1, "{stats:?}");
    assert_eq!(stats.get("drop_no_talk_right"), 1, "{stats:?}");
    assert_eq!(stats.get("tone_reports_forbidden"), 1, "{stats:?}");
}

#[test]
fn one_token_filling_the_relay_meets_its_own_limit_and_nobody_else_does() {
    let (relay, _dir) = relay_with(&[
        line(
            "fleet",
            "node=engine-* sessions=3 channels=4 listen=* talk=*",
        ),
        line("a", "node=station-a listen=fire talk=fire"),
        line("b", "node=station-b listen=fire talk=fire"),
    ]);
    let mut engines: Vec<Node> = (1..=3)
        .map(|n| Node::join(&relay, &format!("engine-{n}"), &token("fleet")))
        .collect();
    refused_hello(&relay, "engine-4", &token("fleet"), 429);
    for n in 1..=4 {
        engines[0].register(&format!("grab-{n}"));
    }
    engines[1].send_text(r#"{"type":"register","channel_id":"grab-5"}"#);
    assert_eq!(error_code(&mut engines[1]), 429);

    // Another node's own token is not touched by the fleet's use.
    let mut a = Node::join(&relay, "station-a", &token("a"));
    let mut b = Node::join(&relay, "station-b", &token("b"));
    a.register("fire");
    b.register("fire");
    assert_audio_flows(&mut a, &mut b, "fire", 2);

    let stats = relay.stop();
    assert_eq!(stats.get("token_limits"), 2, "{stats:?}");
}

#[test]
fn sighup_removing_a_token_closes_its_session_and_keeps_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let a = line("a", "node=station-a listen=fire talk=fire");
    let b = line("b", "node=station-b listen=fire talk=fire");
    write_tokens(&path, &[a.clone(), b]);
    let relay = RelayProcess::start(&["--tokens", path.to_str().unwrap()]);
    let mut station_a = Node::join(&relay, "station-a", &token("a"));
    let mut station_b = Node::join(&relay, "station-b", &token("b"));
    station_a.register("fire");
    station_b.register("fire");
    let welcomed = relay
        .wait_log("node=station-b token=", support::PATIENCE)
        .expect("the welcome names the token by fingerprint");
    assert!(!welcomed.contains(&token("b")), "{welcomed}");

    // B's line removed; a broken file in between is refused and changes
    // nothing.
    std::fs::write(&path, "not a valid line at all\n").unwrap();
    relay.signal(libc::SIGHUP);
    relay
        .wait_log("tokens not reloaded", support::PATIENCE)
        .expect("a bad file is refused");
    assert_audio_flows(&mut station_a, &mut station_b, "fire", 2);
    write_tokens(&path, &[a]);
    relay.signal(libc::SIGHUP);
    let reloaded = relay
        .wait_log("tokens reloaded", support::PATIENCE)
        .expect("reloaded");
    assert!(reloaded.contains("sessions_closed=1"), "{reloaded}");
    assert_eq!(error_code(&mut station_b), 401);
    assert_eq!(station_b.wait_closed(), Some(1008));
    refused_hello(&relay, "station-b", &token("b"), 401);

    // station-a kept its session.
    station_a.send_text(r#"{"type":"ping","t":7}"#);
    station_a.wait_for(|m| matches!(m, Msg::Pong { t: 7 }));
    let stats = relay.stop();
    assert_eq!(stats.get("sessions_closed_revoked"), 1, "{stats:?}");
}
