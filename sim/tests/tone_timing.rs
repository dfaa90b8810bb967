//! Q4 and Q6: timing.
//!
//! Q4: A, B and the gap swept around a definition's limits (A ≥ 800 ms,
//! B ≥ 2 s, gap ≤ 300 ms) at three device rates: at or above a minimum
//! (within the gap) alerts, 150 ms short of a minimum (or 320 ms over the
//! gap) does not. Durations are measured on 64 ms frames, so the detector
//! gives a tone up to one frame of benefit of the doubt: a tone 1–128 ms
//! short may or may not alert, and is not asserted.
//! Q6: 3 and 10 pages stacked back to back, with no gap and with 1 s
//! between them, with the whole table loaded: every page alerts, once, in
//! order, and each within 250 ms of its B reaching its minimum.

mod tone_support;

use echostream_core::tone::TwoToneDef;
use echostream_sim::Rng;
use echostream_sim::audio::{Signal, dbfs_to_amplitude, noise_power_for_snr};
use tone_support::*;

const RATES_HZ: [u32; 3] = [8_000, 44_100, 48_000];
const LEAD_MS: f64 = 700.0;

fn timing_def(a: f32, b: f32) -> TwoToneDef {
    TwoToneDef {
        a_length_ms: 800,
        b_length_ms: 2_000,
        max_gap_ms: 300,
        ..station_def(a, b)
    }
}

#[test]
fn q4_a_b_and_gap_around_their_limits() {
    // Low neighbours, a mid pair and a high pair.
    let pairs: [(f32, f32); 4] = [
        (288.5, 296.5),
        (296.5, 288.5),
        (600.9, 1_092.4),
        (2_155.6, 1_472.9),
    ];
    // (A ms, gap ms, B ms, alerts)
    let cases = [
        (800.0, 0.0, 2_000.0, true),
        (850.0, 0.0, 2_050.0, true),
        (1_000.0, 0.0, 3_000.0, true),
        (650.0, 0.0, 3_000.0, false),
        (1_000.0, 0.0, 1_850.0, false),
        (650.0, 0.0, 1_850.0, false),
        (1_000.0, 300.0, 3_000.0, true),
        (1_000.0, 150.0, 2_000.0, true),
        (1_000.0, 620.0, 3_000.0, false),
        (1_000.0, 1_000.0, 3_000.0, false),
    ];
    let mut rng = Rng::new(0x0004_7173);
    let mut failures = Vec::new();
    let mut runs = 0;
    for (i, &(a, b)) in pairs.iter().enumerate() {
        for (j, &(a_ms, gap_ms, b_ms, alerts)) in cases.iter().enumerate() {
            let rate = RATES_HZ[(i + j) % RATES_HZ.len()];
            let amplitude = dbfs_to_amplitude(-15.0);
            let mut sig = Signal::new(rate);
            sig.silence(LEAD_MS)
                .page(a as f64, b as f64, a_ms, gap_ms, b_ms, amplitude)
                .silence(800.0);
            sig.add_band_noise(noise_power_for_snr(amplitude, 20.0), rng.next_u64());
            let hits = Bank::two_tone(rate, &[timing_def(a, b)]).run(&sig.samples);
            runs += 1;
            if hits.len() != usize::from(alerts) {
                failures.push(format!(
                    "{a}/{b} A {a_ms} gap {gap_ms} B {b_ms} at {rate} Hz: {hits:?}"
                ));
                continue;
            }
            if let Some(h) = hits.first() {
                let b_start_ms = LEAD_MS + a_ms + gap_ms;
                let late_ms = ms(h.event.detected_at.0, rate) - (b_start_ms + 2_000.0);
                let start_err_ms = ms(h.event.start.0, rate) - LEAD_MS;
                if late_ms > LATENCY_MAX_MS || start_err_ms.abs() > 40.0 {
                    failures.push(format!(
                        "{a}/{b} at {rate} Hz: {late_ms} ms late, start off {start_err_ms} ms"
                    ));
                }
                if ms(h.event.detected_at.0, rate) > b_start_ms + b_ms + 100.0 {
                    failures.push(format!("{a}/{b}: fired after B ended"));
                }
            }
        }
    }
    println!("{runs} timing cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn stacked(count: usize, gap_ms: f64, rate: u32, seed: u64) -> Result<(), String> {
    let table = stations();
    let defs: Vec<TwoToneDef> = table.iter().map(|&(a, b)| station_def(a, b)).collect();
    let mut rng = Rng::new(seed);
    let mut order: Vec<usize> = (0..table.len()).collect();
    shuffle(&mut order, &mut rng);
    order.truncate(count);
    let amplitude = dbfs_to_amplitude(-10.0);
    let mut sig = Signal::new(rate);
    sig.silence(LEAD_MS);
    let mut b_min_at_ms = Vec::new();
    for (k, &s) in order.iter().enumerate() {
        if k > 0 {
            sig.silence(gap_ms);
        }
        let (a, b) = table[s];
        b_min_at_ms.push(sig.duration_ms() + A_MS + B_MIN_MS as f64);
        sig.page(a as f64, b as f64, A_MS, 0.0, B_MS, amplitude);
    }
    sig.silence(1_000.0);
    sig.add_band_noise(noise_power_for_snr(amplitude, 15.0), rng.next_u64());
    let hits = Bank::two_tone(rate, &defs).run(&sig.samples);
    let got: Vec<Option<usize>> = hits.iter().map(|h| h.def).collect();
    let want: Vec<Option<usize>> = order.iter().map(|&s| Some(s)).collect();
    if got != want {
        return Err(format!(
            "{count} pages, gap {gap_ms} ms, {rate} Hz: wanted {want:?}, got {got:?}"
        ));
    }
    for (h, min_ms) in hits.iter().zip(b_min_at_ms) {
        let late_ms = ms(h.event.detected_at.0, rate) - min_ms;
        if !(-70.0..=LATENCY_MAX_MS).contains(&late_ms) {
            return Err(format!(
                "{count} pages, gap {gap_ms} ms: alert {late_ms} ms after B's minimum"
            ));
        }
    }
    Ok(())
}

#[test]
fn q6_stacked_pages_all_alert_in_order() {
    let mut failures = Vec::new();
    let mut seed = 0x0006_0000;
    for count in [3, 10] {
        for gap_ms in [0.0, 1_000.0] {
            for rate in [8_000, 48_000] {
                seed += 1;
                if let Err(e) = stacked(count, gap_ms, rate, seed) {
                    failures.push(e);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
