//! What a run leaves for people: a timeline with each node's link counts,
//! one WAV per output device (what each radio was fed), one
//! `events.jsonl` per node, and the command that replays a failure.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::world::{LinkStats, Violation, World};

/// The device rate of every simulated sound card.
const RATE_HZ: u32 = 48_000;

/// The timeline, then per node its links' counts and its PTT time keyed.
pub fn summary(world: &World) -> String {
    let mut out = world.timeline.to_string();
    let _ = writeln!(
        out,
        "\nlinks (datagrams sent / lost / outage-lost / reordered / duplicated / flipped / replayed):"
    );
    for node in &world.nodes {
        let line = |stats: &LinkStats| {
            format!(
                "{} / {} / {} / {} / {} / {} / {}",
                stats.datagrams,
                stats.lost,
                stats.outage_lost,
                stats.reordered,
                stats.duplicated,
                stats.flipped,
                stats.replayed
            )
        };
        let _ = writeln!(
            out,
            "  {:<12} up {}   down {}",
            node.id(),
            line(&node.up.stats),
            line(&node.down.stats)
        );
    }
    out
}

/// How a broken invariant is reported: checker, step, time, seed, detail.
pub fn violation_line(v: &Violation) -> String {
    format!(
        "{} at step {}, {:.3} s virtual, seed {}: {}",
        v.checker,
        v.step,
        v.at.as_micros() as f64 / 1e6,
        v.seed,
        v.detail
    )
}

/// The command that replays a scenario file with `seed`.
pub fn replay_file(file: &Path, seed: u64) -> String {
    format!("echostream-sim run {} --seed {seed}", file.display())
}

/// The command that replays the random scenario of `seed`.
pub fn replay_random(seed: u64) -> String {
    format!("echostream-sim run --random --seed {seed}")
}

/// Writes `<node>-<channel>.wav` for every output device that kept its
/// samples and `<node>.events.jsonl` for every node into `dir`; returns
/// the files written.
///
/// # Errors
/// Any I/O error.
pub fn write_outputs(world: &World, dir: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for node in &world.nodes {
        let channels = node.engine.config().channels();
        for (c, channel) in channels.iter().enumerate() {
            let Some(samples) = node.output(c).and_then(|o| o.samples.as_ref()) else {
                continue;
            };
            let file = dir.join(format!(
                "{}-{}.wav",
                file_part(node.id()),
                file_part(&channel.id)
            ));
            write_wav(&file, samples)?;
            written.push(file);
        }
        let file = dir.join(format!("{}.events.jsonl", file_part(node.id())));
        let mut out = io::BufWriter::new(std::fs::File::create(&file)?);
        for (at, event) in &node.events {
            let debug = format!("{event:?}");
            let kind = debug
                .split(|c: char| !c.is_alphanumeric())
                .next()
                .unwrap_or("");
            let line = serde_json::json!({
                "t_s": at.as_micros() as f64 / 1e6,
                "node": node.id(),
                "kind": kind,
                "event": debug,
            });
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        written.push(file);
    }
    Ok(written)
}

/// Ids as file names: anything but letters, digits, `-`, `_` and `.`
/// becomes `_`.
fn file_part(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn write_wav(file: &Path, samples: &[i16]) -> io::Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(file, spec).map_err(io::Error::other)?;
    for &s in samples {
        writer.write_sample(s).map_err(io::Error::other)?;
    }
    writer.finalize().map_err(io::Error::other)
}
