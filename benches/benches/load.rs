//! The load benchmark: N channels of full-duplex audio with tone detection
//! on each of two nodes, through the relay on loopback.
//!
//! `cargo bench -p echostream-benches --bench load [-- --channels 1,8,32 --seconds 60 --preroll-ms MS]`
//! (the pre-roll is `config.json`'s unless given)
//!
//! Everything runs in this process: the relay server and pairs of nodes
//! `aP` and `bP` (a node takes at most eight radios, so 32 channels are
//! four pairs on the one relay), each with its network loop and per
//! channel the two threads
//! the running node has per sound card: a capture thread (VOX, Opus
//! encode, the channel's tone detector with `config.json`'s definitions
//! for `pages` and its DTMF decoder) and a playback thread (jitter buffer,
//! Opus decode), each at SCHED_FIFO 70 and paced to 5 ms periods like a
//! card's. No sound card: a period is handed over at its deadline instead
//! of by ALSA.
//!
//! Full duplex: on even channels `aP` talks and `bP` listens, on odd ones
//! the other way round, so each node captures, detects and plays on every
//! channel and sends on half of them. A talker's 20 s loop is a two-tone
//! page (Station 1) and 14 s of speech; a listener's input is noise at
//! −60 dBFS (below the VOX) that its detector still reads.
//!
//! Measured after a 10 s warm-up (the first talk-spurts, which play at
//! the jitter buffer's cautious start delay): CPU per thread from `/proc/self/task`
//! (a node's share: its capture, playback and network threads), the
//! process's RSS (two nodes and the relay), latency per frame from the
//! capture period that completed it to its decoded PCM on the far side
//! (as the `latency` bench), "xruns" (a period handled more than a card
//! buffer of 3 periods after its deadline, where a real card would have
//! over- or underrun), and heap allocations on the capture and playback
//! threads (a counting global allocator, per thread).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use echostream::audio::Block;
use echostream::audio::pipeline::{Depacketizer, frame_ring};
use echostream::audio::rt::{RtSettings, promote_current_thread};
use echostream::net::{NetChannel, NetEvent, NetHandle, NetLoop, NetSettings};
use echostream::opus::{Encoder, EncoderConfig};
use echostream::runtime::capture::{ChannelCapture, Gate, PacketsWanted, tone_ring};
use echostream::runtime::playback::ChannelPlayback;
use echostream_core::MAX_CHANNELS;
use echostream_core::jitter::JitterConfig;
use echostream_core::level::{Vox, VoxConfig};
use echostream_core::time::SampleIndex;
use echostream_core::tone::ChannelDetector;
use echostream_core::wire::StreamId;
use echostream_relay::TokenPolicy;
use echostream_relay::server::{Server, ServerConfig};
use echostream_sim::alloc::{Counting, allocations};

#[global_allocator]
static GLOBAL: Counting = Counting;

const RATE_HZ: u32 = 48_000;
const PERIOD: usize = 240; // 5 ms
const FRAME: usize = 960; // 20 ms
const PERIOD_NS: u64 = 5_000_000;
/// A card's buffer: a period handled later than this past its deadline
/// would have over- or underrun it.
const BUFFER_NS: u64 = 3 * PERIOD_NS;
const WARM_UP: Duration = Duration::from_secs(10);
/// A talker's loop.
const LOOP_S: usize = 20;
/// Capture instants kept per channel, by frame number (82 s of frames).
const RING: usize = 4096;

