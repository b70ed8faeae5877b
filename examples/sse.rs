//! Server-Sent Events: a countdown streamed on the runtime's timer, with
//! keep-alive comments while it is quiet.
//!
//! ```text
//! cargo run --example sse            # tokio; or `-- smol`, `-- async-std`
//! curl -N localhost:3000/countdown?from=5
//! ```
#![allow(clippy::print_stdout)]

#[path = "support/serve.rs"]
mod serve;

use std::convert::Infallible;
use std::time::Duration;

use futures_lite::stream;
use serde::Deserialize;
use tramline::Router;
use tramline::extract::{Query, State};
use tramline::response::IntoResponse;
use tramline::response::sse::{Event, KeepAlive, Sse};
use tramline::routing::get;
use tramline::rt::Runtime;

/// The gap between two events.
pub const TICK: Duration = Duration::from_millis(100);

/// The query of `/countdown`.
#[derive(Debug, Deserialize)]
pub struct Countdown {
    /// The number to count down from (at most 100).
    pub from: u32,
}

/// `GET /countdown?from=N`: events `N`, `N-1` … `1` a [`TICK`] apart, each
/// with its number as id, then `event: liftoff`, and the stream ends.
pub fn app<R: Runtime>(rt: R) -> Router {
    Router::new()
        .route("/countdown", get(countdown::<R>))
        .with_state(rt)
}

async fn countdown<R: Runtime>(
    State(rt): State<R>,
    Query(q): Query<Countdown>,
) -> impl IntoResponse {
    let keep_alive = KeepAlive::new(rt.clone());
    let events = stream::unfold(Some(q.from.min(100)), move |left| {
        let rt = rt.clone();
        async move {
            let left = left?;
            rt.sleep(TICK).await;
            let event = match left {
                0 => Event::default().event("liftoff").ok()?.data("🚀"),
                n => Event::default()
                    .id(&n.to_string())
                    .ok()?
                    .data(n.to_string()),
            };
            Some((Ok::<_, Infallible>(event), left.checked_sub(1)))
        }
    });
    Sse::new(events).keep_alive(keep_alive)
}

fn main() -> std::io::Result<()> {
    serve::serve_on_runtime_from_args!(app)
}
