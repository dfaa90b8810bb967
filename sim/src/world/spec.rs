//! What a world is made of: nodes with their channels (the node engine's
//! [`NodeConfig`] plus what the simulator adds: tone definitions for the
//! detector, how the channel's activity is judged, its virtual sound
//! cards), their links to the relay, and what happens when.

use echostream_core::jitter::JitterConfig;
use echostream_core::node::{ChannelIndex, NodeConfig, NodeConfigError, RadioConfig};
use echostream_core::ptt::Timers;
use echostream_core::record::RecordConfig;
use echostream_core::time::Duration;
use echostream_core::tone::dtmf::{DtmfConfig, SequenceConfig};
use echostream_core::tone::{Definition, TwoToneDef};

use super::link::{LinkModel, Path};
use super::source::SourceSpec;

/// How a channel's activity is judged (its `cor` setting).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GateSpec {
    /// Always active.
    Always,
    /// Voice-operated at this RMS level (the channel's COR timers are its
    /// debounce and hang).
    Vox {
        /// The threshold, dBFS.
        threshold_dbfs: f32,
    },
    /// A COR line the world's scripts drive (the capture side calls every
    /// frame active; the engine opens the channel from the line).
    CorLine,
}

/// One tone definition and what its alert does.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneSpec {
    /// Its name (reported to the other sites).
    pub tone_id: String,
    /// Its label.
    pub alert_type: String,
    /// What the detector listens for.
    pub definition: Definition,
    /// Recording starts this long after the page's tones.
    pub record_delay_ms: u32,
    /// Recorded and passed through for this long; 0: neither.
    pub record_length_ms: u32,
    /// The channel (by id) its audio is passed through to.
    pub passthrough: Option<String>,
}

impl ToneSpec {
    /// A Quick Call II page (A then B, [`TwoToneDef::quick_call`]) that
    /// records nothing.
    pub fn quick_call(tone_id: &str, a_hz: f32, b_hz: f32) -> ToneSpec {
        ToneSpec {
            tone_id: tone_id.to_owned(),
            alert_type: "fire".to_owned(),
            definition: Definition::TwoTone(TwoToneDef::quick_call(a_hz, b_hz)),
            record_delay_ms: 0,
            record_length_ms: 0,
            passthrough: None,
        }
    }

    /// Records `length_ms` from `delay_ms` after the page.
    pub fn record(mut self, delay_ms: u32, length_ms: u32) -> ToneSpec {
        self.record_delay_ms = delay_ms;
        self.record_length_ms = length_ms;
        self
    }

    /// Passes the page's audio through to channel `target`.
    pub fn passthrough(mut self, target: &str) -> ToneSpec {
        self.passthrough = Some(target.to_owned());
        self
    }
}

/// A virtual output device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputSpec {
    /// Its clock's offset, ppm.
    pub drift_ppm: f64,
    /// Periods are taken up to this late, µs.
    pub period_jitter_us: u32,
    /// Keep every sample played (for a WAV file or a comparison), not
    /// only their hash.
    pub keep_samples: bool,
}

impl Default for OutputSpec {
    fn default() -> OutputSpec {
        OutputSpec {
            drift_ppm: 0.0,
            period_jitter_us: 0,
            keep_samples: false,
        }
    }
}

/// One channel of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    /// The id registered with the relay.
    pub id: String,
    /// Frames kept from before it opens.
    pub preroll_frames: usize,
    /// How its activity is judged.
    pub gate: GateSpec,
    /// Its tone definitions, in detector order.
    pub tones: Vec<ToneSpec>,
    /// DTMF, with its sequence time-out in ms.
    pub dtmf: Option<(DtmfConfig, u32)>,
    /// How it records (when any tone records; `None`: the defaults, no
    /// early stop).
    pub record: Option<RecordConfig>,
    /// COR and PTT timers.
    pub timers: Timers,
    /// It has a transmitter.
    pub ptt: bool,
    /// It may send while its transmitter is keyed.
    pub full_duplex: bool,
    /// Remote audio waits for a busy receiver.
    pub busy_lockout: bool,
    /// For that long, ms.
    pub busy_wait_ms: u32,
    /// Its receiver's audio; `None`: no sound card (frames are fed by
    /// hand, see [`World::capture_frame`](super::World::capture_frame)).
    pub source: Option<SourceSpec>,
    /// Its output device; `None`: it plays nothing.
    pub output: Option<OutputSpec>,
    /// Its jitter buffer.
    pub jitter: JitterConfig,
}

