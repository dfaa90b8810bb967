//! Tests for the DTMF detector: one or more per rule, each asserting the
//! guard that decided (through [`DtmfStats`]), plus the never-panic
//! property. The acceptance sweeps live in `sim/tests/tone_dtmf.rs`.

extern crate std;

use std::vec::Vec;

use proptest::prelude::*;

use super::*;

// ---------------------------------------------------------------------------
// Signals

/// A signal under construction at [`RATE_HZ`].
#[derive(Default)]
struct Audio(Vec<f32>);

impl Audio {
    fn silence(&mut self, ms: f64) -> &mut Audio {
        let n = samples(ms);
        self.0.extend(core::iter::repeat_n(0.0, n));
        self
    }

    /// A sum of sines `(amplitude, hz)` for `ms`.
    fn tones(&mut self, ms: f64, tones: &[(f64, f64)]) -> &mut Audio {
        let start = self.0.len();
        for i in 0..samples(ms) {
            let t = (start + i) as f64 / f64::from(RATE_HZ);
            let x: f64 = tones
                .iter()
                .map(|&(a, f)| a * (core::f64::consts::TAU * f * t).sin())
                .sum();
            self.0.push(x as f32);
        }
        self
    }

    /// `digit` at 0.1 peak per tone (-20 dBFS per tone) for `ms`.
    fn digit(&mut self, digit: u8, ms: f64) -> &mut Audio {
        let (low, high) = pair(digit);
        self.tones(ms, &[(0.1, low), (0.1, high)])
    }
}

fn samples(ms: f64) -> usize {
    (ms * f64::from(RATE_HZ) / 1_000.0).round() as usize
}

fn pair(digit: u8) -> (f64, f64) {
    let at = DIGITS
        .iter()
        .position(|&d| d == digit)
        .expect("a keypad digit");
    (
        f64::from(PROBES_HZ[at / 4]),
        f64::from(PROBES_HZ[4 + at % 4]),
    )
}

fn run_with(config: &DtmfConfig, audio: &[f32]) -> (Vec<DtmfEvent>, DtmfStats) {
    let mut detector = DtmfDetector::new(config).expect("valid config");
    let mut events = Vec::new();
    for (i, block) in audio.chunks(80).enumerate() {
        detector.process((i * 80) as u64, block);
        while let Some(e) = detector.poll_event() {
            events.push(e);
        }
    }
    (events, detector.stats())
}

fn run(audio: &[f32]) -> (Vec<DtmfEvent>, DtmfStats) {
    run_with(&DtmfConfig::default(), audio)
}

fn digits(events: &[DtmfEvent]) -> Vec<u8> {
    events.iter().map(|e| e.digit).collect()
}

// ---------------------------------------------------------------------------
// Config

#[test]
fn the_default_config_is_valid_and_q24() {
    let c = DtmfConfig::default();
    assert_eq!(c.validate(), Ok(()));
    assert_eq!(
        (
            c.twist_normal_db_max,
            c.twist_reverse_db_max,
            c.on_ms_min,
            c.off_ms_min
        ),
        (8.0, 4.0, 40, 40)
    );
    assert!(c.deviation_percent_max > 1.5 && c.deviation_percent_max < 3.5);
}

