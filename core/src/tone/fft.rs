//! The tracker's transform: a 1024-point real FFT, for the bins the
//! tracker searches.
//!
//! The 1024 real samples are read as 512 complex ones (even samples real,
//! odd imaginary), transformed by a 512-point complex FFT and untangled
//! into the real signal's bins (the standard "two for one" split, e.g.
//! Brigham, *The Fast Fourier Transform*, §10.10), only for the bins asked
//! for. The complex FFT is Stockham's autosort form (Van Loan,
//! *Computational Frameworks for the FFT*, §1.7): three radix-4 passes and
//! a radix-8 one, ping-ponging between two buffers, output in natural
//! order with no bit reversal. Real and imaginary parts live in
//! separate arrays, so that each pass is a loop of plain vertical
//! arithmetic over contiguous elements that the compiler turns into
//! vector code (SSE2 on x86-64, NEON on aarch64) without any `unsafe`.
//! Twiddle factors come from tables computed at compile time in `f64`.
//!
//! Measured (release, one core of the 2-vCPU AMD EPYC dev VM, x86-64
//! baseline, so SSE2): the transform 0.75 µs, the whole tracker frame
//! (window, transform, power of the searched bins, peak search and floor)
//! about 1.0 µs, against 3.7 µs with the general-purpose radix-2 FFT
//! (microfft) it replaced. For scale, on the same machine (2026-11-24, by
//! hand, a loop of forward transforms of 1024 real samples): FFTW 3.3.10
//! `fftwf_plan_dft_r2c_1d` with `FFTW_MEASURE`, which picks SSE/AVX/AVX2
//! code at run time, 0.81–0.87 µs; realfft 3.5 (rustfft 6.4, AVX) 1.0 µs;
//! this code built with `-C target-cpu=x86-64-v3`, no gain, and with
//! `-C target-cpu=native` (AVX-512 here) the whole of `echostream detect`
//! took 4 % more CPU, with the same events. A faster
//! tracker needs fewer transforms, not a faster one. The code is shaped
//! for the compiler: fixed-size arrays indexed in plain loops (iterator
//! chains and four-element array values came out slower), twiddles in
//! per-pass tables, the first pass vectorized across butterflies (it reads
//! contiguous data and writes interleaved), the others along each
//! butterfly's run of `q`.

use core::f64::consts::TAU;

use super::math;

/// Real samples per transform.
pub(super) const LEN: usize = 1024;
/// Complex points of the inner FFT.
const HALF: usize = LEN / 2;
/// A quarter of the inner FFT: the span of a radix-4 pass's inputs.
const QUARTER: usize = HALF / 4;

const _: () = assert!(HALF == 4 * 4 * 4 * 8);

/// `cos(2πk/LEN)` and `sin(2πk/LEN)` for `k` in `0..LEN`.
const COS_SIN: ([f32; LEN], [f32; LEN]) = cos_sin();

const fn cos_sin() -> ([f32; LEN], [f32; LEN]) {
    let mut c = [0.0f32; LEN];
    let mut s = [0.0f32; LEN];
    let mut k = 0;
    while k < LEN {
        let x = TAU * k as f64 / LEN as f64;
        s[k] = math::sin(x) as f32;
        c[k] = math::sin(x + core::f64::consts::FRAC_PI_2) as f32;
        k += 1;
    }
    (c, s)
}

static COS: [f32; LEN] = COS_SIN.0;
static SIN: [f32; LEN] = COS_SIN.1;

/// The twiddles of the radix-4 pass of stride `stride`, for each group
/// `p`: `W_{HALF/stride}^{rp} = W_{LEN}^{2rp·stride}` for r = 1, 2, 3, as
/// (re, im).
const fn pass_twiddles<const N: usize>(stride: usize) -> [[(f32, f32); 3]; N] {
    let mut t = [[(0.0, 0.0); 3]; N];
    let mut p = 0;
    while p < N {
        let mut r = 0;
        while r < 3 {
            let k = (2 * (r + 1) * p * stride) % LEN;
            t[p][r] = (COS_SIN.0[k], -COS_SIN.1[k]);
            r += 1;
        }
        p += 1;
    }
    t
}

