//! End to end with real processes on loopback: the `echostream-relay`
//! binary and two `echostream` nodes with `file:` devices. What node A's
//! channel captures must come out of node B's channel output, through
//! Opus, AES-GCM, the relay's re-sealing fan-out and B's jitter buffer,
//! and keep coming when the relay restarts or the network loses packets.

mod e2e_support;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use e2e_support::*;

/// Each test runs a relay and two nodes that play audio in real time and
/// judge it sample by sample. One at a time, so that on a 2-core machine
/// their audio threads do not compete with another test's and the timing
/// they see stays close to a deployment's (about 14 s longer in all).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one still runs.
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The log line of a node that sees both nodes on channel `fire`.
const MEET: &[&str] = &["channel fire: connected", "node-a", "node-b"];
/// The log line of node B when A starts talking.
const A_TALKS: &str = "channel fire: node-a started transmitting";

/// Correlation B's output must reach with A's input, after Opus.
const CORRELATION_MIN: f64 = 0.9;

struct Pair {
    a: Proc,
    b: Proc,
    source: Vec<i16>,
    out_b: std::path::PathBuf,
}

/// Writes the source and silence files, starts B then A against `ws`
/// and waits until both are registered and see each other.
fn start_pair(dir: &Path, ws: std::net::SocketAddr) -> Pair {
    let source = marked_speech(8.0, 7);
    let input_a = dir.join("a-in.wav");
    write_wav(&input_a, &source);
    let input_b = dir.join("b-in.wav");
    write_wav(&input_b, &vec![0i16; RATE_HZ as usize]);
    let out_b = dir.join("b-out.wav");
    let config_a = node_config(dir, "node-a", ws, &input_a, true, None, r#""always""#);
    let config_b = node_config(
        dir,
        "node-b",
        ws,
        &input_b,
        true,
        Some(&out_b),
        r#"{ "vox": { "threshold_dbfs": -40 } }"#,
    );
    let b = start_node("node-b", &config_b);
    let a = start_node("node-a", &config_a);
    for node in [&a, &b] {
        node.wait_for_line_with(MEET, Duration::from_secs(10));
    }
    Pair {
        a,
        b,
        source,
        out_b,
    }
}

/// Stops both nodes (cleanly: B's output file is completed) and returns
/// B's output.
fn stop_pair(pair: &mut Pair) -> Vec<i16> {
    assert_eq!(pair.a.terminate(), Some(0), "node A exits 0 on SIGTERM");
    assert_eq!(pair.b.terminate(), Some(0), "node B exits 0 on SIGTERM");
    read_wav(&pair.out_b)
}

/// How closely the 2 s of `output` from `at` follow the source they came
/// from: the mean correlation of its four 0.5 s quarters, each matched at
/// its own lag within ±40 ms of where the whole window was located. The
/// jitter buffer may move playout by a frame inside a talk (a concealed
/// frame when the delay falls below what the network needs, a silent frame
/// dropped when it is ahead), so one lag for the whole 2 s would score a
/// correct but shifted second half as noise.
fn heard_at(source: &[i16], output: &[i16], at: usize) -> f64 {
    let Some(from) = locate(source, output, at) else {
        return 0.0;
    };
    let quarter = RATE_HZ as usize / 2;
    let n = source.len();
    let quarters: Vec<(isize, f64)> = (0..4)
        .map(|q| {
            let out_at = at + q * quarter;
            let expected = (from + q * quarter) % n;
            let found = best_match(
                source,
                &output[out_at..out_at + quarter],
                expected,
                RATE_HZ as usize / 25, // 40 ms
            );
            // The lag from where the whole window put it, wrapped to ±n/2.
            let shift = (found + n - expected) % n;
            let shift = if shift > n / 2 {
                shift as isize - n as isize
            } else {
                shift as isize
            };
            (
                shift,
                correlation_at(source, output, out_at, found, quarter),
            )
        })
        .collect();
    eprintln!(
        "quarters (lag in samples, correlation): {:?}",
        quarters
            .iter()
            .map(|&(s, c)| format!("{s:+} {c:.3}"))
            .collect::<Vec<_>>()
    );
    quarters.iter().map(|&(_, c)| c).sum::<f64>() / 4.0
}

#[test]
fn audio_sent_on_node_a_is_heard_on_node_b() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = start_relay(0, 0, &[]);
    let mut pair = start_pair(dir.path(), relay.ws);
    pair.b.wait_for_log(A_TALKS, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(6));
    let output = stop_pair(&mut pair);

    // The last 3 s of B's output, from 1 s after audio started.
    let loud = loud_blocks(&output);
    let first = loud.iter().position(|&l| l).expect("B played something") * 960;
    let at = first + RATE_HZ as usize;
    assert!(
        output.len() >= at + 2 * RATE_HZ as usize,
        "B played at least 3 s"
    );
    let corr = heard_at(&pair.source, &output, at);
    eprintln!("correlation of B's output with A's input: {corr:.3}");
    assert!(
        corr >= CORRELATION_MIN,
        "correlation {corr:.3} < {CORRELATION_MIN}"
    );
    // A's end-of-transmission on SIGTERM released the channel at B.
    drop(relay);
}

