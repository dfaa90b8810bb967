//! `echostream-sim try`: a user's own config against their own recording,
//! offline, on virtual time; what the node would have done.
//!
//! The config is read by the live node's loader (`echostream::config`),
//! the channel's detector definitions come from its tone plan
//! (`echostream::tone_plan::plan`), and the node engine's config from the
//! same functions `echostream run` builds it with
//! (`echostream::runtime::engine_channel`, `echostream::net::engine_config`).
//! The simulated platform ([`crate::world`]) then plays the recording
//! into that channel's virtual sound card; every other channel hears
//! silence. Alert, DTMF, passthrough and PTT lines are the live node's
//! log lines (`echostream::net::NetEvent`'s `Display`), recordings are
//! named as its recorder names them.
//!
//! Differences from a live run: the world's sound cards run at 48 kHz (a
//! config at another rate is refused), Opus is replaced by the world's
//! codec (nothing here depends on it), nothing is written (no recordings,
//! events, MQTT or uploads), and no COR line moves.

pub mod audio;
pub mod command;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use echostream::config::{self, Config, Cor, Device, LoadError, RecordingFormat};
use echostream::net::{EngineChannel, NetEvent, NetSettings, engine_config};
use echostream::recording::Format;
use echostream::runtime::{engine_channel, jitter_config, recorder};
use echostream::tone_plan::{self, Named};
use echostream_core::node::{ChannelIndex, Event, PassthroughEdge};
use echostream_core::record::{AlertId, Effect, RecordingId};
use echostream_core::time::{Duration, Instant};

use crate::world::{
    ChannelSpec, GateSpec, NodeSpec, OutputSpec, RELAY_UDP, Sound, SourceSpec, ToneSpec,
    WorldBuilder,
};

pub use audio::AudioError;

/// The rate the world's sound cards run at.
pub const RATE_HZ: u32 = 48_000;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryRequest {
    /// The node's config file.
    pub config: PathBuf,
    /// The recording.
    pub audio: PathBuf,
    /// The channel that hears it (`None`: see [`pick_channel`]).
    pub channel: Option<String>,
}

/// Why nothing was run. All but [`TryError::World`] are the user's to fix
/// (exit status 2).
#[derive(Debug)]
pub enum TryError {
    /// The config file cannot be read or has errors (`check-config`'s
    /// words: [`TryError::lines`]).
    Config(LoadError),
    /// The config is valid but this tool cannot run it.
    Unsupported(String),
    /// `--channel` names no channel.
    NoChannel(String),
    /// The recording cannot be used.
    Audio(AudioError),
    /// The simulated node could not be made (a bug: the live node takes
    /// the same config).
    World(String),
}

impl TryError {
    /// The lines to print, as `echostream check-config` prints a config's
    /// problems.
    pub fn lines(&self) -> Vec<String> {
        match self {
            TryError::Config(LoadError::Invalid {
                path,
                problems,
                complete,
            }) => {
                let mut lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
                if !complete {
                    lines.push(format!(
                        "note: some checks of `{}` did not run; they will once the errors above are fixed",
                        path.display()
                    ));
                }
                lines
            }
            TryError::Config(e @ LoadError::Read { .. }) => vec![format!("error: {e}")],
            other => vec![format!("error: {other}")],
        }
    }

    /// Whether the user's input is at fault (exit status 2).
    pub fn is_input(&self) -> bool {
        !matches!(self, TryError::World(_))
    }
}

impl fmt::Display for TryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryError::Config(e) => write!(f, "{e}"),
            TryError::Unsupported(why) => f.write_str(why),
            TryError::NoChannel(why) => f.write_str(why),
            TryError::Audio(e) => write!(f, "{e}"),
            TryError::World(why) => write!(f, "the simulated node: {why}"),
        }
    }
}

impl std::error::Error for TryError {}

/// One line of what the node did, at a time of the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Happening {
    /// Seconds into the recording (virtual time since it started).
    pub at_s: f64,
    /// The live node's log line.
    pub line: String,
    /// The tone id, for an alert.
    pub alert: Option<String>,
}

