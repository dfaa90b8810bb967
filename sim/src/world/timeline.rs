//! What happened in a run, in order, for people: who connected, keyed,
//! talked and heard what, which pages alerted and what was recorded, and
//! every fault the world put in. Equal runs have equal timelines.

use std::fmt;

use echostream_core::time::Instant;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// The signaling link opened.
    Connected,
    /// Welcomed, the UDP side ready.
    Welcomed {
        /// The key's id.
        key_id: u8,
    },
    /// The link went down.
    Disconnected {
        /// Why, in words.
        reason: String,
    },
    /// The relay gave a new key.
    Rekeyed {
        /// Its id.
        key_id: u8,
    },
    /// A channel started or stopped sending (its gate).
    Talkspurt {
        /// The channel's id.
        channel: String,
        /// Sending now.
        active: bool,
    },
    /// A PTT line changed.
    Ptt {
        /// The channel's id.
        channel: String,
        /// Keyed now.
        keyed: bool,
        /// The PTT machine's reason.
        reason: String,
    },
    /// A receiver's COR opened or closed (the engine's debounced view).
    Cor {
        /// The channel's id.
        channel: String,
        /// Open now.
        open: bool,
    },
    /// A channel's output started playing a talk-spurt.
    Playing {
        /// The channel's id.
        channel: String,
    },
    /// A channel's output finished a talk-spurt.
    Heard {
        /// The channel's id.
        channel: String,
        /// Frames decoded.
        frames: u64,
        /// Frames concealed.
        concealed: u64,
    },
    /// A page alerted.
    Alert {
        /// The channel's id.
        channel: String,
        /// The definition's `tone_id`.
        tone_id: String,
        /// The alert's id.
        alert: u32,
    },
    /// A DTMF sequence ended.
    Dtmf {
        /// The channel's id.
        channel: String,
        /// The digits.
        digits: String,
    },
    /// Another site's page.
    RemoteAlert {
        /// The channel's id.
        channel: String,
        /// The site.
        from: String,
        /// Its `tone_id`.
        tone_id: String,
    },
    /// A recording effect.
    Recording {
        /// The channel's id.
        channel: String,
        /// What, in words.
        effect: String,
    },
    /// A passthrough started, was extended or ended.
    Passthrough {
        /// The source channel's id.
        source: String,
        /// The target's.
        target: String,
        /// What.
        edge: String,
    },
    /// Remote audio waiting for a busy receiver was dropped.
    AudioDropped {
        /// The channel's id.
        channel: String,
        /// Frames.
        frames: u32,
    },
    /// A capture side's input ended.
    InputEnded {
        /// The channel's id.
        channel: String,
    },
    /// The world put in a fault or a change (an outage, a restart, a
    /// rekey, a COR change, a link change, a shutdown).
    Fault {
        /// What, in words.
        what: String,
    },
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// When.
    pub at: Instant,
    /// Which node (its id), or `None` for the relay and the world.
    pub node: Option<String>,
    /// What.
    pub what: What,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.at.as_micros() as f64 / 1e6;
        write!(
            f,
            "{secs:>10.3}  {:<10} ",
            self.node.as_deref().unwrap_or("-")
        )?;
        match &self.what {
            What::Connected => f.write_str("connected"),
            What::Welcomed { key_id } => write!(f, "welcomed (key {key_id})"),
            What::Disconnected { reason } => write!(f, "disconnected: {reason}"),
            What::Rekeyed { key_id } => write!(f, "rekeyed (key {key_id})"),
            What::Talkspurt { channel, active } => {
                write!(
                    f,
                    "{channel}: {}",
                    if *active { "sends" } else { "stops sending" }
                )
            }
            What::Ptt {
                channel,
                keyed,
                reason,
            } => write!(
                f,
                "{channel}: PTT {} ({reason})",
                if *keyed { "keyed" } else { "released" }
            ),
            What::Cor { channel, open } => {
                write!(
                    f,
                    "{channel}: COR {}",
                    if *open { "open" } else { "closed" }
                )
            }
            What::Playing { channel } => write!(f, "{channel}: plays a talk-spurt"),
            What::Heard {
                channel,
                frames,
                concealed,
            } => write!(f, "{channel}: heard {frames} frames, {concealed} concealed"),
            What::Alert {
                channel,
                tone_id,
                alert,
            } => write!(f, "{channel}: ALERT {tone_id} (alert {alert})"),
            What::Dtmf { channel, digits } => write!(f, "{channel}: DTMF {digits}"),
            What::RemoteAlert {
                channel,
                from,
                tone_id,
            } => write!(f, "{channel}: {from} heard {tone_id}"),
            What::Recording { channel, effect } => write!(f, "{channel}: recording {effect}"),
            What::Passthrough {
                source,
                target,
                edge,
            } => write!(f, "{source} -> {target}: passthrough {edge}"),
            What::AudioDropped { channel, frames } => {
                write!(f, "{channel}: {frames} frames dropped (busy)")
            }
            What::InputEnded { channel } => write!(f, "{channel}: input ended"),
            What::Fault { what } => write!(f, "** {what}"),
        }
    }
}

/// Every entry of a run, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The entries.
    pub entries: Vec<Entry>,
}

impl Timeline {
    /// Adds an entry.
    pub fn push(&mut self, at: Instant, node: Option<&str>, what: What) {
        self.entries.push(Entry {
            at,
            node: node.map(str::to_owned),
            what,
        });
    }

    /// The entries matching `f`.
    pub fn filter(&self, f: impl Fn(&Entry) -> bool) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| f(e))
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            writeln!(f, "{entry}")?;
        }
        Ok(())
    }
}
