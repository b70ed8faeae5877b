//! Connection deadlines from one long-lived sleep.
//!
//! Each phase of a connection (idle, reading a head, reading a body,
//! writing) has a deadline. Arming a fresh timer for every phase would put a
//! timer registration on every request; instead one sleep stays armed and
//! is re-armed only when a deadline moves *earlier* than it, or when it
//! fires before the current deadline. On a busy keep-alive connection the
//! deadlines only move later, so the timer is touched about once per
//! timeout period, not per request.
//!
//! Waits on a slow peer (a request body, a blocked write) are limited by a
//! [`Budget`] rather than a fixed gap, so that a trickle of bytes, each
//! arriving just inside the gap, cannot hold a connection forever.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_lite::future;

use super::{Config, Timer};

/// A connection's deadlines, kept with one sleep, and the limits they come
/// from.
pub(crate) struct Clock<'t, T: Timer> {
    /// The connection's limits and timeouts: every wait the clock limits is
    /// one of these.
    pub(crate) config: &'t Config,
    timer: &'t T,
    sleep: Pin<&'t mut T::Sleep>,
    /// When `sleep` completes; `None` once it has completed.
    armed: Option<Instant>,
    deadline: Instant,
}

impl<'t, T: Timer> Clock<'t, T> {
    /// Wraps `sleep`, created by `timer` to fire after `armed_for`.
    pub(crate) fn new(
        timer: &'t T,
        sleep: Pin<&'t mut T::Sleep>,
        armed_for: Duration,
        config: &'t Config,
    ) -> Self {
        let now = Instant::now();
        Self {
            config,
            timer,
            sleep,
            armed: Some(now + armed_for),
            deadline: now + armed_for,
        }
    }

    /// Sets the deadline to `after` from now, and returns it.
    pub(crate) fn start(&mut self, after: Duration) -> Instant {
        self.start_at(Instant::now(), after)
    }

    /// Sets the deadline to `after` from `now`, for a caller that has just
    /// read the time anyway, and returns it.
    pub(crate) fn start_at(&mut self, now: Instant, after: Duration) -> Instant {
        self.deadline = now + after;
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

/// A minimum-rate allowance for waiting on a peer: a token bucket of time.
///
/// Time spent waiting on the peer is taken out of it; each byte the peer
/// moves puts back `1 / rate` seconds; it never holds more than its cap and
/// starts full. So a peer that stalls runs out after the cap, as with a
/// plain timeout, and one that keeps up with `rate` never runs out. One that
/// moves bytes at a fraction `f < 1` of `rate`, however it spaces them,
/// runs out after `cap / (1 - f)`: a trickle of one byte just inside every
/// gap no longer holds a connection forever.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// INVARIANT: `left <= cap`.
    left: Duration,
    cap: Duration,
    /// Bytes per second that earn back exactly the time they took; 0 means
    /// no minimum rate: any byte refills the budget, so only a gap longer
    /// than `cap` runs it out.
    rate: u64,
}

impl Budget {
    /// A full budget of `cap`, earning back `1 / rate` seconds per byte.
    pub(crate) fn full(cap: Duration, rate: u64) -> Self {
        Self {
            left: cap,
            cap,
            rate,
        }
    }

    /// How long the next wait may take before the budget runs out.
    pub(crate) fn left(&self) -> Duration {
        self.left
    }

    /// Takes `waited` out of the budget (down to zero).
    pub(crate) fn spend(&mut self, waited: Duration) {
        self.left = self.left.saturating_sub(waited);
    }

    /// Credits `bytes` the peer moved.
    pub(crate) fn earn(&mut self, bytes: usize) {
        // A full budget, the usual case, needs no arithmetic.
        if self.left >= self.cap || bytes == 0 {
            return;
        }
        if self.rate == 0 {
            self.left = self.cap;
            return;
        }
        // u128: bytes * 1e9 overflows u64 past 18 GB.
        let nanos = bytes as u128 * 1_000_000_000 / u128::from(self.rate);
        let credit = u64::try_from(nanos).map_or(Duration::MAX, Duration::from_nanos);
        self.left = self.left.saturating_add(credit).min(self.cap);
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
        let config = Config::default();
        let timer = CountingTimer::default();
        let sleep = pin!(timer.sleep(Duration::from_millis(200)));
        let mut clock = Clock::new(&timer, sleep, Duration::from_millis(200), &config);
        for _ in 0..100 {
            clock.start(Duration::from_millis(300));
        }
        assert_eq!(
            timer.0.load(Ordering::SeqCst),
            1,
            "moving a deadline later must not arm a timer"
        );
        // The stopwatch starts before the deadline is set, so a thread
        // descheduled in between cannot make the wait look short.
        let start = Instant::now();
        clock.start(Duration::from_millis(20));
        assert_eq!(
            timer.0.load(Ordering::SeqCst),
            2,
            "an earlier deadline re-arms once"
        );
        assert_eq!(block_on(clock.limit(pending::<()>())), None);
        assert!(start.elapsed() >= Duration::from_millis(20));
        let done = Cell::new(false);
        assert_eq!(block_on(clock.limit(async { done.set(true) })), Some(()));
        assert!(done.get());
    }

