//! `echostream devices`: the sound cards on this machine, their capture and
//! playback devices, USB paths, which configured channel uses which, and
//! how to give USB cards names that survive a reboot.
//!
//! Read from procfs and sysfs (no ALSA calls, so it works while the node
//! holds the devices open): `/proc/asound/cards` (index, id, driver, name),
//! `/proc/asound/cardN/pcmDp/info` and `pcmDc/info` (playback and capture
//! devices), and the link `/sys/class/sound/cardN/device`, which points at
//! the USB interface (`…/1-1.2:1.0`), whose parent holds `idVendor` and
//! `idProduct`. Parsers take the text, so tests feed fixtures.

use std::io::{self, Write};
use std::path::Path;

use crate::config::{Channel, Device};

/// One card as `/proc/asound/cards` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardEntry {
    /// The card number (`hw:N`); follows probe order, so it can change.
    pub index: u32,
    /// The card id (`hw:CARD=ID`); stable, and settable (see [`ADVICE`]).
    pub id: String,
    /// The kernel driver (`USB-Audio`, `HDA-Intel`…).
    pub driver: String,
    /// The short name.
    pub name: String,
    /// The long name (for USB cards it names the port: `at usb-…-1.2`).
    pub long_name: String,
}

/// Which way a PCM device streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcmDirection {
    /// Records (`pcmDc`).
    Capture,
    /// Plays (`pcmDp`).
    Playback,
}

/// One PCM device of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcmDevice {
    /// Device number (`DEV=`).
    pub device: u32,
    /// Capture or playback.
    pub direction: PcmDirection,
    /// Its name from the `info` file.
    pub name: String,
}

/// One card with what procfs and sysfs say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    /// The `/proc/asound/cards` entry.
    pub entry: CardEntry,
    /// Its PCM devices, capture and playback, by device number.
    pub pcms: Vec<PcmDevice>,
    /// USB bus path (`1-1.2`) for USB cards.
    pub usb_path: Option<String>,
    /// USB vendor and product id (`0d8c`, `0012`), when sysfs has them.
    pub usb_id: Option<(String, String)>,
}

/// How an ALSA PCM name picks a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardRef {
    /// By number: `hw:1`, `plughw:1,0`, `hw:CARD=1`.
    Index(u32),
    /// By id: `plughw:CARD=Radio1,DEV=0`, `hw:Radio1`.
    Id(String),
}

/// Parses `/proc/asound/cards`. Lines it does not understand are skipped;
/// "--- no soundcards ---" gives an empty list.
///
/// ```text
///  1 [Radio1         ]: USB-Audio - USB Audio Device
///                       C-Media Electronics Inc. USB Audio Device at usb-0000:01:00.0-1.2, full speed
/// ```
pub fn parse_cards(text: &str) -> Vec<CardEntry> {
    let mut cards: Vec<CardEntry> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(entry) = parse_card_line(line) else {
            continue;
        };
        let long_name = match lines.peek() {
            Some(next) if parse_card_line(next).is_none() => {
                let long = next.trim().to_owned();
                lines.next();
                long
            }
            _ => String::new(),
        };
        cards.push(CardEntry { long_name, ..entry });
    }
    cards
}

fn parse_card_line(line: &str) -> Option<CardEntry> {
    let line = line.trim_start();
    let (index, rest) = line.split_once(' ')?;
    let index = index.parse().ok()?;
    let rest = rest.trim_start().strip_prefix('[')?;
    let (id, rest) = rest.split_once(']')?;
    let rest = rest.trim_start().strip_prefix(':')?.trim();
    let (driver, name) = rest.split_once(" - ").unwrap_or((rest, ""));
    Some(CardEntry {
        index,
        id: id.trim().to_owned(),
        driver: driver.trim().to_owned(),
        name: name.trim().to_owned(),
        long_name: String::new(),
    })
}

