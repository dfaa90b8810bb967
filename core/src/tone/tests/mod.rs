//! Whole-detector tests: state-machine edge cases on clean signals,
//! timing at every device rate, hostile sample values, and the
//! block-splitting property. The acceptance sweeps (noise, speech, the
//! whole Quick Call II table) live in `sim/tests/tone_*.rs`.

extern crate std;

use core::f64::consts::TAU;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::time::SampleIndex;

mod pulsed;

/// A test signal at `rate_hz`: phase-continuous tones and silences.
struct Sig {
    rate_hz: u32,
    samples: Vec<f32>,
    phase: f64,
}

impl Sig {
    fn new(rate_hz: u32) -> Sig {
        Sig {
            rate_hz,
            samples: Vec::new(),
            phase: 0.0,
        }
    }

    fn len_for(&self, ms: f64) -> usize {
        (ms * self.rate_hz as f64 / 1_000.0).round() as usize
    }

    fn tone(&mut self, hz: f64, ms: f64, amplitude: f64) -> &mut Sig {
        for _ in 0..self.len_for(ms) {
            self.phase = (self.phase + TAU * hz / self.rate_hz as f64) % TAU;
            self.samples.push((amplitude * self.phase.sin()) as f32);
        }
        self
    }

    fn silence(&mut self, ms: f64) -> &mut Sig {
        let n = self.len_for(ms);
        self.samples.extend(std::iter::repeat_n(0.0, n));
        self
    }

    fn page(&mut self, a: f64, b: f64, a_ms: f64, gap_ms: f64, b_ms: f64) -> &mut Sig {
        self.tone(a, a_ms, 0.5).silence(gap_ms).tone(b, b_ms, 0.5)
    }

    fn ms_at(&self, frames: u64) -> f64 {
        frames as f64 * 1_000.0 / self.rate_hz as f64
    }
}

/// Moves every event `det` holds into `events`.
fn drain(det: &mut ChannelDetector, events: &mut Vec<ToneEvent>) {
    events.extend(core::iter::from_fn(|| det.poll_event()));
}

fn run_blocks(det: &mut ChannelDetector, samples: &[f32], block: usize) -> Vec<ToneEvent> {
    let mut events = Vec::new();
    let mut at = 0u64;
    for chunk in samples.chunks(block.max(1)) {
        det.process_f32(SampleIndex(at), chunk);
        at += chunk.len() as u64;
        drain(det, &mut events);
    }
    det.flush();
    drain(det, &mut events);
    events
}

fn detect(defs: &Definitions, sig: &Sig) -> Vec<ToneEvent> {
    let mut det = ChannelDetector::new(sig.rate_hz, defs).expect("rate");
    run_blocks(&mut det, &sig.samples, 160)
}

fn one(def: impl Into<Definition>) -> Definitions {
    let mut d = Definitions::new();
    d.push(def).expect("valid definition");
    d
}

fn qc(a: f32, b: f32) -> TwoToneDef {
    TwoToneDef {
        ignore_after_ms: 0,
        max_gap_ms: 0,
        ..TwoToneDef::quick_call(a, b)
    }
}

#[test]
fn a_clean_page_alerts_once_while_b_still_sounds() {
    let mut sig = Sig::new(8_000);
    sig.silence(500.0)
        .page(600.9, 1_092.4, 1_000.0, 0.0, 3_000.0)
        .silence(1_000.0);
    let events = detect(&one(qc(600.9, 1_092.4)), &sig);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = events[0];
    assert_eq!(e.definition.map(DefinitionIndex::get), Some(0));
    assert_eq!(e.kind(), ToneKind::TwoTone);
    let Measured::TwoTone { a_hz, b_hz } = e.measured else {
        panic!("{e:?}")
    };
    assert!(
        (a_hz - 600.9).abs() < 0.2 && (b_hz - 1_092.4).abs() < 0.2,
        "{e:?}"
    );
    // A starts at 500 ms; B's minimum (2 s) is met at 3.5 s.
    assert!((sig.ms_at(e.start.0) - 500.0).abs() <= 40.0, "{e:?}");
    let after_min_ms = sig.ms_at(e.detected_at.0) - 3_500.0;
    assert!(
        (-70.0..=150.0).contains(&after_min_ms),
        "fired {after_min_ms} ms after B's minimum"
    );
    assert!(e.latency_ms <= 150);
    assert!(sig.ms_at(e.detected_at.0) < 4_500.0, "fired after B ended");
}

