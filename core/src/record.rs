//! The record planner: when a channel's recording after a page starts and
//! ends, and how stacked pages share one recording. Sans-IO, on the
//! channel's media clock ([`SampleIndex`]), in fixed storage.
//!
//! Rules (DESIGN.md "Passthrough and recording"):
//! - a page's recording starts `record_delay_ms` after its last tone
//!   *ends* (the tones are not dispatch audio), which the detector reports
//!   some time after the alert ([`ChannelDetector::poll_tones_end`]); a
//!   tone that never ends (a stuck carrier) is given up on after
//!   [`TONES_END_WAIT_MS`] and the recording starts then;
//! - it lasts `record_length_ms`; pages that arrive while a recording of
//!   the channel is pending or running join it: one recording per burst,
//!   named by every alert of the burst ([`Effect::Joined`]), ending the
//!   longest `record_length_ms` of the burst after the last page's tones
//!   (plus that page's delay);
//! - optional early stop: after `silence_stop_ms` of audio under the
//!   silence threshold, once `min_ms` has been recorded and no page's
//!   tones are sounding;
//! - no recording runs longer than [`RECORDING_MAX_MS`] (a channel paged
//!   over and over still gets files of bounded size).
//!
//! # Driving it
//!
//! Feed [`handle_alert`](RecordPlanner::handle_alert) for each alert of
//! the channel, [`handle_tones_end`](RecordPlanner::handle_tones_end) for
//! each end its detector reports, and
//! [`handle_audio`](RecordPlanner::handle_audio) as the channel's audio
//! advances (every frame, with its level); drain
//! [`poll_effect`](RecordPlanner::poll_effect) after each. The driver
//! writes the channel's audio from a [`Effect::Start`]'s `from` (which may
//! lie a little in the past: keep a second or two of history) to the
//! matching [`Effect::Stop`]'s `at`.
//!
//! [`ChannelDetector::poll_tones_end`]: crate::tone::ChannelDetector::poll_tones_end

use heapless::{Deque, Vec};

use crate::time::{SampleIndex, frames_in_millis};

/// Alerts named by one recording; more stack into it unnamed (counted).
pub const MAX_BURST_ALERTS: usize = 16;

/// How long after an alert its tones may sound before the recording
/// starts anyway: longer than any paging format's last tone (a long-tone
/// "all call" is 5 to 8 s), short enough that a stuck carrier still gets
/// its dispatch audio recorded.
pub const TONES_END_WAIT_MS: u32 = 12_000;

/// The longest recording, however many pages stack into it.
pub const RECORDING_MAX_MS: u32 = 15 * 60 * 1_000;

/// Effects queued between drains: a start, every alert joining, a stop.
const EFFECTS: usize = MAX_BURST_ALERTS + 4;

/// Names an alert across the node (its driver numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertId(pub u32);

/// Names a recording of a channel (numbered by its planner from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordingId(pub u32);

/// How a channel records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordConfig {
    /// The channel's device rate.
    pub rate_hz: u32,
    /// Stop after this much silence (0: never stop early).
    pub silence_stop_ms: u32,
    /// Record at least this much before a silence stop.
    pub min_ms: u32,
    /// Audio under this level is silence, dBFS.
    pub silence_threshold_dbfs: i16,
}

/// One alert, as the planner needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// Where the detector fired it.
    pub detected_at: SampleIndex,
    /// Its definition's `record_delay_ms`.
    pub delay_ms: u32,
    /// Its definition's `record_length_ms` (0: alert only, no recording).
    pub length_ms: u32,
}

/// Why a recording stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// It reached its length.
    Length,
    /// Silence after the minimum.
    Silence,
    /// It reached [`RECORDING_MAX_MS`].
    Limit,
    /// The node stops ([`RecordPlanner::handle_shutdown`]): cut short.
    Shutdown,
}

impl StopReason {
    /// Whether the recording is shorter than planned.
    pub fn truncated(self) -> bool {
        matches!(self, StopReason::Limit | StopReason::Shutdown)
    }

    /// In one word, for events.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Length => "length",
            StopReason::Silence => "silence",
            StopReason::Limit => "limit",
            StopReason::Shutdown => "shutdown",
        }
    }
}