#[test]
fn every_field_out_of_range_is_refused_by_name() {
    let base = DtmfConfig::default();
    let cases: [(DtmfConfig, DtmfConfigError); 14] = [
        (
            DtmfConfig {
                twist_normal_db_max: -1.0,
                ..base
            },
            DtmfConfigError::TwistNormal,
        ),
        (
            DtmfConfig {
                twist_normal_db_max: f32::NAN,
                ..base
            },
            DtmfConfigError::TwistNormal,
        ),
        (
            DtmfConfig {
                twist_reverse_db_max: 21.0,
                ..base
            },
            DtmfConfigError::TwistReverse,
        ),
        (
            DtmfConfig {
                twist_reverse_db_max: f32::INFINITY,
                ..base
            },
            DtmfConfigError::TwistReverse,
        ),
        (
            DtmfConfig {
                on_ms_min: 19,
                ..base
            },
            DtmfConfigError::OnTime,
        ),
        (
            DtmfConfig {
                on_ms_min: u32::MAX,
                ..base
            },
            DtmfConfigError::OnTime,
        ),
        (
            DtmfConfig {
                off_ms_min: 14,
                ..base
            },
            DtmfConfigError::OffTime,
        ),
        (
            DtmfConfig {
                off_ms_min: 1_001,
                ..base
            },
            DtmfConfigError::OffTime,
        ),
        (
            DtmfConfig {
                deviation_percent_max: 0.0,
                ..base
            },
            DtmfConfigError::Deviation,
        ),
        (
            DtmfConfig {
                deviation_percent_max: f32::NAN,
                ..base
            },
            DtmfConfigError::Deviation,
        ),
        (
            DtmfConfig {
                level_dbfs_min: 3.0,
                ..base
            },
            DtmfConfigError::Level,
        ),
        (
            DtmfConfig {
                level_dbfs_min: f32::NEG_INFINITY,
                ..base
            },
            DtmfConfigError::Level,
        ),
        (
            DtmfConfig {
                tone_ratio_min: 0.0,
                ..base
            },
            DtmfConfigError::ToneRatio,
        ),
        (
            DtmfConfig {
                tone_ratio_min: 1.5,
                ..base
            },
            DtmfConfigError::ToneRatio,
        ),
    ];
    for (config, error) in cases {
        assert_eq!(config.validate(), Err(error), "{config:?}");
        assert_eq!(DtmfDetector::new(&config).err(), Some(error));
        let message = std::format!("{error}");
        assert_eq!(
            message,
            std::format!("{} must be {}", error.field(), error.range())
        );
    }
    assert_eq!(
        std::format!("{}", DtmfConfigError::OffTime),
        "off_ms_min must be between 15 and 1000 ms"
    );
    assert_eq!(
        std::format!("{}", DtmfConfigError::ToneRatio),
        "tone_ratio_min must be between 0.1 and 1"
    );
}

#[test]
fn the_extremes_of_every_range_are_accepted() {
    let low = DtmfConfig {
        twist_normal_db_max: 0.0,
        twist_reverse_db_max: 0.0,
        on_ms_min: 20,
        off_ms_min: 15,
        deviation_percent_max: 0.5,
        level_dbfs_min: -100.0,
        tone_ratio_min: 0.1,
    };
    let high = DtmfConfig {
        twist_normal_db_max: 20.0,
        twist_reverse_db_max: 20.0,
        on_ms_min: 1_000,
        off_ms_min: 1_000,
        deviation_percent_max: 5.0,
        level_dbfs_min: 0.0,
        tone_ratio_min: 1.0,
    };
    assert!(DtmfDetector::new(&low).is_ok());
    assert!(DtmfDetector::new(&high).is_ok());
}

// ---------------------------------------------------------------------------
// Timing rules (the counts behind the module docs' table)

#[test]
fn window_counts_follow_three_quarters_of_the_configured_times() {
    let c = DtmfConfig::default();
    // 30 ms of signal: windows spanning 6 sub-blocks.
    assert_eq!(c.hits_to_validate(), 2);
    // A gap of 30 ms (6 sub-blocks) spoils 6 + 4 windows.
    assert_eq!(c.misses_to_end(), 10);
    assert_eq!(DtmfConfig { on_ms_min: 30, ..c }.hits_to_validate(), 1);
    assert_eq!(
        DtmfConfig {
            on_ms_min: 100,
            ..c
        }
        .hits_to_validate(),
        11
    );
    assert_eq!(DtmfConfig { on_ms_min: 20, ..c }.hits_to_validate(), 1);
    // Q.24: a 10 ms interruption (at most 3 sub-blocks touched, so 7
    // windows spoiled) never ends a digit by windows alone, whatever the
    // config; nor does the silence it measures (2 sub-blocks).
    for off_ms_min in 15..=1_000 {
        let c = DtmfConfig { off_ms_min, ..c };
        assert!(c.misses_to_end() >= 8, "{off_ms_min}");
        assert!(c.silence_subs_to_end() >= 2.5, "{off_ms_min}");
    }
    // The defaults: a gap of 30 ms, measured or by windows.
    assert_eq!(c.silence_subs_to_end(), 6.0);
    // Fast DTMF: 15 ms ends at 12.5 ms of silence, 20 ms at 15.
    assert_eq!(
        DtmfConfig {
            off_ms_min: 15,
            ..c
        }
        .silence_subs_to_end(),
        2.5
    );
    assert_eq!(
        DtmfConfig {
            off_ms_min: 20,
            ..c
        }
        .silence_subs_to_end(),
        3.0
    );
}

