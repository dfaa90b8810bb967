//! The MQTT link against a real Mosquitto (DESIGN.md "Events and
//! uploads"): delivery and acknowledgement of every id, the status topic
//! and its last will, publishes lost with a broker and sent again,
//! reconnection that backs off, a wrong password, TLS, and Home Assistant
//! discovery.

mod services;

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use echostream::config::{self, Config, Mqtt};
use echostream::mqtt::{
    Failure, LinkError, LinkEvent, LinkSettings, MqttLink, PUBLISH_WINDOW, Topics,
};
use serde_json::{Value, json};
use services::mosquitto::{Broker, BrokerOptions, Client, Proxy};

const NODE: &str = "station-1";
const STATUS: &str = "test/station-1/status";

/// An `mqtt` section for the broker on `port`, keep-alive 1 s, prefix
/// `test`, with `extra` fields over it.
fn mqtt_section(port: u16, extra: Value) -> Mqtt {
    let mut section = json!({
        "host": "127.0.0.1",
        "port": port,
        "prefix": "test",
        "keepalive_s": 1,
    });
    for (key, value) in extra.as_object().expect("extra fields") {
        section[key] = value.clone();
    }
    serde_json::from_value(section).expect("a valid mqtt section")
}

fn start(mqtt: &Mqtt) -> (MqttLink, Receiver<LinkEvent>) {
    MqttLink::start(LinkSettings::new(mqtt, NODE)).expect("the link starts")
}

/// The first event within `timeout` for which `wanted` holds; the events
/// skipped on the way are returned too. Panics naming `what` otherwise.
fn wait_for(
    events: &Receiver<LinkEvent>,
    timeout: Duration,
    what: &str,
    mut wanted: impl FnMut(&LinkEvent) -> bool,
) -> (LinkEvent, Vec<LinkEvent>) {
    let deadline = Instant::now() + timeout;
    let mut skipped = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if wanted(&event) => return (event, skipped),
            Ok(event) => skipped.push(event),
            Err(RecvTimeoutError::Timeout) => {
                panic!("no {what} within {timeout:?}; other events: {skipped:?}")
            }
            Err(RecvTimeoutError::Disconnected) => panic!("the link's events ended"),
        }
    }
}

fn expect_connected(events: &Receiver<LinkEvent>) {
    let (_, skipped) = wait_for(events, Duration::from_secs(5), "Connected", |e| {
        *e == LinkEvent::Connected
    });
    assert!(skipped.is_empty(), "before Connected: {skipped:?}");
}

/// Everything the link says within `window`.
fn collect(events: &Receiver<LinkEvent>, window: Duration) -> Vec<LinkEvent> {
    let deadline = Instant::now() + window;
    let mut seen = Vec::new();
    while let Ok(event) = events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.push(event);
    }
    seen
}

fn payload(id: u64, kind: &str, channel: Option<&str>) -> Vec<u8> {
    json!({
        "event_id": format!("0123456789abcdef-{id:06}"),
        "type": kind,
        "time": "2026-12-07T03:19:24.575Z",
        "node_id": NODE,
        "channel": channel,
    })
    .to_string()
    .into_bytes()
}

