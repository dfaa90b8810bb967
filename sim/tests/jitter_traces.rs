//! The jitter buffer against synthetic arrival traces of realistic length:
//! minutes of 20 ms Opus frames in 60 s talk-spurts, through a seeded
//! network (latency, jitter, loss, reordering, a stall) from a sender whose
//! clock may drift. Each trace prints one row:
//!
//! ```text
//! cargo test -p echostream-sim --test jitter_traces -- --nocapture --test-threads 1
//! ```
//!
//! "delay" is the truth the simulator knows: when a frame was played minus
//! when the fastest path (no queueing) would have delivered it. The numbers
//! asserted are the ones measured with these seeds, with the margin the
//! comment beside each gives.

use std::collections::HashMap;

use echostream_core::jitter::{DefaultJitterBuffer, JitterConfig, Playout, State, Stats};
use echostream_core::time::Instant;
use echostream_core::wire::{Flags, KeyId, Kind, MediaTimestamp, Repr, Seq, StreamId};
use echostream_sim::Rng;

const FRAME_US: u64 = 20_000;
const FRAME_SAMPLES: u64 = 960;
/// Opus DTX keeps one (1-byte) packet every 400 ms in silence.
const DTX_INTERVAL_FRAMES: u64 = 20;

#[derive(Debug, Clone, Copy)]
enum Loss {
    None,
    /// Each audio packet lost independently.
    Random(f64),
    /// Gilbert–Elliott: good→bad and bad→good per packet; all lost in bad.
    Bursty {
        good_to_bad: f64,
        bad_to_good: f64,
    },
}

#[derive(Debug, Clone)]
struct Trace {
    name: &'static str,
    seed: u64,
    /// Talk-spurts (PTT transmissions), each `spurt_s` of media.
    spurts: u32,
    spurt_s: u64,
    /// Idle between talk-spurts, uniform in this range (ms).
    idle_ms: (u64, u64),
    /// The fastest path's latency.
    base_ms: u64,
    /// Queueing delay uniform in `0..=2 × jitter_ms`: ± `jitter_ms` around
    /// its mean.
    jitter_ms: u64,
    loss: Loss,
    /// Probability that a packet swaps places with the next one.
    reorder: f64,
    /// The sender's sound card runs this fast (+) or slow (−).
    drift_ppm: f64,
    /// From this many ms after the start, nothing gets through for the
    /// given ms; then everything held comes at once.
    stall: Option<(u64, u64)>,
    /// A first talk-spurt of this many seconds (0: none) before the
    /// `spurts` of `spurt_s`, so that the measured ones start with a
    /// learnt target.
    warmup_s: u64,
    /// Speech pauses inside talk-spurts (DTX: one 1-byte packet per
    /// 400 ms, timestamps jump between them).
    pauses: bool,
    config: JitterConfig,
}

impl Trace {
    fn new(name: &'static str, seed: u64) -> Trace {
        Trace {
            name,
            seed,
            spurts: 5,
            spurt_s: 60,
            idle_ms: (1_000, 5_000),
            base_ms: 40,
            jitter_ms: 0,
            loss: Loss::None,
            reorder: 0.0,
            drift_ppm: 0.0,
            stall: None,
            warmup_s: 0,
            pauses: false,
            config: JitterConfig::DEFAULT,
        }
    }
}

/// One packet as sent and as delivered.
#[derive(Debug, Clone)]
struct Packet {
    repr: Repr,
    /// Real (receiver-clock) send time.
    send_us: u64,
    arrival_us: u64,
    lost: bool,
    dtx: bool,
    spurt: u32,
}

/// What one trace did.
#[derive(Debug, Default)]
struct Outcome {
    audio_sent: u64,
    network_lost: u64,
    stats: Stats,
    /// Truth delays of played non-DTX frames (ms).
    delays_ms: Vec<f64>,
    /// The same per talk-spurt.
    spurt_delay_ms: Vec<(f64, f64)>,
    /// Targets applied, in order.
    targets_ms: Vec<u32>,
    /// Missing frames whose FEC-carrying successor was held at their turn,
    /// and how many of those were answered `Fec`.
    fec_possible: u64,
    fec_used: u64,
    /// The buffer's own delay reading minus the truth, worst case (ms).
    reading_error_ms: f64,
    /// `Silence` answers in an underrun of a playing talk-spurt (after the
    /// concealed ones): each stands in for a frame that is missing.
    underrun_silences: u64,
}

