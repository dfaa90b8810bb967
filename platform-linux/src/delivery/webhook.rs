//! Webhooks: each matching event POSTed as JSON, in order, until a 2xx.
//!
//! One thread per webhook, its own outbox consumer (`webhook:N`), so one
//! endpoint down holds back no other destination. An event is
//! acknowledged (leaves the outbox for this webhook) only on a 2xx
//! answer; anything else (a refused connection, a timeout, a 500, a 401)
//! is retried with exponential backoff up to `backoff_max_s`, and the
//! events after it wait: delivery is in order. The first failure of a run
//! is logged as an error, later ones of the same run as debug, and the
//! recovery once.

use std::time::Duration;

use super::{Backoff, Consumer, Stop};
use crate::config::Webhook;
use crate::outbox::Entry;

/// The event types a webhook gets when its `events` list is empty.
pub const DEFAULT_EVENTS: [&str; 7] = [
    "two_tone",
    "long_tone",
    "hi_low",
    "pulsed",
    "dtmf_sequence",
    "remote_alert",
    "recording",
];

/// The `events` filter of `webhook`, as owned strings (for the outbox
/// filter, which outlives the config).
pub fn event_types(webhook: &Webhook) -> Vec<String> {
    if webhook.events.is_empty() {
        DEFAULT_EVENTS.iter().map(|&e| e.to_owned()).collect()
    } else {
        webhook.events.clone()
    }
}

/// Why one POST did not deliver.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The endpoint answered, not with a 2xx.
    #[error("answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// No answer: refused, reset, timed out, TLS failed.
    #[error("{0}")]
    Transport(String),
}

/// POSTs events to one URL.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    url: String,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    timeout: Duration,
}

impl WebhookClient {
    /// A client for `webhook`.
    pub fn new(webhook: &Webhook) -> WebhookClient {
        WebhookClient {
            url: webhook.url.clone(),
            // `check-config` refused names and values that do not parse.
            headers: webhook
                .headers
                .iter()
                .filter_map(|(k, v)| {
                    Some((
                        http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                        http::HeaderValue::from_str(v).ok()?,
                    ))
                })
                .collect(),
            timeout: Duration::from_millis(u64::from(webhook.timeout_ms)),
        }
    }

    /// POSTs `body` (one event's JSON) with `Content-Type:
    /// application/json` and the configured headers.
    ///
    /// # Errors
    /// Not a 2xx, or no answer within the timeout.
    pub fn post(&self, body: &[u8]) -> Result<u16, PostError> {
        let mut request = attohttpc::post(&self.url)
            .timeout(self.timeout)
            .read_timeout(self.timeout)
            .connect_timeout(self.timeout)
            .follow_redirects(false)
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("echostream/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in &self.headers {
            request = request.header(name, value.clone());
        }
        let response = request
            .bytes(body)
            .send()
            .map_err(|e| PostError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        // Read (a little of) the body so the connection ends cleanly.
        let _ = response.bytes();
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(PostError::Status { status })
        }
    }

    /// The URL, for logs (without its query, which may hold a secret).
    pub fn url_for_logs(&self) -> &str {
        self.url.split('?').next().unwrap_or_default()
    }
}

/// The delivery loop of one webhook: until `stop`.
pub(super) fn run(client: &WebhookClient, consumer: &Consumer, backoff_max: Duration, stop: &Stop) {
    let mut backoff = Backoff::new(backoff_max);
    let mut failing = false;
    while let Some(entries) = consumer.next_batch(stop) {
        for entry in entries {
            if !deliver(client, consumer, &entry, &mut backoff, &mut failing, stop) {
                return;
            }
        }
    }
}

/// Delivers one entry, retrying until a 2xx; false when stopped first.
fn deliver(
    client: &WebhookClient,
    consumer: &Consumer,
    entry: &Entry,
    backoff: &mut Backoff,
    failing: &mut bool,
    stop: &Stop,
) -> bool {
    loop {
        match client.post(&entry.payload) {
            Ok(_) => {
                if *failing {
                    log::info!(
                        "webhook {}: delivering again ({})",
                        client.url_for_logs(),
                        consumer.name()
                    );
                    *failing = false;
                }
                backoff.reset();
                consumer.ack(entry.seq);
                return true;
            }
            Err(error) => {
                let wait = backoff.next_wait();
                if *failing {
                    log::debug!(
                        "webhook {}: {error}; retrying in {:.1} s",
                        client.url_for_logs(),
                        wait.as_secs_f32()
                    );
                } else {
                    log::error!(
                        "webhook {}: {error}; events wait in the outbox and are retried \
                         (next in {:.1} s, backing off to {} s)",
                        client.url_for_logs(),
                        wait.as_secs_f32(),
                        backoff.max().as_secs()
                    );
                    *failing = true;
                }
                if stop.sleep(wait) {
                    return false;
                }
            }
        }
    }
}
