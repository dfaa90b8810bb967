//! Shared by the `tone_*` acceptance suites: the station table, the
//! definitions a dispatcher would configure, and a harness that runs the
//! detector over a generated signal the way the capture thread does (small
//! blocks, events drained after each).
#![allow(dead_code)]

use echostream_core::time::SampleIndex;
use echostream_core::tone::{
    ChannelDetector, Definition, Definitions, FinderConfig, MAX_DEFINITIONS, Measured, ToneEvent,
    TwoToneDef,
};
use echostream_sim::Rng;
use echostream_sim::audio::{QC2_TONES_HZ, qc2_sorted_hz};

/// The tolerance the suites configure: the recommended ±1 %.
pub const RANGE_FRACTION: f32 = 0.01;
/// Minimums a dispatcher would set for standard Quick Call II timing
/// (A 1 s, B 3 s): generous enough for a slightly short encoder.
pub const A_MIN_MS: u32 = 700;
pub const B_MIN_MS: u32 = 2_000;
/// Standard Quick Call II timing.
pub const A_MS: f64 = 1_000.0;
pub const B_MS: f64 = 3_000.0;
/// A dispatcher notices an alert that comes later than this.
pub const LATENCY_MAX_MS: f64 = 250.0;

/// A station's definition as the suites configure it.
pub fn station_def(a_hz: f32, b_hz: f32) -> TwoToneDef {
    TwoToneDef {
        a_hz,
        b_hz,
        a_length_ms: A_MIN_MS,
        b_length_ms: B_MIN_MS,
        a_range_hz: a_hz * RANGE_FRACTION,
        b_range_hz: b_hz * RANGE_FRACTION,
        max_gap_ms: 250,
        ignore_after_ms: 0,
    }
}

/// Fisher–Yates with the simulator's seeded RNG.
pub fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// The 80 table tones paired into 40 stations, every tone used exactly
/// once, A and B from different code groups and at least 10 % apart, as
/// real tone plans are laid out. Deterministic.
pub fn stations() -> Vec<(f32, f32)> {
    let mut rng = Rng::new(0x5747_1045);
    loop {
        let mut tones: Vec<(usize, f32)> = QC2_TONES_HZ.iter().copied().enumerate().collect();
        shuffle(&mut tones, &mut rng);
        let pairs: Vec<(f32, f32)> = tones.chunks(2).map(|p| (p[0].1, p[1].1)).collect();
        let ok = tones.chunks(2).all(|p| {
            let (a, b) = (p[0], p[1]);
            a.0 / 10 != b.0 / 10 && (a.1 / b.1 - 1.0).abs() > 0.1 && (b.1 / a.1 - 1.0).abs() > 0.1
        });
        if ok {
            return pairs;
        }
    }
}

/// The tones next to `hz` in the sorted table (one or two).
pub fn neighbours(hz: f32) -> Vec<f32> {
    let sorted = qc2_sorted_hz();
    let i = sorted.iter().position(|&t| t == hz).expect("a table tone");
    let mut n = Vec::new();
    if i > 0 {
        n.push(sorted[i - 1]);
    }
    if i + 1 < sorted.len() {
        n.push(sorted[i + 1]);
    }
    n
}

/// Several detectors over the same audio, for more definitions than one
/// channel detector holds (the full 40-station table is 40). Events carry
/// the definition's index in the whole list.
pub struct Bank {
    detectors: Vec<(ChannelDetector, usize)>,
    pub rate_hz: u32,
}

/// One alert: the definition's index in the bank's list (`None` for the
/// finder) and the event.
#[derive(Debug, Clone, Copy)]
pub struct Hit {
    pub def: Option<usize>,
    pub event: ToneEvent,
}

impl Hit {
    pub fn two_tone_hz(&self) -> Option<(f32, f32)> {
        match self.event.measured {
            Measured::TwoTone { a_hz, b_hz } => Some((a_hz, b_hz)),
            _ => None,
        }
    }
}

