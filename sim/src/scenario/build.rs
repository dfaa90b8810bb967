//! From a [`Scenario`] to a [`WorldBuilder`]: every reference and range is
//! checked first, and whatever is wrong is named by its JSON path
//! (`nodes[1].channels[0].tones[0].passthrough`), so a person can find it.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use echostream_core::ptt::Timers;
use echostream_core::time::Duration;
use echostream_core::tone::{
    Definition, Definitions, HiLowDef, LongToneDef, PulsedDef, TwoToneDef, recommended_range_hz,
};

use super::format::{
    ActionDef, BurstDef, ChannelDef, ClipDef, DirectionDef, GateDef, LinkDef, NodeDef, PathDef,
    Scenario, SourceDef, TimersDef, ToneDef, ToneKind,
};
use crate::world::{
    Action, BurstLoss, ChannelSpec, Clip, CorScript, Direction, GateSpec, LinkModel, NodeSpec,
    OutputSpec, Path as TrafficPath, Sound, SourceSpec, ToneSpec, WorldBuilder,
};

/// The longest run, s: sound cards' media origins are 93 minutes apart
/// (see the world's docs).
pub const DURATION_S_MAX: f64 = 3_600.0;

/// A scenario that cannot be run: where in the file, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The JSON path (`nodes[0].channels[1].id`; empty: the whole file).
    pub path: String,
    /// What is wrong there.
    pub reason: String,
}

