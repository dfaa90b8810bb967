//! The simulated chip as a test or a demo uses it: lines driven and
//! watched through files, from this process and others.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};

use super::*;
use crate::config::{Drive, Polarity};
use crate::gpio::{CorEdge, CorLine, GpioErrorKind, monotonic_now_ns};

const COR: Token = Token(3);

/// How long a test waits for a wake-up that should come at once: only a
/// failing test waits this long.
const WAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Set in a child test process to make it hold a line: `ROOT|CHIP|LINE`.
const HOLDER_ENV: &str = "ECHOSTREAM_SIM_GPIO_HOLDER";
/// What the child prints once it holds the line.
const HELD_MARK: &str = "SIM-GPIO-LINE-HELD";

fn chip(lines: u32) -> (tempfile::TempDir, SimGpio) {
    let root = tempfile::tempdir().expect("temp dir");
    let sim = SimGpio::new(root.path());
    sim.create_chip("gpiochip0", lines).expect("chip");
    (root, sim)
}

fn cor_config(line: u32, polarity: Polarity, bias: Bias) -> InputConfig {
    InputConfig {
        id: LineId::new("gpiochip0", line),
        polarity,
        bias,
        debounce_us: 20_000,
        consumer: "cor-test".into(),
    }
}

fn ptt_config(line: u32, polarity: Polarity) -> OutputConfig {
    OutputConfig {
        id: LineId::new("gpiochip0", line),
        polarity,
        drive: Drive::PushPull,
        consumer: "ptt-test".into(),
    }
}

fn registered(cor: &mut CorLine) -> Poll {
    let poll = Poll::new().expect("poll");
    poll.registry()
        .register(cor, COR, Interest::READABLE)
        .expect("an inotify fd registers");
    poll
}

/// Whether the COR token became readable within `timeout`.
fn woke(poll: &mut Poll, timeout: Duration) -> bool {
    let mut events = Events::with_capacity(4);
    poll.poll(&mut events, Some(timeout)).expect("poll");
    events.iter().any(|event| event.token() == COR)
}

/// Waits for the wake-up, then drains the line as the network loop does.
fn next_edges(poll: &mut Poll, cor: &mut CorLine) -> Vec<CorEdge> {
    assert!(woke(poll, WAKE_TIMEOUT), "no wake-up for {}", cor.id());
    let mut buffer = [CorEdge {
        active: false,
        time_ns: 0,
    }; 4];
    let count = cor.read_edges(&mut buffer).expect("read edges");
    buffer[..count].to_vec()
}

fn shell_write(path: &Path, text: &str) {
    let status = Command::new("sh")
        .args(["-c", "printf '%s\\n' \"$1\" > \"$2\"", "sh", text])
        .arg(path)
        .status()
        .expect("sh runs");
    assert!(status.success());
}

#[test]
fn an_input_written_by_another_process_wakes_the_loop_with_an_edge() {
    let (_root, sim) = chip(54);
    // Open-collector COR: pulled up, low when the receiver opens.
    let mut cor = sim
        .request_cor(&cor_config(20, Polarity::ActiveLow, Bias::PullUp))
        .expect("cor");
    assert!(!cor.is_active().expect("level"), "no file: pulled up, idle");
    let mut poll = registered(&mut cor);

    let before_ns = monotonic_now_ns();
    shell_write(&sim.line_path(cor.id()), "0");
    let edges = next_edges(&mut poll, &mut cor);
    let after_ns = monotonic_now_ns();
    assert_eq!(edges.len(), 1, "{edges:?}");
    assert!(edges[0].active);
    assert!((before_ns..=after_ns).contains(&edges[0].time_ns));
    assert!(cor.is_active().expect("level"));

    // Edge-triggered: drained, the loop sleeps until the next change.
    assert!(!woke(&mut poll, Duration::ZERO));

    // The same through a rename, as `SimGpio::set_level` writes.
    sim.set_level(cor.id(), Level::High).expect("set");
    let edges = next_edges(&mut poll, &mut cor);
    assert_eq!(edges.len(), 1);
    assert!(!edges[0].active);
    assert!(edges[0].time_ns >= after_ns);
    assert_eq!(cor.lost_edges(), 0);
}