impl Outcome {
    fn late_pct(&self) -> f64 {
        100.0 * self.stats.late as f64 / self.audio_sent as f64
    }
    fn mean_delay_ms(&self) -> f64 {
        self.delays_ms.iter().sum::<f64>() / self.delays_ms.len() as f64
    }
    fn max_delay_ms(&self) -> f64 {
        self.delays_ms.iter().copied().fold(0.0, f64::max)
    }
}

fn generate(trace: &Trace, rng: &mut Rng) -> Vec<Packet> {
    let mut packets = Vec::new();
    let scale = 1.0 / (1.0 + trace.drift_ppm * 1e-6);
    // Sender media clock in samples since its start; its timestamps start
    // anywhere in the 32-bit space (and may wrap).
    let ts0 = rng.next_u64() as u32;
    let mut seq = rng.next_u64() as u32;
    let mut media: u64 = 48_000;
    let real_us = |media: u64| (media as f64 * 1e6 / 48_000.0 * scale) as u64;
    let mut push =
        |packets: &mut Vec<Packet>, kind: Kind, flags: Flags, media: u64, dtx: bool, spurt: u32| {
            packets.push(Packet {
                repr: Repr {
                    kind,
                    flags,
                    key_id: KeyId(1),
                    stream_id: StreamId(42),
                    seq: Seq(seq),
                    timestamp: MediaTimestamp(ts0.wrapping_add(media as u32)),
                    payload_len: if dtx { 2 } else { 60 },
                },
                send_us: real_us(media),
                arrival_us: 0,
                lost: false,
                dtx,
                spurt,
            });
            seq = seq.wrapping_add(1);
        };
    let warmup = u32::from(trace.warmup_s > 0);
    for spurt in 0..trace.spurts + warmup {
        let spurt_s = if spurt < warmup {
            trace.warmup_s
        } else {
            trace.spurt_s
        };
        let frames = spurt_s * 1_000_000 / FRAME_US;
        let mut frame = 0;
        let mut talk_left = 0u64;
        while frame < frames {
            if trace.pauses && talk_left == 0 && frame > 0 {
                // A pause of 0.4–2 s: a DTX packet as it starts, then one
                // every 400 ms.
                let pause = 20 + rng.below(80);
                let mut k = 0;
                while k < pause {
                    push(
                        &mut packets,
                        Kind::Audio,
                        Flags::FEC,
                        media + k * FRAME_SAMPLES,
                        true,
                        spurt,
                    );
                    k += DTX_INTERVAL_FRAMES;
                }
                media += pause * FRAME_SAMPLES;
                frame += pause;
            }
            if talk_left == 0 {
                talk_left = 100 + rng.below(200); // 2–6 s of speech
            }
            let flags = if frame == 0 {
                Flags::START_OF_TALKSPURT.union(Flags::FEC)
            } else {
                Flags::FEC
            };
            push(&mut packets, Kind::Audio, flags, media, false, spurt);
            media += FRAME_SAMPLES;
            frame += 1;
            talk_left -= 1;
        }
        push(
            &mut packets,
            Kind::EndOfTransmission,
            Flags::NONE,
            media,
            false,
            spurt,
        );
        let idle_ms = trace.idle_ms.0 + rng.below(trace.idle_ms.1 - trace.idle_ms.0 + 1);
        media += idle_ms * 48;
    }

    // The network.
    let mut bad = false;
    for p in &mut packets {
        let queueing_us = rng.below(2 * trace.jitter_ms * 1_000 + 1);
        p.arrival_us = p.send_us + trace.base_ms * 1_000 + queueing_us;
        if p.repr.kind != Kind::Audio {
            continue;
        }
        p.lost = match trace.loss {
            Loss::None => false,
            Loss::Random(rate) => rng.chance(rate),
            Loss::Bursty {
                good_to_bad,
                bad_to_good,
            } => {
                bad = if bad {
                    !rng.chance(bad_to_good)
                } else {
                    rng.chance(good_to_bad)
                };
                bad
            }
        };
    }
    let mut i = 0;
    while i + 1 < packets.len() {
        // Only neighbours in time swap (not across a talk-spurt's idle).
        let close = packets[i + 1].send_us - packets[i].send_us <= FRAME_US;
        if close && rng.chance(trace.reorder) {
            let (a, b) = (packets[i].arrival_us, packets[i + 1].arrival_us);
            packets[i].arrival_us = b;
            packets[i + 1].arrival_us = a;
            i += 1;
        }
        i += 1;
    }
    if let Some((at_ms, len_ms)) = trace.stall {
        // Start it in speech: at the first packet after `at_ms` that the
        // next 15 follow without a pause.
        let speech_at = (0..packets.len() - 16)
            .find(|&i| {
                packets[i].arrival_us >= at_ms * 1_000
                    && packets[i..i + 16]
                        .iter()
                        .all(|p| p.repr.kind == Kind::Audio && !p.dtx)
                    && packets[i + 15].send_us - packets[i].send_us < 16 * FRAME_US
            })
            .expect("speech after the stall time");
        let from = packets[speech_at].arrival_us;
        let to = from + len_ms * 1_000;
        for p in &mut packets {
            if (from..to).contains(&p.arrival_us) {
                p.arrival_us = to + (p.arrival_us - from) / 1_000;
            }
        }
    }
    packets
}

