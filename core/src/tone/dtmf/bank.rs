//! The per-sub-block stage: each 5 ms sub-block's samples, their energy
//! and sum, and — only when a window needs them — their DFT values at the
//! eight DTMF frequencies (and, for the rare window that reaches the
//! harmonic guard, at a second harmonic).
//!
//! Per sample, nothing but a sanitizing copy: silence and quiet audio
//! (every window under the level guard) cost no DFT at all, and a
//! sub-block that windows do need is transformed once, when the first
//! window containing it passes the energy guards. The DFT values are
//! computed directly, `Σ x[m]·e^{-jωm}` over the 40 samples from tables
//! made at compile time, the eight probes side by side in vector lanes
//! (no per-sample recurrence to wait on, unlike a Goertzel bank), then
//! referred to a common phase origin by `e^{-jω·n₀}`: every probe is a
//! whole number of hertz, so that factor repeats every 200 sub-blocks and
//! is read from a table, exactly. (The other layout, each probe's sums
//! run down the samples four to a vector, came out 9–14 % slower over
//! the whole of `echostream detect`: the compiler re-packs it across the
//! probes and gathers the kernel element by element. Held apart from the
//! final sums so that it stays straight vertical code, 40 multiplies and
//! 40 additions per group with no broadcasts, it was still no faster
//! (3 % slower, within the dev VM's run-to-run noise). This kernel is at
//! most about 16 % of `detect`'s CPU on the tone comparison's files (an
//! upper bound: the run without it also took other branches); the whole
//! DTMF decoder is about 40 %.)

use core::f64::consts::TAU;

use super::super::math;
use super::complex::{Complex, TURN_STEPS};
use super::{HIGH, LOW, PROBES, PROBES_HZ, RATE_HZ, SUB_LEN, WINDOW_SUBS};

/// The fundamental probes (rows and columns); the rest are their second
/// harmonics.
pub(super) const FUNDAMENTALS: usize = HIGH.end;
const _: () = assert!(LOW.start == 0 && LOW.end == HIGH.start && 2 * FUNDAMENTALS == PROBES);

/// Sub-blocks after which every probe's phase reference is exactly back at
/// zero: every probe frequency is a whole number of hertz, so
/// `e^{-jω·RATE_HZ} = 1` for all of them.
pub(super) const REF_PERIOD_SUBS: u32 = RATE_HZ / SUB_LEN as u32;
const _: () = assert!(RATE_HZ.is_multiple_of(SUB_LEN as u32));

/// Larger magnitudes are clamped: a full-scale sample is 1.0, so this only
/// bites on garbage, and it keeps every sum far from overflow.
const SAMPLE_LIMIT: f32 = 8.0;

/// Half a sub-block: the DFT pairs sample `m` with sample `SUB_LEN − 1 − m`.
const HALF_SUB: usize = SUB_LEN / 2;
const _: () = assert!(SUB_LEN.is_multiple_of(8) && HALF_SUB.is_multiple_of(2));

/// Twice the rate: angles about the sub-block's centre (19.5 samples in)
/// are whole multiples of `2π/DOUBLE_RATE`.
const DOUBLE_RATE: usize = 2 * RATE_HZ as usize;

/// `cos` and `sin` of `ω_p·(m − 19.5)` for the first half's samples `m`
/// (the second half's are the same, the sine negated) and the fundamental
/// probes `p`: `[cos of probes 0–3, cos of 4–7, sin of 0–3, sin of 4–7]`.
static KERNEL: [Lanes; HALF_SUB] = kernel();

/// Four vectors of four lanes, aligned as a vector register wants.
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Lanes([[f32; 4]; 4]);

/// `2π·turn/DOUBLE_RATE` for `turn = hz·twice_n mod DOUBLE_RATE`: the
/// angle of `ω·n` with `n = twice_n / 2`, exact in integers first.
const fn angle(hz: u32, twice_n: isize) -> f64 {
    let turn = (hz as isize * twice_n).rem_euclid(DOUBLE_RATE as isize);
    TAU * turn as f64 / DOUBLE_RATE as f64
}

const fn kernel() -> [Lanes; HALF_SUB] {
    let mut k = [Lanes([[0.0; 4]; 4]); HALF_SUB];
    let mut m = 0;
    while m < HALF_SUB {
        let mut p = 0;
        while p < FUNDAMENTALS {
            let a = angle(PROBES_HZ[p], 2 * m as isize - (SUB_LEN as isize - 1));
            k[m].0[p / 4][p % 4] = math::sin(a + core::f64::consts::FRAC_PI_2) as f32;
            k[m].0[2 + p / 4][p % 4] = math::sin(a) as f32;
            p += 1;
        }
        m += 1;
    }
    k
}