static TWIDDLES_4: [[(f32, f32); 3]; QUARTER / 4] = pass_twiddles::<{ QUARTER / 4 }>(4);
static TWIDDLES_16: [[(f32, f32); 3]; QUARTER / 16] = pass_twiddles::<{ QUARTER / 16 }>(16);

/// The first pass's twiddles, `W₅₁₂^{mp}` for `m` = 1, 2, 3 and `p` in
/// `0..QUARTER`, contiguous in `p` so that the pass vectorizes over `p`.
struct FirstTwiddles {
    re: [[f32; QUARTER]; 3],
    im: [[f32; QUARTER]; 3],
}

static FIRST: FirstTwiddles = first_twiddles();

const fn first_twiddles() -> FirstTwiddles {
    let mut t = FirstTwiddles {
        re: [[0.0; QUARTER]; 3],
        im: [[0.0; QUARTER]; 3],
    };
    let mut m = 0;
    while m < 3 {
        let mut p = 0;
        while p < QUARTER {
            // W₅₁₂^{(m+1)p} = W₁₀₂₄^{2(m+1)p}.
            let k = (2 * (m + 1) * p) % LEN;
            t.re[m][p] = COS_SIN.0[k];
            t.im[m][p] = -COS_SIN.1[k];
            p += 1;
        }
        m += 1;
    }
    t
}

/// An analysis window laid out for the first pass: per quarter of the
/// frame, the weights of its even samples and of its odd ones (the real
/// and imaginary parts of the packed complex input).
#[derive(Debug)]
#[repr(C, align(64))]
pub(super) struct Window {
    even: [[f32; QUARTER]; 4],
    odd: [[f32; QUARTER]; 4],
}

impl Window {
    /// `weights` (one per sample of the frame) laid out for
    /// [`RealFft::forward`].
    pub(super) const fn new(weights: &[f32; LEN]) -> Window {
        let mut w = Window {
            even: [[0.0; QUARTER]; 4],
            odd: [[0.0; QUARTER]; 4],
        };
        let mut r = 0;
        while r < 4 {
            let mut p = 0;
            while p < QUARTER {
                w.even[r][p] = weights[r * HALF / 2 + 2 * p];
                w.odd[r][p] = weights[r * HALF / 2 + 2 * p + 1];
                p += 1;
            }
            r += 1;
        }
        w
    }
}

/// Complex values as separate real and imaginary arrays, on cache-line
/// boundaries so that every vector load and store stays within a line,
/// wherever the owner sits in memory (3 % of `detect`'s CPU).
#[derive(Clone)]
#[repr(C, align(64))]
struct Split {
    re: [f32; HALF],
    im: [f32; HALF],
}

impl Split {
    const ZERO: Split = Split {
        re: [0.0; HALF],
        im: [0.0; HALF],
    };
}

/// The transform's working memory (8 KiB), kept by its owner so that a
/// frame touches no fresh stack. After [`forward`](Self::forward) it
/// holds the spectrum until the next call.
#[derive(Clone)]
pub(super) struct RealFft {
    /// Ping-pong buffers: the passes alternate between them and the last
    /// one writes `spectrum`.
    scratch: Split,
    spectrum: Split,
}

impl RealFft {
    pub(super) const fn new() -> RealFft {
        RealFft {
            scratch: Split::ZERO,
            spectrum: Split::ZERO,
        }
    }

    /// Transforms `older ++ newer` (each `LEN / 2` samples, the frame's
    /// first and second halves) multiplied by `window`.
    pub(super) fn forward(&mut self, older: &[f32; HALF], newer: &[f32; HALF], window: &Window) {
        first_pass(older, newer, window, &mut self.scratch);
        radix4::<4>(&self.scratch, &mut self.spectrum, &TWIDDLES_4);
        radix4::<16>(&self.spectrum, &mut self.scratch, &TWIDDLES_16);
        last_pass(&self.scratch, &mut self.spectrum);
    }

