//! The Opus wrapper against real libopus: round trips, every frame
//! length, concealment, FEC recovery, DTX, settings read back, bad input.
//!
//! Quality is judged the way a listener would notice it: the decoded
//! signal, shifted by the codec delay (found by cross-correlation, and
//! checked against the encoder's reported look-ahead), must correlate with
//! the input.

use echostream::opus::{
    self, Application, Decoder, Encoder, EncoderConfig, FrameDuration, MAX_PACKET_LEN,
    MAX_PACKET_SAMPLES, OpusError,
};
use echostream_sim::audio::voiced_speech_i16;

// ---------------------------------------------------------------- signals

/// A sine at `freq_hz`, peak −6 dBFS.
fn sine(freq_hz: f64, rate_hz: u32, len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| {
            let t = n as f64 / f64::from(rate_hz);
            (16_000.0 * (std::f64::consts::TAU * freq_hz * t).sin()).round() as i16
        })
        .collect()
}

// ---------------------------------------------------------------- measures

/// Normalised correlation of `x[i]` with `y[i + lag]` over `range` of `x`.
fn correlation_at(x: &[i16], y: &[i16], lag: usize, range: std::ops::Range<usize>) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for i in range {
        let (a, b) = (f64::from(x[i]), f64::from(y[i + lag]));
        xy += a * b;
        xx += a * a;
        yy += b * b;
    }
    if xx == 0.0 || yy == 0.0 {
        return 0.0;
    }
    xy / (xx * yy).sqrt()
}

/// The lag in `lags` at which `y` best matches `x`, and the correlation
/// there, skipping the first 100 ms (encoder warm-up).
fn best_lag(
    x: &[i16],
    y: &[i16],
    rate_hz: u32,
    lags: std::ops::RangeInclusive<usize>,
) -> (usize, f64) {
    let start = rate_hz as usize / 10;
    let end = x.len().min(y.len()) - lags.end();
    lags.map(|lag| (lag, correlation_at(x, y, lag, start..end)))
        .fold((0, f64::MIN), |best, c| if c.1 > best.1 { c } else { best })
}

fn max_step(pcm: &[i16]) -> i32 {
    pcm.windows(2)
        .map(|w| (i32::from(w[1]) - i32::from(w[0])).abs())
        .max()
        .unwrap_or(0)
}

fn rms(pcm: &[i16]) -> f64 {
    (pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64).sqrt()
}

// ---------------------------------------------------------------- helpers

/// EchoStream's defaults (config/defaults.rs): voip, 24 kbit/s,
/// complexity 5, FEC for 10 % loss, no DTX.
fn config(rate_hz: u32, frame: FrameDuration) -> EncoderConfig {
    EncoderConfig {
        sample_rate_hz: rate_hz,
        channels: 1,
        application: Application::Voip,
        bitrate_bps: 24_000,
        complexity: 5,
        vbr: true,
        fec: true,
        expected_loss_pct: 10,
        dtx: false,
        frame,
    }
}

/// Encodes `pcm` frame by frame (a partial last frame is dropped).
fn encode_all(encoder: &mut Encoder, pcm: &[i16]) -> Vec<Vec<u8>> {
    let mut out = [0u8; MAX_PACKET_LEN];
    pcm.chunks_exact(encoder.frame_samples())
        .map(|frame| {
            let len = encoder.encode(frame, &mut out).unwrap();
            out[..len].to_vec()
        })
        .collect()
}

fn decode_all(decoder: &mut Decoder, packets: &[Vec<u8>]) -> Vec<i16> {
    let mut out = [0i16; MAX_PACKET_SAMPLES];
    let mut pcm = Vec::new();
    for packet in packets {
        let n = decoder.decode(packet, &mut out).unwrap();
        pcm.extend_from_slice(&out[..n]);
    }
    pcm
}

