//! Events through the outbox to a real Mosquitto on loopback, fsync on:
//! the node's own event path (events thread → outbox → `mqtt` consumer →
//! link → broker → a subscriber). Prints a Markdown table for
//! BENCHMARKS.md.
//!
//! ```sh
//! cargo run --release -p echostream --example delivery_bench
//! ```
//!
//! 1. Throughput: 1000 events emitted at once; the time until the last is
//!    at the subscriber.
//! 2. A burst of 100 stacked-page alerts: how long the first takes to reach
//!    the subscriber, against one alert alone.

#[allow(dead_code, reason = "the bench uses part of the test service")]
#[path = "../tests/services/mosquitto.rs"]
mod mosquitto;

use std::time::{Duration, Instant};

use echostream::config::Config;
use echostream::delivery::Delivery;
use echostream::events::Events;
use serde_json::json;

fn node(dir: &std::path::Path, port: u16) -> (Delivery, Events, echostream::events::EventWriter) {
    let config: Config = serde_json::from_value(json!({
        "node_id": "bench",
        "relay": "embedded",
        "events_file": dir.join("events.jsonl"),
        "outbox": { "dir": dir.join("outbox") },
        "mqtt": { "host": "127.0.0.1", "port": port, "prefix": "bench", "keepalive_s": 5 },
    }))
    .expect("config");
    let (mut delivery, _) = Delivery::open(&config).expect("outbox").expect("mqtt");
    let sinks = delivery.event_sink().into_iter().collect();
    let (events, writer) = Events::open_with("bench", &config.events_file, sinks).expect("events");
    delivery.start(&config, &events).expect("start");
    (delivery, events, writer)
}

fn alert(events: &Events, n: usize) -> String {
    events.emit(
        "two_tone",
        Some("pages"),
        echostream::fields! { "tone_id" => format!("Station {n}"), "alert_type" => "fire", "a_hz" => 349.0, "b_hz" => 707.3 },
    )
}

/// Waits until `count` messages arrived; the time each id arrived.
fn receive(client: &mosquitto::Client, count: usize) -> std::collections::HashMap<String, Instant> {
    let mut at = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while at.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} arrived",
            at.len()
        );
        if let Some(m) = client.recv(Duration::from_millis(100)) {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).expect("JSON");
            at.entry(v["event_id"].as_str().expect("id").to_owned())
                .or_insert_with(Instant::now);
        }
    }
    at
}

fn main() {
    let broker = mosquitto::Broker::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let subscriber = mosquitto::Client::subscribe(broker.port(), &["bench/bench/channels/+/tone"]);
    let (mut delivery, events, writer) = node(dir.path(), broker.port());
    std::thread::sleep(Duration::from_millis(500));

    // One alone, a few times: the latency of a single page.
    let mut alone = Vec::new();
    for n in 0..5 {
        let start = Instant::now();
        let id = alert(&events, n);
        let at = receive(&subscriber, 1);
        alone.push(at[&id] - start);
        std::thread::sleep(Duration::from_millis(100));
    }
    alone.sort();

    // A burst of 100 stacked pages.
    let start = Instant::now();
    let ids: Vec<String> = (0..100).map(|n| alert(&events, n)).collect();
    let at = receive(&subscriber, 100);
    let first = at[&ids[0]] - start;
    let last = at.values().max().copied().expect("some") - start;

    // Throughput.
    // Under the events queue (1024): a producer never waits for the disk,
    // so a larger burst at once would be dropped and counted.
    let total = 1_000;
    let start = Instant::now();
    for n in 0..total {
        alert(&events, n);
    }
    receive(&subscriber, total);
    let took = start.elapsed();

    println!("| measurement | value |");
    println!("|---|---:|");
    println!(
        "| one alert alone, emit to subscriber (median of 5) | {:.1} ms |",
        alone[2].as_secs_f64() * 1e3
    );
    println!(
        "| burst of 100: the first at the subscriber | {:.1} ms |",
        first.as_secs_f64() * 1e3
    );
    println!(
        "| burst of 100: the last at the subscriber | {:.1} ms |",
        last.as_secs_f64() * 1e3
    );
    println!(
        "| {total} events: throughput | {:.0} events/s |",
        total as f64 / took.as_secs_f64()
    );
    println!(
        "| {total} events: per event | {:.0} µs |",
        took.as_secs_f64() * 1e6 / total as f64
    );
    delivery.stop();
    drop(events);
    writer.join();
}
