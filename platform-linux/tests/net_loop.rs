//! The network loop against a relay on loopback: two nodes exchange audio
//! through it, reconnect after it restarts, report a silent UDP path,
//! shrug off garbage datagrams, speak TLS, and survive a rekey.
//!
//! The relay is the real server (`echostream_relay::server`), except where
//! a test needs what only `support/test_relay.rs` offers (a proxy's port in
//! the welcome, a rekey on demand): the same relay core on real sockets.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use echostream::audio::pipeline::EncodedFrame;
use echostream::net::NetEvent;
use echostream_core::crypto::OpenErrorKind;
use echostream_core::node::{DisconnectReason, LinkDown};
use echostream_core::wire::{Flags, MediaTimestamp, Seq};
use echostream_relay::engine::TokenPolicy;
use echostream_relay::server::{Server, ServerConfig, ServerHandle, TlsFiles};

use support::test_relay::{RelayOptions, TestRelay};
use support::udp_proxy::BoundProxy;
use support::{FRAME_UNITS, Node, audio_frame, payload, wait_until};

const CH: &str = "fire";
const FRAME_PERIOD: Duration = Duration::from_millis(20);
const WAIT: Duration = Duration::from_secs(5);

/// The relay server on loopback (any ports, any token, 200 ms heartbeats)
/// after `edit`.
fn relay_server(edit: impl FnOnce(&mut ServerConfig)) -> ServerHandle {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = ServerConfig::new(any, any, TokenPolicy::AnyToken);
    config.heartbeat_ms = 200;
    config.stats_interval_s = 0;
    edit(&mut config);
    Server::bind(config)
        .expect("the relay binds")
        .spawn()
        .expect("the relay runs")
}

fn ws_url(relay: &ServerHandle) -> String {
    format!("ws://{}/", relay.ws_addr())
}

/// Nodes alpha and bravo on "fire", registered, each seeing both in
/// `users_connected`, each known to the relay by its UDP address.
fn two_nodes(url: &str) -> (Node, Node) {
    let mut a = Node::start("alpha", url, &[CH]);
    let mut b = Node::start("bravo", url, &[CH]);
    for node in [&mut a, &mut b] {
        node.wait_registered(CH);
        node.wait_for("users_connected with both", WAIT, |e| {
            matches!(e, NetEvent::UsersConnected { channel, users }
                if channel == CH && users.contains(&"alpha".to_owned()) && users.contains(&"bravo".to_owned()))
        });
        node.wait_echoes_above(0);
    }
    (a, b)
}

/// What one talk-spurt delivered.
struct Heard {
    frames: Vec<EncodedFrame>,
    /// Push-to-playback-ring latency of frames that arrived within their
    /// frame period.
    latencies: Vec<Duration>,
}