#[test]
fn both_nodes_reconnect_and_audio_resumes_after_a_relay_restart() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ws_port, udp_port) = free_ports();
    let mut relay = start_relay(ws_port, udp_port, &[]);
    let mut pair = start_pair(dir.path(), relay.ws);
    pair.b.wait_for_log(A_TALKS, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(3));

    // The relay dies mid-stream and comes back on the same ports.
    relay.proc.kill();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let relay = start_relay(ws_port, udp_port, &[]);
    for node in [&pair.a, &pair.b] {
        let deadline = Duration::from_secs(5).saturating_sub(killed.elapsed());
        wait_for_count(node, MEET, 2, deadline);
    }
    std::thread::sleep(Duration::from_secs(5));
    let output = stop_pair(&mut pair);
    drop(relay);

    // B's output: audio, a gap while the relay was away, audio again.
    let loud = loud_blocks(&output);
    let first = loud.iter().position(|&l| l).expect("B played something");
    // The outage: the first run of 100 ms or more of silence (the speech
    // itself has no pause that long).
    let gap_start = first
        + loud[first..]
            .windows(5)
            .position(|w| w.iter().all(|&l| !l))
            .expect("a gap");
    let resumed = gap_start
        + loud[gap_start..]
            .iter()
            .position(|&l| l)
            .expect("audio resumed");
    let gap_s = (resumed - gap_start) as f64 * 0.020;
    eprintln!("B's output was silent for {gap_s:.2} s around the relay restart");
    eprintln!(
        "B's output, loud/quiet runs of 20 ms blocks: {}",
        runs(&loud)
    );
    if let Some(dir) = std::env::var_os("E2E_KEEP") {
        write_wav(&Path::new(&dir).join("b-out.wav"), &output);
    }
    assert!(
        gap_s <= 5.0,
        "audio resumed {gap_s:.2} s after it stopped (limit 5 s)"
    );
    // B hears A again: some 2 s window starting in the 3 s after the
    // audio came back matches A's input (all are printed, so a failure
    // shows what B played).
    let windows: Vec<f64> = (0..7)
        .map(|half_s| {
            let at = resumed * 960 + half_s * RATE_HZ as usize / 2;
            if at + 2 * RATE_HZ as usize > output.len() {
                return 0.0;
            }
            heard_at(&pair.source, &output, at)
        })
        .collect();
    eprintln!("correlation after the restart, windows 0.5 s apart: {windows:.3?}");
    let best = windows.iter().copied().fold(0.0, f64::max);
    assert!(
        best >= CORRELATION_MIN,
        "B never matched A again after the restart: {windows:.3?}"
    );
}

