//! The durable outbox per event: one `append` (record written and
//! fdatasynced; a new segment every ~4000 events, with its folder fsync),
//! and `append` + `ack` (the acknowledgement moves the cursor; the cursors
//! file is replaced, two fsyncs, at every ack or at every 64th).
//!
//! The folder is in the system's temp folder unless `OUTBOX_BENCH_DIR`
//! names another (an SD card, say): the figures are the disk's.
//!
//! `cargo bench -p echostream-benches --bench outbox`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use echostream::outbox::{ConsumerSpec, Kind, Kinds, Outbox, OutboxConfig};

/// A typical event line (a two-tone alert is about this long).
const EVENT: &[u8] = br#"{"event_id":"5f1c0a9e3b7d2c44-000123","type":"two_tone","time":"2026-11-24T10:15:42.123Z","node_id":"station-1","channel":0,"tone_id":"engine-7","alert_type":"two_tone","a_hz":853.2,"b_hz":960.0,"a_ms":1003,"b_ms":3010,"latency_ms":41}"#;

/// A fresh folder for one benchmark, removed when dropped.
struct Folder(PathBuf);

impl Folder {
    fn new(name: &str) -> Folder {
        let base =
            std::env::var_os("OUTBOX_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let path = base.join(format!(
            "echostream-outbox-bench-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        Folder(path)
    }

    fn open(&self, cursor_sync_every: u32) -> Outbox {
        let config = OutboxConfig {
            cursor_sync_every,
            ..OutboxConfig::new(&self.0)
        };
        let specs = vec![ConsumerSpec::new("mqtt", Kinds::EVENTS)];
        Outbox::open(config, specs).expect("the outbox opens").0
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn outbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    group.bench_function("append (fdatasync)", |b| {
        let folder = Folder::new("append");
        let mut outbox = folder.open(1);
        b.iter(|| {
            black_box(
                outbox
                    .append(Kind::Event, black_box(EVENT))
                    .expect("appended"),
            )
        });
    });

    for every in [1u32, 64] {
        group.bench_function(format!("append+ack (cursors every {every})"), |b| {
            let folder = Folder::new(&format!("ack-{every}"));
            let mut outbox = folder.open(every);
            let mqtt = outbox.consumer("mqtt").expect("registered");
            b.iter(|| {
                let seq = outbox
                    .append(Kind::Event, black_box(EVENT))
                    .expect("appended");
                black_box(outbox.ack(mqtt, seq).expect("acknowledged"))
            });
        });
    }

    group.finish();
}

criterion_group!(benches, outbox);
criterion_main!(benches);
