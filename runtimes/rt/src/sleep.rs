//! The future [`Runtime::sleep`](crate::Runtime::sleep) returns, over any
//! runtime's timer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A runtime's timer future with its output dropped: what
/// [`Runtime::sleep`](crate::Runtime::sleep) returns on runtimes whose timer
/// yields something (async-io's `Timer` yields an `Instant`) or has no
/// nameable type.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let sleep = tramline_rt::Sleep::new(std::future::ready(7));
/// let () = sleep.await;
/// # });
/// ```
///
/// # Cancel safety
///
/// Cancel safe if the timer is: dropping it drops the timer.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Sleep<T>(T);

impl<T> Sleep<T> {
    /// Wraps a runtime's timer future.
    pub fn new(timer: T) -> Self {
        Self(timer)
    }
}

impl<T: Future + Unpin> Future for Sleep<T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

// Not derived: a boxed timer (`dyn Future`) has no `Debug`.
impl<T> fmt::Debug for Sleep<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").finish_non_exhaustive()
    }
}