/// A recording the node would have made.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRecording {
    /// The channel's id.
    pub channel: String,
    /// Its first sample, in seconds of the recording.
    pub start_s: f64,
    /// Its length in seconds.
    pub length_s: f64,
    /// The tone ids of its alerts, in order.
    pub tone_ids: Vec<String>,
    /// The path the live node would give it (its time part is now plus
    /// `start_s`).
    pub path: PathBuf,
    /// It ended early (the run ended first, or the engine cut it).
    pub truncated: bool,
}

/// What the node would have done.
#[derive(Debug, Clone, PartialEq)]
pub struct TryReport {
    /// The channel that heard the recording.
    pub channel: String,
    /// What the recording was, e.g. `mono 16-bit 48000 Hz`.
    pub audio: String,
    /// It was downmixed or resampled to the channel's rate.
    pub converted: bool,
    /// Its length.
    pub audio_s: f64,
    /// Everything the live node would have logged about pages, in order.
    pub happenings: Vec<Happening>,
    /// Its recordings, in order.
    pub recordings: Vec<PlannedRecording>,
    /// DTMF sequences.
    pub dtmf_sequences: usize,
    /// Passthroughs started.
    pub passthroughs: usize,
    /// Transmitters keyed.
    pub ptt_keyings: usize,
    /// The run's wall-clock time.
    pub run_ms: u128,
}

impl TryReport {
    /// The tone ids of the alerts, in order.
    pub fn alerts(&self) -> Vec<&str> {
        self.happenings
            .iter()
            .filter_map(|h| h.alert.as_deref())
            .collect()
    }
}

impl fmt::Display for TryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "channel {} hears {:.1} s of audio ({}{})",
            self.channel,
            self.audio_s,
            self.audio,
            if self.converted {
                ", converted to mono 16-bit 48000 Hz"
            } else {
                ""
            }
        )?;
        for h in &self.happenings {
            writeln!(f, "{:>9.3} s  {}", h.at_s, h.line)?;
        }
        for r in &self.recordings {
            writeln!(
                f,
                "RECORDING {} on {}: {:.1} s from {:.3} s in the file{} ({})",
                r.path.display(),
                r.channel,
                r.length_s,
                r.start_s,
                if r.truncated { ", truncated" } else { "" },
                r.tone_ids.join(", ")
            )?;
        }
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        writeln!(
            f,
            "summary: {}, {}, {}, {}, {} in {:.1} s of audio, run in {} ms",
            plural(self.alerts().len(), "alert", "alerts"),
            plural(self.dtmf_sequences, "DTMF sequence", "DTMF sequences"),
            plural(self.recordings.len(), "recording", "recordings"),
            plural(self.passthroughs, "passthrough", "passthroughs"),
            plural(self.ptt_keyings, "PTT keying", "PTT keyings"),
            self.audio_s,
            self.run_ms
        )
    }
}

/// The channel that hears `audio` unless one is named: the channel whose
/// `input_device` is `file:` and the same file, else the first that
/// listens for tones or DTMF, else the first.
pub fn pick_channel(config: &Config, audio: &Path) -> usize {
    let same = |p: &Path| match (p.canonicalize(), audio.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => p == audio,
    };
    let by_file = config
        .channels
        .iter()
        .position(|c| matches!(c.input(), Device::File(p) if same(p)));
    let listens = |id: &str| {
        tone_plan::plan(config, Some(id)).is_ok_and(|p| !p.names.is_empty() || p.dtmf.is_some())
    };
    by_file
        .or_else(|| config.channels.iter().position(|c| listens(&c.id)))
        .unwrap_or(0)
}

