// The body of the `node_inputs` fuzz target, shared with the stable corpus
// replay test: a node engine, welcomed under a fixed key, fed any sequence
// of relay texts, datagrams (sealed under that key or not), captured
// frames, pages heard (labels of any text), alerts and tone ends (which
// record and pass through), COR edges (the radios key and hold audio),
// shutdowns, link failures and clock steps.
// Nothing may panic, every drain must end, and the engine must keep its
// bounds.
|data: &[u8]| {
    use echostream_core::crypto::{Direction, Secret, Sender, SessionKeys};
    use echostream_core::node::{
        Captured, ChannelIndex, LinkDown, Node, NodeConfig, OUTPUT_BUF_LEN, Output,
    };
    use echostream_core::time::{Duration, Instant, SampleIndex};
    use echostream_core::wire::{Flags, HEADER_LEN, KeyId, Kind, MediaTimestamp, StreamId};
    use std::net::SocketAddr;

    let relay: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let mut config = NodeConfig::new(
        "fuzz-node",
        "fuzz-token-0123456789",
        Duration::from_secs(2),
        Duration::from_secs(5),
        7,
    )
    .unwrap();
    let fire = config.add_channel("fire", 5).unwrap();
    let water = config.add_channel("water", 0).unwrap();
    // Pages on `fire` record (with a silence stop) and pass through to `water`.
    let record = echostream_core::record::RecordConfig {
        rate_hz: 48_000,
        silence_stop_ms: 1_000,
        min_ms: 500,
        silence_threshold_dbfs: -50,
    };
    config.set_audio(fire, 48_000, Some(record)).unwrap();
    config.add_alert(fire, "Station 1", "fire", 0, 2_000, Some(water)).unwrap();
    config.add_alert(fire, "Station 2", "ems", 500, 1_000, None).unwrap();
    // `fire` has a COR line and a transmitter with a short time-out; the
    // passthrough target keys too, half duplex, waiting for a busy receiver.
    let timers = echostream_core::ptt::Timers {
        tx_delay_ms: 100,
        ptt_hang_ms: 200,
        timeout_s: 1,
        lockout_s: 1,
        ..echostream_core::ptt::Timers::DEFAULT
    };
    let radio = echostream_core::node::RadioConfig {
        timers,
        cor_line: true,
        ptt: true,
        full_duplex: false,
        busy_lockout: true,
        busy_wait_ms: 300,
    };
    config.set_radio(fire, radio).unwrap();
    config.set_radio(water, echostream_core::node::RadioConfig { cor_line: false, busy_lockout: false, ..radio }).unwrap();
    let mut node = Box::new(Node::new(config));
    let mut buf = vec![0u8; OUTPUT_BUF_LEN];
    let mut now = Instant::ZERO;
    let drain = |node: &mut Node, buf: &mut [u8], now: Instant| {
        let mut outputs = 0;
        while let Some(output) = node.poll_output(buf) {
            outputs += 1;
            assert!(outputs < 10_000, "a drain ends");
            if let Output::OpenMedia { .. } = output {
                node.handle_media_ready(now, "127.0.0.1:40000".parse().unwrap());
            }
        }
    };
    // Connected, welcomed under a fixed key, both channels registered.
    let secret = [0x42u8; 32];
    node.handle_timeout(now);
    drain(&mut node, &mut buf, now);
    node.handle_connected(now);
    drain(&mut node, &mut buf, now);
    let key = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";
    node.handle_text(
        now,
        &format!(
            "{{\"type\":\"welcome\",\"udp_host\":\"127.0.0.1\",\"udp_port\":40000,\"key\":\"{key}\",\"key_id\":1,\"heartbeat_ms\":100}}"
        ),
    );
    drain(&mut node, &mut buf, now);
    for (channel, stream) in [("fire", 7), ("water", 8)] {
        node.handle_text(
            now,
            &format!("{{\"type\":\"registered\",\"channel_id\":\"{channel}\",\"stream_id\":{stream}}}"),
        );
        drain(&mut node, &mut buf, now);
    }
    let keys = SessionKeys::derive(&Secret::from_bytes(secret), KeyId(1));
    let mut senders = [
        Sender::new(&keys, Direction::RelayToNode, StreamId(7)),
        Sender::new(&keys, Direction::RelayToNode, StreamId(8)),
    ];

    let mut rest = data;
    let mut frame = 0u32;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let take = |rest: &mut &[u8], n: usize| {
            let n = n.min(rest.len());
            let (head, tail) = rest.split_at(n);
            *rest = tail;
            head.to_vec()
        };
        match op % 8 {
            0 => {
                // A text from the relay.
                let len = usize::from(take(&mut rest, 1).first().copied().unwrap_or(0)) * 4;
                let text = String::from_utf8_lossy(&take(&mut rest, len)).into_owned();
                node.handle_text(now, &text);
            }
            1 => {
                // Raw bytes as a datagram, from the relay or a stranger.
                let len = usize::from(take(&mut rest, 1).first().copied().unwrap_or(0)) * 6;
                let mut bytes = take(&mut rest, len);
                let from = if op & 0x80 != 0 { relay } else { "127.0.0.2:9".parse().unwrap() };
                node.handle_datagram(now, from, &mut bytes);
            }
            2 => {
                // A datagram sealed under the session key.
                let head = take(&mut rest, 3);
                let (s, k, len) = match head[..] {
                    [a, b, c] => (usize::from(a % 2), b, usize::from(c) % 200),
                    _ => continue,
                };
                let kind = match k % 4 {
                    0 => Kind::Audio,
                    1 => Kind::EndOfTransmission,
                    2 => Kind::HeartbeatEcho,
                    _ => Kind::Heartbeat,
                };
                let len = if kind == Kind::HeartbeatEcho { 8 } else { len };
                let mut bytes = vec![k; HEADER_LEN + len + 16];
                let flags = if k & 0x10 != 0 { Flags::START_OF_TALKSPURT } else { Flags::NONE };
                if let Ok(n) = senders[s].seal(kind, flags, MediaTimestamp(u32::from(k) * 960), len, &mut bytes) {
                    node.handle_datagram(now, relay, &mut bytes[..n]);
                }
            }
            3 => {
                // A captured frame, active or not, or the capture's end.
                let head = take(&mut rest, 2);
                let (c, len) = match head[..] {
                    [a, b] => (usize::from(a % 2), usize::from(b) * 6),
                    _ => continue,
                };
                let channel = ChannelIndex::new(c).unwrap();
                frame += 1;
                let payload = vec![0x5a; len];
                let captured = if op & 0x40 != 0 {
                    Captured::End { timestamp: MediaTimestamp(frame * 960) }
                } else if op & 0x10 != 0 {
                    // A frame not coded, or the late packet of one.
                    if op & 0x20 != 0 {
                        let back = u32::from(head[1] % 16);
                        Captured::Late {
                            timestamp: MediaTimestamp(frame.wrapping_sub(back).wrapping_mul(960)),
                            fec: false,
                            payload: &payload,
                        }
                    } else {
                        Captured::Uncoded {
                            timestamp: MediaTimestamp(frame * 960),
                            active: op & 0x80 != 0,
                            reached: SampleIndex(u64::from(frame + 1) * 960),
                            level_dbfs: -70,
                        }
                    }
                } else {
                    Captured::Frame {
                        timestamp: MediaTimestamp(frame * 960),
                        fec: op & 0x20 != 0,
                        payload: &payload,
                        active: op & 0x80 != 0,
                        reached: SampleIndex(u64::from(frame + 1) * 960),
                        level_dbfs: if op & 0x80 != 0 { -10 } else { -70 },
                    }
                };
                node.handle_captured(now, channel, captured);
            }
            4 => {
                // The clock moves on and the timers run.
                let step = u64::from(take(&mut rest, 1).first().copied().unwrap_or(0));
                now += Duration::from_millis(step * 8);
                node.handle_timeout(now);
            }
            5 => node.handle_disconnected(now, LinkDown::Eof),
            6 => node.handle_connected(now),
            7 if op & 0x80 != 0 => {
                // A page heard on a channel: `tone_id|alert_type`, up to
                // 63 bytes of any text (too long, empty, bad characters).
                let head = take(&mut rest, 2);
                let (c, len) = match head[..] {
                    [a, b] => (usize::from(a % 2), usize::from(b % 64)),
                    _ => continue,
                };
                let labels = String::from_utf8_lossy(&take(&mut rest, len)).into_owned();
                let (tone_id, alert_type) = labels.split_once('|').unwrap_or((&labels, "fire"));
                node.report_alert(now, ChannelIndex::new(c).unwrap(), tone_id, alert_type);
            }
            7 if op & 0x40 != 0 => {
                // A page (definition 0, 1 or one the channel lacks), a DTMF
                // digit, or where an alerted tone ended, near the audio's
                // position on a channel.
                use echostream_core::tone::{DefinitionIndex, Measured, ToneEvent};
                let head = take(&mut rest, 3);
                let (c, what, back) = match head[..] {
                    [a, b, d] => (usize::from(a % 2), b, u64::from(d) * 480),
                    _ => continue,
                };
                let channel = ChannelIndex::new(c).unwrap();
                let at = SampleIndex((u64::from(frame) * 960).saturating_sub(back));
                if what & 0x80 != 0 {
                    node.handle_tones_end(now, channel, at);
                } else {
                    let event = ToneEvent {
                        definition: DefinitionIndex::new(usize::from(what % 4)).filter(|_| what & 0x40 == 0),
                        measured: Measured::TwoTone { a_hz: 349.0, b_hz: 707.3 },
                        start: SampleIndex(at.0.saturating_sub(192_000)),
                        end: at,
                        detected_at: at,
                        latency_ms: u32::from(what),
                    };
                    node.handle_tone(now, channel, event);
                }
            }
            7 if op & 0x20 != 0 => node.handle_shutdown(now),
            7 if op & 0x10 != 0 => {
                // A COR line edge (chatter, a stuck line).
                node.handle_cor(now, ChannelIndex::new(usize::from(op & 1)).unwrap(), op & 8 != 0);
            }
            _ => node.handle_binary(now),
        }
        drain(&mut node, &mut buf, now);
        assert!(node.poll_timeout().is_some(), "the engine always has a next deadline");
    }
}
