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
    /// Notified whenever a connection closes.
    closed: Event,
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

    /// Counts a connection as open once fewer than `max` are, waiting for
    /// one to close if need be. The check and the count are one atomic step,
    /// so accept loops on several threads cannot overshoot `max` together.
    pub(crate) async fn admit(self: &Arc<Self>, max: usize) -> ConnGuard {
        loop {
            let open = self.open.load(Ordering::SeqCst);
            if open < max {
                if self
                    .open
                    .compare_exchange(open, open + 1, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    return ConnGuard(self.clone());
                }
                continue;
            }
            self.below(max).await;
        }
    }

    /// Completes once no connection is open.
    pub(crate) async fn drained(&self) {
        self.below(1).await;
    }

    /// Completes once fewer than `max` connections are open.
    pub(crate) async fn below(&self, max: usize) {
        loop {
            if self.open.load(Ordering::SeqCst) < max {
                return;
            }
            let listener = self.closed.listen();
            if self.open.load(Ordering::SeqCst) < max {
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
        self.0.open.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify(usize::MAX);
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
    fn below_waits_for_a_connection_to_close() {
        let signal = Arc::new(Signal::default());
        let a = signal.open_connection();
        let _b = signal.open_connection();
        let mut wait = Box::pin(signal.below(2));
        assert!(block_on(poll_once(&mut wait)).is_none());
        drop(a);
        assert!(block_on(poll_once(&mut wait)).is_some());
    }

    #[test]
    fn admit_never_goes_over_the_limit() {
        let signal = Arc::new(Signal::default());
        let a = block_on(signal.admit(2));
        let _b = block_on(signal.admit(2));
        let mut third = Box::pin(signal.admit(2));
        assert!(block_on(poll_once(&mut third)).is_none());
        drop(a);
        assert!(block_on(poll_once(&mut third)).is_some());
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