fn main() {
    let (channels, seconds, preroll_ms) = args();
    let mut config = echostream::config::load_file(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config.json"
    )))
    .expect("config.json loads")
    .config;
    if let Some(ms) = preroll_ms {
        config.audio.preroll_ms = ms;
    }
    eprintln!("pre-roll {} ms", config.audio.preroll_ms);
    let talk = talker_loop();
    let quiet = listener_noise();
    let mut rows = Vec::new();
    for &n in &channels {
        eprintln!(
            "{n} full-duplex channel(s), {} node(s), for {seconds} s (+10 s warm-up)…",
            2 * n.div_ceil(MAX_CHANNELS)
        );
        rows.push(run(n, seconds, &config, &talk, &quiet));
    }
    println!(
        "| channels | nodes | CPU per node (% of one core) | CPU per channel-second (one node's side) | relay CPU | all threads | RSS (process) | latency p50 | p99 | p99.9 | xruns | allocations on audio threads | pages heard |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.1} % | {:.2} ms | {:.2} % | {:.1} % | {:.1} MiB | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {} of {} |",
            r.channels,
            r.nodes,
            r.node_cpu_pct,
            r.cpu_ms_per_channel_s,
            r.relay_cpu_pct,
            r.all_cpu_pct,
            r.rss_mib,
            r.p50_ms,
            r.p99_ms,
            r.p999_ms,
            r.xruns,
            r.allocations,
            r.alerts,
            r.pages
        );
    }
    println!(
        "\nPer node, % of one core:\n\n| channels | capture threads | playback threads | network thread |"
    );
    println!("|---:|---:|---:|---:|");
    for r in &rows {
        let [capture, playback, network] = r.roles_pct;
        println!(
            "| {} | {capture:.1} % | {playback:.1} % | {network:.1} % |",
            r.channels
        );
    }
}

fn args() -> (Vec<usize>, u64, Option<u32>) {
    let mut channels = vec![1, 8, 32];
    let mut seconds = 60;
    let mut preroll_ms = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--channels" => {
                channels = it
                    .next()
                    .expect("--channels N,N,…")
                    .split(',')
                    .map(|n| n.parse().expect("a channel count"))
                    .collect();
            }
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds S"),
            "--preroll-ms" => {
                preroll_ms = Some(
                    it.next()
                        .and_then(|s| s.parse().ok())
                        .expect("--preroll-ms MS"),
                );
            }
            // cargo bench passes --bench.
            _ => {}
        }
    }
    (channels, seconds, preroll_ms)
}

/// One run's figures.
struct Row {
    channels: usize,
    nodes: usize,
    /// Every node and the relay, % of one core.
    all_cpu_pct: f64,
    node_cpu_pct: f64,
    cpu_ms_per_channel_s: f64,
    relay_cpu_pct: f64,
    rss_mib: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    xruns: u64,
    allocations: u64,
    alerts: u64,
    pages: u64,
    /// A node's capture, playback and network threads, % of one core.
    roles_pct: [f64; 3],
}

/// What the audio threads of a run share with the main thread.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Set once the warm-up is over: allocations and latency count after.
    measuring: AtomicBool,
    xruns: AtomicU64,
    allocations: AtomicU64,
}

/// When each frame of a channel's talker completed, by frame number.
struct Ready {
    frame: Vec<AtomicU32>,
    at_ns: Vec<AtomicU64>,
}

