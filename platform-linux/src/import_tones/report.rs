//! What the import tells the person running it: per tone set what it
//! became, what changed on the way, and, once for the whole file, what to
//! use instead of each TwoToneDetect setting that has no equivalent.

use std::collections::BTreeMap;
use std::io::{self, Write};

use echostream_core::tone::{
    MAX_GAP_MS, MAX_LENGTH_MS, MAX_RANGE_FRACTION, MIN_LENGTH_MS, RECOMMENDED_RANGE_FRACTION,
    TwoToneDef,
};

use echostream_core::wire::signal::MAX_ID_LEN;

use super::Problem;
use super::advice::{Advice, instead};
use super::convert::{
    Conversion, LONG_LENGTH_MS, NewLongTone, NewTwoTone, Note, RANGE_FLOOR_FRACTION, SetReport,
};

/// Where the definitions went.
#[derive(Debug, Clone, Copy)]
pub enum Destination<'a> {
    /// Printed on standard output.
    Printed,
    /// Written into this config file.
    Into(&'a str),
}

/// Writes the report on `conversion` of `tones_file`, whose definitions
/// listen on `channel`, with the loader's `warnings` about them.
///
/// # Errors
///
/// Only `out`'s.
pub fn write(
    out: &mut dyn Write,
    tones_file: &str,
    conversion: &Conversion,
    channel: &str,
    destination: Destination<'_>,
    warnings: &[Problem],
) -> io::Result<()> {
    writeln!(
        out,
        "{tones_file}: {} tone set{}",
        conversion.sets.len(),
        plural(conversion.sets.len())
    )?;
    for set in &conversion.sets {
        write_set(out, conversion, set)?;
    }
    for warning in warnings {
        writeln!(out, "warning: {warning}")?;
    }
    let skipped = conversion.sets.iter().filter(|s| s.skipped()).count();
    let made = conversion.tones.len() + conversion.long_tones.len();
    let whereto = match destination {
        Destination::Printed => "printed on standard output".to_owned(),
        Destination::Into(config) => format!("added to {config}, which passes check-config"),
    };
    writeln!(
        out,
        "{made} definition{} on channel `{channel}` ({} two-tone, {} long tone), {whereto}; \
         {skipped} set{} skipped",
        plural(made),
        conversion.tones.len(),
        conversion.long_tones.len(),
        plural(skipped),
    )?;
    write_advice(out, conversion)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn write_set(out: &mut dyn Write, conversion: &Conversion, set: &SetReport) -> io::Result<()> {
    let name = format!("[{}]", set.section);
    if let Some(t) = set.two_tone.map(|i| &conversion.tones[i]) {
        writeln!(out, "{name} two-tone {}", describe_two_tone(t))?;
    }
    if let Some(t) = set.long_tone.map(|i| &conversion.long_tones[i]) {
        writeln!(out, "{name} long tone {}", describe_long_tone(t))?;
    }
    if set.skipped() {
        let why = set
            .notes
            .iter()
            .find_map(|n| match n {
                Note::HalfPair { has, lacks } => Some(format!("{has} without {lacks}")),
                _ => None,
            })
            .unwrap_or_else(|| "no tones (atone and btone, or longtone, are empty)".to_owned());
        writeln!(out, "{name} skipped: {why}")?;
    }
    for note in &set.notes {
        if let Some(text) = describe_note(note, set.skipped()) {
            writeln!(out, "    {text}")?;
        }
    }
    let used: Vec<String> = set.defaults.iter().map(|k| describe_default(k)).collect();
    if !used.is_empty() {
        writeln!(
            out,
            "    not set, EchoStream's value used: {}",
            used.join(", ")
        )?;
    }
    if !set.unmapped.is_empty() {
        let keys: Vec<&str> = set.unmapped.iter().map(|u| u.key.as_str()).collect();
        writeln!(out, "    no equivalent (see below): {}", keys.join(", "))?;
    }
    Ok(())
}

/// `` `North Station`: A 349 Hz ±3.5 Hz at least 800 ms, B … ``
fn describe_two_tone(t: &NewTwoTone) -> String {
    format!(
        "`{}`: A {} Hz ±{} Hz at least {} ms, B {} Hz ±{} Hz at least {} ms{}",
        t.tone_id,
        t.tone_a_freq,
        t.tone_a_range_hz,
        t.tone_a_length_ms,
        t.tone_b_freq,
        t.tone_b_range_hz,
        t.tone_b_length_ms,
        extras(
            t.record_length_ms,
            t.record_delay_ms,
            t.ignore_after_ms,
            t.max_gap_ms
        ),
    )
}

fn describe_long_tone(t: &NewLongTone) -> String {
    format!(
        "`{}`: {} Hz ±{} Hz at least {} ms{}",
        t.tone_id,
        t.freq_hz,
        t.range_hz,
        t.length_ms,
        extras(
            t.record_length_ms,
            t.record_delay_ms,
            t.ignore_after_ms,
            None
        ),
    )
}

/// `, gap ≤ 300 ms, records 40000 ms after 1500 ms, ignores repeats 45000 ms`
fn extras(
    record_length_ms: Option<u32>,
    record_delay_ms: Option<u32>,
    ignore_after_ms: Option<u32>,
    max_gap_ms: Option<u32>,
) -> String {
    let mut text = String::new();
    if let Some(ms) = max_gap_ms {
        text.push_str(&format!(", gap up to {ms} ms"));
    }
    match (record_length_ms, record_delay_ms) {
        (Some(0), _) => text.push_str(", no recording"),
        (Some(length), Some(delay)) => {
            text.push_str(&format!(", records {length} ms after {delay} ms"));
        }
        (Some(length), None) => text.push_str(&format!(", records {length} ms")),
        (None, Some(delay)) => text.push_str(&format!(", recording {delay} ms after the tones")),
        (None, None) => {}
    }
    if let Some(ms) = ignore_after_ms {
        text.push_str(&format!(", repeats ignored for {ms} ms"));
    }
    text
}

fn describe_note(note: &Note, skipped: bool) -> Option<String> {
    Some(match note {
        Note::ToneId { original, tone_id } => format!(
            "tone_id `{tone_id}` made from `{original}`: a tone_id is unique, printable ASCII \
             without `/`, `\\` or `\"`, at most {MAX_ID_LEN} characters"
        ),
        Note::ToleranceRaised { fraction } => format!(
            "tone_tolerance {fraction} raised to {RANGE_FLOOR_FRACTION}: a narrower window \
             misses pages from an encoder a little off"
        ),
        Note::ToleranceLowered { fraction } => format!(
            "tone_tolerance {fraction} lowered to {MAX_RANGE_FRACTION}, the widest EchoStream takes"
        ),
        Note::LengthRaised { key, from_ms } => format!(
            "{key} {from_ms} ms raised to {MIN_LENGTH_MS} ms, the shortest tone EchoStream measures"
        ),
        Note::LengthLowered { key, from_ms } => format!(
            "{key} {from_ms} ms lowered to {MAX_LENGTH_MS} ms, the longest EchoStream takes"
        ),
        Note::GapLowered { from_ms } => format!(
            "gaplength {from_ms} ms lowered to {MAX_GAP_MS} ms, the longest gap EchoStream takes"
        ),
        Note::GapUnused => "gaplength not used: a long tone has no gap".to_owned(),
        // A skipped set says it on its own line.
        Note::HalfPair { .. } if skipped => return None,
        Note::HalfPair { has, lacks } => format!("no two-tone page: {has} without {lacks}"),
    })
}

/// `atonelength (800 ms)`: the value the import wrote for an empty key.
fn describe_default(key: &str) -> String {
    // The lengths do not depend on the tones.
    let quick_call = TwoToneDef::quick_call(1_000.0, 2_000.0);
    match key {
        "atonelength" => format!("{key} ({} ms)", quick_call.a_length_ms),
        "btonelength" => format!("{key} ({} ms)", quick_call.b_length_ms),
        "longtonelength" => format!("{key} ({LONG_LENGTH_MS} ms)"),
        "tone_tolerance" => format!("{key} (±{} %)", RECOMMENDED_RANGE_FRACTION * 100.0),
        _ => key.to_owned(),
    }
}

/// The settings of one [`Advice`] kind found in the file.
#[derive(Default)]
struct Unmatched<'a> {
    /// The keys, each once, in the order first seen.
    keys: Vec<&'a str>,
    /// How many sets have one of them.
    sets: usize,
    /// (section, command) for the command keys.
    commands: Vec<(&'a str, &'a str)>,
}

