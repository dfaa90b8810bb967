//! One channel's capture side: COR gate, continuous Opus encoding, the
//! pre-roll, and the hand-off of frames to the network thread.
//!
//! ```text
//! Block ─► gate (VOX / always) ─► Packetizer (always encoding) ─► local ring
//!        closed: frames kept in the pre-roll (the last `preroll_ms`)
//!        opens:  pre-roll flushed, first frame flagged start-of-talk-spurt
//!        open:   frames to the network ring, the network thread woken
//!        closes: end-of-transmission to the network ring
//! ```
//!
//! The encoder runs while the channel is closed so that the pre-roll holds
//! the first syllable that opened it (a VOX or COR needs some milliseconds
//! to decide; the words in them are not lost) and the codec state is warm.
//! Everything is made in [`ChannelCapture::new`]; [`ChannelCapture::push_block`]
//! allocates, locks and logs nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use echostream_core::level::{Vox, VoxEdge};
use echostream_core::wire::Flags;

use crate::audio::Block;
use crate::audio::pipeline::{EncodedFrame, FRAME_RING_FRAMES, Packetizer};

/// Wakes the network thread after frames were queued for it. A
/// `mio::Waker` in the node; anything in tests.
pub trait Wake: Send + Sync {
    /// Called on the capture thread: must not block or allocate.
    fn wake(&self);
}

impl Wake for mio::Waker {
    fn wake(&self) {
        // An eventfd write; it fails only if the counter would overflow,
        // and then the loop is awake anyway.
        let _ = mio::Waker::wake(self);
    }
}

/// When the channel counts as active.
#[derive(Debug)]
pub enum Gate {
    /// Always active (a scanner feed, a permanently open receiver).
    Always,
    /// Voice-operated.
    Vox(Vox),
}

/// What the capture side has done, readable from any thread.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Frames handed to the network thread.
    pub frames_sent: AtomicU64,
    /// Talk-spurts started (gate openings).
    pub talkspurts: AtomicU64,
    /// Frames dropped because the network ring was full.
    pub net_ring_full: AtomicU64,
    /// Frames the encoder could not make (the receiver conceals them).
    pub encode_errors: AtomicU64,
}

/// Pre-roll frames kept at most (`preroll_ms` / `frame_ms`, capped):
/// 1.28 s of 20 ms frames.
pub const PREROLL_FRAMES_MAX: usize = FRAME_RING_FRAMES;

/// The capture side of one channel. See the [module docs](self).
pub struct ChannelCapture {
    gate: Gate,
    packetizer: Packetizer,
    encoded: rtrb::Consumer<EncodedFrame>,
    to_net: rtrb::Producer<EncodedFrame>,
    waker: Arc<dyn Wake>,
    /// Ring of the last `preroll_len` frames; `preroll_head` is the oldest.
    preroll: Box<[EncodedFrame]>,
    preroll_len: usize,
    preroll_head: usize,
    preroll_count: usize,
    active: bool,
    /// The next frame sent starts a talk-spurt.
    start_pending: bool,
    stats: Arc<CaptureStats>,
}

impl std::fmt::Debug for ChannelCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelCapture")
            .field("gate", &self.gate)
            .field("active", &self.active)
            .field("preroll_len", &self.preroll_len)
            .finish_non_exhaustive()
    }
}