/// `e^{-jω_p·(n₀ + 19.5)}` for each fundamental probe `p`, `n₀ =
/// origin·SUB_LEN` the sub-block's first sample after the phase origin:
/// real parts then imaginary parts, per `origin` in `0..REF_PERIOD_SUBS`.
static CENTRES: [[[f32; FUNDAMENTALS]; 2]; REF_PERIOD_SUBS as usize] = centres();

const fn centres() -> [[[f32; FUNDAMENTALS]; 2]; REF_PERIOD_SUBS as usize] {
    let mut t = [[[0.0; FUNDAMENTALS]; 2]; REF_PERIOD_SUBS as usize];
    let mut origin = 0;
    while origin < REF_PERIOD_SUBS as usize {
        let mut p = 0;
        while p < FUNDAMENTALS {
            let twice_n = (2 * origin * SUB_LEN + SUB_LEN - 1) as isize;
            let a = angle(PROBES_HZ[p], twice_n);
            t[origin][0][p] = math::sin(a + core::f64::consts::FRAC_PI_2) as f32;
            t[origin][1][p] = -math::sin(a) as f32;
            p += 1;
        }
        origin += 1;
    }
    t
}

/// `e^{-jω·n}` for a probe at `hz` and `n = twice_n / 2` samples: the
/// angle is a whole number of [`TURN_STEPS`], read from tables exactly.
#[inline]
fn turn_back(hz: u32, twice_n: u32) -> Complex {
    let steps = (u64::from(hz) * u64::from(twice_n) % u64::from(TURN_STEPS)) as u32;
    Complex::turn((TURN_STEPS - steps) % TURN_STEPS)
}

