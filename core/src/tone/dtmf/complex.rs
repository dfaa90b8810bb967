//! The few complex-number operations the detector needs, on `f32`.

use core::ops::{Add, AddAssign, Mul, Sub};

/// `re + j·im`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Complex {
    pub(super) re: f32,
    pub(super) im: f32,
}

impl Complex {
    pub(super) const ZERO: Complex = Complex { re: 0.0, im: 0.0 };
    pub(super) const ONE: Complex = Complex { re: 1.0, im: 0.0 };

    pub(super) const fn new(re: f32, im: f32) -> Complex {
        Complex { re, im }
    }

    /// `e^{j·radians}` in `f32` (per-window use).
    #[inline]
    pub(super) fn from_angle_f32(radians: f32) -> Complex {
        let (sin, cos) = super::super::math::sin_cos_f32(radians);
        Complex::new(cos, sin)
    }

    /// `e^{j2π·steps/TURN_STEPS}`, `steps` taken modulo [`TURN_STEPS`]:
    /// exact angles from two small tables, no trigonometry.
    #[inline]
    pub(super) fn turn(steps: u32) -> Complex {
        let steps = steps % TURN_STEPS;
        let (cr, ci) = COARSE[(steps / FINE_STEPS) as usize];
        let (fr, fi) = FINE[(steps % FINE_STEPS) as usize];
        Complex::new(cr, ci) * Complex::new(fr, fi)
    }

    #[inline]
    pub(super) fn conj(self) -> Complex {
        Complex::new(self.re, -self.im)
    }

    #[inline]
    pub(super) fn scale(self, k: f32) -> Complex {
        Complex::new(self.re * k, self.im * k)
    }

    #[inline]
    pub(super) fn norm_sqr(self) -> f32 {
        self.re * self.re + self.im * self.im
    }

    #[inline]
    pub(super) fn abs(self) -> f32 {
        libm::sqrtf(self.norm_sqr())
    }

    /// The angle in `(-π, π]`; 0 for zero.
    #[inline]
    pub(super) fn arg(self) -> f32 {
        libm::atan2f(self.im, self.re)
    }
}

/// The steps of a whole turn for [`Complex::turn`]: angles `2πf·n/fs` for
/// whole hertz `f` and half-sample `n` are whole numbers of them.
pub(super) const TURN_STEPS: u32 = 2 * super::RATE_HZ;
/// Fine steps per coarse step.
const FINE_STEPS: u32 = 80;
const COARSE_STEPS: u32 = TURN_STEPS / FINE_STEPS;
const _: () = assert!(COARSE_STEPS * FINE_STEPS == TURN_STEPS);

/// `e^{j2π·k/COARSE_STEPS}` and `e^{j2π·k/TURN_STEPS}` for `k` below
/// `COARSE_STEPS` and `FINE_STEPS`.
static COARSE: [(f32, f32); COARSE_STEPS as usize] =
    unit_circle::<{ COARSE_STEPS as usize }>(COARSE_STEPS);
static FINE: [(f32, f32); FINE_STEPS as usize] = unit_circle::<{ FINE_STEPS as usize }>(TURN_STEPS);

/// `e^{j2π·k/steps}` for `k` below `N`.
const fn unit_circle<const N: usize>(steps: u32) -> [(f32, f32); N] {
    let mut t = [(0.0, 0.0); N];
    let mut k = 0;
    while k < N {
        let angle = core::f64::consts::TAU * k as f64 / steps as f64;
        t[k] = (
            super::super::math::sin(angle + core::f64::consts::FRAC_PI_2) as f32,
            super::super::math::sin(angle) as f32,
        );
        k += 1;
    }
    t
}

impl Add for Complex {
    type Output = Complex;
    #[inline]
    fn add(self, rhs: Complex) -> Complex {
        Complex::new(self.re + rhs.re, self.im + rhs.im)
    }
}

impl AddAssign for Complex {
    #[inline]
    fn add_assign(&mut self, rhs: Complex) {
        *self = *self + rhs;
    }
}

impl Sub for Complex {
    type Output = Complex;
    #[inline]
    fn sub(self, rhs: Complex) -> Complex {
        Complex::new(self.re - rhs.re, self.im - rhs.im)
    }
}

impl Mul for Complex {
    type Output = Complex;
    #[inline]
    fn mul(self, rhs: Complex) -> Complex {
        Complex::new(
            self.re * rhs.re - self.im * rhs.im,
            self.re * rhs.im + self.im * rhs.re,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_the_unit_circle() {
        for steps in (0..3 * TURN_STEPS).step_by(7) {
            let z = Complex::turn(steps);
            let angle = core::f64::consts::TAU * f64::from(steps) / f64::from(TURN_STEPS);
            assert!((f64::from(z.re) - libm::cos(angle)).abs() < 2e-7, "{steps}");
            assert!((f64::from(z.im) - libm::sin(angle)).abs() < 2e-7, "{steps}");
        }
    }
}
