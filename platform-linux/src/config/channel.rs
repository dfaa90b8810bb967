//! One radio channel: its sound devices, COR input, PTT output, timers and
//! DTMF detector.

use std::fmt;
use std::path::Path;

use echostream_core::tone::dtmf::{DtmfConfig, SequenceConfig};
use serde::Deserialize;

use super::defaults;

/// One radio: a sound card (or WAV file) and its GPIO lines.
///
/// ```json
/// { "id": "fire-main",
///   "input_device": "plughw:CARD=Radio1,DEV=0",
///   "output_device": "plughw:CARD=Radio1,DEV=0",
///   "cor": { "gpio": { "chip": "gpiochip0", "line": 20, "polarity": "active_low" } },
///   "ptt": { "chip": "gpiochip0", "line": 21, "polarity": "active_high" },
///   "timers": { "timeout_s": 180 },
///   "dtmf": { "enabled": true } }
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Channel name, unique on this node and shared with the other nodes
    /// that carry the same talk group. Used in signaling and as an MQTT
    /// topic level: letters, digits, `-`, `_`, `.` (1 to 64).
    pub id: String,
    /// Where receiver audio comes from: an ALSA PCM name (prefer stable
    /// names such as `plughw:CARD=Radio1,DEV=0` over card numbers, which
    /// change when USB cards are re-plugged), or `file:PATH.wav` to read a
    /// WAV file paced in real time.
    pub input_device: String,
    /// Read a `file:` input again from the start when it ends (default
    /// false: the channel goes quiet at the end of the file).
    #[serde(default)]
    pub input_loop: bool,
    /// Where audio from the network is played: an ALSA PCM name (`null`
    /// discards it) or `file:PATH.wav` to write it. Absent: receive-only,
    /// nothing is played and PTT never keys.
    #[serde(default)]
    pub output_device: Option<String>,
    /// What tells us the receiver is hearing something: a GPIO line, VOX on
    /// the captured audio, or `"always"`.
    pub cor: Cor,
    /// The GPIO line that keys the transmitter. Absent: no transmitter.
    #[serde(default)]
    pub ptt: Option<GpioOutput>,
    /// COR and PTT timing. All fields have defaults.
    #[serde(default)]
    pub timers: Timers,
    /// DTMF decoder on this channel's audio. Absent: off.
    #[serde(default)]
    pub dtmf: Option<Dtmf>,
    /// Send what the receiver hears even while this channel's own PTT is
    /// keyed (a repeater, or a radio on separate receive and transmit
    /// frequencies). Default false: a half-duplex radio hears its own
    /// transmitter, which must not go back out.
    #[serde(default)]
    pub full_duplex: bool,
    /// Do not key over a busy channel: while COR is open, remote audio
    /// waits up to `busy_wait_ms`, then is dropped with an event (default
    /// false: remote audio keys PTT whatever the receiver hears).
    #[serde(default)]
    pub busy_lockout: bool,
    /// How long remote audio waits for a busy channel (default 2000 ms).
    #[serde(default = "busy_wait_ms")]
    pub busy_wait_ms: u32,
}

fn busy_wait_ms() -> u32 {
    defaults::BUSY_WAIT_MS
}

/// Carrier-operated relay: when the channel counts as active.
///
/// In the file: `{"gpio": {…}}`, `{"vox": {"threshold_dbfs": -40}}` or
/// `"always"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Cor {
    /// A GPIO input wired to the radio's COR/COS/squelch output.
    Gpio(GpioInput),
    /// Voice-operated: active while the audio level is above a threshold.
    Vox(Vox),
    /// Always active (a scanner feed, a permanently open receiver).
    Always,
}

/// A GPIO input line (COR).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioInput {
    /// GPIO chip: `gpiochip0` or `/dev/gpiochip0` (`gpioinfo` lists them).
    /// The Raspberry Pi header is on `gpiochip0` (on a Pi 5 with an older
    /// kernel, `gpiochip4`).
    pub chip: String,
    /// Line offset on the chip (on a Pi, the BCM GPIO number, not the pin).
    pub line: u32,
    /// Which level means "receiver busy": `active_high` or `active_low`.
    /// No default: a wrong guess makes a channel look busy forever.
    pub polarity: Polarity,
    /// Internal pull resistor: `as_is` (default), `pull_up` (open-collector
    /// COR outputs), `pull_down` or `disabled`.
    #[serde(default)]
    pub bias: Bias,
}

/// A GPIO output line (PTT).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioOutput {
    /// GPIO chip, as for COR.
    pub chip: String,
    /// Line offset on the chip.
    pub line: u32,
    /// Which level keys the transmitter: `active_high` or `active_low`.
    /// No default: a wrong guess keys the transmitter at start-up.
    pub polarity: Polarity,
    /// `push_pull` (default) or `open_drain` (line wired straight to the
    /// radio's PTT, which pulls up itself).
    #[serde(default)]
    pub drive: Drive,
}

/// Which electrical level means "asserted".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// High means asserted.
    ActiveHigh,
    /// Low means asserted.
    ActiveLow,
}

/// Pull resistor on an input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bias {
    /// Leave whatever the line has.
    #[default]
    AsIs,
    /// Pull up.
    PullUp,
    /// Pull down.
    PullDown,
    /// No pull resistor.
    Disabled,
}

/// Output drive of a PTT line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Drive {
    /// Drive both levels.
    #[default]
    PushPull,
    /// Drive low only; float high.
    OpenDrain,
}

