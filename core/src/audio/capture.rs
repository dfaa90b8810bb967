//! One channel's capture side: [`Capture`], and what it hands out.

use core::ops::DerefMut;

use crate::level::{Vox, VoxConfig, VoxConfigError, VoxEdge};
use crate::ptt::Timers;
use crate::time::SampleIndex;
use crate::tone::ChannelDetector;
use crate::tone::dtmf::DtmfSequencer;

use super::codec::Encoder;
use super::framer::{CodedFrame, FrameKind, Framer};
use super::{Heard, LEVEL_FLOOR_DBFS, level_dbfs};

/// Where the channel's opening comes from, as configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GateSource {
    /// Always open (a scanner feed, a permanently open receiver).
    Always,
    /// The receiver's COR line: the node engine opens the channel from the
    /// line and says when it wants packets; the audio side calls no frame
    /// active by itself.
    CorLine,
    /// Voice-operated at this RMS level, with the channel's COR timers as
    /// its debounce and hang.
    Vox {
        /// The opening level, dBFS.
        threshold_dbfs: f32,
    },
}

/// What the channel's own audio says about its activity.
#[derive(Debug)]
pub enum Gate {
    /// Always active.
    Always,
    /// Never active by itself: a COR line (read by the node engine)
    /// decides.
    Line,
    /// Voice-operated.
    Vox(Vox),
}

impl Gate {
    /// The gate for `source` on a channel at `rate_hz` with `timers`: a
    /// VOX debounces by `cor_debounce_ms` and hangs by `cor_hang_ms`, as a
    /// COR line would.
    ///
    /// # Errors
    ///
    /// A VOX setting [`Vox::new`] refuses.
    pub fn new(source: GateSource, rate_hz: u32, timers: &Timers) -> Result<Gate, VoxConfigError> {
        match source {
            GateSource::Always => Ok(Gate::Always),
            GateSource::CorLine => Ok(Gate::Line),
            GateSource::Vox { threshold_dbfs } => Vox::new(VoxConfig {
                rate_hz,
                threshold_dbfs,
                debounce_ms: timers.cor_debounce_ms,
                hang_ms: timers.cor_hang_ms,
            })
            .map(Gate::Vox),
        }
    }
}

/// A channel's tone detector and, with DTMF sequences on, its sequencer.
#[derive(Debug)]
pub struct Detection<D> {
    /// The detector (anything that derefs to one: a `Box` keeps its
    /// tables off the thread's stack).
    pub detector: D,
    /// Gathers DTMF digits into codes.
    pub sequencer: Option<DtmfSequencer>,
}

/// Where a [`Capture`] hands what it makes. Called before
/// [`Capture::push_block`] or [`Capture::finish`] returns; an
/// implementation pushes into a bounded queue and counts what a full one
/// drops.
pub trait CaptureSink {
    /// A frame for the network turn: every frame, marked, coded or not
    /// ([`FrameKind`](super::FrameKind)); late packets of uncoded ones; an
    /// end-of-transmission marker only from [`Capture::finish`].
    fn frame(&mut self, frame: &CodedFrame<'_>);
    /// A detection for the network turn.
    fn heard(&mut self, heard: Heard);
}

/// What a [`Capture`] has counted (the framer counts its own:
/// [`Capture::framer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaptureStats {
    /// Times the VOX opened.
    pub vox_openings: u64,
    /// Detections handed to the sink.
    pub detections: u64,
}

/// One channel's capture side, period by period: the tone
/// detector first, then the channel's own gate (VOX, "always", or a COR
/// line the engine reads), then the [`Framer`], every frame marked for the
/// node engine.
///
/// ```text
/// period ─► detector (+ DTMF sequencer) ─► sink.heard(..)       (whatever the gate says)
///        ─► gate: VOX, "always" or a line ─► active
///        ─► level ─► Framer (+ codec if active or wanted) ─► sink.frame(..)   (every frame, marked)
/// returns: wake the network now? (active or wanted, was so, or a detection came)
/// ```
///
/// Whether a frame is sent is not decided here: the node engine keeps the
/// pre-roll and opens the channel from this verdict and its other sources
/// (the COR line, tone-triggered passthrough), and says whether it wants
/// the channel's packets ([`Node::wants_packets`](crate::node::Node::wants_packets)).
/// The codec runs only while the channel's own gate is open or the engine
/// wants packets: coding is most of a quiet channel's cost. Meanwhile the
/// framer keeps the last frames uncoded (the pre-roll) and codes them
/// first when coding starts, so the first syllable still goes out. Quiet
/// frames need not wake the network, which takes them on its next turn
/// (at most [`IDLE_MAX`](crate::node::IDLE_MAX) later).
///
/// # Contract
///
/// Sans-IO: [`Capture::push_block`] takes one period with its first
/// sample's [`SampleIndex`] and whether the engine wants packets;
/// everything it makes goes to the caller's [`CaptureSink`] before it
/// returns, and its answer says whether the network should take it now.
/// [`Capture::finish`] ends the capture side's audio. Nothing allocates;
/// the detector lives wherever the caller keeps it (`D` derefs to it: a
/// `Box` on the platform), and so does the framer's backlog (`B`).
#[derive(Debug)]
pub struct Capture<E, D, B = [i16; 0]> {
    gate: Gate,
    framer: Framer<E, B>,
    detection: Option<Detection<D>>,
    /// The verdict on the last block.
    active: bool,
    /// The last block was coded (active or wanted).
    coding: bool,
    /// The loudest period since the last frame, dBFS.
    level_dbfs: i16,
    stats: CaptureStats,
}