/// Encodes and decodes `pcm` with `cfg`; returns the encoder's
/// look-ahead, the lag of the decoded signal behind the input and the
/// correlation at that lag. The lag is searched over 0–20 ms, or within
/// half a period of the look-ahead for a sine (periodic: a search any
/// wider finds a whole number of periods off).
fn round_trip(cfg: EncoderConfig, pcm: &[i16], sine_hz: Option<f64>) -> (usize, usize, f64) {
    let mut encoder = Encoder::new(cfg).unwrap();
    let mut decoder = Decoder::new(cfg.sample_rate_hz, 1).unwrap();
    let lookahead = encoder.lookahead_samples().unwrap();
    let packets = encode_all(&mut encoder, pcm);
    let decoded = decode_all(&mut decoder, &packets);
    assert_eq!(decoded.len(), packets.len() * encoder.frame_samples());
    let lags = match sine_hz {
        None => 0..=cfg.sample_rate_hz as usize / 50,
        Some(hz) => {
            let half_period = (f64::from(cfg.sample_rate_hz) / hz / 2.0) as usize;
            lookahead - half_period..=lookahead + half_period
        }
    };
    let (lag, corr) = best_lag(pcm, &decoded, cfg.sample_rate_hz, lags);
    (lookahead, lag, corr)
}

fn check_round_trip(name: &str, cfg: EncoderConfig, pcm: &[i16], sine_hz: Option<f64>) {
    let (lookahead, lag, corr) = round_trip(cfg, pcm, sine_hz);
    println!(
        "{name}: look-ahead {lookahead}, lag {lag} samples ({:.2} ms), correlation {corr:.4}",
        lag as f64 * 1000.0 / f64::from(cfg.sample_rate_hz)
    );
    assert!(corr >= 0.9, "{name}: correlation {corr:.4} < 0.9");
    // The delay through encoder + decoder is the encoder's look-ahead, to
    // within the phase response of SILK's filters (measured: 4 samples
    // early at 48 kHz, 1 at 16 kHz).
    let tolerance = cfg.sample_rate_hz as usize / 6_000; // 0.17 ms
    assert!(
        lag.abs_diff(lookahead) <= tolerance,
        "{name}: lag {lag} but look-ahead {lookahead}"
    );
}

// ---------------------------------------------------------------- round trips

#[test]
fn sine_1khz_48k_20ms_round_trips() {
    let pcm = sine(1_000.0, 48_000, 96_000);
    check_round_trip(
        "sine 1 kHz 48k 20ms",
        config(48_000, FrameDuration::Ms20),
        &pcm,
        Some(1_000.0),
    );
}

#[test]
fn speech_48k_20ms_round_trips() {
    let pcm = voiced_speech_i16(48_000, 96_000);
    check_round_trip(
        "speech 48k 20ms",
        config(48_000, FrameDuration::Ms20),
        &pcm,
        None,
    );
}

#[test]
fn speech_48k_10ms_round_trips() {
    let pcm = voiced_speech_i16(48_000, 96_000);
    check_round_trip(
        "speech 48k 10ms",
        config(48_000, FrameDuration::Ms10),
        &pcm,
        None,
    );
}

#[test]
fn speech_16k_20ms_round_trips() {
    let pcm = voiced_speech_i16(16_000, 32_000);
    check_round_trip(
        "speech 16k 20ms",
        config(16_000, FrameDuration::Ms20),
        &pcm,
        None,
    );
}

#[test]
fn sine_and_speech_5ms_restricted_lowdelay_round_trip() {
    let cfg = EncoderConfig {
        application: Application::RestrictedLowDelay,
        fec: false,
        ..config(48_000, FrameDuration::Ms5)
    };
    check_round_trip(
        "sine 1 kHz 48k 5ms RLD",
        cfg,
        &sine(1_000.0, 48_000, 96_000),
        Some(1_000.0),
    );
    check_round_trip(
        "speech 48k 5ms RLD",
        cfg,
        &voiced_speech_i16(48_000, 96_000),
        None,
    );
}

#[test]
fn every_frame_length_encodes_and_decodes() {
    let pcm = voiced_speech_i16(48_000, 48_000);
    for frame in FrameDuration::ALL {
        for app in [
            Application::Voip,
            Application::Audio,
            Application::RestrictedLowDelay,
        ] {
            let cfg = EncoderConfig {
                application: app,
                ..config(48_000, frame)
            };
            let mut encoder = Encoder::new(cfg).unwrap();
            let mut decoder = Decoder::new(48_000, 1).unwrap();
            let frame_samples = frame.samples_per_channel(48_000);
            assert_eq!(encoder.frame_samples(), frame_samples);
            let packets = encode_all(&mut encoder, &pcm);
            for p in &packets {
                assert_eq!(opus::packet_samples(p, 48_000), Ok(frame_samples));
            }
            let decoded = decode_all(&mut decoder, &packets);
            assert_eq!(
                decoded.len(),
                packets.len() * frame_samples,
                "{frame:?} {app:?}"
            );
            assert_eq!(decoder.last_frame_samples(), frame_samples);
            let (_, corr) = best_lag(&pcm, &decoded, 48_000, 0..=960);
            assert!(corr > 0.8, "{frame:?} {app:?}: correlation {corr:.3}");
        }
    }
}

