//! The per-channel audio threads of a running node: capture (device →
//! [`ChannelCapture`]) and playback ([`ChannelPlayback`] → device).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use echostream_core::time::SampleIndex;

use super::capture::ChannelCapture;
use super::playback::ChannelPlayback;
use crate::audio::{
    AudioError, AudioThread, Block, Counters, PcmSink, PcmSource, ReadOutcome, RtSettings,
    WriteOutcome, spawn_audio_thread,
};

/// Starts `capture-<channel>`: reads periods from `source` and hands each
/// to `capture` until `stop` is set or the source ends; then ends an open
/// talk-spurt properly.
///
/// # Errors
///
/// When the thread cannot be started.
pub fn spawn_capture<S: PcmSource + 'static>(
    channel: &str,
    mut source: S,
    mut capture: ChannelCapture,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    rt_settings: RtSettings,
) -> Result<AudioThread, AudioError> {
    let thread_counters = counters.clone();
    spawn_audio_thread(
        format!("capture-{channel}"),
        stop,
        counters,
        rt_settings,
        move |stop: &AtomicBool| {
            let mut block = Block::silent(SampleIndex::ZERO, source.period_frames());
            let mut index = SampleIndex::ZERO;
            let mut result = Ok(());
            while !stop.load(Ordering::Relaxed) {
                match source.read_period(block.frames_mut()) {
                    Ok(ReadOutcome::Period) => {
                        block.index = index;
                        index = index.add_frames(block.len() as u64);
                        Counters::bump(&thread_counters.periods);
                        capture.push_block(&block);
                    }
                    Ok(ReadOutcome::Xrun) => Counters::bump(&thread_counters.xruns),
                    Ok(ReadOutcome::EndOfStream) => break,
                    Err(err) => {
                        result = Err(err);
                        break;
                    }
                }
            }
            capture.finish();
            result
        },
    )
}

/// Starts `playback-<channel>`: plays what `playback` decodes (silence
/// when nothing is arriving), one period at a time, until `stop` is set or
/// the sink fails; then lets the sink finish.
///
/// # Errors
///
/// When the thread cannot be started.
pub fn spawn_playback<K: PcmSink + 'static>(
    channel: &str,
    mut sink: K,
    mut playback: ChannelPlayback,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    rt_settings: RtSettings,
) -> Result<AudioThread, AudioError> {
    let thread_counters = counters.clone();
    spawn_audio_thread(
        format!("playback-{channel}"),
        stop,
        counters,
        rt_settings,
        move |stop: &AtomicBool| {
            let mut result = Ok(());
            while !stop.load(Ordering::Relaxed) {
                let block = playback.next_block();
                match sink.write_period(block.frames()) {
                    Ok(outcome) => {
                        Counters::bump(&thread_counters.periods);
                        if outcome == WriteOutcome::Xrun {
                            Counters::bump(&thread_counters.xruns);
                        }
                    }
                    Err(err) => {
                        result = Err(err);
                        break;
                    }
                }
            }
            result.and(sink.finish())
        },
    )
}