#[test]
fn other_lines_and_unchanged_levels_make_no_edge() {
    let (_root, sim) = chip(54);
    let mut cor = sim
        .request_cor(&cor_config(20, Polarity::ActiveHigh, Bias::AsIs))
        .expect("cor");
    let mut poll = registered(&mut cor);
    // Another line's file, and this line's file rewritten with the level
    // it floats at.
    sim.set_level(&LineId::new("gpiochip0", 21), Level::High)
        .expect("set");
    shell_write(&sim.line_path(cor.id()), "0");
    assert_eq!(next_edges(&mut poll, &mut cor), []);
    // A PTT driven on the same chip is no COR edge either.
    let _ptt = sim
        .request_ptt(&ptt_config(22, Polarity::ActiveLow))
        .expect("ptt");
    // Its rename is queued by the time the request returns.
    if woke(&mut poll, Duration::ZERO) {
        let mut buffer = [CorEdge {
            active: false,
            time_ns: 0,
        }; 4];
        assert_eq!(cor.read_edges(&mut buffer).expect("read"), 0);
    }
}

#[test]
fn writes_between_two_reads_collapse_to_the_last_level() {
    let (_root, sim) = chip(54);
    let mut cor = sim
        .request_cor(&cor_config(5, Polarity::ActiveHigh, Bias::PullDown))
        .expect("cor");
    let mut poll = registered(&mut cor);
    for level in [Level::High, Level::Low, Level::High] {
        sim.set_level(cor.id(), level).expect("set");
    }
    let edges = next_edges(&mut poll, &mut cor);
    assert_eq!(edges.len(), 1);
    assert!(edges[0].active);
}

#[test]
fn an_empty_buffer_takes_nothing_and_loses_nothing() {
    let (_root, sim) = chip(54);
    let mut cor = sim
        .request_cor(&cor_config(5, Polarity::ActiveHigh, Bias::PullDown))
        .expect("cor");
    let mut poll = registered(&mut cor);
    sim.set_level(cor.id(), Level::High).expect("set");
    assert!(woke(&mut poll, WAKE_TIMEOUT));
    assert_eq!(cor.read_edges(&mut []).expect("read"), 0);
    let mut buffer = [CorEdge {
        active: false,
        time_ns: 0,
    }; 1];
    assert_eq!(cor.read_edges(&mut buffer).expect("read"), 1);
    assert!(buffer[0].active);
}

#[test]
fn outputs_start_inactive_honouring_polarity() {
    let (_root, sim) = chip(54);
    let low = sim
        .request_ptt(&ptt_config(21, Polarity::ActiveLow))
        .expect("ptt");
    let high = sim
        .request_ptt(&ptt_config(22, Polarity::ActiveHigh))
        .expect("ptt");
    assert!(!low.is_active() && !high.is_active());
    assert_eq!(sim.level(low.id()).expect("read"), Some(Level::High));
    assert_eq!(sim.level(high.id()).expect("read"), Some(Level::Low));
    // The request itself is the first logged drive.
    let drives = sim.drives(low.id()).expect("log");
    assert_eq!(drives.len(), 1);
    assert_eq!(drives[0].level, Level::High);
}

#[test]
fn every_drive_is_logged_in_order_with_increasing_times() {
    let (_root, sim) = chip(54);
    let before_ns = monotonic_now_ns();
    let mut ptt = sim
        .request_ptt(&ptt_config(21, Polarity::ActiveLow))
        .expect("ptt");
    for active in [true, false, true, false] {
        ptt.set_active(active).expect("drive");
        let expected = Level::of(active, Polarity::ActiveLow);
        assert_eq!(sim.level(ptt.id()).expect("read"), Some(expected));
    }
    let after_ns = monotonic_now_ns();
    let drives = sim.drives(ptt.id()).expect("log");
    let levels: Vec<Level> = drives.iter().map(|drive| drive.level).collect();
    use Level::{High, Low};
    assert_eq!(levels, [High, Low, High, Low, High]);
    assert!(drives[0].time_ns >= before_ns);
    assert!(drives.last().expect("five").time_ns <= after_ns);
    assert!(
        drives
            .windows(2)
            .all(|pair| pair[0].time_ns < pair[1].time_ns),
        "{drives:?}"
    );
}