impl ChannelSpec {
    /// A channel `id` with no radio, VOX at −40 dBFS, no tones, no source
    /// and no output.
    pub fn new(id: &str) -> ChannelSpec {
        ChannelSpec {
            id: id.to_owned(),
            preroll_frames: 0,
            gate: GateSpec::Vox {
                threshold_dbfs: -40.0,
            },
            tones: Vec::new(),
            dtmf: None,
            record: None,
            timers: Timers::DEFAULT,
            ptt: false,
            full_duplex: false,
            busy_lockout: false,
            busy_wait_ms: 1_000,
            source: None,
            output: None,
            jitter: JitterConfig::DEFAULT,
        }
    }

    /// Listens for `tone`.
    pub fn tone(mut self, tone: ToneSpec) -> ChannelSpec {
        self.tones.push(tone);
        self
    }

    /// Hears `source`.
    pub fn source(mut self, source: SourceSpec) -> ChannelSpec {
        self.source = Some(source);
        self
    }

    /// Plays to an output device.
    pub fn output(mut self, output: OutputSpec) -> ChannelSpec {
        self.output = Some(output);
        self
    }

    /// Has a transmitter with `timers`.
    pub fn ptt(mut self, timers: Timers) -> ChannelSpec {
        self.ptt = true;
        self.timers = timers;
        self
    }

    /// Judges its activity by `gate`.
    pub fn gate(mut self, gate: GateSpec) -> ChannelSpec {
        self.gate = gate;
        self
    }

    /// Whether the engine sees a radio on it.
    pub(super) fn radio(&self) -> Option<RadioConfig> {
        let cor_line = self.gate == GateSpec::CorLine;
        (self.ptt || cor_line).then_some(RadioConfig {
            timers: self.timers,
            cor_line,
            ptt: self.ptt,
            full_duplex: self.full_duplex,
            busy_lockout: self.busy_lockout,
            busy_wait_ms: self.busy_wait_ms,
        })
    }

    /// Its DTMF sequencer's settings.
    pub(super) fn sequence(&self, rate_hz: u32) -> Option<SequenceConfig> {
        self.dtmf.map(|(_, timeout_ms)| SequenceConfig {
            rate_hz,
            timeout_ms,
        })
    }
}

/// One node: its engine's config and the simulator's view of its channels.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The engine's config (channels, alerts, radios).
    pub config: NodeConfig,
    /// Per channel of `config`, in order.
    pub channels: Vec<ChannelSpec>,
    /// Node → relay.
    pub up: LinkModel,
    /// Relay → node.
    pub down: LinkModel,
}

/// The token every node presents (the relay takes any).
pub const TOKEN: &str = "sim-token-0123456789";

impl NodeSpec {
    /// A node `id` with `channels`, 2 s connect time-out, 1 s longest
    /// backoff, clean 10 ms links.
    ///
    /// # Errors
    /// What [`NodeConfig`] refuses, or a passthrough to an unknown channel.
    pub fn new(id: &str, channels: Vec<ChannelSpec>) -> Result<NodeSpec, NodeConfigError> {
        let mut config =
            NodeConfig::new(id, TOKEN, Duration::from_secs(2), Duration::from_secs(1), 0)?;
        for c in &channels {
            config.add_channel(&c.id, c.preroll_frames)?;
        }
        for (index, c) in channels.iter().enumerate() {
            let channel = ChannelIndex::new(index).expect("add_channel took it");
            let records = c.tones.iter().any(|t| t.record_length_ms > 0);
            let record = records.then(|| {
                c.record.unwrap_or(RecordConfig {
                    rate_hz: 48_000,
                    silence_stop_ms: 0,
                    min_ms: 0,
                    silence_threshold_dbfs: -50,
                })
            });
            config.set_audio(channel, 48_000, record)?;
            if let Some(radio) = c.radio() {
                config.set_radio(channel, radio)?;
            }
            for tone in &c.tones {
                let target = match &tone.passthrough {
                    Some(t) => Some(
                        channels
                            .iter()
                            .position(|x| &x.id == t)
                            .and_then(ChannelIndex::new)
                            .ok_or(NodeConfigError::NoSuchChannel { index: usize::MAX })?,
                    ),
                    None => None,
                };
                config.add_alert(
                    channel,
                    &tone.tone_id,
                    &tone.alert_type,
                    tone.record_delay_ms,
                    tone.record_length_ms,
                    target,
                )?;
            }
        }
        Ok(NodeSpec {
            config,
            channels,
            up: LinkModel::clean(10),
            down: LinkModel::clean(10),
        })
    }