/// What the driver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Start writing the channel's audio from sample `from` on.
    Start {
        /// The recording.
        recording: RecordingId,
        /// Its first sample.
        from: SampleIndex,
    },
    /// An alert belongs to the recording (each alert once, in order,
    /// after its `Start`).
    Joined {
        /// The recording.
        recording: RecordingId,
        /// The alert.
        alert: AlertId,
    },
    /// Stop writing: samples from `at` on are not part of it.
    Stop {
        /// The recording.
        recording: RecordingId,
        /// The first sample not recorded.
        at: SampleIndex,
        /// Why.
        reason: StopReason,
    },
}

/// What the planner counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordStats {
    /// Recordings started.
    pub started: u64,
    /// Alerts that joined a pending or running recording.
    pub stacked: u64,
    /// Alerts past [`MAX_BURST_ALERTS`] in one recording (recorded, not
    /// named).
    pub unnamed: u64,
    /// Tones given up on after [`TONES_END_WAIT_MS`].
    pub tones_end_waits: u64,
    /// Effects dropped because the driver did not drain.
    pub effects_dropped: u64,
}

/// Where the channel is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    /// Alerted; waiting for the tones to end and the delay to pass.
    Pending {
        alerts: Vec<AlertId, MAX_BURST_ALERTS>,
        /// Known once the first page's tones ended.
        start_at: Option<SampleIndex>,
    },
    Recording {
        id: RecordingId,
        from: SampleIndex,
        named: usize,
        /// Where the current stretch of silence began.
        silent_from: Option<SampleIndex>,
    },
}

/// The latest page's tones, until they end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sounding {
    detected_at: SampleIndex,
    delay_ms: u32,
}

/// One channel's record planner. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct RecordPlanner {
    config: RecordConfig,
    state: State,
    sounding: Option<Sounding>,
    /// The longest `record_length_ms` of the burst.
    length_ms: u32,
    /// Where the last page's tones ended, plus its delay: the longest
    /// length after this is the end.
    last_after: Option<SampleIndex>,
    next_id: u32,
    /// How far the channel's audio has come.
    reached: SampleIndex,
    effects: Deque<Effect, EFFECTS>,
    stats: RecordStats,
}