/// Runs `request`. See the [module docs](self).
///
/// # Errors
/// See [`TryError`].
pub fn run(request: &TryRequest) -> Result<TryReport, TryError> {
    let started = std::time::Instant::now();
    let loaded = config::load_file(&request.config).map_err(TryError::Config)?;
    let config = &loaded.config;
    if config.audio.sample_rate_hz != RATE_HZ {
        return Err(TryError::Unsupported(format!(
            "audio.sample_rate_hz is {}; `echostream-sim try` runs channels at {RATE_HZ} Hz only",
            config.audio.sample_rate_hz
        )));
    }
    let heard = match &request.channel {
        Some(id) => config
            .channels
            .iter()
            .position(|c| &c.id == id)
            .ok_or_else(|| {
                let ids: Vec<&str> = config.channels.iter().map(|c| c.id.as_str()).collect();
                TryError::NoChannel(format!(
                    "--channel {id}: the config has no such channel (it has {})",
                    ids.join(", ")
                ))
            })?,
        None => pick_channel(config, &request.audio),
    };
    let recording = audio::read(&request.audio, RATE_HZ).map_err(TryError::Audio)?;
    let names = channel_names(config)?;
    let node = node_spec(config, &names, heard, &recording.samples)?;
    let tail_ms = tail_ms(config, &names);
    let mut world = WorldBuilder::new(1)
        .node(node)
        .build()
        .map_err(|e| TryError::World(e.to_string()))?;
    let audio_ms = recording.samples.len() as u64 * 1_000 / u64::from(RATE_HZ);
    world.run_for(Duration::from_millis(audio_ms + tail_ms));
    let node = &world.nodes[0];
    let ids: Vec<&str> = config.channels.iter().map(|c| c.id.as_str()).collect();
    let mut report = TryReport {
        channel: ids[heard].to_owned(),
        audio: recording.original.clone(),
        converted: recording.converted,
        audio_s: recording.seconds(),
        happenings: Vec::new(),
        recordings: Vec::new(),
        dtmf_sequences: 0,
        passthroughs: 0,
        ptt_keyings: 0,
        run_ms: 0,
    };
    let mut alert_tones = BTreeMap::new();
    for (at, event) in &node.events {
        if let Event::Tone {
            channel,
            event: tone,
            alert: Some(alert),
        } = event
            && let Some(named) = tone
                .definition
                .and_then(|d| names[channel.get()].get(d.get()))
        {
            alert_tones.insert((channel.get(), *alert), named.tone_id.clone());
        }
        match event {
            Event::DtmfSequence { .. } => report.dtmf_sequences += 1,
            Event::Passthrough { edge, .. } if *edge == PassthroughEdge::Started => {
                report.passthroughs += 1;
            }
            Event::Ptt { event: ptt, .. } if ptt.line_changed() && ptt.keyed() => {
                report.ptt_keyings += 1;
            }
            _ => {}
        }
        if let Some(line) = log_line(event, &ids, &names) {
            let alert = match &line {
                NetEvent::Tone {
                    definition: Some(named),
                    ..
                } => Some(named.tone_id.clone()),
                _ => None,
            };
            report.happenings.push(Happening {
                at_s: seconds(*at),
                line: line.to_string(),
                alert,
            });
        }
    }
    report.recordings = recordings(config, &ids, &node.records, &alert_tones);
    report.run_ms = started.elapsed().as_millis();
    Ok(report)
}

/// Every channel's tone definitions' names, as the live node's detector
/// is built with them.
fn channel_names(config: &Config) -> Result<Vec<Vec<Named>>, TryError> {
    config
        .channels
        .iter()
        .map(|c| {
            tone_plan::plan(config, Some(&c.id))
                .map(|p| p.names)
                .map_err(|e| TryError::World(format!("channel {}: tones: {e:?}", c.id)))
        })
        .collect()
}