impl ChannelCapture {
    /// Everything the step needs, made now. `packetizer` must push into
    /// the ring whose consumer is `encoded`; `preroll_frames` is capped at
    /// [`PREROLL_FRAMES_MAX`].
    pub fn new(
        gate: Gate,
        packetizer: Packetizer,
        encoded: rtrb::Consumer<EncodedFrame>,
        to_net: rtrb::Producer<EncodedFrame>,
        waker: Arc<dyn Wake>,
        preroll_frames: usize,
    ) -> ChannelCapture {
        let preroll_len = preroll_frames.min(PREROLL_FRAMES_MAX);
        let blank = EncodedFrame::end_of_transmission(Default::default(), Default::default());
        ChannelCapture {
            active: matches!(gate, Gate::Always),
            gate,
            packetizer,
            encoded,
            to_net,
            waker,
            preroll: vec![blank; preroll_len.max(1)].into_boxed_slice(),
            preroll_len,
            preroll_head: 0,
            preroll_count: 0,
            start_pending: true,
            stats: Arc::new(CaptureStats::default()),
        }
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<CaptureStats> {
        self.stats.clone()
    }

    /// Whether the channel is active (frames go to the network).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// One captured period. No allocation, lock or logging.
    pub fn push_block(&mut self, block: &Block) {
        let edge = match &mut self.gate {
            Gate::Always => None,
            Gate::Vox(vox) => vox.push_block(block.index, block.frames()),
        };
        let mut sent = 0;
        if edge == Some(VoxEdge::Opened) {
            self.active = true;
            self.start_pending = true;
            self.stats.talkspurts.fetch_add(1, Ordering::Relaxed);
            sent += self.flush_preroll();
        }
        self.packetizer.push_block(block);
        sent += self.route_encoded();
        if edge == Some(VoxEdge::Closed) {
            self.close();
            sent += 1;
        }
        let errors = self.packetizer.stats().encode_errors;
        self.stats.encode_errors.store(errors, Ordering::Relaxed);
        if sent > 0 {
            self.waker.wake();
        }
    }

    /// The source ended or the node stops: an open talk-spurt is ended
    /// properly, so that nobody's speaker or transmitter hangs on it.
    pub fn finish(&mut self) {
        if self.active {
            self.close();
            self.waker.wake();
        }
    }

    fn close(&mut self) {
        self.active = false;
        // Frames of this block already went out; the partial frame is
        // dropped and the end-of-transmission takes the next number.
        self.packetizer.end_talkspurt();
        while let Ok(frame) = self.encoded.pop() {
            if frame.is_end_of_transmission() {
                self.send(frame);
            }
        }
        self.preroll_count = 0;
    }

    /// Moves what the packetizer made: to the network when active, into
    /// the pre-roll when not. Returns the frames sent.
    fn route_encoded(&mut self) -> usize {
        let mut sent = 0;
        while let Ok(frame) = self.encoded.pop() {
            if frame.is_end_of_transmission() {
                // Only `close` ends talk-spurts; the packetizer makes none
                // on its own.
                continue;
            }
            if self.active {
                self.send(frame);
                sent += 1;
            } else {
                self.keep(frame);
            }
        }
        sent
    }

    fn keep(&mut self, frame: EncodedFrame) {
        if self.preroll_len == 0 {
            return;
        }
        let at = (self.preroll_head + self.preroll_count) % self.preroll_len;
        self.preroll[at] = frame;
        if self.preroll_count == self.preroll_len {
            self.preroll_head = (self.preroll_head + 1) % self.preroll_len;
        } else {
            self.preroll_count += 1;
        }
    }

    fn flush_preroll(&mut self) -> usize {
        let count = self.preroll_count;
        for i in 0..count {
            let at = (self.preroll_head + i) % self.preroll_len;
            let frame = self.preroll[at].clone();
            self.send(frame);
        }
        self.preroll_head = 0;
        self.preroll_count = 0;
        count
    }

    fn send(&mut self, mut frame: EncodedFrame) {
        if !frame.is_end_of_transmission() {
            let fec = frame.flags.contains(Flags::FEC);
            frame.flags = if self.start_pending {
                Flags::START_OF_TALKSPURT
            } else {
                Flags::NONE
            };
            if fec {
                frame.flags = frame.flags.union(Flags::FEC);
            }
            self.start_pending = false;
        } else {
            self.start_pending = true;
        }
        match self.to_net.push(frame) {
            Ok(()) => {
                self.stats.frames_sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.net_ring_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use echostream_core::level::VoxConfig;
    use echostream_core::time::SampleIndex;
    use echostream_core::wire::{MediaTimestamp, Seq};

    use super::*;
    use crate::audio::pipeline::frame_ring;
    use crate::opus::{Application, Encoder, EncoderConfig, FrameDuration};

    const RATE_HZ: u32 = 48_000;
    const PERIOD: usize = 240;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn capture(
        preroll_frames: usize,
    ) -> (ChannelCapture, rtrb::Consumer<EncodedFrame>, Arc<Count>) {
        let encoder = Encoder::new(EncoderConfig {
            sample_rate_hz: RATE_HZ,
            channels: 1,
            application: Application::Voip,
            bitrate_bps: 24_000,
            complexity: 0,
            vbr: true,
            fec: false,
            expected_loss_pct: 0,
            dtx: false,
            frame: FrameDuration::Ms20,
        })
        .expect("encoder");
        let (encoded_in, encoded_out) = frame_ring();
        let packetizer = Packetizer::new(encoder, encoded_in, Seq(0), MediaTimestamp(0));
        let vox = Vox::new(VoxConfig {
            rate_hz: RATE_HZ,
            threshold_dbfs: -40.0,
            debounce_ms: 20,
            hang_ms: 100,
        })
        .expect("vox");
        let (to_net, from_capture) = frame_ring();
        let wakes = Arc::new(Count::default());
        let capture = ChannelCapture::new(
            Gate::Vox(vox),
            packetizer,
            encoded_out,
            to_net,
            wakes.clone(),
            preroll_frames,
        );
        (capture, from_capture, wakes)
    }

    /// Feeds `periods` periods of a 1 kHz tone at `amplitude`.
    fn feed(capture: &mut ChannelCapture, at: &mut u64, periods: usize, amplitude: f32) {
        let mut block = Block::silent(SampleIndex::ZERO, PERIOD);
        for _ in 0..periods {
            for (i, s) in block.frames_mut().iter_mut().enumerate() {
                let t = (*at + i as u64) as f32 / RATE_HZ as f32;
                *s = (amplitude * 32_767.0 * (std::f32::consts::TAU * 1_000.0 * t).sin()) as i16;
            }
            block.index = SampleIndex(*at);
            *at += PERIOD as u64;
            capture.push_block(&block);
        }
    }

    fn drain(ring: &mut rtrb::Consumer<EncodedFrame>) -> Vec<EncodedFrame> {
        std::iter::from_fn(|| ring.pop().ok()).collect()
    }

    #[test]
    fn nothing_is_sent_while_quiet_and_the_preroll_leads_the_talk_spurt() {
        let (mut capture, mut net, wakes) = capture(5);
        let mut at = 0;
        feed(&mut capture, &mut at, 80, 0.0); // 400 ms quiet: 20 frames encoded
        assert!(drain(&mut net).is_empty(), "quiet audio is not sent");
        assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
        feed(&mut capture, &mut at, 40, 0.3); // 200 ms of talk
        let sent = drain(&mut net);
        assert!(capture.is_active());
        // The 5 pre-roll frames, then the live ones; one talk-spurt start.
        assert!(sent.len() >= 5 + 8, "{} frames", sent.len());
        assert!(sent[0].flags.contains(Flags::START_OF_TALKSPURT));
        assert!(
            sent[1..]
                .iter()
                .all(|f| !f.flags.contains(Flags::START_OF_TALKSPURT))
        );
        // Consecutive media: the pre-roll is the audio just before the talk.
        for pair in sent.windows(2) {
            assert_eq!(pair[1].timestamp.0, pair[0].timestamp.0 + 960);
            assert_eq!(pair[1].seq.0, pair[0].seq.0 + 1);
        }
        assert!(
            sent[0].timestamp.0 < 80 * PERIOD as u32,
            "the pre-roll starts before the talk"
        );
    }

    #[test]
    fn closing_and_stopping_end_the_talk_spurt_with_an_end_of_transmission() {
        let (mut capture, mut net, _) = capture(0);
        let mut at = 0;
        feed(&mut capture, &mut at, 40, 0.3);
        feed(&mut capture, &mut at, 40, 0.0); // past the 100 ms hang
        let sent = drain(&mut net);
        assert!(!capture.is_active());
        let last = sent.last().expect("frames");
        assert!(
            last.is_end_of_transmission(),
            "the talk-spurt ends with an EOT"
        );
        assert_eq!(
            sent.iter().filter(|f| f.is_end_of_transmission()).count(),
            1
        );

        // Talking when the node stops: `finish` still ends it.
        feed(&mut capture, &mut at, 40, 0.3);
        capture.finish();
        let sent = drain(&mut net);
        assert!(sent[0].flags.contains(Flags::START_OF_TALKSPURT));
        assert!(sent.last().expect("frames").is_end_of_transmission());
        capture.finish();
        assert!(drain(&mut net).is_empty(), "a second finish sends nothing");
    }
}
