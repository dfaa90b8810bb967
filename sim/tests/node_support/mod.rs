//! The node engine tests' harness, a thin layer over the simulator's
//! world ([`echostream_sim::world`]): nodes made from bare engine configs
//! (no sound cards: frames are fed by hand), 5 ms clean links, instant
//! connects, a relay with 200 ms heartbeats, every delivery logged.

#![allow(dead_code, reason = "each test file uses a different subset")]

use echostream_core::node::{Captured, NodeConfig, Received};
use echostream_core::time::{Duration, SampleIndex};
use echostream_core::wire::MediaTimestamp;
use echostream_sim::world::{LinkModel, NodeSpec, WorldBuilder};

#[allow(unused_imports)]
pub use echostream_sim::world::RELAY_UDP;
pub use echostream_sim::world::World;

/// Media time of one 20 ms frame.
pub const FRAME_UNITS: u32 = 960;

/// The seed every harness world follows.
const SEED: u64 = 1;

/// A frame's payload: recognisable, of varying length.
pub fn payload(n: u32) -> Vec<u8> {
    let mut bytes = format!("opus frame {n:05} ").into_bytes();
    bytes.resize(40 + (n as usize * 7) % 120, (n % 251) as u8);
    bytes
}

/// What the node tests do with a world beyond the library's API.
pub trait Harness {
    /// A relay and nodes `ids`, each with the channels `channels` (no
    /// pre-roll).
    fn of(ids: &[&str], channels: &[&str]) -> World;
    /// Like [`Harness::of`], with `configure(i, config)` adding to node
    /// `i`'s config after its channels.
    fn with(ids: &[&str], channels: &[&str], configure: impl Fn(usize, &mut NodeConfig)) -> World;
    /// Runs until every node is welcomed (500 ms), asserting it.
    fn connect_all(&mut self);
    /// Node `i`'s capture side makes frame `n` on `channel`, active or
    /// not; a 48 kHz device clock, frame `n` ending at sample `(n + 1) · 960`.
    fn capture(&mut self, i: usize, channel: usize, n: u32, active: bool);
    /// Node `i` talks frames `first..first + count` on `channel`, one per
    /// 20 ms, then goes quiet (one inactive frame closes the gate).
    fn talk(&mut self, i: usize, channel: usize, first: u32, count: u32);
    /// Node `i`'s capture side hands over frame `n` on `channel` uncoded
    /// (nobody wanted its packet), active or not.
    fn capture_uncoded(&mut self, i: usize, channel: usize, n: u32, active: bool);
    /// Node `i`'s capture side hands over the late packet of frame `n`.
    fn capture_late(&mut self, i: usize, channel: usize, n: u32);
}

impl Harness for World {
    fn of(ids: &[&str], channels: &[&str]) -> World {
        <World as Harness>::with(ids, channels, |_, _| {})
    }

    fn with(ids: &[&str], channels: &[&str], configure: impl Fn(usize, &mut NodeConfig)) -> World {
        let mut builder = WorldBuilder::new(SEED)
            .relay(|r| r.heartbeat_ms = 200)
            .connect_rtts(0)
            .log_deliveries(true);
        for (i, id) in ids.iter().enumerate() {
            let mut config = NodeConfig::new(
                id,
                "test-token-0123456789",
                Duration::from_secs(2),
                Duration::from_secs(1),
                i as u64 + 1,
            )
            .expect("valid node config");
            for channel in channels {
                config.add_channel(channel, 0).expect("valid channel");
            }
            configure(i, &mut config);
            builder = builder.node(NodeSpec::from_config(config).links(LinkModel::clean(5)));
        }
        builder.build().expect("a valid world")
    }

    fn connect_all(&mut self) {
        self.run_for(Duration::from_millis(500));
        for node in &self.nodes {
            assert!(node.engine.is_welcomed(), "{} welcomed", node.id());
        }
    }

    fn capture(&mut self, i: usize, channel: usize, n: u32, active: bool) {
        let payload = payload(n);
        let captured = Captured::Frame {
            timestamp: MediaTimestamp(n * FRAME_UNITS),
            fec: false,
            payload: &payload,
            active,
            reached: SampleIndex(u64::from(n + 1) * u64::from(FRAME_UNITS)),
            level_dbfs: if active { -12 } else { -70 },
        };
        self.capture_frame(i, channel, captured);
    }

    fn capture_uncoded(&mut self, i: usize, channel: usize, n: u32, active: bool) {
        let captured = Captured::Uncoded {
            timestamp: MediaTimestamp(n * FRAME_UNITS),
            active,
            reached: SampleIndex(u64::from(n + 1) * u64::from(FRAME_UNITS)),
            level_dbfs: if active { -12 } else { -70 },
        };
        self.capture_frame(i, channel, captured);
    }

    fn capture_late(&mut self, i: usize, channel: usize, n: u32) {
        let payload = payload(n);
        let captured = Captured::Late {
            timestamp: MediaTimestamp(n * FRAME_UNITS),
            fec: false,
            payload: &payload,
        };
        self.capture_frame(i, channel, captured);
    }

    fn talk(&mut self, i: usize, channel: usize, first: u32, count: u32) {
        for n in first..first + count {
            self.capture(i, channel, n, true);
            self.run_for(Duration::from_millis(20));
        }
        self.capture(i, channel, first + count, false);
    }
}

/// Frames `first..first+count` arrived intact and in order with one
/// talk-spurt start, on consecutive media sequence numbers, then the end.
pub fn assert_intact(heard: &[(Received, Vec<u8>)], first: u32, count: u32) {
    assert_eq!(
        heard.len(),
        count as usize + 1,
        "every frame and the end, nothing else"
    );
    let seq0 = heard[0].0.seq.0;
    for (i, (frame, bytes)) in heard[..count as usize].iter().enumerate() {
        let n = first + i as u32;
        assert_eq!(bytes, &payload(n), "frame {i} payload");
        assert_eq!(
            frame.timestamp,
            MediaTimestamp(n * FRAME_UNITS),
            "frame {i}"
        );
        assert_eq!(
            frame
                .flags
                .contains(echostream_core::wire::Flags::START_OF_TALKSPURT),
            i == 0,
            "frame {i} flags"
        );
        assert_eq!(frame.seq.0, seq0.wrapping_add(i as u32), "frame {i} seq");
    }
    let (end, _) = &heard[count as usize];
    assert!(end.end);
    assert_eq!(end.seq.0, seq0.wrapping_add(count));
}
