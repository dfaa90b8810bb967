//! An overrun or underrun on the device must cost the audio it lost and
//! nothing more: the loops count it and carry on, the ring keeps flowing.
//! (ALSA's own recovery, `snd_pcm_recover`, needs a device that can xrun,
//! which `null` cannot; these sources and sinks report xruns the way the
//! ALSA ones do after recovering.)

use std::sync::Arc;
use std::sync::atomic::Ordering;

use echostream::audio::{
    AudioError, CaptureLoop, Counters, PcmSink, PcmSource, PlaybackLoop, ReadOutcome, Step,
    WriteOutcome, block_ring,
};

const PERIOD: usize = 240;

/// Every `every`-th read reports an overrun instead of a period.
struct OverrunningSource {
    reads: usize,
    every: usize,
}

impl PcmSource for OverrunningSource {
    fn period_frames(&self) -> usize {
        PERIOD
    }

    fn read_period(&mut self, frames: &mut [i16]) -> Result<ReadOutcome, AudioError> {
        self.reads += 1;
        if self.reads.is_multiple_of(self.every) {
            return Ok(ReadOutcome::Xrun);
        }
        frames.fill(self.reads as i16);
        Ok(ReadOutcome::Period)
    }
}

/// Every `every`-th write reports an underrun (the device ran dry and was
/// restarted); everything written is kept.
struct UnderrunningSink {
    writes: usize,
    every: usize,
    played: Vec<i16>,
}

impl PcmSink for UnderrunningSink {
    fn period_frames(&self) -> usize {
        PERIOD
    }

    fn write_period(&mut self, frames: &[i16]) -> Result<WriteOutcome, AudioError> {
        self.writes += 1;
        self.played.push(frames[0]);
        if self.writes.is_multiple_of(self.every) {
            Ok(WriteOutcome::Xrun)
        } else {
            Ok(WriteOutcome::Written)
        }
    }

    fn finish(&mut self) -> Result<(), AudioError> {
        Ok(())
    }
}

#[test]
fn xruns_are_counted_and_the_audio_keeps_flowing() {
    let (producer, consumer) = block_ring();
    let capture_counters = Arc::new(Counters::default());
    let playback_counters = Arc::new(Counters::default());
    let mut capture = CaptureLoop::new(
        OverrunningSource { reads: 0, every: 5 },
        producer,
        Arc::clone(&capture_counters),
    );
    let mut playback = PlaybackLoop::new(
        UnderrunningSink {
            writes: 0,
            every: 7,
            played: Vec::with_capacity(100),
        },
        consumer,
        Arc::clone(&playback_counters),
    );
    for _ in 0..100 {
        assert_eq!(capture.step().unwrap(), Step::Continue);
        // The capture step that reported an overrun pushed nothing: the
        // playback side then plays silence for that period.
        assert_eq!(playback.step().unwrap(), Step::Continue);
    }
    let c = &capture_counters;
    let p = &playback_counters;
    assert_eq!(
        c.xruns.load(Ordering::Relaxed),
        20,
        "one overrun in five reads"
    );
    assert_eq!(
        c.periods.load(Ordering::Relaxed),
        80,
        "the other reads delivered"
    );
    assert_eq!(
        p.xruns.load(Ordering::Relaxed),
        14,
        "one underrun in seven writes"
    );
    assert_eq!(
        p.periods.load(Ordering::Relaxed),
        100,
        "every period written"
    );
    assert_eq!(
        p.underruns.load(Ordering::Relaxed),
        20,
        "silence where capture lost a period"
    );
}
