//! A seeded sweep: random appends, reads, acknowledgements (in any order),
//! rewinds, clean reopens, crashes and torn writes against a model of what
//! each consumer is owed. After every reopen:
//!
//! - nothing is lost: every entry a consumer has not acknowledged is
//!   handed to it again, except events evicted, and those are counted;
//! - nothing acknowledged comes back after a clean reopen (after a crash
//!   it may: at least once);
//! - nothing is made up: every entry handed out was appended, with its
//!   bytes, kind and place in the order, and is for that consumer.
//!
//! A failure names its seed; `OUTBOX_SWEEP_SEEDS=N` runs more seeds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use super::record::RecordRepr;
use super::*;

const OPS_PER_SEED: usize = 300;
const SEEDS_DEFAULT: u64 = 8;

/// xorshift64*: small, seeded, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NAMES: [&str; 3] = ["mqtt", "webhook:0", "s3"];

fn specs() -> Vec<ConsumerSpec> {
    vec![
        ConsumerSpec::new(NAMES[0], Kinds::EVENTS),
        // Even first bytes only, like a webhook's event-type filter.
        ConsumerSpec::new(NAMES[1], Kinds::EVENTS)
            .with_filter(|e: &Entry| e.payload.first().is_some_and(|b| b % 2 == 0)),
        ConsumerSpec::new(NAMES[2], Kinds::UPLOADS),
    ]
}

fn wants(consumer: usize, kind: Kind, payload: &[u8]) -> bool {
    match consumer {
        0 => kind == Kind::Event,
        1 => kind == Kind::Event && payload.first().is_some_and(|b| b % 2 == 0),
        _ => kind == Kind::Upload,
    }
}

/// What the outbox owes.
#[derive(Default)]
struct Model {
    /// Appended entries not yet known gone.
    entries: BTreeMap<u64, (Kind, Vec<u8>)>,
    /// Per consumer, what it has acknowledged.
    acked: [BTreeSet<u64>; 3],
    /// Per consumer, handed out and not yet acknowledged (in read order).
    in_flight: [Vec<u64>; 3],
    /// The highest seq append returned.
    max_seq: u64,
    /// Events found missing at reopens.
    evicted_seen: u64,
    /// Evictions the outbox counted, over all its lives.
    evicted_counted: u64,
}

struct Run<'a> {
    seed: u64,
    rng: Rng,
    config: OutboxConfig,
    outbox: Option<Outbox>,
    model: Model,
    dir: &'a Path,
}

