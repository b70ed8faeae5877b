//! Time for application code, on whatever runtime serves it: [`sleep`],
//! [`timeout`] and [`interval`] need no runtime value or type parameter.
//!
//! They use the timer of the runtime serving the current request: the
//! server makes it the thread's timer whenever it polls a connection's
//! task, so handlers, middleware and what they await all see it. Under
//! [`TestClient`](crate::test::TestClient) they use the test client's own
//! timer. Called elsewhere (a thread of your own, `main` before the server
//! runs, a task the runtime runs on a thread that has never served a
//! request) they panic, and say so: pass a runtime there instead.
//!
//! ```
//! use std::time::Duration;
//! use tramline::Router;
//! use tramline::routing::get;
//! use tramline::test::TestClient;
//!
//! // No `R: Runtime`, no `State<R>`: the same app on every runtime.
//! let app = Router::new().route(
//!     "/slow",
//!     get(|| async {
//!         tramline::time::sleep(Duration::from_millis(5)).await;
//!         "done"
//!     }),
//! );
//! TestClient::new(app).get("/slow").send().assert_text("done");
//! ```
//!
//! # A runtime's own timer
//!
//! A handler may also await its runtime's own timer, but then it is tied
//! to that runtime: on another runtime, or under
//! [`TestClient`](crate::test::TestClient), such a timer may find no
//! runtime of its kind and panic; the panic answers `500` (`text/plain`,
//! `internal server error`) and closes that connection, and the server
//! keeps serving. Which runtime's timer works where is in the
//! [runtimes chapter](crate::rt#time-and-a-runtimes-own-timer).
//! `tramline::time` is the one that works everywhere.

use std::cell::RefCell;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::Stream;
use tramline_rt::Runtime;

/// A future that completes once, after a while.
type SleepFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A timer application code can use: the serving runtime's, or the test
/// client's.
pub(crate) trait DynTimer: Send + Sync + 'static {
    fn sleep(&self, duration: Duration) -> SleepFuture;
}

/// A runtime as a [`DynTimer`].
struct RuntimeTimer<R>(R);

impl<R: Runtime> DynTimer for RuntimeTimer<R> {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(self.0.sleep(duration))
    }
}

/// The timer a server hands to the threads that poll its connections.
#[derive(Clone)]
pub(crate) struct AppTimer(Arc<dyn DynTimer>);

impl AppTimer {
    pub(crate) fn of<R: Runtime>(runtime: R) -> Self {
        Self(Arc::new(RuntimeTimer(runtime)))
    }

    pub(crate) fn new(timer: impl DynTimer) -> Self {
        Self(Arc::new(timer))
    }

    /// Makes this the calling thread's timer, unless it already is.
    ///
    /// Called on every poll of a connection's task: the check is a
    /// thread-local read and a pointer comparison; the timer is only
    /// replaced when another server (or a test client) used the thread
    /// last.
    #[inline]
    pub(crate) fn enter(&self) {
        let _ = CURRENT.try_with(|current| {
            let mut current = current.borrow_mut();
            let same = current.as_ref().is_some_and(|c| Arc::ptr_eq(&c.0, &self.0));
            if !same {
                *current = Some(self.clone());
            }
        });
    }
}

/// The test client's timer: futures-timer's thread, which needs no
/// runtime, for whatever executor drives the test.
struct TestTimer;

impl DynTimer for TestTimer {
    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(futures_timer::Delay::new(duration))
    }
}

/// The clock [`TestClient`](crate::test::TestClient) runs its requests on.
pub(crate) fn test_timer() -> AppTimer {
    static CLOCK: std::sync::OnceLock<AppTimer> = std::sync::OnceLock::new();
    CLOCK.get_or_init(|| AppTimer::new(TestTimer)).clone()
}

thread_local! {
    static CURRENT: RefCell<Option<AppTimer>> = const { RefCell::new(None) };
}

pin_project_lite::pin_project! {
    /// The future `inner`, with `clock` as the timer on every thread that
    /// polls it.
    pub(crate) struct WithTimer<F> {
        clock: AppTimer,
        #[pin]
        inner: F,
    }
}

impl<F> WithTimer<F> {
    pub(crate) fn new(clock: AppTimer, inner: F) -> Self {
        Self { clock, inner }
    }
}

