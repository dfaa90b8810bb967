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

    /// `e^{j·radians}`, computed in `f64` (construction time only).
    pub(super) fn from_angle(radians: f64) -> Complex {
        let (sin, cos) = libm::sincos(radians);
        Complex::new(cos as f32, sin as f32)
    }

    /// `e^{j·radians}` in `f32` (per-window use).
    pub(super) fn from_angle_f32(radians: f32) -> Complex {
        let (sin, cos) = libm::sincosf(radians);
        Complex::new(cos, sin)
    }

    pub(super) fn conj(self) -> Complex {
        Complex::new(self.re, -self.im)
    }

    pub(super) fn scale(self, k: f32) -> Complex {
        Complex::new(self.re * k, self.im * k)
    }

    pub(super) fn norm_sqr(self) -> f32 {
        self.re * self.re + self.im * self.im
    }

    pub(super) fn abs(self) -> f32 {
        libm::sqrtf(self.norm_sqr())
    }

    /// The angle in `(-π, π]`; 0 for zero.
    pub(super) fn arg(self) -> f32 {
        libm::atan2f(self.im, self.re)
    }
}

impl Add for Complex {
    type Output = Complex;
    fn add(self, rhs: Complex) -> Complex {
        Complex::new(self.re + rhs.re, self.im + rhs.im)
    }
}

impl AddAssign for Complex {
    fn add_assign(&mut self, rhs: Complex) {
        *self = *self + rhs;
    }
}

impl Sub for Complex {
    type Output = Complex;
    fn sub(self, rhs: Complex) -> Complex {
        Complex::new(self.re - rhs.re, self.im - rhs.im)
    }
}

impl Mul for Complex {
    type Output = Complex;
    fn mul(self, rhs: Complex) -> Complex {
        Complex::new(
            self.re * rhs.re - self.im * rhs.im,
            self.re * rhs.im + self.im * rhs.re,
        )
    }
}