/// The simulated node: the live node's engine config, channel `heard`
/// hearing `samples`.
fn node_spec(
    config: &Config,
    names: &[Vec<Named>],
    heard: usize,
    samples: &[i16],
) -> Result<NodeSpec, TryError> {
    let engine: Vec<EngineChannel<'_>> = (0..config.channels.len())
        .map(|i| engine_channel(config, i, &names[i]))
        .collect();
    let settings = NetSettings {
        node_id: config.node_id.clone(),
        url: format!("ws://{RELAY_UDP}"),
        token: crate::world::spec::TOKEN.to_owned(),
        ca_file: None,
        connect_timeout: std::time::Duration::from_secs(2),
        reconnect_max: std::time::Duration::from_secs(1),
    };
    let engine_config =
        engine_config(&settings, 0, &engine).map_err(|e| TryError::World(e.to_string()))?;
    let mut channels = Vec::new();
    for (i, ch) in config.channels.iter().enumerate() {
        let plan = tone_plan::plan(config, Some(&ch.id))
            .map_err(|e| TryError::World(format!("channel {}: tones: {e:?}", ch.id)))?;
        let mut spec = ChannelSpec::new(&ch.id);
        spec.preroll_frames = engine[i].preroll_frames;
        spec.gate = match &ch.cor {
            Cor::Always => GateSpec::Always,
            Cor::Vox(vox) => GateSpec::Vox {
                threshold_dbfs: vox.threshold_dbfs as f32,
            },
            Cor::Gpio(_) => GateSpec::CorLine,
        };
        spec.tones = plan
            .definitions
            .iter()
            .zip(&plan.names)
            .map(|((_, definition), named)| ToneSpec {
                tone_id: named.tone_id.clone(),
                alert_type: named.alert_type.clone(),
                definition: *definition,
                record_delay_ms: named.record_delay_ms,
                record_length_ms: named.record_length_ms,
                passthrough: named.passthrough.clone(),
            })
            .collect();
        spec.dtmf = plan
            .dtmf
            .zip(ch.dtmf.as_ref())
            .map(|(dtmf, section)| (dtmf, section.sequence_timeout_ms));
        spec.record = engine[i].record;
        spec.timers = ch.timers.core();
        spec.ptt = ch.ptt.is_some();
        spec.full_duplex = ch.full_duplex;
        spec.busy_lockout = ch.busy_lockout;
        spec.busy_wait_ms = ch.busy_wait_ms;
        spec.jitter = jitter_config(config);
        spec.output = ch.output_device.as_ref().map(|_| OutputSpec::default());
        spec.source = Some(if i == heard {
            SourceSpec::default().clip(Duration::ZERO, Sound::Samples(samples.into()), 0.0)
        } else {
            SourceSpec::default()
        });
        channels.push(spec);
    }
    Ok(NodeSpec {
        config: engine_config,
        channels,
        up: crate::world::LinkModel::clean(1),
        down: crate::world::LinkModel::clean(1),
    })
}

/// How long the run goes on after the recording ends (in silence), so
/// that what its last page started ends: the longest record delay plus
/// length, the DTMF sequence time-out, the PTT hang, and a second.
fn tail_ms(config: &Config, names: &[Vec<Named>]) -> u64 {
    let record_ms = names
        .iter()
        .flatten()
        .map(|n| u64::from(n.record_delay_ms) + u64::from(n.record_length_ms))
        .max()
        .unwrap_or(0);
    let dtmf_ms = config
        .channels
        .iter()
        .filter_map(|c| c.dtmf.as_ref())
        .map(|d| u64::from(d.sequence_timeout_ms))
        .max()
        .unwrap_or(0);
    let hang_ms = config
        .channels
        .iter()
        .map(|c| u64::from(c.timers.ptt_hang_ms) + u64::from(c.timers.cor_hang_ms))
        .max()
        .unwrap_or(0);
    record_ms + dtmf_ms + hang_ms + 1_000
}