#[test]
fn a_40_ms_digit_is_reported_and_a_20_ms_one_is_not() {
    for shift in 0..8 {
        let mut a = Audio::default();
        a.silence(10.0 + f64::from(shift) * 0.6)
            .digit(b'5', 40.0)
            .silence(50.0);
        assert_eq!(digits(&run(&a.0).0), [b'5'], "shift {shift}");
        let mut a = Audio::default();
        a.silence(10.0 + f64::from(shift) * 0.6)
            .digit(b'5', 20.0)
            .silence(50.0);
        let (events, stats) = run(&a.0);
        assert!(events.is_empty(), "shift {shift}");
        assert!(stats.rejected_presence > 0);
    }
}

#[test]
fn a_40_ms_gap_separates_repeats_and_a_10_ms_dropout_does_not() {
    let mut a = Audio::default();
    a.silence(10.0)
        .digit(b'#', 60.0)
        .silence(40.0)
        .digit(b'#', 60.0)
        .silence(50.0);
    assert_eq!(digits(&run(&a.0).0), [b'#', b'#']);
    let mut a = Audio::default();
    a.silence(10.0)
        .digit(b'#', 60.0)
        .silence(10.0)
        .digit(b'#', 60.0)
        .silence(50.0);
    assert_eq!(digits(&run(&a.0).0), [b'#']);
}

#[test]
fn a_new_digit_without_a_gap_is_reported() {
    let mut a = Audio::default();
    a.silence(10.0)
        .digit(b'1', 100.0)
        .digit(b'2', 100.0)
        .digit(b'1', 100.0)
        .silence(50.0);
    assert_eq!(digits(&run(&a.0).0), [b'1', b'2', b'1']);
}

// ---------------------------------------------------------------------------
// The guards, each seen to decide

#[test]
fn all_16_digits_are_decoded_with_their_measured_frequencies() {
    let mut a = Audio::default();
    for &d in &DIGITS {
        a.silence(45.0).digit(d, 50.0);
    }
    a.silence(50.0);
    let (events, stats) = run(&a.0);
    assert_eq!(digits(&events), DIGITS);
    for (e, &d) in events.iter().zip(&DIGITS) {
        let (low, high) = pair(d);
        assert!(
            (f64::from(e.low_hz) - low).abs() < 0.1 && (f64::from(e.high_hz) - high).abs() < 0.1,
            "{e:?}"
        );
        assert!(
            e.twist_db.abs() < 0.1
                && (e.low_dbfs + 20.0).abs() < 0.1
                && (e.high_dbfs + 20.0).abs() < 0.1,
            "{e:?}"
        );
    }
    assert_eq!(stats.digits, 16);
    assert_eq!(
        stats.rejected_frequency
            + stats.rejected_twist
            + stats.rejected_ratio
            + stats.rejected_harmonic,
        0
    );
}

#[test]
fn level_too_quiet_tones_are_ignored() {
    let config = DtmfConfig {
        level_dbfs_min: -30.0,
        ..DtmfConfig::default()
    };
    let mut a = Audio::default();
    // -32 dBFS per tone: silent to this config.
    a.silence(10.0)
        .tones(100.0, &[(0.025, 770.0), (0.025, 1336.0)])
        .silence(50.0);
    let (events, stats) = run_with(&config, &a.0);
    assert!(events.is_empty());
    assert!(stats.rejected_level > 0 && stats.hits == 0);
    // -28 dBFS: heard.
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.04, 770.0), (0.04, 1336.0)])
        .silence(50.0);
    assert_eq!(digits(&run_with(&config, &a.0).0), [b'5']);
}

#[test]
fn margin_two_rows_at_once_is_not_a_digit() {
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 697.0), (0.08, 770.0), (0.1, 1209.0)])
        .silence(50.0);
    let (events, stats) = run(&a.0);
    assert!(events.is_empty());
    assert!(stats.rejected_margin > 3, "{stats:?}");
}

