//! Level metering and VOX: when does captured audio count as someone
//! talking?
//!
//! A channel whose receiver has no COR line (or a scanner feed) opens on
//! its audio level instead. [`Vox`] measures each block's RMS level and
//! applies the channel's COR timers on the media clock (`SampleIndex`):
//!
//! - it opens once the level has stayed at or above the threshold for the
//!   debounce time (a click or a single loud period does not key the
//!   network);
//! - it closes once the level has stayed below the threshold for the hang
//!   time (the pauses between words do not end the transmission).
//!
//! Sans-IO: blocks in with their first sample's index, state out.

use crate::time::SampleIndex;

/// The quietest level reported, in dBFS: digital silence reads this.
pub const LEVEL_FLOOR_DBFS: f32 = -120.0;

/// RMS level of `samples` in dB relative to full scale (0 dBFS = a
/// full-scale square wave; a full-scale sine reads −3 dBFS). Empty or
/// silent blocks read [`LEVEL_FLOOR_DBFS`].
pub fn rms_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return LEVEL_FLOOR_DBFS;
    }
    let sum: u64 = samples
        .iter()
        .map(|&s| {
            let s = i64::from(s);
            (s * s) as u64
        })
        .sum();
    let mean = sum as f32 / samples.len() as f32 / (32_768.0 * 32_768.0);
    if mean <= 0.0 {
        return LEVEL_FLOOR_DBFS;
    }
    (10.0 * libm::log10f(mean)).max(LEVEL_FLOOR_DBFS)
}

/// Why a [`Vox`] could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoxConfigError {
    /// The sample rate is 0.
    Rate,
    /// The threshold is not a finite level below 0 dBFS.
    Threshold,
}

impl core::fmt::Display for VoxConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            VoxConfigError::Rate => "the sample rate must be above 0 Hz",
            VoxConfigError::Threshold => "the VOX threshold must be a level below 0 dBFS",
        })
    }
}

impl core::error::Error for VoxConfigError {}

/// VOX settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoxConfig {
    /// The device rate the blocks are at.
    pub rate_hz: u32,
    /// Opens at or above this RMS level.
    pub threshold_dbfs: f32,
    /// The level must hold this long before the channel opens.
    pub debounce_ms: u32,
    /// The channel stays open this long after the level drops.
    pub hang_ms: u32,
}

/// Whether the channel is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoxState {
    /// Quiet.
    Closed,
    /// Loud since `since`, not yet for the debounce time.
    Opening {
        /// The first loud block's first sample.
        since: SampleIndex,
    },
    /// Open: someone is talking.
    Open,
    /// Open, but quiet since `since`; closes after the hang time.
    Hang {
        /// The first quiet block's first sample.
        since: SampleIndex,
    },
}

/// A change [`Vox::push_block`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoxEdge {
    /// The channel opened with this block.
    Opened,
    /// The channel closed with this block.
    Closed,
}

/// The VOX gate. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Vox {
    config: VoxConfig,
    debounce_frames: u64,
    hang_frames: u64,
    state: VoxState,
    level_dbfs: f32,
}

impl Vox {
    /// A closed gate.
    ///
    /// # Errors
    ///
    /// A zero rate or a threshold that is not below 0 dBFS.
    pub fn new(config: VoxConfig) -> Result<Vox, VoxConfigError> {
        if config.rate_hz == 0 {
            return Err(VoxConfigError::Rate);
        }
        if !config.threshold_dbfs.is_finite() || config.threshold_dbfs >= 0.0 {
            return Err(VoxConfigError::Threshold);
        }
        Ok(Vox {
            debounce_frames: crate::time::frames_in_millis(config.debounce_ms, config.rate_hz),
            hang_frames: crate::time::frames_in_millis(config.hang_ms, config.rate_hz),
            config,
            state: VoxState::Closed,
            level_dbfs: LEVEL_FLOOR_DBFS,
        })
    }

    /// Measures one block whose first sample is `index` and moves the
    /// gate. A block counts as loud when its RMS level is at or above the
    /// threshold; the debounce and hang times are measured from the first
    /// block of a loud or quiet stretch to the end of the current block.
    pub fn push_block(&mut self, index: SampleIndex, samples: &[i16]) -> Option<VoxEdge> {
        self.level_dbfs = rms_dbfs(samples);
        let loud = self.level_dbfs >= self.config.threshold_dbfs;
        let end = index.add_frames(samples.len() as u64);
        let (next, edge) = match (self.state, loud) {
            (VoxState::Closed, false) => (VoxState::Closed, None),
            (VoxState::Closed, true) => self.opening(index, end),
            (VoxState::Opening { since }, true) => self.opening(since, end),
            (VoxState::Opening { .. }, false) => (VoxState::Closed, None),
            (VoxState::Open, true) | (VoxState::Hang { .. }, true) => (VoxState::Open, None),
            (VoxState::Open, false) => self.hanging(index, end),
            (VoxState::Hang { since }, false) => self.hanging(since, end),
        };
        self.state = next;
        edge
    }

    fn opening(&self, since: SampleIndex, end: SampleIndex) -> (VoxState, Option<VoxEdge>) {
        if end.frames_since(since) >= self.debounce_frames {
            (VoxState::Open, Some(VoxEdge::Opened))
        } else {
            (VoxState::Opening { since }, None)
        }
    }

