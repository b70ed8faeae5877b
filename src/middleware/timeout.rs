//! `timeout`: answer `503` when the rest of the chain takes too long.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures_lite::future;
use http::StatusCode;

use super::{Middleware, Next};
use crate::vocab::response::plain_text;
use crate::vocab::{Request, Response};

/// Answers `503 Service Unavailable` with `request timed out` when the
/// rest of the chain has not answered within `duration`, sleeping on the
/// timer of the runtime serving the request (see [`crate::time`]). The
/// handler's future is dropped at its current `.await`.
///
/// For another timer, use [`timeout_with`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tramline::Router;
/// use tramline::middleware::timeout;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
///
/// let app = Router::new()
///     .route("/", get(|| async { "quick" }))
///     .route("/stuck", get(|| std::future::pending::<&str>()))
///     .layer(timeout(Duration::from_millis(50)));
/// let client = TestClient::new(app);
/// client.get("/").send().assert_text("quick");
/// client.get("/stuck").send().assert_status(503).assert_text("request timed out");
/// ```
pub fn timeout(duration: Duration) -> Timeout<fn(Duration) -> crate::time::Sleep> {
    timeout_with(crate::time::sleep, duration)
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