#[test]
fn the_end_of_the_alerted_tone_is_reported_once_it_stops() {
    let mut sig = Sig::new(48_000);
    sig.silence(500.0)
        .page(600.9, 1_092.4, 1_000.0, 0.0, 3_000.0)
        .silence(1_500.0)
        .tone(1_500.0, 1_000.0, 0.5)
        .silence(500.0);
    let mut det = ChannelDetector::new(sig.rate_hz, &one(qc(600.9, 1_092.4))).expect("rate");
    let (mut events, mut ends) = (Vec::new(), Vec::new());
    let mut at = 0u64;
    for chunk in sig.samples.chunks(240) {
        det.process_f32(SampleIndex(at), chunk);
        at += chunk.len() as u64;
        drain(&mut det, &mut events);
        ends.extend(core::iter::from_fn(|| {
            det.poll_tones_end().map(|e| (e, at))
        }));
    }
    assert_eq!(events.len(), 1, "{events:?}");
    // B runs from 1.5 s to 4.5 s; the tone at 6 s alerted nothing.
    assert_eq!(ends.len(), 1, "{ends:?}");
    let (end, known_at) = ends[0];
    assert!(
        (sig.ms_at(end.0) - 4_500.0).abs() <= 40.0,
        "ended at {end:?}"
    );
    let late_ms = sig.ms_at(known_at) - 4_500.0;
    assert!((0.0..=400.0).contains(&late_ms), "known {late_ms} ms after");
}

#[test]
fn a_tone_cut_by_a_jump_in_the_sample_index_ends_there() {
    let mut sig = Sig::new(8_000);
    sig.silence(200.0)
        .page(600.9, 1_092.4, 1_000.0, 0.0, 2_500.0);
    let mut det = ChannelDetector::new(sig.rate_hz, &one(qc(600.9, 1_092.4))).expect("rate");
    let mut events = Vec::new();
    det.process_f32(SampleIndex(0), &sig.samples);
    drain(&mut det, &mut events);
    assert_eq!(events.len(), 1);
    assert_eq!(det.poll_tones_end(), None, "still sounding");
    det.process_f32(SampleIndex(1_000_000), &[0.0; 160]);
    let end = det.poll_tones_end().expect("ended at the jump");
    assert!(
        end.0 <= sig.samples.len() as u64 && end.0 > 20_000,
        "{end:?}"
    );
}

#[test]
fn every_device_rate_reports_in_its_own_frames() {
    for rate in [
        8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
    ] {
        let mut sig = Sig::new(rate);
        sig.silence(300.0)
            .page(1_513.5, 2_468.2, 1_000.0, 0.0, 3_000.0)
            .silence(500.0);
        let events = detect(&one(qc(1_513.5, 2_468.2)), &sig);
        assert_eq!(events.len(), 1, "{rate}: {events:?}");
        let e = events[0];
        assert!(
            (sig.ms_at(e.start.0) - 300.0).abs() <= 40.0,
            "{rate}: {e:?}"
        );
        let after_min_ms = sig.ms_at(e.detected_at.0) - 3_300.0;
        assert!(
            (-70.0..=150.0).contains(&after_min_ms),
            "{rate}: {after_min_ms}"
        );
        let Measured::TwoTone { a_hz, b_hz } = e.measured else {
            panic!()
        };
        assert!(
            (a_hz - 1_513.5).abs() < 0.5 && (b_hz - 2_468.2).abs() < 0.5,
            "{rate}: {e:?}"
        );
    }
}