impl RecordPlanner {
    /// A planner for a channel recording with `config`.
    pub fn new(config: RecordConfig) -> RecordPlanner {
        RecordPlanner {
            config,
            state: State::Idle,
            sounding: None,
            length_ms: 0,
            last_after: None,
            next_id: 1,
            reached: SampleIndex::ZERO,
            effects: Deque::new(),
            stats: RecordStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> RecordStats {
        self.stats
    }

    /// The recording in progress, if one is.
    pub fn recording(&self) -> Option<RecordingId> {
        match self.state {
            State::Recording { id, .. } => Some(id),
            _ => None,
        }
    }

    /// Whether an alert waits for its recording to start.
    pub fn is_pending(&self) -> bool {
        matches!(self.state, State::Pending { .. })
    }

    /// An alert on the channel. One with `length_ms` 0 records nothing
    /// and leaves a recording in progress as it is.
    pub fn handle_alert(&mut self, alert: Alert) {
        if alert.length_ms == 0 {
            return;
        }
        self.sounding = Some(Sounding {
            detected_at: alert.detected_at,
            delay_ms: alert.delay_ms,
        });
        match &mut self.state {
            State::Idle => {
                self.length_ms = alert.length_ms;
                let mut alerts = Vec::new();
                // Cannot fail: empty.
                let _ = alerts.push(alert.id);
                self.state = State::Pending {
                    alerts,
                    start_at: None,
                };
            }
            State::Pending { alerts, .. } => {
                self.length_ms = self.length_ms.max(alert.length_ms);
                self.stats.stacked += 1;
                if alerts.push(alert.id).is_err() {
                    self.stats.unnamed += 1;
                }
            }
            State::Recording {
                id,
                named,
                silent_from,
                ..
            } => {
                self.length_ms = self.length_ms.max(alert.length_ms);
                self.stats.stacked += 1;
                *silent_from = None;
                let recording = *id;
                if *named < MAX_BURST_ALERTS {
                    *named += 1;
                    self.push(Effect::Joined {
                        recording,
                        alert: alert.id,
                    });
                } else {
                    self.stats.unnamed += 1;
                }
            }
        }
    }

    /// The detector says the alerted tone ended at `at`.
    pub fn handle_tones_end(&mut self, at: SampleIndex) {
        let Some(sounding) = self.sounding.take() else {
            return;
        };
        self.tones_ended(at, sounding.delay_ms);
        self.advance();
    }

    /// The channel's audio has come up to (not including) `reached`; the
    /// last stretch of it was at `level_dbfs`.
    pub fn handle_audio(&mut self, reached: SampleIndex, level_dbfs: i16) {
        let from = self.reached;
        self.reached = reached.max(self.reached);
        if let State::Recording { silent_from, .. } = &mut self.state {
            if level_dbfs < self.config.silence_threshold_dbfs {
                silent_from.get_or_insert(from);
            } else {
                *silent_from = None;
            }
        }
        if let Some(sounding) = self.sounding {
            let wait = frames_in_millis(TONES_END_WAIT_MS, self.config.rate_hz);
            if self.reached.0 >= sounding.detected_at.0.saturating_add(wait) {
                self.sounding = None;
                self.stats.tones_end_waits += 1;
                self.tones_ended(self.reached, sounding.delay_ms);
            }
        }
        self.advance();
    }

    /// The node stops with the channel's audio at `reached`: a recording
    /// in progress stops there ([`StopReason::Shutdown`]); a pending one
    /// has no audio yet and is dropped.
    pub fn handle_shutdown(&mut self, reached: SampleIndex) {
        self.reached = reached.max(self.reached);
        if let State::Recording { id, from, .. } = self.state {
            let at = self.reached.max(from);
            self.stop(id, at, StopReason::Shutdown);
        }
        self.state = State::Idle;
        self.sounding = None;
        self.last_after = None;
    }

    /// The next effect, oldest first; `None` when drained.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    fn tones_ended(&mut self, at: SampleIndex, delay_ms: u32) {
        let delay = frames_in_millis(delay_ms, self.config.rate_hz);
        let after = SampleIndex(at.0.saturating_add(delay));
        match &mut self.state {
            State::Idle => return,
            State::Pending { start_at, .. } => {
                start_at.get_or_insert(after);
            }
            State::Recording { .. } => {}
        }
        self.last_after = Some(after);
    }

    /// Starts and stops what is due at `self.reached`.
    fn advance(&mut self) {
        let reached = self.reached;
        if let State::Pending {
            alerts,
            start_at: Some(start),
        } = &self.state
            && reached >= *start
        {
            let (from, alerts) = (*start, alerts.clone());
            let id = RecordingId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1).max(1);
            self.stats.started += 1;
            self.push(Effect::Start {
                recording: id,
                from,
            });
            for &alert in &alerts {
                self.push(Effect::Joined {
                    recording: id,
                    alert,
                });
            }
            self.state = State::Recording {
                id,
                from,
                named: alerts.len(),
                silent_from: None,
            };
        }
        let State::Recording {
            id,
            from,
            silent_from,
            ..
        } = self.state
        else {
            return;
        };
        let rate = self.config.rate_hz;
        // Not while a page's tones sound: its end is not known yet.
        let end_at = match (self.sounding, self.last_after) {
            (None, Some(after)) => Some(SampleIndex(
                after
                    .0
                    .saturating_add(frames_in_millis(self.length_ms, rate)),
            )),
            _ => None,
        };
        let limit = SampleIndex(
            from.0
                .saturating_add(frames_in_millis(RECORDING_MAX_MS, rate)),
        );
        if let Some(end) = end_at
            && reached >= end
            && end <= limit
        {
            self.stop(id, end, StopReason::Length);
        } else if reached >= limit {
            self.stop(id, limit, StopReason::Limit);
        } else if let Some(silent) = silent_from
            && self.config.silence_stop_ms > 0
            && self.sounding.is_none()
            && reached.0.saturating_sub(silent.0)
                >= frames_in_millis(self.config.silence_stop_ms, rate)
            && reached.0.saturating_sub(from.0) >= frames_in_millis(self.config.min_ms, rate)
        {
            self.stop(id, reached, StopReason::Silence);
        }
    }

    fn stop(&mut self, recording: RecordingId, at: SampleIndex, reason: StopReason) {
        self.push(Effect::Stop {
            recording,
            at,
            reason,
        });
        self.state = State::Idle;
        self.length_ms = 0;
        self.last_after = None;
    }

