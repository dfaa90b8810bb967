//! P1: pulsed single-tone alerts across the band, at several cadences,
//! device rates and SNRs (band noise, 300–3000 Hz).
//!
//! Each alert is sent as its definition's number of pulses plus two, at
//! the nominal cadence: it must alert exactly once, with the right pulse
//! count, the frequency within 0.2 % and the cadence within 70 ms, no
//! later than 250 ms after the last needed pulse met its minimum; from
//! +20 to 0 dB every one, and the count at −3 and −6 dB is printed. The
//! same alert one pulse short, at the wrong cadence or 2 % off its
//! frequency alerts nothing.

mod tone_support;

use echostream_core::tone::{Definition, Measured, PulsedDef};
use echostream_sim::Rng;
use echostream_sim::audio::{Signal, dbfs_to_amplitude, noise_power_for_snr};
use tone_support::*;

const LEAD_MS: f64 = 600.0;

/// (on ms, off ms) in use: the recording's 0.3/0.2 s, and slower and
/// faster ones.
const CADENCES: [(u32, u32); 5] = [(300, 200), (500, 500), (200, 300), (700, 300), (250, 150)];

fn pulsed_def(hz: f32, on_ms: u32, off_ms: u32, min_pulses: u32) -> PulsedDef {
    PulsedDef {
        hz,
        range_hz: hz * RANGE_FRACTION,
        on_ms,
        on_range_ms: on_ms / 4 + 30,
        off_ms,
        off_range_ms: off_ms / 4 + 30,
        min_pulses,
        ignore_after_ms: 0,
    }
}

fn train(
    rate: u32,
    hz: f64,
    on_ms: f64,
    off_ms: f64,
    pulses: u32,
    snr_db: f64,
    seed: u64,
) -> Signal {
    let amplitude = dbfs_to_amplitude(-12.0);
    let mut sig = Signal::new(rate);
    sig.silence(LEAD_MS);
    for _ in 0..pulses {
        sig.tone(hz, on_ms, amplitude).silence(off_ms);
    }
    sig.silence(600.0);
    sig.add_band_noise(noise_power_for_snr(amplitude, snr_db), seed);
    sig
}

#[test]
fn p1_pulsed_alerts() {
    let mut rng = Rng::new(0x0050_15ed);
    let mut failures = Vec::new();
    let mut low_snr = [(0u32, 0u32); 2];
    let mut cases = 0;
    for i in 0..20 {
        let hz = (320.0 + 3_100.0 * rng.unit()) as f32;
        let (on_ms, off_ms) = CADENCES[i % CADENCES.len()];
        let n = [6, 8, 4][i % 3];
        let rate = [8_000, 44_100, 48_000, 16_000][i % 4];
        let def: Definition = pulsed_def(hz, on_ms, off_ms, n).into();
        for snr_db in [20.0, 6.0, 0.0, -3.0, -6.0] {
            cases += 1;
            let sig = train(
                rate,
                hz as f64,
                on_ms as f64,
                off_ms as f64,
                n + 2,
                snr_db,
                rng.next_u64(),
            );
            let hits = Bank::new(rate, &[def], None).run(&sig.samples);
            if snr_db < 0.0 {
                let slot = &mut low_snr[usize::from(snr_db < -4.0)];
                slot.1 += 1;
                slot.0 += u32::from(hits.len() == 1);
                continue;
            }
            let [h] = hits[..] else {
                failures.push(format!(
                    "{hz} Hz {on_ms}/{off_ms} × {n} at {snr_db} dB, {rate} Hz: {hits:?}"
                ));
                continue;
            };
            let Measured::Pulsed {
                hz: measured,
                pulses,
                on_ms: on,
                off_ms: off,
            } = h.event.measured
            else {
                unreachable!()
            };
            let cycle_ms = f64::from(on_ms + off_ms);
            let met_ms = LEAD_MS + f64::from(n - 1) * cycle_ms + f64::from(on_ms - on_ms / 4 - 30);
            let late_ms = ms(h.event.detected_at.0, rate) - met_ms;
            if pulses != n
                || !within_percent(measured, hz, 0.2)
                || on.abs_diff(on_ms) > 70
                || off.abs_diff(off_ms) > 70
                || late_ms > LATENCY_MAX_MS
            {
                failures.push(format!(
                    "{hz} Hz {on_ms}/{off_ms}: {:?}, {late_ms} ms late",
                    h.event
                ));
            }
        }
        // One short, the wrong cadence, another tone: nothing.
        let wrong = [
            (hz as f64, on_ms as f64, off_ms as f64, n - 1),
            (hz as f64, on_ms as f64 * 2.0, off_ms as f64, n + 2),
            (hz as f64, on_ms as f64, off_ms as f64 * 2.5, n + 2),
            (hz as f64 * 1.02, on_ms as f64, off_ms as f64, n + 2),
        ];
        for (sent, on, off, pulses) in wrong {
            cases += 1;
            let sig = train(rate, sent, on, off, pulses, 20.0, rng.next_u64());
            let hits = Bank::new(rate, &[def], None).run(&sig.samples);
            if !hits.is_empty() {
                failures.push(format!(
                    "{hz} Hz {on_ms}/{off_ms} × {n}: sent {sent} Hz {on}/{off} × {pulses}: {hits:?}"
                ));
            }
        }
    }
    println!("{cases} pulsed cases");
    println!(
        "-3 dB: {}/{} alerted; -6 dB: {}/{}",
        low_snr[0].0, low_snr[0].1, low_snr[1].0, low_snr[1].1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
