//! Pulsed alerts, and the tone finder's hi-low and pulsed reports: the
//! cadence a definition asks for alerts, with the pulse count and cadence
//! measured; other cadences, too few pulses, steady tones, warbles,
//! pages and speech-like syllables do not.

use super::*;

/// A deterministic noise source (xorshift64*; the sum of four uniforms,
/// near enough to Gaussian for a noise floor).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> f64 {
        let mut sum = 0.0;
        for _ in 0..4 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            sum += (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        }
        // Four uniforms on ±0.5 have variance 1/3.
        sum * 3f64.sqrt()
    }
}

impl Sig {
    /// `pulses` pulses of `hz`, `on_ms` on and `off_ms` off.
    fn pulsed(&mut self, hz: f64, on_ms: f64, off_ms: f64, pulses: u32) -> &mut Sig {
        for _ in 0..pulses {
            self.tone(hz, on_ms, 0.5).silence(off_ms);
        }
        self
    }

    /// Tones `a` and `b` alternating, `steps` tones of `step_ms` each.
    fn warble(&mut self, a: f64, b: f64, step_ms: f64, steps: u32) -> &mut Sig {
        for i in 0..steps {
            self.tone(if i % 2 == 0 { a } else { b }, step_ms, 0.5);
        }
        self
    }

    /// Adds white noise `snr_db` under a 0.5-amplitude tone (SNR over the
    /// whole band, which is harder than the same figure in 300–3000 Hz).
    fn noise(&mut self, snr_db: f64, seed: u64) -> &mut Sig {
        let tone_power = 0.5 * 0.5 / 2.0;
        let sigma = (tone_power / 10f64.powf(snr_db / 10.0)).sqrt();
        let mut noise = Noise(seed | 1);
        for s in &mut self.samples {
            *s += (sigma * noise.next()) as f32;
        }
        self
    }
}

const HZ: f32 = 1_010.6;

fn def() -> PulsedDef {
    PulsedDef {
        hz: HZ,
        range_hz: recommended_range_hz(HZ),
        on_ms: 300,
        on_range_ms: 100,
        off_ms: 200,
        off_range_ms: 100,
        min_pulses: 6,
        ignore_after_ms: 0,
    }
}

/// The recording's alert: eight pulses of 0.3 s on / 0.2 s off, twice.
fn twice(rate_hz: u32) -> Sig {
    let mut sig = Sig::new(rate_hz);
    sig.silence(700.0)
        .pulsed(HZ as f64, 300.0, 200.0, 8)
        .silence(2_500.0)
        .pulsed(HZ as f64, 300.0, 200.0, 8)
        .silence(1_000.0);
    sig
}

fn pulsed_of(e: &ToneEvent) -> (f32, u32, u32, u32) {
    match e.measured {
        Measured::Pulsed {
            hz,
            pulses,
            on_ms,
            off_ms,
        } => (hz, pulses, on_ms, off_ms),
        _ => panic!("not pulsed: {e:?}"),
    }
}

#[test]
fn a_pulsed_alert_fires_at_its_cadence_once_per_burst() {
    for rate in [8_000, 44_100, 48_000] {
        let sig = twice(rate);
        let events = detect(&one(def()), &sig);
        assert_eq!(events.len(), 2, "{rate}: {events:?}");
        for (e, burst_ms) in events.iter().zip([700.0, 7_200.0]) {
            assert_eq!(e.kind(), ToneKind::Pulsed);
            assert_eq!(e.definition.map(DefinitionIndex::get), Some(0));
            let (hz, pulses, on_ms, off_ms) = pulsed_of(e);
            assert!((hz - HZ).abs() < 0.5, "{rate}: {e:?}");
            assert_eq!(pulses, 6, "{rate}: {e:?}");
            assert!(on_ms.abs_diff(300) <= 40, "{rate}: {e:?}");
            assert!(off_ms.abs_diff(200) <= 40, "{rate}: {e:?}");
            assert!(
                (sig.ms_at(e.start.0) - burst_ms).abs() <= 40.0,
                "{rate}: {e:?}"
            );
            // The sixth pulse starts 2.5 s into the burst; its minimum
            // (200 ms) is met 2.7 s in.
            let after_min_ms = sig.ms_at(e.detected_at.0) - (burst_ms + 2_700.0);
            assert!(
                (-70.0..=150.0).contains(&after_min_ms),
                "{rate}: {after_min_ms}"
            );
        }
    }
}

#[test]
fn a_pulsed_alert_is_heard_in_noise() {
    for (snr_db, seed) in [(10.0, 1), (0.0, 2), (-6.0, 3)] {
        let mut sig = twice(8_000);
        sig.noise(snr_db, seed);
        let events = detect(&one(def()), &sig);
        assert_eq!(events.len(), 2, "{snr_db} dB: {events:?}");
        for e in &events {
            let (hz, pulses, on_ms, off_ms) = pulsed_of(e);
            assert!((hz - HZ).abs() < 1.0, "{snr_db} dB: {e:?}");
            assert_eq!(pulses, 6);
            assert!(on_ms.abs_diff(300) <= 70 && off_ms.abs_diff(200) <= 70);
        }
    }
}

