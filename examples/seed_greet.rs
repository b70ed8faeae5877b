//! Handlers that wait on the runtime's timer, written once for any runtime.
//!
//! `/hello` answers after a 1 s sleep and `/greet/{name}` after 500 ms. The
//! app takes the runtime as state, so its sleeps are the runtime's own
//! timers, whichever runtime serves it.
//!
//! ```text
//! cargo run --example seed_greet            # tokio
//! cargo run --example seed_greet -- smol    # or async-std
//! curl http://127.0.0.1:3000/greet/ada
//! ```
#![allow(clippy::print_stdout)]

use std::time::Duration;

use tramline::extract::{Path, State};
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::{Router, Server};

/// The app, generic over the runtime whose timer it sleeps on.
fn app<R: Runtime>(rt: R) -> Router {
    Router::new()
        .route(
            "/hello",
            get(|State(rt): State<R>| async move {
                rt.sleep(Duration::from_secs(1)).await;
                "Hello, World!"
            }),
        )
        .route(
            "/greet/{name}",
            get(|State(rt): State<R>, Path(name): Path<String>| async move {
                rt.sleep(Duration::from_millis(500)).await;
                format!("Hello, {name}!")
            }),
        )
        .with_state(rt)
}

fn serve<R: Runtime>(rt: R) -> std::io::Result<()> {
    let server = Server::bind_with(rt.clone(), "127.0.0.1:3000")?;
    println!("listening on http://{}", server.local_addr());
    server.serve(app(rt))
}

fn main() -> std::io::Result<()> {
    match std::env::args().nth(1).as_deref() {
        None | Some("tokio") => serve(tramline_tokio::Tokio::new()),
        Some("smol") => serve(tramline_smol::Smol::new()),
        Some("async-std") => serve(tramline_async_std::AsyncStd::new()),
        Some(other) => Err(std::io::Error::other(format!(
            "unknown runtime {other:?}; expected tokio, smol or async-std"
        ))),
    }
}
