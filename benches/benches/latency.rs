//! Edge-to-edge software latency through the relay on loopback.
//!
//! `cargo bench -p echostream-benches --bench latency [-- SECONDS]`
//!
//! The relay server runs in this process on loopback; two network loops
//! (nodes `a` and `b`) register channel `fire`. A capture thread paced by
//! the clock feeds node a's [`ChannelCapture`] one 5 ms period at a time
//! (speech in 2 s bursts with 1 s pauses, VOX-gated, no pre-roll), and a
//! playback thread paced the same way pulls node b's [`ChannelPlayback`].
//! For every frame, latency = the moment b's decoded PCM of the frame is
//! ready − the moment a's first capture period of that frame was ready.
//! That spans filling the frame (one frame duration), Opus encode, seal,
//! UDP to the relay, open + re-seal, UDP to b, open, b's jitter buffer
//! (its target delay) and Opus decode: so it should sit at the frame
//! duration plus the jitter target, plus a little. No sound card is involved: the device
//! buffers a real radio adds (2–3 periods each way) are outside it.
//!
//! Prints the percentiles and a Markdown table for BENCHMARKS.md.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use echostream::audio::Block;
use echostream::audio::pipeline::{Depacketizer, frame_ring};
use echostream::net::{NetChannel, NetEvent, NetHandle, NetLoop, NetSettings};
use echostream::opus::{Application, Encoder, EncoderConfig, FrameDuration};
use echostream::runtime::capture::{ChannelCapture, Gate};
use echostream::runtime::playback::ChannelPlayback;
use echostream_core::jitter::JitterConfig;
use echostream_core::level::{Vox, VoxConfig};
use echostream_core::time::SampleIndex;
use echostream_core::wire::StreamId;
use echostream_relay::TokenPolicy;
use echostream_relay::server::{Server, ServerConfig};

const RATE_HZ: u32 = 48_000;
const PERIOD: usize = 240; // 5 ms
const FRAME: usize = 960; // 20 ms
const PERIOD_US: u64 = 5_000;
/// Media time before measuring starts: the first talk-spurt and its pause.
const WARM_UP_SAMPLES: u32 = 3 * RATE_HZ;

