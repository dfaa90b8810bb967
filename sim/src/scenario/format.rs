//! The scenario file: what a person writes (or the random generator
//! dumps) to describe a run. Plain data with serde; every field not
//! marked required has a default, unknown fields are refused. See the
//! [module docs](super) for an example and what each part means.

use serde::{Deserialize, Serialize};

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Virtual time to run, s. Required.
    pub duration_s: f64,
    /// The world's seed (links, noise, keys' nonces); 1 unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The nodes, in order. Required, at least one.
    pub nodes: Vec<NodeDef>,
    /// What happens when.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<ActionDef>,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    /// Its id (unique).
    pub id: String,
    /// Both directions of its path to the relay (clean 10 ms unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<LinkDef>,
    /// Node → relay, over `link`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<LinkDef>,
    /// Relay → node, over `link`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<LinkDef>,
    /// Its channels. Required, at least one.
    pub channels: Vec<ChannelDef>,
}

/// One direction of a path (or both).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDef {
    /// One-way latency, ms.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u64,
    /// Extra latency, uniform in 0..=jitter_ms.
    #[serde(default)]
    pub jitter_ms: u64,
    /// Independent datagram loss, 0..1.
    #[serde(default)]
    pub loss: f64,
    /// Datagram loss in bursts (replaces `loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<BurstDef>,
    /// Chance a datagram is held back by `reorder_delay_ms`, 0..1.
    #[serde(default)]
    pub reorder: f64,
    /// How much longer a reordered datagram takes, ms.
    #[serde(default)]
    pub reorder_delay_ms: u64,
    /// Chance a datagram arrives twice, 0..1.
    #[serde(default)]
    pub duplicate: f64,
    /// Chance a copy with one bit flipped arrives as well, 0..1.
    #[serde(default)]
    pub bit_flip: f64,
    /// Chance an earlier datagram arrives again, 0..1.
    #[serde(default)]
    pub replay: f64,
    /// How far back replays reach (64 unless set).
    #[serde(default = "default_replay_depth")]
    pub replay_depth: usize,
}

fn default_latency_ms() -> u64 {
    10
}

fn default_replay_depth() -> usize {
    64
}

impl Default for LinkDef {
    fn default() -> LinkDef {
        LinkDef {
            latency_ms: default_latency_ms(),
            jitter_ms: 0,
            loss: 0.0,
            burst: None,
            reorder: 0.0,
            reorder_delay_ms: 0,
            duplicate: 0.0,
            bit_flip: 0.0,
            replay: 0.0,
            replay_depth: default_replay_depth(),
        }
    }
}

/// Gilbert–Elliott loss: `rate` of all datagrams lost in the long run,
/// about `mean_burst` in a row.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurstDef {
    /// Long-run loss, 0..1.
    pub rate: f64,
    /// Mean datagrams lost in a row (≥ 1).
    pub mean_burst: f64,
}

/// How a channel's activity is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GateDef {
    /// Voice-operated at `vox_threshold_dbfs`.
    #[default]
    Vox,
    /// Always active.
    Always,
    /// A COR line the schedule's `cor_*` actions drive.
    CorLine,
}

/// One channel of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDef {
    /// The id registered with the relay (channels of equal id on
    /// different nodes hear each other).
    pub id: String,
    /// How its activity is judged (`vox` unless set).
    #[serde(default)]
    pub gate: GateDef,
    /// The VOX threshold, dBFS (−40 unless set).
    #[serde(default = "default_vox_dbfs")]
    pub vox_threshold_dbfs: f32,
    /// Frames kept from before it opens.
    #[serde(default)]
    pub preroll_frames: usize,
    /// Its tone definitions, in detector order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tones: Vec<ToneDef>,
    /// It has a transmitter (keyed by remote audio).
    #[serde(default)]
    pub ptt: bool,
    /// COR and PTT timers (each field defaults to the product's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timers: Option<TimersDef>,
    /// It may send while its transmitter is keyed.
    #[serde(default)]
    pub full_duplex: bool,
    /// Remote audio waits for a busy receiver.
    #[serde(default)]
    pub busy_lockout: bool,
    /// Its receiver's audio (none: it hears nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceDef>,
    /// Its output device (none: it plays nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputDef>,
}

fn default_vox_dbfs() -> f32 {
    -40.0
}

