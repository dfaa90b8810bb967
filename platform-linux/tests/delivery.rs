//! Everything that leaves the node, through the durable outbox, against
//! real servers on loopback (Mosquitto, s3s-fs, an HTTP server): nothing
//! lost while a destination is down, order kept, delivered after it is
//! back, and a torn outbox record reported while the rest is delivered.

mod services;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use echostream::config::Config;
use echostream::delivery::Delivery;
use echostream::delivery::upload::{UploadJob, key_for, unix_ms};
use echostream::events::{EventWriter, Events};
use echostream::recording::Format;
use serde_json::{Value, json};
use services::mosquitto::{Broker, Client};
use services::s3::S3sFs;
use services::webhook::WebhookServer;

const NODE: &str = "station-1";
const BUCKET: &str = "recordings";

/// A config with `extra` top-level sections, its outbox and events file
/// in `dir`.
fn config(dir: &Path, extra: Value) -> Config {
    let mut config = json!({
        "node_id": NODE,
        "relay": "embedded",
        "http": { "listen": null },
        "events_file": dir.join("events.jsonl"),
        "outbox": { "dir": dir.join("outbox") },
        "recordings": { "dir": dir.join("recordings"), "spool_dir": dir.join("spool") },
    });
    for (key, value) in extra.as_object().expect("sections") {
        config[key] = value.clone();
    }
    serde_json::from_value(config).expect("a valid config")
}

/// The node's event path and destinations, as `echostream run` sets them up.
struct Node {
    events: Option<Events>,
    writer: Option<EventWriter>,
    delivery: Option<Delivery>,
    damage: Vec<String>,
}

impl Node {
    fn start(config: &Config) -> Node {
        let (mut delivery, report) = Delivery::open(config)
            .expect("the outbox opens")
            .expect("a destination is configured");
        let sinks = delivery.event_sink().into_iter().collect();
        let (events, writer) =
            Events::open_with(NODE, &config.events_file, sinks).expect("events open");
        delivery.start(config, &events).expect("destinations start");
        Node {
            events: Some(events),
            writer: Some(writer),
            delivery: Some(delivery),
            damage: echostream::delivery::damage_lines(&report),
        }
    }

    fn events(&self) -> &Events {
        self.events.as_ref().expect("running")
    }

    /// An alert on `channel`; its event id.
    fn alert(&self, channel: &str, n: u32) -> String {
        self.events().emit(
            "two_tone",
            Some(channel),
            echostream::fields! { "tone_id" => format!("Station {n}"), "alert_type" => "fire" },
        )
    }

    fn stop(mut self) {
        if let Some(mut delivery) = self.delivery.take() {
            delivery.stop();
        }
        drop(self.events.take());
        if let Some(writer) = self.writer.take() {
            writer.join();
        }
    }
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn event_ids(payloads: &[Value]) -> Vec<String> {
    payloads
        .iter()
        .map(|p| p["event_id"].as_str().expect("event_id").to_owned())
        .collect()
}

/// The ids in the order first seen.
fn first_seen(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert((*id).clone()))
        .cloned()
        .collect()
}

#[test]
fn a_broker_down_during_a_hundred_alerts_loses_none_and_keeps_their_order() {
    let mut broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        json!({ "mqtt": { "host": "127.0.0.1", "port": broker.port(), "prefix": "test", "keepalive_s": 2 } }),
    );
    let subscriber = Client::subscribe(broker.port(), &["test/station-1/channels/+/tone"]);
    let node = Node::start(&config);
    let mut sent = Vec::new();
    let mut received: Vec<Value> = Vec::new();
    for n in 0..100 {
        if n == 40 {
            // Down in the middle of the pages, for a while.
            broker.kill();
        }
        if n == 70 {
            std::thread::sleep(Duration::from_secs(2));
            broker.restart();
        }
        let channel = if n % 2 == 0 { "pages" } else { "fire-main" };
        sent.push((channel, node.alert(channel, n)));
        std::thread::sleep(Duration::from_millis(10));
    }
    let wanted: HashSet<&String> = sent.iter().map(|(_, id)| id).collect();
    wait_until(
        "all 100 alerts at the subscriber",
        Duration::from_secs(30),
        || {
            while let Some(message) = subscriber.recv(Duration::from_millis(10)) {
                received.push(serde_json::from_slice(&message.payload).expect("JSON"));
            }
            let got: HashSet<String> = event_ids(&received).into_iter().collect();
            wanted.iter().all(|id| got.contains(*id))
        },
    );
    // Every alert at least once; per channel in the order they happened.
    for channel in ["pages", "fire-main"] {
        let expected: Vec<String> = sent
            .iter()
            .filter(|(c, _)| *c == channel)
            .map(|(_, id)| id.clone())
            .collect();
        let on_channel: Vec<Value> = received
            .iter()
            .filter(|p| p["channel"] == channel)
            .cloned()
            .collect();
        assert_eq!(first_seen(&event_ids(&on_channel)), expected, "{channel}");
    }
    let copies = received.len() - 100;
    eprintln!("100 alerts delivered, {copies} published again after the outage");
    node.stop();
}

