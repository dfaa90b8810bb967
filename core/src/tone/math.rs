//! The little transcendental math the tone detector needs: `const fn`s
//! to *design* things (the analysis window and the FFT's twiddles at
//! compile time, the decimator's anti-alias filter in `Decimator::new`),
//! and one fast sine/cosine for the DTMF measurements.
//!
//! Core is `no_std`, so `f64::sin` and friends do not exist here; `libm`
//! has them, but the DTMF measurement of a window needs dozens, on small
//! arguments, where a quadrant reduction and two short polynomials do as
//! well in a fraction of the time. The per-sample and per-frame paths use
//! nothing but `+ - * /`. Each function is checked against `std` in the
//! tests below.

use core::f64::consts::{FRAC_2_PI, FRAC_PI_2, PI, TAU};

/// `sin(x)` to within 1e-15 for `|x| <= 1e6`; finite input expected.
pub(crate) const fn sin(x: f64) -> f64 {
    // Reduce to [-π, π], then to [-π/2, π/2] by sin(π - r) = sin(r).
    let mut r = x % TAU;
    if r > PI {
        r -= TAU;
    } else if r < -PI {
        r += TAU;
    }
    if r > FRAC_PI_2 {
        r = PI - r;
    } else if r < -FRAC_PI_2 {
        r = -PI - r;
    }
    // Taylor series to r^23: the next term is below 1e-17 for |r| <= π/2.
    let r2 = r * r;
    let mut term = r;
    let mut sum = r;
    let mut n = 1.0;
    let mut i = 0;
    while i < 11 {
        term = -term * r2 / ((n + 1.0) * (n + 2.0));
        sum += term;
        n += 2.0;
        i += 1;
    }
    sum
}

/// `(sin x, cos x)` to within an `f32` rounding for `|x| <= 1e5` (finite
/// input expected; beyond that the reduction loses bits): `x` reduced to
/// `[−π/4, π/4]` by quadrant, in `f64`, then Taylor polynomials whose
/// first omitted terms are under 3e-9.
#[inline]
pub(crate) fn sin_cos_f32(x: f32) -> (f32, f32) {
    let x = f64::from(x);
    let half = if x >= 0.0 { 0.5 } else { -0.5 };
    let quadrant = (x * FRAC_2_PI + half) as i64;
    let r = x - quadrant as f64 * FRAC_PI_2;
    let r2 = r * r;
    let sin = r * (1.0 - r2 / 6.0 * (1.0 - r2 / 20.0 * (1.0 - r2 / 42.0 * (1.0 - r2 / 72.0))));
    let cos = 1.0
        - r2 / 2.0 * (1.0 - r2 / 12.0 * (1.0 - r2 / 30.0 * (1.0 - r2 / 56.0 * (1.0 - r2 / 90.0))));
    let (sin, cos) = match quadrant.rem_euclid(4) {
        0 => (sin, cos),
        1 => (cos, -sin),
        2 => (-sin, -cos),
        _ => (-cos, sin),
    };
    (sin as f32, cos as f32)
}

/// `sin x` to within an `f32` rounding for `|x| <= 1e5` (finite input
/// expected): `x` reduced to `[−π/2, π/2]` by whole half-turns, in `f64`,
/// then a Taylor polynomial whose first omitted term is under 1e-9.
#[inline]
pub(crate) fn sin_f32(x: f32) -> f32 {
    let x = f64::from(x);
    let half = if x >= 0.0 { 0.5 } else { -0.5 };
    let turns = (x * core::f64::consts::FRAC_1_PI + half) as i64;
    let r = x - turns as f64 * PI;
    let r2 = r * r;
    let sin = r
        * (1.0
            - r2 / 6.0
                * (1.0
                    - r2 / 20.0
                        * (1.0
                            - r2 / 42.0
                                * (1.0 - r2 / 72.0 * (1.0 - r2 / 110.0 * (1.0 - r2 / 156.0))))));
    (if turns % 2 == 0 { sin } else { -sin }) as f32
}

/// `sqrt(x)` for `x >= 0` (0 for anything else), to the last bit or one
/// off.
pub(crate) const fn sqrt(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return 0.0;
    }
    if x == f64::INFINITY {
        return x;
    }
    // Halving the exponent gives a guess within a factor of two; Newton
    // doubles the correct bits each step.
    let mut y = f64::from_bits((x.to_bits() >> 1) + (1023u64 << 51));
    let mut i = 0;
    while i < 8 {
        y = 0.5 * (y + x / y);
        i += 1;
    }
    y
}

/// The modified Bessel function of the first kind, order zero (for the
/// Kaiser window), by its power series; `x` up to ~30 converges fast.
pub(crate) const fn bessel_i0(x: f64) -> f64 {
    let half = x / 2.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    let mut i = 0;
    while i < 200 {
        let t = half / k;
        term *= t * t;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
        k += 1.0;
        i += 1;
    }
    sum
}

/// `sin(πx) / (πx)`, with its limit 1 at 0.
pub(crate) const fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        sin(PI * x) / (PI * x)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn sin_matches_std() {
        let mut x = -50.0f64;
        while x < 50.0 {
            assert!((sin(x) - x.sin()).abs() < 1e-13, "sin({x})");
            x += 0.0137;
        }
        assert!((sin(12_345.678) - 12_345.678f64.sin()).abs() < 1e-11);
    }

    #[test]
    fn sin_cos_f32_matches_std() {
        let mut worst = 0.0f64;
        let mut x = -300.0f32;
        while x < 300.0 {
            let (s, c) = sin_cos_f32(x);
            let x64 = f64::from(x);
            worst = worst
                .max((f64::from(s) - x64.sin()).abs())
                .max((f64::from(c) - x64.cos()).abs());
            x += 0.000_731;
        }
        assert!(worst < 1.2e-7, "{worst}");
        assert_eq!(sin_cos_f32(0.0), (0.0, 1.0));
    }

    #[test]
    fn sin_f32_matches_std() {
        let mut worst = 0.0f64;
        let mut x = -300.0f32;
        while x < 300.0 {
            worst = worst.max((f64::from(sin_f32(x)) - f64::from(x).sin()).abs());
            x += 0.000_731;
        }
        assert!(worst < 1.2e-7, "{worst}");
        assert_eq!(sin_f32(0.0), 0.0);
    }

    #[test]
    fn sqrt_matches_std_and_refuses_nonsense() {
        for x in [1e-300, 1e-9, 0.25, 2.0, 3.0, 1e9, 1e300, 123_456.789] {
            let rel = (sqrt(x) - x.sqrt()).abs() / x.sqrt();
            assert!(rel < 1e-15, "sqrt({x})");
        }
        assert_eq!(sqrt(0.0), 0.0);
        assert_eq!(sqrt(-1.0), 0.0);
        assert_eq!(sqrt(f64::NAN), 0.0);
        assert_eq!(sqrt(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn bessel_i0_matches_tabulated_values() {
        // Abramowitz & Stegun table 9.8 (I0(x) = e^x * tabulated).
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-14);
        assert!((bessel_i0(5.0) - 27.239_871_823_604_44).abs() < 1e-11);
        assert!((bessel_i0(10.0) - 2_815.716_628_466_254).abs() < 1e-8);
    }
}