#[test]
fn frequency_3_5_percent_off_is_rejected_1_percent_off_accepted() {
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 697.0 * 1.035), (0.1, 1477.0)])
        .silence(50.0);
    let (events, stats) = run(&a.0);
    assert!(events.is_empty());
    assert!(stats.rejected_frequency > 3, "{stats:?}");
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 941.0 * 1.01), (0.1, 1477.0 * 0.99)])
        .silence(50.0);
    let (events, _) = run(&a.0);
    assert_eq!(digits(&events), [b'#']);
    assert!(
        (f64::from(events[0].low_hz) - 941.0 * 1.01).abs() < 0.1,
        "{events:?}"
    );
}

#[test]
fn twist_convention_is_high_minus_low_and_limits_apply() {
    // High tone 3 dB louder: reverse twist +3, within the default 4.
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 852.0), (0.1413, 1633.0)])
        .silence(50.0);
    let (events, _) = run(&a.0);
    assert_eq!(digits(&events), [b'C']);
    assert!((events[0].twist_db - 3.0).abs() < 0.1, "{events:?}");
    // High tone 6 dB louder: beyond 4 dB reverse.
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 852.0), (0.1995, 1633.0)])
        .silence(50.0);
    let (events, stats) = run(&a.0);
    assert!(events.is_empty());
    assert!(stats.rejected_twist > 3, "{stats:?}");
    // Low tone 6 dB louder: normal twist -6, within 8.
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1995, 852.0), (0.1, 1633.0)])
        .silence(50.0);
    let (events, _) = run(&a.0);
    assert_eq!(digits(&events), [b'C']);
    assert!((events[0].twist_db + 6.0).abs() < 0.1, "{events:?}");
}

#[test]
fn ratio_a_digit_buried_in_another_tone_is_rejected() {
    let mut a = Audio::default();
    // A 450 Hz tone as strong as both DTMF tones together.
    a.silence(10.0)
        .tones(100.0, &[(0.1, 697.0), (0.1, 1477.0), (0.1414, 450.0)])
        .silence(50.0);
    let (events, stats) = run(&a.0);
    assert!(events.is_empty());
    assert!(stats.rejected_ratio > 3, "{stats:?}");
}

/// '5' (0.1 peak per tone) under a 450 Hz tone of `other` peak, which
/// leaves the pair `0.01 / (0.01 + other²/2)` of the energy, for `ms`.
fn shared_digit(other: f64, ms: f64) -> Vec<f32> {
    let mut a = Audio::default();
    a.silence(20.0)
        .tones(ms, &[(0.1, 770.0), (0.1, 1336.0), (other, 450.0)])
        .silence(60.0);
    a.0
}

/// The 450 Hz peak that leaves the pair of [`shared_digit`] `share` of
/// the energy.
fn other_for(share: f64) -> f64 {
    libm::sqrt(2.0 * 0.01 * (1.0 / share - 1.0))
}

#[test]
fn share_a_pair_with_less_of_the_window_must_hold_longer() {
    let tone_start = samples(20.0) as u64;
    // Alone, 35 ms validates (two windows, 30 ms of signal).
    assert_eq!(digits(&run(&shared_digit(0.0, 35.0)).0), [b'5']);
    // Less of the window, more windows: (share, ms of signal needed). At
    // 0.75, what talk-off holds for a window or two, five windows.
    for (share, needed_ms) in [(0.87, 35.0), (0.82, 40.0), (0.75, 45.0)] {
        let other = other_for(share);
        assert!(
            run(&shared_digit(other, needed_ms - 5.0)).0.is_empty(),
            "{share}"
        );
        let (events, stats) = run(&shared_digit(other, 100.0));
        assert_eq!(digits(&events), [b'5'], "{share}");
        let held = events[0].end - tone_start;
        assert!(
            held >= samples(needed_ms) as u64 && held <= samples(needed_ms + 5.0) as u64,
            "{share}: {events:?}"
        );
        assert_eq!(stats.rejected_ratio, 0, "{share}: {stats:?}");
    }
}

