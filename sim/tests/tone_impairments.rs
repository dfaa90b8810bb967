//! Q7 and Q8: what real radio channels do to pages.
//!
//! Q7: ±3 Hz FM wobble, 60 ms dropouts inside B (and A), a CTCSS tone
//! (67–254 Hz) under everything, hard clipping; every station of the table
//! (all loaded) must still alert, alone, with its tones measured within
//! ±0.5 %.
//! Q8: a page 30 dB below a loud burst just before it, and pages at every
//! level from −50 to −3 dBFS through the 16-bit path.

mod tone_support;

use echostream_core::tone::TwoToneDef;
use echostream_sim::Rng;
use echostream_sim::audio::{Signal, band_noise, dbfs_to_amplitude, noise_power_for_snr};
use tone_support::*;

const LEAD_MS: f64 = 800.0;

/// Builds one page per station with `impair` (which also says where the
/// page starts, ms), runs it with the whole table loaded, and lists what
/// went wrong.
fn every_station(
    rate: u32,
    seed: u64,
    impair: impl Fn(usize, f32, f32, &mut Rng) -> (Signal, f64),
) -> Vec<String> {
    let table = stations();
    let defs: Vec<TwoToneDef> = table.iter().map(|&(a, b)| station_def(a, b)).collect();
    let mut bank = Bank::two_tone(rate, &defs);
    let mut rng = Rng::new(seed);
    let mut failures = Vec::new();
    for (i, &(a, b)) in table.iter().enumerate() {
        let (sig, lead_ms) = impair(i, a, b, &mut rng);
        bank.reset();
        let hits = bank.run(&sig.samples);
        let ok = hits.len() == 1
            && hits[0].def == Some(i)
            && hits[0]
                .two_tone_hz()
                .is_some_and(|(ma, mb)| within_percent(ma, a, 0.5) && within_percent(mb, b, 0.5))
            && ms(hits[0].event.detected_at.0, rate) - (lead_ms + A_MS + B_MIN_MS as f64)
                <= LATENCY_MAX_MS;
        if !ok {
            failures.push(format!("station {i} {a}/{b}: {hits:?}"));
        }
    }
    failures
}

fn noisy_page(rate: u32, a: f32, b: f32, snr_db: f64, rng: &mut Rng) -> Signal {
    let amplitude = dbfs_to_amplitude(-12.0);
    let mut sig = Signal::new(rate);
    sig.silence(LEAD_MS)
        .page(a as f64, b as f64, A_MS, 0.0, B_MS, amplitude)
        .silence(700.0);
    sig.add_band_noise(noise_power_for_snr(amplitude, snr_db), rng.next_u64());
    sig
}

#[test]
fn q7_fm_wobble_of_3_hz() {
    let failures = every_station(8_000, 0x0007_0001, |i, a, b, rng| {
        let amplitude = dbfs_to_amplitude(-12.0);
        let wobble_hz = [0.7, 2.0, 4.5, 9.0][i % 4];
        let mut sig = Signal::new(8_000);
        sig.silence(LEAD_MS)
            .wobbled_tone(a as f64, 3.0, wobble_hz, A_MS, amplitude)
            .wobbled_tone(b as f64, 3.0, wobble_hz, B_MS, amplitude)
            .silence(700.0);
        sig.add_band_noise(noise_power_for_snr(amplitude, 10.0), rng.next_u64());
        (sig, LEAD_MS)
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn q7_dropouts_of_60_ms_inside_the_tones() {
    let failures = every_station(16_000, 0x0007_0002, |_, a, b, rng| {
        let mut sig = noisy_page(16_000, a, b, 15.0, rng);
        let b_start = LEAD_MS + A_MS;
        sig.dropout(LEAD_MS + 450.0, 60.0);
        for at in [300.0, 900.0, 1_400.0, 1_800.0] {
            sig.dropout(b_start + at + 40.0 * rng.unit(), 60.0);
        }
        (sig, LEAD_MS)
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn q7_ctcss_under_the_tones() {
    const CTCSS_HZ: [f64; 8] = [67.0, 88.5, 100.0, 131.8, 162.2, 203.5, 241.8, 254.1];
    let failures = every_station(8_000, 0x0007_0003, |i, a, b, rng| {
        let mut sig = noisy_page(8_000, a, b, 20.0, rng);
        // Sub-audible tone deviation is typically a sixth of the tones'.
        sig.add_tone(
            CTCSS_HZ[i % CTCSS_HZ.len()],
            dbfs_to_amplitude(-12.0 - 15.0),
        );
        (sig, LEAD_MS)
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn q7_hard_clipping() {
    let failures = every_station(48_000, 0x0007_0004, |i, a, b, rng| {
        // Driven to full scale and clipped at 10–30 % of it: nearly square.
        let mut sig = Signal::new(48_000);
        sig.silence(LEAD_MS)
            .page(a as f64, b as f64, A_MS, 0.0, B_MS, 1.0)
            .silence(700.0);
        sig.add_band_noise(noise_power_for_snr(1.0, 25.0), rng.next_u64());
        sig.clip([0.1, 0.2, 0.3][i % 3]);
        (sig, LEAD_MS)
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn q8_a_quiet_page_right_after_a_loud_burst() {
    let failures = every_station(8_000, 0x0008_0001, |i, a, b, rng| {
        // 3 s of loud in-band noise at −3 dBFS, then (after 0 or 1 s of
        // receiver hiss) a page 30 dB quieter.
        let burst_dbfs = -3.0;
        let page_amplitude = dbfs_to_amplitude(burst_dbfs - 30.0);
        let burst_ms = 3_000.0;
        let lead_ms = burst_ms + if i % 2 == 0 { 0.0 } else { 1_000.0 };
        let mut sig = Signal::new(8_000);
        sig.silence(lead_ms)
            .page(a as f64, b as f64, A_MS, 0.0, B_MS, page_amplitude)
            .silence(700.0);
        let burst_power = dbfs_to_amplitude(burst_dbfs).powi(2) / 2.0;
        let burst = band_noise(
            (burst_ms * 8.0) as usize,
            8_000,
            burst_power,
            rng.next_u64(),
        );
        for (s, n) in sig.samples.iter_mut().zip(burst) {
            *s += n;
        }
        sig.add_band_noise(noise_power_for_snr(page_amplitude, 25.0), rng.next_u64());
        (sig, lead_ms)
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn q8_levels_from_minus_50_to_minus_3_dbfs_through_16_bits() {
    let table = stations();
    let defs: Vec<TwoToneDef> = table.iter().map(|&(a, b)| station_def(a, b)).collect();
    let mut bank = Bank::two_tone(48_000, &defs);
    let mut rng = Rng::new(0x0008_0002);
    let mut failures = Vec::new();
    let mut level = -50.0;
    let mut i = 0;
    while level <= -3.0 {
        let (a, b) = table[i % table.len()];
        let amplitude = dbfs_to_amplitude(level);
        let mut sig = Signal::new(48_000);
        sig.silence(LEAD_MS)
            .page(a as f64, b as f64, A_MS, 0.0, B_MS, amplitude)
            .silence(700.0);
        sig.add_band_noise(noise_power_for_snr(amplitude, 20.0), rng.next_u64());
        bank.reset();
        let hits = bank.run_i16(&sig.samples);
        if hits.len() != 1 || hits[0].def != Some(i % table.len()) {
            failures.push(format!("{level} dBFS {a}/{b}: {hits:?}"));
        }
        level += 2.5;
        i += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