impl<E, D, B> Capture<E, D, B>
where
    E: Encoder,
    D: DerefMut<Target = ChannelDetector>,
    B: AsRef<[i16]> + AsMut<[i16]>,
{
    /// A capture side behind `gate`, coding with `framer`, detecting
    /// nothing (see [`set_detection`](Self::set_detection)).
    pub fn new(gate: Gate, framer: Framer<E, B>) -> Capture<E, D, B> {
        Capture {
            active: matches!(gate, Gate::Always),
            coding: false,
            gate,
            framer,
            detection: None,
            level_dbfs: LEVEL_FLOOR_DBFS,
            stats: CaptureStats::default(),
        }
    }

    /// Runs `detection` on every block from now on.
    pub fn set_detection(&mut self, detection: Detection<D>) {
        self.detection = Some(detection);
    }

    /// Whether the channel's own audio calls it active.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// What has been counted.
    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// The framer (its counters, its encoder).
    pub fn framer(&self) -> &Framer<E, B> {
        &self.framer
    }

    /// The framer, to change its encoder's settings between frames.
    pub fn framer_mut(&mut self) -> &mut Framer<E, B> {
        &mut self.framer
    }

    /// One captured period, whose first sample is `index`: detections and
    /// frames go to `sink`, coded if the channel's own gate is open or the
    /// engine `wanted` its packets. Returns whether the network should take
    /// them now: the channel is active or coding, was so until this
    /// period, or a detection came (a page on a quiet channel is still a
    /// page).
    pub fn push_block(
        &mut self,
        index: SampleIndex,
        samples: &[i16],
        wanted: bool,
        sink: &mut impl CaptureSink,
    ) -> bool {
        let reached = SampleIndex(index.0 + samples.len() as u64);
        let detected = self.detect(index, samples, reached, sink);
        if let Gate::Vox(vox) = &mut self.gate {
            if vox.push_block(index, samples) == Some(VoxEdge::Opened) {
                self.stats.vox_openings += 1;
            }
            self.active = vox.is_open();
        }
        self.level_dbfs = self.level_dbfs.max(level_dbfs(samples));
        let was_coding = self.coding;
        self.coding = self.active || wanted;
        let Capture {
            framer,
            active,
            level_dbfs,
            coding,
            ..
        } = self;
        framer.push_gated(samples, *coding, &mut |frame| {
            if frame.kind == FrameKind::Late {
                // Its marks went out with it, uncoded.
                sink.frame(frame);
                return;
            }
            let marked = CodedFrame {
                active: *active,
                reached,
                level_dbfs: core::mem::replace(level_dbfs, LEVEL_FLOOR_DBFS),
                ..*frame
            };
            sink.frame(&marked);
        });
        self.coding || was_coding || detected
    }

    /// The source ended or the node stops: a DTMF code still gathering is
    /// reported (a code when the audio ends is a code), the partial frame
    /// is dropped and the end marker goes out with the media time the next
    /// frame would have had, so that an open talk-spurt is ended properly
    /// and nobody's speaker or transmitter hangs on it. The network should
    /// take it now.
    pub fn finish(&mut self, sink: &mut impl CaptureSink) {
        self.active = false;
        self.coding = false;
        if let Some(sequence) = self
            .detection
            .as_mut()
            .and_then(|d| d.sequencer.as_mut())
            .and_then(DtmfSequencer::flush)
        {
            self.stats.detections += 1;
            sink.heard(Heard::Sequence(sequence));
        }
        self.framer.end_talkspurt(&mut |end| sink.frame(end));
    }

    /// Runs the detector on the block; returns whether it heard something.
    fn detect(
        &mut self,
        index: SampleIndex,
        samples: &[i16],
        reached: SampleIndex,
        sink: &mut impl CaptureSink,
    ) -> bool {
        let Some(detection) = &mut self.detection else {
            return false;
        };
        let before = self.stats.detections;
        let detector = &mut *detection.detector;
        detector.process_i16(index, samples);
        while let Some(event) = detector.poll_event() {
            if let Some(sequencer) = &mut detection.sequencer {
                sequencer.push(&event);
            }
            self.stats.detections += 1;
            sink.heard(Heard::Tone(event));
        }
        while let Some(end) = detector.poll_tones_end() {
            self.stats.detections += 1;
            sink.heard(Heard::TonesEnd(end));
        }
        if let Some(sequence) = detection.sequencer.as_mut().and_then(|s| s.poll(reached)) {
            self.stats.detections += 1;
            sink.heard(Heard::Sequence(sequence));
        }
        self.stats.detections > before
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Tagger, tone};
    use super::*;
    use crate::wire::{MediaTimestamp, Seq};

    /// Frames as (timestamp, active, reached, level, kind) and detections.
    struct Sink {
        frames: [(u32, bool, u64, i16, FrameKind); 64],
        len: usize,
        heard: usize,
    }

    impl Default for Sink {
        fn default() -> Sink {
            Sink {
                frames: [(0, false, 0, 0, FrameKind::End); 64],
                len: 0,
                heard: 0,
            }
        }
    }

    impl CaptureSink for Sink {
        fn frame(&mut self, f: &CodedFrame<'_>) {
            self.frames[self.len] = (f.timestamp.0, f.active, f.reached.0, f.level_dbfs, f.kind);
            self.len += 1;
        }
        fn heard(&mut self, _: Heard) {
            self.heard += 1;
        }
    }

    type TestCapture = Capture<Tagger, &'static mut ChannelDetector>;

    fn vox_capture() -> TestCapture {
        vox_capture_with(Framer::new(Tagger::new(960), Seq(0), MediaTimestamp(0)))
    }

    fn vox_capture_with<B: AsRef<[i16]> + AsMut<[i16]>>(
        framer: Framer<Tagger, B>,
    ) -> Capture<Tagger, &'static mut ChannelDetector, B> {
        let gate = Gate::new(
            GateSource::Vox {
                threshold_dbfs: -40.0,
            },
            48_000,
            &Timers {
                cor_debounce_ms: 20,
                cor_hang_ms: 100,
                ..Timers::DEFAULT
            },
        )
        .expect("a VOX");
        Capture::new(gate, framer)
    }

    /// Feeds `periods` periods of 240 samples of a 1 kHz tone at
    /// `amplitude`; returns how many asked to wake the network.
    fn feed<B: AsRef<[i16]> + AsMut<[i16]>>(
        capture: &mut Capture<Tagger, &'static mut ChannelDetector, B>,
        sink: &mut Sink,
        at: &mut u64,
        periods: usize,
        amplitude: f32,
    ) -> usize {
        let mut wakes = 0;
        let mut block = [0i16; 240];
        for _ in 0..periods {
            tone(&mut block, *at, amplitude);
            wakes += usize::from(capture.push_block(SampleIndex(*at), &block, false, sink));
            *at += 240;
        }
        wakes
    }

    #[test]
    fn every_frame_goes_out_marked_by_the_vox_and_quiet_does_not_wake() {
        let mut capture = vox_capture();
        let mut sink = Sink::default();
        let mut at = 0;
        assert_eq!(
            feed(&mut capture, &mut sink, &mut at, 80, 0.0),
            0,
            "quiet frames wait"
        );
        assert_eq!(sink.len, 20);
        assert!(sink.frames[..20].iter().all(|f| !f.1));
        assert_eq!(sink.frames[0].3, LEVEL_FLOOR_DBFS, "digital silence");
        assert!(feed(&mut capture, &mut sink, &mut at, 40, 0.3) > 0);
        assert_eq!(sink.len, 30);
        assert!(capture.is_active());
        assert!(sink.frames[29].1, "the VOX opened");
        assert_eq!(sink.frames[29].3, -13, "0.3 of full scale, RMS");
        for pair in sink.frames[..30].windows(2) {
            assert_eq!(pair[1].0, pair[0].0 + 960, "consecutive media");
            assert_eq!(pair[1].2, pair[0].2 + 960, "reached: the period's end");
        }
        assert_eq!(capture.stats().vox_openings, 1);
    }

    #[test]
    fn the_network_is_woken_once_more_after_the_channel_closes() {
        let mut capture = vox_capture();
        let mut sink = Sink::default();
        let mut at = 0;
        feed(&mut capture, &mut sink, &mut at, 40, 0.3);
        let mut wakes = [false; 40];
        let mut block = [0i16; 240];
        for wake in &mut wakes {
            *wake = capture.push_block(SampleIndex(at), &block, false, &mut sink);
            at += 240;
            block.fill(0);
        }
        let last = wakes.iter().rposition(|&w| w).expect("woken while hanging");
        assert!(!capture.is_active());
        assert!(wakes[..=last].iter().all(|&w| w), "woken until it closed");
        assert!(wakes[last + 1..].iter().all(|&w| !w), "then quiet again");
    }

    #[test]
    fn finishing_sends_an_end_marker_at_the_next_media_time() {
        let mut capture = vox_capture();
        let mut sink = Sink::default();
        let mut at = 0;
        feed(&mut capture, &mut sink, &mut at, 42, 0.3);
        let last = sink.frames[sink.len - 1].0;
        capture.finish(&mut sink);
        let end = sink.frames[sink.len - 1];
        assert_eq!(end.4, FrameKind::End);
        assert_eq!(
            end.0,
            last + 960,
            "the end takes the next frame's media time"
        );
        assert!(!capture.is_active());
    }

    #[test]
    fn an_always_channel_is_active_and_codes_every_frame() {
        let gate = Gate::new(GateSource::Always, 48_000, &Timers::DEFAULT).expect("no VOX");
        let mut capture: TestCapture = Capture::new(
            gate,
            Framer::new(Tagger::new(960), Seq(0), MediaTimestamp(0)),
        );
        let mut sink = Sink::default();
        assert!(capture.push_block(SampleIndex(0), &[0; 960], false, &mut sink));
        assert!(sink.frames[0].1, "silence is active");
        assert_eq!(sink.frames[0].4, FrameKind::Coded);
    }

    #[test]
    fn a_quiet_vox_channel_codes_nothing_until_it_opens_and_then_its_preroll_first() {
        let mut capture = vox_capture_with(Framer::with_backlog(
            Tagger::new(960),
            Seq(0),
            MediaTimestamp(0),
            [0; 3 * 960],
        ));
        let mut sink = Sink::default();
        let mut at = 0;
        feed(&mut capture, &mut sink, &mut at, 40, 0.0);
        assert_eq!(sink.len, 10);
        assert!(sink.frames[..10].iter().all(|f| f.4 == FrameKind::Uncoded));
        assert_eq!(capture.framer().stats().frames, 0, "no frame coded");
        feed(&mut capture, &mut sink, &mut at, 40, 0.3);
        let packets = || {
            sink.frames[..sink.len]
                .iter()
                .filter(|f| matches!(f.4, FrameKind::Coded | FrameKind::Late))
        };
        let first = packets().next().expect("coded once open");
        assert_eq!(first.4, FrameKind::Late, "the pre-roll comes first");
        assert_eq!(first.0, 7 * 960, "the last three quiet frames");
        let mut last = first.0;
        for packet in packets().skip(1) {
            assert_eq!(packet.0, last + 960, "every frame once, in media order");
            last = packet.0;
        }
        assert_eq!(last, 19 * 960, "up to the newest frame");
        assert_eq!(capture.framer().stats().late_frames, 3);
    }

    #[test]
    fn a_cor_line_channel_codes_only_while_the_engine_wants_its_packets() {
        let gate = Gate::new(GateSource::CorLine, 48_000, &Timers::DEFAULT).expect("no VOX");
        let mut capture: Capture<Tagger, &'static mut ChannelDetector, [i16; 2 * 960]> =
            Capture::new(
                gate,
                Framer::with_backlog(Tagger::new(960), Seq(0), MediaTimestamp(0), [0; 2 * 960]),
            );
        let mut sink = Sink::default();
        let loud = [9_000i16; 240];
        let mut at = 0;
        let mut push = |capture: &mut Capture<_, _, _>, sink: &mut Sink, wanted: bool| {
            let wake = capture.push_block(SampleIndex(at), &loud, wanted, sink);
            at += 240;
            wake
        };
        for _ in 0..12 {
            assert!(!push(&mut capture, &mut sink, false), "quiet frames wait");
        }
        assert!(!capture.is_active(), "the line decides, not the audio");
        assert_eq!(capture.framer().stats().frames, 0);
        assert!(push(&mut capture, &mut sink, true), "wanted: woken");
        assert_eq!(
            capture.framer().stats().late_frames,
            2,
            "the pre-roll at once"
        );
        for _ in 0..7 {
            assert!(push(&mut capture, &mut sink, true));
        }
        assert_eq!(
            capture.framer().stats().frames,
            4,
            "two late, two as they came"
        );
        assert!(push(&mut capture, &mut sink, false), "woken once more");
        assert!(!push(&mut capture, &mut sink, false));
        assert!(sink.frames[..sink.len].iter().all(|f| !f.1), "never active");
    }
}