/// Waits until a line with all of `needles` has appeared `count` times
/// in `proc`'s log.
fn wait_for_count(proc: &Proc, needles: &[&str], count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while proc.count_lines_with(needles) < count {
        assert!(
            Instant::now() < deadline,
            "{}: {needles:?} seen {} times, not {count}, within {within:?}",
            proc.name,
            proc.count_lines_with(needles)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn audio_continues_concealed_through_20_percent_udp_loss() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let (ws_port, udp_port) = free_ports();
    let upstream = format!("127.0.0.1:{udp_port}").parse().expect("address");
    let proxy = LossyProxy::start(upstream, 0.20, 11);
    let proxy_port = proxy.addr.port().to_string();
    let relay = start_relay(ws_port, udp_port, &["--udp-port", &proxy_port]);
    let mut pair = start_pair(dir.path(), relay.ws);
    pair.b.wait_for_log(A_TALKS, Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(8));
    let output = stop_pair(&mut pair);
    let (forwarded, dropped) = *proxy.stats.lock().expect("stats");
    let loss = dropped as f64 / (forwarded + dropped) as f64;
    eprintln!(
        "proxy: {forwarded} datagrams forwarded, {dropped} dropped ({:.1} %)",
        loss * 100.0
    );
    assert!(
        (0.15..0.25).contains(&loss),
        "the proxy dropped {:.1} %",
        loss * 100.0
    );

    // A fifth of A's frames never reach the relay. What B plays must
    // still follow A (FEC and concealment), with no silent stretch inside
    // the talk.
    let loud = loud_blocks(&output);
    let first = loud.iter().position(|&l| l).expect("B played something");
    let last = loud.iter().rposition(|&l| l).expect("B played something");
    let longest_gap = loud[first..=last]
        .split(|&l| l)
        .map(<[bool]>::len)
        .max()
        .unwrap_or(0);
    eprintln!(
        "B played {:.1} s; longest quiet stretch inside it {} ms",
        (last - first) as f64 * 0.02,
        longest_gap * 20
    );
    assert!((last - first) as f64 * 0.02 >= 6.0, "B played at least 6 s");
    let corr = heard_at(&pair.source, &output, (first + 100) * 960);
    eprintln!("correlation through 20 % loss: {corr:.3}");
    assert!(
        corr >= 0.7,
        "correlation {corr:.3}: B does not follow A through the loss"
    );
    assert!(
        longest_gap * 20 <= 100,
        "a {} ms silent gap inside the talk",
        longest_gap * 20
    );
}

#[test]
fn garbage_sent_to_a_node_is_dropped_and_counted_and_its_audio_goes_on() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = start_relay(0, 0, &[]);
    let mut pair = start_pair(dir.path(), relay.ws);
    pair.b.wait_for_log(A_TALKS, Duration::from_secs(10));
    // Node B's UDP port, from its log.
    let line = pair
        .b
        .wait_for_log("welcomed by the relay", Duration::from_secs(5));
    let port: u16 = line
        .rsplit_once(" from ")
        .and_then(|(_, rest)| rest.split(',').next())
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a local UDP port in `{line}`"));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let target = ("127.0.0.1", port);
    let mut rng = echostream_sim::Rng::new(5);
    // Garbage of every length, a header that is not version 1, and
    // well-formed headers with random ciphertext on stream ids 1 to 8.
    for i in 0..300usize {
        let len = 1 + rng.below(1_400) as usize;
        let mut bytes = vec![0u8; len];
        rng.fill(&mut bytes);
        match i % 3 {
            0 => {}
            1 => bytes[0] = 7,
            _ if len >= 40 => {
                bytes[0] = 1;
                bytes[1] = 1;
                bytes[2] = 0;
                bytes[4..8].copy_from_slice(&(1 + (i as u32 % 8)).to_be_bytes());
            }
            _ => {}
        }
        socket.send_to(&bytes, target).expect("send");
        // Paced, so that loopback does not drop any for a full buffer.
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_secs(4));
    let output = stop_pair(&mut pair);
    let status = pair
        .b
        .log()
        .into_iter()
        .rev()
        .find(|l| l.contains("status net "))
        .expect("B's final status line");
    let counter = |name: &str| -> u64 {
        status
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in `{status}`"))
    };
    let dropped = counter("drop_malformed")
        + counter("drop_unknown_stream")
        + counter("drop_open_forged")
        + counter("drop_open_unknown_key")
        + counter("drop_open_malformed");
    eprintln!("B dropped {dropped} of 300 garbage datagrams: {status}");
    assert_eq!(
        dropped, 300,
        "every garbage datagram is dropped and counted"
    );
    // B kept hearing A through it.
    let loud = loud_blocks(&output);
    let first = loud.iter().position(|&l| l).expect("B played something");
    let corr = heard_at(&pair.source, &output, (first + 100) * 960);
    assert!(
        corr >= CORRELATION_MIN,
        "correlation {corr:.3} after the garbage"
    );
}

/// `L12 Q3 L40 …`: the lengths of the loud and quiet runs in `loud`.
fn runs(loud: &[bool]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < loud.len() {
        let n = loud[i..].iter().take_while(|&&l| l == loud[i]).count();
        out.push_str(&format!("{}{n} ", if loud[i] { 'L' } else { 'Q' }));
        i += n;
    }
    out
}

/// A two-channel node config: `pages` listening for Station 1, which
/// passes through to `talk`; what `talk` plays goes to `talk_out`.
fn pages_config(
    dir: &Path,
    node_id: &str,
    ws: std::net::SocketAddr,
    pages_in: &Path,
    talk_out: &Path,
) -> std::path::PathBuf {
    let silent = dir.join(format!("{node_id}-silent.wav"));
    write_wav(&silent, &vec![0i16; RATE_HZ as usize]);
    let vox = serde_json::json!({ "vox": { "threshold_dbfs": -40 } });
    let config = serde_json::json!({
        "node_id": node_id,
        "http": { "listen": null },
        "relay": { "url": format!("ws://{ws}"), "token": "test-token",
                   "connect_timeout_ms": 2000, "reconnect_max_ms": 2000 },
        "audio": { "sample_rate_hz": 48000, "frame_ms": 20, "period_ms": 5,
                   "buffer_periods": 3, "preroll_ms": 0, "jitter_min_ms": 20,
                   "jitter_max_ms": 200, "rt_priority": 0 },
        "channels": [
            { "id": "pages", "input_device": format!("file:{}", pages_in.display()),
              "input_loop": true, "cor": vox },
            { "id": "talk", "input_device": format!("file:{}", silent.display()),
              "input_loop": true, "output_device": format!("file:{}", talk_out.display()),
              "cor": vox }
        ],
        "tones": [
            { "tone_id": "Station 1", "tone_a_freq": 349.0, "tone_b_freq": 707.3,
              "tone_a_length_ms": 800, "tone_b_length_ms": 2000,
              "tone_a_range_hz": 5.0, "tone_b_range_hz": 10.0,
              "record_length_ms": 4000, "alert_type": "fire",
              "channel": "pages", "passthrough": "talk" }
        ],
        "recordings": { "dir": dir.join(format!("rec-{node_id}")),
                        "spool_dir": dir.join(format!("rec-{node_id}/spool")) },
        "events_file": dir.join(format!("events-{node_id}.jsonl")),
    });
    let path = dir.join(format!("{node_id}.json"));
    std::fs::write(&path, config.to_string()).expect("write node config");
    path
}

fn events(dir: &Path, node_id: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("events-{node_id}.jsonl")))
        .expect("events file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// The 2 s from 1 s after `output` starts playing: how closely they follow
/// `source`, and how long `output` played in all, s.
fn played(source: &[i16], output: &[i16]) -> (f64, f64) {
    let loud = loud_blocks(output);
    let first = loud.iter().position(|&l| l).expect("something was played");
    let last = loud.iter().rposition(|&l| l).expect("something was played");
    let corr = heard_at(source, output, first * 960 + RATE_HZ as usize);
    (corr, (last + 1 - first) as f64 * 0.02)
}

#[test]
fn a_page_passes_its_audio_through_to_the_target_channel_here_and_at_the_other_site() {
    let _serial = one_at_a_time();
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = start_relay(0, 0, &[]);
    // Station 1's page, then speech, then a quiet tail longer than the test.
    let mut source = vec![0i16; RATE_HZ as usize / 2];
    let mut page = echostream_sim::audio::Signal::new(RATE_HZ);
    page.page(349.0, 707.3, 1_000.0, 0.0, 2_500.0, 0.3);
    source.extend(
        page.samples
            .iter()
            .map(|&s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)).round() as i16),
    );
    source.extend(marked_speech(6.0, 11));
    source.extend(vec![0i16; 20 * RATE_HZ as usize]);
    let pages_in = dir.path().join("pages-in.wav");
    write_wav(&pages_in, &source);
    let silent_pages = dir.path().join("pages-silent.wav");
    write_wav(&silent_pages, &vec![0i16; RATE_HZ as usize]);
    let out_a = dir.path().join("a-talk-out.wav");
    let out_b = dir.path().join("b-talk-out.wav");
    let config_a = pages_config(dir.path(), "node-a", relay.ws, &pages_in, &out_a);
    let config_b = pages_config(dir.path(), "node-b", relay.ws, &silent_pages, &out_b);
    let mut b = start_node("node-b", &config_b);
    b.wait_for_log("channel talk registered", Duration::from_secs(10));
    let mut a = start_node("node-a", &config_a);
    a.wait_for_log("PASSTHROUGH pages -> talk ended", Duration::from_secs(20));
    b.wait_for_log(
        "REMOTE ALERT Station 1 (fire) on pages",
        Duration::from_secs(5),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));

    // Node A plays the page's audio out of its `talk` channel, for the
    // passthrough's 4 s; node B hears it as `talk`'s transmission.
    for (node, out) in [("A", &out_a), ("B", &out_b)] {
        let (corr, secs) = played(&source, &read_wav(out));
        eprintln!("{node}: talk played {secs:.2} s, correlation {corr:.3} with pages' input");
        assert!(corr >= CORRELATION_MIN, "{node}: correlation {corr:.3}");
        assert!((3.7..=4.3).contains(&secs), "{node}: played {secs:.2} s");
    }
    let a_events = events(dir.path(), "node-a");
    let states: Vec<_> = a_events
        .iter()
        .filter(|e| e["type"] == "passthrough")
        .map(|e| e["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["start", "end"]);
    let b_events = events(dir.path(), "node-b");
    let remote: Vec<_> = b_events
        .iter()
        .filter(|e| e["type"] == "remote_alert")
        .collect();
    assert_eq!(remote.len(), 1, "{b_events:#?}");
    assert_eq!(remote[0]["heard_by"], "node-a");
    assert_eq!(remote[0]["tone_id"], "Station 1");
    assert_eq!(remote[0]["channel"], "pages");
    drop(relay);
}

/// A one-channel node on the simulated GPIO chip under `gpio`: COR from
/// line `cor_line` if given (else VOX), PTT on line `ptt_line` if given.
#[allow(
    clippy::too_many_arguments,
    reason = "each node of the test differs in each"
)]
fn radio_config(
    dir: &Path,
    node_id: &str,
    ws: std::net::SocketAddr,
    gpio: &Path,
    input: &Path,
    output: Option<&Path>,
    cor_line: Option<u32>,
    ptt_line: Option<u32>,
) -> std::path::PathBuf {
    let cor = match cor_line {
        Some(line) => {
            serde_json::json!({ "gpio": { "chip": "gpiochip0", "line": line, "polarity": "active_high" } })
        }
        None => serde_json::json!({ "vox": { "threshold_dbfs": -40 } }),
    };
    let mut channel = serde_json::json!({
        "id": "fire", "input_device": format!("file:{}", input.display()),
        "input_loop": true, "cor": cor,
        "timers": { "cor_debounce_ms": 20, "cor_hang_ms": 200, "tx_delay_ms": 400,
                    "ptt_hang_ms": 600, "timeout_s": 30, "lockout_s": 2 }
    });
    if let Some(output) = output {
        channel["output_device"] = serde_json::json!(format!("file:{}", output.display()));
    }
    if let Some(line) = ptt_line {
        channel["ptt"] =
            serde_json::json!({ "chip": "gpiochip0", "line": line, "polarity": "active_high" });
    }
    let config = serde_json::json!({
        "node_id": node_id,
        "http": { "listen": null },
        "relay": { "url": format!("ws://{ws}"), "token": "test-token",
                   "connect_timeout_ms": 2000, "reconnect_max_ms": 2000 },
        "audio": { "sample_rate_hz": 48000, "frame_ms": 20, "period_ms": 5,
                   "buffer_periods": 3, "preroll_ms": 0, "jitter_min_ms": 20,
                   "jitter_max_ms": 200, "rt_priority": 0 },
        "channels": [channel],
        "gpio_backend": format!("sim:{}", gpio.display()),
        "recordings": { "dir": dir.join(format!("rec-{node_id}")),
                        "spool_dir": dir.join(format!("rec-{node_id}/spool")) },
        "events_file": dir.join(format!("events-{node_id}.jsonl")),
    });
    let path = dir.join(format!("{node_id}.json"));
    std::fs::write(&path, config.to_string()).expect("write node config");
    path
}

