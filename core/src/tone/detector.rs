//! The per-channel detector: device-rate blocks in, [`ToneEvent`]s out.
//!
//! ```text
//! i16/f32 block ─► sanitize ─► Decimator ─► 8 kHz ─┬─► Tracker ─► frames ─► Segmenter ─► runs
//!                                                  └─► DtmfDetector (if on) ─► digits ──┐      │
//!          poll_event() ◄── bounded queue ◄── suppression ◄── two-tone / long / hi-low / finder
//!                                                             ◄── pulsed (frames) ◄─┘
//! ```

use heapless::{Deque, Vec};

use crate::time::{SampleIndex, frames_in_millis};

use super::decimate::{Decimator, RateError};
use super::definition::{Definition, DefinitionIndex, Definitions};
use super::dtmf::{DtmfConfig, DtmfConfigError, DtmfDetector};
use super::event::{Match, Measured, ToneEvent};
use super::finder::Warble;
use super::hi_low::{self, HiLowState};
use super::pulsed::{Cadence, Held, PulseTrain};
use super::runs::Segmenter;
use super::tracker::{FFT_LEN, Frame, HOP_LEN, Tracker};
use super::{MAX_DEFINITIONS, MAX_EVENTS, finder, long_tone, two_tone};

/// Samples converted per step (stack buffers of this many `f32`s).
const CHUNK: usize = 256;
/// A jump forward in the caller's sample index up to this long is taken
/// as lost samples and filled with silence; longer (or backwards) ones
/// restart the detector's tracking.
const MAX_FILL_MS: u32 = 100;
/// Samples beyond ±this are clamped: f32 input may exceed full scale, but
/// not by enough to overflow anything.
const SAMPLE_LIMIT: f32 = 4.0;

/// 8 kHz samples for the tracker and DTMF: sanitized floats, or 16-bit
/// integers converted as they are stored.
#[derive(Debug, Clone, Copy)]
enum Input<'a> {
    F32(&'a [f32]),
    I16(&'a [i16]),
}

impl Input<'_> {
    fn is_empty(&self) -> bool {
        match self {
            Input::F32(x) => x.is_empty(),
            Input::I16(x) => x.is_empty(),
        }
    }

    /// What is left after the first `n` samples.
    fn after(self, n: usize) -> Self {
        match self {
            Input::F32(x) => Input::F32(&x[n..]),
            Input::I16(x) => Input::I16(&x[n..]),
        }
    }
}

/// Counters, for logs and health checks. They only grow (until
/// [`ChannelDetector::reset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectorStats {
    /// Tracker frames analysed (one per 64 ms of audio).
    pub frames: u64,
    /// Events lost because the queue was full: drain with
    /// [`ChannelDetector::poll_event`] after every block.
    pub events_dropped: u64,
    /// Alerts withheld by a definition's `ignore_after_ms`.
    pub duplicates_suppressed: u64,
    /// Blocks that started up to 100 ms after the previous one ended; the
    /// missing frames were filled with silence.
    pub gaps_filled: u64,
    /// Blocks that started elsewhere: tracking restarted there.
    pub discontinuities: u64,
    /// NaN or infinite `f32` samples, replaced by silence.
    pub nonfinite_samples: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct DefinitionState {
    /// The run it last alerted (or was suppressed) on; 0 = none.
    fired_run: u32,
    /// Device frame of its last alert.
    last_alert_at: Option<u64>,
    hi_low: HiLowState,
    pulsed: PulseTrain,
}

/// The tone finder's memory of warbles and pulsed tones (pairs and long
/// tones are marked on the runs themselves).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct FinderState {
    warble: Warble,
    pulses: PulseTrain,
}

