//! The harmonic-series guard: is the pair two harmonics of one voice?
//!
//! Voiced speech (and most music) is a harmonic series `j·f₀`. A vowel
//! whose formants lift harmonics `n` and `m` above the rest can put two
//! strong, steady components on DTMF frequencies: high voices
//! (f₀ 200–400 Hz) do it often, because their harmonics are sparse. In
//! the talk-off corpus the pairs found were 4:3, 5:3, 7:4 and 2:1. DTMF
//! pairs themselves sit near such ratios (1209/697 ≈ 7:4, 1633/697 ≈ 7:3,
//! 1336/770 ≈ 7:4...), so the ratio alone decides nothing; the other
//! members of the series do: a voice has energy at the neighbouring
//! harmonics `n±1`, `m±1`, a DTMF generator has none.
//!
//! So when `f_high/f_low` is within [`RATIO_TOLERANCE`] of `m/n` with
//! `f_low/n ≥` [`F0_MIN_HZ`], the neighbours are measured (Hann window over
//! the 25 ms samples, so the tones' own leakage at ≥ 80 Hz away stays
//! 30 dB down) and any within 16 dB of the weaker tone rejects the
//! window. This runs only on windows that passed every other
//! guard and only until the digit is validated.

use super::bank::SubBlock;
use super::{RATE_HZ, SUB_LEN, WINDOW_LEN, WINDOW_SUBS};

use core::f32::consts::TAU;

/// Lowest voice pitch considered.
const F0_MIN_HZ: f32 = 80.0;
/// How close `f_high/f_low` must be to `m/n`. The measured ratio is good
/// to 0.05 % at +10 dB SNR; the speech pairs found were within 0.2 %.
const RATIO_TOLERANCE: f32 = 0.005;
/// A neighbouring harmonic within this power ratio (-16 dB) of the weaker
/// tone marks a voice. The speech pairs found had a neighbour at -6 to
/// -11 dB; band noise at +10 dB per-tone SNR puts about -26 dB in each
/// 60 Hz probe.
const NEIGHBOUR_POWER_MAX: f32 = 0.025_118_865;
/// Neighbours above this are not measured (a radio's audio passband
/// ends near 3 kHz; 8 kHz sampling at 4 kHz).
const TOP_HZ: f32 = 3_700.0;

/// The most series members measured: up to 12 fundamentals (a row tone
/// is below 988 Hz even 5 % off, 988/80 < 13) with four neighbours each,
/// plus the two tones.
const MAX_PROBES: usize = 2 + 12 * 4;
/// Goertzel filters run side by side over the samples.
const LANES: usize = 8;

/// Whether the window's pair at `low_hz` and `high_hz` (measured) looks
/// like two harmonics of a voice.
pub(super) fn is_harmonic_series(
    window: &[&SubBlock; WINDOW_SUBS],
    low_hz: f32,
    high_hz: f32,
) -> bool {
    if !(low_hz > 0.0 && high_hz > low_hz && high_hz < TOP_HZ) {
        return false;
    }
    // Every neighbour of every fitting series, then one pass over the
    // samples for all of them.
    let mut hz = [0.0f32; MAX_PROBES];
    hz[0] = low_hz;
    hz[1] = high_hz;
    let mut len = 2;
    let n_max = ((low_hz / F0_MIN_HZ) as u32).min(12);
    for n in 1..=n_max {
        let m = (n as f32 * high_hz / low_hz + 0.5) as u32;
        if (m as f32 * low_hz - n as f32 * high_hz).abs() > RATIO_TOLERANCE * n as f32 * high_hz {
            continue;
        }
        // Least-squares fundamental for the two harmonics.
        let f0 = (n as f32 * low_hz + m as f32 * high_hz) / (n * n + m * m) as f32;
        for j in [n - 1, n + 1, m - 1, m + 1] {
            let f = j as f32 * f0;
            if j != 0 && j != n && j != m && f <= TOP_HZ {
                hz[len] = f;
                len += 1;
            }
        }
    }
    if len == 2 {
        return false;
    }
    let windowed = hann(window);
    let mut power = [0.0f32; MAX_PROBES];
    for (hz, power) in hz[..len].chunks(LANES).zip(power.chunks_mut(LANES)) {
        powers(&windowed, hz, power);
    }
    let limit = NEIGHBOUR_POWER_MAX * power[0].min(power[1]);
    power[2..len].iter().any(|&p| p > limit)
}

