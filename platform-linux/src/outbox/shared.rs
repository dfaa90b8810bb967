//! [`SharedOutbox`]: one [`Outbox`] for the producer and consumer threads.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Ack, ConsumerId, Entry, Kind, Outbox, OutboxError, Seq};

/// An [`Outbox`] behind a mutex, with a condition variable that wakes
/// consumers waiting in [`wait_read`](SharedOutbox::wait_read) at every
/// append and at [`shutdown`](SharedOutbox::shutdown). Cheap to clone.
///
/// Every call holds the lock for its whole length, disk I/O included (an
/// append waits for its fsync): keep it off the audio threads. Anything
/// not wrapped here (figures, notices, flush, pending) goes through
/// [`with`](SharedOutbox::with).
#[derive(Debug, Clone)]
pub struct SharedOutbox {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    outbox: Outbox,
    stopped: bool,
}

/// How [`SharedOutbox::wait_read`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// Entries to send (at least one).
    Entries(Vec<Entry>),
    /// Nothing new within the timeout.
    TimedOut,
    /// [`SharedOutbox::shutdown`] was called: stop consuming.
    Stopped,
}

impl SharedOutbox {
    /// Shares `outbox`.
    pub fn new(outbox: Outbox) -> SharedOutbox {
        SharedOutbox {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    outbox,
                    stopped: false,
                }),
                changed: Condvar::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked holding the lock left the outbox between
        // two calls at worst (each call's disk state is whole): go on.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Outbox::append`], then wakes every waiting consumer.
    ///
    /// # Errors
    /// As [`Outbox::append`].
    pub fn append(&self, kind: Kind, payload: &[u8]) -> Result<Seq, OutboxError> {
        let seq = self.lock().outbox.append(kind, payload)?;
        self.shared.changed.notify_all();
        Ok(seq)
    }

    /// [`Outbox::read`], waiting up to `timeout` for something to read.
    /// Returns at once with [`Waited::Stopped`] after a shutdown.
    ///
    /// # Errors
    /// As [`Outbox::read`].
    pub fn wait_read(
        &self,
        consumer: ConsumerId,
        max: usize,
        timeout: Duration,
    ) -> Result<Waited, OutboxError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        // Each turn ends in a return or a wait until the deadline: the
        // deadline bounds the loop.
        loop {
            if state.stopped {
                return Ok(Waited::Stopped);
            }
            let entries = state.outbox.read(consumer, max)?;
            if !entries.is_empty() {
                return Ok(Waited::Entries(entries));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Waited::TimedOut);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// [`Outbox::read`] without waiting.
    ///
    /// # Errors
    /// As [`Outbox::read`].
    pub fn read(&self, consumer: ConsumerId, max: usize) -> Result<Vec<Entry>, OutboxError> {
        self.lock().outbox.read(consumer, max)
    }

    /// [`Outbox::ack`].
    ///
    /// # Errors
    /// As [`Outbox::ack`].
    pub fn ack(&self, consumer: ConsumerId, seq: Seq) -> Result<Ack, OutboxError> {
        self.lock().outbox.ack(consumer, seq)
    }

    /// [`Outbox::rewind`], then wakes the waiting consumers (the rewound
    /// one has entries to read again).
    ///
    /// # Errors
    /// As [`Outbox::rewind`].
    pub fn rewind(&self, consumer: ConsumerId) -> Result<(), OutboxError> {
        self.lock().outbox.rewind(consumer)?;
        self.shared.changed.notify_all();
        Ok(())
    }

    /// Runs `f` on the outbox under the lock.
    pub fn with<R>(&self, f: impl FnOnce(&mut Outbox) -> R) -> R {
        f(&mut self.lock().outbox)
    }

    /// Wakes every waiting consumer with [`Waited::Stopped`], and every
    /// later [`wait_read`](SharedOutbox::wait_read) returns it at once;
    /// then writes the cursors ([`Outbox::flush`]). Appends still work.
    ///
    /// # Errors
    /// As [`Outbox::flush`].
    pub fn shutdown(&self) -> Result<(), OutboxError> {
        let mut state = self.lock();
        state.stopped = true;
        self.shared.changed.notify_all();
        state.outbox.flush()
    }

    /// Whether [`shutdown`](SharedOutbox::shutdown) was called.
    pub fn is_stopped(&self) -> bool {
        self.lock().stopped
    }
}
