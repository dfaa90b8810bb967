//! `echostream run` with MQTT, S3, a webhook and an alert command, against
//! real servers on loopback: pages heard in the audio reach every
//! destination, recordings land in the store byte for byte and behind a
//! presigned URL, and a node killed (SIGKILL) in the middle loses nothing
//! at its next start.

mod e2e_support;
mod services;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e_support::{Proc, start_node};
use echostream_sim::audio::Signal;
use serde_json::{Value, json};
use services::mosquitto::{Broker, Client};
use services::s3::S3sFs;
use services::webhook::WebhookServer;

const BUCKET: &str = "recordings";
const RATE_HZ: u32 = 48_000;

/// `pages` pages, 349/707.3 Hz then 389/832.5 Hz in turn, each followed by
/// 2.5 s of quiet; the WAV it is in.
fn pages_wav(dir: &Path, pages: usize) -> PathBuf {
    let mut signal = Signal::new(RATE_HZ);
    signal.silence(500.0);
    for n in 0..pages {
        let (a, b) = if n % 2 == 0 {
            (349.0, 707.3)
        } else {
            (389.0, 832.5)
        };
        signal.page(a, b, 800.0, 0.0, 2_000.0, 0.5);
        signal.silence(2_500.0);
    }
    let path = dir.join("pages.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(&path, spec).unwrap();
    for s in &signal.samples {
        wav.write_sample((s * 32_000.0) as i16).unwrap();
    }
    wav.finalize().unwrap();
    path
}

struct Servers {
    broker: Broker,
    store: S3sFs,
    hook: WebhookServer,
}

fn node_config(dir: &Path, wav: &Path, s: &Servers, command: &Path) -> PathBuf {
    let tone = |id: &str, a: f64, b: f64| {
        json!({
            "tone_id": id, "tone_a_freq": a, "tone_b_freq": b,
            "tone_a_length_ms": 800, "tone_b_length_ms": 2000,
            "tone_a_range_hz": 6.0, "tone_b_range_hz": 12.0,
            "record_length_ms": 1500, "alert_type": "fire", "channel": "pages"
        })
    };
    let s3 = s.store.config(BUCKET);
    let config = json!({
        "node_id": "station-1",
        "relay": "embedded",
        "audio": { "rt_priority": 0 },
        "channels": [{
            "id": "pages", "input_device": format!("file:{}", wav.display()),
            "input_loop": false, "output_device": "null",
            "cor": { "vox": { "threshold_dbfs": -40 } }
        }],
        "tones": [tone("Station 1", 349.0, 707.3), tone("Station 2", 389.0, 832.5)],
        "mqtt": { "host": "127.0.0.1", "port": s.broker.port(), "prefix": "test", "keepalive_s": 2 },
        "s3": {
            "endpoint": s3.endpoint, "bucket": BUCKET, "access_key": s3.access_key,
            "secret_key": s3.secret_key, "path_style": true, "backoff_max_s": 1
        },
        "webhooks": [{ "url": s.hook.url("/page"), "events": ["two_tone", "recording"], "backoff_max_s": 1 }],
        "alert_command": { "program": command, "events": ["two_tone"] },
        "recordings": { "dir": dir.join("recordings"), "spool_dir": dir.join("spool") },
        "outbox": { "dir": dir.join("outbox") },
        "events_file": dir.join("events.jsonl"),
    });
    let path = dir.join("node.json");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    path
}

fn alert_command(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join("siren");
    let log = dir.join("siren.log");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$ECHOSTREAM_TONE_ID $ECHOSTREAM_EVENT_ID\" >> '{}'\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn events(dir: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["type"] == kind)
        .collect()
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn servers() -> Servers {
    let broker = Broker::start();
    let store = S3sFs::start();
    store.create_bucket(BUCKET);
    Servers {
        broker,
        store,
        hook: WebhookServer::start(),
    }
}

/// Checks the recording events: each names an object that is the WAV the
/// node recorded, whole, also fetched through its presigned URL.
fn assert_recordings_stored(dir: &Path, store: &S3sFs, count: usize) {
    let recordings = events(dir, "recording");
    let ids: HashSet<&str> = recordings
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), count, "{recordings:#?}");
    for event in &recordings {
        let key = event["s3_key"].as_str().expect("a key");
        assert!(key.starts_with("station-1/pages/"), "{key}");
        let stored = store.object_bytes(BUCKET, key);
        assert_eq!(
            stored.len() as u64,
            event["bytes"].as_u64().unwrap(),
            "{key}"
        );
        let wav = hound::WavReader::new(std::io::Cursor::new(&stored)).expect("a whole WAV");
        let seconds = f64::from(wav.duration()) / f64::from(RATE_HZ);
        assert!((1.0..=2.5).contains(&seconds), "{key}: {seconds} s");
        let url = event["url"].as_str().expect("a presigned URL");
        let fetched = attohttpc::get(url).send().unwrap();
        assert!(fetched.is_success(), "{url}: {}", fetched.status());
        assert_eq!(fetched.bytes().unwrap(), stored, "{key} through its URL");
    }
}