/// Two nodes' radios on one simulated chip: A's COR on line 20 (closed),
/// B's PTT on line 21; A plays `speech_s` of marked speech, B a silent
/// input and writes what it plays to `out_b`; a relay for both.
struct Radios {
    dir: tempfile::TempDir,
    gpio: echostream::gpio::SimGpio,
    cor: echostream::gpio::LineId,
    ptt: echostream::gpio::LineId,
    relay: Relay,
    source: Vec<i16>,
    config_a: std::path::PathBuf,
    config_b: std::path::PathBuf,
    out_b: std::path::PathBuf,
}

fn radios(speech_s: f64, seed: u64) -> Radios {
    use echostream::gpio::{Level, LineId, SimGpio};
    let dir = tempfile::tempdir().expect("temp dir");
    let gpio_dir = dir.path().join("gpio");
    let gpio = SimGpio::new(&gpio_dir);
    gpio.create_chip("gpiochip0", 32).expect("chip");
    let (cor, ptt) = (LineId::new("gpiochip0", 20), LineId::new("gpiochip0", 21));
    gpio.set_level(&cor, Level::Low).expect("COR closed");
    let relay = start_relay(0, 0, &[]);
    let source = marked_speech(speech_s, seed);
    let input_a = dir.path().join("a-in.wav");
    write_wav(&input_a, &source);
    let silent = dir.path().join("silent.wav");
    write_wav(&silent, &vec![0i16; RATE_HZ as usize]);
    let out_b = dir.path().join("b-out.wav");
    let config_a = radio_config(
        dir.path(),
        "node-a",
        relay.ws,
        &gpio_dir,
        &input_a,
        None,
        Some(20),
        None,
    );
    let config_b = radio_config(
        dir.path(),
        "node-b",
        relay.ws,
        &gpio_dir,
        &silent,
        Some(&out_b),
        None,
        Some(21),
    );
    Radios {
        dir,
        gpio,
        cor,
        ptt,
        relay,
        source,
        config_a,
        config_b,
        out_b,
    }
}