    fn hanging(&self, since: SampleIndex, end: SampleIndex) -> (VoxState, Option<VoxEdge>) {
        if end.frames_since(since) >= self.hang_frames {
            (VoxState::Closed, Some(VoxEdge::Closed))
        } else {
            (VoxState::Hang { since }, None)
        }
    }

    /// Whether the channel is open (talking, or within the hang time).
    pub fn is_open(&self) -> bool {
        matches!(self.state, VoxState::Open | VoxState::Hang { .. })
    }

    /// The gate's state.
    pub fn state(&self) -> VoxState {
        self.state
    }

    /// The last block's RMS level in dBFS.
    pub fn level_dbfs(&self) -> f32 {
        self.level_dbfs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 48_000;
    const PERIOD: usize = 240; // 5 ms

    fn vox() -> Vox {
        Vox::new(VoxConfig {
            rate_hz: RATE,
            threshold_dbfs: -40.0,
            debounce_ms: 20,
            hang_ms: 250,
        })
        .expect("valid settings")
    }

    fn tone(amplitude: f32) -> [i16; PERIOD] {
        let mut block = [0i16; PERIOD];
        for (i, s) in block.iter_mut().enumerate() {
            let phase = 2.0 * core::f32::consts::PI * 1_000.0 * i as f32 / RATE as f32;
            *s = (amplitude * 32_767.0 * libm::sinf(phase)) as i16;
        }
        block
    }

    /// Feeds `periods` blocks and returns the edges with the period they
    /// came in.
    fn feed(
        vox: &mut Vox,
        start: &mut u64,
        periods: usize,
        block: &[i16],
    ) -> [Option<(usize, VoxEdge)>; 2] {
        let mut edges = [None; 2];
        let mut n = 0;
        for p in 0..periods {
            if let Some(edge) = vox.push_block(SampleIndex(*start), block) {
                edges[n.min(1)] = Some((p, edge));
                n += 1;
            }
            *start += block.len() as u64;
        }
        edges
    }

    #[test]
    fn rms_of_a_full_scale_sine_is_minus_3_dbfs() {
        let level = rms_dbfs(&tone(1.0));
        assert!((level - -3.01).abs() < 0.05, "{level}");
        assert_eq!(rms_dbfs(&[0; 64]), LEVEL_FLOOR_DBFS);
        assert_eq!(rms_dbfs(&[]), LEVEL_FLOOR_DBFS);
        assert_eq!(rms_dbfs(&[i16::MIN; 8]), 0.0);
    }

    #[test]
    fn opens_after_the_debounce_and_closes_after_the_hang() {
        let mut vox = vox();
        let mut at = 0;
        let loud = tone(0.1); // −23 dBFS
        let quiet = tone(0.001); // −63 dBFS
        assert_eq!(feed(&mut vox, &mut at, 10, &quiet), [None, None]);
        // 20 ms of 5 ms periods: open on the 4th loud period.
        assert_eq!(
            feed(&mut vox, &mut at, 10, &loud)[0],
            Some((3, VoxEdge::Opened))
        );
        assert!(vox.is_open());
        // 250 ms hang = 50 periods: closes on the 50th quiet one.
        assert_eq!(
            feed(&mut vox, &mut at, 60, &quiet)[0],
            Some((49, VoxEdge::Closed))
        );
        assert!(!vox.is_open());
    }

    #[test]
    fn a_click_does_not_open_and_a_pause_does_not_close() {
        let mut vox = vox();
        let mut at = 0;
        let loud = tone(0.1);
        let quiet = tone(0.0);
        // Two loud periods (10 ms) then quiet: under the 20 ms debounce.
        assert_eq!(feed(&mut vox, &mut at, 2, &loud), [None, None]);
        assert_eq!(feed(&mut vox, &mut at, 5, &quiet), [None, None]);
        assert_eq!(vox.state(), VoxState::Closed);
        assert_eq!(
            feed(&mut vox, &mut at, 4, &loud)[0],
            Some((3, VoxEdge::Opened))
        );
        // A 200 ms pause inside the hang time, then talk again: still open.
        assert_eq!(feed(&mut vox, &mut at, 40, &quiet), [None, None]);
        assert_eq!(feed(&mut vox, &mut at, 4, &loud), [None, None]);
        assert_eq!(vox.state(), VoxState::Open);
    }

    #[test]
    fn refuses_impossible_settings() {
        let good = VoxConfig {
            rate_hz: RATE,
            threshold_dbfs: -40.0,
            debounce_ms: 0,
            hang_ms: 0,
        };
        assert!(Vox::new(good).is_ok());
        let rate = VoxConfig { rate_hz: 0, ..good };
        assert_eq!(Vox::new(rate).err(), Some(VoxConfigError::Rate));
        for threshold_dbfs in [0.0, 3.0, f32::NAN, f32::INFINITY] {
            let bad = VoxConfig {
                threshold_dbfs,
                ..good
            };
            assert_eq!(Vox::new(bad).err(), Some(VoxConfigError::Threshold));
        }
    }
}