#[test]
fn too_short_too_far_apart_or_backwards_is_no_page() {
    let def = TwoToneDef {
        max_gap_ms: 200,
        ..qc(600.9, 1_092.4)
    };
    let cases = [
        ("A too short", 600.0, 0.0, 3_000.0, false),
        ("B too short", 1_000.0, 0.0, 1_800.0, false),
        ("gap too long", 1_000.0, 600.0, 3_000.0, false),
        ("gap at max", 1_000.0, 200.0, 3_000.0, true),
        ("at the minimums", 800.0, 0.0, 2_000.0, true),
    ];
    for (what, a_ms, gap_ms, b_ms, alert) in cases {
        let mut sig = Sig::new(8_000);
        sig.silence(300.0)
            .page(600.9, 1_092.4, a_ms, gap_ms, b_ms)
            .silence(500.0);
        let events = detect(&one(def), &sig);
        assert_eq!(events.len(), usize::from(alert), "{what}: {events:?}");
    }
    let mut sig = Sig::new(8_000);
    sig.silence(300.0)
        .page(1_092.4, 600.9, 1_000.0, 0.0, 3_000.0)
        .silence(500.0);
    assert!(detect(&one(def), &sig).is_empty(), "B then A");
}

#[test]
fn stacked_pages_each_alert_in_order_and_repeats_are_suppressed() {
    let mut defs = Definitions::new();
    let pairs = [(600.9, 1_092.4), (330.5, 1_122.5), (2_043.8, 2_094.5)];
    for (a, b) in pairs {
        defs.push(TwoToneDef {
            ignore_after_ms: 20_000,
            ..qc(a, b)
        })
        .unwrap();
    }
    let mut sig = Sig::new(8_000);
    for (a, b) in pairs {
        sig.page(a as f64, b as f64, 1_000.0, 0.0, 3_000.0);
    }
    // The first station again 12 s later: a duplicate within 20 s.
    sig.page(600.9, 1_092.4, 1_000.0, 0.0, 3_000.0)
        .silence(500.0);
    let mut det = ChannelDetector::new(8_000, &defs).unwrap();
    let events = run_blocks(&mut det, &sig.samples, 1_000);
    let got: Vec<usize> = events.iter().map(|e| e.definition.unwrap().get()).collect();
    assert_eq!(got, [0, 1, 2]);
    assert_eq!(det.stats().duplicates_suppressed, 1);
}

#[test]
fn long_tone_and_hi_low() {
    let long = LongToneDef {
        hz: 1_000.0,
        length_ms: 2_000,
        range_hz: 10.0,
        ignore_after_ms: 0,
    };
    let mut sig = Sig::new(16_000);
    sig.silence(200.0)
        .tone(1_003.0, 1_500.0, 0.5)
        .silence(500.0)
        .tone(1_003.0, 2_500.0, 0.5)
        .silence(300.0);
    let events = detect(&one(long), &sig);
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(events[0].measured, Measured::LongTone { hz } if (hz - 1_003.0).abs() < 0.2));
    assert!((sig.ms_at(events[0].start.0) - 2_200.0).abs() < 40.0);

    let hl = HiLowDef {
        a_hz: 650.0,
        b_hz: 950.0,
        a_range_hz: 6.5,
        b_range_hz: 9.5,
        min_tone_ms: 200,
        alternations: 6,
        max_gap_ms: 0,
        ignore_after_ms: 0,
    };
    for (halves, alert) in [(5, false), (6, true), (20, true)] {
        let mut sig = Sig::new(8_000);
        sig.silence(200.0);
        for i in 0..halves {
            sig.tone(if i % 2 == 0 { 650.0 } else { 950.0 }, 300.0, 0.5);
        }
        sig.silence(500.0);
        let events = detect(&one(hl), &sig);
        assert_eq!(events.len(), usize::from(alert), "{halves}: {events:?}");
        if alert {
            let Measured::HiLow {
                a_hz,
                b_hz,
                alternations,
                tone_ms,
            } = events[0].measured
            else {
                panic!()
            };
            assert!((a_hz - 650.0).abs() < 1.0 && (b_hz - 950.0).abs() < 1.0);
            assert_eq!(alternations, 6);
            assert!((tone_ms as i32 - 300).abs() <= 40, "{tone_ms}");
        }
    }
}