/// Listens to one radio channel for every definition of a
/// [`Definitions`] set (and the tone finder, if it is on).
///
/// Sans-IO: feed device-rate blocks with [`process_i16`](Self::process_i16)
/// or [`process_f32`](Self::process_f32), each with the device frame index
/// of its first sample, then drain [`poll_event`](Self::poll_event) until
/// it returns `None`. Blocks may be any length and the events do not
/// depend on how the audio is cut into blocks. The event queue holds
/// [`MAX_EVENTS`]; more than that between drains are dropped and counted
/// in [`DetectorStats::events_dropped`]. Nothing allocates; the whole
/// state is this value (`size_of` is printed by the tests: 53.4 KiB, of
/// it 26 KiB the decimator's coefficient bank and 12 KiB the tracker's
/// sample ring and FFT working memory). `new` designs the filters
/// (up to 2 ms, at 11.025 kHz): build detectors at startup, not on the audio
/// thread.
#[derive(Debug, Clone)]
pub struct ChannelDetector {
    decimator: Decimator,
    tracker: Tracker,
    segmenter: Segmenter,
    /// DTMF on the same 8 kHz samples, when the channel wants digits.
    dtmf: Option<DtmfDetector>,
    /// The DTMF config's `on_ms_min`, for the digits' latency.
    dtmf_on_ms_min: u32,
    definitions: Definitions,
    states: [DefinitionState; MAX_DEFINITIONS],
    finder: FinderState,
    events: Deque<ToneEvent, MAX_EVENTS>,
    stats: DetectorStats,
    /// Where the next block should start, if any block came yet.
    next_start: Option<u64>,
    /// The device frame of this epoch's first sample (an epoch ends at a
    /// discontinuity or reset).
    anchor: u64,
    /// Detection-rate samples produced this epoch.
    produced: u64,
    /// Frames analysed this epoch.
    frame_index: u64,
    /// The run the latest alert (or suppressed alert) fired on, while it
    /// sounds: its end is the page's end.
    sounding: Option<u32>,
    /// Where alerted tones ended, oldest first (see
    /// [`poll_tones_end`](ChannelDetector::poll_tones_end)).
    ends: Deque<SampleIndex, MAX_ENDS>,
}

/// Tone ends queued between drains.
const MAX_ENDS: usize = 4;

impl ChannelDetector {
    /// A detector for audio at `device_rate_hz` listening for
    /// `definitions` (copied in; they are already validated).
    ///
    /// # Errors
    /// A [`RateError`] when the rate cannot be decimated to 8 kHz.
    pub fn new(
        device_rate_hz: u32,
        definitions: &Definitions,
    ) -> Result<ChannelDetector, RateError> {
        Ok(ChannelDetector {
            decimator: Decimator::new(device_rate_hz)?,
            tracker: Tracker::new(),
            segmenter: Segmenter::new(),
            dtmf: None,
            dtmf_on_ms_min: 0,
            definitions: definitions.clone(),
            states: [DefinitionState::default(); MAX_DEFINITIONS],
            finder: FinderState::default(),
            events: Deque::new(),
            stats: DetectorStats::default(),
            next_start: None,
            anchor: 0,
            produced: 0,
            frame_index: 0,
            sounding: None,
            ends: Deque::new(),
        })
    }

    /// The device rate it was built for.
    pub fn device_rate_hz(&self) -> u32 {
        self.decimator.device_rate_hz()
    }

    /// Turns DTMF decoding on with `config`, or off with `None`. Call at
    /// startup, before the first block: a change mid-stream starts the
    /// DTMF decoder afresh.
    ///
    /// # Errors
    /// A [`DtmfConfigError`] naming the field when `config` is out of its
    /// ranges; DTMF is then left as it was.
    pub fn set_dtmf(&mut self, config: Option<&DtmfConfig>) -> Result<(), DtmfConfigError> {
        match config {
            Some(config) => {
                self.dtmf = Some(DtmfDetector::new(config)?);
                self.dtmf_on_ms_min = config.on_ms_min;
            }
            None => self.dtmf = None,
        }
        Ok(())
    }

    /// Whether DTMF decoding is on.
    pub fn dtmf_enabled(&self) -> bool {
        self.dtmf.is_some()
    }

    /// The definitions it listens for.
    pub fn definitions(&self) -> &Definitions {
        &self.definitions
    }

    /// Counters since construction or [`reset`](Self::reset).
    pub fn stats(&self) -> DetectorStats {
        self.stats
    }

    /// Takes a block of 16-bit samples starting at device frame `start`.
    /// Then drain [`poll_event`](Self::poll_event).
    pub fn process_i16(&mut self, start: SampleIndex, block: &[i16]) {
        self.align(start, block.len());
        if self.decimator.is_passthrough() {
            // 8 kHz: converted as the tracker and DTMF store them, no copy.
            self.feed_detection(Input::I16(block));
            return;
        }
        let mut buf = [0.0f32; CHUNK];
        for chunk in block.chunks(CHUNK) {
            for (d, &s) in buf.iter_mut().zip(chunk) {
                *d = super::i16_sample(s);
            }
            self.feed_device(&buf[..chunk.len()]);
        }
    }