/// The live node's log line for `event`, for those it logs at `info`
/// about pages and radios (what `net::driver` reports; the link's own
/// events are left out: the simulated relay is not the user's).
fn log_line(event: &Event, ids: &[&str], names: &[Vec<Named>]) -> Option<NetEvent> {
    let id = |c: ChannelIndex| ids[c.get()].to_owned();
    Some(match event {
        Event::Tone { channel, event, .. } => NetEvent::Tone {
            channel: id(*channel),
            definition: event
                .definition
                .and_then(|d| names[channel.get()].get(d.get()))
                .cloned(),
            event: *event,
        },
        Event::DtmfSequence { channel, sequence } => NetEvent::DtmfSequence {
            channel: id(*channel),
            digits: sequence.digits.as_str().to_owned(),
            cut_off: sequence.cut_off,
        },
        Event::Passthrough {
            source,
            target,
            edge,
            remaining_ms,
        } => NetEvent::Passthrough {
            source: id(*source),
            target: id(*target),
            edge: *edge,
            remaining: std::time::Duration::from_millis(u64::from(*remaining_ms)),
        },
        Event::Ptt { channel, event }
            if event.line_changed() || event.reason.name() == "lockout" =>
        {
            NetEvent::Ptt {
                channel: id(*channel),
                event: *event,
            }
        }
        Event::Cor { channel, open } => NetEvent::Cor {
            channel: id(*channel),
            open: *open,
        },
        Event::RemoteAudioDropped { channel, frames } => NetEvent::RemoteAudioDropped {
            channel: id(*channel),
            frames: *frames,
        },
        _ => return None,
    })
}

/// One recording as the engine's planner asked for it.
struct Planned {
    channel: usize,
    from: u64,
    stop: Option<(u64, bool)>,
    tone_ids: Vec<String>,
}

/// The recordings the engine asked for, named as the live recorder would
/// name them if the recording had started playing now.
fn recordings(
    config: &Config,
    ids: &[&str],
    records: &[(Instant, ChannelIndex, Effect)],
    alert_tones: &BTreeMap<(usize, AlertId), String>,
) -> Vec<PlannedRecording> {
    let mut planned: Vec<((usize, RecordingId), Planned)> = Vec::new();
    for &(_, channel, effect) in records {
        let c = channel.get();
        match effect {
            Effect::Start { recording, from } => planned.push((
                (c, recording),
                Planned {
                    channel: c,
                    from: from.0,
                    stop: None,
                    tone_ids: Vec::new(),
                },
            )),
            Effect::Joined { recording, alert } => {
                if let Some((_, p)) = planned.iter_mut().find(|(k, _)| *k == (c, recording)) {
                    let tone = alert_tones.get(&(c, alert)).cloned();
                    p.tone_ids.push(tone.unwrap_or_else(|| "?".to_owned()));
                }
            }
            Effect::Stop {
                recording,
                at,
                reason,
            } => {
                if let Some((_, p)) = planned.iter_mut().find(|(k, _)| *k == (c, recording)) {
                    p.stop = Some((at.0, reason.truncated()));
                }
            }
        }
    }
    let dir = if config.s3.is_some() {
        &config.recordings.spool_dir
    } else {
        &config.recordings.dir
    };
    let format = match config.recordings.format {
        RecordingFormat::Wav => Format::Wav,
        RecordingFormat::Opus => Format::Opus,
    };
    let now = SystemTime::now();
    let rate = f64::from(RATE_HZ);
    planned
        .into_iter()
        .map(|(_, p)| {
            let start_s = p.from as f64 / rate;
            let (end, truncated) = p.stop.unwrap_or((p.from, true));
            let alerts: Vec<(String, String)> = p
                .tone_ids
                .iter()
                .map(|t| (String::new(), t.clone()))
                .collect();
            let started = now + std::time::Duration::from_secs_f64(start_s);
            let name = recorder::file_name(started, ids[p.channel], &alerts);
            PlannedRecording {
                channel: ids[p.channel].to_owned(),
                start_s,
                length_s: end.saturating_sub(p.from) as f64 / rate,
                tone_ids: p.tone_ids,
                path: dir.join(format!("{name}.{}", format.extension())),
                truncated,
            }
        })
        .collect()
}

fn seconds(at: Instant) -> f64 {
    at.as_micros() as f64 / 1e6
}