#[test]
fn finder_reports_pairs_and_long_tones_once() {
    let mut defs = Definitions::new();
    defs.set_finder(FinderConfig::default()).unwrap();
    let mut sig = Sig::new(8_000);
    sig.silence(300.0)
        .page(457.9, 788.5, 1_000.0, 0.0, 3_000.0)
        .page(1_881.0, 539.0, 1_000.0, 0.0, 3_000.0)
        .silence(700.0)
        .tone(3_210.0, 4_000.0, 0.3)
        .silence(500.0);
    let events = detect(&defs, &sig);
    let got: Vec<Measured> = events.iter().map(|e| e.measured).collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(events.iter().all(|e| e.definition.is_none()));
    let close = |x: f32, y: f32| (x - y).abs() < 0.3;
    assert!(
        matches!(got[0], Measured::TwoTone { a_hz, b_hz } if close(a_hz, 457.9) && close(b_hz, 788.5))
    );
    assert!(
        matches!(got[1], Measured::TwoTone { a_hz, b_hz } if close(a_hz, 1_881.0) && close(b_hz, 539.0))
    );
    assert!(matches!(got[2], Measured::LongTone { hz } if close(hz, 3_210.0)));
}

#[test]
fn hostile_samples_never_panic_and_are_counted() {
    let mut defs = Definitions::new();
    defs.push(qc(600.9, 1_092.4)).unwrap();
    defs.set_finder(FinderConfig::default()).unwrap();
    for rate in [8_000, 44_100, 48_000] {
        let mut det = ChannelDetector::new(rate, &defs).unwrap();
        let nasty = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            1.0,
            -1.0,
            0.0,
            1e-40,
        ];
        let block: Vec<f32> = (0..20_000).map(|i| nasty[i % nasty.len()]).collect();
        det.process_f32(SampleIndex(0), &block);
        let nonfinite = block.iter().filter(|x| !x.is_finite()).count() as u64;
        assert_eq!(det.stats().nonfinite_samples, nonfinite);
        let full: Vec<i16> = (0..20_000)
            .map(|i| if i % 2 == 0 { i16::MAX } else { i16::MIN })
            .collect();
        det.process_i16(SampleIndex(20_000), &full);
        det.flush();
        while det.poll_event().is_some() {}
        // Still works afterwards.
        let mut sig = Sig::new(rate);
        sig.silence(300.0)
            .page(600.9, 1_092.4, 1_000.0, 0.0, 3_000.0);
        let mut at = 60_000;
        let mut found = 0;
        for chunk in sig.samples.chunks(999) {
            det.process_f32(SampleIndex(at), chunk);
            at += chunk.len() as u64;
            while let Some(e) = det.poll_event() {
                found += usize::from(e.definition.is_some());
            }
        }
        assert_eq!(found, 1, "{rate}");
    }
}