#[test]
fn a_decoder_at_another_rate_resamples() {
    let mut encoder = Encoder::new(config(48_000, FrameDuration::Ms20)).unwrap();
    let mut decoder = Decoder::new(16_000, 1).unwrap();
    let packets = encode_all(&mut encoder, &voiced_speech_i16(48_000, 9_600));
    let decoded = decode_all(&mut decoder, &packets);
    assert_eq!(decoded.len(), packets.len() * 320);
}

// ---------------------------------------------------------------- settings

#[test]
fn settings_read_back_from_libopus() {
    let configs = [
        config(48_000, FrameDuration::Ms20),
        EncoderConfig {
            application: Application::Audio,
            bitrate_bps: 64_000,
            complexity: 10,
            vbr: false,
            fec: false,
            expected_loss_pct: 0,
            dtx: true,
            ..config(16_000, FrameDuration::Ms10)
        },
        EncoderConfig {
            application: Application::RestrictedLowDelay,
            complexity: 0,
            fec: false,
            ..config(8_000, FrameDuration::Ms5)
        },
    ];
    for cfg in configs {
        let mut encoder = Encoder::new(cfg).unwrap();
        assert_eq!(encoder.applied().unwrap(), cfg);
        assert_eq!(encoder.config(), &cfg);
    }
    let mut encoder = Encoder::new(config(48_000, FrameDuration::Ms20)).unwrap();
    encoder.set_bitrate_bps(16_000).unwrap();
    encoder.set_expected_loss_pct(25).unwrap();
    let applied = encoder.applied().unwrap();
    assert_eq!(
        (applied.bitrate_bps, applied.expected_loss_pct),
        (16_000, 25)
    );
    // Voip at 48 kHz: 2.5 ms of delay compensation + 4 ms of look-ahead.
    assert_eq!(encoder.lookahead_samples().unwrap(), 312);
}

#[test]
fn bitrate_follows_the_setting() {
    let pcm = voiced_speech_i16(48_000, 96_000);
    let mut sizes = Vec::new();
    for bitrate_bps in [12_000, 24_000, 64_000] {
        let cfg = EncoderConfig {
            bitrate_bps,
            ..config(48_000, FrameDuration::Ms20)
        };
        let packets = encode_all(&mut Encoder::new(cfg).unwrap(), &pcm);
        let bytes: usize = packets.iter().map(Vec::len).sum();
        let measured_bps = bytes as f64 * 8.0 / 2.0;
        println!("target {bitrate_bps} bit/s: measured {measured_bps:.0} bit/s");
        assert!(
            (measured_bps / f64::from(bitrate_bps) - 1.0).abs() < 0.3,
            "target {bitrate_bps}, measured {measured_bps:.0}"
        );
        sizes.push(bytes);
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]));
}

// ---------------------------------------------------------------- loss

#[test]
fn concealment_fills_a_frame_and_fades_without_a_click() {
    let cfg = config(48_000, FrameDuration::Ms20);
    let pcm = voiced_speech_i16(48_000, 48_000);
    let packets = encode_all(&mut Encoder::new(cfg).unwrap(), &pcm);
    let mut decoder = Decoder::new(48_000, 1).unwrap();
    let good = decode_all(&mut decoder, &packets[..30]);
    let mut out = [0i16; 960];
    let mut concealed = Vec::new();
    for _ in 0..10 {
        assert_eq!(decoder.conceal(&mut out), Ok(960));
        concealed.extend_from_slice(&out);
    }
    // No click: no step bigger than the largest in the real signal, also
    // across the seam from the last good frame.
    let limit = max_step(&good) * 3 / 2;
    let seam = [&good[good.len() - 960..], &concealed[..]].concat();
    println!(
        "PLC: max step {} (decoded speech {}); rms first {:.0}, last {:.0}",
        max_step(&seam),
        max_step(&good),
        rms(&concealed[..960]),
        rms(&concealed[9 * 960..])
    );
    assert!(max_step(&seam) <= limit);
    // Fades: 200 ms in, it is much quieter than at the start.
    assert!(rms(&concealed[9 * 960..]) < rms(&concealed[..960]) / 4.0);
    // And the stream resumes.
    assert_eq!(decoder.decode(&packets[30], &mut out), Ok(960));
}