    /// `|2·X[k]|²` for `k` in `first..first + n` (within `1..LEN / 2`),
    /// `X` the last [`forward`](Self::forward)'s spectrum, in working
    /// memory the spectrum no longer needs.
    #[inline]
    pub(super) fn powers(&mut self, first: usize, n: usize) -> &[f32] {
        assert!(first >= 1 && first + n <= HALF, "bins within 1..{HALF}");
        let re = &self.spectrum.re[first..first + n];
        let im = &self.spectrum.im[first..first + n];
        // Z[HALF − k], walked backwards as k goes forwards.
        let re_mirror = &self.spectrum.re[HALF + 1 - first - n..HALF + 1 - first];
        let im_mirror = &self.spectrum.im[HALF + 1 - first - n..HALF + 1 - first];
        let cos = &COS[first..first + n];
        let sin = &SIN[first..first + n];
        let out = &mut self.scratch.re[..n];
        for i in 0..n {
            let j = n - 1 - i;
            let (x, y) = untangle(re[i], im[i], re_mirror[j], im_mirror[j], cos[i], sin[i]);
            out[i] = x * x + y * y;
        }
        out
    }

    /// `2·X[k]` as (re, im), `k` in `0..=LEN / 2`.
    #[inline]
    pub(super) fn bin(&self, k: usize) -> (f32, f32) {
        assert!(k <= HALF, "bin within 0..={HALF}");
        let z = k % HALF;
        let m = (HALF - k) % HALF;
        untangle(
            self.spectrum.re[z],
            self.spectrum.im[z],
            self.spectrum.re[m],
            self.spectrum.im[m],
            COS[k],
            SIN[k],
        )
    }
}

/// `2·X[k]` from `Z[k]` and `Z[HALF − k]` of the inner FFT of the
/// even/odd-packed samples: `X[k] = ½(Z[k] + Z̄[H−k]) − ½i·W^k(Z[k] − Z̄[H−k])`
/// with `W^k = cos − i·sin` of `2πk/LEN`.
#[inline(always)]
fn untangle(zr: f32, zi: f32, mr: f32, mi: f32, cos: f32, sin: f32) -> (f32, f32) {
    let (er, ei) = (zr + mr, zi - mi);
    let (or, oi) = (zr - mr, zi + mi);
    (er + cos * oi - sin * or, ei - cos * or - sin * oi)
}

/// One radix-4 butterfly's outputs before the twiddles: from inputs
/// a, b, c, d, (a+c)+(b+d), (a−c)−i(b−d), (a+c)−(b+d), (a−c)+i(b−d).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn butterfly(
    ar: f32,
    ai: f32,
    br: f32,
    bi: f32,
    cr: f32,
    ci: f32,
    dr: f32,
    di: f32,
) -> [(f32, f32); 4] {
    let (apc_r, apc_i) = (ar + cr, ai + ci);
    let (amc_r, amc_i) = (ar - cr, ai - ci);
    let (bpd_r, bpd_i) = (br + dr, bi + di);
    let (bmd_r, bmd_i) = (br - dr, bi - di);
    [
        (apc_r + bpd_r, apc_i + bpd_i),
        (amc_r + bmd_i, amc_i - bmd_r),
        (apc_r - bpd_r, apc_i - bpd_i),
        (amc_r - bmd_i, amc_i + bmd_r),
    ]
}

#[inline(always)]
fn mul(x: (f32, f32), wr: f32, wi: f32) -> (f32, f32) {
    (x.0 * wr - x.1 * wi, x.0 * wi + x.1 * wr)
}