/// A's receiver opens (its COR line, on the simulated chip) for 3 s: A
/// sends, B keys its transmitter (its PTT line), plays A's audio after
/// the TX delay and releases PTT the hang time after the audio ends.
#[test]
fn cor_on_node_a_keys_ptt_on_node_b_which_plays_after_the_tx_delay_and_releases_after_the_hang() {
    use echostream::gpio::Level;
    let _serial = one_at_a_time();
    let Radios {
        dir,
        gpio,
        cor,
        ptt,
        relay,
        source,
        config_a,
        config_b,
        out_b,
    } = radios(8.0, 5);
    let mut b = start_node("node-b", &config_b);
    let mut a = start_node("node-a", &config_a);
    for node in [&a, &b] {
        node.wait_for_line_with(
            &["channel fire: connected", "node-a", "node-b"],
            Duration::from_secs(10),
        );
    }
    // The PTT line was driven unkeyed when B started, before anything else.
    let drives = gpio.drives(&ptt).expect("B's PTT log");
    assert_eq!(
        drives.first().map(|d| d.level),
        Some(Level::Low),
        "{drives:?}"
    );

    gpio.set_level(&cor, Level::High).expect("COR open");
    b.wait_for_log("PTT fire keyed (remote)", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    gpio.set_level(&cor, Level::Low).expect("COR closed");
    b.wait_for_log("PTT fire released (hang)", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));

    let drives: Vec<_> = gpio
        .drives(&ptt)
        .expect("B's PTT log")
        .into_iter()
        .map(|d| (d.time_ns, d.level))
        .collect();
    let levels: Vec<_> = drives.iter().map(|&(_, l)| l).collect();
    assert_eq!(
        levels,
        [Level::Low, Level::High, Level::Low, Level::Low],
        "unkeyed at start, keyed, released, released again on exit: {drives:?}"
    );
    let keyed_s = (drives[2].0 - drives[1].0) as f64 / 1e9;
    // 3 s of COR, its 200 ms hang, the 600 ms PTT hang, give or take.
    assert!((3.3..=4.6).contains(&keyed_s), "keyed {keyed_s:.2} s");

    // B played A's audio.
    let output = read_wav(&out_b);
    let loud = loud_blocks(&output);
    let first = loud.iter().position(|&l| l).expect("B played something") * 960;
    let corr = heard_at(&source, &output, first + RATE_HZ as usize / 2);
    eprintln!("B's output vs A's input: correlation {corr:.3}");
    assert!(corr >= CORRELATION_MIN, "correlation {corr:.3}");

    // The TX delay: B's audio started about 400 ms after its PTT keyed
    // (the keying's event time against the output file's clock, which
    // starts when B's channel started).
    let events: Vec<serde_json::Value> = events(dir.path(), "node-b");
    let keyed_at = events
        .iter()
        .find(|e| e["type"] == "ptt" && e["keyed"] == true)
        .and_then(|e| e["time"].as_str())
        .expect("a ptt keyed event")
        .to_owned();
    let started = b
        .log()
        .into_iter()
        .find(|l| l.contains("channel fire started"))
        .expect("B's channel started");
    let ms = |stamp: &str| -> f64 {
        // `…THH:MM:SS.mmmZ`: milliseconds of the day are enough here.
        let t = &stamp[stamp.find('T').expect("a time") + 1..];
        let h: f64 = t[0..2].parse().unwrap();
        let m: f64 = t[3..5].parse().unwrap();
        let s: f64 = t[6..12].parse().unwrap();
        (h * 3_600.0 + m * 60.0 + s) * 1_000.0
    };
    let started_line = started
        .split_whitespace()
        .find(|w| w.contains('T') && w.ends_with('Z'))
        .unwrap();
    let audio_at = ms(started_line) + first as f64 / 48.0;
    let gap_ms = audio_at - ms(&keyed_at);
    eprintln!("B: audio {gap_ms:.0} ms after PTT keyed (tx_delay_ms 400)");
    assert!(
        (340.0..=800.0).contains(&gap_ms),
        "audio {gap_ms:.0} ms after PTT"
    );
    drop(relay);
}

