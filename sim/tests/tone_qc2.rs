//! Q1–Q3: the Motorola Quick Call II table.
//!
//! Q1: each of the 80 tones as A with a random B, and every pair of
//! neighbouring tones (in frequency order, both ways), each page run
//! through a detector holding its own definition among 31 near misses
//! (same A with B's neighbours, A's neighbours with the same B, the pair
//! reversed, …): the right definition alerts, alone, with both tones
//! measured within ±0.5 %.
//! Q2: tone-only clips (A then B, nothing before or after) at 8, 44.1 and
//! 48 kHz, loud and quiet, with the whole 40-station table loaded.
//! Q3: encoders off frequency: with the table loaded, a page within the
//! configured ±1 % alerts its station, one off by 1.25 % or more does not
//! (the acceptance criterion is range + 1 %), and nothing ever alerts a station
//! whose windows the tones are not in.

mod tone_support;

use std::collections::HashSet;

use echostream_core::tone::{Definition, TwoToneDef};
use echostream_sim::Rng;
use echostream_sim::audio::{
    QC2_TONES_HZ, Signal, dbfs_to_amplitude, noise_power_for_snr, qc2_sorted_hz,
};
use tone_support::*;

const RATE_HZ: u32 = 8_000;
const LEAD_MS: f64 = 1_000.0;

/// A clean-ish page (30 dB SNR hiss) at a random level, 1 s lead, 1 s tail.
fn page(a: f32, b: f32, rng: &mut Rng) -> Signal {
    let amplitude = dbfs_to_amplitude(-20.0 + 14.0 * rng.unit());
    let mut sig = Signal::new(RATE_HZ);
    sig.silence(LEAD_MS)
        .page(a as f64, b as f64, A_MS, 0.0, B_MS, amplitude)
        .silence(1_000.0);
    sig.add_band_noise(noise_power_for_snr(amplitude, 30.0), rng.next_u64());
    sig
}

/// The page's definition at a random place among 31 near misses.
fn with_near_misses(a: f32, b: f32, rng: &mut Rng) -> (Vec<TwoToneDef>, usize) {
    let mut pairs: Vec<(f32, f32)> = Vec::new();
    let mut seen = HashSet::new();
    seen.insert((a.to_bits(), b.to_bits()));
    let mut add = |x: f32, y: f32, pairs: &mut Vec<(f32, f32)>| {
        if x != y && pairs.len() < 31 && seen.insert((x.to_bits(), y.to_bits())) {
            pairs.push((x, y));
        }
    };
    for nb in neighbours(b) {
        add(a, nb, &mut pairs);
    }
    for na in neighbours(a) {
        add(na, b, &mut pairs);
        for nb in neighbours(b) {
            add(na, nb, &mut pairs);
        }
    }
    add(b, a, &mut pairs);
    while pairs.len() < 31 {
        let x = QC2_TONES_HZ[rng.below(80) as usize];
        let y = QC2_TONES_HZ[rng.below(80) as usize];
        add(x, y, &mut pairs);
    }
    let mut defs: Vec<TwoToneDef> = pairs.iter().map(|&(x, y)| station_def(x, y)).collect();
    let at = rng.below(32) as usize;
    defs.insert(at, station_def(a, b));
    (defs, at)
}

/// Runs one page against its near misses; returns a complaint, if any.
fn check_page(a: f32, b: f32, rng: &mut Rng) -> Option<String> {
    let (defs, want) = with_near_misses(a, b, rng);
    let sig = page(a, b, rng);
    let hits = Bank::two_tone(RATE_HZ, &defs).run(&sig.samples);
    if hits.len() != 1 || hits[0].def != Some(want) {
        return Some(format!(
            "{a}/{b}: wanted definition {want} alone, got {hits:?}"
        ));
    }
    let (ma, mb) = hits[0].two_tone_hz()?;
    if !within_percent(ma, a, 0.5) || !within_percent(mb, b, 0.5) {
        return Some(format!("{a}/{b}: measured {ma}/{mb}"));
    }
    let late_ms = ms(hits[0].event.detected_at.0, RATE_HZ) - (LEAD_MS + A_MS + B_MIN_MS as f64);
    if late_ms > LATENCY_MAX_MS {
        return Some(format!("{a}/{b}: alert {late_ms} ms after B's minimum"));
    }
    None
}

