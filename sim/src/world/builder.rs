//! [`WorldBuilder`]: nodes, links, the relay's settings and a schedule
//! in; a [`World`] at virtual time zero out.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use echostream_core::audio::{Gate, GateSource};
use echostream_core::node::{Node, NodeConfigError, OUTPUT_BUF_LEN};
use echostream_core::time::{Duration, Instant};
use echostream_core::tone::dtmf::DtmfSequencer;
use echostream_core::tone::{ChannelDetector, Definitions};
use echostream_relay::engine::{MAX_OUTPUT_LEN, Relay, RelayConfig, TokenPolicy};

use super::capture::Capture;
use super::check::{ChannelFacts, Checks, NodeFacts, Observation};
use super::link::Link;
use super::playback::Playback;
use super::source::{CardClock, Source};
use super::spec::{Action, ChannelSpec, CorScript, GateSpec, NodeSpec};
use super::step::Item;
use super::timeline::Timeline;
use super::{RELAY_UDP, SimChannel, SimNode, World};
use crate::rng::Rng;

/// Why a world could not be made.
#[derive(Debug, Clone, PartialEq)]
pub enum BuildError {
    /// A node's engine config was refused.
    Node(NodeConfigError),
    /// Something about a node's channel, named.
    Channel {
        /// The node's id.
        node: String,
        /// The channel's id.
        channel: String,
        /// What.
        reason: String,
    },
    /// The relay's config was refused.
    Relay(String),
    /// Too many nodes (addresses and media origins run out).
    TooManyNodes,
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Node(e) => write!(f, "node config: {e}"),
            BuildError::Channel {
                node,
                channel,
                reason,
            } => write!(f, "{node} `{channel}`: {reason}"),
            BuildError::Relay(e) => write!(f, "relay config: {e}"),
            BuildError::TooManyNodes => f.write_str("at most 200 nodes"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<NodeConfigError> for BuildError {
    fn from(e: NodeConfigError) -> BuildError {
        BuildError::Node(e)
    }
}

/// Builds a [`World`]. Everything about a run is here and in the seed.
#[derive(Debug)]
pub struct WorldBuilder {
    seed: u64,
    relay: RelayConfig,
    nodes: Vec<NodeSpec>,
    actions: Vec<(Duration, Action)>,
    period_frames: usize,
    log_deliveries: bool,
    connect_rtts: u32,
}

/// Device samples per period unless set: 5 ms at 48 kHz, the platform's
/// default ALSA period.
pub const PERIOD_FRAMES: usize = 240;

impl WorldBuilder {
    /// A world following `seed`, with no nodes yet and a relay with the
    /// default heartbeat (2.5 s) taking any token.
    pub fn new(seed: u64) -> WorldBuilder {
        WorldBuilder {
            seed,
            relay: RelayConfig::new("127.0.0.1", RELAY_UDP.port(), TokenPolicy::AnyToken),
            nodes: Vec::new(),
            actions: Vec::new(),
            period_frames: PERIOD_FRAMES,
            log_deliveries: false,
            connect_rtts: 1,
        }
    }

    /// Adds a node (its index is the number added before it).
    pub fn node(mut self, node: NodeSpec) -> WorldBuilder {
        self.nodes.push(node);
        self
    }

    /// Changes the relay's config.
    pub fn relay(mut self, configure: impl FnOnce(&mut RelayConfig)) -> WorldBuilder {
        configure(&mut self.relay);
        self
    }

    /// Does `action` at `at`.
    pub fn at(mut self, at: Duration, action: Action) -> WorldBuilder {
        self.actions.push((at, action));
        self
    }

    /// Drives node `node`'s channel `channel`'s COR line by `script`.
    pub fn cor(mut self, node: usize, channel: usize, script: &CorScript) -> WorldBuilder {
        for (at, active) in script.changes() {
            self.actions.push((
                at,
                Action::Cor {
                    node,
                    channel,
                    active,
                },
            ));
        }
        self
    }

    /// Sound cards hand over periods of `frames` samples (a divisor of a
    /// 20 ms frame; 240 unless set).
    pub fn period_frames(mut self, frames: usize) -> WorldBuilder {
        self.period_frames = frames;
        self
    }

    /// Keeps every delivered frame with its payload in [`SimNode::delivered`].
    pub fn log_deliveries(mut self, on: bool) -> WorldBuilder {
        self.log_deliveries = on;
        self
    }

    /// A signaling connect takes this many round trips (1 unless set; 0:
    /// at once).
    pub fn connect_rtts(mut self, rtts: u32) -> WorldBuilder {
        self.connect_rtts = rtts;
        self
    }

    /// The world at virtual time zero.
    ///
    /// # Errors
    /// A config the engines refuse, a page of a tone a channel does not
    /// define, an unreadable source, an unusable jitter or period setting.
    pub fn build(self) -> Result<World, BuildError> {
        if self.nodes.len() > 200 {
            return Err(BuildError::TooManyNodes);
        }
        let relay = Relay::new(self.relay.clone()).map_err(|e| BuildError::Relay(e.to_string()))?;
        let mut rng = Rng::new(self.seed);
        let mut nodes = Vec::new();
        let mut facts = Vec::new();
        let mut pages = Vec::new();
        let mut cards = 0u32;
        let mut agenda = BTreeMap::new();
        let mut order = 0;
        for (n, spec) in self.nodes.into_iter().enumerate() {
            let mut config = spec.config.clone();
            config.seed = rng.next_u64();
            let id = config.node_id().to_owned();
            let mut channels = Vec::new();
            let mut channel_facts = Vec::new();
            for (c, ch) in spec.channels.iter().enumerate() {
                let err = |reason: String| BuildError::Channel {
                    node: id.clone(),
                    channel: ch.id.clone(),
                    reason,
                };
                let (sim, found) =
                    channel(ch, self.period_frames, &mut cards, &mut rng).map_err(err)?;
                for page in found {
                    pages.push((n, c, page));
                }
                channels.push(sim);
                channel_facts.push(ChannelFacts {
                    id: ch.id.clone(),
                    rate_hz: 48_000,
                    ptt: ch.ptt.then_some(ch.timers),
                    jitter: ch.output.map(|_| ch.jitter),
                    record: config.channels()[c].record,
                    alerts: ch
                        .tones
                        .iter()
                        .map(|t| (t.tone_id.clone(), t.record_length_ms))
                        .collect(),
                    pages_known: ch.source.is_some(),
                });
            }
            if channel_facts.iter().all(|c| c.alerts.is_empty()) {
                // Hand-fed channels: their alert labels come from the config.
                for (c, cf) in channel_facts.iter_mut().enumerate() {
                    cf.alerts = config.channels()[c]
                        .alerts
                        .iter()
                        .map(|a| (a.tone_id.to_string(), a.record_length_ms))
                        .collect();
                }
            }
            facts.push(NodeFacts {
                id: id.clone(),
                channels: channel_facts,
            });
            nodes.push(SimNode {
                engine: Box::new(Node::new(config)),
                conn: None,
                udp: SocketAddr::from(([127, 0, 1 + (n / 250) as u8, (n % 250) as u8 + 1], 5000)),
                channels,
                up: Link::new(spec.up.clone(), rng.next_u64()),
                down: Link::new(spec.down.clone(), rng.next_u64()),
                held_up: Vec::new(),
                held_down: Vec::new(),
                connecting: None,
                stopped: false,
                captured_waiting: false,
                next_turn: Instant::ZERO,
                delivered: Vec::new(),
                delivered_at: Vec::new(),
                events: Vec::new(),
                sent: Vec::new(),
                records: Vec::new(),
                ptt: Vec::new(),
            });
        }
        for (at, action) in self.actions {
            order += 1;
            agenda.insert((Instant::ZERO + at, order), Item::Action(action));
        }
        let mut checks = Checks::standard(self.seed, &facts);
        for (n, c, page) in &pages {
            let observation = Observation::Page {
                node: *n,
                channel: *c,
                page,
            };
            checks.observe(0, Instant::ZERO, &observation);
        }
        let count = nodes.len();
        Ok(World {
            seed: self.seed,
            now: Instant::ZERO,
            step: 0,
            relay,
            relay_config: self.relay,
            relay_down: false,
            nodes,
            agenda,
            order,
            next_conn: 1,
            next_attempt: 1,
            checks,
            timeline: Timeline::default(),
            halted: false,
            log_deliveries: self.log_deliveries,
            connect_rtts: self.connect_rtts,
            relay_buf: vec![0; MAX_OUTPUT_LEN],
            node_buf: vec![0; OUTPUT_BUF_LEN],
            scratch: Vec::new(),
            relay_up: true,
            udp_cut: vec![false; count],
            relay_mute: vec![false; count],
            udp_host_stuck: false,
            registered_delay: None,
            rekey_delay: Duration::ZERO,
        })
    }
}

/// Media-time origins of consecutive sound cards (see the world's docs).
const ORIGIN_STEP: u32 = 1 << 28;

/// A channel's devices, and the pages in its source.
fn channel(
    spec: &ChannelSpec,
    period_frames: usize,
    cards: &mut u32,
    rng: &mut Rng,
) -> Result<(SimChannel, Vec<super::PageTruth>), String> {
    const RATE_HZ: u32 = 48_000;
    let mut sim = SimChannel {
        capture: None,
        capture_at: None,
        playback: None,
        playback_at: None,
    };
    let mut pages = Vec::new();
    if let Some(source) = &spec.source {
        let definition = |tone_id: &str| {
            spec.tones
                .iter()
                .find(|t| t.tone_id == tone_id)
                .map(|t| t.definition)
        };
        let (source, found) = Source::render(source, RATE_HZ, definition, rng.next_u64())?;
        pages = found;
        let detector = detector(spec, RATE_HZ)?;
        let opening = match spec.gate {
            GateSpec::Always => GateSource::Always,
            GateSpec::CorLine => GateSource::CorLine,
            GateSpec::Vox { threshold_dbfs } => GateSource::Vox { threshold_dbfs },
        };
        let gate = Gate::new(opening, RATE_HZ, &spec.timers).map_err(|e| format!("vox: {e}"))?;
        *cards += 1;
        let origin = cards.wrapping_mul(ORIGIN_STEP);
        let mut capture = Capture::new(
            source,
            gate,
            detector,
            period_frames,
            origin,
            spec.preroll_frames,
        );
        capture.source.period_jitter_us = capture
            .source
            .period_jitter_us
            .min((period_frames as u64 * 500_000 / u64::from(RATE_HZ)) as u32);
        let first = capture.source.clock.time_of(period_frames as u64);
        sim.capture_at = Some(Instant::ZERO + first);
        sim.capture = Some(capture);
    }
    if let Some(output) = spec.output {
        let clock = CardClock {
            rate_hz: RATE_HZ,
            drift_ppm: output.drift_ppm,
        };
        let jitter_us = output
            .period_jitter_us
            .min((period_frames as u64 * 500_000 / u64::from(RATE_HZ)) as u32);
        let playback = Playback::new(
            spec.jitter,
            clock,
            period_frames,
            jitter_us,
            output.keep_samples,
        )?;
        sim.playback_at = Some(Instant::ZERO);
        sim.playback = Some(playback);
    }
    Ok((sim, pages))
}

/// A channel's detector and, with DTMF on, its sequencer.
type Detection = (Box<ChannelDetector>, Option<DtmfSequencer>);

/// The channel's detector and DTMF sequencer, if it listens for anything.
fn detector(spec: &ChannelSpec, rate_hz: u32) -> Result<Option<Detection>, String> {
    if spec.tones.is_empty() && spec.dtmf.is_none() {
        return Ok(None);
    }
    let mut definitions = Definitions::new();
    for tone in &spec.tones {
        definitions
            .push(tone.definition)
            .map_err(|e| format!("tone `{}`: {e}", tone.tone_id))?;
    }
    let mut detector =
        ChannelDetector::new(rate_hz, &definitions).map_err(|e| format!("detector: {e}"))?;
    detector
        .set_dtmf(spec.dtmf.as_ref().map(|(c, _)| c))
        .map_err(|e| format!("dtmf: {e}"))?;
    let sequencer = match spec.sequence(rate_hz) {
        Some(config) => {
            Some(DtmfSequencer::new(config).map_err(|e| format!("dtmf sequence: {e}"))?)
        }
        None => None,
    };
    Ok(Some((Box::new(detector), sequencer)))
}
