//! Channel checks: ids, devices, GPIO lines, timers, DTMF.

use echostream_core::tone::dtmf::SequenceConfig;
use std::collections::HashMap;

use echostream_core::MAX_CHANNELS;

use super::check_name;
use crate::config::channel::{Channel, Cor, Device, Dtmf, Timers};
use crate::config::problem::Problems;
use crate::config::refusal;
use crate::config::schema::Config;

pub(super) fn check(problems: &mut Problems, config: &Config) {
    let channels = &config.channels;
    if channels.is_empty() {
        problems.error(
            "channels",
            "no channels; at least one radio channel is needed",
        );
    }
    if channels.len() > MAX_CHANNELS {
        problems.error(
            "channels",
            format!(
                "{} channels; one node serves at most {MAX_CHANNELS}",
                channels.len()
            ),
        );
    }

    let mut ids: HashMap<&str, usize> = HashMap::new();
    for (index, channel) in channels.iter().enumerate() {
        let path = format!("channels[{index}].id");
        check_name(problems, &path, &channel.id);
        if let Some(first) = ids.get(channel.id.as_str()) {
            problems.error(
                path,
                format!("`{}` is already the id of channels[{first}]", channel.id),
            );
        } else {
            ids.insert(&channel.id, index);
        }
    }

    for (index, channel) in channels.iter().enumerate() {
        check_channel(problems, index, channel);
    }
    check_shared_devices(problems, channels);
    check_gpio_lines(problems, channels);
}

fn check_channel(problems: &mut Problems, index: usize, channel: &Channel) {
    let base = format!("channels[{index}]");
    check_device(
        problems,
        &format!("{base}.input_device"),
        &channel.input_device,
    );
    if channel.input_loop
        && let Device::Alsa(name) = channel.input()
    {
        problems.warning(
            format!("{base}.input_loop"),
            format!("only file: sources loop; ignored for the ALSA device `{name}`"),
        );
    }
    if let Some(output) = &channel.output_device {
        check_device(problems, &format!("{base}.output_device"), output);
    }

    match &channel.cor {
        Cor::Gpio(gpio) => check_chip(problems, &format!("{base}.cor.gpio.chip"), &gpio.chip),
        Cor::Vox(vox) => {
            if !(vox.threshold_dbfs.is_finite()
                && vox.threshold_dbfs < 0.0
                && vox.threshold_dbfs >= -90.0)
            {
                problems.error(
                    format!("{base}.cor.vox.threshold_dbfs"),
                    format!(
                        "{} dBFS is outside -90 to 0 dBFS (levels are below full scale, so negative; e.g. -40)",
                        vox.threshold_dbfs
                    ),
                );
            }
        }
        Cor::Always => {}
    }

    if let Some(ptt) = &channel.ptt {
        check_chip(problems, &format!("{base}.ptt.chip"), &ptt.chip);
        if channel.output_device.is_none() {
            problems.warning(
                format!("{base}.ptt"),
                "the channel has no output_device, so nothing is ever played and PTT never keys",
            );
        }
    }

    check_timers(problems, index, &channel.timers);
    if !(100..=60_000).contains(&channel.busy_wait_ms) {
        problems.error(
            format!("{base}.busy_wait_ms"),
            format!(
                "{} ms is not between 100 and 60000 ms",
                channel.busy_wait_ms
            ),
        );
    }
    if let Some(dtmf) = &channel.dtmf {
        check_dtmf(problems, index, dtmf);
    }
}

fn check_device(problems: &mut Problems, path: &str, spec: &str) {
    if spec.trim().is_empty() {
        problems.error(
            path,
            "is empty; give an ALSA PCM name (e.g. plughw:CARD=Radio1,DEV=0) or file:PATH.wav",
        );
        return;
    }
    if spec.trim() != spec {
        problems.error(path, format!("`{spec}` has leading or trailing spaces"));
        return;
    }
    match Device::parse(spec) {
        Device::File(file) => {
            if file.as_os_str().is_empty() {
                problems.error(path, "file: needs a path, e.g. file:samples/pages.wav");
            } else if !file
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("wav"))
            {
                problems.warning(
                    path,
                    format!(
                        "`{}` does not end in .wav; file sources and sinks are WAV files",
                        file.display()
                    ),
                );
            }
        }
        Device::Alsa(name) => {
            if alsa_card_number(name) {
                problems.warning(
                    path,
                    format!(
                        "`{name}` names the card by number, which changes when USB cards are \
                         re-plugged or enumerate in another order; use a stable name such as \
                         plughw:CARD=Radio1,DEV=0 (`echostream devices` lists them)"
                    ),
                );
            }
        }
    }
}

