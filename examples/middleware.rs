//! Middleware on the whole app, on a nested router and on one route; the
//! built-ins next to hand-written ones.
//!
//! Middleware runs in the order it is added: the first layer is the
//! outermost, so here `Trace` sees every request first and every response
//! last (including the 401s of the admin router and the 503s of the
//! timeout).
//!
//! ```text
//! cargo run --example middleware            # tokio; or `-- smol`, `-- async-std`
//! curl -i localhost:3000/
//! curl -i localhost:3000/admin/stats -H 'authorization: Bearer hunter2'
//! curl -i localhost:3000/slow               # 503 after 500 ms
//! curl -i localhost:3000/upload -d "$(head -c 2000 /dev/zero | tr '\0' x)"   # 413
//! ```
#![allow(clippy::print_stdout)]

#[path = "support/serve.rs"]
mod serve;

use std::time::{Duration, Instant};

use tramline::middleware::{BodyLimit, Cors, RequestId, Trace, timeout};
use tramline::prelude::*;
use tramline::rt::Runtime;

/// Lets a request through only with the right bearer token.
async fn require_token(req: Request, next: Next) -> Result<Response, Error> {
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == "Bearer hunter2");
    if !authorized {
        return Err(Error::unauthorized("missing or wrong bearer token"));
    }
    Ok(next.run(req).await)
}

/// Adds `x-response-time` with the time the rest of the chain took.
async fn response_time(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let mut res = next.run(req).await;
    let micros = start.elapsed().as_micros().to_string();
    if let Ok(value) = HeaderValue::try_from(format!("{micros}us")) {
        res.headers_mut().insert("x-response-time", value);
    }
    res
}

/// The app. It takes the runtime for the timeout's timer and the slow
/// handler's sleep: tramline has no global runtime.
pub fn app<R: Runtime>(rt: R) -> Router {
    let admin = Router::new()
        .route("/stats", get(|| async { "42 users" }))
        // Only the admin routes need a token.
        .layer(from_fn(require_token));

    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/slow",
            get(|State(rt): State<R>| async move {
                rt.sleep(Duration::from_secs(1)).await;
                "finally"
            }),
        )
        .route(
            "/upload",
            // One route with a tighter body limit than the server's.
            post(|body: Bytes| async move { format!("got {} bytes", body.len()) })
                .layer(BodyLimit::new(1024)),
        )
        .nest("/admin", admin)
        .with_state(rt.clone())
        // Outermost first: Trace times everything below it.
        .layer(Trace::new())
        .layer(RequestId::new())
        .layer(Cors::new().allow_origin("https://app.example"))
        .layer(from_fn(response_time))
        .layer(timeout(Duration::from_millis(500)))
}

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    serve::serve_on_runtime_from_args!(app)
}
