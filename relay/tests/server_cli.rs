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
    std::fs::write(&bad, "# ok\ngood-token-0123456789abcdef\nnot a token\n").unwrap();
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
    std::fs::write(&tokens, "good-token-0123456789abcdef\n").unwrap();
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
    std::fs::write(&tokens, "good-token-0123456789abcdef\n").unwrap();
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

#[test]
fn token_new_prints_a_strong_token_and_a_line_that_holds_only_its_digest() {
    let output = relay_command(&[
        "token",
        "new",
        "--node",
        "station-a",
        "--listen",
        "fire,pages-*",
        "--talk",
        "fire",
    ])
    .output()
    .expect("run the relay");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    let [token, line] = lines[..] else {
        panic!("a token and a line: {stdout}");
    };
    assert_eq!(token.len(), 43, "256 bits in base64url: {token}");
    assert!(
        line.starts_with("sha256:") && !line.contains(token),
        "{line}"
    );
    assert!(
        line.ends_with(" node=station-a listen=fire,pages-* talk=fire"),
        "{line}"
    );
    assert!(
        stdout.contains("config.json"),
        "says where the token goes: {stdout}"
    );

    // --append writes the line to a file only its owner can read, and
    // `token check` lists it by fingerprint.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    let appended = relay_command(&[
        "token",
        "new",
        "--node",
        "engine-*",
        "--sessions",
        "4",
        "--listen",
        "*",
        "--append",
        file.to_str().unwrap(),
    ])
    .output()
    .expect("run the relay");
    assert!(appended.status.success(), "{appended:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("node=engine-* listen=* sessions=4"), "{text}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let check = relay_command(&["token", "check", "--strict", file.to_str().unwrap()])
        .output()
        .expect("run the relay");
    assert!(check.status.success(), "{check:?}");
    let listed = String::from_utf8(check.stdout).unwrap();
    assert!(
        listed.contains("line 1: node=engine-* listen=* talk=- sessions=4 channels=32"),
        "{listed}"
    );

    // A node pattern without --sessions, or a bad id, is refused (exit 2).
    for args in [
        &["token", "new", "--node", "engine-*", "--listen", "*"][..],
        &["token", "new", "--node", "a/b", "--listen", "*"][..],
        &["token", "new", "--node", "a"][..],
    ] {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
    }
}

#[test]
fn a_tokens_file_others_can_read_is_a_warning_or_with_strict_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens");
    std::fs::write(&file, "legacy-token-0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let path = file.to_str().unwrap();
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--udp",
        "127.0.0.1:0",
        "--tokens",
        path,
    ];
    let (code, stderr) = run(&[&args[..], &["--strict"]].concat());
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("mode 644") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    // Without --strict it starts, and says both what is loose and that a
    // bare token should be replaced.
    let relay = RelayProcess::start(&["--tokens", path]);
    relay
        .wait_log("mode 644", support::PATIENCE)
        .expect("a warning about the file's mode");
    relay
        .wait_log("a bare token (the old format)", support::PATIENCE)
        .expect("a warning about the bare token");
    let (code, _) = run(&["token", "check", "--strict", path]);
    assert_eq!(code, Some(2));
}

#[test]
fn the_heartbeat_period_is_the_operators_within_what_nodes_accept() {
    for refused in ["19", "60001"] {
        let (code, stderr) = run(&[
            "--listen",
            "127.0.0.1:0",
            "--udp",
            "127.0.0.1:0",
            "--heartbeat-ms",
            refused,
        ]);
        assert_eq!(code, Some(2), "--heartbeat-ms {refused}: {stderr}");
    }
    let relay = RelayProcess::start(&["--heartbeat-ms", "2500"]);
    let mut signaling = support::Signaling::connect(relay.ws);
    signaling.hello("station-a", "any-token");
    match signaling.next(support::PATIENCE) {
        Some(support::Event::Msg(support::Msg::Welcome { heartbeat_ms, .. })) => {
            assert_eq!(heartbeat_ms, 2500, "nodes are told the period");
        }
        other => panic!("expected a welcome, got {other:?}"),
    }
    relay.stop();
}
