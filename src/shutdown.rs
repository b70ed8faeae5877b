//! The graceful-shutdown signal shared by a server's accept loops and
//! connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use event_listener::{Event, EventListener};

/// Tells accept loops and idle connections to stop, and counts the
/// connections still open so the server can wait for them.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    closing: AtomicBool,
    event: Event,
    open: AtomicUsize,
    drained: Event,
}

impl Signal {
    /// Starts the shutdown: accept loops stop, idle connections close, and
    /// busy ones close after their current response.
    pub(crate) fn trigger(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
    }

    pub(crate) fn is_triggered(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Returns a listener that completes on the next [`Signal::trigger`].
    ///
    /// Create it before checking [`Signal::is_triggered`], so a trigger in
    /// between is not missed. One listener can be polled many times.
    pub(crate) fn listen(&self) -> EventListener {
        self.event.listen()
    }

    /// Counts a connection as open until the guard drops.
    pub(crate) fn open_connection(self: &Arc<Self>) -> ConnGuard {
        self.open.fetch_add(1, Ordering::SeqCst);
        ConnGuard(self.clone())
    }

    /// Completes once no connection is open.
    pub(crate) async fn drained(&self) {
        loop {
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            let listener = self.drained.listen();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            listener.await;
        }
    }
}

/// Keeps a connection counted as open while it lives.
#[derive(Debug)]
pub(crate) struct ConnGuard(Arc<Signal>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.drained.notify(usize::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn listener_completes_only_after_trigger() {
        let signal = Signal::default();
        let mut wait = signal.listen();
        assert!(block_on(poll_once(&mut wait)).is_none());
        assert!(!signal.is_triggered());
        signal.trigger();
        assert!(block_on(poll_once(&mut wait)).is_some());
        assert!(signal.is_triggered());
    }

    #[test]
    fn drained_waits_for_every_guard() {
        let signal = Arc::new(Signal::default());
        let a = signal.open_connection();
        let b = signal.open_connection();
        let mut wait = Box::pin(signal.drained());
        assert!(block_on(poll_once(&mut wait)).is_none());
        drop(a);
        assert!(block_on(poll_once(&mut wait)).is_none());
        drop(b);
        assert!(block_on(poll_once(&mut wait)).is_some());
    }
}
