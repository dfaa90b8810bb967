//! Keeps the fuzz corpora seeded with valid inputs of every kind. Run with
//! `ECHOSTREAM_WRITE_FUZZ_SEEDS=1 cargo test -p echostream --test fuzz_seeds`
//! to (re)write them; without it, the test checks the seeds on disk are
//! still what the current code produces, so the corpora never go stale.

use std::path::{Path, PathBuf};

use echostream_core::crypto::{Direction, Secret, Sender, SessionKeys};
use echostream_core::wire::signal::{
    AlertType, ChannelId, Host, MAX_MESSAGE_LEN, NodeId, SecretBytes, ToNode, ToRelay, Token,
    ToneId,
};
use echostream_core::wire::{Flags, HEADER_LEN, KeyId, Kind, MediaTimestamp, StreamId};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Datagrams sealed under the `open` target's fixed key and direction.
fn sealed_datagrams() -> Vec<(String, Vec<u8>)> {
    let keys = SessionKeys::derive(&Secret::from_bytes([0x42; 32]), KeyId(1));
    let mut sender = Sender::new(&keys, Direction::RelayToNode, StreamId(7));
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let cases: [(&str, Kind, Flags, usize); 4] = [
        ("audio-start", Kind::Audio, Flags::START_OF_TALKSPURT, 60),
        ("audio-fec", Kind::Audio, Flags::FEC, 120),
        ("heartbeat", Kind::Heartbeat, Flags::NONE, 8),
        ("end", Kind::EndOfTransmission, Flags::NONE, 0),
    ];
    for (name, kind, flags, len) in cases {
        for (i, b) in buf[HEADER_LEN..HEADER_LEN + len].iter_mut().enumerate() {
            *b = i as u8;
        }
        let n = sender
            .seal(kind, flags, MediaTimestamp(960), len, &mut buf)
            .expect("seal a seed");
        out.push((name.to_owned(), buf[..n].to_vec()));
    }
    out
}

fn signal_messages() -> Vec<(String, Vec<u8>)> {
    let ch = ChannelId::new("dispatch").unwrap();
    let node = NodeId::new("station-12").unwrap();
    let mut users = heapless::Vec::new();
    users.push(node).unwrap();
    users.push(NodeId::new("station-7").unwrap()).unwrap();
    let to_relay = [
        ToRelay::Hello {
            node_id: node,
            token: Token::new("0123456789abcdef").unwrap(),
            version: 1,
        },
        ToRelay::Register { channel_id: ch },
        ToRelay::Transmit {
            channel_id: ch,
            active: true,
        },
        ToRelay::ToneDetected {
            channel_id: ch,
            tone_id: ToneId::new("Station 12").unwrap(),
            alert_type: AlertType::new("fire").unwrap(),
        },
        ToRelay::Ping { t: 123_456 },
    ];
    let to_node = [
        ToNode::Welcome {
            udp_host: Host::new("127.0.0.1").unwrap(),
            udp_port: 7000,
            key: SecretBytes::new([7; 32]),
            key_id: KeyId(1),
            heartbeat_ms: 1000,
        },
        ToNode::Registered {
            channel_id: ch,
            stream_id: StreamId(3),
        },
        ToNode::UsersConnected {
            channel_id: ch,
            users,
        },
        ToNode::Transmit {
            channel_id: ch,
            node_id: node,
            active: false,
        },
        ToNode::ToneDetected {
            channel_id: ch,
            node_id: node,
            tone_id: ToneId::new("Station 12").unwrap(),
            alert_type: AlertType::new("fire").unwrap(),
        },
        ToNode::Rekey {
            key: SecretBytes::new([9; 32]),
            key_id: KeyId(2),
        },
        ToNode::Pong { t: 123_456 },
    ];
    let mut out = Vec::new();
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    for msg in &to_relay {
        let n = msg.emit(&mut buf).unwrap();
        out.push((format!("to-relay-{}", msg.type_name()), buf[..n].to_vec()));
    }
    for msg in &to_node {
        let n = msg.emit(&mut buf).unwrap();
        out.push((format!("to-node-{}", msg.type_name()), buf[..n].to_vec()));
    }
    out
}

fn configs() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["config.json", "config.pi.json"]
        .iter()
        .map(|name| {
            (
                name.replace(".json", ""),
                std::fs::read(root.join(name)).unwrap(),
            )
        })
        .collect()
}

/// The import's fixtures: a realistic tones.cfg and one with mistakes.
fn tones_cfgs() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/twotonedetect");
    ["tones.cfg", "tones-malformed.cfg"]
        .iter()
        .map(|name| {
            (
                name.replace(".cfg", ""),
                std::fs::read(dir.join(name)).unwrap(),
            )
        })
        .collect()
}

