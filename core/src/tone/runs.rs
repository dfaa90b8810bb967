//! The run segmenter: tracker frames in, *runs* out. A run is a stretch
//! of frames whose peaks stay at one frequency: one held tone, with short
//! dropouts bridged. The pattern matchers (two-tone, long tone, hi-low,
//! finder) look only at runs, never at single frames.
//!
//! Rules, per frame (64 ms apart):
//! - a tonal frame within [`track_tolerance_hz`] of the current run's mean
//!   frequency extends it — unless it is *weak*, under a quarter of the
//!   run's level: with half-overlapping Hann frames that is exactly a frame
//!   whose centre lies outside the tone, so run edges land on the tone's
//!   edges to within half a frame whatever the SNR;
//! - any other tonal frame starts (or continues) a candidate run; two
//!   consecutive candidate frames promote it, closing the current run. When
//!   a frame fits both, the nearer mean wins, so a run cannot creep towards
//!   a neighbouring tone 2.5 % away;
//! - a run survives [`MAX_HOLE_FRAMES`] frames without a fit (a fade, a
//!   lost packet, a noise burst, a 100 ms dropout) and closes after more;
//! - a lone frame never makes a run, so noise peaks (random frequencies)
//!   and speech (glides, rarely 200 ms at one pitch) make only short ones.
//!
//! Positions are at the detection rate: frame `k` (from 1) covers samples
//! `[k·HOP − FFT, k·HOP)` and its centre stands for the half-hop either
//! side, so a run spans `[centre(first) − HOP/2, centre(last) + HOP/2)`.

use heapless::Deque;

use super::tracker::{FFT_LEN, Frame, HOP_LEN, HOP_MS};

/// A frame this far from a run's mean frequency can extend it: ±4 Hz or
/// ±1.2 %, whichever is more. Quick Call II neighbours are at least 2.45 %
/// (8 Hz at the bottom) apart, so a neighbour always starts a new run,
/// while ±3 Hz of FM wobble and the per-frame noise at −10 dB SNR (about
/// 1 Hz rms) stay inside.
pub(crate) fn track_tolerance_hz(hz: f32) -> f32 {
    (hz * 0.012).max(4.0)
}

/// Consecutive frames without a fit that a run bridges (128 ms).
pub(crate) const MAX_HOLE_FRAMES: u32 = 2;
/// Frames a candidate needs to become a run.
pub(crate) const PROMOTE_FRAMES: u32 = 2;
/// A frame under this fraction of a run's level is outside the tone.
pub(crate) const WEAK_RATIO: f32 = 0.25;
/// Closed runs remembered for the matchers.
pub(crate) const RUN_HISTORY: usize = 8;
/// The slack on every measured duration: a run's length is a whole
/// number of frames, off by less than one hop from the tone's.
pub(crate) const DURATION_SLACK_MS: u32 = HOP_MS;
/// The slack on every measured gap: the frame straddling a tone change
/// belongs to neither tone, and in noise a frame either side may drop.
pub(crate) const GAP_SLACK_MS: u32 = 3 * HOP_MS;

/// One held tone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Run {
    /// Unique within a detector's life (never 0).
    pub id: u32,
    /// The first and last frames that fit (holes inside are included).
    pub first: u64,
    pub last: u64,
    /// Frames that fit.
    pub frames: u32,
    sum_hz: f64,
    level: f32,
    holes: u32,
    /// What the tone finder reported this run as.
    pub finder: FinderMark,
}

/// What the tone finder made of a run: each run is reported once, and a
/// pair's second tone is never another pair's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FinderMark {
    None,
    PairB,
    Long,
}

impl Run {
    fn start(id: u32, index: u64, frame: &Frame) -> Run {
        Run {
            id,
            first: index,
            last: index,
            frames: 1,
            sum_hz: frame.hz as f64,
            level: frame.power,
            holes: 0,
            finder: FinderMark::None,
        }
    }

    /// The mean frequency of the frames that fit, Hz.
    pub fn mean_hz(&self) -> f32 {
        (self.sum_hz / self.frames as f64) as f32
    }

    /// The run's length: its frames, holes included, times the hop.
    pub fn duration_ms(&self) -> u32 {
        u32::try_from(self.last - self.first + 1)
            .unwrap_or(u32::MAX)
            .saturating_mul(HOP_MS)
    }

    /// Where it starts, in detection-rate samples (may be negative).
    pub fn start_pos(&self) -> i64 {
        centre(self.first) - HOP_LEN as i64 / 2
    }