/// Parses a `/proc/asound/cardN/pcmD{p,c}/info` file.
pub fn parse_pcm_info(text: &str) -> Option<PcmDevice> {
    let mut device = None;
    let mut direction = None;
    let mut name = String::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "device" => device = value.parse().ok(),
            "stream" => {
                direction = match value {
                    "CAPTURE" => Some(PcmDirection::Capture),
                    "PLAYBACK" => Some(PcmDirection::Playback),
                    _ => None,
                }
            }
            "name" => name = value.to_owned(),
            _ => {}
        }
    }
    Some(PcmDevice {
        device: device?,
        direction: direction?,
        name,
    })
}

/// The USB bus path from the target of `/sys/class/sound/cardN/device`:
/// `../../../1-1.2:1.0` gives `1-1.2`. None for a non-USB target
/// (`../../../0000:00:1f.3`).
pub fn usb_path_from_link(target: &str) -> Option<String> {
    let last = target.trim_end_matches('/').rsplit('/').next()?;
    // A USB interface is `BUS-PORT[.PORT…]:CONFIG.INTERFACE`.
    let (device, interface) = last.split_once(':')?;
    let (bus, ports) = device.split_once('-')?;
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ports_ok = ports.split('.').all(is_digits);
    let interface_ok = interface.split('.').all(is_digits);
    (is_digits(bus) && ports_ok && interface_ok).then(|| device.to_owned())
}

/// Which card an ALSA PCM name refers to, if it names one: `hw:`,
/// `plughw:`, `sysdefault:`, `front:` and other card-indexed plugins, by
/// `CARD=` or first positional argument. `default`, `null` and names
/// defined in an asoundrc give None.
pub fn card_ref(pcm_name: &str) -> Option<CardRef> {
    let (_, args) = pcm_name.split_once(':')?;
    let mut card = None;
    for (position, arg) in args.split(',').enumerate() {
        let value = match arg.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("CARD") => value,
            Some(_) => continue,
            None if position == 0 => arg,
            None => continue,
        };
        card = Some(value.trim().trim_matches('"').to_owned());
        break;
    }
    let card = card.filter(|c| !c.is_empty())?;
    Some(match card.parse() {
        Ok(index) => CardRef::Index(index),
        Err(_) => CardRef::Id(card),
    })
}

impl CardRef {
    /// Does this reference pick `card`?
    pub fn matches(&self, card: &CardEntry) -> bool {
        match self {
            CardRef::Index(index) => *index == card.index,
            CardRef::Id(id) => *id == card.id,
        }
    }
}

/// Reads every card from `proc_asound` (`/proc/asound`) and `sys_sound`
/// (`/sys/class/sound`). A missing directory means no cards.
pub fn scan(proc_asound: &Path, sys_sound: &Path) -> Vec<Card> {
    let Ok(text) = std::fs::read_to_string(proc_asound.join("cards")) else {
        return Vec::new();
    };
    parse_cards(&text)
        .into_iter()
        .map(|entry| {
            let card_dir = proc_asound.join(format!("card{}", entry.index));
            let mut pcms: Vec<PcmDevice> = std::fs::read_dir(&card_dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("pcm"))
                .filter_map(|e| std::fs::read_to_string(e.path().join("info")).ok())
                .filter_map(|info| parse_pcm_info(&info))
                .collect();
            pcms.sort_by_key(|p| (p.device, p.direction == PcmDirection::Playback));
            let device_link = sys_sound
                .join(format!("card{}", entry.index))
                .join("device");
            let usb_path = std::fs::read_link(&device_link)
                .ok()
                .and_then(|target| usb_path_from_link(&target.to_string_lossy()));
            let usb_id = usb_path.as_ref().and_then(|_| {
                // The link points at the interface; the USB device is its
                // parent directory.
                let usb_device = device_link.join("..");
                let read = |f: &str| std::fs::read_to_string(usb_device.join(f)).ok();
                Some((
                    read("idVendor")?.trim().to_owned(),
                    read("idProduct")?.trim().to_owned(),
                ))
            });
            Card {
                entry,
                pcms,
                usb_path,
                usb_id,
            }
        })
        .collect()
}