/// `a` talks `count` frames (numbered from `first`, paced like a capture
/// thread) and an end of transmission; `between(i)` runs after frame `i`.
/// Returns what `b` received once everything arrived.
fn talk(a: &mut Node, b: &mut Node, first: u32, count: u32, mut between: impl FnMut(u32)) -> Heard {
    let mut frames = Vec::new();
    let mut latencies = Vec::new();
    for i in 0..count {
        let n = first + i;
        let pushed = Instant::now();
        a.push(CH, audio_frame(n, i == 0));
        let period_end = pushed + FRAME_PERIOD;
        let expected = frames.len() + 1;
        while Instant::now() < period_end {
            if let Some(frame) = b.pop(CH) {
                frames.push(frame);
                if frames.len() == expected {
                    latencies.push(pushed.elapsed());
                }
            } else if frames.len() >= expected {
                std::thread::sleep(period_end.saturating_duration_since(Instant::now()));
            } else {
                std::thread::yield_now();
            }
        }
        between(i);
    }
    let n = first + count;
    a.push(
        CH,
        EncodedFrame::end_of_transmission(Seq(n), MediaTimestamp(n * FRAME_UNITS)),
    );
    let total = count as usize + 1;
    let deadline = Instant::now() + WAIT;
    while frames.len() < total {
        frames.extend(b.pop_all(CH));
        assert!(
            Instant::now() < deadline,
            "{} of {total} frames arrived; talker {:?}; listener {:?}",
            frames.len(),
            a.counters(),
            b.counters()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    Heard { frames, latencies }
}

/// The frames are `first..first+count` in order with their payloads,
/// timestamps and flags, on consecutive sequence numbers, then the end.
fn assert_intact(heard: &[EncodedFrame], first: u32, count: u32) {
    assert_eq!(
        heard.len(),
        count as usize + 1,
        "every frame and the end, nothing else"
    );
    let seq0 = heard[0].seq.0;
    for (i, frame) in heard[..count as usize].iter().enumerate() {
        let n = first + i as u32;
        assert_eq!(frame.payload(), &payload(n)[..], "frame {i} payload");
        assert_eq!(
            frame.timestamp,
            MediaTimestamp(n * FRAME_UNITS),
            "frame {i} timestamp"
        );
        assert_eq!(
            frame.flags.contains(Flags::START_OF_TALKSPURT),
            i == 0,
            "frame {i} flags"
        );
        // Heartbeat echoes and key changes leave no hole the jitter buffer
        // would conceal.
        assert_eq!(frame.seq.0, seq0.wrapping_add(i as u32), "frame {i} seq");
    }
    let end = &heard[count as usize];
    assert!(end.is_end_of_transmission());
    assert_eq!(end.seq.0, seq0.wrapping_add(count));
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[test]
fn audio_crosses_the_relay_intact_and_in_order_with_transmit_events() {
    let relay = relay_server(|_| {});
    let (mut a, mut b) = two_nodes(&ws_url(&relay));

    // 50 frames take a second: five heartbeat echoes interleave.
    let heard = talk(&mut a, &mut b, 0, 50, |_| {});
    assert_intact(&heard.frames, 0, 50);

    b.wait_for("alpha transmitting", WAIT, |e| {
        *e == NetEvent::Transmit {
            channel: CH.into(),
            node: "alpha".into(),
            active: true,
        }
    });
    b.wait_for("alpha stopped", WAIT, |e| {
        *e == NetEvent::Transmit {
            channel: CH.into(),
            node: "alpha".into(),
            active: false,
        }
    });
    assert!(a.pop_all(CH).is_empty(), "the talker does not hear itself");

    let (sent, got) = (a.counters(), b.counters());
    assert_eq!((sent.audio_out, sent.eot_out), (50, 1));
    assert_eq!((got.audio_in, got.eot_in), (50, 1));
    assert_eq!(
        got.drop_incoming_full + got.drop_malformed + got.drop_unknown_stream,
        0
    );
    assert_eq!(got.drop_open, [0; OpenErrorKind::COUNT]);
    assert!(got.heartbeats_echoed >= 3, "{got:?}");
    assert!(got.rtt_last_us > 0 && got.rtt_max_us >= got.rtt_last_us);
    assert!(b.saw(|e| matches!(e, NetEvent::Rtt { .. })));

    let mut latencies = heard.latencies;
    latencies.sort();
    assert!(
        latencies.len() >= 40,
        "most frames arrive within their period"
    );
    eprintln!(
        "capture ring -> node a -> relay -> node b -> playback ring, {} frames: p50 {} µs, p99 {} µs, max {} µs",
        latencies.len(),
        percentile(&latencies, 50).as_micros(),
        percentile(&latencies, 99).as_micros(),
        latencies.last().unwrap().as_micros()
    );

    // Stopping a node closes its WebSocket: the others learn it left.
    a.stop();
    b.wait_for("alpha gone", WAIT, |e| {
        *e == NetEvent::UsersConnected {
            channel: CH.into(),
            users: vec!["bravo".into()],
        }
    });
    b.stop();
    relay.stop().unwrap();
}

#[test]
fn both_nodes_reconnect_after_the_relay_restarts_on_the_same_ports() {
    let relay = relay_server(|_| {});
    let (ws, udp) = (relay.ws_addr(), relay.udp_addr());
    let (mut a, mut b) = two_nodes(&ws_url(&relay));
    assert_intact(&talk(&mut a, &mut b, 0, 5, |_| {}).frames, 0, 5);

    relay.stop().unwrap();
    for node in [&mut a, &mut b] {
        let down = node.wait_for("disconnected", WAIT, |e| {
            matches!(e, NetEvent::Disconnected { .. })
        });
        let NetEvent::Disconnected { retry_in, .. } = down else {
            unreachable!()
        };
        assert!(
            retry_in <= Duration::from_secs(1),
            "capped by reconnect_max"
        );
    }

    let restarted = Instant::now();
    let relay = relay_server(|config| {
        config.listen = ws;
        config.udp = udp;
    });
    let echoes = b.counters().heartbeats_echoed;
    for node in [&mut a, &mut b] {
        node.wait_registered(CH);
    }
    b.wait_echoes_above(echoes);
    let heard = talk(&mut a, &mut b, 100, 5, |_| {});
    assert_intact(&heard.frames, 100, 5);
    let elapsed = restarted.elapsed();
    assert!(
        elapsed < Duration::from_secs(5),
        "frames flow again after {elapsed:?}"
    );
    assert!(a.counters().reconnects >= 1 && b.counters().sessions == 2);
    a.stop();
    b.stop();
    relay.stop().unwrap();
}

#[test]
fn a_udp_path_that_drops_everything_is_reported_and_recovers() {
    let proxy = BoundProxy::bind();
    let relay = TestRelay::start(RelayOptions {
        advertised_udp_port: Some(proxy.addr().port()),
        ..RelayOptions::loopback()
    });
    let proxy = proxy.start(relay.udp_addr);
    let mut a = Node::start("alpha", &relay.url(), &[CH]);
    a.wait_registered(CH);
    a.wait_echoes_above(0);

    proxy.set_dropping(true);
    let lost = a.wait_for("path lost", WAIT, |e| {
        matches!(e, NetEvent::PathLost { .. })
    });
    let NetEvent::PathLost {
        relay_udp,
        silent_for,
    } = lost
    else {
        unreachable!()
    };
    assert_eq!(relay_udp, proxy.addr(), "names the address audio goes to");
    assert!(silent_for >= Duration::from_millis(400), "{silent_for:?}");
    // The counters are published after the turn that sent the event.
    let counted = Instant::now() + Duration::from_secs(1);
    while a.counters().path_lost == 0 && Instant::now() < counted {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(a.counters().path_lost, 1);

    proxy.set_dropping(false);
    a.wait_for(
        "path restored",
        WAIT,
        |e| matches!(e, NetEvent::PathRestored { relay_udp, .. } if *relay_udp == proxy.addr()),
    );
    assert!(
        !a.saw(|e| matches!(e, NetEvent::Disconnected { .. })),
        "signaling stayed up throughout"
    );
    assert_eq!(a.counters().path_lost, 1);
    a.stop();
}

#[test]
fn garbage_and_forged_datagrams_are_counted_and_do_not_disturb_audio() {
    let relay = relay_server(|_| {});
    let (mut a, mut b) = two_nodes(&ws_url(&relay));
    let (port, key_id) = b
        .seen
        .iter()
        .find_map(|e| match e {
            NetEvent::Welcomed {
                local_udp, key_id, ..
            } => Some((local_udp.port(), *key_id)),
            _ => None,
        })
        .expect("bravo was welcomed");
    let stream_id = b
        .seen
        .iter()
        .find_map(|e| match e {
            NetEvent::Registered { stream_id, .. } => Some(*stream_id),
            _ => None,
        })
        .expect("bravo registered");
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();

    let header = |version: u8, stream: u32, seq: u32| {
        let mut d = vec![version, 1, 0, key_id];
        d.extend_from_slice(&stream.to_be_bytes());
        d.extend_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(&0u32.to_be_bytes());
        d.extend_from_slice(&[0x5a; 40]); // payload + a tag that cannot verify
        d
    };
    let garbage: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),            // too short
        vec![0xff; 2000],             // too long
        header(9, stream_id, 1),      // unknown version
        header(1, 0xdead_beef, 1),    // not bravo's stream
        header(1, stream_id, 10_000), // forged: the tag does not verify
    ];
    let heard = talk(&mut a, &mut b, 0, 25, |i| {
        attacker
            .send_to(&garbage[i as usize % garbage.len()], target)
            .unwrap();
    });
    assert_intact(&heard.frames, 0, 25);

    let got = b.counters();
    assert_eq!(got.drop_malformed, 15, "{got:?}");
    assert_eq!(got.drop_unknown_stream, 5, "{got:?}");
    assert_eq!(got.open(OpenErrorKind::Forged), 5, "{got:?}");
    assert_eq!(got.audio_in, 25);
    a.stop();
    b.stop();
    relay.stop().unwrap();
}

#[test]
fn a_rekey_mid_talk_spurt_loses_nothing() {
    let relay = TestRelay::start(RelayOptions::loopback());
    let (mut a, mut b) = two_nodes(&relay.url());
    let heard = talk(&mut a, &mut b, 0, 40, |i| {
        if i == 20 {
            // The `rekey` messages arrive 100 ms (five frames) after the
            // first datagrams under the new keys.
            relay.rekey_all(Duration::from_millis(100));
        }
    });
    assert_intact(&heard.frames, 0, 40);
    for node in [&mut a, &mut b] {
        node.wait_for("rekeyed", WAIT, |e| matches!(e, NetEvent::Rekeyed { .. }));
        let counters = node.counters();
        assert_eq!(counters.rekeys, 1);
        assert_eq!(counters.open(OpenErrorKind::UnknownKey), 0, "{counters:?}");
    }
    assert!(b.counters().datagrams_parked >= 3, "{:?}", b.counters());
    assert_eq!(relay.counters().rekeys, 2);
    // And afterwards, all under the new keys.
    assert_intact(&talk(&mut a, &mut b, 40, 5, |_| {}).frames, 40, 5);
    a.stop();
    b.stop();
}

#[test]
fn wss_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let relay_cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let ca_file = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_file, relay_cert.cert.pem()).unwrap();
    let key_file = dir.path().join("relay-key.pem");
    std::fs::write(&key_file, relay_cert.signing_key.serialize_pem()).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();

    let relay = relay_server(|config| {
        config.tls = Some(TlsFiles {
            cert: ca_file.clone(),
            key: key_file,
        });
    });
    // The certificate names localhost, not 127.0.0.1.
    let url = format!("wss://localhost:{}/", relay.ws_addr().port());

    let node = |id: &str, ca: &std::path::Path| {
        let mut settings = support::settings(id, &url);
        settings.ca_file = Some(ca.to_owned());
        Node::start_with(settings, &[CH])
    };
    let mut a = node("alpha", &ca_file);
    let mut b = node("bravo", &ca_file);
    for n in [&mut a, &mut b] {
        n.wait_for(
            "connected over TLS",
            WAIT,
            |e| matches!(e, NetEvent::Connected { url } if url.starts_with("wss://")),
        );
        n.wait_registered(CH);
        n.wait_echoes_above(0);
    }
    assert_intact(&talk(&mut a, &mut b, 0, 10, |_| {}).frames, 0, 10);

    // A node that trusts another CA refuses the relay.
    let mut c = node("charlie", &other_ca);
    let down = c.wait_for("refused certificate", WAIT, |e| {
        matches!(e, NetEvent::Disconnected { .. })
    });
    let NetEvent::Disconnected { reason, detail, .. } = &down else {
        unreachable!()
    };
    assert_eq!(
        *reason,
        DisconnectReason::Link(LinkDown::Handshake),
        "{down}"
    );
    assert!(
        detail.as_deref().unwrap_or("").contains("certificate"),
        "{down}"
    );
    assert_eq!(c.counters().sessions, 0);
    a.stop();
    b.stop();
    c.stop();
    relay.stop().unwrap();
}

