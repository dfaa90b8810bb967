//! Q10 and the tone finder: discovering codes nobody configured.
//!
//! With no definitions at all, the finder reports every page of the
//! table and every non-table tone pair and long tone up to 3.5 kHz, each
//! once, with its measured frequencies; non-table tones never alert a
//! table station whose window they are outside.

mod tone_support;

use echostream_core::tone::{Definition, FinderConfig, Measured, TwoToneDef};
use echostream_sim::Rng;
use echostream_sim::audio::{QC2_TONES_HZ, Signal, dbfs_to_amplitude, noise_power_for_snr};
use tone_support::*;

/// Measured within 0.1 % (or 0.5 Hz): what a user can type into a
/// definition.
fn close(measured: f32, sent: f32) -> bool {
    (measured - sent).abs() <= (sent * 0.001).max(0.5)
}

/// A frequency in `lo..hi` at least 1.25 % from every table tone.
fn off_table(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    loop {
        let hz = ((lo + (hi - lo) * rng.unit() as f32) * 10.0).round() / 10.0;
        if QC2_TONES_HZ.iter().all(|&t| (hz / t - 1.0).abs() > 0.0125) {
            return hz;
        }
    }
}

#[test]
fn q10_non_table_tones_are_found_with_their_frequencies() {
    let table: Vec<Definition> = stations()
        .iter()
        .map(|&(a, b)| station_def(a, b).into())
        .collect();
    let mut rng = Rng::new(0x0010_f1d0);
    let mut failures = Vec::new();
    for i in 0..60 {
        let rate = [8_000, 16_000, 44_100, 48_000][i % 4];
        // Pairs anywhere in the band, and half of them high (2.5–3.5 kHz).
        let (lo, hi) = if i % 2 == 0 {
            (300.0, 3_500.0)
        } else {
            (2_500.0, 3_500.0)
        };
        let a = off_table(&mut rng, lo, hi);
        let b = loop {
            let b = off_table(&mut rng, lo, hi);
            if (b / a - 1.0).abs() > 0.03 {
                break b;
            }
        };
        let long = off_table(&mut rng, 300.0, 3_500.0);
        let amplitude = dbfs_to_amplitude(-15.0);
        let mut sig = Signal::new(rate);
        sig.silence(500.0)
            .page(a as f64, b as f64, A_MS, 0.0, B_MS, amplitude)
            .silence(1_500.0)
            .tone(long as f64, 4_000.0, amplitude)
            .silence(500.0);
        sig.add_band_noise(noise_power_for_snr(amplitude, 10.0), rng.next_u64());
        let hits = Bank::new(rate, &table, Some(FinderConfig::default())).run(&sig.samples);
        let found: Vec<Measured> = hits
            .iter()
            .filter(|h| h.def.is_none())
            .map(|h| h.event.measured)
            .collect();
        let ok = matches!(found.as_slice(),
            [Measured::TwoTone { a_hz, b_hz }, Measured::LongTone { hz }]
                if close(*a_hz, a) && close(*b_hz, b) && close(*hz, long));
        if !ok {
            failures.push(format!(
                "{a}/{b} then {long} at {rate} Hz: finder said {found:?}"
            ));
        }
        if let Some(h) = hits.iter().find(|h| h.def.is_some()) {
            failures.push(format!("{a}/{b} then {long}: alerted table station {h:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_finder_reports_every_table_page_once() {
    let table = stations();
    let mut rng = Rng::new(0x0010_7ab1);
    let amplitude = dbfs_to_amplitude(-12.0);
    // All 40 stations back to back, 1 s apart, in noise: one long clip.
    let mut sig = Signal::new(8_000);
    for &(a, b) in &table {
        sig.silence(1_000.0)
            .page(a as f64, b as f64, A_MS, 0.0, B_MS, amplitude);
    }
    sig.silence(1_000.0);
    sig.add_band_noise(noise_power_for_snr(amplitude, 6.0), rng.next_u64());
    let hits = Bank::new(8_000, &[], Some(FinderConfig::default())).run(&sig.samples);
    let found: Vec<(f32, f32)> = hits.iter().filter_map(|h| h.two_tone_hz()).collect();
    assert_eq!(found.len(), table.len(), "{hits:?}");
    for (&(a, b), &(ma, mb)) in table.iter().zip(&found) {
        assert!(close(ma, a) && close(mb, b), "{a}/{b} measured {ma}/{mb}");
    }
    assert_eq!(hits.len(), table.len(), "nothing but the pages");
}

#[test]
fn what_the_finder_found_can_be_configured_and_then_alerts() {
    // The user's workflow: run the finder, copy the measured tones into a
    // definition, and the next page of that code alerts it.
    let (a, b) = (1_234.5, 2_777.7);
    let mut sig = Signal::new(48_000);
    let amplitude = dbfs_to_amplitude(-20.0);
    sig.silence(500.0)
        .page(a, b, A_MS, 0.0, B_MS, amplitude)
        .silence(500.0);
    sig.add_band_noise(noise_power_for_snr(amplitude, 3.0), 77);
    let found = Bank::new(48_000, &[], Some(FinderConfig::default())).run(&sig.samples);
    let (ma, mb) = found[0].two_tone_hz().expect("a pair");
    let def = TwoToneDef::quick_call(ma, mb);
    let hits = Bank::two_tone(48_000, &[def]).run(&sig.samples);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].def, Some(0));
}
