//! A receiver behind a hostile network: a million datagrams, most of them
//! damaged, replayed, duplicated or late. Only the sender's originals may
//! be accepted, each exactly once, and none may be lost to the damage.

use echostream_core::crypto::{Direction, OpenErrorKind, Receiver, Secret, Sender, SessionKeys};
use echostream_core::time::Instant;
use echostream_core::wire::{Flags, HEADER_LEN, KeyId, Kind, MediaTimestamp, StreamId};
use echostream_sim::{Delivery, FaultConfig, FaultInjector, Mutation};

const STREAMS: u32 = 4;
const DELIVERIES_MIN: usize = 1_000_000;
const OPUS_PAYLOAD_LEN: usize = 60;

#[test]
fn only_originals_are_accepted_each_once_among_a_million_mutated_datagrams() {
    let keys = SessionKeys::derive(&Secret::from_bytes([0x5a; 32]), KeyId(3));
    let mut senders: Vec<Sender> = (0..STREAMS)
        .map(|s| Sender::new(&keys, Direction::NodeToRelay, StreamId(100 + s)))
        .collect();
    let mut receiver: Receiver<{ STREAMS as usize }> = Receiver::new(&keys, Direction::NodeToRelay);
    let mut net = FaultInjector::new(
        0xec40_5743,
        FaultConfig {
            drop: 0.0,
            duplicate: 0.15,
            reorder: 0.2,
            // Well inside the 128-packet window even with four streams
            // interleaved, so every late original is still acceptable.
            reorder_depth_max: 24,
            bit_flip: 0.9,
            truncate: 0.5,
            replay: 0.6,
            // Reaches far past the window: old replays must be refused as
            // too old, recent ones as duplicates.
            history_len: 2_000,
        },
    );

    let mut tally = Tally {
        accepted: vec![Vec::new(); STREAMS as usize],
        ..Tally::default()
    };
    let mut deliveries = Vec::new();
    let mut sent = 0u32;
    let mut buf = [0u8; 2048];

    while tally.delivered < DELIVERIES_MIN {
        let stream = sent % STREAMS;
        let seq_in_stream = sent / STREAMS;
        let payload = expected_payload(stream, seq_in_stream);
        buf[HEADER_LEN..HEADER_LEN + OPUS_PAYLOAD_LEN].copy_from_slice(&payload);
        let flags = if seq_in_stream == 0 {
            Flags::START_OF_TALKSPURT
        } else {
            Flags::NONE
        };
        let ts = MediaTimestamp(seq_in_stream.wrapping_mul(960));
        let len = senders[stream as usize]
            .seal(Kind::Audio, flags, ts, OPUS_PAYLOAD_LEN, &mut buf)
            .expect("sealing a fresh stream");
        net.send(&buf[..len], &mut deliveries);
        sent += 1;
        tally.receive(
            &mut receiver,
            Instant::from_millis(sent as u64 * 5),
            &mut deliveries,
        );
    }
    net.flush(&mut deliveries);
    tally.receive(
        &mut receiver,
        Instant::from_millis(sent as u64 * 5),
        &mut deliveries,
    );
    let Tally {
        accepted,
        rejected,
        by_mutation,
        delivered,
    } = tally;

    let originals_per_stream = sent.div_ceil(STREAMS);
    for (stream, counts) in accepted.iter().enumerate() {
        let expected = (sent as usize + STREAMS as usize - 1 - stream) / STREAMS as usize;
        assert_eq!(
            counts.len(),
            expected,
            "stream {stream}: every original arrived"
        );
        assert!(
            counts.iter().all(|&n| n == 1),
            "stream {stream}: each original accepted exactly once"
        );
    }
    eprintln!(
        "{delivered} deliveries of {sent} originals ({originals_per_stream} per stream); rejected: {}; by mutation: {by_mutation:?}",
        OpenErrorKind::ALL
            .iter()
            .map(|k| format!("{}={}", k.name(), rejected[k.index()]))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // The network really was hostile in every way the test claims.
    for kind in [
        "bit_flip",
        "truncated",
        "replayed",
        "duplicate",
        "reordered",
    ] {
        assert!(
            by_mutation.get(kind).copied().unwrap_or(0) > 10_000,
            "too few {kind} deliveries"
        );
    }
    assert!(
        rejected[OpenErrorKind::TooOld.index()] > 10_000,
        "old replays reached the too-old check"
    );
    assert!(rejected[OpenErrorKind::Duplicate.index()] > 10_000);
    assert!(rejected[OpenErrorKind::Forged.index()] > 10_000);
    assert!(rejected[OpenErrorKind::Malformed.index()] > 10_000);
}

#[derive(Default)]
struct Tally {
    /// `accepted[stream][seq]` counts acceptances of each original.
    accepted: Vec<Vec<u32>>,
    rejected: [usize; OpenErrorKind::COUNT],
    by_mutation: std::collections::BTreeMap<&'static str, usize>,
    delivered: usize,
}

impl Tally {
    fn receive(
        &mut self,
        receiver: &mut Receiver<{ STREAMS as usize }>,
        now: Instant,
        batch: &mut Vec<Delivery>,
    ) {
        for d in batch.drain(..) {
            let mut bytes = d.bytes;
            match receiver.open(now, &mut bytes) {
                Ok(opened) => {
                    assert!(
                        d.mutation.is_original(),
                        "accepted a {:?} datagram: {}",
                        d.mutation,
                        opened.repr
                    );
                    let stream = (opened.repr.stream_id.0 - 100) as usize;
                    let seq = opened.repr.seq.0 as usize;
                    let payload = &bytes[opened.payload.clone()];
                    assert_eq!(
                        payload,
                        &expected_payload(stream as u32, seq as u32)[..],
                        "plaintext intact"
                    );
                    let counts = &mut self.accepted[stream];
                    if counts.len() <= seq {
                        counts.resize(seq + 1, 0);
                    }
                    counts[seq] += 1;
                }
                Err(e) => {
                    assert!(
                        !d.mutation.is_original(),
                        "rejected an original ({:?}): {e}",
                        d.mutation
                    );
                    self.rejected[e.kind().index()] += 1;
                }
            }
            *self
                .by_mutation
                .entry(mutation_name(d.mutation))
                .or_default() += 1;
            self.delivered += 1;
        }
    }
}

fn expected_payload(stream: u32, seq: u32) -> [u8; OPUS_PAYLOAD_LEN] {
    let mut p = [0u8; OPUS_PAYLOAD_LEN];
    for (i, b) in p.iter_mut().enumerate() {
        *b = (stream as u8).wrapping_mul(31) ^ (seq as u8).wrapping_add(i as u8);
    }
    p
}

fn mutation_name(m: Mutation) -> &'static str {
    match m {
        Mutation::Original => "original",
        Mutation::Reordered => "reordered",
        Mutation::Duplicate => "duplicate",
        Mutation::Replayed => "replayed",
        Mutation::BitFlip { .. } => "bit_flip",
        Mutation::Truncated { .. } => "truncated",
    }
}