/// How to keep channel-to-card assignments stable, printed by
/// `echostream devices`.
pub const ADVICE: &str = "\
Naming cards so channels do not swap after a reboot:
  * Name a card by its id, not its number: \"plughw:CARD=Radio1,DEV=0\".
    Numbers follow the order cards are found at boot; ids do not.
  * Identical USB cards get look-alike ids (\"Device\", \"Device_1\") handed
    out in probe order, so give each USB port its own id with a udev rule,
    e.g. /etc/udev/rules.d/85-echostream-sound.rules, one line per port
    (KERNELS is the USB path listed above):
      SUBSYSTEM==\"sound\", KERNEL==\"card*\", KERNELS==\"1-1.2\", ATTR{id}=\"Radio1\"
      SUBSYSTEM==\"sound\", KERNEL==\"card*\", KERNELS==\"1-1.3\", ATTR{id}=\"Radio2\"
    then `sudo udevadm control --reload` and re-plug the cards (or reboot).
  * Cards of different models can instead be pinned by USB vendor:product
    id in /etc/modprobe.d/echostream-sound.conf:
      options snd-usb-audio index=1,2 vid=0x0d8c,0x0d8c pid=0x0012,0x0014 id=Radio1,Radio2
  * No sound card? A channel's input_device can be \"file:PATH.wav\" (read in
    real time; \"input_loop\": true repeats it) and its output_device
    \"file:PATH.wav\" (written) or \"null\" (discarded).
";

/// Writes the listing: each card with its devices, USB path and stable
/// name, the channels using it, channels naming a card that is not there,
/// then [`ADVICE`]. `channels` is None when no config was loaded.
///
/// # Errors
///
/// When writing to `out` fails.
pub fn write_report(
    out: &mut dyn Write,
    cards: &[Card],
    channels: Option<&[Channel]>,
) -> io::Result<()> {
    let uses = |card: &CardEntry| -> Vec<String> {
        let mut found = Vec::new();
        for channel in channels.unwrap_or(&[]) {
            let ends = [
                ("input", Some(channel.input())),
                ("output", channel.output()),
            ];
            for (end, device) in ends {
                if let Some(Device::Alsa(name)) = device
                    && card_ref(name).is_some_and(|r| r.matches(card))
                {
                    found.push(format!("{} {end} ({name})", channel.id));
                }
            }
        }
        found
    };
    if cards.is_empty() {
        writeln!(out, "no sound cards found")?;
    }
    for card in cards {
        let e = &card.entry;
        write!(out, "card {}: {} ({}, {})", e.index, e.id, e.name, e.driver)?;
        match (&card.usb_path, &card.usb_id) {
            (Some(path), Some((vendor, product))) => {
                write!(out, ", USB path {path}, id {vendor}:{product}")?
            }
            (Some(path), None) => write!(out, ", USB path {path}")?,
            _ => {}
        }
        writeln!(out)?;
        if !e.long_name.is_empty() {
            writeln!(out, "  {}", e.long_name)?;
        }
        for pcm in &card.pcms {
            let direction = match pcm.direction {
                PcmDirection::Capture => "capture ",
                PcmDirection::Playback => "playback",
            };
            writeln!(
                out,
                "  {direction} plughw:CARD={},DEV={}  {}",
                e.id, pcm.device, pcm.name
            )?;
        }
        if channels.is_some() {
            let used = uses(e);
            if used.is_empty() {
                writeln!(out, "  used by no channel")?;
            } else {
                writeln!(out, "  used by: {}", used.join(", "))?;
            }
        }
    }
    for channel in channels.unwrap_or(&[]) {
        let ends = [
            ("input", Some(channel.input())),
            ("output", channel.output()),
        ];
        for (end, device) in ends {
            match device {
                Some(Device::Alsa(name)) => {
                    if let Some(r) = card_ref(name)
                        && !cards.iter().any(|c| r.matches(&c.entry))
                    {
                        writeln!(
                            out,
                            "channel {} {end} {name}: no such card on this machine",
                            channel.id
                        )?;
                    }
                }
                Some(Device::File(path)) => writeln!(
                    out,
                    "channel {} {end}: WAV file {}",
                    channel.id,
                    path.display()
                )?,
                None => {}
            }
        }
    }
    writeln!(out)?;
    out.write_all(ADVICE.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Raspberry Pi 4 with two C-Media USB cards, one renamed by udev.
    const CARDS: &str = " 0 [Headphones     ]: bcm2835_headpho - bcm2835 Headphones
                      bcm2835 Headphones
 1 [Radio1         ]: USB-Audio - USB Audio Device
                      C-Media Electronics Inc. USB Audio Device at usb-0000:01:00.0-1.2, full speed
 2 [Device         ]: USB-Audio - USB PnP Sound Device
                      C-Media Electronics Inc. USB PnP Sound Device at usb-0000:01:00.0-1.3, full speed
";

    #[test]
    fn parses_cards() {
        let cards = parse_cards(CARDS);
        assert_eq!(cards.len(), 3);
        assert_eq!(cards[1].index, 1);
        assert_eq!(cards[1].id, "Radio1");
        assert_eq!(cards[1].driver, "USB-Audio");
        assert_eq!(cards[1].name, "USB Audio Device");
        assert!(
            cards[1]
                .long_name
                .ends_with("at usb-0000:01:00.0-1.2, full speed")
        );
        assert_eq!(cards[2].id, "Device");
        assert!(parse_cards("--- no soundcards ---\n").is_empty());
    }

    #[test]
    fn parses_pcm_info() {
        let info = "card: 1\ndevice: 0\nsubdevice: 0\nstream: CAPTURE\nid: USB Audio\n\
                    name: USB Audio\nsubname: subdevice #0\nclass: 0\nsubclass: 0\n\
                    subdevices_count: 1\nsubdevices_avail: 1\n";
        assert_eq!(
            parse_pcm_info(info),
            Some(PcmDevice {
                device: 0,
                direction: PcmDirection::Capture,
                name: "USB Audio".to_owned()
            })
        );
        assert_eq!(parse_pcm_info("card: 1\n"), None);
    }

    #[test]
    fn usb_path_from_sysfs_link() {
        assert_eq!(
            usb_path_from_link("../../../1-1.2:1.0").as_deref(),
            Some("1-1.2")
        );
        assert_eq!(
            usb_path_from_link("../../devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb1/1-1/1-1.3/1-1.3:1.0")
                .as_deref(),
            Some("1-1.3")
        );
        assert_eq!(usb_path_from_link("../../../0000:00:1f.3"), None);
        assert_eq!(usb_path_from_link("../../../bcm2835_headphones"), None);
    }

    #[test]
    fn card_references() {
        let id = |s: &str| Some(CardRef::Id(s.to_owned()));
        assert_eq!(card_ref("plughw:CARD=Radio1,DEV=0"), id("Radio1"));
        assert_eq!(card_ref("hw:DEV=0,CARD=Radio1"), id("Radio1"));
        assert_eq!(card_ref("hw:Radio1"), id("Radio1"));
        assert_eq!(card_ref("sysdefault:CARD=Radio1"), id("Radio1"));
        assert_eq!(card_ref("hw:1"), Some(CardRef::Index(1)));
        assert_eq!(card_ref("plughw:2,0"), Some(CardRef::Index(2)));
        assert_eq!(card_ref("default"), None);
        assert_eq!(card_ref("null"), None);
        let cards = parse_cards(CARDS);
        assert!(card_ref("hw:1").unwrap().matches(&cards[1]));
        assert!(!card_ref("hw:CARD=Radio1").unwrap().matches(&cards[2]));
    }
}