#[test]
fn lost_samples_are_filled_and_jumps_restart() {
    let mut sig = Sig::new(48_000);
    sig.silence(300.0)
        .page(600.9, 1_092.4, 1_000.0, 0.0, 3_000.0)
        .silence(300.0);
    let mut det = ChannelDetector::new(48_000, &one(qc(600.9, 1_092.4))).unwrap();
    // Drop 50 ms in the middle of B: filled with silence, still a page,
    // and the indices after the hole stay on the caller's clock.
    let cut = sig.len_for(2_500.0);
    let lost = sig.len_for(50.0);
    det.process_f32(SampleIndex(1_000), &sig.samples[..cut]);
    det.process_f32(
        SampleIndex(1_000 + (cut + lost) as u64),
        &sig.samples[cut + lost..],
    );
    let e = det.poll_event().expect("page across a 50 ms hole");
    assert!((sig.ms_at(e.start.0 - 1_000) - 300.0).abs() < 40.0);
    assert_eq!(det.stats().gaps_filled, 1);
    // A jump back restarts tracking and forgets suppression.
    det.process_f32(SampleIndex(0), &sig.samples);
    assert_eq!(det.stats().discontinuities, 1);
    assert!(det.poll_event().is_some());
    det.reset();
    assert_eq!(det.stats(), DetectorStats::default());
}

#[test]
fn a_full_queue_drops_and_counts() {
    // Every definition matches the same long tone: 32 events at once;
    // with the finder, 33 for a 32-slot queue.
    let mut defs = Definitions::new();
    for i in 0..MAX_DEFINITIONS {
        defs.push(LongToneDef {
            hz: 1_000.0,
            length_ms: 500 + i as u32,
            range_hz: 20.0,
            ignore_after_ms: 0,
        })
        .unwrap();
    }
    defs.set_finder(FinderConfig {
        long_ms: 600,
        ..FinderConfig::default()
    })
    .unwrap();
    let mut sig = Sig::new(8_000);
    sig.tone(1_000.0, 2_000.0, 0.5);
    let mut det = ChannelDetector::new(8_000, &defs).unwrap();
    det.process_f32(SampleIndex(0), &sig.samples);
    let mut n = 0;
    while det.poll_event().is_some() {
        n += 1;
    }
    assert_eq!(n, MAX_EVENTS);
    assert_eq!(det.stats().events_dropped, 1);
}

#[test]
fn per_channel_state_is_small() {
    let size = core::mem::size_of::<ChannelDetector>();
    std::println!(
        "size_of::<ChannelDetector>() = {size} bytes ({:.1} KiB) with {MAX_DEFINITIONS} definitions",
        size as f64 / 1_024.0
    );
    assert!(size <= 64 * 1_024, "{size}");
}