#[test]
fn frequency_past_2_percent_needs_one_window_more() {
    let validated_after = |offset: f64| {
        let mut a = Audio::default();
        a.silence(20.0)
            .tones(
                100.0,
                &[
                    (0.1, 770.0 * (1.0 + offset)),
                    (0.1, 1336.0 * (1.0 - offset)),
                ],
            )
            .silence(60.0);
        let (events, _) = run(&a.0);
        assert_eq!(digits(&events), [b'5'], "{offset}");
        events[0].end - samples(20.0) as u64
    };
    // Within Q.24's 1.5 %: two windows, 30 ms of signal.
    let firm = validated_after(0.015);
    assert_eq!(firm, samples(30.0) as u64);
    assert_eq!(validated_after(0.0), firm);
    // Past 2 %: three windows (35 ms of signal), and still accepted.
    assert_eq!(validated_after(0.021), firm + samples(5.0) as u64);
}

#[test]
fn ratio_dc_and_a_subaudible_tone_do_not_count_against_a_digit() {
    // A 67 Hz CTCSS tone as strong as each DTMF tone, on a DC offset.
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 770.0), (0.1, 1477.0), (0.1, 67.0)])
        .silence(50.0);
    a.0.iter_mut().for_each(|x| *x += 0.2);
    assert_eq!(digits(&run(&a.0).0), [b'6']);
}

#[test]
fn harmonic_a_strong_second_harmonic_is_rejected() {
    let mut a = Audio::default();
    // '0' with the column tone's second harmonic 6 dB down.
    a.silence(10.0)
        .tones(100.0, &[(0.1, 941.0), (0.1, 1336.0), (0.05, 2672.0)])
        .silence(50.0);
    let (events, stats) = run(&a.0);
    assert!(events.is_empty());
    assert!(stats.rejected_harmonic > 3, "{stats:?}");
    // 20 dB down (a mildly distorting radio) is fine.
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 941.0), (0.1, 1336.0), (0.01, 2672.0)])
        .silence(50.0);
    assert_eq!(digits(&run(&a.0).0), [b'0']);
}

#[test]
fn harmonic_two_members_of_a_voice_like_series_are_rejected() {
    // Harmonics 3 and 4 of 308.5 Hz: 925.5 Hz ('*' row, -1.6 %) and
    // 1234 Hz ('*' column, +2.1 %), with the 5th harmonic 11 dB down and
    // the fundamental 14 dB down, as found in the talk-off corpus.
    let f0 = 308.5;
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(
            100.0,
            &[
                (0.1, 3.0 * f0),
                (0.1, 4.0 * f0),
                (0.028, 5.0 * f0),
                (0.02, f0),
            ],
        )
        .silence(50.0);
    let (events, stats) = run(&a.0);
    assert!(events.is_empty(), "{events:?}");
    assert!(stats.rejected_harmonic > 3, "{stats:?}");
    // The same two components alone are a (badly tuned) '*'.
    let mut a = Audio::default();
    a.silence(10.0)
        .tones(100.0, &[(0.1, 3.0 * f0), (0.1, 4.0 * f0)])
        .silence(50.0);
    assert_eq!(digits(&run(&a.0).0), [b'*']);
}

// ---------------------------------------------------------------------------
// Events, queue, indices, hostile input

#[test]
fn events_carry_start_and_the_validation_point() {
    let mut a = Audio::default();
    a.silence(23.0).digit(b'9', 200.0).silence(50.0);
    let (events, _) = run(&a.0);
    assert_eq!(events.len(), 1);
    let e = events[0];
    let tone_start = samples(23.0) as u64;
    assert!(e.start.abs_diff(tone_start) <= 8, "{e:?}");
    // Validated 30 ms (+ up to one sub-block) after the start.
    assert!(
        e.end > e.start && e.end - tone_start <= samples(35.0) as u64,
        "{e:?}"
    );
    assert_eq!(e.digit_char(), '9');
}

#[test]
fn a_full_queue_keeps_the_oldest_and_counts_the_rest() {
    let mut a = Audio::default();
    for i in 0..(EVENT_QUEUE_LEN + 4) {
        a.silence(45.0).digit(DIGITS[i % 16], 50.0);
    }
    a.silence(50.0);
    let mut detector = DtmfDetector::new(&DtmfConfig::default()).expect("valid");
    detector.process(0, &a.0);
    let mut events = Vec::new();
    while let Some(e) = detector.poll_event() {
        events.push(e.digit);
    }
    assert_eq!(events.len(), EVENT_QUEUE_LEN);
    assert_eq!(events[..], DIGITS[..]);
    let stats = detector.stats();
    assert_eq!(
        (stats.digits, stats.events_dropped),
        (EVENT_QUEUE_LEN as u64 + 4, 4)
    );
}