#[test]
fn pages_reach_mqtt_s3_a_webhook_and_the_alert_command() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers();
    let subscriber = Client::subscribe(s.broker.port(), &["test/station-1/#"]);
    let command = alert_command(dir.path());
    let config = node_config(dir.path(), &pages_wav(dir.path(), 2), &s, &command);
    let mut node = start_node("node", &config);
    wait_until("two recordings uploaded", Duration::from_secs(40), || {
        events(dir.path(), "recording").len() >= 2
    });
    assert_recordings_stored(dir.path(), &s.store, 2);
    let alerts = events(dir.path(), "two_tone");
    assert_eq!(alerts.len(), 2, "{alerts:#?}");

    // MQTT: the alerts on the tone topic, the recordings on theirs, and
    // the node online.
    let mut by_topic: Vec<(String, Value)> = Vec::new();
    wait_until(
        "everything at the subscriber",
        Duration::from_secs(10),
        || {
            while let Some(m) = subscriber.recv(Duration::from_millis(10)) {
                let payload = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                by_topic.push((m.topic, payload));
            }
            by_topic
                .iter()
                .filter(|(t, _)| t.ends_with("/recording"))
                .count()
                >= 2
        },
    );
    let on = |topic: &str| -> Vec<&Value> {
        by_topic
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p)
            .collect()
    };
    let tones = on("test/station-1/channels/pages/tone");
    assert_eq!(tones[0]["event_id"], alerts[0]["event_id"]);
    assert_eq!(tones[0]["tone_id"], "Station 1");
    assert_eq!(tones[1]["tone_id"], "Station 2");
    assert!(on("test/station-1/channels/pages/recording")[0]["url"].is_string());
    assert!(
        by_topic.iter().any(|(t, _)| t == "test/station-1/status"),
        "status online"
    );

    // The webhook got the alerts and recordings; the command ran per alert.
    wait_until("four webhook deliveries", Duration::from_secs(10), || {
        s.hook.delivered().len() >= 4
    });
    let siren = std::fs::read_to_string(dir.path().join("siren.log")).unwrap();
    assert_eq!(siren.lines().count(), 2, "{siren}");
    assert!(siren.starts_with("Station 1 "), "{siren}");
    assert_eq!(node.terminate(), Some(0));
    let spool: Vec<_> = std::fs::read_dir(dir.path().join("spool"))
        .unwrap()
        .collect();
    assert!(
        spool.is_empty(),
        "uploaded recordings leave the spool: {spool:?}"
    );
}

#[test]
fn a_node_killed_mid_delivery_loses_nothing_at_its_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = servers();
    let command = alert_command(dir.path());
    let config = node_config(dir.path(), &pages_wav(dir.path(), 4), &s, &command);
    // The store and the broker are down: recordings and alerts pile up.
    s.store.stop();
    s.broker.kill();
    let mut node: Proc = start_node("node", &config);
    wait_until(
        "four alerts and four recordings queued",
        Duration::from_secs(40),
        || events(dir.path(), "two_tone").len() >= 4 && node.count_log("RECORDING ") >= 4,
    );
    node.kill();
    let alerts: Vec<String> = events(dir.path(), "two_tone")
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();

    // Back up, and the node started again on silence.
    s.store.restart();
    s.broker.restart();
    let subscriber = Client::subscribe(s.broker.port(), &["test/station-1/channels/+/tone"]);
    let quiet = dir.path().join("quiet.wav");
    write_silence(&quiet, 2.0);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&pages_wav_name(dir.path()), &quiet.display().to_string());
    std::fs::write(&config, text).unwrap();
    let mut node = start_node("node-again", &config);
    wait_until("four recordings uploaded", Duration::from_secs(30), || {
        events(dir.path(), "recording").len() >= 4
    });
    assert_recordings_stored(dir.path(), &s.store, 4);
    assert_published(&subscriber, &alerts);
    assert_eq!(node.terminate(), Some(0));
}