    /// Takes a block of float samples (full scale ±1) starting at device
    /// frame `start`. NaN and infinities count as silence (and are
    /// counted); values beyond ±4 are clamped. Then drain
    /// [`poll_event`](Self::poll_event).
    pub fn process_f32(&mut self, start: SampleIndex, block: &[f32]) {
        self.align(start, block.len());
        let mut buf = [0.0f32; CHUNK];
        for chunk in block.chunks(CHUNK) {
            // Branch-free, counted locally, so that it vectorizes.
            let mut bad = 0u32;
            for (d, &s) in buf.iter_mut().zip(chunk) {
                let finite = s.is_finite();
                bad += u32::from(!finite);
                *d = if finite {
                    s.clamp(-SAMPLE_LIMIT, SAMPLE_LIMIT)
                } else {
                    0.0
                };
            }
            self.stats.nonfinite_samples += u64::from(bad);
            self.feed_device(&buf[..chunk.len()]);
        }
    }

    /// Feeds enough silence after the last block that every tone already
    /// heard is fully analysed: for the end of a file (offline detection).
    /// Live capture never needs it.
    pub fn flush(&mut self) {
        let Some(next) = self.next_start else { return };
        let (up, down) = self.decimator.ratio();
        let len = ((FFT_LEN + HOP_LEN) as u64 * down as u64).div_ceil(up as u64)
            + self.decimator.settle_frames();
        let zeros = [0.0f32; CHUNK];
        let mut at = next;
        let end = next.saturating_add(len);
        while at < end {
            let n = (end - at).min(CHUNK as u64);
            self.process_f32(SampleIndex(at), &zeros[..n as usize]);
            at += n;
        }
    }

    /// The next event, oldest first; `None` when drained.
    pub fn poll_event(&mut self) -> Option<ToneEvent> {
        self.events.pop_front()
    }

    /// Where the tone that completed an alert stopped sounding, oldest
    /// first; `None` when drained. A page's dispatch audio starts after
    /// its last tone, which may go on well past the alert (an alert fires
    /// when tone B reaches its minimum, a long tone when it reaches its
    /// length). Reported once the tone has been gone for the segmenter's
    /// hole bridging (about 200 ms of audio later), for the tone of the
    /// latest alert only (for a hi-low alert, the tone it fired on: a
    /// warble going on past it is dispatch audio's problem, not the
    /// recording's start). A tone cut short by a discontinuity in
    /// the caller's sample index ends there. Drain after every block, like
    /// [`poll_event`](Self::poll_event); more than four between drains
    /// drop the oldest.
    pub fn poll_tones_end(&mut self) -> Option<SampleIndex> {
        self.ends.pop_front()
    }

    /// Back to the state right after [`new`](Self::new): no audio heard,
    /// no events queued, no duplicate suppression pending, counters zero.
    pub fn reset(&mut self) {
        self.restart(0);
        self.states = [DefinitionState::default(); MAX_DEFINITIONS];
        self.events.clear();
        self.ends.clear();
        self.sounding = None;
        self.stats = DetectorStats::default();
        self.next_start = None;
    }

    /// Forgets the audio (not the definitions' suppression memory, the
    /// queue or the counters) and starts a new epoch at `anchor`.
    fn restart(&mut self, anchor: u64) {
        if self.sounding.take().is_some() {
            // The tone cannot be followed across the break: it ends here.
            let end = self.device_at(self.produced as i64);
            self.push_end(end);
        }
        self.decimator.reset();
        self.tracker.reset();
        self.segmenter.reset();
        if let Some(dtmf) = &mut self.dtmf {
            dtmf.reset();
        }
        for state in &mut self.states {
            state.fired_run = 0;
            state.hi_low = HiLowState::default();
            state.pulsed = PulseTrain::default();
        }
        self.finder = FinderState::default();
        self.anchor = anchor;
        self.produced = 0;
        self.frame_index = 0;
    }