/// The window's samples under a (periodic) Hann window.
fn hann(window: &[&SubBlock; WINDOW_SUBS]) -> [f32; WINDOW_LEN] {
    let mut out = [0.0; WINDOW_LEN];
    // cos(2πn/N) by the Chebyshev recurrence, good to 1e-4 here.
    let c1 = libm::cosf(TAU / WINDOW_LEN as f32);
    let (mut prev, mut cos) = (c1, 1.0f32);
    for (k, block) in window.iter().enumerate() {
        for (m, &x) in block.samples.iter().enumerate() {
            out[k * SUB_LEN + m] = x * (0.5 - 0.5 * cos);
            let next = 2.0 * c1 * cos - prev;
            prev = cos;
            cos = next;
        }
    }
    out
}

/// `|DFT|²` of `samples` at each of up to [`LANES`] frequencies `hz`
/// (Goertzel, the filters side by side so they run in parallel).
fn powers(samples: &[f32; WINDOW_LEN], hz: &[f32], out: &mut [f32]) {
    let mut coef = [0.0f32; LANES];
    for (c, &f) in coef.iter_mut().zip(hz) {
        *c = 2.0 * libm::cosf(TAU * f / RATE_HZ as f32);
    }
    let (mut s1, mut s2) = ([0.0f32; LANES], [0.0f32; LANES]);
    for &x in samples {
        for i in 0..LANES {
            let s0 = (x - s2[i]) + coef[i] * s1[i];
            s2[i] = s1[i];
            s1[i] = s0;
        }
    }
    for (i, p) in out.iter_mut().take(hz.len()).enumerate() {
        *p = (s1[i] * s1[i] + s2[i] * s2[i] - coef[i] * s1[i] * s2[i]).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window_of(tones: &[(f32, f32)]) -> [SubBlock; WINDOW_SUBS] {
        core::array::from_fn(|k| {
            let mut b = SubBlock::EMPTY;
            for (m, x) in b.samples.iter_mut().enumerate() {
                let n = (k * SUB_LEN + m) as f32;
                *x = tones
                    .iter()
                    .map(|&(a, f)| a * libm::sinf(TAU * f * n / RATE_HZ as f32))
                    .sum();
            }
            b
        })
    }

    #[test]
    fn the_constant_matches_its_db() {
        assert!((NEIGHBOUR_POWER_MAX - libm::powf(10.0, -16.0 / 10.0)).abs() < 1e-6);
    }

    #[test]
    fn a_voice_like_series_is_caught_and_a_clean_pair_is_not() {
        // 4:3 of 308 Hz, with the 5th harmonic 11 dB down (from the
        // talk-off corpus).
        let voice = window_of(&[(0.3, 924.0), (0.3, 1232.0), (0.084, 1540.0), (0.06, 308.0)]);
        let refs: [&SubBlock; WINDOW_SUBS] = core::array::from_fn(|k| &voice[k]);
        assert!(is_harmonic_series(&refs, 924.0, 1232.0));
        // The same pair alone, and a genuine '4' (770 + 1209 ≈ 11:7).
        for (low, high) in [
            (924.0, 1232.0),
            (770.0, 1209.0),
            (697.0, 1633.0),
            (697.0, 1209.0),
        ] {
            let clean = window_of(&[(0.3, low), (0.12, high)]);
            let refs: [&SubBlock; WINDOW_SUBS] = core::array::from_fn(|k| &clean[k]);
            assert!(!is_harmonic_series(&refs, low, high), "{low} {high}");
        }
    }

    #[test]
    fn nonsense_frequencies_are_not_a_series() {
        let w = window_of(&[]);
        let refs: [&SubBlock; WINDOW_SUBS] = core::array::from_fn(|k| &w[k]);
        assert!(!is_harmonic_series(&refs, 0.0, 1000.0));
        assert!(!is_harmonic_series(&refs, f32::NAN, 1000.0));
        assert!(!is_harmonic_series(&refs, 1000.0, 900.0));
    }
}