#[test]
fn a_jump_in_the_index_forgets_the_digit_in_progress() {
    let mut a = Audio::default();
    a.silence(10.0).digit(b'4', 100.0);
    let (first, second) = a.0.split_at(samples(35.0));
    let mut detector = DtmfDetector::new(&DtmfConfig::default()).expect("valid");
    detector.process(1_000, first);
    // The rest arrives 5 s later in index terms: a new start, and the
    // continuing tone is a new digit.
    detector.process(41_000, second);
    detector.process(41_000 + second.len() as u64, &[0.0; 400]);
    let e = detector.poll_event().expect("a digit after the jump");
    assert_eq!(e.digit, b'4');
    assert!(e.start >= 41_000, "{e:?}");
    assert_eq!(detector.stats().discontinuities, 1);
    // Same start twice (a replayed block) is a discontinuity too.
    detector.process(0, &[0.0; 10]);
    detector.process(0, &[0.0; 10]);
    assert_eq!(detector.stats().discontinuities, 3);
}

#[test]
fn non_finite_samples_count_and_do_not_poison_later_audio() {
    let mut a = Audio::default();
    a.silence(10.0);
    let mut samples_in = a.0.clone();
    samples_in.extend([
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        -f32::MAX,
    ]);
    let mut b = Audio::default();
    b.silence(10.0).digit(b'D', 60.0).silence(50.0);
    samples_in.extend(&b.0);
    let (events, stats) = run(&samples_in);
    assert_eq!(digits(&events), [b'D']);
    assert_eq!(stats.nonfinite_samples, 3);
}

#[test]
fn reset_forgets_everything_but_the_counters() {
    let mut a = Audio::default();
    a.silence(10.0).digit(b'7', 60.0).silence(50.0);
    let mut detector = DtmfDetector::new(&DtmfConfig::default()).expect("valid");
    detector.process(0, &a.0);
    detector.reset();
    assert_eq!(detector.poll_event(), None);
    // After a reset any start index is fine and the same audio decodes.
    detector.process(5, &a.0);
    assert_eq!(detector.poll_event().map(|e| e.digit), Some(b'7'));
    assert_eq!(detector.stats().digits, 2);
    assert_eq!(detector.stats().discontinuities, 0);
}

#[test]
fn empty_blocks_change_nothing() {
    let mut detector = DtmfDetector::new(&DtmfConfig::default()).expect("valid");
    detector.process(0, &[]);
    detector.process(u64::MAX, &[]);
    detector.process(0, &[0.0; 3]);
    detector.process(17, &[]);
    detector.process(3, &[0.0; 3]);
    assert_eq!(detector.stats().discontinuities, 0);
    assert_eq!(detector.poll_event(), None);
}

#[test]
fn the_detector_is_small_and_fixed_size() {
    let size = core::mem::size_of::<DtmfDetector>();
    // Documented on the type.
    std::println!("size_of::<DtmfDetector>() = {size}");
    assert!(size <= 2_600, "{size}");
}

// ---------------------------------------------------------------------------
// Skipping idle windows changes nothing but the work

/// `audio` through the default detector in blocks of `block` samples,
/// analysing every window (`every_window`) or skipping as in use.
fn run_windows(audio: &[f32], block: usize, every_window: bool) -> (Vec<DtmfEvent>, DtmfStats) {
    let mut detector = DtmfDetector::new(&DtmfConfig::default()).expect("valid config");
    detector.every_window = every_window;
    let mut events = Vec::new();
    for (i, chunk) in audio.chunks(block).enumerate() {
        detector.process((i * block) as u64, chunk);
        while let Some(e) = detector.poll_event() {
            events.push(e);
        }
    }
    (events, detector.stats())
}