#[test]
fn other_cadences_too_few_pulses_and_steady_tones_are_not_pulsed() {
    let hz = HZ as f64;
    type Make<'a> = &'a dyn Fn(&mut Sig);
    let cases: [(&str, Make<'_>); 6] = [
        ("pulses too long", &|s| {
            s.pulsed(hz, 600.0, 200.0, 8);
        }),
        ("pauses too long", &|s| {
            s.pulsed(hz, 300.0, 600.0, 8);
        }),
        ("pulses too short", &|s| {
            s.pulsed(hz, 150.0, 200.0, 10);
        }),
        ("five pulses", &|s| {
            s.pulsed(hz, 300.0, 200.0, 5);
        }),
        ("a steady tone", &|s| {
            s.tone(hz, 6_000.0, 0.5);
        }),
        ("another tone", &|s| {
            s.pulsed(hz * 1.03, 300.0, 200.0, 8);
        }),
    ];
    for (what, make) in cases {
        let mut sig = Sig::new(8_000);
        sig.silence(500.0);
        make(&mut sig);
        sig.silence(1_000.0);
        let events = detect(&one(def()), &sig);
        assert!(events.is_empty(), "{what}: {events:?}");
    }
    // The boundary of "too few": six pulses alert.
    let mut sig = Sig::new(8_000);
    sig.silence(500.0)
        .pulsed(hz, 300.0, 200.0, 6)
        .silence(500.0);
    assert_eq!(detect(&one(def()), &sig).len(), 1);
}

/// Syllables at one loudness and a regular rhythm, but each at its own
/// pitch, gliding: what speech looks like to a pulse train.
fn syllables(sig: &mut Sig, count: u32, base_hz: f64) {
    for i in 0..count {
        let start = base_hz * (1.0 + 0.07 * ((i * 5 % 7) as f64 - 3.0));
        let glide = if i % 2 == 0 { 1.004 } else { 0.996 };
        let mut hz = start;
        for _ in 0..6 {
            sig.tone(hz, 45.0, 0.5);
            hz *= glide;
        }
        sig.silence(180.0);
    }
}

#[test]
fn speech_like_syllables_are_neither_pulsed_nor_found() {
    let mut defs = one(PulsedDef {
        range_hz: 50.0,
        ..def()
    });
    defs.set_finder(FinderConfig::default()).unwrap();
    let mut sig = Sig::new(8_000);
    sig.silence(300.0);
    syllables(&mut sig, 40, HZ as f64);
    sig.silence(500.0);
    let events = detect(&defs, &sig);
    assert!(events.is_empty(), "{events:?}");
}

fn warble_def() -> HiLowDef {
    HiLowDef {
        a_hz: 1_270.0,
        b_hz: 950.0,
        a_range_hz: 12.7,
        b_range_hz: 9.5,
        min_tone_ms: 150,
        alternations: 4,
        max_gap_ms: 250,
        ignore_after_ms: 0,
    }
}

#[test]
fn a_pulsed_tone_in_a_hi_low_window_alerts_only_what_is_defined() {
    let pulsed_950 = PulsedDef {
        hz: 950.0,
        range_hz: 9.5,
        ..def()
    };
    let mut both = Definitions::new();
    let hi_low = both.push(warble_def()).unwrap();
    let pulsed = both.push(pulsed_950).unwrap();

    // A pulsed 950 Hz: the pulsed definition only.
    let mut sig = Sig::new(8_000);
    sig.silence(300.0)
        .pulsed(950.0, 300.0, 200.0, 8)
        .silence(500.0);
    let events = detect(&both, &sig);
    let got: Vec<_> = events.iter().map(|e| e.definition).collect();
    assert_eq!(got, [Some(pulsed)], "{events:?}");
    // Without a pulsed definition, nothing.
    assert!(detect(&one(warble_def()), &sig).is_empty());

    // A 950/1270 Hz warble: the hi-low definition only.
    let mut sig = Sig::new(8_000);
    sig.silence(300.0)
        .warble(950.0, 1_270.0, 200.0, 24)
        .silence(500.0);
    let events = detect(&both, &sig);
    let got: Vec<_> = events.iter().map(|e| e.definition).collect();
    assert_eq!(got, [Some(hi_low)], "{events:?}");
    // And a pulsed definition alone hears nothing in it.
    assert!(detect(&one(pulsed_950), &sig).is_empty());
}

fn finder() -> Definitions {
    let mut defs = Definitions::new();
    defs.set_finder(FinderConfig::default()).unwrap();
    defs
}

#[test]
fn the_finder_reports_warbles_and_pulsed_tones_with_their_cadence() {
    let mut sig = Sig::new(16_000);
    sig.silence(300.0)
        .warble(950.0, 1_270.0, 200.0, 20)
        .silence(1_500.0)
        .warble(807.0, 1_506.0, 250.0, 16)
        .silence(1_500.0)
        .pulsed(HZ as f64, 300.0, 200.0, 8)
        .silence(1_500.0)
        .page(457.9, 788.5, 1_000.0, 0.0, 3_000.0)
        .silence(500.0);
    let events = detect(&finder(), &sig);
    assert!(events.iter().all(|e| e.definition.is_none()));
    let got: Vec<Measured> = events.iter().map(|e| e.measured).collect();
    assert_eq!(got.len(), 4, "{got:?}");
    let close = |x: f32, y: f32| (x - y).abs() < 1.0;
    for (m, (a, b, step)) in got[..2]
        .iter()
        .zip([(950.0, 1_270.0, 200), (807.0, 1_506.0, 250)])
    {
        let Measured::HiLow {
            a_hz,
            b_hz,
            alternations,
            tone_ms,
        } = *m
        else {
            panic!("{m:?}")
        };
        assert!(close(a_hz, a) && close(b_hz, b), "{m:?}");
        assert_eq!(alternations, FinderConfig::default().hi_low_alternations);
        assert!(tone_ms.abs_diff(step) <= 40, "{m:?}");
    }
    let Measured::Pulsed {
        hz,
        pulses,
        on_ms,
        off_ms,
    } = got[2]
    else {
        panic!("{:?}", got[2])
    };
    assert!(close(hz, HZ) && pulses == FinderConfig::default().min_pulses);
    assert!(
        on_ms.abs_diff(300) <= 40 && off_ms.abs_diff(200) <= 40,
        "{got:?}"
    );
    assert!(
        matches!(got[3], Measured::TwoTone { a_hz, b_hz } if close(a_hz, 457.9) && close(b_hz, 788.5)),
        "{got:?}"
    );
}

#[test]
fn the_finder_reports_nothing_new_on_pages_steady_tones_and_noise() {
    let mut sig = Sig::new(8_000);
    sig.silence(300.0)
        .page(600.9, 1_092.4, 1_000.0, 0.0, 3_000.0)
        .page(330.5, 1_122.5, 1_000.0, 0.0, 3_000.0)
        .page(600.9, 1_092.4, 1_000.0, 0.0, 3_000.0)
        .silence(300.0)
        .tone(2_000.0, 4_000.0, 0.5)
        .silence(15_000.0)
        .noise(-3.0, 7);
    let events = detect(&finder(), &sig);
    let kinds: Vec<ToneKind> = events.iter().map(ToneEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            ToneKind::TwoTone,
            ToneKind::TwoTone,
            ToneKind::TwoTone,
            ToneKind::LongTone
        ],
        "{events:?}"
    );
}