/// B's transmitter is released on every way out: SIGTERM and SIGINT (exit
/// 0), a panic (the hook releases it before the process ends), and
/// SIGKILL followed by `echostream ptt-off`.
#[test]
fn ptt_is_released_on_sigterm_sigint_a_panic_and_by_ptt_off_after_sigkill() {
    use echostream::gpio::Level;
    let _serial = one_at_a_time();
    let Radios {
        dir: _dir,
        gpio,
        cor,
        ptt,
        relay,
        config_a,
        config_b,
        ..
    } = radios(4.0, 3);
    let mut a = start_node("node-a", &config_a);
    a.wait_for_log("channel fire registered", Duration::from_secs(10));
    gpio.set_level(&cor, Level::High)
        .expect("A talks from now on");
    let level = || gpio.level(&ptt).expect("B's PTT line");

    // Starts B (with `env`) and waits until A's talk keys it.
    let keyed_b = |env: &[(&str, &str)]| {
        let b = start_node_with_env("node-b", &config_b, env);
        b.wait_for_log("PTT fire keyed (remote)", Duration::from_secs(10));
        assert_eq!(level(), Some(Level::High), "B keyed");
        b
    };
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut b = keyed_b(&[]);
        // SAFETY: kill(2) on our own child with a valid signal.
        unsafe {
            libc::kill(b.pid() as libc::pid_t, signal);
        }
        assert_eq!(
            b.wait_exit(Duration::from_secs(10)),
            Some(0),
            "signal {signal}"
        );
        assert_eq!(level(), Some(Level::Low), "released on signal {signal}");
    }
    let mut b = keyed_b(&[("ECHOSTREAM_TEST_PANIC_AFTER_MS", "2500")]);
    let code = b.wait_exit(Duration::from_secs(10));
    assert_ne!(code, Some(0), "a panic is a failure");
    assert!(
        b.log()
            .iter()
            .any(|l| l.contains("a panic for the fail-safe test")),
        "it panicked"
    );
    assert_eq!(
        level(),
        Some(Level::Low),
        "the hook released PTT before the end"
    );

    let mut b = keyed_b(&[]);
    b.kill();
    assert_eq!(level(), Some(Level::High), "SIGKILL leaves the line keyed");
    let output = std::process::Command::new(node_binary())
        .args(["ptt-off", "--config"])
        .arg(&config_b)
        .output()
        .expect("run ptt-off");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("fire: PTT gpiochip0 line 21 unkeyed"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(level(), Some(Level::Low), "ptt-off released it");
    assert_eq!(a.terminate(), Some(0));
    drop(relay);
}