impl ScenarioError {
    /// At `path`, `reason`.
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> ScenarioError {
        ScenarioError {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() || self.path == "." {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for ScenarioError {}

type Result<T> = std::result::Result<T, ScenarioError>;

/// How a scenario is turned into a world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Output devices keep every sample (for WAV files).
    pub keep_samples: bool,
}

/// A scenario checked and turned into a builder.
#[derive(Debug)]
pub struct Prepared {
    /// The world, ready to build.
    pub builder: WorldBuilder,
    /// The seed it follows.
    pub seed: u64,
    /// How long to run.
    pub duration: Duration,
}

/// Seconds (checked finite and ≥ 0 by the caller) as a [`Duration`].
pub fn secs(s: f64) -> Duration {
    Duration::from_micros((s * 1e6).round() as u64)
}

/// Checks `scenario` and makes its builder; `base` is the directory WAV
/// paths are relative to.
///
/// # Errors
/// The first thing wrong, by JSON path.
pub fn prepare(scenario: &Scenario, base: &Path, options: BuildOptions) -> Result<Prepared> {
    let duration_s = scenario.duration_s;
    if !(duration_s.is_finite() && duration_s > 0.0 && duration_s <= DURATION_S_MAX) {
        return Err(ScenarioError::new(
            "duration_s",
            format!("{duration_s} is not in (0, {DURATION_S_MAX}] s"),
        ));
    }
    if scenario.nodes.is_empty() {
        return Err(ScenarioError::new("nodes", "at least one node is needed"));
    }
    if scenario.nodes.len() > 200 {
        return Err(ScenarioError::new("nodes", "at most 200 nodes"));
    }
    let seed = options.seed.or(scenario.seed).unwrap_or(1);
    let mut builder = WorldBuilder::new(seed);
    let mut ids = HashSet::new();
    for (n, node) in scenario.nodes.iter().enumerate() {
        let path = format!("nodes[{n}]");
        if !ids.insert(node.id.as_str()) {
            return Err(ScenarioError::new(
                format!("{path}.id"),
                format!("`{}` is used twice", node.id),
            ));
        }
        builder = builder.node(node_spec(node, &path, duration_s, base, options)?);
    }
    for (a, action) in scenario.actions.iter().enumerate() {
        let path = format!("actions[{a}]");
        builder = add_action(builder, scenario, action, &path)?;
    }
    Ok(Prepared {
        builder,
        seed,
        duration: secs(duration_s),
    })
}

fn node_spec(
    node: &NodeDef,
    path: &str,
    duration_s: f64,
    base: &Path,
    options: BuildOptions,
) -> Result<NodeSpec> {
    if node.channels.is_empty() {
        return Err(ScenarioError::new(
            format!("{path}.channels"),
            "at least one channel is needed",
        ));
    }
    let mut channel_ids = HashSet::new();
    let mut channels = Vec::new();
    for (c, channel) in node.channels.iter().enumerate() {
        let path = format!("{path}.channels[{c}]");
        if !channel_ids.insert(channel.id.as_str()) {
            return Err(ScenarioError::new(
                format!("{path}.id"),
                format!("`{}` is used twice on this node", channel.id),
            ));
        }
        channels.push(channel_spec(
            node, channel, &path, duration_s, base, options,
        )?);
    }
    let mut spec = NodeSpec::new(&node.id, channels)
        .map_err(|e| ScenarioError::new(path, format!("refused by the node: {e}")))?;
    let both = match &node.link {
        Some(link) => link_model(link, &format!("{path}.link"))?,
        None => LinkModel::clean(10),
    };
    spec.up = match &node.up {
        Some(link) => link_model(link, &format!("{path}.up"))?,
        None => both.clone(),
    };
    spec.down = match &node.down {
        Some(link) => link_model(link, &format!("{path}.down"))?,
        None => both,
    };
    Ok(spec)
}

fn channel_spec(
    node: &NodeDef,
    channel: &ChannelDef,
    path: &str,
    duration_s: f64,
    base: &Path,
    options: BuildOptions,
) -> Result<ChannelSpec> {
    let mut spec = ChannelSpec::new(&channel.id);
    spec.gate = match channel.gate {
        GateDef::Vox => GateSpec::Vox {
            threshold_dbfs: finite_f32(
                channel.vox_threshold_dbfs,
                &format!("{path}.vox_threshold_dbfs"),
            )?,
        },
        GateDef::Always => GateSpec::Always,
        GateDef::CorLine => GateSpec::CorLine,
    };
    spec.preroll_frames = channel.preroll_frames;
    spec.timers = timers(channel.timers.as_ref(), &format!("{path}.timers"))?;
    spec.ptt = channel.ptt;
    spec.full_duplex = channel.full_duplex;
    spec.busy_lockout = channel.busy_lockout;
    let mut definitions = Definitions::new();
    let mut tone_ids = HashSet::new();
    for (t, tone) in channel.tones.iter().enumerate() {
        let path = format!("{path}.tones[{t}]");
        if !tone_ids.insert(tone.tone_id.as_str()) {
            return Err(ScenarioError::new(
                format!("{path}.tone_id"),
                format!("`{}` is used twice on this channel", tone.tone_id),
            ));
        }
        let tone_spec = tone_spec(node, channel, tone, &path)?;
        definitions
            .push(tone_spec.definition)
            .map_err(|e| ScenarioError::new(&path, format!("refused by the detector: {e}")))?;
        spec.tones.push(tone_spec);
    }
    if let Some(source) = &channel.source {
        let path = format!("{path}.source");
        spec.source = Some(source_spec(channel, source, &path, duration_s, base)?);
    }
    if let Some(output) = &channel.output {
        let path = format!("{path}.output");
        spec.output = Some(OutputSpec {
            drift_ppm: ppm(output.drift_ppm, &format!("{path}.drift_ppm"))?,
            period_jitter_us: output.period_jitter_us,
            keep_samples: options.keep_samples,
        });
    }
    Ok(spec)
}

fn timers(def: Option<&TimersDef>, path: &str) -> Result<Timers> {
    let d = Timers::DEFAULT;
    let Some(def) = def else {
        return Ok(d);
    };
    let timers = Timers {
        cor_debounce_ms: def.cor_debounce_ms.unwrap_or(d.cor_debounce_ms),
        cor_open_delay_ms: d.cor_open_delay_ms,
        cor_hang_ms: def.cor_hang_ms.unwrap_or(d.cor_hang_ms),
        tx_delay_ms: def.tx_delay_ms.unwrap_or(d.tx_delay_ms),
        ptt_hang_ms: def.ptt_hang_ms.unwrap_or(d.ptt_hang_ms),
        timeout_s: def.timeout_s.unwrap_or(d.timeout_s),
        lockout_s: def.lockout_s.unwrap_or(d.lockout_s),
    };
    if timers.timeout_s == 0 {
        return Err(ScenarioError::new(
            format!("{path}.timeout_s"),
            "must not be 0",
        ));
    }
    Ok(timers)
}

fn tone_spec(node: &NodeDef, channel: &ChannelDef, tone: &ToneDef, path: &str) -> Result<ToneSpec> {
    let a_hz = finite_f32(tone.a_hz, &format!("{path}.a_hz"))?;
    let b_hz = || -> Result<f32> {
        let b = tone.b_hz.ok_or_else(|| {
            ScenarioError::new(format!("{path}.b_hz"), "missing (this kind has two tones)")
        })?;
        finite_f32(b, &format!("{path}.b_hz"))
    };
    let definition = match tone.kind {
        ToneKind::QuickCall => Definition::TwoTone(TwoToneDef::quick_call(a_hz, b_hz()?)),
        ToneKind::Long => {
            if tone.b_hz.is_some() {
                return Err(ScenarioError::new(
                    format!("{path}.b_hz"),
                    "a long tone has only `a_hz`",
                ));
            }
            Definition::LongTone(LongToneDef {
                hz: a_hz,
                length_ms: tone.length_ms.unwrap_or(2_000),
                range_hz: recommended_range_hz(a_hz),
                ignore_after_ms: 10_000,
            })
        }
        ToneKind::HiLow => {
            let b_hz = b_hz()?;
            Definition::HiLow(HiLowDef {
                a_hz,
                b_hz,
                a_range_hz: recommended_range_hz(a_hz),
                b_range_hz: recommended_range_hz(b_hz),
                min_tone_ms: tone.min_tone_ms.unwrap_or(250),
                alternations: tone.alternations.unwrap_or(4),
                max_gap_ms: 100,
                ignore_after_ms: 10_000,
            })
        }
        ToneKind::Pulsed => {
            if tone.b_hz.is_some() {
                return Err(ScenarioError::new(
                    format!("{path}.b_hz"),
                    "a pulsed tone has only `a_hz`",
                ));
            }
            let (on_ms, off_ms) = (tone.on_ms.unwrap_or(300), tone.off_ms.unwrap_or(200));
            Definition::Pulsed(PulsedDef {
                hz: a_hz,
                range_hz: recommended_range_hz(a_hz),
                on_ms,
                on_range_ms: on_ms / 4,
                off_ms,
                off_range_ms: off_ms / 4,
                min_pulses: tone.pulses.unwrap_or(4),
                ignore_after_ms: 10_000,
            })
        }
    };
    if let Some(target) = &tone.passthrough {
        if target == &channel.id {
            return Err(ScenarioError::new(
                format!("{path}.passthrough"),
                "a channel cannot pass through to itself",
            ));
        }
        if !node.channels.iter().any(|c| &c.id == target) {
            return Err(ScenarioError::new(
                format!("{path}.passthrough"),
                format!("node `{}` has no channel `{target}`", node.id),
            ));
        }
    }
    Ok(ToneSpec {
        tone_id: tone.tone_id.clone(),
        alert_type: tone.alert_type.clone(),
        definition,
        record_delay_ms: tone.record_delay_ms,
        record_length_ms: tone.record_length_ms,
        passthrough: tone.passthrough.clone(),
    })
}

fn source_spec(
    channel: &ChannelDef,
    source: &SourceDef,
    path: &str,
    duration_s: f64,
    base: &Path,
) -> Result<SourceSpec> {
    let mut spec = SourceSpec {
        clips: Vec::new(),
        noise_dbfs: match source.noise_dbfs {
            Some(dbfs) => Some(level(dbfs, &format!("{path}.noise_dbfs"))?),
            None => None,
        },
        drift_ppm: ppm(source.drift_ppm, &format!("{path}.drift_ppm"))?,
        period_jitter_us: source.period_jitter_us,
        ends_at: match source.ends_at_s {
            Some(s) => Some(secs(moment(s, duration_s, &format!("{path}.ends_at_s"))?)),
            None => None,
        },
    };
    for (k, clip) in source.clips.iter().enumerate() {
        let path = format!("{path}.clips[{k}]");
        let at = secs(moment(clip.at_s(), duration_s, &format!("{path}.at_s"))?);
        let (sound, level_dbfs) = match clip {
            ClipDef::Page {
                tone_id,
                level_dbfs,
                ..
            } => {
                if !channel.tones.iter().any(|t| &t.tone_id == tone_id) {
                    return Err(ScenarioError::new(
                        format!("{path}.tone_id"),
                        format!("channel `{}` has no tone `{tone_id}`", channel.id),
                    ));
                }
                let sound = Sound::Page {
                    tone_id: tone_id.clone(),
                };
                (sound, *level_dbfs)
            }
            ClipDef::Speech { ms, level_dbfs, .. } => (Sound::Speech { ms: *ms }, *level_dbfs),
            ClipDef::Noise { ms, level_dbfs, .. } => (Sound::Noise { ms: *ms }, *level_dbfs),
            ClipDef::Tone {
                hz, ms, level_dbfs, ..
            } => {
                if !(hz.is_finite() && *hz > 0.0 && *hz < 24_000.0) {
                    return Err(ScenarioError::new(
                        format!("{path}.hz"),
                        format!("{hz} is not in (0, 24000) Hz"),
                    ));
                }
                (Sound::Tone { hz: *hz, ms: *ms }, *level_dbfs)
            }
            ClipDef::Dtmf {
                digits,
                on_ms,
                off_ms,
                level_dbfs,
                ..
            } => {
                if let Some(bad) = digits.chars().find(|d| !"0123456789ABCD*#".contains(*d)) {
                    return Err(ScenarioError::new(
                        format!("{path}.digits"),
                        format!("`{bad}` is no DTMF digit (0-9, A-D, *, #)"),
                    ));
                }
                let sound = Sound::Dtmf {
                    digits: digits.clone(),
                    on_ms: *on_ms,
                    off_ms: *off_ms,
                };
                (sound, *level_dbfs)
            }
            ClipDef::Wav {
                path: file,
                level_dbfs,
                ..
            } => {
                let sound = Sound::wav(&base.join(file), 48_000)
                    .map_err(|e| ScenarioError::new(format!("{path}.path"), e))?;
                (sound, *level_dbfs)
            }
        };
        spec.clips.push(Clip {
            at,
            sound,
            level_dbfs: level(level_dbfs, &format!("{path}.level_dbfs"))?,
        });
    }
    Ok(spec)
}

/// A link's model; probabilities must be in 0..=1.
pub fn link_model(link: &LinkDef, path: &str) -> Result<LinkModel> {
    let chance = |p: f64, field: &str| -> Result<f64> {
        if (0.0..=1.0).contains(&p) {
            Ok(p)
        } else {
            Err(ScenarioError::new(
                format!("{path}.{field}"),
                format!("{p} is no probability (0 to 1)"),
            ))
        }
    };
    let loss = match link.burst {
        Some(BurstDef { rate, mean_burst }) => {
            if !(0.0..1.0).contains(&rate) {
                return Err(ScenarioError::new(
                    format!("{path}.burst.rate"),
                    format!("{rate} is not in [0, 1)"),
                ));
            }
            if !(mean_burst.is_finite() && mean_burst >= 1.0) {
                return Err(ScenarioError::new(
                    format!("{path}.burst.mean_burst"),
                    format!("{mean_burst} is less than 1 datagram"),
                ));
            }
            BurstLoss::bursts(rate, mean_burst)
        }
        None => BurstLoss::uniform(chance(link.loss, "loss")?),
    };
    Ok(LinkModel {
        latency: Duration::from_millis(link.latency_ms),
        jitter: Duration::from_millis(link.jitter_ms),
        loss,
        reorder: chance(link.reorder, "reorder")?,
        reorder_delay: Duration::from_millis(link.reorder_delay_ms),
        duplicate: chance(link.duplicate, "duplicate")?,
        bit_flip: chance(link.bit_flip, "bit_flip")?,
        replay: chance(link.replay, "replay")?,
        replay_depth: link.replay_depth,
    })
}

fn add_action(
    builder: WorldBuilder,
    scenario: &Scenario,
    action: &ActionDef,
    path: &str,
) -> Result<WorldBuilder> {
    let end_s = scenario.duration_s;
    let node = |id: &str, field: &str| -> Result<usize> {
        scenario
            .nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or_else(|| ScenarioError::new(format!("{path}.{field}"), format!("no node `{id}`")))
    };
    let cor_channel = |n: usize, id: &str| -> Result<usize> {
        let channels = &scenario.nodes[n].channels;
        let c = channels.iter().position(|c| c.id == id).ok_or_else(|| {
            ScenarioError::new(
                format!("{path}.channel"),
                format!("node `{}` has no channel `{id}`", scenario.nodes[n].id),
            )
        })?;
        if channels[c].gate != GateDef::CorLine {
            return Err(ScenarioError::new(
                format!("{path}.channel"),
                format!("channel `{id}` has no COR line (its gate is not `cor_line`)"),
            ));
        }
        Ok(c)
    };
    let at = |s: f64, field: &str| -> Result<_> {
        Ok(secs(moment(s, end_s, &format!("{path}.{field}"))?))
    };
    let span = |s: f64, field: &str| -> Result<_> {
        if s.is_finite() && s > 0.0 {
            Ok(secs(s))
        } else {
            Err(ScenarioError::new(
                format!("{path}.{field}"),
                format!("{s} is not a positive number of seconds"),
            ))
        }
    };
    Ok(match action {
        ActionDef::CorPulses {
            node: id,
            channel,
            pulses_s,
        } => {
            let n = node(id, "node")?;
            let c = cor_channel(n, channel)?;
            let mut pulses = Vec::new();
            for (k, &(from, to)) in pulses_s.iter().enumerate() {
                let field = format!("pulses_s[{k}]");
                let (from, to) = (at(from, &field)?, at(to, &field)?);
                if to <= from {
                    return Err(ScenarioError::new(
                        format!("{path}.{field}"),
                        "a pulse must end after it starts",
                    ));
                }
                pulses.push((from, to));
            }
            builder.cor(n, c, &CorScript::Pulses(pulses))
        }
        ActionDef::CorChatter {
            node: id,
            channel,
            from_s,
            duration_s,
            period_ms,
        } => {
            let n = node(id, "node")?;
            let c = cor_channel(n, channel)?;
            if *period_ms == 0 {
                return Err(ScenarioError::new(
                    format!("{path}.period_ms"),
                    "must not be 0",
                ));
            }
            let script = CorScript::Chatter {
                from: at(*from_s, "from_s")?,
                duration: span(*duration_s, "duration_s")?,
                period: Duration::from_millis(u64::from(*period_ms)),
            };
            builder.cor(n, c, &script)
        }
        ActionDef::CorStuck {
            node: id,
            channel,
            at_s,
        } => {
            let n = node(id, "node")?;
            let c = cor_channel(n, channel)?;
            builder.cor(
                n,
                c,
                &CorScript::Stuck {
                    at: at(*at_s, "at_s")?,
                },
            )
        }
        ActionDef::Outage {
            at_s,
            duration_s,
            node: id,
            direction,
            path: traffic,
        } => {
            let node = match id {
                Some(id) => Some(node(id, "node")?),
                None => None,
            };
            let outage = Action::Outage {
                node,
                direction: direction_of(*direction),
                path: match traffic {
                    PathDef::Signaling => TrafficPath::Signaling,
                    PathDef::Media => TrafficPath::Media,
                    PathDef::Both => TrafficPath::Both,
                },
                duration: span(*duration_s, "duration_s")?,
            };
            builder.at(at(*at_s, "at_s")?, outage)
        }
        ActionDef::Partition {
            at_s,
            duration_s,
            nodes,
        } => {
            if nodes.is_empty() {
                return Err(ScenarioError::new(
                    format!("{path}.nodes"),
                    "name at least one node",
                ));
            }
            let (start, duration) = (at(*at_s, "at_s")?, span(*duration_s, "duration_s")?);
            let mut builder = builder;
            for (k, id) in nodes.iter().enumerate() {
                let outage = Action::Outage {
                    node: Some(node(id, &format!("nodes[{k}]"))?),
                    direction: Direction::Both,
                    path: TrafficPath::Both,
                    duration,
                };
                builder = builder.at(start, outage);
            }
            builder
        }
        ActionDef::SetLink {
            at_s,
            node: id,
            direction,
            link,
        } => {
            let action = Action::SetLink {
                node: node(id, "node")?,
                direction: direction_of(*direction),
                model: link_model(link, &format!("{path}.link"))?,
            };
            builder.at(at(*at_s, "at_s")?, action)
        }
        ActionDef::RelayRestart { at_s, down_for_ms } => builder.at(
            at(*at_s, "at_s")?,
            Action::RelayRestart {
                down_for: Duration::from_millis(*down_for_ms),
            },
        ),
        ActionDef::Rekey { at_s, node: id } => {
            let node = match id {
                Some(id) => Some(node(id, "node")?),
                None => None,
            };
            builder.at(at(*at_s, "at_s")?, Action::Rekey { node })
        }
        ActionDef::Shutdown { at_s, node: id } => {
            let node = node(id, "node")?;
            builder.at(at(*at_s, "at_s")?, Action::Shutdown { node })
        }
    })
}

fn direction_of(direction: DirectionDef) -> Direction {
    match direction {
        DirectionDef::Up => Direction::Up,
        DirectionDef::Down => Direction::Down,
        DirectionDef::Both => Direction::Both,
    }
}

/// A moment of the run: finite, in `[0, end_s]`.
fn moment(s: f64, end_s: f64, path: &str) -> Result<f64> {
    if s.is_finite() && (0.0..=end_s).contains(&s) {
        Ok(s)
    } else {
        Err(ScenarioError::new(
            path,
            format!("{s} s is not within the run (0 to {end_s} s)"),
        ))
    }
}

fn level(dbfs: f64, path: &str) -> Result<f64> {
    if dbfs.is_finite() && (-150.0..=20.0).contains(&dbfs) {
        Ok(dbfs)
    } else {
        Err(ScenarioError::new(
            path,
            format!("{dbfs} dBFS is not in [-150, 20]"),
        ))
    }
}

fn ppm(ppm: f64, path: &str) -> Result<f64> {
    if ppm.is_finite() && ppm.abs() <= 1_000.0 {
        Ok(ppm)
    } else {
        Err(ScenarioError::new(
            path,
            format!("{ppm} ppm is not in [-1000, 1000]"),
        ))
    }
}

fn finite_f32(x: f32, path: &str) -> Result<f32> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(ScenarioError::new(path, "not a finite number"))
    }
}