/// `exact`: the file must equal what the code produces now (for inputs the
/// code generates); otherwise it only has to exist (hand-edited inputs).
fn check_or_write(target: &str, seeds: Vec<(String, Vec<u8>)>, exact: bool) {
    let dir = corpus_dir(target);
    let write = std::env::var_os("ECHOSTREAM_WRITE_FUZZ_SEEDS").is_some();
    for (name, bytes) in seeds {
        let path = dir.join(format!("seed-{name}"));
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
                panic!(
                    "{}: {e}; write the seeds with ECHOSTREAM_WRITE_FUZZ_SEEDS=1",
                    path.display()
                )
            });
            assert!(
                !exact || on_disk == bytes,
                "{} is stale; rewrite with ECHOSTREAM_WRITE_FUZZ_SEEDS=1",
                path.display()
            );
        }
    }
}

#[test]
fn seeds_match_what_the_code_produces() {
    check_or_write("open", sealed_datagrams(), true);
    // The same datagrams exercise the parser (their headers are valid).
    check_or_write("datagram_parse", sealed_datagrams(), true);
    check_or_write("signal_parse", signal_messages(), true);
    // The shipped configs change as features land; a seed only has to be
    // a valid config, which the corpus replay checks.
    check_or_write("config_parse", configs(), false);
    check_or_write("node_inputs", node_inputs(), true);
    check_or_write("tones_cfg", tones_cfgs(), true);
}

/// Operation strings for the `node_inputs` target (see its body for the
/// encoding): a talk-spurt, audio and echoes from the relay, a rekey, a
/// link failure and the reconnect, pages both ways, a page's recording
/// and passthrough.
fn node_inputs() -> Vec<(String, Vec<u8>)> {
    let text = |t: &str| {
        let mut bytes = t.as_bytes().to_vec();
        bytes.resize(bytes.len().div_ceil(4) * 4, b' ');
        let mut op = vec![0u8, (bytes.len() / 4) as u8];
        op.extend(bytes);
        op
    };
    let mut talk = Vec::new();
    for i in 0..30u8 {
        talk.extend([0x83, 0, 10]); // an active frame on "fire"
        talk.extend([4, 3]); // 24 ms on
        if i % 10 == 9 {
            talk.extend([2, 0, 2, 0]); // a heartbeat echo
        }
    }
    talk.extend([0x03, 0, 10, 4, 40]); // quiet: the gate closes
    let mut heard = Vec::new();
    for k in 0..20u8 {
        heard.extend([2, k % 2, k * 4, 60 + k]); // audio and ends, sealed
        heard.extend([4, 2]);
    }
    let key = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let mut rekey = text(&format!(
        "{{\"type\":\"rekey\",\"key\":\"{key}\",\"key_id\":2}}"
    ));
    rekey.extend([2, 0, 0, 40, 4, 100]);
    let mut reconnect = vec![5, 4, 255, 6];
    reconnect.extend(text(
        "{\"type\":\"users_connected\",\"channel_id\":\"fire\",\"users\":[\"a\",\"b\"]}",
    ));
    reconnect.extend([4, 255, 4, 255, 7]);
    let page = |channel: u8, labels: &str| {
        let mut op = vec![0x87, channel, labels.len() as u8];
        op.extend(labels.as_bytes());
        op
    };
    let mut pages = page(0, "Station 1|fire");
    pages.extend(page(1, "qc2 4|ems page"));
    pages.extend(page(0, "|fire")); // an empty tone id
    pages.extend(text(
        "{\"type\":\"tone_detected\",\"channel_id\":\"fire\",\"node_id\":\"b\",\"tone_id\":\"Station 7\",\"alert_type\":\"fire\"}",
    ));
    pages.extend(text(
        "{\"type\":\"tone_detected\",\"channel_id\":\"nowhere\",\"node_id\":\"b\",\"tone_id\":\"t\",\"alert_type\":\"a\"}",
    ));
    pages.extend([5]); // the link drops: the next report goes unsent
    pages.extend(page(0, "Station 2|fire"));
    // A page on "fire": it records from its tones' end and passes
    // through to "water"; a second page stacks; silence; a shutdown.
    let mut recording = Vec::new();
    let frames = |recording: &mut Vec<u8>, n: usize, op: u8| {
        for _ in 0..n {
            recording.extend([op, 0, 10, 4, 3]);
        }
    };
    frames(&mut recording, 20, 0x03);
    recording.extend([0x47, 0, 0, 0]); // Station 1 heard now
    frames(&mut recording, 25, 0x83);
    recording.extend([0x47, 0, 0x80, 10]); // its tone ended 100 ms ago
    frames(&mut recording, 40, 0x83);
    recording.extend([0x47, 0, 1, 0]); // Station 2 stacks
    recording.extend([0x47, 1, 2, 0]); // a definition "water" lacks
    frames(&mut recording, 25, 0x03);
    recording.extend([0x47, 0, 0x80, 5]);
    frames(&mut recording, 120, 0x03); // the silence stop
    recording.extend([0x47, 0, 0, 0]);
    frames(&mut recording, 10, 0x83);
    recording.push(0x27); // the node stops mid-recording
    vec![
        ("recording".to_owned(), recording),
        ("talk".to_owned(), talk),
        ("heard".to_owned(), heard),
        ("rekey".to_owned(), rekey),
        ("reconnect".to_owned(), reconnect),
        ("pages".to_owned(), pages),
    ]
}
