//! The capture and playback threads and their loop bodies.
//!
//! A loop body ([`CaptureLoop::step`], [`PlaybackLoop::step`]) is one
//! period: one device call, one ring push or pop, counter bumps. Everything
//! it touches was made before the loop, so it never allocates, locks or
//! logs (`tests/audio_alloc.rs` runs it under a counting allocator).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use echostream_core::time::SampleIndex;

use super::rt::{self, RtSettings, RtStatus};
use super::{AudioError, Block, Counters, PcmSink, PcmSource, ReadOutcome, WriteOutcome};

/// What one loop step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Keep going.
    Continue,
    /// The source ended (a `file:` input without loop): the thread stops.
    EndOfStream,
}

/// The capture loop's state: a source, the ring to the rest of the
/// process, and the block being filled.
#[derive(Debug)]
pub struct CaptureLoop<S> {
    source: S,
    ring: rtrb::Producer<Block>,
    counters: Arc<Counters>,
    block: Block,
    index: SampleIndex,
}

impl<S: PcmSource> CaptureLoop<S> {
    /// Everything the loop needs, made now.
    pub fn new(source: S, ring: rtrb::Producer<Block>, counters: Arc<Counters>) -> Self {
        let block = Block::silent(SampleIndex::ZERO, source.period_frames());
        CaptureLoop {
            source,
            ring,
            counters,
            block,
            index: SampleIndex::ZERO,
        }
    }

    /// Reads one period and pushes it to the ring (dropping and counting it
    /// when the ring is full). No allocation, lock or logging.
    ///
    /// # Errors
    ///
    /// When the source fails beyond recovery.
    pub fn step(&mut self) -> Result<Step, AudioError> {
        match self.source.read_period(self.block.frames_mut())? {
            ReadOutcome::Period => {
                self.block.index = self.index;
                self.index = self.index.add_frames(self.block.len() as u64);
                Counters::bump(&self.counters.periods);
                if self.ring.push(self.block.clone()).is_err() {
                    Counters::bump(&self.counters.ring_full_drops);
                }
                Ok(Step::Continue)
            }
            ReadOutcome::Xrun => {
                Counters::bump(&self.counters.xruns);
                Ok(Step::Continue)
            }
            ReadOutcome::EndOfStream => Ok(Step::EndOfStream),
        }
    }
}

/// The playback loop's state: a sink, the ring from the rest of the
/// process, and a silent period for when the ring is empty.
#[derive(Debug)]
pub struct PlaybackLoop<K> {
    sink: K,
    ring: rtrb::Consumer<Block>,
    counters: Arc<Counters>,
    silence: Block,
}

impl<K: PcmSink> PlaybackLoop<K> {
    /// Everything the loop needs, made now.
    pub fn new(sink: K, ring: rtrb::Consumer<Block>, counters: Arc<Counters>) -> Self {
        let silence = Block::silent(SampleIndex::ZERO, sink.period_frames());
        PlaybackLoop {
            sink,
            ring,
            counters,
            silence,
        }
    }

    /// Pops one block and plays it, or plays a silent period (counted as
    /// an underrun) when the ring is empty. No allocation, lock or logging.
    ///
    /// # Errors
    ///
    /// When the sink fails beyond recovery.
    pub fn step(&mut self) -> Result<Step, AudioError> {
        let outcome = match self.ring.pop() {
            Ok(block) => self.sink.write_period(block.frames())?,
            Err(rtrb::PopError::Empty) => {
                Counters::bump(&self.counters.underruns);
                self.sink.write_period(self.silence.frames())?
            }
        };
        Counters::bump(&self.counters.periods);
        if outcome == WriteOutcome::Xrun {
            Counters::bump(&self.counters.xruns);
        }
        Ok(Step::Continue)
    }

    /// Lets the sink finish (drain, close files) after the loop.
    ///
    /// # Errors
    ///
    /// As [`PcmSink::finish`].
    pub fn finish(&mut self) -> Result<(), AudioError> {
        self.sink.finish()
    }
}

