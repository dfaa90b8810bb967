//! Proof that the Opus wrapper allocates nothing per frame, neither in
//! Rust nor inside libopus.
//!
//! This file is its own test binary, so what it installs affects only it:
//!
//! - **Rust**: a counting `#[global_allocator]` (every `Box`, `Vec`,
//!   `String`… in the process goes through it).
//! - **C**: this binary defines `malloc`, `calloc` and `realloc` itself,
//!   counting and forwarding to glibc's `__libc_malloc` & co. A definition
//!   in the executable comes first in the dynamic linker's lookup order,
//!   exactly as an `LD_PRELOAD` shim would, and libopus (linked statically
//!   by opusic-sys) binds its `malloc` references to it at link time. No
//!   C compiler, re-exec or environment variable needed. libopus
//!   allocates only through `opus_alloc` → `malloc` (its `os_support.h`
//!   poisons every other allocator name, and `nm libopus.a` shows `malloc`
//!   and `free` as its only allocator imports), so these three cover it.
//!
//! Counting is per thread (a const thread-local flag), so the test
//! harness' own threads cannot disturb it. Two positive controls show
//! each counter sees what it must: `opus_encoder_create` (libopus calling
//! `malloc`) and a `Vec`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_void;

use echostream::opus::{
    Application, Decoder, Encoder, EncoderConfig, FrameDuration, MAX_PACKET_LEN, MAX_PACKET_SAMPLES,
};

thread_local! {
    /// Whether allocations on this thread are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// This thread's counts: per thread, so tests counting at the same
    /// time on other threads do not add to each other's tallies.
    static RUST_ALLOCS: Cell<usize> = const { Cell::new(0) };
    static C_ALLOCS: Cell<usize> = const { Cell::new(0) };
}

fn counting() -> bool {
    // try_with: never panic inside an allocator, even during thread exit.
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

fn bump(counter: &'static std::thread::LocalKey<Cell<usize>>) {
    let _ = counter.try_with(|c| c.set(c.get() + 1));
}

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the same arguments, so
// System's guarantees hold; the counting is an atomic add.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            bump(&RUST_ALLOCS);
        }
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if counting() {
            bump(&RUST_ALLOCS);
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            bump(&RUST_ALLOCS);
        }
        // SAFETY: as for `alloc`; `ptr` came from this allocator, i.e. System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

unsafe extern "C" {
    // glibc's allocator under its internal names: what `malloc` & co. are
    // aliases of, exported so that a replacement `malloc` can forward.
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(count: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
}

/// The process' `malloc`, counting calls made while counting is on.
///
/// # Safety
///
/// C's `malloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    if counting() {
        bump(&C_ALLOCS);
    }
    // SAFETY: same contract as malloc; memory it returns is freed by
    // glibc's `free`, which we do not replace.
    unsafe { __libc_malloc(size) }
}

/// The process' `calloc`, counting like [`malloc`].
///
/// # Safety
///
/// C's `calloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn calloc(count: usize, size: usize) -> *mut c_void {
    if counting() {
        bump(&C_ALLOCS);
    }
    // SAFETY: same contract as calloc.
    unsafe { __libc_calloc(count, size) }
}

/// The process' `realloc`, counting like [`malloc`].
///
/// # Safety
///
/// C's `realloc` contract.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if counting() {
        bump(&C_ALLOCS);
    }
    // SAFETY: same contract as realloc; `ptr` came from glibc's allocator
    // (every allocation in the process does).
    unsafe { __libc_realloc(ptr, size) }
}

/// Runs `f` with counting on; returns (Rust allocations, C allocations)
/// it made. Rust allocations reach `malloc` too (System calls it), so a
/// Rust allocation counts on both sides.
fn count_allocations(f: impl FnOnce()) -> (usize, usize) {
    let rust_before = RUST_ALLOCS.with(Cell::get);
    let c_before = C_ALLOCS.with(Cell::get);
    COUNTING.set(true);
    f();
    COUNTING.set(false);
    (
        RUST_ALLOCS.with(Cell::get) - rust_before,
        C_ALLOCS.with(Cell::get) - c_before,
    )
}

/// A voiced-speech stand-in (harmonics of a gliding pitch, 4 Hz syllables),
/// so the encoder runs its SILK/hybrid speech path with FEC.
fn speech_like(rate_hz: u32, len: usize) -> Vec<i16> {
    let rate = f64::from(rate_hz);
    let mut phase = 0.0f64;
    (0..len)
        .map(|n| {
            let t = n as f64 / rate;
            let f0 = 140.0 + 40.0 * (std::f64::consts::TAU * 0.7 * t).sin();
            phase += std::f64::consts::TAU * f0 / rate;
            let s: f64 = (1..20)
                .map(|h| (f64::from(h) * phase).sin() / f64::from(h))
                .sum();
            let envelope = 0.55 + 0.45 * (std::f64::consts::TAU * 4.0 * t).sin();
            (s * envelope * 6_000.0) as i16
        })
        .collect()
}