/// Once per kind of setting with no equivalent: which keys, in how many
/// sets, and what EchoStream has instead; the commands themselves, since
/// they have to be ported by hand.
fn write_advice(out: &mut dyn Write, conversion: &Conversion) -> io::Result<()> {
    let mut kinds: BTreeMap<Advice, Unmatched<'_>> = BTreeMap::new();
    for set in &conversion.sets {
        let mut counted: Vec<Advice> = Vec::new();
        for u in &set.unmapped {
            let kind = kinds.entry(u.advice).or_default();
            if !kind.keys.contains(&u.key.as_str()) {
                kind.keys.push(&u.key);
            }
            if !counted.contains(&u.advice) {
                counted.push(u.advice);
                kind.sets += 1;
            }
            if let Some(value) = &u.value {
                kind.commands.push((&set.section, value));
            }
        }
    }
    if kinds.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "TwoToneDetect settings with no equivalent in a tone definition:"
    )?;
    for advice in Advice::ALL {
        let Some(kind) = kinds.get(&advice) else {
            continue;
        };
        writeln!(
            out,
            "  {} ({} set{}): {}",
            kind.keys.join(", "),
            kind.sets,
            plural(kind.sets),
            instead(advice)
        )?;
        for (section, command) in &kind.commands {
            writeln!(out, "      [{section}] {}", command.replace('\n', " "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_tones::{Existing, convert};

    fn report(text: &str) -> String {
        let conversion = convert(text, "pages", &Existing::default()).unwrap();
        let mut out = Vec::new();
        write(
            &mut out,
            "tones.cfg",
            &conversion,
            "pages",
            Destination::Printed,
            &[],
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_set_says_what_it_became() {
        let text = report(
            "[North]\ndescription = North Station\natone = 349\nbtone = 707.3\natonelength = .6\n\
             [All]\nlongtone = 1598\nlongtonelength = 8\nrecord_seconds = 0\n[Spare]\natone =\n",
        );
        assert!(
            text.contains("[North] two-tone `North Station`: A 349 Hz ±3.5 Hz at least 600 ms, B 707.3 Hz ±7.1 Hz at least 2000 ms\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "    not set, EchoStream's value used: btonelength (2000 ms), tone_tolerance (±1 %)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("[All] long tone `All`: 1598 Hz ±16 Hz at least 8000 ms, no recording\n"),
            "{text}"
        );
        assert!(text.contains("[Spare] skipped: no tones"), "{text}");
        assert!(
            text.contains("2 definitions on channel `pages` (1 two-tone, 1 long tone), printed on standard output; 1 set skipped"),
            "{text}"
        );
    }

    #[test]
    fn settings_without_equivalent_are_explained_once_with_commands_listed() {
        let text = report(
            "[A]\natone = 349\nbtone = 707.3\nmp3_emails = a@example.org\npushover_token = t0ken\n\
             alert_command = notify.sh [d]\n\
             [B]\natone = 389\nbtone = 832.5\ntext_emails = b@example.org\nmp3_emails = c@example.org\n",
        );
        assert!(
            text.contains(
                "    no equivalent (see below): mp3_emails, pushover_token, alert_command\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("  mp3_emails, text_emails (2 sets): EchoStream sends no e-mail."),
            "{text}"
        );
        assert!(text.contains("  pushover_token (1 set): "), "{text}");
        assert!(text.contains("JSON on standard input"), "{text}");
        assert!(text.contains("      [A] notify.sh [d]\n"), "{text}");
        assert!(
            !text.contains("example.org") && !text.contains("t0ken"),
            "{text}"
        );
    }
}
