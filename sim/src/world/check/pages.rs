//! `page_alerted_once`: every page the world put into a channel's source
//! alerts exactly once at that node and channel, with the page's
//! `tone_id`; an alert with no page under it is a false alert.
//!
//! An alert belongs to a page when its detection falls between the page's
//! first sample and [`GRACE_MS`] after its last (the detector fires when
//! the last tone has lasted its minimum, within a frame or two). A page
//! is judged once the channel's capture is [`GRACE_MS`] past that window
//! (so a run that stops in the middle of a page does not count it
//! missed).

use std::collections::HashMap;

use echostream_core::time::Instant;

use super::{Checker, NodeFacts, Observation, place};
use crate::world::source::PageTruth;

/// How long after a page's last sample its alert may come, ms.
pub const GRACE_MS: u64 = 1_000;

#[derive(Debug)]
struct Page {
    truth: PageTruth,
    alerts: u32,
    judged: bool,
}

/// See the [module docs](self).
#[derive(Debug)]
pub struct PageAlertedOnce {
    nodes: Vec<NodeFacts>,
    pages: HashMap<(usize, usize), Vec<Page>>,
}

impl PageAlertedOnce {
    /// For `nodes`' channels whose pages are known.
    pub fn new(nodes: &[NodeFacts]) -> PageAlertedOnce {
        PageAlertedOnce {
            nodes: nodes.to_vec(),
            pages: HashMap::new(),
        }
    }

    fn grace(&self, node: usize, channel: usize) -> u64 {
        let rate = self.nodes[node].channels[channel].rate_hz;
        GRACE_MS * u64::from(rate) / 1_000
    }
}

impl Checker for PageAlertedOnce {
    fn name(&self) -> &'static str {
        "page_alerted_once"
    }

    fn observe(&mut self, _now: Instant, observation: &Observation<'_>, found: &mut Vec<String>) {
        match *observation {
            Observation::Page {
                node,
                channel,
                page,
            } => {
                self.pages.entry((node, channel)).or_default().push(Page {
                    truth: page.clone(),
                    alerts: 0,
                    judged: false,
                });
            }
            Observation::Alert {
                node,
                channel,
                event,
                alert,
            } => {
                let Some(facts) = self.nodes.get(node).and_then(|n| n.channels.get(channel)) else {
                    return;
                };
                if !facts.pages_known {
                    return;
                }
                let tone_id = event
                    .definition
                    .and_then(|d| facts.alerts.get(d.get()))
                    .map_or("?", |(id, _)| id.as_str())
                    .to_owned();
                let grace = self.grace(node, channel);
                let at = event.detected_at.0;
                let here = place(&self.nodes, node, channel);
                let pages = self.pages.entry((node, channel)).or_default();
                let under = pages
                    .iter_mut()
                    .filter(|p| (p.truth.start..p.truth.end + grace).contains(&at))
                    .collect::<Vec<_>>();
                match under.into_iter().find(|p| p.truth.tone_id == tone_id) {
                    Some(page) => {
                        page.alerts += 1;
                        if page.alerts > 1 {
                            found.push(format!(
                                "{here}: page `{tone_id}` at sample {} alerted {} times \
                                 (alert {})",
                                page.truth.start, page.alerts, alert.0
                            ));
                        }
                    }
                    None => found.push(format!(
                        "{here}: alert {} `{tone_id}` at sample {at} with no such page there",
                        alert.0
                    )),
                }
            }
            Observation::Reached {
                node,
                channel,
                sample,
            } => {
                let grace = self.grace(node, channel);
                let Some(pages) = self.pages.get_mut(&(node, channel)) else {
                    return;
                };
                for page in pages.iter_mut().filter(|p| !p.judged) {
                    if page.truth.end + 2 * grace > sample {
                        break;
                    }
                    page.judged = true;
                    if page.alerts == 0 {
                        found.push(format!(
                            "{}: page `{}` at samples {}..{} never alerted",
                            place(&self.nodes, node, channel),
                            page.truth.tone_id,
                            page.truth.start,
                            page.truth.end
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}