    /// Where it ends, in detection-rate samples.
    pub fn end_pos(&self) -> i64 {
        centre(self.last) + HOP_LEN as i64 / 2
    }

    fn fit(&self, frame: &Frame) -> Fit {
        let mean = self.mean_hz();
        let off = (frame.hz - mean).abs();
        if !frame.tonal || off > track_tolerance_hz(mean) {
            Fit::Miss
        } else if frame.power < WEAK_RATIO * self.level {
            Fit::Weak
        } else {
            Fit::Match(off)
        }
    }

    fn extend(&mut self, index: u64, frame: &Frame) {
        if self.frames == 1 && frame.power * WEAK_RATIO > self.level {
            // The first frame was the tone's weak leading edge.
            *self = Run::start(self.id, index, frame);
            return;
        }
        self.last = index;
        self.frames += 1;
        self.sum_hz += frame.hz as f64;
        self.level += 0.25 * (frame.power - self.level);
        self.holes = 0;
    }
}

/// The centre of frame `index`, in detection-rate samples.
pub(crate) fn centre(index: u64) -> i64 {
    index as i64 * HOP_LEN as i64 - FFT_LEN as i64 / 2
}

/// Milliseconds from the end of `earlier` to the start of `later`.
pub(crate) fn gap_ms(earlier: &Run, later: &Run) -> u32 {
    let frames = later.first.saturating_sub(earlier.last + 1);
    u32::try_from(frames)
        .unwrap_or(u32::MAX)
        .saturating_mul(HOP_MS)
}

/// Whether a measured `duration_ms` meets a configured minimum.
pub(crate) fn meets(duration_ms: u32, min_ms: u32) -> bool {
    duration_ms.saturating_add(DURATION_SLACK_MS) > min_ms
}

