//! The jitter buffer's settings and their validation.

use core::fmt;

/// Media clock of every timestamp on the wire: Opus' 48 kHz.
pub const MEDIA_RATE_HZ: u32 = 48_000;

/// The Opus frame lengths in 48 kHz units (RFC 6716 §2.1.4: 2.5, 5, 10,
/// 20, 40 and 60 ms). One packet carries one frame of this length.
pub const OPUS_FRAME_SAMPLES: [u32; 6] = [120, 240, 480, 960, 1_920, 2_880];

/// The quantiles a config may ask for, in permille. Below the median the
/// buffer would drop half the packets by design; 1000 would chase the
/// single worst packet ever seen.
pub const DELAY_QUANTILE_PERMILLE_RANGE: core::ops::RangeInclusive<u16> = 500..=999;

/// How a [`JitterBuffer`](super::JitterBuffer) plays out. Check with
/// [`JitterConfig::validate`]; the buffer's constructor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JitterConfig {
    /// Media per packet, in 48 kHz units: one of [`OPUS_FRAME_SAMPLES`]
    /// (960 = 20 ms by default). Every `pop` plays one frame of this length.
    pub frame_samples: u32,
    /// The target delay never goes below this (default 20 ms).
    pub jitter_min_ms: u32,
    /// The target delay never goes above this, and an underrun never
    /// stretches the delay past it (default 200 ms).
    pub jitter_max_ms: u32,
    /// The target before any delay has been measured, clamped to
    /// `jitter_min_ms..=jitter_max_ms` (default 80 ms, NetEq's start
    /// delay): cautious for the first talk-spurt on an unknown path; the
    /// next ones use what it measured.
    pub jitter_start_ms: u32,
    /// Which quantile of recent relative arrival delays the target covers,
    /// in permille (default 970: 97 % of packets in time).
    pub delay_quantile_permille: u16,
    /// In an underrun (nothing left to play), how many consecutive frames
    /// are concealed (Opus PLC) before the buffer says `Silence` instead
    /// (default 5 = 100 ms at 20 ms frames: a burst of lost packets is
    /// concealed, PLC has faded out by then, and a sender that died is not
    /// concealed for long).
    pub underrun_conceal_frames_max: u16,
    /// In an underrun, nothing inserted for this long ends the talk-spurt
    /// with `EndOfTransmission`: the sender died or the network is gone
    /// (default 1000 ms; at least `jitter_max_ms` plus one frame, so that
    /// a stall the buffer can still absorb never ends a talk-spurt).
    pub stall_timeout_ms: u32,
}

impl JitterConfig {
    /// 20 ms frames, 20–200 ms delay starting at 80 ms, 97 %, five
    /// concealed frames, one second to give up on a silent sender. The
    /// config file's `audio` section falls back to this frame length and
    /// these delay bounds, so they are written here only.
    pub const DEFAULT: JitterConfig = JitterConfig {
        frame_samples: 960,
        jitter_min_ms: 20,
        jitter_max_ms: 200,
        jitter_start_ms: 80,
        delay_quantile_permille: 970,
        underrun_conceal_frames_max: 5,
        stall_timeout_ms: 1_000,
    };

    /// The config a channel's playback runs with, from the `audio`
    /// section's frame length and delay bounds: everything else is
    /// [`DEFAULT`](Self::DEFAULT)'s (not settable). Checked when a buffer
    /// is made.
    pub const fn for_audio(
        frame_samples: u32,
        jitter_min_ms: u32,
        jitter_max_ms: u32,
    ) -> JitterConfig {
        JitterConfig {
            frame_samples,
            jitter_min_ms,
            jitter_max_ms,
            ..JitterConfig::DEFAULT
        }
    }

    /// The frame length in microseconds (exact for every Opus length).
    pub const fn frame_us(&self) -> u64 {
        self.frame_samples as u64 * 1_000_000 / MEDIA_RATE_HZ as u64
    }

