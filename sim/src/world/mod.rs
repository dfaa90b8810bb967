//! The simulated platform: several nodes and the relay, on virtual time,
//! in one thread, with the seeded PRNG ([`crate::rng::Rng`]) as the only
//! randomness.
//!
//! Each node runs what `platform-linux` runs, with its threads' rings
//! replaced by bounded queues of the same capacity:
//!
//! ```text
//! virtual sound card ─► capture (detector + DTMF sequencer, VOX, framer + codec)
//!      ─► queues (64 frames, 64 detections) ─► node engine (core::node: gate, pre-roll,
//!         signaling, packet protection, PTT/COR, record and passthrough decisions)
//!      ─► links (latency, jitter, burst loss, reorder, duplicates, bit flips, replays,
//!         outages) ─► relay engine (echostream_relay::engine::Relay) ─► links ─► engines
//!      ─► queue (64 frames) ─► playback (jitter buffer, codec) ─► virtual output device
//! COR scripts ─► engine.handle_cor; engine's Output::Ptt ─► the PTT line's record
//! ```
//!
//! A run is a sequence of *steps*: each step is the earliest due thing (a
//! message or datagram arriving, a scheduled [`Action`], a sound card's
//! period, an engine's timer) followed by draining every engine until
//! none has output. After every observation the invariant checkers
//! ([`check`]) run; a panic inside a step is caught and reported as a
//! `no_panic` violation, and the world stops. The same seed and the same
//! builder give the same run: the same timeline, the same samples played,
//! the same violations.
//!
//! # The codec
//!
//! [`codec`]: 48 kHz → 8 kHz by averaging, G.711 µ-law, 160 bytes per
//! 20 ms frame, and back. Not Opus: an hour of two nodes must run in
//! seconds, the bytes must not depend on the machine, and the simulator
//! links no C library. To the engines it is the same: one opaque packet
//! per frame.
//!
//! # Media times
//!
//! Each capture side starts its media clock at its own origin (the `k`-th
//! sound card made at `k · 2²⁸`, 93 minutes of 48 kHz apart), as real
//! senders start anywhere: a frame is then named by its media time across
//! the world, which the packet checkers rely on. Runs longer than 93
//! minutes of audio per card would make origins overlap.
//!
//! # What the world drives
//!
//! Every decision a node makes is core's, and the world drives the same
//! pieces `platform-linux` drives; only the I/O is virtual:
//!
//! - capture ([`capture`]): `core::audio::Capture` (the detector and
//!   DTMF sequencer first, then the `Gate`: VOX or "always", a COR line
//!   counting as "always"; frames marked `active`/`reached`/`level_dbfs`;
//!   whether to wake the network turn; `finish` flushing the sequence and
//!   ending the talk-spurt) over `core::audio::Framer` (blocks → frames,
//!   media time +960 a frame, the partial frame dropped at the end, the
//!   end marker at the next frame's media time), with the stand-in codec
//!   behind `core::audio::Encoder`. The gate is made by `Gate::new` from
//!   the channel's COR timers.
//! - the queues between audio and network hold `core::audio::
//!   FRAME_RING_FRAMES` frames and `TONE_RING_EVENTS` detections, as the
//!   platform's rings; a network turn takes detections first
//!   (`Node::handle_heard`), then at most `core::node::CAPTURE_BUDGET`
//!   frames per channel, and comes at least every `core::node::IDLE_MAX`
//!   ([`IDLE_TURN`]).
//! - playback ([`playback`]): `core::audio::Player` (arrival on the
//!   device clock less the time queued, a pop when the last frame is used
//!   up, one period of silence while idle, one frame per pop whatever
//!   came out, the decoder reset at an end) over the jitter buffer, with
//!   the stand-in codec behind `core::audio::Decoder`.
//! - the node engine (`core::node::Node`) and the relay engine, as above.
//!
//! Not simulated: the recorder's files (the recording effects are
//! checked), events/MQTT/S3 delivery, the kernel's 5 ms COR debounce, DNS.
//! The relay issues its keys from the operating system's random source;
//! they change the ciphertext from run to run but nothing any engine
//! decides (a damaged or replayed datagram fails whatever the key).

pub mod builder;
pub mod capture;
pub mod check;
pub mod codec;
pub mod link;
pub mod playback;
pub mod source;
pub mod spec;
pub mod timeline;

mod drive;
mod step;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use echostream_core::node::{ChannelIndex, Event, Node, Received};
use echostream_core::record::Effect as RecordEffect;
use echostream_core::time::{Duration, Instant};
use echostream_relay::engine::{ConnId, Relay, RelayConfig};

pub use builder::{BuildError, WorldBuilder};
pub use check::{Checks, Violation};
pub use link::{BurstLoss, Link, LinkModel, LinkStats, Path};
pub use source::{Clip, PageTruth, Sound, SourceSpec};
pub use spec::{
    Action, ChannelSpec, CorScript, Direction, GateSpec, NodeSpec, OutputSpec, ToneSpec,
};
pub use timeline::{Entry, Timeline, What};

use capture::Capture;
use playback::Playback;
use step::Item;

/// The relay's UDP address as every node sees it.
pub const RELAY_UDP: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    40000,
);

/// The longest a node's capture queues wait for a network turn: core's
/// [`IDLE_MAX`](echostream_core::node::IDLE_MAX), as the platform's
/// network loop.
pub const IDLE_TURN: Duration = echostream_core::node::IDLE_MAX;

/// One channel's devices.
#[derive(Debug)]
pub struct SimChannel {
    /// Its capture side, when it has a sound card.
    pub capture: Option<Capture>,
    /// When its next capture period is due.
    capture_at: Option<Instant>,
    /// Its playback side, when it has an output.
    pub playback: Option<Playback>,
    /// When its next playback period is due.
    playback_at: Option<Instant>,
}