/// Whether an ALSA PCM name picks its card by index: `hw:1`, `plughw:1,0`,
/// `hw:CARD=1`.
fn alsa_card_number(name: &str) -> bool {
    let Some((_, args)) = name.split_once(':') else {
        return false;
    };
    let card = args.split(',').next().unwrap_or_default();
    let card = card.strip_prefix("CARD=").unwrap_or(card);
    !card.is_empty() && card.bytes().all(|b| b.is_ascii_digit())
}

fn check_chip(problems: &mut Problems, path: &str, chip: &str) {
    if chip.trim().is_empty() {
        problems.error(path, "is empty; give the GPIO chip, e.g. gpiochip0");
    }
}

/// `gpiochip0` and `/dev/gpiochip0` are the same chip.
fn chip_name(chip: &str) -> &str {
    chip.strip_prefix("/dev/").unwrap_or(chip)
}

/// Two channels cannot write one file; a hardware PCM opens only once.
fn check_shared_devices(problems: &mut Problems, channels: &[Channel]) {
    let mut inputs: HashMap<&str, usize> = HashMap::new();
    let mut outputs: HashMap<&str, usize> = HashMap::new();
    for (index, channel) in channels.iter().enumerate() {
        if let Device::Alsa(name) = channel.input()
            && name != "null"
            && !name.is_empty()
        {
            if let Some(first) = inputs.get(name) {
                problems.warning(
                    format!("channels[{index}].input_device"),
                    format!(
                        "`{name}` is also captured by channels[{first}]; a hardware device \
                         opens only once (share it through a dsnoop device)"
                    ),
                );
            } else {
                inputs.insert(name, index);
            }
        }
        let Some(spec) = channel.output_device.as_deref() else {
            continue;
        };
        if spec == "null" || spec.is_empty() {
            continue;
        }
        if let Some(first) = outputs.get(spec) {
            match Device::parse(spec) {
                Device::File(file) => problems.error(
                    format!("channels[{index}].output_device"),
                    format!(
                        "file `{}` is already written by channels[{first}]",
                        file.display()
                    ),
                ),
                Device::Alsa(name) => problems.warning(
                    format!("channels[{index}].output_device"),
                    format!(
                        "`{name}` is also played by channels[{first}]; a hardware device \
                         opens only once (share it through a dmix device)"
                    ),
                ),
            }
        } else {
            outputs.insert(spec, index);
        }
    }
}

/// A GPIO line belongs to one user: the kernel refuses a second request,
/// and a COR wired to a PTT line would key the radio on its own receiver.
fn check_gpio_lines(problems: &mut Problems, channels: &[Channel]) {
    let mut used: HashMap<(&str, u32), String> = HashMap::new();
    for (index, channel) in channels.iter().enumerate() {
        let cor = match &channel.cor {
            Cor::Gpio(gpio) => Some((
                gpio.chip.as_str(),
                gpio.line,
                format!("channels[{index}].cor.gpio.line"),
            )),
            Cor::Vox(_) | Cor::Always => None,
        };
        let ptt = channel.ptt.as_ref().map(|ptt| {
            (
                ptt.chip.as_str(),
                ptt.line,
                format!("channels[{index}].ptt.line"),
            )
        });
        for (chip, line, path) in cor.into_iter().chain(ptt) {
            let key = (chip_name(chip), line);
            if let Some(first) = used.get(&key) {
                problems.error(
                    path,
                    format!(
                        "line {line} on {} is already used by {first}",
                        chip_name(chip)
                    ),
                );
            } else {
                used.insert(key, path);
            }
        }
    }
}

fn check_timers(problems: &mut Problems, index: usize, timers: &Timers) {
    let base = format!("channels[{index}]");
    // What core's radio machines refuse, in the file's words.
    if let Err(error) = timers.core().check() {
        let refusal = refusal::timers(index, error);
        problems.error(refusal.path, refusal.reason);
    }
    if timers.timeout_s > 600 {
        problems.warning(
            format!("{base}.timers.timeout_s"),
            format!(
                "{} s lets a stuck transmitter stay keyed for over 10 minutes",
                timers.timeout_s
            ),
        );
    }
    if timers.cor_debounce_ms > 500 {
        problems.warning(
            format!("{base}.timers.cor_debounce_ms"),
            format!(
                "{} ms cuts the start of every transmission (20 to 50 ms is usual)",
                timers.cor_debounce_ms
            ),
        );
    }
}

fn check_dtmf(problems: &mut Problems, index: usize, dtmf: &Dtmf) {
    // What the detector and the sequencer refuse, in the file's words
    // (whether or not the section is enabled).
    for error in crate::tone_plan::dtmf_config(dtmf).refusals() {
        let refusal = refusal::dtmf(index, dtmf, error);
        problems.error(refusal.path, refusal.reason);
    }
    if let Err(error) = SequenceConfig::check_timeout_ms(dtmf.sequence_timeout_ms) {
        let refusal = refusal::dtmf_sequence(index, error);
        problems.error(refusal.path, refusal.reason);
    }
}