    /// Checks every field and the relation to a buffer of `slots` slots.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, in field order.
    pub fn validate(&self, slots: usize) -> Result<(), ConfigError> {
        if !OPUS_FRAME_SAMPLES.contains(&self.frame_samples) {
            return Err(ConfigError::FrameSamples(self.frame_samples));
        }
        let frame_us = self.frame_us();
        if self.jitter_min_ms > self.jitter_max_ms {
            return Err(ConfigError::JitterMinAboveMax {
                jitter_min_ms: self.jitter_min_ms,
                jitter_max_ms: self.jitter_max_ms,
            });
        }
        let jitter_max_us = u64::from(self.jitter_max_ms) * 1_000;
        if jitter_max_us < frame_us {
            return Err(ConfigError::JitterMaxBelowFrame {
                jitter_max_ms: self.jitter_max_ms,
                frame_us,
            });
        }
        // The slot window must hold the longest delay plus the frame being
        // played and the one that carries its FEC.
        let capacity_us = (slots as u64).saturating_mul(frame_us);
        if jitter_max_us.saturating_add(2 * frame_us) > capacity_us {
            return Err(ConfigError::JitterMaxBeyondSlots {
                jitter_max_ms: self.jitter_max_ms,
                capacity_ms: capacity_us / 1_000,
            });
        }
        if !DELAY_QUANTILE_PERMILLE_RANGE.contains(&self.delay_quantile_permille) {
            return Err(ConfigError::DelayQuantile(self.delay_quantile_permille));
        }
        let needed_us = jitter_max_us + frame_us;
        if u64::from(self.stall_timeout_ms) * 1_000 < needed_us {
            return Err(ConfigError::StallTimeoutTooShort {
                stall_timeout_ms: self.stall_timeout_ms,
                needed_ms: needed_us.div_ceil(1_000),
            });
        }
        Ok(())
    }
}

impl Default for JitterConfig {
    fn default() -> JitterConfig {
        JitterConfig::DEFAULT
    }
}

/// Why a [`JitterConfig`] is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `frame_samples` is not an Opus frame length (the value).
    FrameSamples(u32),
    /// `jitter_min_ms` is above `jitter_max_ms`.
    JitterMinAboveMax {
        /// The configured minimum.
        jitter_min_ms: u32,
        /// The configured maximum.
        jitter_max_ms: u32,
    },
    /// `jitter_max_ms` is shorter than one frame.
    JitterMaxBelowFrame {
        /// The configured maximum.
        jitter_max_ms: u32,
        /// One frame.
        frame_us: u64,
    },
    /// The slots cannot hold `jitter_max_ms` plus two frames.
    JitterMaxBeyondSlots {
        /// The configured maximum.
        jitter_max_ms: u32,
        /// What the slots hold at this frame length.
        capacity_ms: u64,
    },
    /// `delay_quantile_permille` is outside
    /// [`DELAY_QUANTILE_PERMILLE_RANGE`] (the value).
    DelayQuantile(u16),
    /// `stall_timeout_ms` is shorter than `jitter_max_ms` plus one frame.
    StallTimeoutTooShort {
        /// The configured timeout.
        stall_timeout_ms: u32,
        /// The shortest allowed.
        needed_ms: u64,
    },
}