/// The first pass (stride 1): windows the samples, packs them as complex
/// `z[n] = x[2n] + i·x[2n+1]` and runs the radix-4 butterflies over
/// `z[p], z[p+128], z[p+256], z[p+384]`, writing `y[4p..4p+4]`.
fn first_pass(older: &[f32; HALF], newer: &[f32; HALF], w: &Window, y: &mut Split) {
    // z[p] and z[p + 128] come from the older half, z[p + 256] and
    // z[p + 384] from the newer. Fixed-size arrays throughout, so that the
    // compiler sees every index in bounds and vectorizes over p.
    fn quarter(x: &[f32], i: usize) -> &[f32; HALF / 2] {
        x[i * HALF / 2..(i + 1) * HALF / 2]
            .try_into()
            .expect("a quarter of the frame")
    }
    let x = [
        quarter(older, 0),
        quarter(older, 1),
        quarter(newer, 0),
        quarter(newer, 1),
    ];
    for p in 0..QUARTER {
        let (e, o) = (2 * p, 2 * p + 1);
        let out = butterfly(
            x[0][e] * w.even[0][p],
            x[0][o] * w.odd[0][p],
            x[1][e] * w.even[1][p],
            x[1][o] * w.odd[1][p],
            x[2][e] * w.even[2][p],
            x[2][o] * w.odd[2][p],
            x[3][e] * w.even[3][p],
            x[3][o] * w.odd[3][p],
        );
        y.re[4 * p] = out[0].0;
        y.im[4 * p] = out[0].1;
        for m in 0..3 {
            let (r, i) = mul(out[m + 1], FIRST.re[m][p], FIRST.im[m][p]);
            y.re[4 * p + m + 1] = r;
            y.im[4 * p + m + 1] = i;
        }
    }
}

/// A radix-4 pass of stride `S` (sub-transforms of length `HALF / S`):
/// for each `p` below `HALF / (4S)` and `q` below `S`, butterflies over
/// `x[q + S·p + r·QUARTER]` (r = 0..4) into `y[q + S·(4p + r)]`, outputs
/// 1..3 turned by `W^{rp}` of the sub-transform length.
// Index loops on purpose: over fixed-size arrays they are what the
// compiler turns into straight vector code (iterator chains here came out
// measurably slower).
#[allow(clippy::needless_range_loop)]
fn radix4<const S: usize>(x: &Split, y: &mut Split, twiddles: &[[(f32, f32); 3]]) {
    // Plain index arithmetic on fixed-size arrays: every index is provably
    // in bounds, so the loop over q is straight vector code.
    for p in 0..QUARTER / S {
        let w = twiddles[p];
        for q in 0..S {
            let i = q + S * p;
            let out = butterfly(
                x.re[i],
                x.im[i],
                x.re[i + QUARTER],
                x.im[i + QUARTER],
                x.re[i + 2 * QUARTER],
                x.im[i + 2 * QUARTER],
                x.re[i + 3 * QUARTER],
                x.im[i + 3 * QUARTER],
            );
            let o = q + 4 * S * p;
            y.re[o] = out[0].0;
            y.im[o] = out[0].1;
            for m in 0..3 {
                let (r, im) = mul(out[m + 1], w[m].0, w[m].1);
                y.re[o + (m + 1) * S] = r;
                y.im[o + (m + 1) * S] = im;
            }
        }
    }
}