/// A running audio thread. Dropping it detaches the thread, which runs on
/// until its stop flag is set: stop it with [`AudioThread::stop`].
#[derive(Debug)]
pub struct AudioThread {
    name: String,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    rt: RtStatus,
    handle: JoinHandle<Result<(), AudioError>>,
}

impl AudioThread {
    /// The thread's name (`capture-<ch>`, `playback-<ch>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the realtime setup achieved (its warnings were also logged).
    pub fn rt_status(&self) -> &RtStatus {
        &self.rt
    }

    /// The thread's counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// True once the loop has ended (stopped, end of file, or failed).
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Asks the thread to stop (it sees the flag within one period).
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops the thread and waits for it.
    ///
    /// # Errors
    ///
    /// The error that ended the loop, if one did.
    ///
    /// # Panics
    ///
    /// If the thread panicked (a bug).
    pub fn stop(self) -> Result<(), AudioError> {
        self.request_stop();
        self.join()
    }

    /// Waits for the thread to end by itself (end of a `file:` input) or
    /// after [`AudioThread::request_stop`].
    ///
    /// # Errors
    ///
    /// The error that ended the loop, if one did.
    ///
    /// # Panics
    ///
    /// If the thread panicked (a bug).
    pub fn join(self) -> Result<(), AudioError> {
        self.handle.join().expect("audio threads do not panic")
    }
}

/// Starts `capture-<channel>`: promotes itself (see [`rt`]), then reads
/// periods from `source` into `ring` until `stop` is set, the source ends,
/// or it fails.
///
/// # Errors
///
/// When the thread cannot be started.
pub fn spawn_capture<S: PcmSource + 'static>(
    channel: &str,
    source: S,
    ring: rtrb::Producer<Block>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    rt_settings: RtSettings,
) -> Result<AudioThread, AudioError> {
    let mut body = CaptureLoop::new(source, ring, counters.clone());
    spawn(
        format!("capture-{channel}"),
        stop,
        counters,
        rt_settings,
        move |stop| {
            while !stop.load(Ordering::Relaxed) {
                if body.step()? == Step::EndOfStream {
                    break;
                }
            }
            Ok(())
        },
    )
}

/// Starts `playback-<channel>`: promotes itself, then plays blocks from
/// `ring` (silence when it is empty) until `stop` is set or the sink
/// fails; then lets the sink finish.
///
/// # Errors
///
/// When the thread cannot be started.
pub fn spawn_playback<K: PcmSink + 'static>(
    channel: &str,
    sink: K,
    ring: rtrb::Consumer<Block>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    rt_settings: RtSettings,
) -> Result<AudioThread, AudioError> {
    let mut body = PlaybackLoop::new(sink, ring, counters.clone());
    spawn(
        format!("playback-{channel}"),
        stop,
        counters,
        rt_settings,
        move |stop| {
            let mut result = Ok(());
            while !stop.load(Ordering::Relaxed) {
                if let Err(err) = body.step() {
                    result = Err(err);
                    break;
                }
            }
            let finished = body.finish();
            result.and(finished)
        },
    )
}

/// Starts an audio thread named `name` running `run` after promoting
/// itself (see [`rt`]); its realtime warnings are logged here.
///
/// # Errors
///
/// When the thread cannot be started.
pub(crate) fn spawn(
    name: String,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    rt_settings: RtSettings,
    run: impl FnOnce(&AtomicBool) -> Result<(), AudioError> + Send + 'static,
) -> Result<AudioThread, AudioError> {
    let (status_tx, status_rx) = mpsc::sync_channel(1);
    let thread_stop = stop.clone();
    let handle = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let status = rt::promote_current_thread(rt_settings);
            // The spawner waits for this; it cannot have gone away.
            let _ = status_tx.send(status);
            drop(status_tx);
            run(&thread_stop)
        })
        .map_err(|source| AudioError::Spawn {
            name: name.clone(),
            source,
        })?;
    let rt = status_rx
        .recv()
        .expect("the audio thread reports its realtime status before anything else");
    for warning in &rt.warnings {
        log::warn!("{name}: {warning}");
    }
    Ok(AudioThread {
        name,
        stop,
        counters,
        rt,
        handle,
    })
}