/// One node: its engine, its devices, its links, and what it did.
#[derive(Debug)]
pub struct SimNode {
    /// The engine.
    pub engine: Box<Node>,
    /// Its signaling connection to the relay, if any.
    pub conn: Option<ConnId>,
    /// Its UDP address.
    pub udp: SocketAddr,
    /// Its channels' devices, by index.
    pub channels: Vec<SimChannel>,
    /// Node → relay.
    pub up: Link,
    /// Relay → node.
    pub down: Link,
    /// Signaling held by an outage, each way.
    held_up: Vec<Item>,
    held_down: Vec<Item>,
    /// The connect attempt in progress.
    connecting: Option<u64>,
    /// It was told to stop.
    pub stopped: bool,
    /// Its capture queues wait for a turn.
    captured_waiting: bool,
    next_turn: Instant,
    /// Every frame delivered, per channel, with its payload (when the
    /// world logs deliveries).
    pub delivered: Vec<(ChannelIndex, Received, Vec<u8>)>,
    /// When each delivered frame was handed out (parallel to `delivered`).
    pub delivered_at: Vec<Instant>,
    /// Every event, with its time.
    pub events: Vec<(Instant, Event)>,
    /// Every signaling text it sent.
    pub sent: Vec<String>,
    /// Every recording effect, with its time.
    pub records: Vec<(Instant, ChannelIndex, RecordEffect)>,
    /// Every PTT line change, with its time.
    pub ptt: Vec<(Instant, ChannelIndex, bool)>,
}

impl SimNode {
    /// Its id.
    pub fn id(&self) -> &str {
        self.engine.config().node_id()
    }

    /// Whether any event so far matches.
    pub fn saw(&self, matches: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|(_, e)| matches(e))
    }

    /// How many events so far match.
    pub fn count(&self, matches: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| matches(e)).count()
    }

    /// The frames delivered on `channel` (when deliveries are logged).
    pub fn frames(&self, channel: usize) -> Vec<(Received, Vec<u8>)> {
        self.delivered
            .iter()
            .filter(|(c, _, _)| c.get() == channel)
            .map(|(_, r, p)| (*r, p.clone()))
            .collect()
    }

    /// What `channel`'s output device played.
    pub fn output(&self, channel: usize) -> Option<&playback::OutputDevice> {
        self.channels
            .get(channel)
            .and_then(|c| c.playback.as_ref())
            .map(|p| &p.output)
    }
}

/// The world. See the [module docs](self).
#[derive(Debug)]
pub struct World {
    seed: u64,
    /// Virtual time.
    pub now: Instant,
    step: u64,
    /// The relay engine (replaced by a fresh one at a restart).
    pub relay: Relay,
    relay_config: RelayConfig,
    /// The relay is down (between a restart's death and its new start).
    relay_down: bool,
    /// The nodes, by index.
    pub nodes: Vec<SimNode>,
    agenda: BTreeMap<(Instant, u64), Item>,
    order: u64,
    next_conn: u64,
    next_attempt: u64,
    checks: Checks,
    /// What happened.
    pub timeline: Timeline,
    halted: bool,
    log_deliveries: bool,
    /// Signaling RTTs a connect takes (0: at once).
    connect_rtts: u32,
    relay_buf: Vec<u8>,
    node_buf: Vec<u8>,
    scratch: Vec<(Instant, Vec<u8>, crate::net::Mutation)>,
    // Switches a test flips directly (as opposed to scheduled actions).
    /// The relay accepts connections.
    pub relay_up: bool,
    /// Node `i`'s datagrams are lost, both ways.
    pub udp_cut: Vec<bool>,
    /// Everything from the relay to node `i` is lost (signaling too).
    pub relay_mute: Vec<bool>,
    /// The welcome's UDP host never resolves.
    pub udp_host_stuck: bool,
    /// Extra delay for `registered` messages of one channel.
    pub registered_delay: Option<(&'static str, Duration)>,
    /// Extra delay for `rekey` messages.
    pub rekey_delay: Duration,
}

impl World {
    /// The seed the run follows.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Whether a step panicked (the world stops there).
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Every broken invariant so far.
    pub fn violations(&self) -> &[Violation] {
        self.checks.violations()
    }

    /// The index of the node named `id`.
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id() == id)
    }

    /// Runs for `span` of virtual time.
    pub fn run_for(&mut self, span: Duration) {
        self.run_until(self.now + span);
    }

    /// Runs until every node is welcomed with its channels registered
    /// (at most `within`); returns whether they are.
    pub fn await_connected(&mut self, within: Duration) -> bool {
        let until = self.now + within;
        while self.now < until {
            self.run_for(Duration::from_millis(50));
            let all = self.nodes.iter().all(|n| {
                n.engine.is_welcomed()
                    && (0..n.engine.config().channels().len()).all(|c| {
                        n.engine
                            .stream_id(ChannelIndex::new(c).expect("a channel"))
                            .is_some()
                    })
            });
            if all {
                return true;
            }
        }
        false
    }

    /// Ends the run: what the checkers still wait for is judged now.
    /// Returns every violation.
    pub fn finish(&mut self) -> &[Violation] {
        self.checks.finish(self.step, self.now);
        self.checks.violations()
    }

    /// Schedules `action` `after` from now.
    pub fn schedule(&mut self, after: Duration, action: Action) {
        let at = self.now + after;
        self.enqueue(at, Item::Action(action));
    }

    fn enqueue(&mut self, at: Instant, item: Item) {
        self.order += 1;
        self.agenda.insert((at, self.order), item);
    }
}