    /// Checks that a block continues the previous one.
    fn align(&mut self, start: SampleIndex, len: usize) {
        match self.next_start {
            None => self.anchor = start.0,
            Some(expected) if start.0 == expected => {}
            Some(expected)
                if start.0 > expected
                    && start.0 - expected
                        <= frames_in_millis(MAX_FILL_MS, self.device_rate_hz()) =>
            {
                self.stats.gaps_filled += 1;
                let zeros = [0.0f32; CHUNK];
                let mut missing = start.0 - expected;
                while missing > 0 {
                    let n = missing.min(CHUNK as u64) as usize;
                    self.feed_device(&zeros[..n]);
                    missing -= n as u64;
                }
            }
            Some(expected) => {
                self.stats.discontinuities += 1;
                if start.0 < expected {
                    // The clock went back: old alert times mean nothing.
                    for state in &mut self.states {
                        state.last_alert_at = None;
                    }
                }
                self.restart(start.0);
            }
        }
        self.next_start = Some(start.0.saturating_add(len as u64));
    }

    /// Sanitized device-rate samples in.
    fn feed_device(&mut self, samples: &[f32]) {
        if self.decimator.is_passthrough() {
            // 8 kHz in: nothing to filter, no copy.
            self.feed_detection(Input::F32(samples));
            return;
        }
        let mut rest = samples;
        let mut out = [0.0f32; CHUNK];
        while !rest.is_empty() {
            let (consumed, produced) = self.decimator.process(rest, &mut out);
            rest = &rest[consumed..];
            self.feed_detection(Input::F32(&out[..produced]));
        }
    }

    /// 8 kHz samples in.
    fn feed_detection(&mut self, samples: Input<'_>) {
        if self.dtmf.is_some() {
            self.feed_dtmf(samples);
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let (taken, frame) = match rest {
                Input::F32(x) => self.tracker.push(x),
                Input::I16(x) => self.tracker.push_i16(x),
            };
            rest = rest.after(taken);
            self.produced += taken as u64;
            if let Some(frame) = frame {
                self.on_frame(&frame);
            }
        }
    }

    /// Runs the DTMF decoder over the same 8 kHz samples (the first is
    /// detection-rate sample `self.produced` of this epoch) and queues its
    /// digits as events.
    fn feed_dtmf(&mut self, samples: Input<'_>) {
        let Some(dtmf) = &mut self.dtmf else { return };
        match samples {
            // Within range by construction.
            Input::I16(x) => dtmf.process_i16(self.produced, x),
            // The sanitized device samples themselves.
            Input::F32(x) if self.decimator.is_passthrough() => {
                dtmf.process_sanitized(self.produced, x);
            }
            // Filtered: within range in practice, but clamped all the same.
            Input::F32(x) => dtmf.process(self.produced, x),
        }
        let rate = self.decimator.device_rate_hz() as u64;
        let on_min = frames_in_millis(self.dtmf_on_ms_min, super::DETECTION_RATE_HZ);
        while let Some(digit) = self.dtmf.as_mut().and_then(DtmfDetector::poll_event) {
            let start = self.device_at(digit.start as i64);
            let end = self.device_at(digit.end as i64);
            let met = self.device_at(digit.start.saturating_add(on_min) as i64);
            let event = ToneEvent {
                definition: None,
                measured: Measured::Dtmf {
                    digit: digit.digit,
                    low_hz: digit.low_hz,
                    high_hz: digit.high_hz,
                    twist_db: digit.twist_db,
                },
                start,
                end,
                detected_at: end,
                latency_ms: (end.0.saturating_sub(met.0) * 1_000 / rate).min(u32::MAX as u64)
                    as u32,
            };
            if self.events.push_back(event).is_err() {
                self.stats.events_dropped += 1;
            }
        }
    }