#[test]
fn q1_every_table_tone_as_a_with_a_random_b() {
    let mut rng = Rng::new(0x0001_a0a0);
    let mut failures = Vec::new();
    for &a in &QC2_TONES_HZ {
        let b = loop {
            let b = QC2_TONES_HZ[rng.below(80) as usize];
            if b != a {
                break b;
            }
        };
        failures.extend(check_page(a, b, &mut rng));
    }
    assert!(
        failures.is_empty(),
        "{} of 80 failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn q1_every_pair_of_neighbouring_tones_both_ways() {
    let mut rng = Rng::new(0x0001_b0b0);
    let sorted = qc2_sorted_hz();
    let mut failures = Vec::new();
    for w in sorted.windows(2) {
        failures.extend(check_page(w[0], w[1], &mut rng));
        failures.extend(check_page(w[1], w[0], &mut rng));
    }
    assert!(
        failures.is_empty(),
        "{} of 158 failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn q2_tone_only_clips_are_detected() {
    let stations = stations();
    let defs: Vec<TwoToneDef> = stations.iter().map(|&(a, b)| station_def(a, b)).collect();
    let mut failures = Vec::new();
    for (i, &(a, b)) in stations.iter().enumerate() {
        let rate = [8_000, 44_100, 48_000][i % 3];
        let level_dbfs = if i % 2 == 0 { -3.0 } else { -40.0 };
        let mut sig = Signal::new(rate);
        sig.page(
            a as f64,
            b as f64,
            A_MS,
            0.0,
            B_MS,
            dbfs_to_amplitude(level_dbfs),
        );
        // Live: no flush; B's minimum is met before the clip ends.
        let mut bank = Bank::two_tone(rate, &defs);
        let hits = bank.feed(0, &sig.samples, rate as usize / 100);
        let ok = hits.len() == 1
            && hits[0].def == Some(i)
            && ms(hits[0].event.start.0, rate) < 40.0
            && ms(hits[0].event.detected_at.0, rate) - (A_MS + B_MIN_MS as f64) <= LATENCY_MAX_MS;
        if !ok {
            failures.push(format!("{a}/{b} at {rate} Hz, {level_dbfs} dBFS: {hits:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn q3_offset_sweep_accepts_within_range_rejects_beyond_and_never_alerts_a_wrong_station() {
    let stations = stations();
    let defs: Vec<TwoToneDef> = stations.iter().map(|&(a, b)| station_def(a, b)).collect();
    let range_percent = RANGE_FRACTION * 100.0;
    let mut rng = Rng::new(0x0003_0ff5);
    let mut failures = Vec::new();
    let mut accepted = 0;
    let mut rejected = 0;
    // Offsets in % of the tone, −3 % … +3 %; which tones are off varies.
    for step in -12..=12 {
        let offset = step as f32 * 0.25;
        for (i, &(a, b)) in stations.iter().enumerate() {
            if (step + i as i32) % 3 != 0 {
                continue; // a third of the stations at each offset
            }
            let (fa, fb) = match i % 3 {
                0 => (1.0 + offset / 100.0, 1.0 + offset / 100.0),
                1 => (1.0 + offset / 100.0, 1.0),
                _ => (1.0, 1.0 - offset / 100.0),
            };
            let (ta, tb) = (a * fa, b * fb);
            let worst = ((fa - 1.0).abs()).max((fb - 1.0).abs()) * 100.0;
            let mut sig = Signal::new(RATE_HZ);
            let amplitude = dbfs_to_amplitude(-12.0);
            sig.silence(500.0)
                .page(ta as f64, tb as f64, A_MS, 0.0, B_MS, amplitude)
                .silence(500.0);
            sig.add_band_noise(noise_power_for_snr(amplitude, 20.0), rng.next_u64());
            let hits = Bank::two_tone(RATE_HZ, &defs).run(&sig.samples);
            let own = hits.iter().any(|h| h.def == Some(i));
            if worst <= range_percent - 0.15 && !own {
                failures.push(format!(
                    "{a}/{b} off {offset} % ({ta}/{tb}) within range, not detected: {hits:?}"
                ));
            }
            if worst >= range_percent + 0.25 && own {
                failures.push(format!(
                    "{a}/{b} off {offset} % ({ta}/{tb}) beyond range, detected"
                ));
            }
            accepted += usize::from(own);
            rejected += usize::from(!own);
            for h in &hits {
                let d = defs[h.def.expect("definitions only")];
                // Another station may alert only if the tones really are
                // in its windows (measurement is good to 0.15 %).
                let inside = |t: f32, c: f32, r: f32| (t - c).abs() <= r + t * 0.0015;
                if !(inside(ta, d.a_hz, d.a_range_hz) && inside(tb, d.b_hz, d.b_range_hz)) {
                    failures.push(format!(
                        "{a}/{b} sent as {ta}/{tb} alerted {:?}: {h:?}",
                        Definition::from(d)
                    ));
                }
            }
        }
    }
    println!("offset sweep: {accepted} pages accepted, {rejected} rejected");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
