//! The relay's status endpoint (`--http`), on the real binary: what an
//! operator's Prometheus, `curl` and browser see while nodes talk, the
//! password beyond loopback, and that a taken port leaves the relay
//! running.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use echostream_core::wire::Flags;
use support::{Msg, Node, RelayProcess, assert_audio_flows, relay_command};

const TOKEN: &str = "any-token";

/// One HTTP/1.1 GET, `auth` as a ready `Authorization` value; returns
/// the status code and the body.
fn get(addr: SocketAddr, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the status endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = auth.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: relay\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("an answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a head and a body");
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    (code, body.to_owned())
}

/// The value of the one sample line `name` (with its labels) in `text`.
fn sample(text: &str, name: &str) -> f64 {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .collect();
    assert_eq!(values.len(), 1, "one sample {name} in:\n{text}");
    values[0]
}

#[test]
fn status_metrics_and_page_show_channels_talkers_and_drops_while_nodes_talk() {
    let relay = RelayProcess::start(&[]);
    let http = relay.http.expect("the status endpoint is on");
    let mut a = Node::join(&relay, "station-a", TOKEN);
    let mut b = Node::join(&relay, "station-b", TOKEN);
    a.register("fire");
    b.register("fire");
    let both = Msg::Users {
        channel: "fire".into(),
        users: vec!["station-a".into(), "station-b".into()],
    };
    b.wait_for(|m| *m == both);
    a.send_audio("fire", Flags::START_OF_TALKSPURT, b"first");
    b.receive_media().expect("the first frame");
    assert_audio_flows(&mut a, &mut b, "fire", 10);
    // Garbage on the UDP port: dropped and counted as malformed.
    a.send_datagram(b"not a datagram");
    a.send_datagram(b"nor this");

    let (code, body) = get(http, "/status", None);
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["sessions"].as_array().unwrap().len(), 2, "{body}");
    let fire = &status["channels"][0];
    assert_eq!(fire["id"], "fire");
    assert_eq!(
        fire["members"],
        serde_json::json!(["station-a", "station-b"])
    );
    assert_eq!(fire["talker"], "station-a", "{body}");
    assert_eq!(status["talkers"], 1);
    assert!(status["datagrams_in"].as_u64().unwrap() >= 11, "{body}");
    assert!(status["datagrams_out"].as_u64().unwrap() >= 11, "{body}");
    assert_eq!(status["drops"]["malformed"], 2, "{body}");
    assert!(status["counters"]["heartbeats"].is_u64(), "{body}");

    let (code, text) = get(http, "/metrics", None);
    assert_eq!(code, 200, "{text}");
    assert_eq!(sample(&text, "echostream_relay_sessions"), 2.0);
    assert_eq!(
        sample(&text, "echostream_relay_channel_members{channel=\"fire\"}"),
        2.0
    );
    assert_eq!(
        sample(&text, "echostream_relay_channel_talking{channel=\"fire\"}"),
        1.0
    );
    assert_eq!(
        sample(&text, "echostream_relay_drops_total{reason=\"malformed\"}"),
        2.0
    );
    assert!(sample(&text, "echostream_relay_datagrams_in_total") >= 11.0);
    // Every line is a comment or `name{labels} number`, every family typed.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').expect("name and value");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        let family = name.split('{').next().unwrap();
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{family} has no TYPE line"
        );
    }

    let (code, page) = get(http, "/", None);
    assert_eq!(code, 200);
    assert!(page.contains("http-equiv=\"refresh\""), "{page}");
    assert!(
        page.contains("<td>fire</td><td>station-a, station-b</td>"),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"talking\">station-a</span>"),
        "{page}"
    );
    assert!(page.contains("<td>malformed</td><td>2</td>"), "{page}");

    assert_eq!(get(http, "/nothing", None).0, 404);
    relay.stop();
}

#[test]
fn a_password_guards_every_path() {
    let hash = {
        let mut child = relay_command(&["hash-password"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"dispatch-only\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let relay = RelayProcess::start(&["--http", "127.0.0.1:0", "--http-password-hash", &hash]);
    let http = relay.http.unwrap();
    for path in ["/", "/status", "/metrics"] {
        assert_eq!(get(http, path, None).0, 401, "{path}");
    }
    // Basic auth, any user: "ops:dispatch-only".
    let good = "Basic b3BzOmRpc3BhdGNoLW9ubHk=";
    let wrong = "Basic b3BzOndyb25nLXBhc3N3b3Jk";
    assert_eq!(get(http, "/status", Some(wrong)).0, 401);
    assert_eq!(get(http, "/status", Some(good)).0, 200);
    relay.stop();
}

#[test]
fn beyond_loopback_without_a_password_it_refuses_to_start() {
    let output = relay_command(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--http",
        "0.0.0.0:0",
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--http-password-hash"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");

    let output = relay_command(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--http-password-hash",
        "not-a-hash",
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hash-password"), "{stderr}");

    let mut short = relay_command(&["hash-password"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    short.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = short.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than 8"));
}

#[test]
fn a_taken_status_port_leaves_the_relay_serving_its_nodes() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let relay = RelayProcess::start(&["--http", &addr]);
    assert!(relay.http.is_none(), "the listening line says http=off");
    assert!(
        relay
            .wait_log("status endpoint not started", Duration::from_secs(5))
            .is_some(),
        "{}",
        relay.log()
    );
    let mut a = Node::join(&relay, "station-a", TOKEN);
    let mut b = Node::join(&relay, "station-b", TOKEN);
    a.register("fire");
    b.register("fire");
    a.send_audio("fire", Flags::START_OF_TALKSPURT, b"first");
    b.receive_media().expect("the first frame");
    assert_audio_flows(&mut a, &mut b, "fire", 5);
    relay.stop();
}