/// `Σ x[n]·e^{-jωn}` (`n` from the phase origin) over each sub-block of
/// `window` for probe `probe` (any of the [`PROBES`]): for the second
/// harmonics, which only the last guards of a rare window need. Goertzel
/// over the samples, the five sub-blocks' recursions side by side so that
/// they do not wait on each other.
pub(super) fn window_probe_dfts(
    window: &[&SubBlock; WINDOW_SUBS],
    probe: usize,
) -> [Complex; WINDOW_SUBS] {
    let hz = PROBES_HZ[probe];
    let coef = 2.0 * turn_back(hz, 2).re;
    let (mut s1, mut s2) = ([0.0f32; WINDOW_SUBS], [0.0f32; WINDOW_SUBS]);
    for m in 0..SUB_LEN {
        for k in 0..WINDOW_SUBS {
            let s0 = (window[k].samples[m] - s2[k]) + coef * s1[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    // The end state gives the DFT value referred to the sub-block's first
    // sample as a·s[L-1] − b·s[L-2].
    let a = turn_back(hz, 2 * (SUB_LEN as u32 - 1));
    let b = turn_back(hz, 2 * SUB_LEN as u32);
    core::array::from_fn(|k| {
        (a.scale(s1[k]) - b.scale(s2[k])) * turn_back(hz, 2 * SUB_LEN as u32 * window[k].origin)
    })
}

/// The two groups of probes, analysed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Group {
    /// The low group (probes 0–3).
    Rows = 0,
    /// The high group (probes 4–7).
    Columns = 1,
}

/// Adds two consecutive samples' `u` and `v` (even, odd) times kernel
/// rows `even` and `odd` of group `g` to `acc`: cosine sums of the even
/// samples, sine sums of the even ones, then the same for the odd.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // lane loops: one vector operation each
fn accumulate(
    acc: &mut Lanes,
    even: &[[f32; 4]; 4],
    odd: &[[f32; 4]; 4],
    g: usize,
    u: [f32; 2],
    v: [f32; 2],
) {
    let [c_even, s_even, c_odd, s_odd] = &mut acc.0;
    let (ce, se, co, so) = (&even[g], &even[2 + g], &odd[g], &odd[2 + g]);
    for lane in 0..4 {
        c_even[lane] += u[0] * ce[lane];
    }
    for lane in 0..4 {
        s_even[lane] += v[0] * se[lane];
    }
    for lane in 0..4 {
        c_odd[lane] += u[1] * co[lane];
    }
    for lane in 0..4 {
        s_odd[lane] += v[1] * so[lane];
    }
}

/// `Σ f(x)` over `samples` in eight lanes (lane `l` sums samples `l`,
/// `l + 8`, ...), so that it vectorizes with short chains. Kept out of
/// line: inlined next to another such sum, the compiler pairs the two
/// sums' lanes into half-empty vectors instead.
#[inline(never)]
fn lane_sum(samples: &[f32; SUB_LEN], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    for chunk in samples.chunks_exact(8) {
        for lane in 0..8 {
            lanes[lane] += f(chunk[lane]);
        }
    }
    let half: [f32; 4] = core::array::from_fn(|l| lanes[l] + lanes[l + 4]);
    (half[0] + half[2]) + (half[1] + half[3])
}

/// One 5 ms sub-block. Cache-line aligned, so that no vector load of its
/// samples or DFT values straddles two lines (2 % of `detect`'s CPU).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C, align(64))]
pub(super) struct SubBlock {
    /// Per fundamental probe, `Σ x[n]·e^{-jωn}` over the sub-block, `n`
    /// counted from the phase origin, real then imaginary parts (see
    /// [`dft`](Self::dft)). Valid once [`analyse`](Self::analyse)d.
    dft_re: [f32; FUNDAMENTALS],
    dft_im: [f32; FUNDAMENTALS],
    /// Whether `dft` holds this sub-block's values, per group (rows,
    /// columns).
    analysed: [bool; 2],
    /// `Σ x²` over the sub-block.
    pub(super) energy: f32,
    /// `Σ x` over the sub-block (for removing DC).
    pub(super) sum: f32,
    /// `energy` with the sub-block's own mean removed.
    ac_energy: f32,
    /// The samples themselves (sanitized).
    pub(super) samples: [f32; SUB_LEN],
    /// The sub-block's first sample is `origin · SUB_LEN` samples after
    /// the phase origin, modulo [`RATE_HZ`] (where every probe's phase
    /// reference repeats).
    pub(super) origin: u32,
}

impl SubBlock {
    pub(super) const EMPTY: SubBlock = SubBlock {
        dft_re: [0.0; FUNDAMENTALS],
        dft_im: [0.0; FUNDAMENTALS],
        analysed: [false; 2],
        energy: 0.0,
        sum: 0.0,
        ac_energy: 0.0,
        samples: [0.0; SUB_LEN],
        origin: 0,
    };

    /// Energy with this sub-block's own mean removed.
    #[inline]
    pub(super) fn ac_energy(&self) -> f32 {
        self.ac_energy
    }

    /// Copies `input` into the samples from `at` on (as many as fit),
    /// NaN as silence and anything else clamped, and returns how many it
    /// took and how many were not finite.
    #[inline]
    pub(super) fn fill(&mut self, at: usize, input: &[f32]) -> (usize, u32) {
        let slots = &mut self.samples[at..];
        let take = slots.len().min(input.len());
        let mut bad = 0u32;
        for (kept, &raw) in slots[..take].iter_mut().zip(&input[..take]) {
            bad += u32::from(!raw.is_finite());
            *kept = if raw.is_nan() {
                0.0
            } else {
                raw.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
            };
        }
        (take, bad)
    }

    /// Stores `input` as samples from `at` on (as many as fit), each
    /// through `convert`, which must give finite values within ±4 (already
    /// sanitized floats as they are, or 16-bit samples scaled). Returns how
    /// many it took.
    #[inline]
    pub(super) fn store<T: Copy>(
        &mut self,
        at: usize,
        input: &[T],
        convert: impl Fn(T) -> f32,
    ) -> usize {
        let slots = &mut self.samples[at..];
        let take = slots.len().min(input.len());
        for (kept, &raw) in slots[..take].iter_mut().zip(&input[..take]) {
            *kept = convert(raw);
        }
        take
    }

    /// Completes a sub-block whose samples are all filled: its energy and
    /// sum, its place after the phase origin, and no DFT values yet.
    #[inline]
    pub(super) fn close(&mut self, origin: u32) {
        self.energy = lane_sum(&self.samples, |x| x * x);
        self.sum = lane_sum(&self.samples, |x| x);
        self.ac_energy = (self.energy - self.sum * self.sum * (1.0 / SUB_LEN as f32)).max(0.0);
        self.origin = origin;
        self.analysed = [false; 2];
    }

    /// Computes the DFT values of `group`'s four probes ([`Group::Rows`]
    /// or [`Group::Columns`]), if not done yet.
    pub(super) fn analyse(&mut self, group: Group) {
        let g = group as usize;
        if self.analysed[g] {
            return;
        }
        // About the sub-block's centre c = 19.5, sample m and its mirror
        // 39 − m see conjugate kernels, so
        //   Σ x[m]·e^{-jωm} = e^{-jωc}·Σ_{m<20} (u[m]·cos ω(m−c) − j·v[m]·sin ω(m−c))
        // with u = x[m] + x[39−m], v = x[m] − x[39−m]: half the products.
        let (first, second) = self.samples.split_at(HALF_SUB);
        let mut u = [0.0f32; HALF_SUB];
        let mut v = [0.0f32; HALF_SUB];
        for (m, (u, v)) in u.iter_mut().zip(&mut v).enumerate() {
            let (a, b) = (first[m], second[HALF_SUB - 1 - m]);
            *u = a + b;
            *v = a - b;
        }
        // The group's four probes side by side in vector lanes: cosine
        // sums and sine sums, even and odd m apart so that consecutive
        // additions do not wait on each other.
        let mut acc = Lanes([[0.0f32; 4]; 4]);
        for (m, k) in KERNEL.chunks_exact(2).enumerate() {
            let m = 2 * m;
            accumulate(
                &mut acc,
                &k[0].0,
                &k[1].0,
                g,
                [u[m], u[m + 1]],
                [v[m], v[m + 1]],
            );
        }
        let [c_even, s_even, c_odd, s_odd] = acc.0;
        // local = e^{-jωc}·(A − jB); with the reference, (A − jB)·(pr + j·pi).
        let [pr, pi] = &CENTRES[self.origin as usize];
        for lane in 0..4 {
            let p = 4 * g + lane;
            let (a, b) = (c_even[lane] + c_odd[lane], s_even[lane] + s_odd[lane]);
            self.dft_re[p] = a * pr[p] + b * pi[p];
            self.dft_im[p] = a * pi[p] - b * pr[p];
        }
        self.analysed[g] = true;
    }

    /// Fundamental probe `p`'s DFT value (see [`analyse`](Self::analyse)).
    #[inline]
    pub(super) fn dft(&self, p: usize) -> Complex {
        Complex::new(self.dft_re[p], self.dft_im[p])
    }

    /// All fundamental probes' DFT values, real and imaginary parts.
    #[inline]
    pub(super) fn dft_parts(&self) -> (&[f32; FUNDAMENTALS], &[f32; FUNDAMENTALS]) {
        (&self.dft_re, &self.dft_im)
    }

    /// Whether [`analyse`](Self::analyse) has run for `group` since the
    /// last [`close`](Self::close).
    #[inline]
    pub(super) fn is_analysed(&self, group: Group) -> bool {
        self.analysed[group as usize]
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// The direct DFT in `f64`, referred to the origin.
    fn expected(block: &SubBlock, probe: usize) -> (f64, f64) {
        let w = TAU * f64::from(PROBES_HZ[probe]) / f64::from(RATE_HZ);
        let n0 = (block.origin as usize * SUB_LEN) as f64;
        block
            .samples
            .iter()
            .enumerate()
            .fold((0.0, 0.0), |(re, im), (m, &x)| {
                let a = w * (n0 + m as f64);
                (re + f64::from(x) * a.cos(), im - f64::from(x) * a.sin())
            })
    }

    #[test]
    fn dft_values_match_the_definition_at_every_probe_and_origin() {
        let mut block = SubBlock::EMPTY;
        for origin in [0, 1, 7, 123, REF_PERIOD_SUBS - 1] {
            let samples: [f32; SUB_LEN] = core::array::from_fn(|m| {
                let n = (origin as usize * SUB_LEN + m) as f32;
                0.4 * libm::sinf(0.61 * n) + 0.2 * libm::cosf(1.9 * n + 0.3) - 0.05
            });
            let (took, bad) = block.fill(0, &samples);
            assert_eq!((took, bad), (SUB_LEN, 0));
            block.close(origin);
            assert!(!block.is_analysed(Group::Rows) && !block.is_analysed(Group::Columns));
            block.analyse(Group::Rows);
            block.analyse(Group::Columns);
            for p in 0..PROBES {
                let (re, im) = expected(&block, p);
                let by_goertzel = window_probe_dfts(&[&block; WINDOW_SUBS], p)[0];
                let got = if p < FUNDAMENTALS {
                    block.dft(p)
                } else {
                    by_goertzel
                };
                let err =
                    ((f64::from(got.re) - re).powi(2) + (f64::from(got.im) - im).powi(2)).sqrt();
                assert!(
                    err < 2e-5,
                    "probe {p}, origin {origin}: {got:?} vs ({re}, {im})"
                );
                assert!(
                    (by_goertzel - got).abs() < 2e-5,
                    "probe {p}: two ways agree"
                );
            }
            let energy: f32 = samples.iter().map(|x| x * x).sum();
            assert!((block.energy - energy).abs() < 1e-5);
        }
    }

    #[test]
    fn garbage_is_sanitized_and_counted() {
        let mut block = SubBlock::EMPTY;
        let input = [f32::NAN, f32::INFINITY, -f32::INFINITY, 100.0, 0.5];
        assert_eq!(block.fill(SUB_LEN - 3, &input), (3, 3));
        assert_eq!(
            &block.samples[SUB_LEN - 3..],
            &[0.0, SAMPLE_LIMIT, -SAMPLE_LIMIT]
        );
    }
}
