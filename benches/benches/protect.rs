//! Packet protection per datagram: seal a 60-byte Opus-sized payload
//! (header emit + AES-256-GCM + tag) and open it again (checked parse, key
//! lookup, replay check, tag verify + decrypt, replay commit).
//!
//! `cargo bench -p echostream-benches --bench protect`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use echostream_core::crypto::{Direction, Receiver, Secret, Sender, SessionKeys};
use echostream_core::time::Instant;
use echostream_core::wire::{
    Flags, HEADER_LEN, KeyId, Kind, MAX_DATAGRAM_LEN, MediaTimestamp, StreamId,
};

/// A 20 ms Opus frame at ~24 kb/s is about 60 bytes.
const PAYLOAD_LEN: usize = 60;
/// Distinct datagrams cycled through by the open benches (each seq opens
/// once per receiver, so the receiver is replaced after a full cycle).
const DATAGRAMS: usize = 4096;

fn keys() -> SessionKeys {
    SessionKeys::derive(&Secret::from_bytes([0x42; 32]), KeyId(1))
}

fn opus_payload() -> [u8; PAYLOAD_LEN] {
    core::array::from_fn(|i| i as u8)
}

fn seal_one(sender: &mut Sender, payload: &[u8; PAYLOAD_LEN], buf: &mut [u8]) -> usize {
    buf[HEADER_LEN..HEADER_LEN + PAYLOAD_LEN].copy_from_slice(payload);
    sender
        .seal(
            Kind::Audio,
            Flags::NONE,
            MediaTimestamp(960),
            PAYLOAD_LEN,
            buf,
        )
        .expect("a 60-byte audio payload fits a max-size buffer")
}

fn protect(c: &mut Criterion) {
    let keys = keys();
    let payload = opus_payload();
    let mut group = c.benchmark_group("protect");
    group.throughput(Throughput::Elements(1));

    group.bench_function("seal+emit", |b| {
        let mut sender = Sender::new(&keys, Direction::NodeToRelay, StreamId(1));
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        b.iter(|| {
            if sender.remaining() == 0 {
                sender = Sender::new(&keys, Direction::NodeToRelay, StreamId(1));
            }
            black_box(seal_one(&mut sender, black_box(&payload), &mut buf))
        });
    });

    let mut sender = Sender::new(&keys, Direction::NodeToRelay, StreamId(1));
    let datagrams: Vec<Vec<u8>> = (0..DATAGRAMS)
        .map(|_| {
            let mut buf = [0u8; MAX_DATAGRAM_LEN];
            let len = seal_one(&mut sender, &payload, &mut buf);
            buf[..len].to_vec()
        })
        .collect();
    let now = Instant::from_millis(1);

    group.bench_function("parse+open", |b| {
        let mut receiver: Receiver<8> = Receiver::new(&keys, Direction::NodeToRelay);
        let mut next = 0;
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        b.iter(|| {
            if next == DATAGRAMS {
                receiver = Receiver::new(&keys, Direction::NodeToRelay);
                next = 0;
            }
            // The copy stands in for the socket read into the buffer.
            let datagram = &datagrams[next];
            next += 1;
            let buf = &mut buf[..datagram.len()];
            buf.copy_from_slice(datagram);
            let opened = receiver.open(now, buf).expect("each datagram opens once");
            black_box(&buf[opened.payload]);
        });
    });

    let mut forged = datagrams[0].clone();
    *forged.last_mut().expect("datagrams are not empty") ^= 1;
    group.bench_function("parse+open forged (rejected)", |b| {
        let mut receiver: Receiver<8> = Receiver::new(&keys, Direction::NodeToRelay);
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        b.iter(|| {
            let buf = &mut buf[..forged.len()];
            buf.copy_from_slice(&forged);
            black_box(receiver.open(now, buf)).expect_err("the tag was flipped");
        });
    });

    group.finish();
}

criterion_group!(benches, protect);
criterion_main!(benches);