impl Ready {
    fn new() -> Ready {
        Ready {
            frame: (0..RING).map(|_| AtomicU32::new(u32::MAX)).collect(),
            at_ns: (0..RING).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn run(
    n: usize,
    seconds: u64,
    config: &echostream::config::Config,
    talk: &Arc<[i16]>,
    quiet: &Arc<[i16]>,
) -> Row {
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let server = Server::bind(ServerConfig::new(loopback, loopback, TokenPolicy::AnyToken))
        .expect("bind the relay on loopback");
    let url = format!("ws://{}", server.ws_addr());
    let relay = server.spawn().expect("start the relay");
    let epoch = Instant::now();
    let shared = Arc::new(Shared::default());
    let ready: Vec<Arc<Ready>> = (0..n).map(|_| Arc::new(Ready::new())).collect();
    let latencies: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::with_capacity(
        n * 50 * (seconds as usize + 10),
    )));
    let start = epoch + Duration::from_millis(500);
    let mut threads = Vec::new();
    let mut nets = Vec::new();
    // A node takes at most MAX_CHANNELS radios: more channels are more
    // pairs of nodes, all on the one relay.
    let pairs = n.div_ceil(MAX_CHANNELS);
    for (pair, node) in (0..pairs).flat_map(|p| [(p, "a"), (p, "b")]) {
        let first = pair * MAX_CHANNELS;
        let count = (n - first).min(MAX_CHANNELS);
        let mut net_channels = Vec::new();
        let mut captures = Vec::new();
        let mut playbacks = Vec::new();
        for k in first..first + count {
            let (to_net, outgoing) = frame_ring();
            let (incoming, from_net) = frame_ring();
            let (tones_in, tones_out) = tone_ring();
            let plan = echostream::tone_plan::plan(config, Some("pages")).expect("a plan");
            let mut detector =
                ChannelDetector::new(RATE_HZ, &plan.definitions).expect("a detector");
            detector.set_dtmf(plan.dtmf.as_ref()).expect("DTMF");
            let wanted = Arc::new(PacketsWanted::default());
            net_channels.push(NetChannel {
                preroll_frames: preroll_frames(config),
                wanted: wanted.clone(),
                tones: Some(tones_out),
                tone_names: plan.names.clone(),
                rate_hz: RATE_HZ,
                record: None,
                radio: None,
                ptt: None,
                cor: None,
                id: format!("ch-{k:02}"),
                outgoing,
                incoming,
            });
            captures.push((to_net, tones_in, Box::new(detector), wanted));
            playbacks.push(from_net);
        }
        let net = start_net(&format!("{node}{pair}"), &url, net_channels);
        let talks = |k: usize| k.is_multiple_of(2) == (node == "a");
        for (k, (to_net, tones_in, detector, wanted)) in (first..).zip(captures) {
            let capture = ChannelCapture::new(
                Gate::Vox(vox()),
                encoder(config),
                to_net,
                net.waker(),
                wanted,
                preroll_frames(config),
            )
            .with_detector(detector, None, tones_in);
            let source = if talks(k) {
                talk.clone()
            } else {
                quiet.clone()
            };
            let ready = talks(k).then(|| ready[k].clone());
            // Each channel's loop starts elsewhere, so pages do not all
            // fall together.
            let offset = k * 613 * RATE_HZ as usize / 1000;
            threads.push(spawn_capture(
                format!("cap-{node}-{k:02}"),
                capture,
                source,
                offset,
                ready,
                start,
                epoch,
                shared.clone(),
            ));
        }
        for (k, from_net) in (first..).zip(playbacks) {
            let depacketizer =
                Depacketizer::new(JitterConfig::DEFAULT, RATE_HZ, PERIOD, StreamId(0))
                    .expect("depacketizer");
            let mut playback = ChannelPlayback::new(from_net, depacketizer);
            if !talks(k) {
                let ready = ready[k].clone();
                let latencies = latencies.clone();
                let shared = shared.clone();
                playback.set_decoded_hook(Box::new(move |timestamp| {
                    let now_ns = epoch.elapsed().as_nanos() as u64;
                    let frame = timestamp / FRAME as u32;
                    let slot = frame as usize % RING;
                    if shared.measuring.load(Ordering::Relaxed)
                        && ready.frame[slot].load(Ordering::Acquire) == frame
                    {
                        let at = ready.at_ns[slot].load(Ordering::Relaxed);
                        let micros = now_ns.saturating_sub(at) / 1000;
                        if let Ok(mut l) = latencies.lock()
                            && l.len() < l.capacity()
                        {
                            l.push(micros as u32);
                        }
                    }
                }));
            }
            threads.push(spawn_playback(
                format!("play-{node}-{k:02}"),
                playback,
                start,
                shared.clone(),
            ));
        }
        nets.push((net, count));
    }
    for (net, count) in &nets {
        wait_met(net, *count);
    }

    std::thread::sleep(start.saturating_duration_since(Instant::now()) + WARM_UP);
    // Pages of the warm-up are not the window's.
    for (net, _) in &nets {
        drain(net);
    }
    let before = thread_cpu();
    shared.measuring.store(true, Ordering::Relaxed);
    let measured_from = Instant::now();
    let mut alerts = 0;
    for s in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        for (net, _) in &nets {
            alerts += drain(net);
        }
        if (s + 1) % 20 == 0 {
            eprintln!("  {} s", s + 1);
        }
    }
    let after = thread_cpu();
    let window = measured_from.elapsed().as_secs_f64();
    shared.measuring.store(false, Ordering::Relaxed);
    let rss_mib = rss_kib() as f64 / 1024.0;
    shared.stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().expect("an audio thread");
    }
    for (net, _) in nets {
        let _ = net.stop();
    }
    let _ = relay.stop();

    let cpu = |prefixes: &[&str]| -> f64 {
        after
            .iter()
            .filter(|(_, (name, _))| prefixes.iter().any(|p| name.starts_with(p)))
            .map(|(tid, (_, t))| t - before.get(tid).map_or(0.0, |(_, b)| *b))
            .sum()
    };
    let nodes_cpu = cpu(&["cap-", "play-", "net"]);
    let nodes = 2.0 * pairs as f64;
    let node_cpu_pct = nodes_cpu / nodes / window * 100.0;
    let mut l = latencies.lock().expect("latencies").clone();
    l.sort_unstable();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(f64::NAN, |&us| f64::from(us) / 1000.0)
    };
    // Talkers: n channels; each plays a page every LOOP_S (a window of
    // whole loops holds as many pages).
    let pages = (n as f64 * window / LOOP_S as f64).round() as u64;
    Row {
        channels: n,
        node_cpu_pct,
        cpu_ms_per_channel_s: nodes_cpu / (2.0 * n as f64 * window) * 1000.0,
        nodes: 2 * pairs,
        all_cpu_pct: cpu(&["cap-", "play-", "net", "relay"]) / window * 100.0,
        relay_cpu_pct: cpu(&["relay"]) / window * 100.0,
        rss_mib,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        xruns: shared.xruns.load(Ordering::Relaxed),
        allocations: shared.allocations.load(Ordering::Relaxed),
        alerts,
        pages,
        roles_pct: [cpu(&["cap-"]), cpu(&["play-"]), cpu(&["net"])]
            .map(|c| c / nodes / window * 100.0),
    }
}