#[test]
fn fec_recovers_a_lost_frame_better_than_concealment() {
    let cfg = config(48_000, FrameDuration::Ms20);
    let pcm = voiced_speech_i16(48_000, 96_000);
    let mut encoder = Encoder::new(cfg).unwrap();
    let delay = encoder.lookahead_samples().unwrap();
    let packets = encode_all(&mut encoder, &pcm);
    let with_fec = packets.iter().filter(|p| opus::packet_has_fec(p)).count();
    println!("{with_fec} of {} packets carry FEC", packets.len());
    // SILK sends its FEC copy only for frames its VAD finds active, so the
    // quiet troughs of the syllable envelope go without.
    assert!(with_fec * 2 >= packets.len());

    let mut plc_total = 0.0;
    let mut fec_total = 0.0;
    let mut fec_wins = 0;
    // Frames whose next packet carries FEC, spread over the signal.
    let lost_frames: Vec<usize> = (8..packets.len() - 1)
        .step_by(7)
        .filter(|&k| opus::packet_has_fec(&packets[k + 1]))
        .collect();
    assert!(lost_frames.len() >= 6);
    for &k in &lost_frames {
        // The original that frame k's output should match, delay-aligned.
        let want = &pcm[k * 960 - delay..(k + 1) * 960 - delay];
        let mut out = [0i16; 960];

        let mut plc = Decoder::new(48_000, 1).unwrap();
        decode_all(&mut plc, &packets[..k]);
        assert_eq!(plc.conceal(&mut out), Ok(960));
        let plc_corr = correlation_at(want, &out, 0, 0..960);

        let mut fec = Decoder::new(48_000, 1).unwrap();
        decode_all(&mut fec, &packets[..k]);
        assert_eq!(fec.decode_fec(&packets[k + 1], &mut out), Ok(960));
        let fec_corr = correlation_at(want, &out, 0, 0..960);
        // The next frame still decodes after the recovery.
        let mut next = [0i16; 960];
        assert_eq!(fec.decode(&packets[k + 1], &mut next), Ok(960));

        println!("lost frame {k}: PLC correlation {plc_corr:.3}, FEC {fec_corr:.3}");
        fec_wins += usize::from(fec_corr > plc_corr);
        plc_total += plc_corr;
        fec_total += fec_corr;
    }
    let n = lost_frames.len() as f64;
    let (plc_mean, fec_mean) = (plc_total / n, fec_total / n);
    println!(
        "FEC better in {fec_wins} of {n} lost frames; mean PLC {plc_mean:.3}, FEC {fec_mean:.3}"
    );
    assert!(fec_wins as f64 >= 0.8 * n);
    assert!(fec_mean > 0.85 && fec_mean > plc_mean + 0.1);

    // Where the next packet has no FEC, decode_fec is exactly PLC.
    let k = (8..packets.len() - 1)
        .find(|&k| !opus::packet_has_fec(&packets[k + 1]))
        .unwrap();
    let (mut a, mut b) = (
        Decoder::new(48_000, 1).unwrap(),
        Decoder::new(48_000, 1).unwrap(),
    );
    decode_all(&mut a, &packets[..k]);
    decode_all(&mut b, &packets[..k]);
    let (mut plc, mut fec) = ([0i16; 960], [0i16; 960]);
    a.conceal(&mut plc).unwrap();
    b.decode_fec(&packets[k + 1], &mut fec).unwrap();
    assert_eq!(plc, fec);
}