/// COR and PTT timers; an unset field keeps the product's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TimersDef {
    /// COR debounce, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cor_debounce_ms: Option<u32>,
    /// COR hang, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cor_hang_ms: Option<u32>,
    /// PTT keyed this long before audio plays, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_delay_ms: Option<u32>,
    /// PTT kept this long after the last audio, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptt_hang_ms: Option<u32>,
    /// Transmit time-out, s (never 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u32>,
    /// Lock-out after a time-out, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockout_s: Option<u32>,
}

/// What kind of page a tone definition listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ToneKind {
    /// Quick Call II: A ≥ 800 ms then B ≥ 2 s.
    #[default]
    QuickCall,
    /// One tone (`a_hz`) held ≥ `length_ms`.
    Long,
    /// `a_hz` and `b_hz` alternating `alternations` times, each ≥
    /// `min_tone_ms`.
    HiLow,
    /// `a_hz` keyed `on_ms` on, `off_ms` off, `pulses` times.
    Pulsed,
}

/// One tone definition and what its alert does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToneDef {
    /// Its name (unique on the channel).
    pub tone_id: String,
    /// Its label (`fire` unless set).
    #[serde(default = "default_alert_type")]
    pub alert_type: String,
    /// `quick_call` unless set.
    #[serde(default)]
    pub kind: ToneKind,
    /// Tone A (the tone of a long-tone page), Hz.
    pub a_hz: f32,
    /// Tone B, Hz (not for `long`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_hz: Option<f32>,
    /// Long tone: the least time it is held, ms (2000 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length_ms: Option<u32>,
    /// Hi-low: the least time each tone is held, ms (250 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tone_ms: Option<u32>,
    /// Hi-low: tones that make an alert (4 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternations: Option<u32>,
    /// Pulsed: each pulse, ms (300 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_ms: Option<u32>,
    /// Pulsed: each pause, ms (200 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_ms: Option<u32>,
    /// Pulsed: pulses that make an alert (4 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pulses: Option<u32>,
    /// Recording starts this long after the tones, ms.
    #[serde(default)]
    pub record_delay_ms: u32,
    /// Recorded and passed through for this long, ms (0: neither).
    #[serde(default)]
    pub record_length_ms: u32,
    /// The channel (by id, on this node) its audio is passed through to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
}

fn default_alert_type() -> String {
    "fire".to_owned()
}

/// A receiver's audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    /// Band noise under everything, RMS dBFS (none: digital silence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_dbfs: Option<f64>,
    /// Its sample clock's offset, ppm.
    #[serde(default)]
    pub drift_ppm: f64,
    /// Periods handed over up to this late, µs.
    #[serde(default)]
    pub period_jitter_us: u32,
    /// Its input ends here, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at_s: Option<f64>,
    /// What it hears.
    #[serde(default)]
    pub clips: Vec<ClipDef>,
}

/// One sound at a moment, by `sound`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "sound", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClipDef {
    /// A page of the channel's definition `tone_id` (it must alert once).
    Page {
        /// Start, s.
        at_s: f64,
        /// The definition.
        tone_id: String,
        /// Peak level, dBFS (−10 unless set).
        #[serde(default = "default_tone_dbfs")]
        level_dbfs: f64,
    },
    /// Voiced speech.
    Speech {
        /// Start, s.
        at_s: f64,
        /// Length, ms.
        ms: u32,
        /// Peak level, dBFS (−12 unless set).
        #[serde(default = "default_speech_dbfs")]
        level_dbfs: f64,
    },
    /// Band noise.
    Noise {
        /// Start, s.
        at_s: f64,
        /// Length, ms.
        ms: u32,
        /// RMS level, dBFS (−30 unless set).
        #[serde(default = "default_noise_dbfs")]
        level_dbfs: f64,
    },
    /// A sine that is no page.
    Tone {
        /// Start, s.
        at_s: f64,
        /// Frequency, Hz.
        hz: f64,
        /// Length, ms.
        ms: u32,
        /// Peak level, dBFS (−10 unless set).
        #[serde(default = "default_tone_dbfs")]
        level_dbfs: f64,
    },
    /// DTMF digits.
    Dtmf {
        /// Start, s.
        at_s: f64,
        /// `0-9`, `A-D`, `*`, `#`.
        digits: String,
        /// Per digit, ms (100 unless set).
        #[serde(default = "default_dtmf_ms")]
        on_ms: u32,
        /// Between digits, ms (100 unless set).
        #[serde(default = "default_dtmf_ms")]
        off_ms: u32,
        /// Peak level, dBFS (−10 unless set).
        #[serde(default = "default_tone_dbfs")]
        level_dbfs: f64,
    },
    /// A mono 16-bit 48 kHz WAV file.
    Wav {
        /// Start, s.
        at_s: f64,
        /// The file, relative to the scenario file.
        path: String,
        /// Gain, dB (0 unless set).
        #[serde(default)]
        level_dbfs: f64,
    },
}

