//! Reading recordings back in tests, as a player would: every Ogg page
//! parsed and its CRC checked, the Opus packets decoded, pre-skip dropped
//! and the end trimmed to the last granule position; WAV through the
//! `file:` audio source's reader; and the Debian `opus-tools` as a second
//! opinion.

use std::path::Path;
use std::process::Command;

use super::ogg::{FLAG_BOS, FLAG_CONTINUED, FLAG_EOS, Page};
use super::ogg_opus::{GRANULE_RATE_HZ, OpusHead};
use crate::audio::{StreamParams, WavSource};
use crate::opus::{Decoder, MAX_PACKET_SAMPLES};

/// An audio page of an Ogg Opus file.
#[derive(Debug)]
pub(super) struct AudioPage {
    pub(super) header_type: u8,
    pub(super) granule: i64,
    pub(super) packets: Vec<Vec<u8>>,
}

/// An Ogg Opus file read back.
#[derive(Debug)]
pub(super) struct OggRead {
    pub(super) head: OpusHead,
    /// The comment header packet.
    pub(super) tags: Vec<u8>,
    /// The pages after the two header pages.
    pub(super) pages: Vec<AudioPage>,
}

/// Parses a whole Ogg Opus file as RFC 3533 and RFC 7845 require of one
/// EchoStream writes, and panics on anything else: every byte in a page,
/// every CRC right, one serial, sequence numbers from 0, BOS on the first
/// page only, EOS on the last only, the identification header alone on
/// the first page, the comment header alone on the second, granule
/// positions rising over the audio pages.
pub(super) fn read_ogg(bytes: &[u8]) -> OggRead {
    let mut pages = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let page =
            Page::new_checked(&bytes[at..]).unwrap_or_else(|e| panic!("page at byte {at}: {e:?}"));
        assert!(page.crc_ok(), "CRC of the page at byte {at}");
        assert_eq!(
            page.sequence() as usize,
            pages.len(),
            "sequence at byte {at}"
        );
        assert_eq!(
            page.header_type() & FLAG_CONTINUED,
            0,
            "packets never span pages"
        );
        assert!(page.ends_packet(), "page at byte {at} ends a packet");
        let packets: Vec<Vec<u8>> = page.packets().map(<[u8]>::to_vec).collect();
        pages.push((page.serial(), page.header_type(), page.granule(), packets));
        at += page.total_len();
    }
    assert!(pages.len() >= 3, "two header pages and audio");
    let serial = pages[0].0;
    assert!(pages.iter().all(|p| p.0 == serial), "one stream");
    let last = pages.len() - 1;
    for (i, (_, header_type, ..)) in pages.iter().enumerate() {
        assert_eq!(header_type & FLAG_BOS != 0, i == 0, "BOS on page {i}");
        assert_eq!(header_type & FLAG_EOS != 0, i == last, "EOS on page {i}");
    }
    let mut pages = pages.into_iter();
    let (_, _, granule, packets) = pages.next().expect("3 pages");
    assert_eq!((granule, packets.len()), (0, 1), "OpusHead alone");
    let head = OpusHead::parse(&packets[0]).expect("an OpusHead");
    assert_eq!(packets[0].len(), 19);
    assert_eq!(packets[0][8], 1, "version 1");
    let (_, _, granule, mut packets) = pages.next().expect("3 pages");
    assert_eq!((granule, packets.len()), (0, 1), "OpusTags alone");
    let tags = packets.remove(0);
    assert_eq!(&tags[..8], b"OpusTags");

    let mut audio: Vec<AudioPage> = Vec::new();
    for (_, header_type, granule, packets) in pages {
        let previous = audio.last().map_or(0, |p| p.granule);
        assert!(granule > previous, "granule {granule} after {previous}");
        assert!(!packets.is_empty());
        audio.push(AudioPage {
            header_type,
            granule,
            packets,
        });
    }
    OggRead {
        head,
        tags,
        pages: audio,
    }
}