#[test]
fn the_counters_see_rust_and_libopus_allocations() {
    // libopus' own malloc (opus_encoder_create → opus_alloc → malloc)
    // reaches the C counter and not the Rust one.
    let mut encoder = std::ptr::null_mut();
    let (rust, c) = count_allocations(|| {
        let mut error = 0;
        // SAFETY: valid arguments; the state is destroyed below.
        encoder = unsafe {
            opusic_sys::opus_encoder_create(
                48_000,
                1,
                opusic_sys::OPUS_APPLICATION_VOIP,
                &mut error,
            )
        };
    });
    assert!(!encoder.is_null());
    // SAFETY: made by opus_encoder_create above, destroyed once.
    unsafe { opusic_sys::opus_encoder_destroy(encoder) };
    assert_eq!((rust, c), (0, 1), "opus_encoder_create");

    // A Rust allocation reaches both.
    let (rust, c) = count_allocations(|| drop(std::hint::black_box(vec![0u8; 100])));
    assert_eq!((rust, c), (1, 1), "Vec");
}

/// 1000 frames after warm-up: encode, decode, and every 10th frame a
/// concealment, an FEC recovery, a refused bad input and a setting change.
fn steady_state_allocations(cfg: EncoderConfig) -> (usize, usize) {
    let mut encoder = Encoder::new(cfg).unwrap();
    let mut decoder = Decoder::new(cfg.sample_rate_hz, 1).unwrap();
    let frame = encoder.frame_samples();
    let pcm = speech_like(cfg.sample_rate_hz, frame * 1100);
    let mut packet = [0u8; MAX_PACKET_LEN];
    let mut next_packet = [0u8; MAX_PACKET_LEN];
    let mut out = [0i16; MAX_PACKET_SAMPLES];

    let mut run = |frames: std::ops::Range<usize>| {
        for i in frames {
            let len = encoder
                .encode(&pcm[i * frame..(i + 1) * frame], &mut packet)
                .unwrap();
            if i % 10 == 5 {
                // Lose this packet: conceal it, or recover it from the next.
                let next_len = encoder
                    .encode(&pcm[(i + 1) * frame..(i + 2) * frame], &mut next_packet)
                    .unwrap();
                if i % 20 == 5 {
                    decoder.conceal(&mut out).unwrap();
                } else {
                    decoder
                        .decode_fec(&next_packet[..next_len], &mut out)
                        .unwrap();
                }
                decoder.decode(&next_packet[..next_len], &mut out).unwrap();
                // Errors are values: no allocation either.
                assert!(encoder.encode(&pcm[..frame - 1], &mut packet).is_err());
                assert!(decoder.decode(&[0x03], &mut out).is_err());
                encoder.set_expected_loss_pct(10 + (i % 7) as u32).unwrap();
                encoder.reset().unwrap();
                decoder.reset().unwrap();
            } else if i % 10 != 6 {
                decoder.decode(&packet[..len], &mut out).unwrap();
            }
        }
    };
    run(0..50);
    count_allocations(|| run(50..1050))
}

fn default_config() -> EncoderConfig {
    EncoderConfig {
        sample_rate_hz: 48_000,
        channels: 1,
        application: Application::Voip,
        bitrate_bps: 24_000,
        complexity: 5,
        vbr: true,
        fec: true,
        expected_loss_pct: 10,
        dtx: false,
        frame: FrameDuration::Ms20,
    }
}

#[test]
fn no_allocation_per_frame_at_20ms_voip_fec() {
    let counts = steady_state_allocations(default_config());
    println!("20 ms voip + FEC, 1000 frames: (Rust, C) allocations = {counts:?}");
    assert_eq!(counts, (0, 0));
}

#[test]
fn no_allocation_per_frame_at_10ms_dtx_complexity_10() {
    let cfg = EncoderConfig {
        frame: FrameDuration::Ms10,
        complexity: 10,
        dtx: true,
        ..default_config()
    };
    let counts = steady_state_allocations(cfg);
    println!("10 ms voip + DTX, complexity 10, 1000 frames: (Rust, C) = {counts:?}");
    assert_eq!(counts, (0, 0));
}

#[test]
fn no_allocation_per_frame_at_5ms_restricted_lowdelay() {
    let cfg = EncoderConfig {
        frame: FrameDuration::Ms5,
        application: Application::RestrictedLowDelay,
        fec: false,
        ..default_config()
    };
    let counts = steady_state_allocations(cfg);
    println!("5 ms restricted low-delay, 1000 frames: (Rust, C) = {counts:?}");
    assert_eq!(counts, (0, 0));
}

#[test]
fn no_allocation_per_frame_at_16k_60ms_audio() {
    let cfg = EncoderConfig {
        sample_rate_hz: 16_000,
        frame: FrameDuration::Ms60,
        application: Application::Audio,
        ..default_config()
    };
    let counts = steady_state_allocations(cfg);
    println!("16 kHz 60 ms audio, 1000 frames: (Rust, C) = {counts:?}");
    assert_eq!(counts, (0, 0));
}
