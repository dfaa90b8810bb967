//! The per-sample stage: sixteen Goertzel resonators run over 5 ms
//! sub-blocks, one at each DTMF frequency and one at each second harmonic.
//!
//! This is the only code that touches every sample, so it is kept to one
//! multiply and two adds per probe per sample, on fixed arrays the compiler
//! turns into vector lanes. Everything else happens once per sub-block.
//!
//! Each finished sub-block leaves one complex DFT value per probe, referred
//! to a common phase origin (see [`Bank::finish`]), so that later stages can
//! add sub-blocks into a 25 ms window coherently, at the nominal frequency or
//! at any frequency near it.

use super::complex::Complex;
use super::{PROBES, PROBES_HZ, RATE_HZ, SUB_LEN};

/// Sub-blocks after which every probe's phase reference is exactly back at
/// zero: every probe frequency is a whole number of hertz, so
/// `e^{-jω·RATE_HZ} = 1` for all of them.
const REF_PERIOD_SUBS: u32 = RATE_HZ / SUB_LEN as u32;
const _: () = assert!(RATE_HZ.is_multiple_of(SUB_LEN as u32));

/// Larger magnitudes are clamped: a full-scale sample is 1.0, so this only
/// bites on garbage, and it keeps every sum far from overflow.
const SAMPLE_LIMIT: f32 = 8.0;

/// What one 5 ms sub-block leaves behind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct SubBlock {
    /// Per probe, `Σ x[n]·e^{-jωn}` over the sub-block, `n` counted from
    /// the bank's phase origin.
    pub(super) dft: [Complex; PROBES],
    /// `Σ x²` over the sub-block.
    pub(super) energy: f32,
    /// `Σ x` over the sub-block (for removing DC).
    pub(super) sum: f32,
    /// The samples themselves (sanitized), for the checks that only run
    /// on the rare windows that look like a digit.
    pub(super) samples: [f32; SUB_LEN],
    /// The sub-block's first sample is `origin · SUB_LEN` samples after
    /// the phase origin, modulo [`RATE_HZ`] (where every probe's phase
    /// reference repeats).
    pub(super) origin: u32,
}

impl SubBlock {
    pub(super) const EMPTY: SubBlock = SubBlock {
        dft: [Complex::ZERO; PROBES],
        energy: 0.0,
        sum: 0.0,
        samples: [0.0; SUB_LEN],
        origin: 0,
    };

    /// Energy with this sub-block's own mean removed.
    pub(super) fn ac_energy(&self) -> f32 {
        (self.energy - self.sum * self.sum / SUB_LEN as f32).max(0.0)
    }
}

/// The Goertzel bank: state of the sub-block being filled plus the
/// constants that turn its end state into referenced DFT values.
#[derive(Debug, Clone)]
pub(super) struct Bank {
    /// `2·cos(ω)` per probe.
    coef: [f32; PROBES],
    /// `e^{-jω(L-1)}` per probe: with `b`, maps the Goertzel end state to
    /// the DFT value referred to the sub-block's first sample.
    a: [Complex; PROBES],
    /// `e^{-jωL}` per probe: the phase the reference turns per sub-block.
    b: [Complex; PROBES],
    /// `e^{-jω·n₀}` per probe, `n₀` the first sample of this sub-block
    /// counted from the phase origin.
    reference: [Complex; PROBES],
    /// Sub-blocks since the reference was last exactly 1.
    ref_subs: u32,
    s1: [f32; PROBES],
    s2: [f32; PROBES],
    energy: f32,
    sum: f32,
    samples: [f32; SUB_LEN],
    fill: usize,
}