/// Voice-operated COR.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vox {
    /// The channel opens when the level exceeds this, in dB relative to
    /// full scale, −90 to below 0 (default −40 dBFS). `timers.cor_hang_ms`
    /// keeps it open through pauses.
    #[serde(default = "vox_threshold_dbfs")]
    pub threshold_dbfs: f64,
}

fn vox_threshold_dbfs() -> f64 {
    defaults::VOX_THRESHOLD_DBFS
}

/// COR and PTT timing (DESIGN.md "PTT and COR").
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timers {
    /// COR must hold a level this long before it counts (default 20 ms).
    pub cor_debounce_ms: u32,
    /// The channel stays active this long after COR drops, bridging
    /// squelch flutter (default 250 ms).
    pub cor_hang_ms: u32,
    /// PTT is keyed this long before audio starts, while the transmitter
    /// comes up (default 150 ms).
    pub tx_delay_ms: u32,
    /// PTT stays keyed this long after the last audio (default 500 ms).
    pub ptt_hang_ms: u32,
    /// Transmit time-out: PTT is released after this long keyed, whatever
    /// arrives (default 180 s, at least 1).
    pub timeout_s: u32,
    /// After a time-out, PTT stays locked out until the remote stops
    /// sending and at least this long has passed (default 5 s).
    pub lockout_s: u32,
}

impl Timers {
    /// The same timers as core's radio machines take them (no open delay).
    pub fn core(&self) -> echostream_core::ptt::Timers {
        echostream_core::ptt::Timers {
            cor_debounce_ms: self.cor_debounce_ms,
            cor_open_delay_ms: 0,
            cor_hang_ms: self.cor_hang_ms,
            tx_delay_ms: self.tx_delay_ms,
            ptt_hang_ms: self.ptt_hang_ms,
            timeout_s: self.timeout_s,
            lockout_s: self.lockout_s,
        }
    }
}

impl Default for Timers {
    fn default() -> Self {
        const CORE: echostream_core::ptt::Timers = echostream_core::ptt::Timers::DEFAULT;
        Self {
            cor_debounce_ms: CORE.cor_debounce_ms,
            cor_hang_ms: CORE.cor_hang_ms,
            tx_delay_ms: CORE.tx_delay_ms,
            ptt_hang_ms: CORE.ptt_hang_ms,
            timeout_s: CORE.timeout_s,
            lockout_s: CORE.lockout_s,
        }
    }
}

/// DTMF decoder settings. Digits are published as `dtmf` events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dtmf {
    /// Decode DTMF on this channel (default true once the section exists).
    pub enabled: bool,
    /// Largest level by which the low (row) tone may exceed the high
    /// (column) tone, 0 to 20 (default 8 dB).
    pub twist_normal_db: f64,
    /// Largest level by which the high tone may exceed the low tone, 0 to
    /// 20 (default 4 dB).
    pub twist_reverse_db: f64,
    /// Shortest tone accepted as a digit, 20 to 1000 (default 40 ms, ITU-T
    /// Q.24; 20 for radio encoders' fast DTMF, 40 ms tones).
    pub min_on_ms: u32,
    /// Shortest pause that separates two digits, so that a repeated digit
    /// counts twice, 15 to 1000 (default 40 ms, ITU-T Q.24; 20 for radio
    /// encoders' fast DTMF with 20 ms gaps, 15 only if their gaps are
    /// shorter). An interruption of 10 ms never splits a digit.
    pub min_off_ms: u32,
    /// Audio after the last digit that ends a sequence (a code such as
    /// `4711#`), 200 to 60000 (default 2000 ms).
    pub sequence_timeout_ms: u32,
}

impl Default for Dtmf {
    /// The detector's own defaults (Q.24).
    fn default() -> Self {
        let core = DtmfConfig::DEFAULT;
        Self {
            enabled: true,
            twist_normal_db: f64::from(core.twist_normal_db_max),
            twist_reverse_db: f64::from(core.twist_reverse_db_max),
            min_on_ms: core.on_ms_min,
            min_off_ms: core.off_ms_min,
            sequence_timeout_ms: SequenceConfig::TIMEOUT_MS_DEFAULT,
        }
    }
}

/// What a device string names, once the `file:` prefix is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device<'a> {
    /// An ALSA PCM name, passed to `snd_pcm_open` as is.
    Alsa(&'a str),
    /// A WAV file (source or sink), the text after `file:`.
    File(&'a Path),
}

impl<'a> Device<'a> {
    /// Splits a device string into ALSA name or file path.
    pub fn parse(spec: &'a str) -> Self {
        match spec.strip_prefix("file:") {
            Some(path) => Device::File(Path::new(path)),
            None => Device::Alsa(spec),
        }
    }
}

impl Channel {
    /// The input device, split into ALSA name or file.
    pub fn input(&self) -> Device<'_> {
        Device::parse(&self.input_device)
    }

    /// The output device, if any, split into ALSA name or file.
    pub fn output(&self) -> Option<Device<'_>> {
        self.output_device.as_deref().map(Device::parse)
    }
}

impl fmt::Display for Polarity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Polarity::ActiveHigh => "active_high",
            Polarity::ActiveLow => "active_low",
        })
    }
}

impl fmt::Display for Cor {
    /// One-line description for summaries: `gpio gpiochip0 line 20
    /// active_low`, `vox -40 dBFS`, `always`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cor::Gpio(gpio) => write!(f, "gpio {} line {} {}", gpio.chip, gpio.line, gpio.polarity),
            Cor::Vox(vox) => write!(f, "vox {} dBFS", vox.threshold_dbfs),
            Cor::Always => f.write_str("always"),
        }
    }
}

impl fmt::Display for GpioOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {} {}", self.chip, self.line, self.polarity)
    }
}
