//! The graceful-shutdown signal shared by a server's accept loops and
//! connections, and the table of open connections it acts on.
//!
//! Each open connection has a [`Slot`]: whether it is idle (and since when),
//! what the server asks of it (close when idle, close now, cancel), and the
//! waker of its task. Shutdown, eviction at the connection limit and the
//! cancellation at the deadline all set a slot's request and wake its task,
//! so an idle connection registers no listener of its own per request.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use atomic_waker::AtomicWaker;
use event_listener::{Event, EventListener};
use slab::Slab;

/// Tells accept loops and connections to stop, and counts the connections
/// still open so the server can wait for them.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    closing: AtomicBool,
    /// When the shutdown started; set once, by the first trigger.
    triggered_at: OnceLock<Instant>,
    event: Event,
    open: AtomicUsize,
    /// Notified whenever a connection closes.
    closed: Event,
    conns: Mutex<Slab<Arc<Slot>>>,
}

/// What the server asks of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub(crate) enum Ask {
    /// Nothing: serve as usual.
    Nothing = 0,
    /// At the connection limit: close now if idle, to make room.
    Evict = 1,
    /// The shutdown deadline passed: drop the connection's future.
    Cancel = 2,
}

/// One open connection, as the server sees it.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// While the connection waits idle for its next request: its idle
    /// deadline in [`ticks`], so the smallest is the oldest idle one.
    /// 0 while busy.
    idle_until: AtomicU64,
    ask: AtomicU8,
    waker: AtomicWaker,
}

impl Slot {
    /// Returns what the server asks of this connection.
    pub(crate) fn ask(&self) -> Ask {
        match self.ask.load(Ordering::Acquire) {
            0 => Ask::Nothing,
            1 => Ask::Evict,
            _ => Ask::Cancel,
        }
    }

    /// Marks the connection idle until `deadline`, or busy with `None`.
    pub(crate) fn set_idle(&self, deadline: Option<Instant>) {
        self.idle_until
            .store(deadline.map_or(0, ticks), Ordering::Relaxed);
    }

    /// Registers the waker of the task that serves this connection, which
    /// [`Signal`] wakes when it asks something of it.
    pub(crate) fn register(&self, cx: &Context<'_>) {
        self.waker.register(cx.waker());
    }

    /// Asks `ask` of the connection (never lowering an earlier ask) and
    /// wakes its task.
    fn request(&self, ask: Ask) {
        self.ask.fetch_max(ask as u8, Ordering::AcqRel);
        self.waker.wake();
    }
}

