//! `timeout`: answer `503` when the rest of the chain takes too long.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures_lite::future;
use http::StatusCode;
use tramline_rt::Runtime;

use super::{Middleware, Next};
use crate::response::plain_text;
use crate::{Request, Response};

/// Answers `503 Service Unavailable` with `request timed out` when the
/// rest of the chain has not answered within `duration`, sleeping on
/// `runtime`'s timer. The handler's future is dropped at its current
/// `.await`.
///
/// tramline has no global runtime, so the timer is passed in: take it from
/// where you build the server (it is the same value you give
/// [`Server::bind_with`](crate::Server::bind_with)). For a timer that is
/// not a [`Runtime`], use [`timeout_with`].
///
/// # Examples
///
/// ```no_run
/// # #[cfg(feature = "default-runtime")] {
/// use std::time::Duration;
/// use tramline::middleware::timeout;
/// use tramline::rt::DefaultRuntime;
/// use tramline::routing::get;
/// use tramline::{Router, Server};
///
/// let rt = DefaultRuntime::default();
/// let app = Router::new()
///     .route("/", get(|| async { "quick" }))
///     .layer(timeout(rt.clone(), Duration::from_secs(10)));
/// Server::bind_with(rt, "127.0.0.1:3000")?.serve(app)?;
/// # }
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn timeout<R: Runtime>(
    runtime: R,
    duration: Duration,
) -> Timeout<impl Fn(Duration) -> R::Sleep + Clone + Send + Sync + 'static> {
    timeout_with(move |d| runtime.sleep(d), duration)
}

/// Like [`timeout`], with any sleep: `sleep(duration)` returns a future
/// that completes after `duration`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tramline::middleware::timeout_with;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// // A "timer" that has always expired, and a handler that never answers.
/// let expired = |_: Duration| std::future::ready(());
/// let app = Router::new()
///     .route("/", get(|| std::future::pending::<&str>()))
///     .layer(timeout_with(expired, Duration::from_secs(1)));
/// TestClient::new(app).get("/").send().assert_status(503).assert_text("request timed out");
/// ```
pub fn timeout_with<F, Fut>(sleep: F, duration: Duration) -> Timeout<F>
where
    F: Fn(Duration) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Timeout { sleep, duration }
}

/// The middleware made by [`timeout`] and [`timeout_with`].
#[derive(Clone, Copy)]
pub struct Timeout<F> {
    sleep: F,
    duration: Duration,
}

impl<F, Fut> Middleware for Timeout<F>
where
    F: Fn(Duration) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static {
        let sleep = self.sleep.clone();
        let duration = self.duration;
        async move {
            let expired = async move {
                // The timer is made here, on the request's task: a per-core
                // runtime's timers belong to the worker that polls them.
                sleep(duration).await;
                plain_text(StatusCode::SERVICE_UNAVAILABLE, "request timed out")
            };
            future::or(next.run(req), expired).await
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::routing::get;
    use crate::test::TestClient;

    #[test]
    fn a_handler_that_answers_in_time_is_untouched() {
        let never = |_: Duration| std::future::pending::<()>();
        let app = Router::new()
            .route("/", get(|| async { "done" }))
            .layer(timeout_with(never, Duration::from_millis(1)));
        TestClient::new(app)
            .get("/")
            .send()
            .assert_status(200)
            .assert_text("done");
    }

    #[test]
    fn the_sleep_gets_the_configured_duration() {
        let app = Router::new()
            .route("/", get(std::future::pending::<()>))
            .layer(timeout_with(
                |d: Duration| {
                    assert_eq!(d, Duration::from_millis(250));
                    std::future::ready(())
                },
                Duration::from_millis(250),
            ));
        TestClient::new(app).get("/").send().assert_status(503);
    }
}
