//! One channel's capture side, as `platform-linux/src/runtime/capture.rs`
//! runs it on its thread: each period goes to the tone detector (and its
//! DTMF sequencer), the VOX (or "always"), and the framer, which makes one
//! coded frame per 20 ms with its media time, marked active or not; frames
//! and detections wait in bounded queues of the platform's ring sizes for
//! the node's network turn.
//!
//! Copied decisions (see the world's TODO list): the framer is
//! `audio/pipeline.rs`'s `Packetizer` with the stand-in codec; the gate
//! and the frame marking are `ChannelCapture::push_block`; `level_dbfs`
//! is `pipeline.rs`'s.

use std::collections::VecDeque;

use echostream_core::level::Vox;
use echostream_core::time::SampleIndex;
use echostream_core::tone::dtmf::{DtmfSequence, DtmfSequencer};
use echostream_core::tone::{ChannelDetector, ToneEvent};
use echostream_core::wire::MediaTimestamp;

use super::codec::{self, FRAME_BYTES, FRAME_SAMPLES};
use super::source::Source;

/// Frames the capture → network queue holds (`FRAME_RING_FRAMES`).
pub const FRAME_QUEUE_LEN: usize = 64;
/// Detections the capture → network queue holds (`TONE_RING_EVENTS`).
pub const TONE_QUEUE_LEN: usize = 64;
/// The level reported for digital silence (`LEVEL_FLOOR_DBFS`).
pub const LEVEL_FLOOR_DBFS: i16 = -120;

/// The RMS level of `samples`, dBFS, rounded (`pipeline::level_dbfs`).
pub fn level_dbfs(samples: &[i16]) -> i16 {
    if samples.is_empty() {
        return LEVEL_FLOOR_DBFS;
    }
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / samples.len() as f64).sqrt() / 32_768.0;
    if rms <= 0.0 {
        return LEVEL_FLOOR_DBFS;
    }
    (20.0 * rms.log10())
        .round()
        .max(f64::from(LEVEL_FLOOR_DBFS)) as i16
}

/// What the channel's own audio says about its activity.
#[derive(Debug)]
pub enum Gate {
    /// Always active (also a channel whose COR is a line: the engine opens
    /// it from the line).
    Always,
    /// Voice-operated.
    Vox(Box<Vox>),
}

/// What a channel's detector heard, for the network turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Heard {
    /// A page or a DTMF digit.
    Tone(ToneEvent),
    /// DTMF digits that ended a sequence.
    Sequence(DtmfSequence),
    /// The latest page's tone stopped here.
    TonesEnd(SampleIndex),
}

/// One frame for the network turn.
#[derive(Debug, Clone)]
pub struct CapturedFrame {
    /// Its media time.
    pub timestamp: MediaTimestamp,
    /// The coded frame; empty for the end of the capture side's audio.
    pub payload: Vec<u8>,
    /// The channel's own sources call it active.
    pub active: bool,
    /// The device frame just past the audio heard.
    pub reached: SampleIndex,
    /// The loudest period's level in it.
    pub level_dbfs: i16,
}

/// What the capture side counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Periods captured.
    pub periods: u64,
    /// Frames queued for the network.
    pub frames: u64,
    /// Frames dropped: the queue was full.
    pub frames_dropped: u64,
    /// Detections queued.
    pub detections: u64,
    /// Detections dropped: the queue was full.
    pub detections_dropped: u64,
}

/// One channel's capture side. See the [module docs](self).
#[derive(Debug)]
pub struct Capture {
    /// The virtual sound card.
    pub source: Source,
    gate: Gate,
    detector: Option<(Box<ChannelDetector>, Option<DtmfSequencer>)>,
    /// Device samples per period.
    pub period_frames: usize,
    /// The next period's first sample.
    pub next_sample: u64,
    /// Frames waiting for the network turn.
    pub frames: VecDeque<CapturedFrame>,
    /// Detections waiting for the network turn.
    pub heard: VecDeque<Heard>,
    pcm: Box<[i16; FRAME_SAMPLES]>,
    filled: usize,
    timestamp: u32,
    active: bool,
    level_dbfs: i16,
    block: Vec<i16>,
    /// Whether the source ended (the end was queued).
    pub finished: bool,
    /// What it counted.
    pub stats: CaptureStats,
}

