//! One channel's playback side: frames from the network into the jitter
//! buffer, one frame of PCM decoded per frame period, played period by
//! period.
//!
//! ```text
//! rtrb<EncodedFrame> ← net ─► Player::insert (arrival = device clock less the wait)
//! each period:              Player::next_period ─► (pop ─► Opus decode/FEC/PLC) ─► Block ─► sink
//! ```
//!
//! The device's own sample clock is the time base of the jitter buffer: the
//! playout runs at the rate the sound card consumes, whatever the sender's
//! clock, so drift between the two is the jitter buffer's to absorb. The
//! cadence (when to pop, one period of silence while idle, the decoder
//! reset at an end) is core's [`Player`]; the simulator runs the same.
//! This side measures how long a frame waited in the ring on the wall
//! clock, and publishes the counters.
//! Everything is made in [`ChannelPlayback::new`]; [`ChannelPlayback::next_block`]
//! allocates, locks and logs nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use echostream_core::audio::Player;
use echostream_core::time::SampleIndex;
use echostream_core::wire::{KeyId, StreamId};

use crate::audio::Block;
use crate::audio::pipeline::{Depacketizer, EncodedFrame, Played};
use crate::opus::Decoder;

/// What the playback side has done, readable from any thread.
#[derive(Debug, Default)]
pub struct PlaybackStats {
    /// Frames inserted into the jitter buffer.
    pub inserted: AtomicU64,
    /// Frames the jitter buffer refused (late, duplicate, out of window).
    pub refused: AtomicU64,
    /// Frames decoded from their packet.
    pub decoded: AtomicU64,
    /// Frames rebuilt from in-band FEC.
    pub fec: AtomicU64,
    /// Frames concealed.
    pub concealed: AtomicU64,
    /// Talk-spurts ended (end-of-transmission packet or a stalled sender).
    pub ends: AtomicU64,
    /// Whether a talk-spurt is playing now (1) or not (0).
    pub playing: AtomicU64,
    /// The jitter buffer's target delay for the current talk-spurt, in ms.
    pub jitter_target_ms: AtomicU64,
    /// The jitter buffer's delay now, in ms.
    pub jitter_delay_ms: AtomicU64,
}

/// The playback side of one channel. See the [module docs](self).
pub struct ChannelPlayback {
    from_net: rtrb::Consumer<EncodedFrame>,
    player: Player<Decoder>,
    stream_id: StreamId,
    stats: Arc<PlaybackStats>,
    /// Hook for the latency harness: called with the frame's media
    /// timestamp each time a decoded frame's PCM is ready.
    on_decoded: Option<Box<dyn FnMut(u32) + Send>>,
    /// Media timestamps of recent frames by sequence number (mod the
    /// table's length), for the hook.
    timestamps: [u32; TIMESTAMP_TABLE_LEN],
}

const TIMESTAMP_TABLE_LEN: usize = 256;

impl std::fmt::Debug for ChannelPlayback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelPlayback")
            .field("rate_hz", &self.player.rate_hz())
            .field("played_frames", &self.player.played_frames())
            .field("playing", &self.is_playing())
            .finish_non_exhaustive()
    }
}

impl ChannelPlayback {
    /// Everything the step needs, made now.
    pub fn new(from_net: rtrb::Consumer<EncodedFrame>, depacketizer: Depacketizer) -> Self {
        let (player, stream_id) = depacketizer.into_player();
        ChannelPlayback {
            from_net,
            player,
            stream_id,
            stats: Arc::new(PlaybackStats::default()),
            on_decoded: None,
            timestamps: [0; TIMESTAMP_TABLE_LEN],
        }
    }

    /// The counters, shared.
    pub fn stats(&self) -> Arc<PlaybackStats> {
        self.stats.clone()
    }

    /// Calls `hook` with each decoded frame's media timestamp when its PCM
    /// is ready (for latency measurement).
    pub fn set_decoded_hook(&mut self, hook: Box<dyn FnMut(u32) + Send>) {
        self.on_decoded = Some(hook);
    }

    /// Whether a talk-spurt is playing: the jitter buffer's own state
    /// (core decides; this side only reads it).
    pub fn is_playing(&self) -> bool {
        self.player.is_playing()
    }

    /// The next period to play: takes in what the network delivered,
    /// and returns one period ([`Player::next_period`]). No allocation,
    /// lock or logging.
    pub fn next_block(&mut self) -> Block {
        let wall = std::time::Instant::now();
        while let Ok(frame) = self.from_net.pop() {
            // How long the frame waited in the ring since the network
            // thread received it (up to a period): the player takes that
            // off its arrival, so the jitter estimate is not inflated by
            // this thread's period.
            let waited_us = frame.arrived.map_or(0, |at| {
                wall.saturating_duration_since(at).as_micros() as u64
            });
            let arrived = self.player.arrival(waited_us);
            self.timestamps[frame.seq.0 as usize % TIMESTAMP_TABLE_LEN] = frame.timestamp.0;
            let repr = frame.repr(self.stream_id, KeyId(0));
            // Refusals (late, duplicate) are counted by the player.
            let _ = self.player.insert(arrived, &repr, frame.payload());
        }
        let index = SampleIndex(self.player.played_frames());
        let (popped, pcm) = self.player.next_period();
        let block = Block::from_frames(index, pcm);
        if let Some(played) = popped {
            if played == Played::Frame
                && let Some(hook) = self.on_decoded.as_mut()
            {
                let seq = self.player.jitter().next_seq().0.wrapping_sub(1);
                hook(self.timestamps[seq as usize % TIMESTAMP_TABLE_LEN]);
            }
            self.publish();
        }
        block
    }

    fn publish(&self) {
        let s = self.player.stats();
        let st = &self.stats;
        st.inserted.store(s.inserted, Ordering::Relaxed);
        st.refused.store(s.refused, Ordering::Relaxed);
        st.decoded.store(s.decoded, Ordering::Relaxed);
        st.fec.store(s.fec, Ordering::Relaxed);
        st.concealed.store(s.concealed, Ordering::Relaxed);
        st.ends.store(s.ends, Ordering::Relaxed);
        st.playing
            .store(u64::from(self.is_playing()), Ordering::Relaxed);
        let target = self.player.jitter().delay_target_next_ms();
        st.jitter_target_ms
            .store(u64::from(target), Ordering::Relaxed);
    }
}