#[allow(clippy::too_many_arguments)]
fn spawn_capture(
    name: String,
    mut capture: ChannelCapture,
    source: Arc<[i16]>,
    offset: usize,
    ready: Option<Arc<Ready>>,
    start: Instant,
    epoch: Instant,
    shared: Arc<Shared>,
) -> std::thread::JoinHandle<()> {
    let mut block = Block::silent(SampleIndex::ZERO, PERIOD);
    spawn_paced(name, start, shared, move |n| {
        let at = n as usize * PERIOD;
        for (i, s) in block.frames_mut().iter_mut().enumerate() {
            *s = source[(offset + at + i) % source.len()];
        }
        block.index = SampleIndex(at as u64);
        capture.push_block(&block);
        let end = at + PERIOD;
        if let Some(ready) = &ready
            && end.is_multiple_of(FRAME)
        {
            // The period that completed frame `end / FRAME - 1`.
            let frame = (end / FRAME - 1) as u32;
            let slot = frame as usize % RING;
            ready.at_ns[slot].store(epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
            ready.frame[slot].store(frame, Ordering::Release);
        }
    })
}

fn spawn_playback(
    name: String,
    mut playback: ChannelPlayback,
    start: Instant,
    shared: Arc<Shared>,
) -> std::thread::JoinHandle<()> {
    spawn_paced(name, start, shared, move |_| {
        let _ = playback.next_block();
    })
}

/// An audio thread named `name`, at SCHED_FIFO 70 as the node's, calling
/// `period` at each 5 ms deadline (see [`paced`]).
fn spawn_paced(
    name: String,
    start: Instant,
    shared: Arc<Shared>,
    period: impl FnMut(u64) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let _ = promote_current_thread(RtSettings {
                priority: 70,
                lock_memory: false,
            });
            paced(start, &shared, period);
        })
        .expect("an audio thread")
}

/// Calls `period(n)` at each 5 ms deadline from `start` until stopped;
/// counts late periods as xruns and, once measuring, this thread's heap
/// allocations.
fn paced(start: Instant, shared: &Shared, mut period: impl FnMut(u64)) {
    let mut n: u64 = 0;
    let mut counted_from = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let deadline = start + Duration::from_nanos(n * PERIOD_NS);
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        let measuring = shared.measuring.load(Ordering::Relaxed);
        if measuring && counted_from.is_none() {
            counted_from = Some(allocations());
        }
        if measuring
            && Instant::now()
                .saturating_duration_since(deadline)
                .as_nanos() as u64
                > BUFFER_NS
        {
            shared.xruns.fetch_add(1, Ordering::Relaxed);
        }
        period(n);
        if !measuring && let Some(from) = counted_from.take() {
            shared
                .allocations
                .fetch_add(allocations() - from, Ordering::Relaxed);
        }
        n += 1;
    }
    if let Some(from) = counted_from {
        shared
            .allocations
            .fetch_add(allocations() - from, Ordering::Relaxed);
    }
}