impl Bank {
    pub(super) fn new() -> Bank {
        let mut coef = [0.0; PROBES];
        let mut a = [Complex::ZERO; PROBES];
        let mut b = [Complex::ZERO; PROBES];
        for (p, &hz) in PROBES_HZ.iter().enumerate() {
            let w = core::f64::consts::TAU * f64::from(hz) / f64::from(RATE_HZ);
            coef[p] = (2.0 * libm::cos(w)) as f32;
            a[p] = Complex::from_angle(-w * (SUB_LEN - 1) as f64);
            b[p] = Complex::from_angle(-w * SUB_LEN as f64);
        }
        Bank {
            coef,
            a,
            b,
            reference: [Complex::ONE; PROBES],
            ref_subs: 0,
            s1: [0.0; PROBES],
            s2: [0.0; PROBES],
            energy: 0.0,
            sum: 0.0,
            samples: [0.0; SUB_LEN],
            fill: 0,
        }
    }

    /// Back to the phase origin with an empty sub-block.
    pub(super) fn reset(&mut self) {
        self.reference = [Complex::ONE; PROBES];
        self.ref_subs = 0;
        self.clear_sub_block();
    }

    fn clear_sub_block(&mut self) {
        self.s1 = [0.0; PROBES];
        self.s2 = [0.0; PROBES];
        self.energy = 0.0;
        self.sum = 0.0;
        self.fill = 0;
    }

    /// Runs samples into the sub-block until it is full or `samples` runs
    /// out, and returns how many were taken (at least one unless `samples`
    /// is empty or the sub-block is already full). Non-finite samples count
    /// as silence and are added to `nonfinite`.
    pub(super) fn feed(&mut self, samples: &[f32], nonfinite: &mut u64) -> usize {
        let take = (SUB_LEN - self.fill).min(samples.len());
        let coef = self.coef;
        let mut s1 = self.s1;
        let mut s2 = self.s2;
        let mut energy = self.energy;
        let mut sum = self.sum;
        let mut bad = 0u64;
        for (&raw, kept) in samples[..take].iter().zip(&mut self.samples[self.fill..]) {
            bad += u64::from(!raw.is_finite());
            let x = if raw.is_nan() {
                0.0
            } else {
                raw.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
            };
            *kept = x;
            for p in 0..PROBES {
                // s[n] = x[n] + 2cos(ω)·s[n-1] − s[n-2], grouped so that
                // only the multiply-add waits on the previous sample.
                let s0 = (x - s2[p]) + coef[p] * s1[p];
                s2[p] = s1[p];
                s1[p] = s0;
            }
            energy += x * x;
            sum += x;
        }
        self.s1 = s1;
        self.s2 = s2;
        self.energy = energy;
        self.sum = sum;
        self.fill += take;
        *nonfinite = nonfinite.saturating_add(bad);
        take
    }

    /// Whether the sub-block holds [`SUB_LEN`] samples and must be
    /// [`finish`](Bank::finish)ed before more can be fed.
    pub(super) fn is_full(&self) -> bool {
        self.fill == SUB_LEN
    }

    /// Closes the sub-block: its DFT values referred to the phase origin,
    /// its energy and sum. Starts the next sub-block.
    pub(super) fn finish(&mut self) -> SubBlock {
        let mut out = SubBlock::EMPTY;
        out.origin = self.ref_subs;
        for p in 0..PROBES {
            // The Goertzel end state gives Σ x[m]·e^{-jωm} over the
            // sub-block (m from its first sample) as a·s[L-1] − b·s[L-2];
            // turning it by e^{-jω·n₀} refers it to the origin.
            let local = self.a[p].scale(self.s1[p]) - self.b[p].scale(self.s2[p]);
            out.dft[p] = local * self.reference[p];
            self.reference[p] = self.reference[p] * self.b[p];
        }
        self.ref_subs += 1;
        if self.ref_subs == REF_PERIOD_SUBS {
            // Exact, and it stops rounding errors of the running product
            // from piling up.
            self.reference = [Complex::ONE; PROBES];
            self.ref_subs = 0;
        }
        out.energy = self.energy;
        out.sum = self.sum;
        out.samples = self.samples;
        self.clear_sub_block();
        out
    }
}