fn main() {
    let seconds: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(60);
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let server = Server::bind(ServerConfig::new(loopback, loopback, TokenPolicy::AnyToken))
        .expect("bind the relay on loopback");
    let url = format!("ws://{}", server.ws_addr());
    let relay = server.spawn().expect("start the relay");

    // Node a sends, node b receives.
    let (to_net_a, out_a) = frame_ring();
    let (in_a, _from_net_a) = frame_ring();
    let (_to_net_b, out_b) = frame_ring();
    let (in_b, from_net_b) = frame_ring();
    let net_a = start_net("a", &url, out_a, in_a);
    let net_b = start_net("b", &url, out_b, in_b);
    for net in [&net_a, &net_b] {
        wait_for(
            net,
            |e| matches!(e, NetEvent::UsersConnected { users, .. } if users.len() == 2),
        );
    }

    let encoder = Encoder::new(EncoderConfig {
        sample_rate_hz: RATE_HZ,
        channels: 1,
        application: Application::Voip,
        bitrate_bps: 24_000,
        complexity: 5,
        vbr: true,
        fec: true,
        expected_loss_pct: 10,
        dtx: false,
        frame: FrameDuration::Ms20,
    })
    .expect("encoder");
    let vox = Vox::new(VoxConfig {
        rate_hz: RATE_HZ,
        threshold_dbfs: -40.0,
        debounce_ms: 0,
        hang_ms: 250,
    })
    .expect("vox");
    // Coded while the VOX is open (nothing else wants the packets here).
    let mut capture = ChannelCapture::new(
        Gate::Vox(vox),
        encoder,
        to_net_a,
        net_a.waker(),
        Arc::default(),
        0,
    );

    let jitter = JitterConfig::DEFAULT;
    let depacketizer =
        Depacketizer::new(jitter, RATE_HZ, PERIOD, StreamId(0)).expect("depacketizer");
    let mut playback = ChannelPlayback::new(from_net_b, depacketizer);
    let playback_stats = playback.stats();

    let ready: Arc<Mutex<HashMap<u32, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    // The jitter target in force and the buffer's delay (behind the
    // fastest path) for each measured frame, in ms.
    let targets: Arc<Mutex<Vec<(u64, u64)>>> = Arc::default();
    {
        let ready = ready.clone();
        let latencies = latencies.clone();
        let targets = targets.clone();
        let stats = playback.stats();
        playback.set_decoded_hook(Box::new(move |timestamp| {
            let now = Instant::now();
            // The first talk-spurt (the first 3 s) plays at the cautious
            // start delay, before any delay was measured: warm-up.
            if let Some(t0) = ready.lock().expect("lock").remove(&timestamp)
                && timestamp >= WARM_UP_SAMPLES
            {
                latencies.lock().expect("lock").push(now - t0);
                targets.lock().expect("lock").push((
                    stats.jitter_target_ms.load(Ordering::Relaxed),
                    stats.jitter_delay_ms.load(Ordering::Relaxed),
                ));
            }
        }));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now() + Duration::from_millis(50);
    let speech = echostream_sim::audio::voiced_speech_i16(RATE_HZ, 2 * RATE_HZ as usize);
    let capture_thread = {
        let stop = stop.clone();
        let ready = ready.clone();
        std::thread::spawn(move || {
            let mut block = Block::silent(SampleIndex::ZERO, PERIOD);
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                sleep_until(start + Duration::from_micros(n * PERIOD_US));
                let at = n as usize * PERIOD;
                // 2 s of speech, 1 s of silence.
                let cycle = at % (3 * RATE_HZ as usize);
                for (i, s) in block.frames_mut().iter_mut().enumerate() {
                    *s = if cycle + i < speech.len() {
                        speech[cycle + i]
                    } else {
                        0
                    };
                }
                block.index = SampleIndex(at as u64);
                if at.is_multiple_of(FRAME) {
                    ready
                        .lock()
                        .expect("lock")
                        .insert(at as u32, Instant::now());
                }
                capture.push_block(&block);
                n += 1;
            }
        })
    };
    let playback_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                sleep_until(start + Duration::from_micros(n * PERIOD_US));
                let _ = playback.next_block();
                n += 1;
            }
        })
    };
    eprintln!("measuring for {seconds} s…");
    for s in 0..seconds {
        std::thread::sleep(Duration::from_secs(1));
        if (s + 1) % 10 == 0 {
            eprintln!(
                "  {} s, {} frames",
                s + 1,
                latencies.lock().expect("lock").len()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    capture_thread.join().expect("capture thread");
    playback_thread.join().expect("playback thread");
    let _ = playback_stats;
    drop(net_a.stop());
    drop(net_b.stop());
    let _ = relay.stop();

    let mut l = latencies.lock().expect("lock").clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)];
    let t = targets.lock().expect("lock").clone();
    // Each frame's latency beyond the frame duration and the target in
    // force for it: what the software adds to the buffering design.
    let mut excess: Vec<f64> = latencies
        .lock()
        .expect("lock")
        .iter()
        .zip(&t)
        .map(|(&latency, &(target, _))| ms(latency) - 20.0 - target as f64)
        .collect();
    excess.sort_by(f64::total_cmp);
    let excess_pct = |p: f64| excess[((excess.len() as f64 * p) as usize).min(excess.len() - 1)];
    let mut target: Vec<u64> = t.iter().map(|&(target, _)| target).collect();
    let mut delay: Vec<u64> = t.iter().map(|&(_, delay)| delay).collect();
    target.sort_unstable();
    delay.sort_unstable();
    let target_ms = target[target.len() / 2];
    println!("frames measured: {}", l.len());
    println!(
        "jitter target in force: median {target_ms} ms (min {}, max {}); buffer delay median {} ms; frame 20 ms",
        target[0],
        target[target.len() - 1],
        delay[delay.len() / 2],
    );
    println!(
        "| p50 | p99 | p99.9 | max | frame + jitter target (median) |\n|---:|---:|---:|---:|---:|\n| {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} ms |",
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(0.999)),
        ms(*l.last().expect("frames")),
        20 + target_ms
    );
    println!(
        "latency − (frame + the frame's jitter target): p50 {:+.2} ms, p99 {:+.2} ms, p99.9 {:+.2} ms",
        excess_pct(0.50),
        excess_pct(0.99),
        excess_pct(0.999)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

fn start_net(
    node: &str,
    url: &str,
    outgoing: rtrb::Consumer<echostream::audio::pipeline::EncodedFrame>,
    incoming: rtrb::Producer<echostream::audio::pipeline::EncodedFrame>,
) -> NetHandle {
    let settings = NetSettings {
        node_id: node.to_owned(),
        url: url.to_owned(),
        token: "bench".to_owned(),
        ca_file: None,
        connect_timeout: Duration::from_secs(2),
        reconnect_max: Duration::from_secs(2),
    };
    let channel = NetChannel {
        preroll_frames: 0,
        wanted: Arc::default(),
        tones: None,
        tone_names: Vec::new(),
        rate_hz: 48_000,
        record: None,
        radio: None,
        ptt: None,
        cor: None,
        id: "fire".to_owned(),
        outgoing,
        incoming,
    };
    NetLoop::new(settings, vec![channel])
        .expect("network loop")
        .spawn()
        .expect("network thread")
}

fn wait_for(net: &NetHandle, what: impl Fn(&NetEvent) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match net.events().recv_timeout(left) {
            Ok(event) if what(&event) => return,
            Ok(_) => {}
            Err(_) => panic!("the nodes did not meet on the relay within 10 s"),
        }
    }
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}