/// Changes one node config's `timers`.
fn set_timers(config: &Path, timers: serde_json::Value) {
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config).unwrap()).unwrap();
    for (key, v) in timers.as_object().unwrap() {
        value["channels"][0]["timers"][key] = v.clone();
    }
    std::fs::write(config, value.to_string()).unwrap();
}

/// A talker who never stops: B's PTT is released at the time-out, stays
/// locked out while A goes on, and keys again once A stopped for the
/// lock-out time and talks again.
#[test]
fn a_talker_who_never_stops_is_cut_at_the_time_out_and_locked_out() {
    use echostream::gpio::Level;
    let _serial = one_at_a_time();
    let Radios {
        dir,
        gpio,
        cor,
        ptt,
        relay,
        config_a,
        config_b,
        ..
    } = radios(4.0, 9);
    set_timers(
        &config_b,
        serde_json::json!({ "timeout_s": 2, "lockout_s": 1 }),
    );
    let mut b = start_node("node-b", &config_b);
    let mut a = start_node("node-a", &config_a);
    a.wait_for_line_with(
        &["channel fire: connected", "node-a", "node-b"],
        Duration::from_secs(10),
    );
    gpio.set_level(&cor, Level::High).unwrap();
    b.wait_for_log("PTT fire released (timeout)", Duration::from_secs(6));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        gpio.level(&ptt).unwrap(),
        Some(Level::Low),
        "locked out while A talks on"
    );
    // A stops; after the lock-out A talks again and B keys again.
    gpio.set_level(&cor, Level::Low).unwrap();
    std::thread::sleep(Duration::from_millis(1_800));
    gpio.set_level(&cor, Level::High).unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        gpio.level(&ptt).unwrap(),
        Some(Level::High),
        "keyed again after the lock-out"
    );
    gpio.set_level(&cor, Level::Low).unwrap();
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));
    let drives: Vec<_> = gpio
        .drives(&ptt)
        .unwrap()
        .into_iter()
        .map(|d| (d.time_ns, d.level))
        .collect();
    assert_eq!(drives[1].1, Level::High);
    assert_eq!(drives[2].1, Level::Low);
    let keyed_s = (drives[2].0 - drives[1].0) as f64 / 1e9;
    assert!(
        (1.95..=2.1).contains(&keyed_s),
        "cut after {keyed_s:.3} s (timeout_s 2)"
    );
    let events = events(dir.path(), "node-b");
    let reasons: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "ptt")
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        reasons.starts_with(&["remote".to_owned(), "timeout".to_owned()]),
        "{reasons:?}"
    );
    drop(relay);
}