#[test]
fn a_node_killed_mid_upload_and_mid_publish_loses_nothing_at_its_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let s = servers();
    let command = alert_command(dir.path());
    let config = node_config(dir.path(), &pages_wav(dir.path(), 4), &s, &command);
    // Uploads go through a proxy that lets each PUT's head and first part
    // of its body reach the store, then hangs: the node is mid-upload.
    let proxy = services::s3::FaultProxy::start(s.store.port());
    proxy.stall_requests_containing(Some("PUT "));
    let direct = s.store.endpoint();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace(&direct, &proxy.endpoint())).unwrap();
    let subscriber = Client::subscribe(
        s.broker.port(),
        &["test/station-1/status", "test/station-1/channels/+/tone"],
    );
    let mut node: Proc = start_node("node", &config);
    subscriber.expect(Duration::from_secs(10), "the node online", |m| {
        m.topic == "test/station-1/status" && m.payload == b"online"
    });
    // The broker stops reading once the node is connected: the alerts
    // are sent and never acknowledged, the node is mid-publish.
    s.broker.freeze();
    wait_until(
        "four alerts and four recordings, and an upload cut off mid-body",
        Duration::from_secs(40),
        || {
            events(dir.path(), "two_tone").len() >= 4
                && node.count_log("RECORDING ") >= 4
                && proxy.stalled() >= 1
        },
    );
    node.kill();
    s.broker.thaw();
    // (The first subscriber's keepalive ran out while the broker was
    // frozen; what was published then is another session's.)
    let subscriber = Client::subscribe(s.broker.port(), &["test/station-1/channels/+/tone"]);
    let alerts: Vec<String> = events(dir.path(), "two_tone")
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();

    // Started again on silence, straight to the store.
    let quiet = dir.path().join("quiet.wav");
    write_silence(&quiet, 2.0);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&proxy.endpoint(), &direct)
        .replace(&pages_wav_name(dir.path()), &quiet.display().to_string());
    std::fs::write(&config, text).unwrap();
    let mut node = start_node("node-again", &config);
    wait_until("four recordings uploaded", Duration::from_secs(30), || {
        events(dir.path(), "recording").len() >= 4
    });
    // Every object whole (the one cut off mid-body was put again, under
    // the same key), and every alert published at least once.
    assert_recordings_stored(dir.path(), &s.store, 4);
    assert_published(&subscriber, &alerts);
    assert_eq!(node.terminate(), Some(0));
}

/// Waits until every alert in `alerts` (by `event_id`) has come to
/// `subscriber` at least once.
fn assert_published(subscriber: &Client, alerts: &[String]) {
    let mut seen = HashSet::new();
    wait_until("the four alerts published", Duration::from_secs(15), || {
        while let Some(m) = subscriber.recv(Duration::from_millis(10)) {
            if let Ok(payload) = serde_json::from_slice::<Value>(&m.payload)
                && let Some(id) = payload["event_id"].as_str()
            {
                seen.insert(id.to_owned());
            }
        }
        alerts.iter().all(|id| seen.contains(id))
    });
}

fn pages_wav_name(dir: &Path) -> String {
    dir.join("pages.wav").display().to_string()
}

fn write_silence(path: &Path, seconds: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE_HZ,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut wav = hound::WavWriter::create(path, spec).unwrap();
    for _ in 0..(seconds * f64::from(RATE_HZ)) as usize {
        wav.write_sample(0i16).unwrap();
    }
    wav.finalize().unwrap();
}