/// Nanoseconds since the first call, plus one, so 0 can mean "none".
fn ticks(at: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(at.saturating_duration_since(epoch).as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

impl Signal {
    /// Starts the shutdown: accept loops stop, idle connections close after
    /// their drain window, and busy ones close after their current response.
    pub(crate) fn trigger(&self) {
        let _ = self.triggered_at.set(Instant::now());
        self.closing.store(true, Ordering::SeqCst);
        self.event.notify(usize::MAX);
        self.wake_all();
    }

    pub(crate) fn is_triggered(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Returns when the shutdown started, if it has.
    pub(crate) fn triggered_at(&self) -> Option<Instant> {
        self.triggered_at.get().copied()
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
        self.register_slot()
    }

    /// Counts a connection as open if fewer than `max` are. The check and
    /// the count are one atomic step, so accept loops on several threads
    /// cannot overshoot `max` together.
    pub(crate) fn try_admit(self: &Arc<Self>, max: usize) -> Option<ConnGuard> {
        let mut open = self.open.load(Ordering::SeqCst);
        while open < max {
            match self
                .open
                .compare_exchange(open, open + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(self.register_slot()),
                Err(now) => open = now,
            }
        }
        None
    }

    fn register_slot(self: &Arc<Self>) -> ConnGuard {
        let slot = Arc::new(Slot::default());
        let key = self.lock().insert(slot.clone());
        if self.is_triggered() {
            // Opened as the shutdown began: make sure it hears of it.
            slot.waker.wake();
        }
        ConnGuard {
            signal: self.clone(),
            slot,
            key,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Slab<Arc<Slot>>> {
        // A panic while holding the lock leaves the table consistent: every
        // operation on it is a single insert, remove or read.
        self.conns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Returns how many connections are open.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn wake_all(&self) {
        // Woken after the lock is released: a runtime may run a woken task
        // (or, with its queue of cross-thread wakes full, wait for it) before
        // `wake` returns, and that task takes this lock when it closes.
        let wakers: Vec<_> = self
            .lock()
            .iter()
            .filter_map(|(_, slot)| slot.waker.take())
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Asks the connection that has been idle longest to close, to make
    /// room at the connection limit. Returns `false` if none is idle.
    pub(crate) fn evict_oldest_idle(&self) -> bool {
        let conns = self.lock();
        let oldest = conns
            .iter()
            .filter(|(_, slot)| slot.ask() == Ask::Nothing)
            .filter_map(|(_, slot)| {
                let until = slot.idle_until.load(Ordering::Relaxed);
                (until != 0).then_some((until, slot))
            })
            .min_by_key(|(until, _)| *until);
        match oldest {
            Some((_, slot)) => {
                slot.request(Ask::Evict);
                true
            }
            None => false,
        }
    }

    /// Cancels every open connection: their tasks drop their futures.
    /// Returns how many there were.
    pub(crate) fn cancel_all(&self) -> usize {
        let conns = self.lock();
        for (_, slot) in conns.iter() {
            slot.request(Ask::Cancel);
        }
        conns.len()
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

/// Keeps a connection counted as open, with its [`Slot`] in the table,
/// while it lives.
#[derive(Debug)]
pub(crate) struct ConnGuard {
    signal: Arc<Signal>,
    slot: Arc<Slot>,
    key: usize,
}

impl ConnGuard {
    pub(crate) fn slot(&self) -> &Slot {
        &self.slot
    }

    /// Polls `conn` until it completes or the server cancels it, whichever
    /// comes first; the waker is registered before `conn` is polled, so an
    /// ask made during that poll is not missed.
    pub(crate) async fn cancellable<F: Future<Output = ()>>(&self, conn: F) -> bool {
        let mut conn = std::pin::pin!(conn);
        std::future::poll_fn(|cx| {
            self.slot.register(cx);
            if self.slot.ask() == Ask::Cancel {
                return Poll::Ready(false);
            }
            conn.as_mut().poll(cx).map(|()| true)
        })
        .await
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.signal.lock().remove(self.key);
        self.signal.open.fetch_sub(1, Ordering::SeqCst);
        self.signal.closed.notify(usize::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};
    use std::time::Duration;

    #[test]
    fn listener_completes_only_after_trigger() {
        let signal = Signal::default();
        let mut wait = signal.listen();
        assert!(block_on(poll_once(&mut wait)).is_none());
        assert!(!signal.is_triggered());
        assert_eq!(signal.triggered_at(), None);
        signal.trigger();
        assert!(block_on(poll_once(&mut wait)).is_some());
        assert!(signal.is_triggered());
        assert!(signal.triggered_at().is_some());
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
        let a = signal.try_admit(2).unwrap();
        let _b = signal.try_admit(2).unwrap();
        assert!(signal.try_admit(2).is_none());
        drop(a);
        assert!(signal.try_admit(2).is_some());
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
        assert_eq!(signal.open(), 0);
    }

    #[test]
    fn eviction_picks_the_oldest_idle_connection_only() {
        let signal = Arc::new(Signal::default());
        let now = Instant::now();
        let busy = signal.open_connection();
        let newer = signal.open_connection();
        let older = signal.open_connection();
        newer.slot().set_idle(Some(now + Duration::from_secs(20)));
        older.slot().set_idle(Some(now + Duration::from_secs(10)));
        assert!(signal.evict_oldest_idle());
        assert_eq!(older.slot().ask(), Ask::Evict);
        assert_eq!(newer.slot().ask(), Ask::Nothing);
        assert_eq!(busy.slot().ask(), Ask::Nothing);
        // The next eviction takes the next oldest; a busy one never.
        assert!(signal.evict_oldest_idle());
        assert_eq!(newer.slot().ask(), Ask::Evict);
        assert!(!signal.evict_oldest_idle());
        assert_eq!(busy.slot().ask(), Ask::Nothing);
    }

    #[test]
    fn cancel_ends_a_connection_future_that_never_completes() {
        let signal = Arc::new(Signal::default());
        let guard = signal.open_connection();
        let mut conn = Box::pin(guard.cancellable(std::future::pending()));
        assert!(block_on(poll_once(&mut conn)).is_none());
        assert_eq!(signal.cancel_all(), 1);
        assert_eq!(block_on(poll_once(&mut conn)), Some(false));
        drop(conn);
        drop(guard);
        assert_eq!(signal.cancel_all(), 0);
    }

    #[test]
    fn a_finished_connection_reports_completion() {
        let signal = Arc::new(Signal::default());
        let guard = signal.open_connection();
        assert!(block_on(guard.cancellable(async {})));
    }
}