impl<F: Future> Future for WithTimer<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.clock.enter();
        this.inner.poll(cx)
    }
}

fn current_sleep(duration: Duration, what: &str) -> SleepFuture {
    let timer = CURRENT
        .try_with(|current| current.borrow().clone())
        .ok()
        .flatten();
    match timer {
        Some(clock) => clock.0.sleep(duration),
        None => panic!(
            "tramline::time::{what} was called where no tramline server or TestClient runs \
             this thread, so there is no runtime to sleep on; call it from a handler or \
             middleware, or use the runtime's own timer (`Runtime::sleep`) here"
        ),
    }
}

/// Completes after `duration`, on the timer of the runtime serving the
/// current request.
///
/// # Panics
///
/// Panics where no tramline server or test client runs the calling thread
/// (see the [module docs](self)).
pub fn sleep(duration: Duration) -> Sleep {
    Sleep(current_sleep(duration, "sleep"))
}

/// The future [`sleep`] returns.
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep(SleepFuture);

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").finish_non_exhaustive()
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// The error of a [`timeout`] whose future did not finish in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(Duration);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.0)
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`: its output, or [`Elapsed`] (and
/// `future` is dropped) if the time ran out first.
///
/// # Errors
///
/// [`Elapsed`] when `duration` passed before `future` finished.
///
/// # Panics
///
/// As [`sleep`].
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    let expired = current_sleep(duration, "timeout");
    futures_lite::future::or(async { Ok(future.await) }, async {
        expired.await;
        Err(Elapsed(duration))
    })
    .await
}

/// Ticks every `period`: the first tick at once, then one per period after
/// it. A tick that comes late (the task was busy) is not made up: the next
/// one is a whole period after it, so a slow consumer gets no burst.
///
/// # Panics
///
/// Panics if `period` is zero; each tick panics as [`sleep`] does.
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "tramline::time::interval: the period must not be zero"
    );
    Interval {
        period,
        next: Instant::now(),
        sleep: None,
    }
}

/// The stream [`interval`] returns; also [`tick`](Interval::tick).
pub struct Interval {
    period: Duration,
    next: Instant,
    sleep: Option<SleepFuture>,
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

impl Interval {
    /// Waits for the next tick and returns when it was due.
    ///
    /// # Panics
    ///
    /// As [`sleep`].
    pub async fn tick(&mut self) -> Instant {
        futures_lite::StreamExt::next(self)
            .await
            .expect("an interval never ends")
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        let this = &mut *self;
        let now = Instant::now();
        if now < this.next {
            let next = this.next;
            let sleep = this
                .sleep
                .get_or_insert_with(|| current_sleep(next - now, "interval"));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        this.sleep = None;
        let due = this.next;
        this.next = Instant::now().max(due) + this.period;
        Poll::Ready(Some(due))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timer that counts its sleeps and completes each at once.
    struct Instant0(std::sync::atomic::AtomicUsize);

    impl DynTimer for Arc<Instant0> {
        fn sleep(&self, _: Duration) -> SleepFuture {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(std::future::ready(()))
        }
    }

    #[test]
    fn outside_a_server_the_panic_says_why() {
        let panic = std::thread::spawn(|| {
            drop(sleep(Duration::from_millis(1)));
        })
        .join()
        .unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(
            message.contains("no tramline server or TestClient"),
            "{message}"
        );
    }

    #[test]
    fn the_thread_s_clock_serves_sleep_timeout_and_interval() {
        std::thread::spawn(|| {
            let counter = Arc::new(Instant0(Default::default()));
            let clock = AppTimer::new(counter.clone());
            let run = WithTimer::new(clock, async {
                sleep(Duration::from_secs(3600)).await;
                let never = std::future::pending::<()>();
                assert_eq!(
                    timeout(Duration::from_secs(3600), never).await,
                    Err(Elapsed(Duration::from_secs(3600)))
                );
                let mut ticks = interval(Duration::from_secs(3600));
                ticks.tick().await;
                ticks.tick().await;
            });
            futures_lite::future::block_on(run);
            // sleep, timeout, and the interval's second tick.
            assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 3);
        })
        .join()
        .unwrap();
    }
}