#[test]
fn a_ptt_watched_by_another_handle_wakes_it() {
    // The simulated chip wired to itself: a test's COR watcher on the
    // line a node drives as PTT sees each drive as an edge.
    let (_root, sim) = chip(54);
    let mut ptt = sim
        .request_ptt(&ptt_config(21, Polarity::ActiveHigh))
        .expect("ptt");
    let mut seen = SimGpio::new(sim.root())
        .watch(ptt.id(), Polarity::ActiveHigh)
        .expect("watch");
    let mut poll = registered(&mut seen);
    ptt.set_active(true).expect("key");
    let edges = next_edges(&mut poll, &mut seen);
    assert_eq!(edges.len(), 1);
    assert!(edges[0].active);
    let keyed_ns = sim.drives(ptt.id()).expect("log")[1].time_ns;
    assert!(edges[0].time_ns >= keyed_ns);
}

#[test]
fn a_held_line_is_busy_naming_chip_line_and_holder() {
    let (_root, sim) = chip(54);
    let ptt = sim
        .request_ptt(&ptt_config(21, Polarity::ActiveHigh))
        .expect("ptt");
    let again = sim
        .request_ptt(&ptt_config(21, Polarity::ActiveHigh))
        .expect_err("held");
    assert_eq!(again.kind(), GpioErrorKind::Busy);
    let pid = std::process::id();
    assert_eq!(
        again.to_string(),
        format!("gpiochip0 line 21: busy, held by ptt-test (pid {pid})")
    );
    // Whatever the direction asked for.
    let as_cor = sim
        .request_cor(&cor_config(21, Polarity::ActiveHigh, Bias::AsIs))
        .expect_err("held");
    assert_eq!(as_cor.kind(), GpioErrorKind::Busy);
    let read = sim.read_level(ptt.id()).expect_err("held");
    assert_eq!(read.kind(), GpioErrorKind::Busy);
    // `/dev/gpiochip0` is the same chip.
    let by_path = sim
        .request_ptt(&OutputConfig {
            id: LineId::new("/dev/gpiochip0", 21),
            ..ptt_config(21, Polarity::ActiveHigh)
        })
        .expect_err("held");
    assert_eq!(by_path.kind(), GpioErrorKind::Busy);

    drop(ptt);
    let ptt = sim
        .request_ptt(&ptt_config(21, Polarity::ActiveHigh))
        .expect("released on drop");
    assert!(!ptt.is_active());
}

