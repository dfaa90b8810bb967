//! `alert_command` runs a real program per event: the event on standard
//! input, `ECHOSTREAM_*` variables, arguments passed as they are (no
//! shell), killed at its time limit, its failures logged, not fatal.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use echostream::alert_command::AlertCommands;
use echostream::config::AlertCommand;

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn config(program: PathBuf, args: &[&str], timeout_ms: u32) -> AlertCommand {
    AlertCommand {
        program,
        args: args.iter().map(|&a| a.to_owned()).collect(),
        events: Vec::new(),
        timeout_ms,
    }
}

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const PAGE: &str = r#"{"event_id":"p-000006","type":"two_tone","time":"2026-12-07T03:19:24.575Z","node_id":"station-12","channel":"pages","tone_id":"Station 1","alert_type":"fire"}"#;

#[test]
fn the_program_gets_the_event_its_variables_and_literal_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let program = script(
        dir.path(),
        "siren",
        &format!(
            r#"cat > "{o}.stdin"; printf '%s\n' "$@" > "{o}.args"; env | grep ^ECHOSTREAM_ | sort > "{o}.env""#,
            o = out.display()
        ),
    );
    let runner = AlertCommands::start(&config(
        program,
        &["--station", "1", "$(touch pwned); *"],
        5000,
    ))
    .unwrap();
    assert!(runner.wants("two_tone") && !runner.wants("dtmf"));
    runner.submit("two_tone", PAGE);
    runner.submit("dtmf", r#"{"type":"dtmf"}"#);
    wait_for("the command ran", || {
        runner
            .counts()
            .succeeded
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    });
    let read = |ext: &str| std::fs::read_to_string(format!("{}.{ext}", out.display())).unwrap();
    assert_eq!(read("stdin"), PAGE);
    assert_eq!(read("args"), "--station\n1\n$(touch pwned); *\n");
    assert!(
        !dir.path().join("pwned").exists(),
        "no shell expanded the arguments"
    );
    let env = read("env");
    for line in [
        "ECHOSTREAM_ALERT_TYPE=fire",
        "ECHOSTREAM_CHANNEL=pages",
        "ECHOSTREAM_EVENT_ID=p-000006",
        "ECHOSTREAM_EVENT_TYPE=two_tone",
        "ECHOSTREAM_NODE_ID=station-12",
        "ECHOSTREAM_TONE_ID=Station 1",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} in {env}");
    }
    drop(runner);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        4,
        "dtmf ran nothing"
    );
}

#[test]
fn a_failing_a_hanging_and_a_missing_program_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let fails = script(
        dir.path(),
        "fails",
        "echo 'no printer on /dev/lp0' >&2; exit 3",
    );
    let hangs = script(dir.path(), "hangs", "exec sleep 60");
    let failing = AlertCommands::start(&config(fails, &[], 5000)).unwrap();
    let hanging = AlertCommands::start(&config(hangs, &[], 300)).unwrap();
    let missing = AlertCommands::start(&config(dir.path().join("nowhere"), &[], 5000)).unwrap();
    let started = Instant::now();
    for runner in [&failing, &hanging, &missing] {
        runner.submit("two_tone", PAGE);
    }
    for runner in [&failing, &hanging, &missing] {
        wait_for("counted as failed", || {
            runner
                .counts()
                .failed
                .load(std::sync::atomic::Ordering::Relaxed)
                == 1
        });
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the hanging one was killed at its limit: {:?}",
        started.elapsed()
    );
}

#[test]
fn a_flood_beyond_the_queue_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let slow = script(dir.path(), "slow", "exec sleep 0.2");
    let runner = AlertCommands::start(&config(slow, &[], 5000)).unwrap();
    let submitted =
        echostream::alert_command::QUEUE_LEN + echostream::alert_command::RUNNING_MAX + 20;
    for _ in 0..submitted {
        runner.submit("two_tone", PAGE);
    }
    let dropped = runner
        .counts()
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(dropped >= 20, "{dropped} dropped");
}