#[test]
fn cpu_per_second_of_audio() {
    // A rough figure from the test build (opt-level 3 for this crate); the
    // criterion bench in benches/benches/tone.rs is the careful one.
    let mut defs = Definitions::new();
    for i in 0..MAX_DEFINITIONS {
        defs.push(qc(330.5 + 20.0 * i as f32, 2_468.2)).unwrap();
    }
    defs.set_finder(FinderConfig::default()).unwrap();
    for rate in [8_000, 44_100, 48_000] {
        let mut sig = Sig::new(rate);
        for i in 0..10 {
            sig.page(330.5 + 20.0 * i as f64, 2_468.2, 1_000.0, 0.0, 3_000.0)
                .silence(2_000.0);
        }
        let mut det = ChannelDetector::new(rate, &defs).unwrap();
        let seconds = sig.samples.len() as f64 / rate as f64;
        let t = std::time::Instant::now();
        let mut at = 0;
        for chunk in sig.samples.chunks(rate as usize / 100) {
            det.process_f32(SampleIndex(at), chunk);
            at += chunk.len() as u64;
            while det.poll_event().is_some() {}
        }
        let us_per_s = t.elapsed().as_secs_f64() * 1e6 / seconds;
        std::println!(
            "{rate} Hz: {us_per_s:.0} µs CPU per audio second ({:.0}x realtime)",
            1e6 / us_per_s
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_blocks_never_panic(
        rate in prop::sample::select(std::vec![8_000u32, 11_025, 16_000, 44_100, 48_000]),
        base in prop::sample::select(std::vec![0u64, 1 << 40, u64::MAX - 20_000]),
        blocks in prop::collection::vec(
            (0u64..3, prop::collection::vec(any::<i16>(), 0..3_000), prop::collection::vec(any::<f32>(), 0..3_000)),
            1..8,
        ),
    ) {
        let mut defs = Definitions::new();
        defs.push(qc(600.9, 1_092.4)).unwrap();
        defs.set_finder(FinderConfig::default()).unwrap();
        let mut det = ChannelDetector::new(rate, &defs).unwrap();
        let mut at = base;
        for (jump, ints, floats) in blocks {
            at = match jump {
                0 => at,
                1 => at.saturating_add(37),
                _ => at / 2,
            };
            det.process_i16(SampleIndex(at), &ints);
            at = at.saturating_add(ints.len() as u64);
            det.process_f32(SampleIndex(at), &floats);
            at = at.saturating_add(floats.len() as u64);
            while det.poll_event().is_some() {}
        }
        det.flush();
        while det.poll_event().is_some() {}
    }

    #[test]
    fn block_sizes_do_not_change_the_events(
        rate in prop::sample::select(std::vec![8_000u32, 22_050, 48_000]),
        sizes in prop::collection::vec(1usize..5_000, 1..20),
        gap_ms in 0.0f64..300.0,
    ) {
        let mut defs = Definitions::new();
        defs.push(TwoToneDef { max_gap_ms: 300, ..qc(810.2, 1_230.0) }).unwrap();
        defs.set_finder(FinderConfig::default()).unwrap();
        let mut sig = Sig::new(rate);
        sig.silence(100.0).page(810.2, 1_230.0, 1_000.0, gap_ms, 2_200.0).tone(500.0, 900.0, 0.2);
        let whole = detect(&defs, &sig);
        prop_assert_eq!(whole.len(), 2); // the definition and the finder

        let mut det = ChannelDetector::new(rate, &defs).unwrap();
        let mut events = Vec::new();
        let mut at = 0usize;
        let mut i = 0;
        while at < sig.samples.len() {
            let n = sizes[i % sizes.len()].min(sig.samples.len() - at);
            det.process_f32(SampleIndex(at as u64), &sig.samples[at..at + n]);
            at += n;
            i += 1;
            drain(&mut det, &mut events);
        }
        det.flush();
        drain(&mut det, &mut events);
        prop_assert_eq!(whole, events);
    }
}

impl Sig {
    fn digit(&mut self, low: f64, high: f64, ms: f64, amplitude: f64) -> &mut Sig {
        let start = self.samples.len();
        for i in 0..self.len_for(ms) {
            let t = (start + i) as f64 / self.rate_hz as f64;
            let s = amplitude * ((TAU * low * t).sin() + (TAU * high * t).sin());
            self.samples.push(s as f32);
        }
        self
    }
}

#[test]
fn dtmf_digits_and_a_page_come_out_of_one_detector_at_the_device_rate() {
    const KEYPAD: [(u8, f64, f64); 4] = [
        (b'1', 697.0, 1209.0),
        (b'5', 770.0, 1336.0),
        (b'9', 852.0, 1477.0),
        (b'#', 941.0, 1477.0),
    ];
    let mut definitions = Definitions::new();
    definitions
        .push(TwoToneDef::quick_call(349.0, 600.9))
        .unwrap();
    for rate in [8_000, 44_100, 48_000] {
        let mut sig = Sig::new(rate);
        sig.silence(300.0);
        for (_, low, high) in KEYPAD {
            sig.digit(low, high, 60.0, 0.25).silence(60.0);
        }
        sig.silence(500.0)
            .page(349.0, 600.9, 1_000.0, 0.0, 3_000.0)
            .silence(500.0);
        let mut det = ChannelDetector::new(rate, &definitions).unwrap();
        assert!(!det.dtmf_enabled());
        det.set_dtmf(Some(&dtmf::DtmfConfig::default())).unwrap();
        let events = run_blocks(&mut det, &sig.samples, 480);
        let digits: Vec<u8> = events
            .iter()
            .filter_map(|e| match e.measured {
                Measured::Dtmf { digit, .. } => Some(digit),
                _ => None,
            })
            .collect();
        assert_eq!(digits, [b'1', b'5', b'9', b'#'], "{rate} Hz");
        let first = events.iter().find(|e| e.kind() == ToneKind::Dtmf).unwrap();
        let start_ms = sig.ms_at(first.start.0);
        assert!(
            (start_ms - 300.0).abs() < 10.0,
            "{rate} Hz: first digit at {start_ms} ms"
        );
        assert!(first.latency_ms < 40, "{rate} Hz: {} ms", first.latency_ms);
        let pages = events
            .iter()
            .filter(|e| e.kind() == ToneKind::TwoTone)
            .count();
        assert_eq!(pages, 1, "{rate} Hz: the page is still heard");
    }
    let bad = dtmf::DtmfConfig {
        on_ms_min: 0,
        ..dtmf::DtmfConfig::default()
    };
    let mut det = ChannelDetector::new(8_000, &definitions).unwrap();
    assert!(
        det.set_dtmf(Some(&bad)).is_err(),
        "a nonsense config is refused"
    );
    assert!(!det.dtmf_enabled(), "and DTMF stays as it was");
}

#[test]
fn sixteen_bit_and_float_input_give_the_same_events() {
    // At 8 kHz 16-bit audio goes straight into the tracker and DTMF, at
    // other rates through the decimator: either way the events must be
    // exactly those of the same samples given as floats.
    let mut definitions = Definitions::new();
    definitions
        .push(TwoToneDef::quick_call(349.0, 600.9))
        .unwrap();
    definitions.set_finder(FinderConfig::default()).unwrap();
    for rate in [8_000, 16_000] {
        let mut sig = Sig::new(rate);
        sig.silence(200.0);
        for (low, high) in [(697.0, 1209.0), (941.0, 1477.0), (852.0, 1633.0)] {
            sig.digit(low, high, 60.0, 0.25).silence(60.0);
        }
        sig.page(349.0, 600.9, 1_000.0, 0.0, 3_000.0).silence(300.0);
        let ints: Vec<i16> = sig
            .samples
            .iter()
            .map(|&x| (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16)
            .collect();
        let floats: Vec<f32> = ints.iter().map(|&s| f32::from(s) / 32_768.0).collect();
        let run = |feed: &dyn Fn(&mut ChannelDetector, u64, std::ops::Range<usize>)| {
            let mut det = ChannelDetector::new(rate, &definitions).unwrap();
            det.set_dtmf(Some(&dtmf::DtmfConfig::default())).unwrap();
            let mut events = Vec::new();
            let mut at = 0;
            // Odd block sizes, so that sub-blocks and frames are split.
            for (i, n) in [37usize, 160, 999, 4].iter().cycle().enumerate() {
                if at >= ints.len() || i > 100_000 {
                    break;
                }
                let end = (at + n).min(ints.len());
                feed(&mut det, at as u64, at..end);
                at = end;
                drain(&mut det, &mut events);
            }
            det.flush();
            drain(&mut det, &mut events);
            events
        };
        let by_int = run(&|det, at, r| det.process_i16(SampleIndex(at), &ints[r]));
        let by_float = run(&|det, at, r| det.process_f32(SampleIndex(at), &floats[r]));
        let digits = by_int.iter().filter(|e| e.kind() == ToneKind::Dtmf).count();
        assert_eq!(digits, 3, "{rate} Hz: {by_int:?}");
        assert!(
            by_int.iter().any(|e| e.kind() == ToneKind::TwoTone),
            "{rate} Hz: the page"
        );
        assert_eq!(by_int, by_float, "{rate} Hz");
    }
}