    /// A node made from an engine config as it is; its channels have no
    /// sound cards (frames and detections are fed by hand).
    pub fn from_config(config: NodeConfig) -> NodeSpec {
        let channels = config
            .channels()
            .iter()
            .map(|c| {
                let mut spec = ChannelSpec::new(&c.id);
                spec.preroll_frames = c.preroll_frames;
                if let Some(radio) = c.radio {
                    spec.timers = radio.timers;
                    spec.ptt = radio.ptt;
                    if radio.cor_line {
                        spec.gate = GateSpec::CorLine;
                    }
                }
                spec
            })
            .collect();
        NodeSpec {
            config,
            channels,
            up: LinkModel::clean(10),
            down: LinkModel::clean(10),
        }
    }

    /// Both directions behave as `model`.
    pub fn links(mut self, model: LinkModel) -> NodeSpec {
        self.up = model.clone();
        self.down = model;
        self
    }
}

/// Which way a fault acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Node → relay.
    Up,
    /// Relay → node.
    Down,
    /// Both.
    Both,
}

/// Something the world does at a moment of virtual time.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A COR line goes active or not.
    Cor {
        /// The node.
        node: usize,
        /// The channel.
        channel: usize,
        /// Active.
        active: bool,
    },
    /// An outage of `path` in `direction` for `duration` (`node: None`:
    /// every node's).
    Outage {
        /// The node, or all.
        node: Option<usize>,
        /// Which way.
        direction: Direction,
        /// Which traffic.
        path: Path,
        /// How long.
        duration: Duration,
    },
    /// A node's links change.
    SetLink {
        /// The node.
        node: usize,
        /// Which way.
        direction: Direction,
        /// How it behaves from now on.
        model: LinkModel,
    },
    /// The relay dies (every connection drops) and a fresh one starts
    /// `down_for` later.
    RelayRestart {
        /// How long it is down.
        down_for: Duration,
    },
    /// The relay gives a node (or every node) a new key.
    Rekey {
        /// The node, or all.
        node: Option<usize>,
    },
    /// A node stops: its capture sides end, its engine shuts down.
    Shutdown {
        /// The node.
        node: usize,
    },
}

/// A COR line's script, turned into [`Action::Cor`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum CorScript {
    /// Active from each start to its end.
    Pulses(Vec<(Duration, Duration)>),
    /// Toggles every `period` from `from` for `duration` (contact
    /// chatter), then stays inactive.
    Chatter {
        /// When it starts.
        from: Duration,
        /// How long.
        duration: Duration,
        /// Time between toggles.
        period: Duration,
    },
    /// Goes active at `at` and stays so.
    Stuck {
        /// When.
        at: Duration,
    },
}

impl CorScript {
    /// The line changes, in time order.
    pub fn changes(&self) -> Vec<(Duration, bool)> {
        match self {
            CorScript::Pulses(pulses) => {
                let mut out: Vec<_> = pulses
                    .iter()
                    .flat_map(|&(on, off)| [(on, true), (off, false)])
                    .collect();
                out.sort_by_key(|&(at, _)| at);
                out
            }
            CorScript::Chatter {
                from,
                duration,
                period,
            } => {
                let mut out = Vec::new();
                let mut at = *from;
                let mut active = true;
                let end = *from + *duration;
                while at < end && period.as_micros() > 0 {
                    out.push((at, active));
                    active = !active;
                    at = at + *period;
                }
                out.push((end, false));
                out
            }
            CorScript::Stuck { at } => vec![(*at, true)],
        }
    }
}