/// Publishes `ids` (each within the window as acks come back) and
/// returns how many times each was acknowledged within `timeout`.
fn publish_all(
    link: &MqttLink,
    events: &Receiver<LinkEvent>,
    ids: &[u64],
    topic_of: impl Fn(u64) -> (String, Vec<u8>),
    timeout: Duration,
) -> BTreeMap<u64, u32> {
    let deadline = Instant::now() + timeout;
    let mut acked: BTreeMap<u64, u32> = BTreeMap::new();
    let mut next = 0;
    let mut window_full = 0;
    while acked.len() < ids.len() {
        while let Some(&id) = ids.get(next) {
            let (topic, payload) = topic_of(id);
            match link.publish(id, &topic, payload, false) {
                Ok(()) => next += 1,
                Err(LinkError::WindowFull(n)) => {
                    assert_eq!(n, PUBLISH_WINDOW);
                    window_full += 1;
                    break;
                }
                Err(error) => panic!("publish {id}: {error}"),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(LinkEvent::Acked(id)) => *acked.entry(id).or_default() += 1,
            Ok(other) => panic!("while publishing: {other:?}"),
            Err(_) => panic!("only {} of {} acked in {timeout:?}", acked.len(), ids.len()),
        }
    }
    if ids.len() > PUBLISH_WINDOW {
        assert!(window_full > 0, "the window never filled");
    }
    // A second ack for any id would come right behind the first.
    for event in collect(events, Duration::from_millis(300)) {
        match event {
            LinkEvent::Acked(id) => *acked.entry(id).or_default() += 1,
            other => panic!("after the acks: {other:?}"),
        }
    }
    acked
}

#[test]
fn events_reach_their_topics_and_every_id_is_acked_exactly_once() {
    let broker = Broker::start();
    let watcher = Client::subscribe(broker.port(), &["test/#"]);
    let mqtt = mqtt_section(broker.port(), json!({}));
    let topics = Topics::new(&mqtt.prefix, NODE);
    let (mut link, events) = start(&mqtt);
    expect_connected(&events);

    let kinds = [
        ("transmit", Some("pages")),
        ("passthrough", Some("pages")),
        ("two_tone", Some("pages")),
        ("remote_alert", Some("talk")),
        ("dtmf_sequence", Some("talk")),
        ("recording", Some("pages")),
        ("error", Some("talk")),
        ("error", None),
        ("node", None),
    ];
    let message = |id: u64| {
        let (kind, channel) = kinds[id as usize % kinds.len()];
        let topic = topics.event(kind, channel).expect("a topic");
        (topic, payload(id, kind, channel))
    };
    // More than the window and than rumqttc's 96 packet ids: both wrap.
    let ids: Vec<u64> = (1_000..1_300).collect();
    let acked = publish_all(&link, &events, &ids, message, Duration::from_secs(10));
    assert_eq!(acked.keys().copied().collect::<Vec<_>>(), ids);
    assert!(
        acked.values().all(|&n| n == 1),
        "acked more than once: {acked:?}"
    );
    assert_eq!(link.counters().acked, ids.len() as u64);
    assert_eq!(link.counters().resyncs, 0);

    let mut expected: HashMap<(String, Vec<u8>), u32> = HashMap::new();
    for &id in &ids {
        *expected.entry(message(id)).or_default() += 1;
    }
    let mut received = 0;
    while received < ids.len() {
        let got = watcher.expect(Duration::from_secs(5), "every event", |m| m.topic != STATUS);
        let count = expected
            .get_mut(&(got.topic.clone(), got.payload.clone()))
            .unwrap_or_else(|| panic!("unexpected {} on {}", got.text(), got.topic));
        assert!(*count > 0, "{} twice on {}", got.text(), got.topic);
        *count -= 1;
        received += 1;
    }
    assert!(
        watcher
            .collect(Duration::from_millis(200))
            .iter()
            .all(|m| m.topic == STATUS)
    );
    link.stop();
}

#[test]
fn status_is_online_while_up_offline_after_a_stop_and_by_last_will_when_cut_off() {
    let broker = Broker::start();
    let mqtt = mqtt_section(broker.port(), json!({}));
    let (mut link, events) = start(&mqtt);
    expect_connected(&events);

    // A client that comes later still learns the node is up: retained.
    let watcher = Client::subscribe(broker.port(), &[STATUS]);
    let online = watcher.expect(Duration::from_secs(2), "online", |m| m.topic == STATUS);
    assert_eq!((online.text(), online.retain), ("online", true));

    let started = Instant::now();
    link.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1_200), "stop took {took:?}");
    watcher.expect(Duration::from_secs(2), "offline after a stop", |m| {
        m.topic == STATUS && m.text() == "offline"
    });
    assert_eq!(
        link.publish(1, STATUS, Vec::new(), false),
        Err(LinkError::Stopped)
    );

    // A node that vanishes says nothing: the broker's last will speaks.
    let mut cable = Proxy::start(broker.port());
    let (mut link, events) = start(&mqtt_section(cable.port(), json!({})));
    expect_connected(&events);
    watcher.expect(Duration::from_secs(2), "online again", |m| {
        m.topic == STATUS && m.text() == "online"
    });
    cable.cut();
    watcher.expect(Duration::from_secs(3), "the offline last will", |m| {
        m.topic == STATUS && m.text() == "offline"
    });
    wait_for(&events, Duration::from_secs(3), "Disconnected", |e| {
        matches!(e, LinkEvent::Disconnected { .. })
    });
    let late = Client::subscribe(broker.port(), &[STATUS]);
    let last = late.expect(Duration::from_secs(2), "retained status", |m| {
        m.topic == STATUS
    });
    assert_eq!((last.text(), last.retain), ("offline", true));
    link.stop();
}