impl Capture {
    /// A capture side reading `source` in periods of `period_frames`,
    /// whose first frame has media time `first_timestamp`.
    pub fn new(
        source: Source,
        gate: Gate,
        detector: Option<(Box<ChannelDetector>, Option<DtmfSequencer>)>,
        period_frames: usize,
        first_timestamp: u32,
    ) -> Capture {
        Capture {
            active: matches!(gate, Gate::Always),
            source,
            gate,
            detector,
            period_frames,
            next_sample: 0,
            frames: VecDeque::with_capacity(FRAME_QUEUE_LEN),
            heard: VecDeque::with_capacity(TONE_QUEUE_LEN),
            pcm: Box::new([0; FRAME_SAMPLES]),
            filled: 0,
            timestamp: first_timestamp,
            level_dbfs: LEVEL_FLOOR_DBFS,
            block: vec![0; period_frames],
            finished: false,
            stats: CaptureStats::default(),
        }
    }

    /// Captures the next period; returns whether the network turn should
    /// be woken now (the channel is or was active, or a detection came),
    /// as `ChannelCapture::push_block` wakes the network thread.
    pub fn period(&mut self) -> bool {
        let start = self.next_sample;
        let mut block = std::mem::take(&mut self.block);
        self.source.fill(start, &mut block);
        self.next_sample += block.len() as u64;
        self.stats.periods += 1;
        let index = SampleIndex(start);
        let detected = self.detect(index, &block);
        let was_active = self.active;
        if let Gate::Vox(vox) = &mut self.gate {
            vox.push_block(index, &block);
            self.active = vox.is_open();
        }
        self.level_dbfs = self.level_dbfs.max(level_dbfs(&block));
        let reached = SampleIndex(self.next_sample);
        let mut rest = &block[..];
        while !rest.is_empty() {
            let take = (FRAME_SAMPLES - self.filled).min(rest.len());
            self.pcm[self.filled..self.filled + take].copy_from_slice(&rest[..take]);
            self.filled += take;
            rest = &rest[take..];
            if self.filled == FRAME_SAMPLES {
                self.filled = 0;
                self.encode(reached);
            }
        }
        self.block = block;
        self.active || was_active || detected
    }

    fn encode(&mut self, reached: SampleIndex) {
        let mut payload = [0u8; FRAME_BYTES];
        codec::encode(&self.pcm, &mut payload);
        let frame = CapturedFrame {
            timestamp: MediaTimestamp(self.timestamp),
            payload: payload.to_vec(),
            active: self.active,
            reached,
            level_dbfs: std::mem::replace(&mut self.level_dbfs, LEVEL_FLOOR_DBFS),
        };
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        self.push_frame(frame);
    }

    fn push_frame(&mut self, frame: CapturedFrame) {
        if self.frames.len() < FRAME_QUEUE_LEN {
            self.frames.push_back(frame);
            self.stats.frames += 1;
        } else {
            self.stats.frames_dropped += 1;
        }
    }

    fn push_heard(&mut self, heard: Heard) {
        push_heard(&mut self.heard, &mut self.stats, heard);
    }

    fn detect(&mut self, index: SampleIndex, block: &[i16]) -> bool {
        let Capture {
            detector,
            heard,
            stats,
            ..
        } = self;
        let Some((detector, sequencer)) = detector else {
            return false;
        };
        let before = stats.detections + stats.detections_dropped;
        detector.process_i16(index, block);
        while let Some(event) = detector.poll_event() {
            if let Some(sequencer) = sequencer.as_mut() {
                sequencer.push(&event);
            }
            push_heard(heard, stats, Heard::Tone(event));
        }
        while let Some(end) = detector.poll_tones_end() {
            push_heard(heard, stats, Heard::TonesEnd(end));
        }
        let reached = SampleIndex(index.0 + block.len() as u64);
        if let Some(sequence) = sequencer.as_mut().and_then(|s| s.poll(reached)) {
            push_heard(heard, stats, Heard::Sequence(sequence));
        }
        stats.detections + stats.detections_dropped > before
    }

    /// The source ended or the node stops (`ChannelCapture::finish`): a
    /// sequence still gathering is reported, the partial frame dropped,
    /// and the end queued with the media time the next frame would have.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.active = false;
        if let Some(sequence) = self
            .detector
            .as_mut()
            .and_then(|(_, s)| s.as_mut())
            .and_then(DtmfSequencer::flush)
        {
            self.push_heard(Heard::Sequence(sequence));
        }
        self.filled = 0;
        let end = CapturedFrame {
            timestamp: MediaTimestamp(self.timestamp),
            payload: Vec::new(),
            active: false,
            reached: SampleIndex(self.next_sample),
            level_dbfs: LEVEL_FLOOR_DBFS,
        };
        self.push_frame(end);
    }
}

fn push_heard(queue: &mut VecDeque<Heard>, stats: &mut CaptureStats, heard: Heard) {
    if queue.len() < TONE_QUEUE_LEN {
        queue.push_back(heard);
        stats.detections += 1;
    } else {
        stats.detections_dropped += 1;
    }
}