fn default_tone_dbfs() -> f64 {
    -10.0
}

fn default_speech_dbfs() -> f64 {
    -12.0
}

fn default_noise_dbfs() -> f64 {
    -30.0
}

fn default_dtmf_ms() -> u32 {
    100
}

impl ClipDef {
    /// When it starts, s.
    pub fn at_s(&self) -> f64 {
        match self {
            ClipDef::Page { at_s, .. }
            | ClipDef::Speech { at_s, .. }
            | ClipDef::Noise { at_s, .. }
            | ClipDef::Tone { at_s, .. }
            | ClipDef::Dtmf { at_s, .. }
            | ClipDef::Wav { at_s, .. } => *at_s,
        }
    }
}

/// A virtual output device (what the radio is fed).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct OutputDef {
    /// Its clock's offset, ppm.
    #[serde(default)]
    pub drift_ppm: f64,
    /// Periods taken up to this late, µs.
    #[serde(default)]
    pub period_jitter_us: u32,
}

/// Which way a fault acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DirectionDef {
    /// Node → relay.
    Up,
    /// Relay → node.
    Down,
    /// Both.
    #[default]
    Both,
}

/// Which traffic an outage takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PathDef {
    /// The signaling connection only.
    Signaling,
    /// Datagrams only.
    Media,
    /// Both.
    #[default]
    Both,
}

/// Something the world does, by `do`. Nodes and channels are named by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionDef {
    /// A COR line is active over each `[from_s, to_s]`.
    CorPulses {
        /// The node.
        node: String,
        /// Its channel (gate `cor_line`).
        channel: String,
        /// Each pulse's start and end, s.
        pulses_s: Vec<(f64, f64)>,
    },
    /// A COR line toggles every `period_ms` from `from_s` for
    /// `duration_s`, then stays inactive (contact chatter).
    CorChatter {
        /// The node.
        node: String,
        /// Its channel.
        channel: String,
        /// Start, s.
        from_s: f64,
        /// How long, s.
        duration_s: f64,
        /// Between toggles, ms.
        period_ms: u32,
    },
    /// A COR line goes active at `at_s` and stays so.
    CorStuck {
        /// The node.
        node: String,
        /// Its channel.
        channel: String,
        /// When, s.
        at_s: f64,
    },
    /// An outage of `path` in `direction` (one node's, or every node's).
    Outage {
        /// Start, s.
        at_s: f64,
        /// How long, s.
        duration_s: f64,
        /// The node (none: all).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
        /// Which way (`both` unless set).
        #[serde(default)]
        direction: DirectionDef,
        /// Which traffic (`both` unless set).
        #[serde(default)]
        path: PathDef,
    },
    /// `nodes` lose the relay entirely (both ways, everything) for a while.
    Partition {
        /// Start, s.
        at_s: f64,
        /// How long, s.
        duration_s: f64,
        /// The nodes cut off.
        nodes: Vec<String>,
    },
    /// A node's link changes from `at_s` on.
    SetLink {
        /// When, s.
        at_s: f64,
        /// The node.
        node: String,
        /// Which way (`both` unless set).
        #[serde(default)]
        direction: DirectionDef,
        /// How it behaves from now on.
        link: LinkDef,
    },
    /// The relay dies and a fresh one starts `down_for_ms` later.
    RelayRestart {
        /// When, s.
        at_s: f64,
        /// How long it is down, ms.
        down_for_ms: u64,
    },
    /// The relay gives a node (or every node) a new key.
    Rekey {
        /// When, s.
        at_s: f64,
        /// The node (none: all).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        node: Option<String>,
    },
    /// A node stops (capture ends, engine shuts down).
    Shutdown {
        /// When, s.
        at_s: f64,
        /// The node.
        node: String,
    },
}
