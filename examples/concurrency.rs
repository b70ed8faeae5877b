//! Gather, select and timeout in a handler, the patterns asyncio users
//! know as `gather`, `wait(FIRST_COMPLETED)` and `wait_for`, written with
//! runtime-neutral combinators so the same app serves on tokio, smol and
//! async-std.
//!
//! The "backends" are simulated with the runtime's timer, taken from the
//! router's state: a handler never calls a runtime's global function.
//!
//! ```text
//! cargo run --example concurrency            # tokio; or `-- smol`, `-- async-std`
//! curl localhost:3000/gather    # three calls at once: ~150 ms, not 450
//! curl localhost:3000/race      # two mirrors, the first answer wins
//! curl -i localhost:3000/deadline   # a slow call cut off after 100 ms
//! ```
#![allow(clippy::print_stdout)]

#[path = "support/serve.rs"]
mod serve;

use std::future::Future;
use std::time::{Duration, Instant};

use futures_lite::future;
use serde::Serialize;
use tramline::prelude::*;
use tramline::rt::Runtime;

/// How long each simulated backend takes.
pub const USER_MS: u64 = 150;
/// See [`USER_MS`].
pub const ORDERS_MS: u64 = 150;
/// See [`USER_MS`].
pub const RECOMMENDATIONS_MS: u64 = 150;
/// The fast and slow mirrors of `/race`.
pub const FAST_MIRROR_MS: u64 = 50;
/// See [`FAST_MIRROR_MS`].
pub const SLOW_MIRROR_MS: u64 = 2_000;
/// The deadline `/deadline` gives a backend that takes 5 s.
pub const DEADLINE_MS: u64 = 100;

/// A simulated backend call: answers `value` after `ms` milliseconds.
fn backend<R: Runtime>(
    rt: &R,
    ms: u64,
    value: &'static str,
) -> impl Future<Output = &'static str> + Send + use<R> {
    let sleep = rt.sleep(Duration::from_millis(ms));
    async move {
        sleep.await;
        value
    }
}

/// What `/gather` answers.
#[derive(Debug, Serialize)]
pub struct Dashboard {
    /// From the first backend.
    pub user: &'static str,
    /// From the second.
    pub orders: &'static str,
    /// From the third.
    pub recommendations: &'static str,
    /// How long the three calls took together.
    pub elapsed_ms: u64,
}

/// Fans out to three backends at once and waits for all of them
/// (`asyncio.gather`): the time is the slowest call's, not the sum.
async fn gather<R: Runtime>(State(rt): State<R>) -> Json<Dashboard> {
    let start = Instant::now();
    let ((user, orders), recommendations) = future::zip(
        future::zip(
            backend(&rt, USER_MS, "ann"),
            backend(&rt, ORDERS_MS, "3 orders"),
        ),
        backend(&rt, RECOMMENDATIONS_MS, "socks"),
    )
    .await;
    Json(Dashboard {
        user,
        orders,
        recommendations,
        elapsed_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Asks two mirrors and takes the first answer (`asyncio.wait` with
/// `FIRST_COMPLETED`); the loser is dropped, which cancels it.
async fn race<R: Runtime>(State(rt): State<R>) -> &'static str {
    // `or` polls the first future first; `future::race` picks at random
    // when both are ready, which is fairer under load.
    future::race(
        backend(&rt, SLOW_MIRROR_MS, "slow mirror"),
        backend(&rt, FAST_MIRROR_MS, "fast mirror"),
    )
    .await
}

/// Gives a slow backend a deadline (`asyncio.wait_for`): the call is
/// dropped when the timer fires first, and the client gets a 504. (Not a
/// `tramline::Error`: that one keeps 5xx messages from clients, and this
/// one is meant for them.)
async fn deadline<R: Runtime>(State(rt): State<R>) -> Result<&'static str, (StatusCode, String)> {
    let call = async { Some(backend(&rt, 5_000, "too late").await) };
    let timer = async {
        rt.sleep(Duration::from_millis(DEADLINE_MS)).await;
        None
    };
    future::or(call, timer).await.ok_or_else(|| {
        (
            StatusCode::GATEWAY_TIMEOUT,
            format!("the backend did not answer within {DEADLINE_MS} ms"),
        )
    })
}

/// The app, generic over the runtime whose timer it uses.
pub fn app<R: Runtime>(rt: R) -> Router {
    Router::new()
        .route("/gather", get(gather::<R>))
        .route("/race", get(race::<R>))
        .route("/deadline", get(deadline::<R>))
        .with_state(rt)
}

fn main() -> std::io::Result<()> {
    serve::serve_on_runtime_from_args!(app)
}