fn run(trace: &Trace) -> Outcome {
    let mut rng = Rng::new(trace.seed);
    let packets = generate(trace, &mut rng);
    let mut by_seq: HashMap<u32, usize> = HashMap::new();
    let mut by_low: HashMap<u16, u32> = HashMap::new();
    assert!(
        packets.len() < 1 << 16,
        "DTX payloads name packets by 16 bits"
    );
    let mut order: Vec<usize> = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        by_seq.insert(p.repr.seq.0, i);
        by_low.insert(p.repr.seq.0 as u16, p.repr.seq.0);
        if !p.lost {
            order.push(i);
        }
    }
    order.sort_by_key(|&i| packets[i].arrival_us);

    let mut buffer = DefaultJitterBuffer::new(trace.config).expect("valid config");
    let mut out = Outcome {
        audio_sent: packets
            .iter()
            .filter(|p| p.repr.kind == Kind::Audio)
            .count() as u64,
        network_lost: packets.iter().filter(|p| p.lost).count() as u64,
        ..Outcome::default()
    };
    let mut held = vec![false; packets.len()];
    let mut next = 0;
    let phase_us = rng.below(FRAME_US);
    let end_us = packets.last().unwrap().arrival_us + 3_000_000;
    let mut last_played: Option<usize> = None;
    let mut spurt_sum = (0.0, 0.0, 0u64, 0);
    let mut pop_us = phase_us;
    while pop_us < end_us {
        while next < order.len() && packets[order[next]].arrival_us <= pop_us {
            let p = &packets[order[next]];
            let mut payload = [0u8; 60];
            if p.dtx {
                payload[..2].copy_from_slice(&(p.repr.seq.0 as u16).to_be_bytes());
            } else {
                payload[..4].copy_from_slice(&p.repr.seq.0.to_be_bytes());
            }
            let len = if p.repr.kind == Kind::Audio {
                p.repr.payload_len
            } else {
                0
            };
            let _ = buffer.insert(Instant::from_micros(p.arrival_us), &p.repr, &payload[..len]);
            held[order[next]] = true;
            next += 1;
        }
        let before = buffer.next_seq().0;
        let retargets = buffer.stats().retargets;
        let was_idle = buffer.state() == State::Idle;
        let underrun = buffer.state() == State::Playing && buffer.held_len() == 0;
        let (kind, played) = match buffer.pop(Instant::from_micros(pop_us)) {
            Playout::Frame(bytes) => ('F', Some(seq_of(bytes, &by_low))),
            Playout::Fec(_) => ('f', None),
            Playout::Conceal => ('C', None),
            Playout::Silence => ('S', None),
            Playout::EndOfTransmission => ('E', None),
        };
        if kind == 'f' {
            out.fec_used += 1;
        }
        if kind == 'S' && underrun && buffer.state() == State::Playing {
            out.underrun_silences += 1;
        }
        // A pop that conceals or recovers a missing frame moves the next
        // sequence number past it (possibly after skipping frames that
        // earlier underrun pops stood in for): it covered `after - 1`.
        let after = buffer.next_seq().0;
        let covered = matches!(kind, 'C' | 'f') && !was_idle && after != before;
        if covered {
            // A missing frame's turn: was its successor here with FEC?
            let successor = by_seq.get(&after).copied();
            if successor
                .is_some_and(|s| held[s] && packets[s].repr.kind == Kind::Audio && !packets[s].dtx)
            {
                out.fec_possible += 1;
            }
        }
        if buffer.stats().retargets != retargets {
            out.targets_ms.push(buffer.stats().delay_target_ms);
        }
        if let Some(seq) = played {
            let i = by_seq[&seq];
            let p = &packets[i];
            if let Some(last) = last_played {
                assert!(
                    i > last || packets[last].spurt < p.spurt,
                    "{}: frame {i} after {last}",
                    trace.name
                );
            }
            last_played = Some(i);
            if !p.dtx {
                let delay_ms = (pop_us as f64 - (p.send_us + trace.base_ms * 1_000) as f64) / 1e3;
                out.delays_ms.push(delay_ms);
                let reading = f64::from(buffer.stats().delay_current_ms);
                out.reading_error_ms = out.reading_error_ms.max((reading - delay_ms).abs());
                if p.spurt != spurt_sum.3 && spurt_sum.2 > 0 {
                    out.spurt_delay_ms
                        .push((spurt_sum.0 / spurt_sum.2 as f64, spurt_sum.1));
                    spurt_sum = (0.0, 0.0, 0, p.spurt);
                }
                spurt_sum.3 = p.spurt;
                spurt_sum.0 += delay_ms;
                spurt_sum.1 = f64::max(spurt_sum.1, delay_ms);
                spurt_sum.2 += 1;
            }
        }
        let stats = buffer.stats();
        let config = trace.config;
        assert!(
            (config.jitter_min_ms..=config.jitter_max_ms).contains(&stats.delay_target_ms),
            "{}: target {} ms out of bounds",
            trace.name,
            stats.delay_target_ms
        );
        pop_us += FRAME_US;
    }
    if spurt_sum.2 > 0 {
        out.spurt_delay_ms
            .push((spurt_sum.0 / spurt_sum.2 as f64, spurt_sum.1));
    }
    assert_eq!(buffer.state(), State::Idle, "{}: ends idle", trace.name);
    out.stats = buffer.stats();
    print_row(trace, &out);
    out
}

