//! Connection deadlines from one long-lived sleep.
//!
//! Each phase of a connection (idle, reading a head, reading a body,
//! writing) has a deadline. Arming a fresh timer for every phase would put a
//! timer registration on every request; instead one sleep stays armed and
//! is re-armed only when a deadline moves *earlier* than it, or when it
//! fires before the current deadline. On a busy keep-alive connection the
//! deadlines only move later, so the timer is touched about once per
//! timeout period, not per request.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::future;

use super::Timer;

pub(crate) struct Clock<'t, T: Timer> {
    timer: &'t T,
    sleep: Pin<&'t mut T::Sleep>,
    /// When `sleep` completes; `None` once it has completed.
    armed: Option<Instant>,
    deadline: Instant,
}

impl<'t, T: Timer> Clock<'t, T> {
    /// Wraps `sleep`, created by `timer` to fire after `armed_for`.
    pub(crate) fn new(timer: &'t T, sleep: Pin<&'t mut T::Sleep>, armed_for: Duration) -> Self {
        let now = Instant::now();
        Self {
            timer,
            sleep,
            armed: Some(now + armed_for),
            deadline: now + armed_for,
        }
    }

    /// Sets the deadline to `after` from now, and returns it.
    pub(crate) fn start(&mut self, after: Duration) -> Instant {
        self.deadline = Instant::now() + after;
        if self.armed.is_none_or(|armed| self.deadline < armed) {
            self.arm(after);
        }
        self.deadline
    }

    fn arm(&mut self, after: Duration) {
        self.sleep.set(self.timer.sleep(after));
        self.armed = Some(Instant::now() + after);
    }

    /// Completes once the deadline has passed.
    async fn expired(&mut self) {
        loop {
            if self.armed.is_none() {
                let left = self.deadline.saturating_duration_since(Instant::now());
                self.arm(left);
            }
            self.sleep.as_mut().await;
            self.armed = None;
            if Instant::now() >= self.deadline {
                return;
            }
        }
    }

    /// Runs `f` until it completes (`Some`) or the deadline passes (`None`).
    pub(crate) async fn limit<F: Future>(&mut self, f: F) -> Option<F::Output> {
        future::or(async { Some(f.await) }, async {
            self.expired().await;
            None
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_lite::FutureExt;
    use futures_lite::future::{block_on, pending};

    /// A timer on a real thread that counts how often it is armed.
    #[derive(Clone, Default)]
    struct CountingTimer(Arc<AtomicUsize>);

    impl Timer for CountingTimer {
        type Sleep = futures_lite::future::Boxed<()>;

        fn sleep(&self, duration: Duration) -> Self::Sleep {
            self.0.fetch_add(1, Ordering::SeqCst);
            let at = Instant::now() + duration;
            // Poll-driven wait: good enough for millisecond tests.
            async move {
                while Instant::now() < at {
                    futures_lite::future::yield_now().await;
                }
            }
            .boxed()
        }
    }

    #[test]
    fn later_deadlines_do_not_rearm_and_expiry_is_observed() {
        let timer = CountingTimer::default();
        let sleep = pin!(timer.sleep(Duration::from_millis(200)));
        let mut clock = Clock::new(&timer, sleep, Duration::from_millis(200));
        for _ in 0..100 {
            clock.start(Duration::from_millis(300));
        }
        assert_eq!(
            timer.0.load(Ordering::SeqCst),
            1,
            "moving a deadline later must not arm a timer"
        );
        clock.start(Duration::from_millis(20));
        assert_eq!(
            timer.0.load(Ordering::SeqCst),
            2,
            "an earlier deadline re-arms once"
        );
        let start = Instant::now();
        assert_eq!(block_on(clock.limit(pending::<()>())), None);
        assert!(start.elapsed() >= Duration::from_millis(20));
        let done = Cell::new(false);
        assert_eq!(block_on(clock.limit(async { done.set(true) })), Some(()));
        assert!(done.get());
    }

    #[test]
    fn an_early_fire_rearms_for_the_rest_of_the_deadline() {
        let timer = CountingTimer::default();
        let sleep = pin!(timer.sleep(Duration::from_millis(10)));
        let mut clock = Clock::new(&timer, sleep, Duration::from_millis(10));
        clock.start(Duration::from_millis(40));
        let start = Instant::now();
        assert_eq!(block_on(clock.limit(pending::<()>())), None);
        assert!(
            start.elapsed() >= Duration::from_millis(40),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(timer.0.load(Ordering::SeqCst), 2);
    }
}