#[test]
fn fec_without_fec_data_falls_back_to_concealment() {
    let cfg = EncoderConfig {
        fec: false,
        ..config(48_000, FrameDuration::Ms20)
    };
    let packets = encode_all(
        &mut Encoder::new(cfg).unwrap(),
        &voiced_speech_i16(48_000, 48_000),
    );
    assert!(!packets.iter().any(|p| opus::packet_has_fec(p)));
    let mut decoder = Decoder::new(48_000, 1).unwrap();
    decode_all(&mut decoder, &packets[..10]);
    let mut out = [0i16; 960];
    assert_eq!(decoder.decode_fec(&packets[11], &mut out), Ok(960));
}

// ---------------------------------------------------------------- DTX

#[test]
fn dtx_sends_almost_nothing_in_silence() {
    let cfg = EncoderConfig {
        dtx: true,
        ..config(48_000, FrameDuration::Ms20)
    };
    let mut encoder = Encoder::new(cfg).unwrap();
    let silence = vec![0i16; 960 * 100];
    let packets = encode_all(&mut encoder, &silence);
    let tiny = packets.iter().filter(|p| p.len() <= 2).count();
    println!("DTX: {tiny} of 100 silent frames gave packets of ≤ 2 bytes");
    assert!(tiny >= 80);
    assert!(encoder.in_dtx().unwrap());
    // A decoder takes them (they decode as comfort silence).
    let decoded = decode_all(&mut Decoder::new(48_000, 1).unwrap(), &packets);
    assert_eq!(decoded.len(), silence.len());

    // Without DTX, the same silence costs real packets.
    let cfg = EncoderConfig { dtx: false, ..cfg };
    let packets = encode_all(&mut Encoder::new(cfg).unwrap(), &silence);
    assert!(packets.iter().filter(|p| p.len() <= 2).count() < 10);
}

// ---------------------------------------------------------------- bad input

#[test]
fn bad_settings_are_typed_errors() {
    let good = config(48_000, FrameDuration::Ms20);
    let cases = [
        (
            EncoderConfig {
                sample_rate_hz: 44_100,
                ..good
            },
            OpusError::SampleRate(44_100),
        ),
        (
            EncoderConfig {
                channels: 0,
                ..good
            },
            OpusError::Channels(0),
        ),
        (
            EncoderConfig {
                channels: 3,
                ..good
            },
            OpusError::Channels(3),
        ),
        (
            EncoderConfig {
                complexity: 11,
                ..good
            },
            OpusError::OutOfRange {
                name: "complexity",
                value: 11,
                min: 0,
                max: 10,
            },
        ),
        (
            EncoderConfig {
                bitrate_bps: 1_000,
                ..good
            },
            OpusError::OutOfRange {
                name: "bitrate_bps",
                value: 1_000,
                min: 6_000,
                max: 510_000,
            },
        ),
        (
            EncoderConfig {
                expected_loss_pct: 101,
                ..good
            },
            OpusError::OutOfRange {
                name: "expected_loss_pct",
                value: 101,
                min: 0,
                max: 100,
            },
        ),
    ];
    for (cfg, want) in cases {
        assert_eq!(Encoder::new(cfg).unwrap_err(), want);
    }
    assert_eq!(
        Decoder::new(22_050, 1).unwrap_err(),
        OpusError::SampleRate(22_050)
    );
    assert_eq!(Decoder::new(48_000, 3).unwrap_err(), OpusError::Channels(3));
    let mut encoder = Encoder::new(good).unwrap();
    assert!(encoder.set_bitrate_bps(600_000).is_err());
    assert!(encoder.set_expected_loss_pct(200).is_err());
    assert_eq!(encoder.applied().unwrap(), good);
}

