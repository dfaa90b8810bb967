//! L1 and H1: long tones and hi-low warbles.
//!
//! L1: long tones across the band alert when held for their length (not
//! 150 ms short of it), measured within 0.1 %, in noise down to 0 dB SNR
//! and with 60 ms dropouts; a tone beyond the range alerts nothing.
//! H1: hi-low pairs alternating at 2–4 tones per second alert at the N-th
//! tone, not at N−1, in noise; a pair with one tone beyond its range, or a
//! steady tone, alerts nothing.

mod tone_support;

use echostream_core::tone::{Definition, HiLowDef, LongToneDef, Measured};
use echostream_sim::Rng;
use echostream_sim::audio::{Signal, dbfs_to_amplitude, noise_power_for_snr};
use tone_support::*;

const LEAD_MS: f64 = 600.0;

fn long_def(hz: f32, length_ms: u32) -> LongToneDef {
    LongToneDef {
        hz,
        length_ms,
        range_hz: hz * RANGE_FRACTION,
        ignore_after_ms: 0,
    }
}

#[test]
fn l1_long_tones() {
    let mut rng = Rng::new(0x000b_1001);
    let mut failures = Vec::new();
    let mut cases = 0;
    for i in 0..24 {
        let hz = (300.0 + 3_150.0 * rng.unit()) as f32;
        let length_ms = [2_000, 3_000, 5_000, 8_000][i % 4];
        let rate = [8_000, 22_050, 48_000][i % 3];
        let snr_db = [20.0, 6.0, 0.0][i % 3];
        let def: Definition = long_def(hz, length_ms).into();
        // (held ms, sent Hz, should alert)
        let trials = [
            (length_ms as f64 + 500.0, hz, true),
            (length_ms as f64, hz, true),
            (length_ms as f64 - 150.0, hz, false),
            (length_ms as f64 + 2_000.0, hz * 1.0125, false),
            (length_ms as f64 + 2_000.0, hz * 0.9875, false),
        ];
        for (held_ms, sent, alerts) in trials {
            cases += 1;
            let amplitude = dbfs_to_amplitude(-15.0);
            let mut sig = Signal::new(rate);
            sig.silence(LEAD_MS)
                .tone(sent as f64, held_ms, amplitude)
                .silence(500.0);
            sig.add_band_noise(noise_power_for_snr(amplitude, snr_db), rng.next_u64());
            if i % 4 == 1 {
                sig.dropout(LEAD_MS + 700.0, 60.0);
            }
            let hits = Bank::new(rate, &[def], None).run(&sig.samples);
            if hits.len() != usize::from(alerts) {
                failures.push(format!("{hz} Hz for {length_ms}: sent {sent} Hz for {held_ms} ms at {snr_db} dB: {hits:?}"));
                continue;
            }
            if let Some(h) = hits.first() {
                let Measured::LongTone { hz: measured } = h.event.measured else {
                    unreachable!()
                };
                let late_ms = ms(h.event.detected_at.0, rate) - (LEAD_MS + length_ms as f64);
                if !within_percent(measured, sent, 0.1) || late_ms > LATENCY_MAX_MS {
                    failures.push(format!("{hz} Hz: measured {measured}, {late_ms} ms late"));
                }
            }
        }
    }
    println!("{cases} long-tone cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn hi_low_def(a: f32, b: f32, min_tone_ms: u32, alternations: u32) -> HiLowDef {
    HiLowDef {
        a_hz: a,
        b_hz: b,
        a_range_hz: a * RANGE_FRACTION,
        b_range_hz: b * RANGE_FRACTION,
        min_tone_ms,
        alternations,
        max_gap_ms: 100,
        ignore_after_ms: 0,
    }
}

#[test]
fn h1_hi_low_warbles() {
    // Pairs used by sirens and station alerting, and two close ones.
    let pairs: [(f32, f32); 6] = [
        (650.0, 950.0),
        (450.0, 550.0),
        (1_000.0, 1_500.0),
        (800.0, 960.0),
        (2_400.0, 2_900.0),
        (704.0, 740.0),
    ];
    let mut rng = Rng::new(0x0011_1010);
    let mut failures = Vec::new();
    let mut cases = 0;
    for (i, &(a, b)) in pairs.iter().enumerate() {
        let half_ms = [250.0, 300.0, 400.0, 500.0][i % 4];
        let n = [4, 6, 8][i % 3];
        let rate = [8_000, 44_100, 48_000][i % 3];
        let def: Definition = hi_low_def(a, b, (half_ms * 0.7) as u32, n).into();
        // (tones sent, first Hz, second Hz, should alert)
        let trials = [
            (n, a, b, true),
            (n + 6, b, a, true),
            (n - 1, a, b, false),
            (n + 6, a, b * 1.02, false),
            (1, a, a, false),
        ];
        for (tones, x, y, alerts) in trials {
            for snr_db in [20.0, 3.0] {
                cases += 1;
                let amplitude = dbfs_to_amplitude(-12.0);
                let mut sig = Signal::new(rate);
                sig.silence(LEAD_MS);
                if tones == 1 {
                    sig.tone(x as f64, half_ms * 10.0, amplitude);
                }
                for k in 0..if tones == 1 { 0 } else { tones } {
                    sig.tone(if k % 2 == 0 { x } else { y } as f64, half_ms, amplitude);
                }
                sig.silence(600.0);
                sig.add_band_noise(noise_power_for_snr(amplitude, snr_db), rng.next_u64());
                let hits = Bank::new(rate, &[def], None).run(&sig.samples);
                if hits.len() != usize::from(alerts) {
                    failures.push(format!(
                        "{a}/{b} {half_ms} ms × {tones} sent {x}/{y} at {snr_db} dB: {hits:?}"
                    ));
                    continue;
                }
                if let Some(h) = hits.first() {
                    let Measured::HiLow {
                        a_hz,
                        b_hz,
                        alternations,
                        tone_ms,
                    } = h.event.measured
                    else {
                        unreachable!()
                    };
                    // The n-th tone starts at LEAD + (n−1)·half and counts
                    // once it has lasted the minimum.
                    let met_ms = LEAD_MS + (n - 1) as f64 * half_ms + (half_ms * 0.7).floor();
                    let late_ms = ms(h.event.detected_at.0, rate) - met_ms;
                    if alternations != n
                        || f64::from(tone_ms) < half_ms - 100.0
                        || f64::from(tone_ms) > half_ms + 100.0
                        || !within_percent(a_hz, a, 0.3)
                        || !within_percent(b_hz, b, 0.3)
                        || late_ms > LATENCY_MAX_MS
                    {
                        failures.push(format!("{a}/{b}: {:?}, {late_ms} ms late", h.event));
                    }
                }
            }
        }
    }
    println!("{cases} hi-low cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
