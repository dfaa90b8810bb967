//! TwoToneDetect settings that no tone definition holds (e-mail,
//! Pushbullet, Pushover, commands), and what EchoStream offers instead.
//!
//! They are listed, never carried over: EchoStream delivers events to
//! MQTT, webhooks and one node-wide `alert_command` (README "Events leave
//! the node"), not per tone set. Their values are not repeated (addresses
//! and tokens), except commands, which have to be ported by hand.

use super::ini::Section;

/// A key with a value and no equivalent in a tone definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmapped {
    /// The key, lowercased.
    pub key: String,
    /// The value, kept only for commands (which have to be ported by hand);
    /// addresses and tokens are not repeated.
    pub value: Option<String>,
    /// What to use instead.
    pub advice: Advice,
}

/// What EchoStream offers instead of a TwoToneDetect setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Advice {
    /// E-mail recipients and their texts.
    Email,
    /// Pushbullet.
    Pushbullet,
    /// Pushover.
    Pushover,
    /// A command run on detection.
    AlertCommand,
    /// A command run once the recording was sent.
    PostEmailCommand,
    /// Playing the recorded audio while it is recorded.
    Playback,
    /// The radio frequency, for people's information.
    RadioFrequency,
    /// A key this importer does not know.
    Other,
}

impl Advice {
    /// Every kind, in the order the report explains them.
    pub const ALL: [Advice; 8] = [
        Advice::Email,
        Advice::Pushbullet,
        Advice::Pushover,
        Advice::AlertCommand,
        Advice::PostEmailCommand,
        Advice::Playback,
        Advice::RadioFrequency,
        Advice::Other,
    ];

    /// The kind of a key the import does not read.
    pub fn of(key: &str) -> Advice {
        match key {
            "alert_command" => Advice::AlertCommand,
            "post_email_command" => Advice::PostEmailCommand,
            "playback_during_record" => Advice::Playback,
            "radio_frequency" => Advice::RadioFrequency,
            _ if key.starts_with("pushbullet") => Advice::Pushbullet,
            _ if key.starts_with("pushover") => Advice::Pushover,
            _ if key.contains("email") => Advice::Email,
            _ => Advice::Other,
        }
    }
}

/// The keys the import reads into definitions.
pub const IMPORTED_KEYS: [&str; 12] = [
    "description",
    "atone",
    "btone",
    "longtone",
    "atonelength",
    "btonelength",
    "longtonelength",
    "tone_tolerance",
    "gaplength",
    "ignore_after",
    "record_delay",
    "record_seconds",
];

/// Keys with a value that no definition field takes.
pub(super) fn unmapped(section: &Section) -> Vec<Unmapped> {
    section
        .entries
        .iter()
        .filter(|e| !e.value.is_empty() && !IMPORTED_KEYS.contains(&e.key.as_str()))
        .map(|e| {
            let advice = Advice::of(&e.key);
            let value = matches!(advice, Advice::AlertCommand | Advice::PostEmailCommand)
                .then(|| e.value.clone());
            Unmapped {
                key: e.key.clone(),
                value,
                advice,
            }
        })
        .collect()
}

/// What to use instead of a kind of TwoToneDetect setting.
pub fn instead(advice: Advice) -> &'static str {
    match advice {
        Advice::Email => {
            "EchoStream sends no e-mail. Send its events to a webhook (README \"Webhooks\") \
             that mails or texts them, to MQTT, or to a program with `alert_command`; with an \
             S3 store the `recording` event carries a link to the audio."
        }
        Advice::Pushbullet => {
            "a webhook POSTing each event to Pushbullet's API (README \"Webhooks\", with the \
             access token in `headers`), or `alert_command` running a script that pushes."
        }
        Advice::Pushover => {
            "a webhook or `alert_command` script that posts to Pushover's API with your \
             application token and user key (README \"Webhooks\", \"Alert commands\")."
        }
        Advice::AlertCommand => {
            "EchoStream's `alert_command` (one per node, for every alert) runs a program \
             directly, not through a shell, with the event as JSON on standard input and \
             ECHOSTREAM_TONE_ID, ECHOSTREAM_ALERT_TYPE, ECHOSTREAM_CHANNEL, ECHOSTREAM_TIME in \
             its environment instead of [d] and [t]; a command per set becomes a branch on \
             ECHOSTREAM_TONE_ID. The sets' commands:"
        }
        Advice::PostEmailCommand => {
            "`alert_command` with \"events\": [\"recording\"] runs once the recording is \
             finished, with its file in ECHOSTREAM_RECORDING_PATH (with S3: \
             ECHOSTREAM_RECORDING_URL) instead of [mp3]. The sets' commands:"
        }
        Advice::Playback => {
            "`passthrough` on a definition plays the page's audio on another channel for \
             record_length_ms."
        }
        Advice::RadioFrequency => {
            "a channel hears whatever its radio is tuned to; the frequency is no part of a \
             definition (name the channel after it)."
        }
        Advice::Other => "not known to this import; not imported.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import_tones::ini;

    #[test]
    fn keys_without_equivalent_are_listed_with_commands_kept_and_secrets_not() {
        let doc = ini::parse(
            "[A]\natone = 349\nbtone = 707.3\nMP3_Emails = chief@example.org\ntext_emails =\n\
             pushover_token = abc123\nalert_command = notify.sh [d] [mp3]\nradio_frequency = 154.43\n\
             exclude_from = 2200\n",
        );
        let found = unmapped(&doc.sections[0]);
        let listed: Vec<(&str, Advice, Option<&str>)> = found
            .iter()
            .map(|u| (u.key.as_str(), u.advice, u.value.as_deref()))
            .collect();
        assert_eq!(
            listed,
            [
                ("mp3_emails", Advice::Email, None),
                ("pushover_token", Advice::Pushover, None),
                (
                    "alert_command",
                    Advice::AlertCommand,
                    Some("notify.sh [d] [mp3]")
                ),
                ("radio_frequency", Advice::RadioFrequency, None),
                ("exclude_from", Advice::Other, None),
            ]
        );
    }
}