fn vox() -> Vox {
    Vox::new(VoxConfig {
        rate_hz: RATE_HZ,
        threshold_dbfs: -40.0,
        debounce_ms: 0,
        hang_ms: 250,
    })
    .expect("vox")
}

/// The node's encoder for `config.json`'s `audio` section.
fn encoder(config: &echostream::config::Config) -> Encoder {
    EncoderConfig::from_audio(&config.audio)
        .and_then(Encoder::new)
        .expect("config.json's encoder")
}

/// A talker's 20 s: Station 1's page (349 Hz 0.8 s, 707.3 Hz 2 s at
/// −10 dBFS), 0.7 s of quiet, 8 s of speech, 1 s of quiet, 6 s of speech,
/// quiet to the end.
fn talker_loop() -> Arc<[i16]> {
    let rate = RATE_HZ as usize;
    let mut page = echostream_sim::audio::Signal::new(RATE_HZ);
    page.page(349.0, 707.3, 800.0, 0.0, 2000.0, 10f64.powf(-10.0 / 20.0));
    let mut out: Vec<i16> = page
        .samples
        .iter()
        .map(|&s| (s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)
        .collect();
    let speech = echostream_sim::audio::voiced_speech_i16(RATE_HZ, 8 * rate);
    out.resize(out.len() + rate * 7 / 10, 0);
    out.extend_from_slice(&speech);
    out.resize(out.len() + rate, 0);
    out.extend_from_slice(&speech[..6 * rate]);
    out.resize(LOOP_S * rate, 0);
    out.into()
}

/// Band noise at −60 dBFS: below the VOX, not silence.
fn listener_noise() -> Arc<[i16]> {
    let power = 10f64.powf(-60.0 / 10.0) / 2.0;
    echostream_sim::audio::band_noise(3 * RATE_HZ as usize, RATE_HZ, power, 7)
        .iter()
        .map(|&s| (s * f32::from(i16::MAX)) as i16)
        .collect::<Vec<_>>()
        .into()
}

fn start_net(node: &str, url: &str, channels: Vec<NetChannel>) -> NetHandle {
    let settings = NetSettings {
        node_id: node.to_owned(),
        url: url.to_owned(),
        token: "bench".to_owned(),
        ca_file: None,
        connect_timeout: Duration::from_secs(2),
        reconnect_max: Duration::from_secs(2),
    };
    NetLoop::new(settings, channels)
        .expect("network loop")
        .spawn()
        .expect("network thread")
}

/// Waits until both nodes are on each of the `n` channels.
fn wait_met(net: &NetHandle, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut met = std::collections::HashSet::new();
    while met.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match net.events().recv_timeout(left) {
            Ok(NetEvent::UsersConnected { channel, users }) if users.len() == 2 => {
                met.insert(channel);
            }
            Ok(_) => {}
            Err(_) => panic!("the nodes met on {} of {n} channels within 20 s", met.len()),
        }
    }
}

/// Empties a node's event queue; returns the pages it heard.
fn drain(net: &NetHandle) -> u64 {
    let mut pages = 0;
    while let Ok(event) = net.events().try_recv() {
        if let NetEvent::Tone {
            definition: Some(_),
            ..
        } = event
        {
            pages += 1;
        }
    }
    pages
}

/// CPU seconds so far of every thread of this process, by thread id, with
/// its name.
fn thread_cpu() -> HashMap<String, (String, f64)> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut out = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
    {
        let tid = task.file_name().to_string_lossy().into_owned();
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state …`: fields after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, n)| n).to_owned();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0.0);
        let stime: f64 = fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0.0);
        out.insert(tid, (name, (utime + stime) / ticks));
    }
    out
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The pre-roll in frames, as the node gives its engine.
fn preroll_frames(config: &echostream::config::Config) -> usize {
    echostream::runtime::engine_channel(config, 0, &[]).preroll_frames
}