#[test]
fn publishes_in_flight_when_the_broker_dies_are_reported_and_acked_after_reconnect() {
    let mut broker = Broker::start();
    let mqtt = mqtt_section(broker.port(), json!({}));
    let topics = Topics::new(&mqtt.prefix, NODE);
    let topic = topics.event("two_tone", Some("pages")).expect("a topic");
    let (mut link, events) = start(&mqtt);
    expect_connected(&events);

    // The broker takes the bytes (kernel buffers) but never acknowledges.
    broker.freeze();
    let ids: Vec<u64> = (1..=10).collect();
    for &id in &ids {
        let body = payload(id, "two_tone", Some("pages"));
        link.publish(id, &topic, body, false).expect("publish");
    }
    let early = collect(&events, Duration::from_millis(200));
    assert!(early.is_empty(), "nothing can be acked yet: {early:?}");
    broker.kill();

    let (lost, skipped) = wait_for(&events, Duration::from_secs(3), "Disconnected", |e| {
        matches!(e, LinkEvent::Disconnected { .. })
    });
    assert!(skipped.is_empty(), "{skipped:?}");
    let LinkEvent::Disconnected {
        mut unacked,
        retry_in_ms,
        ..
    } = lost
    else {
        unreachable!()
    };
    unacked.sort_unstable();
    assert_eq!(unacked, ids);
    assert_eq!(retry_in_ms, 500);
    let body = payload(11, "two_tone", Some("pages"));
    assert_eq!(
        link.publish(11, &topic, body, false),
        Err(LinkError::NotConnected)
    );

    // Three seconds of outage: a few attempts, further and further apart.
    let attempts_before = link.counters().attempts;
    let outage = collect(&events, Duration::from_secs(3));
    let attempts = link.counters().attempts - attempts_before;
    assert!((2..=3).contains(&attempts), "{attempts} attempts in 3 s");
    let pauses: Vec<u64> = outage
        .iter()
        .map(|e| match e {
            LinkEvent::ConnectFailed {
                failure: Failure::Network(_),
                retry_in_ms,
            } => *retry_in_ms,
            other => panic!("during the outage: {other:?}"),
        })
        .collect();
    // The third attempt is due 3.5 s after the loss: in the window only if
    // this thread came late to it.
    assert!([1_000, 2_000, 4_000].starts_with(&pauses), "{pauses:?}");

    broker.restart();
    let watcher = Client::subscribe(broker.port(), &["test/#"]);
    let (_, skipped) = wait_for(&events, Duration::from_secs(6), "Connected", |e| {
        *e == LinkEvent::Connected
    });
    assert!(
        skipped
            .iter()
            .all(|e| matches!(e, LinkEvent::ConnectFailed { .. })),
        "{skipped:?}"
    );
    let message = |id| (topic.clone(), payload(id, "two_tone", Some("pages")));
    let acked = publish_all(&link, &events, &ids, message, Duration::from_secs(3));
    assert!(acked.values().all(|&n| n == 1), "{acked:?}");
    for _ in &ids {
        watcher.expect(Duration::from_secs(3), "a re-published event", |m| {
            m.topic == topic
        });
    }
    assert_eq!(link.counters().sessions, 2);
    link.stop();
}

#[test]
fn a_wrong_password_is_reported_and_retried_and_the_right_one_connects() {
    let user = ("station-1".to_owned(), "right-password".to_owned());
    let broker = Broker::start_with(&BrokerOptions {
        user: Some(user),
        tls: None,
    });
    let wrong = mqtt_section(
        broker.port(),
        json!({"username": "station-1", "password": "wrong-password"}),
    );
    let (mut link, events) = start(&wrong);
    let is_failure = |e: &LinkEvent| matches!(e, LinkEvent::ConnectFailed { .. });
    let (first, skipped) = wait_for(&events, Duration::from_secs(3), "a refusal", is_failure);
    assert!(skipped.is_empty(), "{skipped:?}");
    let first_at = Instant::now();
    let LinkEvent::ConnectFailed {
        failure,
        retry_in_ms,
    } = first
    else {
        unreachable!()
    };
    assert!(matches!(failure, Failure::Refused(_)), "{failure:?}");
    let text = failure.to_string();
    assert!(
        text.starts_with("broker refused the connection: ")
            && text.contains("(mqtt.username / mqtt.password)"),
        "{text}"
    );
    assert_eq!(retry_in_ms, 500);
    let (second, skipped) = wait_for(&events, Duration::from_secs(3), "a retry", is_failure);
    assert!(skipped.is_empty(), "{skipped:?}");
    assert!(first_at.elapsed() >= Duration::from_millis(400), "no pause");
    assert!(matches!(
        second,
        LinkEvent::ConnectFailed {
            retry_in_ms: 1_000,
            ..
        }
    ));
    assert!(!link.is_connected());
    assert_eq!(
        link.publish(1, STATUS, b"x".to_vec(), false),
        Err(LinkError::NotConnected)
    );
    // Stopped while waiting to retry: at once.
    let started = Instant::now();
    link.stop();
    assert!(started.elapsed() < Duration::from_millis(500));

    let right = mqtt_section(
        broker.port(),
        json!({"username": "station-1", "password": "right-password"}),
    );
    let (mut link, events) = start(&right);
    expect_connected(&events);
    link.stop();
}