/// The sequence number a payload carries: all of it in a speech packet,
/// the low 16 bits in a 2-byte DTX packet.
fn seq_of(bytes: &[u8], by_low: &HashMap<u16, u32>) -> u32 {
    if let [a, b, c, d, ..] = *bytes {
        u32::from_be_bytes([a, b, c, d])
    } else {
        by_low[&u16::from_be_bytes([bytes[0], bytes[1]])]
    }
}

/// Consecutive repeats removed (pauses retarget too).
fn dedup(targets: &[u32]) -> Vec<u32> {
    let mut out = targets.to_vec();
    out.dedup();
    out
}

fn print_row(trace: &Trace, o: &Outcome) {
    let s = o.stats;
    println!(
        "{:<28} sent {:>6}  net lost {:>4}  late {:>5.2} %  lost {:>4}  concealed {:>4}  fec {:>3}/{:<3}  \
         dropped {:>3}  delay mean {:>6.1} max {:>6.1} ms  targets {:?}",
        trace.name,
        o.audio_sent,
        o.network_lost,
        o.late_pct(),
        s.lost,
        s.concealed,
        o.fec_used,
        o.fec_possible,
        s.silence_dropped,
        o.mean_delay_ms(),
        o.max_delay_ms(),
        dedup(&o.targets_ms),
    );
    let per_spurt: Vec<String> = o
        .spurt_delay_ms
        .iter()
        .map(|(mean, max)| format!("{mean:.0}/{max:.0}"))
        .collect();
    println!(
        "{:<28} per talk-spurt mean/max delay ms: {}; stretched {}; underrun silences {}; \
         reading error ≤ {:.1} ms; stalls {}",
        "",
        per_spurt.join(" "),
        s.stretched,
        o.underrun_silences,
        o.reading_error_ms,
        s.stalls
    );
}