    fn push(&mut self, effect: Effect) {
        if self.effects.push_back(effect).is_err() {
            self.stats.effects_dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec as StdVec;

    use super::*;

    const RATE: u32 = 1_000; // one frame per ms: sample indices read as ms

    fn planner(silence_stop_ms: u32) -> RecordPlanner {
        RecordPlanner::new(RecordConfig {
            rate_hz: RATE,
            silence_stop_ms,
            min_ms: 5_000,
            silence_threshold_dbfs: -50,
        })
    }

    fn alert(id: u32, at: u64, delay_ms: u32, length_ms: u32) -> Alert {
        Alert {
            id: AlertId(id),
            detected_at: SampleIndex(at),
            delay_ms,
            length_ms,
        }
    }

    /// Runs audio in 20 ms frames from `from` to `to` at `level`,
    /// collecting the effects.
    fn run(p: &mut RecordPlanner, from: u64, to: u64, level: i16, out: &mut StdVec<Effect>) {
        let mut at = from;
        while at < to {
            at = (at + 20).min(to);
            p.handle_audio(SampleIndex(at), level);
            out.extend(core::iter::from_fn(|| p.poll_effect()));
        }
    }

    fn start(id: u32, from: u64) -> Effect {
        Effect::Start {
            recording: RecordingId(id),
            from: SampleIndex(from),
        }
    }

    fn joined(id: u32, alert: u32) -> Effect {
        Effect::Joined {
            recording: RecordingId(id),
            alert: AlertId(alert),
        }
    }

    fn stop(id: u32, at: u64, reason: StopReason) -> Effect {
        Effect::Stop {
            recording: RecordingId(id),
            at: SampleIndex(at),
            reason,
        }
    }

    #[test]
    fn a_page_records_its_length_from_the_delay_after_its_tones_end() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        run(&mut p, 0, 3_000, -10, &mut out);
        p.handle_alert(alert(7, 3_000, 2_000, 30_000));
        run(&mut p, 3_000, 4_200, -10, &mut out);
        assert!(out.is_empty(), "nothing before the tones end: {out:?}");
        assert!(p.is_pending());
        // B ended at 4 s, reported at 4.2 s.
        p.handle_tones_end(SampleIndex(4_000));
        run(&mut p, 4_200, 40_000, -10, &mut out);
        assert_eq!(
            out,
            [
                start(1, 6_000),
                joined(1, 7),
                stop(1, 36_000, StopReason::Length)
            ]
        );
    }

    #[test]
    fn with_no_delay_the_start_lies_in_the_past_and_is_started_at_once() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        p.handle_alert(alert(1, 3_000, 0, 10_000));
        run(&mut p, 0, 4_200, -10, &mut out);
        p.handle_tones_end(SampleIndex(4_000));
        out.extend(core::iter::from_fn(|| p.poll_effect()));
        assert_eq!(out, [start(1, 4_000), joined(1, 1)]);
        assert_eq!(p.recording(), Some(RecordingId(1)));
    }