impl ConfigError {
    /// The offending field's name, for error paths like `audio.jitter_max_ms`.
    pub const fn field(&self) -> &'static str {
        match self {
            ConfigError::FrameSamples(_) => "frame_samples",
            ConfigError::JitterMinAboveMax { .. } => "jitter_min_ms",
            ConfigError::JitterMaxBelowFrame { .. } | ConfigError::JitterMaxBeyondSlots { .. } => {
                "jitter_max_ms"
            }
            ConfigError::DelayQuantile(_) => "delay_quantile_permille",
            ConfigError::StallTimeoutTooShort { .. } => "stall_timeout_ms",
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::FrameSamples(n) => write!(
                f,
                "{n} samples at 48 kHz is not an Opus frame length (120, 240, 480, 960, 1920 or 2880)"
            ),
            ConfigError::JitterMinAboveMax {
                jitter_min_ms,
                jitter_max_ms,
            } => write!(
                f,
                "{jitter_min_ms} ms is more than jitter_max_ms ({jitter_max_ms} ms)"
            ),
            ConfigError::JitterMaxBelowFrame {
                jitter_max_ms,
                frame_us,
            } => write!(
                f,
                "{jitter_max_ms} ms is less than one {}.{:01} ms frame",
                frame_us / 1_000,
                frame_us % 1_000 / 100
            ),
            ConfigError::JitterMaxBeyondSlots {
                jitter_max_ms,
                capacity_ms,
            } => write!(
                f,
                "{jitter_max_ms} ms plus two frames does not fit the buffer's {capacity_ms} ms of slots"
            ),
            ConfigError::DelayQuantile(p) => write!(
                f,
                "{p}‰ is outside {}‰..={}‰",
                DELAY_QUANTILE_PERMILLE_RANGE.start(),
                DELAY_QUANTILE_PERMILLE_RANGE.end()
            ),
            ConfigError::StallTimeoutTooShort {
                stall_timeout_ms,
                needed_ms,
            } => write!(
                f,
                "{stall_timeout_ms} ms is shorter than jitter_max_ms plus one frame ({needed_ms} ms)"
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_for_64_slots() {
        assert_eq!(JitterConfig::DEFAULT.validate(64), Ok(()));
        assert_eq!(JitterConfig::DEFAULT.frame_us(), 20_000);
    }

    #[test]
    fn every_opus_frame_length_is_exact_in_microseconds() {
        let us: [u64; 6] = OPUS_FRAME_SAMPLES.map(|n| {
            JitterConfig {
                frame_samples: n,
                ..JitterConfig::DEFAULT
            }
            .frame_us()
        });
        assert_eq!(us, [2_500, 5_000, 10_000, 20_000, 40_000, 60_000]);
    }

    #[test]
    fn each_field_is_checked() {
        let d = JitterConfig::DEFAULT;
        let cases = [
            (
                JitterConfig {
                    frame_samples: 1_000,
                    ..d
                },
                ConfigError::FrameSamples(1_000),
            ),
            (
                JitterConfig {
                    jitter_min_ms: 300,
                    ..d
                },
                ConfigError::JitterMinAboveMax {
                    jitter_min_ms: 300,
                    jitter_max_ms: 200,
                },
            ),
            (
                JitterConfig {
                    jitter_min_ms: 0,
                    jitter_max_ms: 10,
                    ..d
                },
                ConfigError::JitterMaxBelowFrame {
                    jitter_max_ms: 10,
                    frame_us: 20_000,
                },
            ),
            (
                JitterConfig {
                    jitter_max_ms: 1_260,
                    stall_timeout_ms: 5_000,
                    ..d
                },
                ConfigError::JitterMaxBeyondSlots {
                    jitter_max_ms: 1_260,
                    capacity_ms: 1_280,
                },
            ),
            (
                JitterConfig {
                    delay_quantile_permille: 1_000,
                    ..d
                },
                ConfigError::DelayQuantile(1_000),
            ),
            (
                JitterConfig {
                    stall_timeout_ms: 200,
                    ..d
                },
                ConfigError::StallTimeoutTooShort {
                    stall_timeout_ms: 200,
                    needed_ms: 220,
                },
            ),
        ];
        for (config, error) in cases {
            assert_eq!(config.validate(64), Err(error), "{config:?}");
            assert!(!error.field().is_empty());
        }
    }

    #[test]
    fn short_frames_need_more_slots_for_the_same_delay() {
        let config = JitterConfig {
            frame_samples: 240,
            ..JitterConfig::DEFAULT
        };
        assert!(matches!(
            config.validate(32),
            Err(ConfigError::JitterMaxBeyondSlots {
                capacity_ms: 160,
                ..
            })
        ));
        assert_eq!(config.validate(64), Ok(()));
    }
}