#[test]
fn pulsed_definitions_are_validated() {
    let mut d = Definitions::new();
    let cases = [
        (
            PulsedDef {
                min_pulses: 1,
                ..def()
            },
            DefinitionError::PulsesOutOfBounds { pulses: 1 },
        ),
        (
            PulsedDef {
                min_pulses: MAX_PULSES + 1,
                ..def()
            },
            DefinitionError::PulsesOutOfBounds {
                pulses: MAX_PULSES + 1,
            },
        ),
        (
            PulsedDef {
                on_range_ms: 300,
                ..def()
            },
            DefinitionError::CadenceRangeOutOfBounds {
                length_ms: 300,
                range_ms: 300,
            },
        ),
        (
            PulsedDef {
                off_ms: 100,
                ..def()
            },
            DefinitionError::LengthOutOfBounds { length_ms: 100 },
        ),
        (
            PulsedDef { hz: 50.0, ..def() },
            DefinitionError::FrequencyOutOfBand { hz: 50.0 },
        ),
    ];
    for (bad, want) in cases {
        assert_eq!(d.push(bad), Err(want), "{bad:?}");
    }
    assert!(d.is_empty());
    let a = d.push(def()).unwrap();
    d.push(PulsedDef {
        on_ms: 600,
        ..def()
    })
    .unwrap();
    let c = d
        .push(PulsedDef {
            on_ms: 350,
            on_range_ms: 50,
            ..def()
        })
        .unwrap();
    let pairs: Vec<_> = d.overlapping().collect();
    assert_eq!(pairs, [(a, c)], "the same tone at an overlapping cadence");
    let finder = FinderConfig {
        min_pulses: 0,
        ..FinderConfig::default()
    };
    assert_eq!(
        d.set_finder(finder),
        Err(DefinitionError::PulsesOutOfBounds { pulses: 0 })
    );
}