#[test]
fn wrong_lengths_are_typed_errors() {
    let mut encoder = Encoder::new(config(48_000, FrameDuration::Ms20)).unwrap();
    let mut packet = [0u8; MAX_PACKET_LEN];
    for len in [0, 959, 961, 480, 1920] {
        assert_eq!(
            encoder.encode(&vec![0; len], &mut packet),
            Err(OpusError::FrameLength {
                expected: 960,
                actual: len
            })
        );
    }
    let pcm = voiced_speech_i16(48_000, 960);
    assert_eq!(
        encoder.encode(&pcm, &mut []),
        Err(OpusError::OutputTooSmall {
            needed: 1,
            actual: 0
        })
    );
    // A tiny buffer: libopus either fits a minimal packet or says why.
    for cap in 1..4 {
        match encoder.encode(&pcm, &mut packet[..cap]) {
            Ok(n) => assert!(n <= cap),
            Err(e) => assert_eq!(e.code(), Some(opus::BUFFER_TOO_SMALL), "{e}"),
        }
    }
    let len = encoder.encode(&pcm, &mut packet).unwrap();

    let mut decoder = Decoder::new(48_000, 1).unwrap();
    assert_eq!(
        decoder.decode(&packet[..len], &mut [0; 959]),
        Err(OpusError::OutputTooSmall {
            needed: 960,
            actual: 959
        })
    );
    assert_eq!(
        decoder.decode_fec(&packet[..len], &mut [0; 100]),
        Err(OpusError::OutputTooSmall {
            needed: 960,
            actual: 100
        })
    );
    assert_eq!(
        decoder.conceal(&mut [0; 10]),
        Err(OpusError::OutputTooSmall {
            needed: 960,
            actual: 10
        })
    );
    assert_eq!(
        decoder.decode(&[], &mut [0; 960]),
        Err(OpusError::EmptyPacket)
    );
    assert_eq!(
        decoder.decode_fec(&[], &mut [0; 960]),
        Err(OpusError::EmptyPacket)
    );
    // Code 3 (TOC ends in 0b11) needs a frame-count byte: invalid alone.
    let err = decoder.decode(&[0x03], &mut [0; 960]).unwrap_err();
    assert_eq!(err.code(), Some(opus::INVALID_PACKET));
    assert!(err.to_string().contains("corrupted"), "{err}");
    // Code 3 claiming 63 frames of 60 ms is over 120 ms: invalid.
    let err = decoder.decode(&[0xFB, 0x3F, 0, 0], &mut [0; MAX_PACKET_SAMPLES]);
    assert_eq!(err.unwrap_err().code(), Some(opus::INVALID_PACKET));
    // After all that, the decoder still works.
    assert_eq!(decoder.decode(&packet[..len], &mut [0; 960]), Ok(960));
}

#[test]
fn random_bytes_never_crash_the_decoder() {
    let mut rng = 0x9E37_79B9_7F4A_7C15u64; // xorshift64, seed fixed
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let good = encode_all(
        &mut Encoder::new(config(48_000, FrameDuration::Ms20)).unwrap(),
        &voiced_speech_i16(48_000, 9_600),
    );
    let mut decoder = Decoder::new(48_000, 1).unwrap();
    let mut out = [0i16; MAX_PACKET_SAMPLES];
    let mut bytes = [0u8; 1500];
    let (mut ok, mut refused) = (0, 0);
    for i in 0..20_000 {
        let len = (next() % 1500) as usize;
        for b in &mut bytes[..len] {
            *b = next() as u8;
        }
        // Half the packets keep a valid-looking TOC for a 20 ms SILK or
        // CELT frame, to get past the header into the payload decoders.
        if len > 0 && i % 2 == 0 {
            bytes[0] &= 0b1111_1100;
        }
        let packet = &bytes[..len];
        let result = match i % 5 {
            0 => decoder.decode_fec(packet, &mut out),
            1 => decoder.decode(packet, &mut out[..960]),
            _ => decoder.decode(packet, &mut out),
        };
        match result {
            Ok(n) => {
                assert!(n <= MAX_PACKET_SAMPLES);
                ok += 1;
            }
            Err(_) => refused += 1,
        }
        if i % 97 == 0 {
            decoder.conceal(&mut out).unwrap();
        }
    }
    println!("random packets: {ok} decoded, {refused} refused");
    assert!(ok > 1000 && refused > 1000);
    // Real packets still decode afterwards.
    for p in &good {
        assert_eq!(decoder.decode(p, &mut out), Ok(960));
    }
}

#[test]
fn codec_states_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Encoder>();
    assert_send::<Decoder>();
    let mut encoder = Encoder::new(config(48_000, FrameDuration::Ms20)).unwrap();
    let mut decoder = Decoder::new(48_000, 1).unwrap();
    let pcm = voiced_speech_i16(48_000, 960);
    let n = std::thread::spawn(move || {
        let mut packet = [0u8; MAX_PACKET_LEN];
        let len = encoder.encode(&pcm, &mut packet).unwrap();
        decoder.decode(&packet[..len], &mut [0; 960]).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(n, 960);
}