#[test]
fn steady_network_settles_at_jitter_min_with_nothing_late() {
    let o = run(&Trace::new("steady", 1));
    // The first talk-spurt knows nothing and starts at the 80 ms start
    // delay. Then every relative delay measured is 0: the target is the
    // 20 ms minimum and each talk-spurt starts within half a frame of it
    // (where in ±10 ms depends on the phase of the pops).
    assert_eq!(o.targets_ms[0], 80);
    assert!(
        o.targets_ms[1..].iter().all(|&t| t == 20),
        "{:?}",
        o.targets_ms
    );
    for &(mean, max) in &o.spurt_delay_ms[1..] {
        assert!((10.0..30.0).contains(&mean) && max < 30.0, "{mean} {max}");
    }
    let s = o.stats;
    assert_eq!((s.late, s.lost, s.concealed, s.stalls), (0, 0, 0, 0));
    assert_eq!(s.frames_played, o.audio_sent);
}

#[test]
fn uniform_jitter_of_30_ms_loses_under_one_percent_late() {
    let mut trace = Trace::new("jitter ±30 ms", 2);
    trace.jitter_ms = 30;
    let o = run(&trace);
    // Relative delays are uniform on 0–60 ms: q97 = 58 ms ± the 2 ms
    // bucket, so the target is 76–80 ms once learnt.
    for &t in &o.targets_ms[1..] {
        assert!((76..=80).contains(&t), "{:?}", o.targets_ms);
    }
    // A talk-spurt starts within half a frame of the target, and a packet
    // is late only beyond q97 + 10 ms > 60 ms: none measured (≤ 1 % asked).
    assert!(o.late_pct() <= 1.0, "{}", o.late_pct());
    assert_eq!(o.stats.late, 0);
    for &(mean, max) in &o.spurt_delay_ms[1..] {
        assert!((66.0..90.0).contains(&mean) && max < 90.0, "{mean} {max}");
    }
    assert_eq!(o.stats.stalls, 0);
}

#[test]
fn random_loss_of_5_percent_is_concealed_or_recovered_by_fec() {
    let mut trace = Trace::new("loss 5 % random, ±5 ms", 3);
    trace.jitter_ms = 5;
    trace.loss = Loss::Random(0.05);
    let o = run(&trace);
    check_loss(&o);
}

#[test]
fn bursty_loss_is_concealed_or_recovered_by_fec() {
    // Gilbert–Elliott with a mean burst of 3 packets (bad→good 1/3) and
    // 5 % of packets lost on average (good→bad 0.05/0.95/3).
    let mut trace = Trace::new("loss 5 % bursts of 3, ±5 ms", 4);
    trace.jitter_ms = 5;
    trace.loss = Loss::Bursty {
        good_to_bad: 0.05 / 0.95 / 3.0,
        bad_to_good: 1.0 / 3.0,
    };
    let o = run(&trace);
    check_loss(&o);
}

fn check_loss(o: &Outcome) {
    let s = o.stats;
    // Every packet the network lost is a lost frame; nothing else is (no
    // extra late loss on a ±5 ms path).
    assert_eq!(s.late, 0);
    assert_eq!(s.lost, o.network_lost);
    // Each lost frame was answered once: FEC, concealment, or — in the
    // part of a burst that outlasts the five concealed underrun frames —
    // silence. Stretches conceal nothing.
    assert_eq!(
        s.concealed - s.stretched + s.fec_recovered + o.underrun_silences,
        s.lost
    );
    // FEC whenever the successor was there to carry it.
    assert_eq!(o.fec_used, o.fec_possible);
    assert_eq!(s.fec_recovered, o.fec_used);
}

#[test]
fn adjacent_reordering_loses_nothing() {
    let mut trace = Trace::new("reorder 10 % adjacent", 5);
    trace.reorder = 0.1;
    let o = run(&trace);
    // A swapped pair puts one packet 20 ms behind the path, one 20 ms
    // ahead: once the reference sits on the early ones, about 9 % of the
    // delays are 0, 82 % are 20 ms and 9 % are 40 ms, so q97 = 40 ms and
    // the target 60 ms: the late one of a pair is always in time.
    // Nothing is late or lost.
    let s = o.stats;
    assert_eq!((s.late, s.lost, s.concealed), (0, 0, 0));
    assert!(
        o.targets_ms[1..].iter().all(|&t| t == 60),
        "{:?}",
        o.targets_ms
    );
}