#[test]
fn a_webhook_answering_500_for_a_minute_gets_every_event_in_order_after() {
    let server = WebhookServer::start();
    server.answer(500);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        json!({ "webhooks": [{
            "url": server.url("/hook"),
            "events": ["two_tone", "recording"],
            "headers": { "Authorization": "Bearer t0ken" },
            "backoff_max_s": 5,
        }] }),
    );
    let node = Node::start(&config);
    let ids: Vec<String> = (0..5).map(|n| node.alert("pages", n)).collect();
    // Not wanted by this webhook: never sent.
    node.events().emit(
        "dtmf",
        Some("pages"),
        echostream::fields! { "digit" => "4" },
    );
    std::thread::sleep(Duration::from_secs(60));
    let refused = server.received().len();
    // 0.5, 1, 2, 4, then every 5 s: the backoff is capped, never given up.
    assert!(
        (12..=20).contains(&refused),
        "{refused} attempts in a minute"
    );
    assert!(server.delivered().is_empty());
    server.answer(200);
    wait_until("all five delivered", Duration::from_secs(10), || {
        server.delivered().len() >= 5
    });
    let delivered: Vec<Value> = server
        .delivered()
        .iter()
        .map(|b| serde_json::from_str(b).expect("JSON"))
        .collect();
    assert_eq!(event_ids(&delivered), ids, "each once, in order");
    let request = &server.received()[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook");
    assert_eq!(request.headers["authorization"], "Bearer t0ken");
    assert_eq!(request.headers["content-type"], "application/json");
    assert!(
        server
            .received()
            .iter()
            .all(|r| !r.body.contains("\"dtmf\""))
    );
    node.stop();
}

/// A finished recording in `spool`, queued as the recorder does.
fn queue_recording(
    node: &Node,
    config: &Config,
    name: &str,
    samples: usize,
) -> (UploadJob, Vec<u8>) {
    let spool = &config.recordings.spool_dir;
    std::fs::create_dir_all(spool).unwrap();
    let path = spool.join(format!("{name}.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..samples {
        wav.write_sample(((i * 37) % 2000) as i16).unwrap();
    }
    wav.finalize().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let s3 = config.s3.as_ref().unwrap();
    let started = std::time::SystemTime::now();
    let job = UploadJob {
        event_id: node.events().next_id(),
        channel: "pages".to_owned(),
        key: key_for(s3, NODE, "pages", started, name, Format::Wav),
        path: path.clone(),
        format: "wav".to_owned(),
        tone_ids: vec!["Station 1".to_owned()],
        alert_time_ms: unix_ms(started),
        fields: echostream::fields! {
            "path" => path.display().to_string(),
            "bytes" => bytes.len(),
            "tone_ids" => ["Station 1"],
        },
    };
    let delivery = node.delivery.as_ref().unwrap();
    delivery.upload_queue().unwrap().push(&job).unwrap();
    (job, bytes)
}

fn recording_events(config: &Config) -> Vec<Value> {
    std::fs::read_to_string(&config.events_file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "recording")
        .collect()
}

#[test]
fn recordings_queued_while_the_store_is_down_are_all_uploaded_after() {
    let mut store = S3sFs::start();
    store.create_bucket(BUCKET);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), json!({}));
    let mut s3 = store.config(BUCKET);
    s3.backoff_max_s = 1;
    config.s3 = Some(s3);
    store.stop();
    let node = Node::start(&config);
    let queued: Vec<(UploadJob, Vec<u8>)> = (0..3)
        .map(|n| {
            queue_recording(
                &node,
                &config,
                &format!("20261207T0319{n}5Z_pages_Station-1"),
                8_000 * (n + 1),
            )
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        recording_events(&config).is_empty(),
        "nothing announced while down"
    );
    assert!(
        queued.iter().all(|(job, _)| job.path.exists()),
        "files kept"
    );
    store.restart();
    wait_until(
        "three recordings announced",
        Duration::from_secs(20),
        || recording_events(&config).len() == 3,
    );
    for (job, bytes) in &queued {
        assert_eq!(&store.object_bytes(BUCKET, &job.key), bytes, "{}", job.key);
        assert!(!job.path.exists(), "{} left the spool", job.path.display());
        let event = recording_events(&config)
            .into_iter()
            .find(|e| e["event_id"] == job.event_id.as_str())
            .expect("its event, under the id drawn when it was queued");
        assert_eq!(event["s3_key"], job.key.as_str());
        assert_eq!(event["path"], Value::Null);
        let url = event["url"].as_str().expect("a presigned URL");
        let fetched = attohttpc::get(url).send().unwrap();
        assert!(fetched.is_success(), "{}", fetched.status());
        assert_eq!(
            &fetched.bytes().unwrap(),
            bytes,
            "the URL serves it, unsigned"
        );
    }
    node.stop();
}

#[test]
fn a_torn_outbox_record_is_reported_and_the_rest_delivered() {
    let server = WebhookServer::start();
    server.answer(503);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        json!({ "webhooks": [{ "url": server.url("/hook"), "backoff_max_s": 1 }] }),
    );
    let node = Node::start(&config);
    let ids: Vec<String> = (0..4).map(|n| node.alert("pages", n)).collect();
    wait_until("the first attempt", Duration::from_secs(5), || {
        !server.received().is_empty()
    });
    node.stop();
    // A power cut in the middle of writing the last record.
    let segment = std::fs::read_dir(config.outbox.dir.as_path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .max()
        .expect("a segment");
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 20)
        .unwrap();

    server.answer(200);
    let node = Node::start(&config);
    assert!(
        node.damage.iter().any(|l| l.contains("cut short")),
        "reported: {:?}",
        node.damage
    );
    wait_until(
        "the three whole records delivered",
        Duration::from_secs(10),
        || server.delivered().len() >= 3,
    );
    std::thread::sleep(Duration::from_millis(300));
    let delivered: Vec<Value> = server
        .delivered()
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    assert_eq!(
        event_ids(&delivered),
        ids[..3],
        "the torn fourth is gone, no other"
    );
    node.stop();
}