/// Digits of many lengths and gaps (from too short to long), with
/// dropouts, back-to-back changes and a digit buried in noise, by a
/// seeded generator.
fn busy_dialling(seed: u64) -> Vec<f32> {
    let mut state = seed | 1;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut a = Audio::default();
    a.silence(3.0 + next(20) as f64 * 0.7);
    for _ in 0..60 {
        let digit = DIGITS[next(16) as usize];
        a.digit(digit, 15.0 + next(60) as f64 * 0.9);
        match next(4) {
            0 => a.silence(next(15) as f64),
            1 => a.silence(20.0 + next(40) as f64 * 0.8),
            2 => a.digit(DIGITS[next(16) as usize], 10.0 + next(40) as f64),
            _ => a.tones(5.0 + next(30) as f64, &[(0.05, 697.0 + next(900) as f64)]),
        };
    }
    // Band-ish noise over all of it, loud enough to spoil some windows.
    for x in &mut a.0 {
        *x += 0.02 * ((next(2_001) as f32 - 1_000.0) / 1_000.0);
    }
    a.0
}

#[test]
fn skipping_idle_windows_gives_the_events_of_analysing_all() {
    for seed in 1..=6u64 {
        let audio = busy_dialling(seed);
        for block in [1, 37, 40, 80, 160, 1_000] {
            let (all, all_stats) = run_windows(&audio, block, true);
            let (some, some_stats) = run_windows(&audio, block, false);
            assert!(all.len() > 10, "seed {seed}: {} digits", all.len());
            // Bit for bit: digits, indices, frequencies and levels.
            assert_eq!(all, some, "seed {seed}, blocks of {block}");
            assert_eq!(all_stats.skipped, 0);
            assert_eq!(
                some_stats.windows + some_stats.skipped,
                all_stats.windows,
                "every window analysed or skipped"
            );
            assert!(some_stats.skipped > 20, "{some_stats:?}");
        }
    }
}

#[test]
fn half_the_windows_of_noise_and_silence_are_skipped() {
    let mut a = Audio::default();
    a.silence(500.0);
    a.0.extend(
        (0..samples(500.0)).map(|i| 0.1 * libm::sinf(i as f32 * 1.7) * libm::sinf(i as f32 * 0.37)),
    );
    let (events, stats) = run_windows(&a.0, 160, false);
    assert!(events.is_empty());
    // 200 sub-blocks, so 196 windows: half analysed, half skipped.
    assert_eq!(stats.windows + stats.skipped, 196);
    assert_eq!(stats.skipped, 98, "{stats:?}");
}

proptest! {
    /// Any blocks (any values, lengths and start indices) never panic,
    /// and whatever comes out is a keypad digit with ordered indices.
    #[test]
    fn arbitrary_blocks_never_panic(
        blocks in proptest::collection::vec(
            (
                any::<u64>(),
                proptest::collection::vec(
                    prop_oneof![
                        3 => -1.5f32..1.5,
                        1 => any::<f32>(),
                        1 => Just(f32::NAN),
                        1 => Just(f32::INFINITY),
                    ],
                    0..600,
                ),
                any::<bool>(),
            ),
            1..20,
        )
    ) {
        let mut detector = DtmfDetector::new(&DtmfConfig::default()).expect("valid");
        let mut next = 0u64;
        for (start, block, contiguous) in &blocks {
            let at = if *contiguous { next } else { *start };
            detector.process(at, block);
            next = at.wrapping_add(block.len() as u64);
            while let Some(e) = detector.poll_event() {
                prop_assert!(DIGITS.contains(&e.digit));
                prop_assert!(e.low_hz.is_finite() && e.high_hz.is_finite() && e.twist_db.is_finite());
            }
        }
    }

    /// A clean digit of any level from -45 to -9 dBFS per tone (the pair
    /// peaking at -3 dBFS), any length from 45 ms, at any alignment, is
    /// reported exactly once.
    #[test]
    fn a_clean_digit_is_reported_once(
        which in 0usize..16,
        level_db in -45.0f64..-9.0,
        lead_ms in 0.0f64..20.0,
        on_ms in 45.0f64..400.0,
    ) {
        let (low, high) = pair(DIGITS[which]);
        let amplitude = 10f64.powf(level_db / 20.0);
        let mut a = Audio::default();
        a.silence(lead_ms).tones(on_ms, &[(amplitude, low), (amplitude, high)]).silence(60.0);
        let (events, _) = run(&a.0);
        prop_assert_eq!(digits(&events), [DIGITS[which]]);
    }
}

mod fast;