impl Bank {
    pub fn new(rate_hz: u32, defs: &[Definition], finder: Option<FinderConfig>) -> Bank {
        let mut detectors = Vec::new();
        let chunks: Vec<&[Definition]> = if defs.is_empty() {
            vec![&[][..]]
        } else {
            defs.chunks(MAX_DEFINITIONS).collect()
        };
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut set = Definitions::new();
            for d in chunk {
                set.push(*d).expect("valid definition");
            }
            if let (0, Some(f)) = (i, finder) {
                set.set_finder(f).expect("valid finder");
            }
            let det = ChannelDetector::new(rate_hz, &set).expect("supported rate");
            detectors.push((det, i * MAX_DEFINITIONS));
        }
        Bank { detectors, rate_hz }
    }

    pub fn two_tone(rate_hz: u32, defs: &[TwoToneDef]) -> Bank {
        let defs: Vec<Definition> = defs.iter().map(|&d| d.into()).collect();
        Bank::new(rate_hz, &defs, None)
    }

    /// Feeds `samples` (starting at device frame `at`) in blocks of
    /// `block` frames, draining after each; returns the alerts in order.
    pub fn feed(&mut self, at: u64, samples: &[f32], block: usize) -> Vec<Hit> {
        let mut hits = Vec::new();
        let mut pos = at;
        for chunk in samples.chunks(block) {
            for (det, base) in &mut self.detectors {
                det.process_f32(SampleIndex(pos), chunk);
                while let Some(event) = det.poll_event() {
                    hits.push(Hit {
                        def: event.definition.map(|d| d.get() + *base),
                        event,
                    });
                }
            }
            pos += chunk.len() as u64;
        }
        hits.sort_by_key(|h| h.event.detected_at);
        hits
    }

    /// Feeds a whole recording from frame 0, then flushes (end of file).
    pub fn run(&mut self, samples: &[f32]) -> Vec<Hit> {
        let block = (self.rate_hz / 100) as usize; // 10 ms, like ALSA periods
        let mut hits = self.feed(0, samples, block);
        for (det, base) in &mut self.detectors {
            det.flush();
            while let Some(event) = det.poll_event() {
                hits.push(Hit {
                    def: event.definition.map(|d| d.get() + *base),
                    event,
                });
            }
            assert_eq!(
                det.stats().events_dropped,
                0,
                "the harness drains every block"
            );
        }
        hits.sort_by_key(|h| h.event.detected_at);
        hits
    }

    /// Like [`run`](Self::run), through the 16-bit path (the samples
    /// quantized as a sound card would deliver them).
    pub fn run_i16(&mut self, samples: &[f32]) -> Vec<Hit> {
        let ints: Vec<i16> = samples
            .iter()
            .map(|&s| (s.clamp(-1.0, 1.0) * 32_767.0).round() as i16)
            .collect();
        let block = (self.rate_hz / 100) as usize;
        let mut hits = Vec::new();
        let mut pos = 0u64;
        for chunk in ints.chunks(block) {
            for (det, base) in &mut self.detectors {
                det.process_i16(SampleIndex(pos), chunk);
                while let Some(event) = det.poll_event() {
                    hits.push(Hit {
                        def: event.definition.map(|d| d.get() + *base),
                        event,
                    });
                }
            }
            pos += chunk.len() as u64;
        }
        for (det, base) in &mut self.detectors {
            det.flush();
            while let Some(event) = det.poll_event() {
                hits.push(Hit {
                    def: event.definition.map(|d| d.get() + *base),
                    event,
                });
            }
        }
        hits.sort_by_key(|h| h.event.detected_at);
        hits
    }

    pub fn reset(&mut self) {
        for (det, _) in &mut self.detectors {
            det.reset();
        }
    }
}

/// Milliseconds of device frames.
pub fn ms(frames: u64, rate_hz: u32) -> f64 {
    frames as f64 * 1_000.0 / rate_hz as f64
}

/// Whether `measured` is within ±`percent` % of `nominal`.
pub fn within_percent(measured: f32, nominal: f32, percent: f32) -> bool {
    (measured - nominal).abs() <= nominal * percent / 100.0
}
