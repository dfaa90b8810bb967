//! Sound-card drift over an hour of virtual time: the paging station's
//! sound card runs 200 ppm fast, the listening station's output 200 ppm
//! slow (400 ppm apart, 1.44 s an hour). Every page of the hour alerts
//! once, every call is heard, and a 5-minute transmission (120 ms of
//! drift inside one talk-spurt) plays with the jitter delay in bounds
//! (jitter_bounds on every step).

mod scenario_support;

use echostream_core::ptt::Timers;
use echostream_sim::world::{NodeSpec, OutputSpec, Sound, SourceSpec, WorldBuilder};
use scenario_support::*;

#[test]
fn an_hour_at_400_ppm_apart_alerts_every_page_and_hears_every_call() {
    let tones = ["Station 1", "Station 2", "County EMS"];
    let mut source = SourceSpec {
        noise_dbfs: Some(-50.0),
        drift_ppm: 200.0,
        period_jitter_us: 1_000,
        ..SourceSpec::default()
    };
    let mut expected = Vec::new();
    for k in 0..6 {
        let tone = tones[k % 3];
        source = page(source, 30.0 + 600.0 * k as f64, tone);
        expected.push(tone.to_owned());
    }
    let mut calls = 0;
    for minute in 0..60 {
        let start = 60.0 * minute as f64 + 45.0;
        if (1_800.0..2_200.0).contains(&start) {
            continue;
        }
        source = source.clip(secs(start), Sound::Speech { ms: 5_000 }, -12.0);
        calls += 1;
    }
    source = source.clip(secs(1_845.0), Sound::Speech { ms: 300_000 }, -12.0);
    calls += 1;
    let dispatch = paging_station("dispatch", source);
    let listener = NodeSpec::new(
        "station-b",
        vec![
            radio(
                "pages",
                Timers {
                    timeout_s: 600,
                    ..Timers::DEFAULT
                },
            )
            .output(OutputSpec {
                drift_ppm: -200.0,
                period_jitter_us: 1_000,
                keep_samples: false,
            }),
        ],
    )
    .expect("valid node");
    // Transmissions up to 10 minutes (the relay cuts a talker at 180 s
    // unless set).
    let mut world = WorldBuilder::new(1212)
        .relay(|r| r.max_talk_s = 600)
        .node(dispatch)
        .node(listener)
        .build()
        .expect("a world");
    let wall = std::time::Instant::now();
    run_clean(&mut world, 3_600.0);
    println!(
        "an hour of virtual time in {:.2} s of wall time ({} steps)",
        wall.elapsed().as_secs_f64(),
        world.steps()
    );

    assert_eq!(alerts(&world, 0), expected);
    // Every call (and every page, which is audio too) keyed the far radio.
    let keyed = keyed_spans(&world, 1, 0);
    assert_eq!(keyed.len(), calls + expected.len(), "{} keys", keyed.len());
    let long = keyed
        .iter()
        .find(|(from, _)| (1_845.0..1_846.0).contains(from))
        .expect("the long call keyed it");
    assert!(long.1 - long.0 >= 300.0, "{long:?}");
    let (frames, concealed) = heard(&world, 1, "pages");
    let sent = frames_in(calls as f64 * 5.0 + 295.0);
    assert!(frames >= sent, "{frames} frames played, {sent} sent");
    assert!(concealed * 1000 <= frames, "{concealed} concealed");
}
