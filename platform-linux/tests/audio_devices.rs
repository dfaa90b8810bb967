//! `echostream devices`: a procfs/sysfs fixture of a Pi with two USB cards,
//! the report naming cards, USB paths and the channels using them, and the
//! command on this (card-less) machine.

use std::path::Path;
use std::process::Command;

use echostream::audio::devices::{self, PcmDirection};
use echostream::config;

const CARDS: &str = " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [Radio1         ]: USB-Audio - USB Audio Device
                      C-Media Electronics Inc. USB Audio Device at usb-0000:01:00.0-1.2, full speed
 2 [Device         ]: USB-Audio - USB PnP Sound Device
                      C-Media Electronics Inc. USB PnP Sound Device at usb-0000:01:00.0-1.3, full speed
";

fn pcm_info(card: u32, stream: &str, name: &str) -> String {
    format!(
        "card: {card}\ndevice: 0\nsubdevice: 0\nstream: {stream}\nid: {name}\nname: {name}\n\
         subname: subdevice #0\nclass: 0\nsubclass: 0\nsubdevices_count: 1\nsubdevices_avail: 1\n"
    )
}

/// Builds `proc/asound` and `sys/class/sound` under `root`.
fn fixture(root: &Path) {
    let proc_dir = root.join("proc");
    std::fs::create_dir_all(&proc_dir).unwrap();
    std::fs::write(proc_dir.join("cards"), CARDS).unwrap();
    for (card, name, streams) in [
        (0, "bcm2835 Headphones", &["p"][..]),
        (1, "USB Audio", &["p", "c"][..]),
        (2, "USB Audio", &["p", "c"][..]),
    ] {
        for s in streams {
            let dir = proc_dir.join(format!("card{card}/pcm0{s}"));
            std::fs::create_dir_all(&dir).unwrap();
            let stream = if *s == "p" { "PLAYBACK" } else { "CAPTURE" };
            std::fs::write(dir.join("info"), pcm_info(card, stream, name)).unwrap();
        }
    }
    let sys = root.join("sys");
    for (card, port, product) in [(1, "1-1.2", "0012"), (2, "1-1.3", "0014")] {
        let usb = sys.join(format!("devices/usb1/{port}"));
        std::fs::create_dir_all(usb.join(format!("{port}:1.0"))).unwrap();
        std::fs::write(usb.join("idVendor"), "0d8c\n").unwrap();
        std::fs::write(usb.join("idProduct"), format!("{product}\n")).unwrap();
        let card_dir = sys.join(format!("class/card{card}"));
        std::fs::create_dir_all(&card_dir).unwrap();
        std::os::unix::fs::symlink(
            format!("../../devices/usb1/{port}/{port}:1.0"),
            card_dir.join("device"),
        )
        .unwrap();
    }
    let headphones = sys.join("class/card0");
    std::fs::create_dir_all(sys.join("devices/platform/bcm2835_headphones")).unwrap();
    std::fs::create_dir_all(&headphones).unwrap();
    std::os::unix::fs::symlink(
        "../../devices/platform/bcm2835_headphones",
        headphones.join("device"),
    )
    .unwrap();
}

fn channels() -> Vec<config::Channel> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config.json");
    let mut value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root).unwrap()).unwrap();
    // The config's tone definitions name channels `pages` and `talk`.
    value["channels"] = serde_json::json!([
        { "id": "pages", "input_device": "plughw:CARD=Radio1,DEV=0",
          "output_device": "hw:2,0", "cor": "always" },
        { "id": "talk", "input_device": "plughw:CARD=Gone,DEV=0", "cor": "always" }
    ]);
    let report = config::check(&value.to_string());
    report
        .config
        .unwrap_or_else(|| panic!("fixture config is valid: {:?}", report.problems))
        .channels
}

#[test]
fn scans_a_pi_with_two_usb_cards() {
    let dir = tempfile::tempdir().unwrap();
    fixture(dir.path());
    let cards = devices::scan(&dir.path().join("proc"), &dir.path().join("sys/class"));
    assert_eq!(cards.len(), 3);
    assert_eq!(cards[0].usb_path, None, "the headphone jack is not USB");
    assert_eq!(cards[1].entry.id, "Radio1");
    assert_eq!(cards[1].usb_path.as_deref(), Some("1-1.2"));
    assert_eq!(
        cards[1].usb_id,
        Some(("0d8c".to_owned(), "0012".to_owned()))
    );
    assert_eq!(cards[2].usb_path.as_deref(), Some("1-1.3"));
    let directions: Vec<_> = cards[1].pcms.iter().map(|p| p.direction).collect();
    assert_eq!(directions, [PcmDirection::Capture, PcmDirection::Playback]);

    let mut out = Vec::new();
    devices::write_report(&mut out, &cards, Some(&channels())).unwrap();
    let text = String::from_utf8(out).unwrap();
    eprintln!("{text}");
    assert!(
        text.contains("card 1: Radio1 (USB Audio Device, USB-Audio), USB path 1-1.2, id 0d8c:0012")
    );
    assert!(text.contains("  capture  plughw:CARD=Radio1,DEV=0  USB Audio"));
    assert!(text.contains("  used by: pages input (plughw:CARD=Radio1,DEV=0)"));
    assert!(text.contains("  used by: pages output (hw:2,0)"));
    assert!(text.contains("channel talk input plughw:CARD=Gone,DEV=0: no such card"));
    assert!(text.contains("KERNELS==\"1-1.2\", ATTR{id}=\"Radio1\""));
    assert!(!text.contains("no sound cards found"));
}

#[test]
fn no_cards_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let cards = devices::scan(&dir.path().join("proc"), &dir.path().join("sys"));
    assert!(cards.is_empty());
    let mut out = Vec::new();
    devices::write_report(&mut out, &cards, None).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("no sound cards found\n"));
    assert!(text.contains("file:PATH.wav"));
}

#[test]
fn devices_command_exits_zero_without_config() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_echostream"))
        .arg("devices")
        .current_dir(dir.path())
        .output()
        .expect("echostream runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Naming cards so channels do not swap"),
        "{stdout}"
    );
    assert!(stderr.contains("channel usage not shown"), "{stderr}");
    if !Path::new("/proc/asound/cards").exists() {
        assert!(stdout.starts_with("no sound cards found"), "{stdout}");
    }
}