#[test]
fn tls_with_the_brokers_ca_connects_and_another_ca_is_refused() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let broker = Broker::start_with(&BrokerOptions {
        user: None,
        tls: Some((cert.cert.pem(), cert.signing_key.serialize_pem())),
    });
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, cert.cert.pem()).expect("write the CA");
    // The certificate names localhost, not 127.0.0.1.
    let tls = json!({"host": "localhost", "tls": true, "ca_file": ca_file});
    let (mut link, events) = start(&mqtt_section(broker.port(), tls));
    expect_connected(&events);
    let topic = Topics::new("test", NODE)
        .event("node", None)
        .expect("a topic");
    link.publish(7, &topic, payload(7, "node", None), false)
        .expect("publish");
    wait_for(&events, Duration::from_secs(3), "the ack", |e| {
        *e == LinkEvent::Acked(7)
    });
    link.stop();

    let other =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let other_ca = dir.path().join("other-ca.pem");
    std::fs::write(&other_ca, other.cert.pem()).expect("write the CA");
    let tls = json!({"host": "localhost", "tls": true, "ca_file": other_ca});
    let (mut link, events) = start(&mqtt_section(broker.port(), tls));
    let (refused, _) = wait_for(&events, Duration::from_secs(3), "a TLS failure", |e| {
        matches!(e, LinkEvent::ConnectFailed { .. })
    });
    assert!(
        matches!(
            refused,
            LinkEvent::ConnectFailed {
                failure: Failure::Tls(_),
                ..
            }
        ),
        "{refused:?}"
    );
    link.stop();
}

/// The shipped Raspberry Pi config, its `mqtt` section pointed at the
/// broker on `port`, Home Assistant discovery on.
fn pi_config(port: u16) -> Config {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config.pi.json");
    let text = std::fs::read_to_string(path).expect("config.pi.json");
    let mut config: Value = serde_json::from_str(&text).expect("JSON");
    config["mqtt"] = json!({
        "host": "127.0.0.1",
        "port": port,
        "prefix": "fire/county",
        "keepalive_s": 1,
        "home_assistant": true,
    });
    let report = config::check(&config.to_string());
    let problems = format!("{:?}", report.problems);
    report
        .config
        .unwrap_or_else(|| panic!("refused: {problems}"))
}

#[test]
fn home_assistant_discovery_is_retained_and_sent_again_when_home_assistant_starts() {
    let broker = Broker::start();
    let config = pi_config(broker.port());
    let settings = LinkSettings::from_config(&config).expect("an mqtt section");
    let discovery = settings.discovery.clone().expect("home_assistant is on");
    let (mut link, events) = MqttLink::start(settings).expect("the link starts");
    expect_connected(&events);

    // Home Assistant subscribing later finds the device: retained.
    let ha = Client::subscribe(broker.port(), &["homeassistant/#"]);
    let first = ha.expect(Duration::from_secs(3), "discovery", |m| {
        m.topic == discovery.topic
    });
    assert!(first.retain);
    assert_eq!(first.payload, discovery.payload);
    let document: Value = serde_json::from_slice(&first.payload).expect("JSON");
    assert_eq!(
        document["availability_topic"],
        "fire/county/station-12/status"
    );

    // Home Assistant restarts and says so: the node announces itself again.
    ha.publish("homeassistant/status", b"online", false);
    let again = ha.expect(Duration::from_secs(3), "discovery again", |m| {
        m.topic == discovery.topic
    });
    assert!(!again.retain, "a live publish, not the retained copy");
    assert_eq!(again.payload, discovery.payload);
    // Once per birth message.
    let more = ha.collect(Duration::from_millis(300));
    assert!(more.iter().all(|m| m.topic != discovery.topic), "{more:?}");
    link.stop();
}