/// Not a test on its own: holds a line for
/// [`a_line_held_by_another_process_is_busy_until_it_ends`], which runs
/// it in a child process.
#[test]
fn child_holds_a_line() {
    let Ok(spec) = std::env::var(HOLDER_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let (Some(root), Some(chip), Some(line)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("{HOLDER_ENV} is ROOT|CHIP|LINE, not {spec}");
    };
    let line: u32 = line.parse().expect("a line offset");
    let _ptt = SimGpio::new(root)
        .request_ptt(&OutputConfig {
            id: LineId::new(chip, line),
            polarity: Polarity::ActiveHigh,
            drive: Drive::PushPull,
            consumer: "child-holder".into(),
        })
        .expect("the child takes the line");
    println!("{HELD_MARK}");
    std::io::stdout().flush().expect("flush");
    // Held until the parent closes stdin or kills this process.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

#[test]
fn a_line_held_by_another_process_is_busy_until_it_ends() {
    let (root, sim) = chip(54);
    let spec = format!("{}|gpiochip0|21", root.path().display());
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "gpio::sim::tests::child_holds_a_line",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLDER_ENV, &spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child runs");
    let stdout = child.stdout.take().expect("piped");
    let held = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(HELD_MARK));
    assert!(held, "the child ended without holding the line");

    let error = sim
        .request_ptt(&ptt_config(21, Polarity::ActiveHigh))
        .expect_err("held by the child");
    assert_eq!(error.kind(), GpioErrorKind::Busy);
    assert_eq!(error.line(), &LineId::new("gpiochip0", 21));
    assert_eq!(
        error.to_string(),
        format!(
            "gpiochip0 line 21: busy, held by child-holder (pid {})",
            child.id()
        )
    );
    // The child drove it inactive when it took it.
    assert_eq!(
        sim.level(&LineId::new("gpiochip0", 21)).expect("read"),
        Some(Level::Low)
    );

    // Dying releases it, as SIGKILL would a real line.
    child.kill().expect("kill our child");
    child.wait().expect("reap our child");
    sim.request_ptt(&ptt_config(21, Polarity::ActiveHigh))
        .expect("released when the holder died");
}

#[test]
fn a_missing_chip_or_line_is_named() {
    let (root, sim) = chip(8);
    let error = sim
        .request_cor(&InputConfig {
            id: LineId::new("gpiochip9", 3),
            ..cor_config(3, Polarity::ActiveLow, Bias::PullUp)
        })
        .expect_err("no such chip");
    assert_eq!(error.kind(), GpioErrorKind::ChipMissing);
    assert_eq!(
        error.to_string(),
        format!(
            "gpiochip9 line 3: no GPIO chip at {}",
            root.path().join("gpiochip9").display()
        )
    );
    let error = sim
        .request_ptt(&ptt_config(8, Polarity::ActiveHigh))
        .expect_err("no such line");
    assert_eq!(error.kind(), GpioErrorKind::LineOutOfRange);
    assert_eq!(
        error.to_string(),
        "gpiochip0 line 8: no such line, the chip has 8 lines"
    );
    // No root at all: the first chip looked for is missing.
    let nowhere = SimGpio::new(root.path().join("nowhere"));
    let error = nowhere
        .read_level(&LineId::new("gpiochip0", 0))
        .expect_err("no root");
    assert_eq!(error.kind(), GpioErrorKind::ChipMissing);
    // A file where the chip folder should be.
    std::fs::write(root.path().join("gpiochip1"), "").expect("file");
    let error = sim
        .read_level(&LineId::new("gpiochip1", 0))
        .expect_err("a file");
    assert_eq!(error.kind(), GpioErrorKind::NotAChip);
}

#[test]
fn a_chip_without_ngpio_has_the_default_line_count() {
    let root = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(root.path().join("gpiochip0")).expect("chip folder");
    let sim = SimGpio::new(root.path());
    let last = SIM_LINES_DEFAULT - 1;
    assert_eq!(
        sim.read_level(&LineId::new("gpiochip0", last))
            .expect("in range"),
        Level::Low
    );
    let error = sim
        .read_level(&LineId::new("gpiochip0", SIM_LINES_DEFAULT))
        .expect_err("out of range");
    assert_eq!(error.kind(), GpioErrorKind::LineOutOfRange);
}

#[test]
fn read_level_reads_a_free_line() {
    let (_root, sim) = chip(54);
    let id = LineId::new("gpiochip0", 4);
    assert_eq!(sim.read_level(&id).expect("no file"), Level::Low);
    sim.set_level(&id, Level::High).expect("set");
    assert_eq!(sim.read_level(&id).expect("read"), Level::High);
    // Reading took and released it.
    sim.request_cor(&cor_config(4, Polarity::ActiveHigh, Bias::AsIs))
        .expect("free again");
}

#[test]
fn a_file_holding_garbage_is_an_error_naming_the_line() {
    let (_root, sim) = chip(54);
    let id = LineId::new("gpiochip0", 6);
    std::fs::write(sim.line_path(&id), "on\n").expect("write");
    let error = sim
        .request_cor(&cor_config(6, Polarity::ActiveHigh, Bias::AsIs))
        .expect_err("garbage at request");
    assert_eq!(error.kind(), GpioErrorKind::Io);
    assert!(
        error
            .to_string()
            .starts_with("gpiochip0 line 6: reading the level: "),
        "{error}"
    );
    std::fs::write(sim.line_path(&id), "1\n").expect("write");
    let mut line = sim
        .request_cor(&cor_config(6, Polarity::ActiveHigh, Bias::AsIs))
        .expect("cor");
    let mut poll = registered(&mut line);
    std::fs::write(sim.line_path(&id), "x").expect("write");
    assert!(woke(&mut poll, WAKE_TIMEOUT));
    let mut buffer = [CorEdge {
        active: false,
        time_ns: 0,
    }; 1];
    let error = line.read_edges(&mut buffer).expect_err("garbage");
    assert_eq!(error.line(), &id);
}
