//! What the scenario tests share: the radios they are made of, a run that
//! fails with the timeline and the first broken invariant, and what a
//! user would notice of a run (transmitter keyed spans, frames heard,
//! alerts).
#![allow(dead_code)]

use echostream_core::ptt::Timers;
use echostream_core::time::{Duration, Instant};
use echostream_sim::world::{
    ChannelSpec, NodeSpec, OutputSpec, Sound, SourceSpec, ToneSpec, What, World,
};

/// Seconds as a virtual duration.
pub fn secs(s: f64) -> Duration {
    Duration::from_micros((s * 1e6).round() as u64)
}

/// Seconds of a virtual instant.
pub fn at_s(at: Instant) -> f64 {
    at.as_micros() as f64 / 1e6
}

/// A receiver's audio: speech at −12 dBFS for each `(start_s, length_s)`.
pub fn speech(spurts: &[(f64, f64)]) -> SourceSpec {
    spurts
        .iter()
        .fold(SourceSpec::default(), |source, &(start, len)| {
            source.clip(
                secs(start),
                Sound::Speech {
                    ms: (len * 1e3) as u32,
                },
                -12.0,
            )
        })
}

/// A radio channel `id`: VOX on its receiver, a transmitter with
/// `timers`, an output device that keeps what it played.
pub fn radio(id: &str, timers: Timers) -> ChannelSpec {
    ChannelSpec::new(id).ptt(timers).output(OutputSpec {
        keep_samples: true,
        ..OutputSpec::default()
    })
}

/// A node `id` with one radio channel `fire` whose receiver hears
/// `source`.
pub fn station(id: &str, source: SourceSpec) -> NodeSpec {
    NodeSpec::new(id, vec![radio("fire", Timers::DEFAULT).source(source)]).expect("valid node")
}

/// A node `id` with a paging channel `pages` (three Quick Call II tones,
/// each recording 6 s from 0.5 s after its page) hearing `source`.
pub fn paging_station(id: &str, source: SourceSpec) -> NodeSpec {
    NodeSpec::new(id, vec![pages_channel().source(source)]).expect("valid node")
}

/// The paging channel of [`paging_station`], without a source.
pub fn pages_channel() -> ChannelSpec {
    ChannelSpec::new("pages")
        .tone(ToneSpec::quick_call("Station 1", 349.0, 707.3).record(500, 6_000))
        .tone(ToneSpec::quick_call("Station 2", 389.0, 832.5).record(500, 6_000))
        .tone(ToneSpec::quick_call("County EMS", 457.9, 1034.7).record(500, 6_000))
}

/// A page of `tone_id` at `start_s`, at −10 dBFS.
pub fn page(source: SourceSpec, start_s: f64, tone_id: &str) -> SourceSpec {
    source.clip(
        secs(start_s),
        Sound::Page {
            tone_id: tone_id.to_owned(),
        },
        -10.0,
    )
}

/// Runs `world` for `span_s` and ends it; fails naming every broken
/// invariant, with the timeline, when any is.
pub fn run_clean(world: &mut World, span_s: f64) {
    world.run_for(secs(span_s));
    let violations = world.finish().to_vec();
    if !violations.is_empty() {
        for entry in world.timeline.filter(|_| true) {
            eprintln!("{entry}");
        }
        let lines: Vec<String> = violations.iter().take(10).map(|v| v.to_string()).collect();
        panic!(
            "{} invariant(s) broken (seed {}):\n{}",
            violations.len(),
            world.seed(),
            lines.join("\n")
        );
    }
}

/// Prints the timeline (shown by `cargo test -- --nocapture`, and on a
/// failure).
pub fn print_timeline(world: &World) {
    for entry in world.timeline.filter(|_| true) {
        println!("{entry}");
    }
}

/// The spans node `node`'s channel `channel` had its transmitter keyed,
/// in seconds; an open span ends at `f64::INFINITY`.
pub fn keyed_spans(world: &World, node: usize, channel: usize) -> Vec<(f64, f64)> {
    let mut spans = Vec::new();
    let mut since = None;
    for &(at, ch, keyed) in &world.nodes[node].ptt {
        if ch.get() != channel {
            continue;
        }
        match (keyed, since) {
            (true, None) => since = Some(at_s(at)),
            (false, Some(from)) => {
                spans.push((from, at_s(at)));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(from) = since {
        spans.push((from, f64::INFINITY));
    }
    spans
}

/// Frames played and concealed by node `node`'s channel `channel`, over
/// every talk-spurt (from the timeline).
pub fn heard(world: &World, node: usize, channel: &str) -> (u64, u64) {
    let id = world.nodes[node].id().to_owned();
    world
        .timeline
        .filter(|e| e.node.as_deref() == Some(id.as_str()))
        .fold((0, 0), |(f, c), e| match &e.what {
            What::Heard {
                channel: ch,
                frames,
                concealed,
            } if ch == channel => (f + frames, c + concealed),
            _ => (f, c),
        })
}

/// The tone ids node `node` alerted on, in order.
pub fn alerts(world: &World, node: usize) -> Vec<String> {
    let id = world.nodes[node].id().to_owned();
    world
        .timeline
        .filter(|e| e.node.as_deref() == Some(id.as_str()))
        .filter_map(|e| match &e.what {
            What::Alert { tone_id, .. } => Some(tone_id.clone()),
            _ => None,
        })
        .collect()
}

/// The pages node `node` was told of by other sites: (from, tone id).
pub fn remote_alerts(world: &World, node: usize) -> Vec<(String, String)> {
    let id = world.nodes[node].id().to_owned();
    world
        .timeline
        .filter(|e| e.node.as_deref() == Some(id.as_str()))
        .filter_map(|e| match &e.what {
            What::RemoteAlert { from, tone_id, .. } => Some((from.clone(), tone_id.clone())),
            _ => None,
        })
        .collect()
}

/// How many timeline entries of node `node` match.
pub fn count(world: &World, node: usize, matches: impl Fn(&What) -> bool) -> usize {
    let id = world.nodes[node].id().to_owned();
    world
        .timeline
        .filter(|e| e.node.as_deref() == Some(id.as_str()) && matches(&e.what))
        .count()
}

/// Audio frames (20 ms) in `seconds`.
pub fn frames_in(seconds: f64) -> u64 {
    (seconds * 50.0).round() as u64
}