/// Whether `hz` lies within `centre_hz ± range_hz`.
pub(crate) fn within(hz: f32, centre_hz: f32, range_hz: f32) -> bool {
    (hz - centre_hz).abs() <= range_hz
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fit {
    Match(f32),
    Weak,
    Miss,
}

/// Frames in, runs out; see the module doc.
#[derive(Debug, Clone)]
pub(crate) struct Segmenter {
    current: Option<Run>,
    candidate: Option<Run>,
    /// Closed runs, oldest first.
    history: Deque<Run, RUN_HISTORY>,
    next_id: u32,
}

impl Segmenter {
    pub const fn new() -> Segmenter {
        Segmenter {
            current: None,
            candidate: None,
            history: Deque::new(),
            next_id: 1,
        }
    }

    /// Forgets every run (ids keep counting, so an old id never matches a
    /// new run).
    pub fn reset(&mut self) {
        self.current = None;
        self.candidate = None;
        self.history.clear();
    }

    /// The run being heard now, and the closed ones before it (oldest
    /// first).
    pub fn parts_mut(&mut self) -> (Option<&mut Run>, &Deque<Run, RUN_HISTORY>) {
        (self.current.as_mut(), &self.history)
    }

    /// Takes frame number `index` (consecutive from 1). Returns the run
    /// this frame closed, if any (at most one per frame).
    pub fn step(&mut self, index: u64, frame: &Frame) -> Option<Run> {
        let cur_fit = self.current.as_ref().map_or(Fit::Miss, |r| r.fit(frame));
        let cand_fit = self.candidate.as_ref().map_or(Fit::Miss, |r| r.fit(frame));
        let to_current = match (cur_fit, cand_fit) {
            (Fit::Match(c), Fit::Match(n)) => Some(c <= n),
            (Fit::Match(_), _) => Some(true),
            (_, Fit::Match(_)) => Some(false),
            _ => None,
        };
        let mut closed = None;
        match to_current {
            Some(true) => {
                if let Some(run) = self.current.as_mut() {
                    run.extend(index, frame);
                }
                self.candidate = None;
            }
            Some(false) => {
                if let Some(run) = self.current.as_mut() {
                    run.holes += 1;
                }
                if let Some(cand) = self.candidate.as_mut() {
                    cand.extend(index, frame);
                    if cand.frames >= PROMOTE_FRAMES {
                        closed = self.close();
                        self.current = self.candidate.take();
                    }
                }
            }
            None => {
                if let Some(run) = self.current.as_mut() {
                    run.holes += 1;
                }
                // A weak frame at the current run's frequency is its edge
                // or a fade, not a new tone.
                self.candidate = if frame.tonal && cur_fit != Fit::Weak {
                    let id = self.next_id;
                    self.next_id = self.next_id.wrapping_add(1).max(1);
                    Some(Run::start(id, index, frame))
                } else {
                    None
                };
            }
        }
        if self
            .current
            .as_ref()
            .is_some_and(|r| r.holes > MAX_HOLE_FRAMES)
        {
            closed = self.close();
        }
        closed
    }

    fn close(&mut self) -> Option<Run> {
        let run = self.current.take()?;
        if self.history.is_full() {
            self.history.pop_front();
        }
        // Cannot fail: there is room now.
        let _ = self.history.push_back(run);
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    fn tone(hz: f32, power: f32) -> Frame {
        Frame {
            hz,
            power,
            floor: 1e-6,
            tonal: true,
        }
    }

    fn quiet() -> Frame {
        Frame {
            hz: 1_234.0,
            power: 1e-6,
            floor: 1e-6,
            tonal: false,
        }
    }

    /// Feeds frames, returns the closed runs and the final current run.
    fn segment(frames: &[Frame]) -> (Vec<Run>, Option<Run>) {
        let mut s = Segmenter::new();
        let mut closed = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            closed.extend(s.step(i as u64 + 1, f));
        }
        let current = s.parts_mut().0.copied();
        (closed, current)
    }

    #[test]
    fn adjacent_quick_call_tones_make_two_runs_with_no_gap() {
        let mut f = std::vec![tone(288.5, 0.1); 15];
        f.push(tone(292.5, 0.05)); // the straddling frame
        f.extend(std::vec![tone(296.5, 0.1); 46]);
        let (closed, current) = segment(&f);
        assert_eq!(closed.len(), 1);
        let (a, b) = (closed[0], current.unwrap());
        assert!((a.mean_hz() - 288.5).abs() < 0.5, "{a:?}");
        assert!((b.mean_hz() - 296.5).abs() < 0.01, "{b:?}");
        assert!(gap_ms(&a, &b) <= HOP_MS);
        assert!(a.duration_ms() >= 15 * HOP_MS && b.duration_ms() >= 46 * HOP_MS);
    }

    #[test]
    fn short_dropouts_are_bridged_longer_ones_split() {
        let mut f = std::vec![tone(1_000.0, 0.1); 10];
        f.extend([quiet(), quiet()]);
        f.extend(std::vec![tone(1_000.0, 0.1); 10]);
        let (closed, current) = segment(&f);
        assert!(closed.is_empty());
        assert_eq!(current.unwrap().duration_ms(), 22 * HOP_MS);

        let mut f = std::vec![tone(1_000.0, 0.1); 10];
        f.extend([quiet(), quiet(), quiet()]);
        f.extend(std::vec![tone(1_000.0, 0.1); 10]);
        let (closed, current) = segment(&f);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].duration_ms(), 10 * HOP_MS);
        assert_eq!(current.unwrap().duration_ms(), 10 * HOP_MS);
    }

    #[test]
    fn weak_edges_are_trimmed() {
        let mut f = std::vec![tone(700.0, 0.01)]; // leading edge
        f.extend(std::vec![tone(700.0, 0.1); 10]);
        f.push(tone(700.0, 0.02)); // trailing edge
        f.extend([quiet(); 4]);
        let (closed, _) = segment(&f);
        assert_eq!(closed.len(), 1);
        assert_eq!((closed[0].first, closed[0].last), (2, 11));
    }

    #[test]
    fn isolated_frames_and_wandering_peaks_make_no_run() {
        let f: Vec<Frame> = (0..200)
            .map(|i| tone(300.0 + ((i * 7_919) % 3_000) as f32, 0.1))
            .collect();
        let (closed, current) = segment(&f);
        assert!(
            closed.is_empty() && current.is_none(),
            "{closed:?} {current:?}"
        );
    }

    #[test]
    fn a_run_does_not_creep_to_its_neighbour() {
        // Noisy frames alternating around A, then B 8 Hz up: B must win
        // its own frames even where they also fit A.
        let mut f: Vec<Frame> = (0..16)
            .map(|i| tone(288.5 + if i % 2 == 0 { 1.5 } else { -1.5 }, 0.1))
            .collect();
        f.extend((0..40).map(|i| tone(296.5 + if i % 2 == 0 { -2.5 } else { 1.0 }, 0.1)));
        let (closed, current) = segment(&f);
        assert_eq!(closed.len(), 1);
        assert!((closed[0].mean_hz() - 288.5).abs() < 0.3);
        assert!((current.unwrap().mean_hz() - 296.5).abs() < 1.0);
        assert!(current.unwrap().duration_ms() >= 39 * HOP_MS);
    }
}
