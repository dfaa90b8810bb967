//! The `echostream-relay` command line: what it refuses to start with, and
//! how it says so (exit 2 for the operator's input, 1 at run time).

mod support;

use std::process::Output;

use support::{RelayProcess, relay_command};

fn run(args: &[&str]) -> (Option<i32>, String) {
    let Output { status, stderr, .. } = relay_command(args).output().expect("run the relay");
    (status.code(), String::from_utf8_lossy(&stderr).into_owned())
}

#[test]
fn a_public_listener_without_tokens_refuses_to_start() {
    let (code, stderr) = run(&["--listen", "0.0.0.0:0", "--udp", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tokens FILE is required"), "{stderr}");
    assert!(stderr.contains("0.0.0.0:0"), "{stderr}");
    let (code, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "[::]:0",
        "--udp-host",
        "h",
    ]);
    assert_eq!(
        code,
        Some(2),
        "a public UDP socket needs tokens too: {stderr}"
    );
    assert!(stderr.contains("--tokens"), "{stderr}");
}

#[test]
fn a_bad_tokens_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("tokens.txt");
    std::fs::write(&bad, "# ok\ngood-token\nnot a token\n").unwrap();
    let (code, stderr) = run(&[
        "--listen",
        "0.0.0.0:0",
        "--udp",
        "127.0.0.1:0",
        "--tokens",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("tokens.txt line 3"), "{stderr}");

    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "# nobody yet\n\n").unwrap();
    let (code, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--tokens",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("empty.txt: no token"), "{stderr}");

    let missing = dir.path().join("missing.txt");
    let (code, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--tokens",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("missing.txt: cannot read it"), "{stderr}");
}

#[test]
fn bad_arguments_are_named() {
    let (code, stderr) = run(&["--listen", "localhost", "--udp", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
    let (code, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--tls-cert",
        "cert.pem",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let (code, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--tls-cert",
        "/nonexistent/cert.pem",
        "--tls-key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "good-token\n").unwrap();
    let (code, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "0.0.0.0:0",
        "--tokens",
        tokens.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--udp-host HOST is required"), "{stderr}");
}

#[test]
fn plain_ws_beyond_loopback_needs_insecure_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "good-token\n").unwrap();
    let tokens = tokens.to_str().unwrap();
    let args = [
        "--listen",
        "0.0.0.0:0",
        "--udp",
        "127.0.0.1:0",
        "--tokens",
        tokens,
    ];
    let (code, stderr) = run(&args);
    assert_eq!(code, Some(2), "{stderr}");
    for needle in ["--insecure-plaintext", "token", "media key", "--tls-cert"] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }

    // With the flag it starts (and says where it listens).
    let mut child = relay_command(&[&args[..], &["--insecure-plaintext"]].concat())
        .spawn()
        .expect("run the relay");
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    let read = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
    let _ = child.kill();
    let status = child.wait().expect("reap the relay");
    assert!(
        read.is_ok() && line.starts_with("listening ws=0.0.0.0:"),
        "{line:?}, exited {status}"
    );
}

#[test]
fn an_address_in_use_is_a_runtime_failure() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = run(&["--listen", &addr, "--udp", "127.0.0.1:0"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot bind the WebSocket listener to {addr}")),
        "{stderr}"
    );
}

#[test]
fn counters_are_logged_every_interval_and_on_sigint() {
    let relay = RelayProcess::start(&["--stats-interval-s", "1"]);
    let line = relay
        .wait_log(" stats at=interval ", std::time::Duration::from_secs(3))
        .expect("a stats line within the interval");
    assert_eq!(support::Stats::parse(&line).get("sessions_active"), 0);
    let stats = relay.stop_with(libc::SIGINT);
    assert_eq!(stats.get("conn_accepted"), 0);
}