    #[test]
    fn stacked_pages_make_one_recording_named_by_all_ending_after_the_last() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        // Page 1: alert at 3 s, tones end at 4 s, no delay, 10 s.
        p.handle_alert(alert(1, 3_000, 0, 10_000));
        run(&mut p, 0, 4_200, -10, &mut out);
        p.handle_tones_end(SampleIndex(4_000));
        // Page 2 while recording: alert at 7 s, ends at 8 s, 20 s long.
        run(&mut p, 4_200, 7_000, -10, &mut out);
        p.handle_alert(alert(2, 7_000, 0, 20_000));
        // Page 3 right after: alert at 11 s, ends 12 s, 5 s.
        run(&mut p, 7_000, 11_000, -10, &mut out);
        p.handle_alert(alert(3, 11_000, 0, 5_000));
        run(&mut p, 11_000, 12_200, -10, &mut out);
        p.handle_tones_end(SampleIndex(12_000));
        run(&mut p, 12_200, 60_000, -10, &mut out);
        assert_eq!(
            out,
            [
                start(1, 4_000),
                joined(1, 1),
                joined(1, 2),
                joined(1, 3),
                // The longest length (20 s) after the last page's tones.
                stop(1, 32_000, StopReason::Length),
            ]
        );
        assert_eq!(p.stats().stacked, 2);
    }

    #[test]
    fn a_page_stacked_while_pending_joins_at_the_start() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        p.handle_alert(alert(1, 3_000, 2_000, 10_000));
        run(&mut p, 0, 4_200, -10, &mut out);
        p.handle_tones_end(SampleIndex(4_000));
        p.handle_alert(alert(2, 5_000, 2_000, 10_000));
        run(&mut p, 4_200, 6_400, -10, &mut out);
        p.handle_tones_end(SampleIndex(6_200));
        run(&mut p, 6_400, 30_000, -10, &mut out);
        assert_eq!(
            out,
            [
                start(1, 6_000),
                joined(1, 1),
                joined(1, 2),
                stop(1, 18_200, StopReason::Length)
            ]
        );
    }

    #[test]
    fn silence_stops_early_only_after_the_minimum() {
        let mut p = planner(3_000);
        let mut out = StdVec::new();
        p.handle_alert(alert(1, 1_000, 0, 60_000));
        run(&mut p, 0, 1_200, -10, &mut out);
        p.handle_tones_end(SampleIndex(1_000));
        // Silent from the start: the minimum (5 s) holds it to 6 s.
        run(&mut p, 1_200, 20_000, -70, &mut out);
        assert_eq!(
            out,
            [
                start(1, 1_000),
                joined(1, 1),
                stop(1, 6_000, StopReason::Silence)
            ]
        );
        // Talk, then 2 s of silence, then talk: no stop; then 3 s: stop.
        let mut p = planner(3_000);
        let mut out = StdVec::new();
        p.handle_alert(alert(1, 1_000, 0, 60_000));
        p.handle_tones_end(SampleIndex(1_000));
        run(&mut p, 0, 8_000, -10, &mut out);
        run(&mut p, 8_000, 10_000, -70, &mut out);
        run(&mut p, 10_000, 12_000, -10, &mut out);
        run(&mut p, 12_000, 20_000, -70, &mut out);
        assert_eq!(out.last(), Some(&stop(1, 15_000, StopReason::Silence)));
    }

    #[test]
    fn tones_that_never_end_are_given_up_on() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        p.handle_alert(alert(1, 1_000, 0, 10_000));
        run(&mut p, 0, 30_000, -10, &mut out);
        let wait = u64::from(TONES_END_WAIT_MS);
        assert_eq!(
            out,
            [
                start(1, 1_000 + wait),
                joined(1, 1),
                stop(1, 11_000 + wait, StopReason::Length)
            ]
        );
        assert_eq!(p.stats().tones_end_waits, 1);
    }

    #[test]
    fn shutdown_cuts_a_recording_short_and_drops_a_pending_one() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        p.handle_alert(alert(1, 1_000, 0, 30_000));
        p.handle_tones_end(SampleIndex(1_500));
        run(&mut p, 0, 5_000, -10, &mut out);
        p.handle_shutdown(SampleIndex(5_000));
        out.extend(core::iter::from_fn(|| p.poll_effect()));
        assert_eq!(out.last(), Some(&stop(1, 5_000, StopReason::Shutdown)));
        assert!(StopReason::Shutdown.truncated());

        let mut p = planner(0);
        p.handle_alert(alert(1, 1_000, 2_000, 30_000));
        p.handle_shutdown(SampleIndex(1_200));
        assert_eq!(p.poll_effect(), None);
        assert!(!p.is_pending());
    }

    #[test]
    fn alert_only_pages_and_stray_tone_ends_do_nothing() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        p.handle_alert(alert(1, 1_000, 0, 0));
        p.handle_tones_end(SampleIndex(1_500));
        run(&mut p, 0, 60_000, -10, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_channel_paged_forever_still_gets_bounded_files() {
        let mut p = planner(0);
        let mut out = StdVec::new();
        let mut at = 0u64;
        let mut id = 0;
        while at < 2 * u64::from(RECORDING_MAX_MS) {
            id += 1;
            p.handle_alert(alert(id, at + 1_000, 0, 60_000));
            run(&mut p, at, at + 1_200, -10, &mut out);
            p.handle_tones_end(SampleIndex(at + 1_100));
            run(&mut p, at + 1_200, at + 30_000, -10, &mut out);
            at += 30_000;
        }
        let stops: StdVec<_> = out
            .iter()
            .filter_map(|e| match e {
                Effect::Stop { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect();
        assert!(stops.contains(&StopReason::Limit), "{stops:?}");
        assert!(p.stats().unnamed > 0);
    }
}