/// COR chatter of 1000 edges a second for 10 s keys nothing anywhere (it
/// never holds for the 20 ms debounce), and what it costs node A is
/// printed.
#[test]
fn cor_chatter_keys_nothing_and_costs_bounded_cpu() {
    use echostream::gpio::Level;
    let _serial = one_at_a_time();
    let Radios {
        dir: _dir,
        gpio,
        cor,
        ptt,
        relay,
        config_a,
        config_b,
        ..
    } = radios(4.0, 2);
    let mut b = start_node("node-b", &config_b);
    let mut a = start_node("node-a", &config_a);
    a.wait_for_line_with(
        &["channel fire: connected", "node-a", "node-b"],
        Duration::from_secs(10),
    );
    let cpu = |pid: u32| -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        // utime + stime, in clock ticks (fields 14 and 15 of stat(5)).
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / 100.0
    };
    let before = cpu(a.pid());
    let started = Instant::now();
    // Each pulse is up for only the time between two writes, and the
    // writer rests with the line down, so a loaded machine that delays
    // this thread delays the next pulse, not the end of this one.
    let mut toggles = 0u32;
    while started.elapsed() < Duration::from_secs(10) {
        gpio.set_level(&cor, Level::High).unwrap();
        gpio.set_level(&cor, Level::Low).unwrap();
        toggles += 2;
        std::thread::sleep(Duration::from_micros(1_000));
    }

    gpio.set_level(&cor, Level::Low).unwrap();
    let used = cpu(a.pid()) - before;
    eprintln!(
        "COR chatter: {toggles} edges in 10 s; node A used {:.2} s of CPU ({:.1} % of a core, audio threads included)",
        used,
        used * 10.0
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !a.log().iter().any(|l| l.contains("COR fire open")),
        "chatter never opens COR"
    );
    assert!(
        !b.log().iter().any(|l| l.contains("PTT fire keyed")),
        "nothing keyed"
    );
    assert!(
        gpio.drives(&ptt)
            .unwrap()
            .iter()
            .all(|d| d.level == Level::Low)
    );
    assert!(used < 5.0, "{used:.2} s of CPU for 10 s of chatter");
    assert_eq!(a.terminate(), Some(0));
    assert_eq!(b.terminate(), Some(0));
    drop(relay);
}
