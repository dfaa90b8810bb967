//! The two clocks of EchoStream, as values. Nothing here reads a clock.
//!
//! [`Instant`] is monotonic microseconds for network and protocol timers;
//! [`SampleIndex`] counts audio frames since a device started and times
//! everything audio (jitter playout, tone durations, record lengths). The
//! two never mix: there is no conversion between them.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A span of protocol time in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    micros: u64,
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration { micros: 0 };
    /// The longest span; saturating arithmetic ends here.
    pub const MAX: Duration = Duration { micros: u64::MAX };

    /// A span of `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Duration {
        Duration { micros }
    }

    /// A span of `millis` milliseconds (saturating).
    pub const fn from_millis(millis: u64) -> Duration {
        Duration {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// A span of `secs` seconds (saturating).
    pub const fn from_secs(secs: u64) -> Duration {
        Duration {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// The span in whole microseconds.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// The span in whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1_000
    }

    /// `self + rhs`, or [`Duration::MAX`] on overflow.
    pub const fn saturating_add(self, rhs: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_add(rhs.micros),
        }
    }

    /// `self - rhs`, or [`Duration::ZERO`] if `rhs` is longer.
    pub const fn saturating_sub(self, rhs: Duration) -> Duration {
        Duration {
            micros: self.micros.saturating_sub(rhs.micros),
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}ms", self.micros / 1_000, self.micros % 1_000)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        self.saturating_add(rhs)
    }
}

/// A point on the monotonic protocol clock, in microseconds since an epoch
/// the caller chooses (process start on Linux, zero in the simulator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// The instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant { micros }
    }

    /// The instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Milliseconds since the epoch, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1_000
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of time rather than wrapping.
    fn add(self, rhs: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_add(rhs.as_micros()),
        }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturates at zero: a clock that appears to step back yields no time.
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

/// A position on an audio device's media clock: frames since it started.
///
/// One frame is one sample per channel at the device rate. Rates are carried
/// beside the index, not inside it, so that arithmetic stays exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SampleIndex(pub u64);

impl SampleIndex {
    /// The first frame.
    pub const ZERO: SampleIndex = SampleIndex(0);

    /// The index `frames` later (saturating).
    pub const fn add_frames(self, frames: u64) -> SampleIndex {
        SampleIndex(self.0.saturating_add(frames))
    }

    /// Frames from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn frames_since(self, earlier: SampleIndex) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Milliseconds from `earlier` to `self` at `rate_hz`, rounded down.
    /// Returns 0 for a zero rate.
    pub const fn millis_since(self, earlier: SampleIndex, rate_hz: u32) -> u64 {
        if rate_hz == 0 {
            return 0;
        }
        (self.frames_since(earlier) as u128 * 1_000 / rate_hz as u128) as u64
    }
}

impl fmt::Display for SampleIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The number of frames in `millis` milliseconds at `rate_hz` (rounded down).
pub const fn frames_in_millis(millis: u32, rate_hz: u32) -> u64 {
    millis as u64 * rate_hz as u64 / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!((t + Duration::from_millis(3)).as_millis(), 8);
        assert_eq!(Instant::ZERO - t, Duration::ZERO);
        assert_eq!(t - Instant::ZERO, Duration::from_micros(5_000));
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
    }

    #[test]
    fn sample_index_measures_milliseconds_at_the_device_rate() {
        let start = SampleIndex(48_000);
        let end = start.add_frames(frames_in_millis(250, 48_000));
        assert_eq!(end.millis_since(start, 48_000), 250);
        assert_eq!(start.millis_since(end, 48_000), 0);
        assert_eq!(end.millis_since(start, 0), 0);
        assert_eq!(frames_in_millis(20, 8_000), 160);
    }
}