    fn on_frame(&mut self, frame: &Frame) {
        self.frame_index += 1;
        self.stats.frames += 1;
        let index = self.frame_index;
        let closed = self.segmenter.step(index, frame);
        if let Some(run) = &closed
            && self.sounding == Some(run.id)
        {
            self.sounding = None;
            let end = self.device_at(run.end_pos());
            self.push_end(end);
        }
        let finder_on = self.definitions.finder().is_some();
        if let Some(run) = &closed {
            for (def, state) in self.definitions.as_slice().iter().zip(&mut self.states) {
                if let Definition::HiLow(d) = def {
                    hi_low::on_close(d, &mut state.hi_low, run);
                }
            }
            if finder_on {
                self.finder.warble.on_close(run);
            }
        }
        let (current, history) = self.segmenter.parts_mut();
        let held = current.as_deref().and_then(|run| Held::by(run, index));
        let mut found: Vec<(Option<DefinitionIndex>, Match), { MAX_DEFINITIONS + 3 }> = Vec::new();
        let mut sounding = None;
        for ((index, def), state) in self.definitions.iter().zip(&mut self.states) {
            let verdict = match def {
                // Pulses are followed on frames, whether or not a run
                // is sounding.
                Definition::Pulsed(d) => {
                    let verdict = state
                        .pulsed
                        .step(&Cadence::of(d), self.frame_index, frame, held);
                    if verdict.is_some()
                        && let Some(run) = current.as_deref().filter(|_| held.is_some())
                    {
                        // The pulse it fired on.
                        sounding = Some(run.id);
                    }
                    verdict
                }
                _ => {
                    let Some(current) = current.as_deref() else {
                        continue;
                    };
                    if state.fired_run == current.id {
                        continue;
                    }
                    let verdict = match def {
                        Definition::TwoTone(d) => two_tone::check(d, current, history),
                        Definition::LongTone(d) => long_tone::check(d, current),
                        Definition::HiLow(d) => hi_low::check(d, &mut state.hi_low, current),
                        Definition::Pulsed(_) => None,
                    };
                    if verdict.is_some() {
                        state.fired_run = current.id;
                        sounding = Some(current.id);
                    }
                    verdict
                }
            };
            if let Some(m) = verdict {
                // Cannot fail: one entry per definition plus the finder's
                // three.
                let _ = found.push((Some(index), m));
            }
        }
        if sounding.is_some() {
            self.sounding = sounding;
        }
        if let Some(cfg) = self.definitions.finder() {
            let cadence = Cadence::finder(cfg.min_pulses);
            let pulsed = self
                .finder
                .pulses
                .step(&cadence, self.frame_index, frame, held);
            let (warble, pair_or_long) = match current {
                Some(current) => (
                    self.finder.warble.check(cfg, current),
                    finder::check(cfg, current, history),
                ),
                None => (None, None),
            };
            for m in [pulsed, warble, pair_or_long].into_iter().flatten() {
                let _ = found.push((None, m));
            }
        }
        // By reference: moving the whole fixed-capacity list out would
        // copy every slot, every frame, even when it is empty.
        for (index, m) in &found {
            self.emit(*index, m);
        }
    }

    fn emit(&mut self, index: Option<DefinitionIndex>, m: &Match) {
        let rate = self.device_rate_hz();
        let detected_at = self
            .anchor
            .saturating_add(self.decimator.inputs_for_outputs(self.produced));
        if let Some(index) = index {
            let ignore_ms = self.definitions.ignore_after_ms(index.get());
            let state = &mut self.states[index.get()];
            let window = frames_in_millis(ignore_ms, rate);
            if state
                .last_alert_at
                .is_some_and(|last| detected_at.saturating_sub(last) < window)
            {
                self.stats.duplicates_suppressed += 1;
                return;
            }
            state.last_alert_at = Some(detected_at);
        }
        let met = self.device_at(m.met_pos);
        let late_frames = detected_at.saturating_sub(met.0);
        let event = ToneEvent {
            definition: index,
            measured: m.measured,
            start: self.device_at(m.start_pos),
            end: self.device_at(m.end_pos),
            detected_at: SampleIndex(detected_at),
            latency_ms: (late_frames * 1_000 / rate as u64).min(u32::MAX as u64) as u32,
        };
        if self.events.push_back(event).is_err() {
            self.stats.events_dropped += 1;
        }
    }

    fn push_end(&mut self, end: SampleIndex) {
        if self.ends.is_full() {
            self.ends.pop_front();
        }
        // Cannot fail: room was made.
        let _ = self.ends.push_back(end);
    }

    /// The device frame a detection-rate position of this epoch stands
    /// for (not before the epoch's start).
    fn device_at(&self, pos: i64) -> SampleIndex {
        let offset = self.decimator.device_offset(pos).max(0) as u64;
        SampleIndex(self.anchor.saturating_add(offset))
    }
}