    #[test]
    fn an_early_fire_rearms_for_the_rest_of_the_deadline() {
        let config = Config::default();
        let timer = CountingTimer::default();
        let sleep = pin!(timer.sleep(Duration::from_millis(10)));
        let mut clock = Clock::new(&timer, sleep, Duration::from_millis(10), &config);
        let start = Instant::now();
        clock.start(Duration::from_millis(40));
        assert_eq!(block_on(clock.limit(pending::<()>())), None);
        assert!(
            start.elapsed() >= Duration::from_millis(40),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(timer.0.load(Ordering::SeqCst), 2);
    }

    /// When a peer that moves `bytes` after every `gap` runs `budget` out:
    /// a wait is cut once it is longer than what is left.
    fn runs_out_after(mut budget: Budget, gap: Duration, bytes: usize) -> Option<Duration> {
        let mut elapsed = Duration::ZERO;
        for _ in 0..100_000 {
            if budget.left() < gap {
                return Some(elapsed + budget.left());
            }
            budget.spend(gap);
            budget.earn(bytes);
            elapsed += gap;
        }
        None
    }

    #[test]
    fn a_budget_runs_out_after_cap_over_one_minus_the_rate_fraction() {
        let cap = Duration::from_millis(500);
        let gap = Duration::from_millis(100);
        // rate 1000 B/s: a byte earns back 1 ms, so 100 B per 100 ms gap
        // keeps up exactly; `bytes` per gap is the fraction f = bytes / 100.
        for bytes in [0, 1, 50, 90] {
            let got = runs_out_after(Budget::full(cap, 1000), gap, bytes)
                .unwrap_or_else(|| panic!("{bytes} B per gap never ran out"));
            let f = bytes as f64 / 100.0;
            // At most cap / (1 - f); at least (cap - gap) / (1 - f), as the
            // last wait is cut once less than a gap is left.
            let most = cap.div_f64(1.0 - f);
            let least = (cap - gap).div_f64(1.0 - f);
            assert!(
                least <= got && got <= most,
                "{bytes} B per gap: ran out after {got:?}, not in {least:?}..={most:?}"
            );
        }
    }

    #[test]
    fn a_peer_at_the_rate_never_runs_out() {
        let cap = Duration::from_millis(500);
        for bytes_per_gap in [100, 101, 10_000] {
            let mut budget = Budget::full(cap, 1000);
            assert_eq!(
                runs_out_after(budget, Duration::from_millis(100), bytes_per_gap),
                None
            );
            budget.spend(Duration::from_millis(100));
            budget.earn(bytes_per_gap);
            assert_eq!(budget.left(), cap, "refilled, and never over the cap");
        }
    }

    #[test]
    fn rate_zero_restores_the_gap_timeout() {
        let cap = Duration::from_millis(500);
        let budget = Budget::full(cap, 0);
        assert_eq!(
            runs_out_after(budget, Duration::from_millis(499), 1),
            None,
            "any byte refills the budget"
        );
        assert_eq!(
            runs_out_after(budget, Duration::from_millis(501), 1),
            Some(cap)
        );
    }

    #[test]
    fn credit_saturates_instead_of_overflowing() {
        let cap = Duration::from_secs(30);
        let mut budget = Budget::full(cap, 1);
        budget.spend(Duration::from_secs(40));
        assert_eq!(budget.left(), Duration::ZERO);
        budget.earn(0);
        assert_eq!(budget.left(), Duration::ZERO, "no bytes, no credit");
        budget.earn(usize::MAX);
        assert_eq!(budget.left(), cap);
        let mut huge = Budget::full(Duration::MAX, 1);
        huge.spend(Duration::from_secs(1));
        huge.earn(usize::MAX);
        assert_eq!(huge.left(), Duration::MAX);
        // A rate so high that one byte earns less than a nanosecond.
        let mut fast = Budget::full(cap, u64::MAX);
        fast.spend(Duration::from_secs(1));
        fast.earn(1);
        assert_eq!(fast.left(), cap - Duration::from_secs(1));
    }
}