impl Run<'_> {
    fn outbox(&mut self) -> &mut Outbox {
        self.outbox.as_mut().expect("open between steps")
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..40 => self.append(Kind::Event),
            40..46 => self.append(Kind::Upload),
            46..66 => self.read(),
            66..91 => self.ack(),
            91..94 => self.rewind(),
            94..97 => self.reopen(true),
            97..99 => self.reopen(false),
            _ => self.torn_append(),
        }
    }

    fn append(&mut self, kind: Kind) {
        let len = 1 + self.rng.below(150) as usize;
        let payload: Vec<u8> = (0..len).map(|_| self.rng.below(256) as u8).collect();
        let seed = self.seed;
        let seq = self.outbox().append(kind, &payload).expect("appended").0;
        assert!(seq > self.model.max_seq, "seed {seed}: seq {seq} went back");
        self.model.max_seq = seq;
        self.model.entries.insert(seq, (kind, payload));
    }

    fn read(&mut self) {
        let c = self.rng.below(3) as usize;
        let max = 1 + self.rng.below(20) as usize;
        let entries = self.outbox().read(ConsumerId(c), max).expect("read");
        for entry in entries {
            self.check_handed(c, &entry);
            let flight = &mut self.model.in_flight[c];
            assert!(
                flight.last().is_none_or(|&last| last < entry.seq.0),
                "seed {}: {} read out of order",
                self.seed,
                NAMES[c]
            );
            flight.push(entry.seq.0);
        }
    }

    /// An entry handed to consumer `c` was appended as it is, is for `c`,
    /// and was not acknowledged by `c`.
    fn check_handed(&self, c: usize, entry: &Entry) {
        let (seed, seq) = (self.seed, entry.seq.0);
        let (kind, payload) = self.model.entries.get(&seq).unwrap_or_else(|| {
            panic!("seed {seed}: {} handed unknown or gone seq {seq}", NAMES[c])
        });
        assert_eq!(
            (*kind, payload),
            (entry.kind, &entry.payload),
            "seed {seed}: seq {seq}"
        );
        assert!(
            wants(c, *kind, payload),
            "seed {seed}: {seq} is not for {}",
            NAMES[c]
        );
        assert!(
            !self.model.acked[c].contains(&seq),
            "seed {seed}: {} handed {seq} it acknowledged",
            NAMES[c]
        );
    }

    fn ack(&mut self) {
        let c = self.rng.below(3) as usize;
        let flight = &self.model.in_flight[c];
        if flight.is_empty() {
            return;
        }
        // Mostly the oldest in flight, sometimes any (out of order).
        let at = if self.rng.below(3) == 0 {
            self.rng.below(flight.len() as u64) as usize
        } else {
            0
        };
        let seq = self.model.in_flight[c].remove(at);
        let seed = self.seed;
        let outcome = self.outbox().ack(ConsumerId(c), Seq(seq)).expect("ack");
        let kind = self.model.entries.get(&seq).map(|e| e.0);
        match outcome {
            Ack::Advanced | Ack::Held => {}
            // Evicted while in flight: only ever an event.
            Ack::Unknown => assert_eq!(kind, Some(Kind::Event), "seed {seed}: ack {seq}"),
            Ack::Already => panic!("seed {seed}: {seq} in flight was already acknowledged"),
        }
        self.model.acked[c].insert(seq);
    }

    fn rewind(&mut self) {
        let c = self.rng.below(3) as usize;
        self.outbox().rewind(ConsumerId(c)).expect("rewound");
        self.model.in_flight[c].clear();
    }

    fn close(&mut self, clean: bool) {
        let mut outbox = self.outbox.take().expect("open");
        if clean {
            outbox.flush().expect("flushed");
        }
        self.model.evicted_counted += outbox.figures().evicted_events;
    }

    fn reopen(&mut self, clean: bool) {
        self.close(clean);
        let report = self.open();
        assert!(!report.is_damaged(), "seed {}: {report:?}", self.seed);
        self.check_owed(clean);
    }

    /// A crash in the middle of an append: part of a record (or noise)
    /// after the last one.
    fn torn_append(&mut self) {
        self.close(false);
        let payload = [7u8; 40];
        let record = RecordRepr {
            seq: Seq(self.model.max_seq + 1),
            kind: Kind::Event,
            payload: &payload,
        }
        .to_bytes();
        let cut = 1 + self.rng.below(record.len() as u64 - 1) as usize;
        let tail = if self.rng.below(4) == 0 {
            vec![0; cut]
        } else {
            record[..cut].to_vec()
        };
        let last = std::fs::read_dir(self.dir)
            .expect("lists")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .max()
            .expect("a segment once anything was appended");
        let mut file = OpenOptions::new().append(true).open(&last).expect("opens");
        file.write_all(&tail).expect("written");
        drop(file);
        let report = self.open();
        let kinds: Vec<DamageKind> = report.damage.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [DamageKind::TornTail], "seed {}", self.seed);
        assert_eq!(report.bytes_discarded, cut as u64, "seed {}", self.seed);
        self.check_owed(false);
    }

    fn open(&mut self) -> OpenReport {
        let (outbox, report) = Outbox::open(self.config.clone(), specs()).expect("reopens");
        self.outbox = Some(outbox);
        self.model.in_flight = Default::default();
        report
    }

    /// After a reopen: each consumer is handed everything it is owed.
    fn check_owed(&mut self, clean: bool) {
        let seed = self.seed;
        let mut missing_events = BTreeSet::new();
        let mut handed = [const { BTreeSet::new() }; 3];
        for c in 0..3 {
            let mut last = 0;
            // Each turn reads at least one entry: bounded by the model.
            for _ in 0..=self.model.entries.len() {
                let entries = self
                    .outbox()
                    .read(ConsumerId(c), READ_BATCH_MAX)
                    .expect("read");
                if entries.is_empty() {
                    break;
                }
                for entry in entries {
                    let seq = entry.seq.0;
                    assert!(seq > last, "seed {seed}: {} out of order", NAMES[c]);
                    last = seq;
                    if clean {
                        self.check_handed(c, &entry);
                    } else {
                        // At least once: acknowledged entries may come back.
                        self.model.acked[c].remove(&seq);
                        self.check_handed(c, &entry);
                    }
                    handed[c].insert(seq);
                }
            }
            let depth = self.outbox().depth(ConsumerId(c)).expect("depth");
            assert_eq!(
                depth,
                handed[c].len() as u64,
                "seed {seed}: {} depth",
                NAMES[c]
            );
            for (&seq, (kind, payload)) in &self.model.entries {
                let owed = wants(c, *kind, payload) && !self.model.acked[c].contains(&seq);
                if owed && !handed[c].contains(&seq) {
                    assert_eq!(*kind, Kind::Event, "seed {seed}: {} lost {seq}", NAMES[c]);
                    missing_events.insert(seq);
                }
            }
            self.outbox().rewind(ConsumerId(c)).expect("rewound");
        }
        for seq in &missing_events {
            for (c, handed) in handed.iter().enumerate() {
                assert!(
                    !handed.contains(seq),
                    "seed {seed}: {seq} evicted but {c} has it"
                );
            }
            self.model.entries.remove(seq);
        }
        self.model.evicted_seen += missing_events.len() as u64;
        let counted = self.model.evicted_counted + self.outbox().figures().evicted_events;
        assert!(
            self.model.evicted_seen <= counted,
            "seed {seed}: {} events missing, {counted} evictions counted",
            self.model.evicted_seen
        );
        // Forget what every consumer is done with.
        let acked = &self.model.acked;
        self.model.entries.retain(|seq, (kind, payload)| {
            (0..3).any(|c| wants(c, *kind, payload) && !acked[c].contains(seq))
        });
    }
}

fn run(seed: u64) {
    let dir = tempfile::tempdir().expect("a temp folder");
    let mut rng = Rng::new(seed);
    let config = OutboxConfig {
        dir: dir.path().to_owned(),
        segment_bytes: 1024,
        max_bytes: 1024 * (2 + rng.below(6)),
        cursor_sync_every: 1 + rng.below(4) as u32,
    };
    let mut run = Run {
        seed,
        rng,
        config,
        outbox: None,
        model: Model::default(),
        dir: dir.path(),
    };
    run.open();
    // Something to tear before the first torn append.
    run.append(Kind::Event);
    for _ in 0..OPS_PER_SEED {
        run.step();
    }
    run.reopen(true);
}

#[test]
fn random_sessions_keep_every_promise() {
    let seeds = std::env::var("OUTBOX_SWEEP_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEEDS_DEFAULT);
    for seed in 1..=seeds {
        run(seed);
    }
}