#[test]
fn a_refused_token_is_reported_as_a_relay_error() {
    let relay = relay_server(|config| {
        config.tokens = TokenPolicy::tokens(["the-right-token-42"]);
    });
    let mut a = Node::start("alpha", &ws_url(&relay), &[CH]);
    a.wait_for("error 401", WAIT, |e| {
        matches!(e, NetEvent::RelayError { code: 401, .. })
    });
    a.wait_for("disconnected", WAIT, |e| {
        matches!(e, NetEvent::Disconnected { .. })
    });
    assert_eq!(a.counters().sessions, 0);
    a.stop();
    relay.stop().unwrap();
}

#[test]
fn without_a_relay_captured_frames_are_drained_and_counted() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut a = Node::start("alpha", &format!("ws://127.0.0.1:{port}/"), &[CH]);
    let down = a.wait_for("connect refused", WAIT, |e| {
        matches!(e, NetEvent::Disconnected { .. })
    });
    let NetEvent::Disconnected { reason, .. } = &down else {
        unreachable!()
    };
    assert_eq!(*reason, DisconnectReason::Link(LinkDown::Connect), "{down}");
    let free = a.capture_slots(CH);
    for n in 0..10 {
        a.push(CH, audio_frame(n, n == 0));
    }
    wait_until(WAIT, "the ring drained", || {
        a.counters().drop_not_registered == 10 && a.capture_slots(CH) == free
    });
    assert_eq!(a.counters().datagrams_out, 0);
    a.stop();
}

#[test]
fn a_relay_that_accepts_but_never_answers_times_out_and_is_retried() {
    // The kernel completes TCP handshakes into the backlog; nobody ever
    // answers the WebSocket upgrade.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut settings =
        support::settings("alpha", &format!("ws://{}/", silent.local_addr().unwrap()));
    settings.connect_timeout = Duration::from_millis(300);
    let started = Instant::now();
    let mut a = Node::start_with(settings, &[CH]);
    let down = a.wait_for("time-out", WAIT, |e| {
        matches!(e, NetEvent::Disconnected { .. })
    });
    let NetEvent::Disconnected { reason, .. } = &down else {
        unreachable!()
    };
    assert_eq!(
        *reason,
        DisconnectReason::NoWelcome {
            within: echostream_core::time::Duration::from_millis(300)
        }
    );
    assert!(
        down.to_string().contains("no welcome within 300 ms"),
        "{down}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    // And it keeps trying.
    a.wait_for("second time-out", WAIT, |e| {
        matches!(e, NetEvent::Disconnected { .. })
    });
    assert!(a.counters().reconnects >= 2);
    a.stop();
}