/// Ten minutes of continuous talk after a 20 s talk-spurt that teaches
/// the buffer the path (±10 ms of jitter: target 38 ms).
fn drift_trace(name: &'static str, seed: u64, drift_ppm: f64, pauses: bool) -> Outcome {
    let mut trace = Trace::new(name, seed);
    trace.warmup_s = 20;
    trace.spurts = 1;
    trace.spurt_s = 600;
    trace.jitter_ms = 10;
    trace.drift_ppm = drift_ppm;
    trace.pauses = pauses;
    run(&trace)
}

#[test]
fn a_fast_sender_clock_over_ten_minutes_stays_within_bounds() {
    // +100 ppm: the sender makes 60 ms more audio than we play in ten
    // minutes. In continuous speech it accumulates (speech is never
    // dropped) but stays far below jitter_max; with pauses each one sheds
    // it.
    let max_ms = f64::from(JitterConfig::DEFAULT.jitter_max_ms);
    let o = drift_trace("drift +100 ppm, 10 min", 6, 100.0, false);
    let s = o.stats;
    assert_eq!((s.late, s.lost, s.concealed), (0, 0, 0));
    let (mean, max) = o.spurt_delay_ms[1];
    assert!(max < 40.0 + 60.0 + 10.0 && max < max_ms, "{mean} {max}");
    let o = drift_trace("drift +100 ppm, pauses", 7, 100.0, true);
    assert_eq!((o.stats.late, o.stats.lost), (0, 0));
    let (mean, max) = o.spurt_delay_ms[1];
    assert!(max < 60.0, "{mean} {max}");
}

#[test]
fn a_slow_sender_clock_over_ten_minutes_never_underflows_into_a_storm() {
    // −100 ppm: 60 ms less audio than we play. The buffer drains a frame
    // every 200 s and stretches by one concealed frame each time it falls
    // below the jitter quantile: three in ten minutes, nothing late.
    let o = drift_trace("drift −100 ppm, 10 min", 8, -100.0, false);
    let s = o.stats;
    assert_eq!((s.late, s.lost), (0, 0));
    assert!(s.concealed <= 4, "{}", s.concealed);
    let o = drift_trace("drift −100 ppm, pauses", 9, -100.0, true);
    assert_eq!((o.stats.late, o.stats.lost), (0, 0));
    assert!(o.stats.concealed <= 20, "{}", o.stats.concealed);
}

#[test]
fn a_stall_plays_late_then_catches_up_in_silence_or_at_the_next_spurt() {
    // 200 ms of nothing 90 s in (talk-spurt 2), then the backlog at once.
    let mut trace = Trace::new("stall 200 ms", 10);
    trace.jitter_ms = 5;
    trace.stall = Some((90_000, 200));
    let o = run(&trace);
    let s = o.stats;
    // The underrun holds the position until the delay reaches the 200 ms
    // maximum: the 30 ± 10 ms of target plus the stall is up to two frames
    // more than that, so their time passes and they come too late; the
    // rest plays a stall late until the end of that talk-spurt (no silence
    // in it) …
    assert_eq!(s.late, s.lost);
    assert!(s.lost <= 2, "{}", s.lost);
    let (_, stalled_max) = o.spurt_delay_ms[1];
    assert!((180.0..=200.0).contains(&stalled_max), "{stalled_max}");
    // … and the next talk-spurt is back at the target.
    let (after_mean, _) = o.spurt_delay_ms[2];
    assert!(after_mean < 45.0, "{after_mean}");

    // With speech pauses the first pause after the stall sheds the delay.
    let mut trace = Trace::new("stall 200 ms, pauses", 11);
    trace.jitter_ms = 5;
    trace.pauses = true;
    trace.stall = Some((90_000, 200));
    let o = run(&trace);
    assert!(o.stats.lost <= 1);
    let (stalled_mean, stalled_max) = o.spurt_delay_ms[1];
    assert!(stalled_max >= 180.0, "{stalled_max}");
    assert!(stalled_mean < 60.0, "{stalled_mean}");
}