/// Decodes every packet at `rate_hz` and keeps what a player plays: from
/// pre-skip to the last page's granule position.
pub(super) fn decode_ogg_opus(ogg: &OggRead, rate_hz: u32) -> Vec<i16> {
    let factor = (GRANULE_RATE_HZ / rate_hz) as usize;
    let mut decoder = Decoder::new(rate_hz, 1).unwrap();
    let mut pcm = Vec::new();
    let mut frame = [0i16; MAX_PACKET_SAMPLES];
    let mut decoded_48k = 0;
    for page in &ogg.pages {
        for packet in &page.packets {
            let n = decoder.decode(packet, &mut frame).unwrap();
            pcm.extend_from_slice(&frame[..n]);
            decoded_48k += n * factor;
        }
        if page.header_type & FLAG_EOS == 0 {
            assert_eq!(
                page.granule as usize, decoded_48k,
                "granule of a middle page"
            );
        }
    }
    let end_48k = ogg.pages.last().expect("audio").granule as usize;
    assert!(end_48k <= decoded_48k, "end trimming only shortens");
    let pre_skip = usize::from(ogg.head.pre_skip) / factor;
    pcm.truncate(end_48k / factor);
    pcm.drain(..pre_skip);
    pcm
}

/// The samples of a WAV file, through the `file:` audio source.
pub(super) fn wav_samples(path: &Path, rate_hz: u32) -> Vec<i16> {
    let params = StreamParams {
        rate_hz,
        period_frames: 960,
        buffer_periods: 2,
    };
    WavSource::open(path, params, false)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .samples()
        .to_vec()
}

/// 440 Hz and 1 kHz together, peak about −5 dBFS.
pub(super) fn sine_mix(rate_hz: u32, len: usize) -> Vec<i16> {
    let rate = f64::from(rate_hz);
    (0..len)
        .map(|n| {
            let t = n as f64 / rate;
            let x = 0.3 * (std::f64::consts::TAU * 440.0 * t).sin()
                + 0.25 * (std::f64::consts::TAU * 1_000.0 * t).sin();
            (x * 32_767.0).round() as i16
        })
        .collect()
}

/// Normalized cross-correlation at lag 0 of two signals of equal length.
pub(super) fn ncc(a: &[i16], b: &[i16]) -> f64 {
    assert_eq!(a.len(), b.len());
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt().max(f64::MIN_POSITIVE)
}

/// Runs `opusinfo` and `opusdec` (Debian `opus-tools`) on an Ogg Opus
/// file: both must accept it without a warning, and `opusdec` must output
/// exactly `samples_48k` samples at 48 kHz. Missing tools fail the test.
pub(super) fn check_with_opus_tools(path: &Path, samples_48k: usize) {
    let run = |cmd: &mut Command| {
        let name = cmd.get_program().to_string_lossy().into_owned();
        let out = cmd.output().unwrap_or_else(|e| {
            panic!(
                "{name} is missing ({e}): the Ogg Opus tests check files with opus-tools. \
                 Install it (apt-get install opus-tools; scripts/lib.sh lists it) and run again."
            )
        });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "{name} failed on {}:\n{text}",
            path.display()
        );
        text
    };
    let info = run(Command::new("opusinfo").arg(path));
    assert!(!info.contains("WARNING"), "opusinfo:\n{info}");
    assert!(info.contains("ENCODER=echostream"), "opusinfo:\n{info}");
    let out = path.with_extension("opusdec.wav");
    let said = run(Command::new("opusdec")
        .args(["--quiet", "--rate", "48000"])
        .arg(path)
        .arg(&out));
    assert!(!said.contains("WARNING"), "opusdec:\n{said}");
    assert_eq!(
        wav_samples(&out, GRANULE_RATE_HZ).len(),
        samples_48k,
        "opusdec output"
    );
    std::fs::remove_file(out).unwrap();
}

/// The names in `dir`, sorted.
pub(super) fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}