/// The last pass (stride 64): for each `q` below 64, the 8-point DFT of
/// `x[q + 64r]` (r = 0..8) into `y[q + 64k]`. Radix 2 then two radix-4
/// DFTs: `u = a_r + a_{r+4}` gives the even outputs, `v = (a_r −
/// a_{r+4})·W₈^r` the odd ones.
fn last_pass(x: &Split, y: &mut Split) {
    const S: usize = HALF / 8;
    let xr: [&[f32]; 8] = core::array::from_fn(|r| &x.re[r * S..(r + 1) * S]);
    let xi: [&[f32]; 8] = core::array::from_fn(|r| &x.im[r * S..(r + 1) * S]);
    let mut yr = y.re.chunks_exact_mut(S);
    let mut yi = y.im.chunks_exact_mut(S);
    let out_r: [&mut [f32]; 8] = core::array::from_fn(|_| yr.next().expect("eight chunks"));
    let out_i: [&mut [f32]; 8] = core::array::from_fn(|_| yi.next().expect("eight chunks"));
    let h = core::f32::consts::FRAC_1_SQRT_2;
    for q in 0..S {
        let a = |r: usize| (xr[r][q], xi[r][q]);
        let (a0, a1, a2, a3, a4, a5, a6, a7) = (a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7));
        let u = [
            (a0.0 + a4.0, a0.1 + a4.1),
            (a1.0 + a5.0, a1.1 + a5.1),
            (a2.0 + a6.0, a2.1 + a6.1),
            (a3.0 + a7.0, a3.1 + a7.1),
        ];
        let d1 = (a1.0 - a5.0, a1.1 - a5.1);
        let d2 = (a2.0 - a6.0, a2.1 - a6.1);
        let d3 = (a3.0 - a7.0, a3.1 - a7.1);
        let v = [
            (a0.0 - a4.0, a0.1 - a4.1),
            // ·W₈ = (1 − i)/√2
            (h * (d1.0 + d1.1), h * (d1.1 - d1.0)),
            // ·W₈² = −i
            (d2.1, -d2.0),
            // ·W₈³ = (−1 − i)/√2
            (h * (d3.1 - d3.0), -h * (d3.0 + d3.1)),
        ];
        let even = butterfly(
            u[0].0, u[0].1, u[1].0, u[1].1, u[2].0, u[2].1, u[3].0, u[3].1,
        );
        let odd = butterfly(
            v[0].0, v[0].1, v[1].0, v[1].1, v[2].0, v[2].1, v[3].0, v[3].1,
        );
        for k in 0..4 {
            out_r[2 * k][q] = even[k].0;
            out_i[2 * k][q] = even[k].1;
            out_r[2 * k + 1][q] = odd[k].0;
            out_i[2 * k + 1][q] = odd[k].1;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    /// The DFT of `x`, directly, in `f64`.
    fn dft(x: &[f64]) -> Vec<(f64, f64)> {
        let n = x.len();
        (0..=n / 2)
            .map(|k| {
                x.iter().enumerate().fold((0.0, 0.0), |(re, im), (t, &v)| {
                    let a = -TAU * (k * t % n) as f64 / n as f64;
                    (re + v * a.cos(), im + v * a.sin())
                })
            })
            .collect()
    }

    fn signal() -> Vec<f32> {
        let mut state = 0x2545_f491u32;
        (0..LEN)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                noise * 0.3 + 0.5 * (0.37 * i as f32).sin()
            })
            .collect()
    }

    #[test]
    fn the_tables_hold_the_unit_circle() {
        for k in 0..LEN {
            let a = TAU * k as f64 / LEN as f64;
            assert!((COS[k] as f64 - a.cos()).abs() < 1e-7, "{k}");
            assert!((SIN[k] as f64 - a.sin()).abs() < 1e-7, "{k}");
        }
    }

    #[test]
    fn every_bin_matches_a_direct_dft() {
        let x = signal();
        let weights: [f32; LEN] = core::array::from_fn(|i| 0.5 + 0.5 * (i as f32 * 0.01).cos());
        let window = Window::new(&weights);
        let windowed: Vec<f64> = x
            .iter()
            .zip(&weights)
            .map(|(&v, &w)| f64::from(v) * f64::from(w))
            .collect();
        let expected = dft(&windowed);
        let mut fft = RealFft::new();
        let older: [f32; HALF] = x[..HALF].try_into().unwrap();
        let newer: [f32; HALF] = x[HALF..].try_into().unwrap();
        fft.forward(&older, &newer, &window);
        let peak = expected
            .iter()
            .map(|(r, i)| (r * r + i * i).sqrt())
            .fold(0.0, f64::max);
        let mut worst = 0.0f64;
        for (k, &(er, ei)) in expected.iter().enumerate() {
            let (r, i) = fft.bin(k);
            let err =
                ((f64::from(r) / 2.0 - er).powi(2) + (f64::from(i) / 2.0 - ei).powi(2)).sqrt();
            worst = worst.max(err / peak);
        }
        assert!(worst < 2e-6, "worst error {worst} of the peak");

        let powers: Vec<f32> = fft.powers(30, 400).to_vec();
        for (i, &p) in powers.iter().enumerate() {
            let (r, im) = fft.bin(30 + i);
            assert_eq!(p, r * r + im * im, "bin {}", 30 + i);
        }
        let first = fft.powers(1, HALF - 1)[0];
        assert_eq!(first, {
            let (r, i) = fft.bin(1);
            r * r + i * i
        });
    }
}
