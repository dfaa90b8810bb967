//! One simulated hour of two nodes on the simulator's virtual time: a
//! paging station (three Quick Call II definitions, a page every ten
//! minutes, each recorded) and a radio station, talking to each other
//! through the relay engine once a minute each way (5 s calls), over
//! jittery, slightly lossy links, with every invariant checker on every
//! step. The figure is wall time per simulated hour (target: under 10 s).
//!
//! `cargo bench -p echostream-benches --bench sim_hour`

use std::time::Duration as WallDuration;

use criterion::{Criterion, criterion_group, criterion_main};
use echostream_core::ptt::Timers;
use echostream_core::time::Duration;
use echostream_sim::world::{
    BurstLoss, ChannelSpec, LinkModel, NodeSpec, OutputSpec, Sound, SourceSpec, ToneSpec, What,
    World, WorldBuilder,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn link() -> LinkModel {
    LinkModel {
        jitter: Duration::from_millis(20),
        loss: BurstLoss::bursts(0.01, 2.0),
        ..LinkModel::clean(25)
    }
}

fn world(seed: u64) -> World {
    let tones = ["Station 1", "Station 2", "County EMS"];
    let mut pages = SourceSpec {
        noise_dbfs: Some(-50.0),
        drift_ppm: 50.0,
        ..SourceSpec::default()
    };
    let mut talk = SourceSpec {
        drift_ppm: -50.0,
        ..SourceSpec::default()
    };
    for k in 0..6u64 {
        let tone_id = tones[k as usize % 3].to_owned();
        pages = pages.clip(secs(30 + 600 * k), Sound::Page { tone_id }, -10.0);
    }
    for minute in 0..60u64 {
        pages = pages.clip(secs(60 * minute + 45), Sound::Speech { ms: 5_000 }, -12.0);
        talk = talk.clip(secs(60 * minute + 52), Sound::Speech { ms: 5_000 }, -12.0);
    }
    let output = OutputSpec::default();
    let dispatch = NodeSpec::new(
        "dispatch",
        vec![
            ChannelSpec::new("pages")
                .tone(ToneSpec::quick_call("Station 1", 349.0, 707.3).record(500, 8_000))
                .tone(ToneSpec::quick_call("Station 2", 389.0, 832.5).record(500, 8_000))
                .tone(ToneSpec::quick_call("County EMS", 457.9, 1034.7).record(500, 8_000))
                .ptt(Timers::DEFAULT)
                .output(output)
                .source(pages),
        ],
    )
    .expect("valid node")
    .links(link());
    let station = NodeSpec::new(
        "station",
        vec![
            ChannelSpec::new("pages")
                .ptt(Timers::DEFAULT)
                .output(output)
                .source(talk),
        ],
    )
    .expect("valid node")
    .links(link());
    WorldBuilder::new(seed)
        .node(dispatch)
        .node(station)
        .build()
        .expect("a world")
}

fn sim_hour(c: &mut Criterion) {
    // Once outside the timing: the run is clean and does what it says.
    let mut check = world(1);
    check.run_for(secs(3_600));
    let violations = check.finish().to_vec();
    assert!(violations.is_empty(), "{violations:?}");
    let alerts = check
        .timeline
        .filter(|e| matches!(e.what, What::Alert { .. }))
        .count();
    println!(
        "one simulated hour: {} steps, {alerts} alerts, {} PTT changes at the station",
        check.steps(),
        check.nodes[1].ptt.len()
    );

    let mut group = c.benchmark_group("simulator");
    group.sample_size(10);
    group.warm_up_time(WallDuration::from_millis(1));
    group.measurement_time(WallDuration::from_secs(30));
    group.bench_function("one hour, two nodes, pages and calls", |b| {
        b.iter(|| {
            let mut w = world(1);
            w.run_for(secs(3_600));
            assert!(w.finish().is_empty());
        });
    });
    group.finish();
}

criterion_group!(benches, sim_hour);
criterion_main!(benches);
