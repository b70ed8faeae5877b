//! bench_server's routes on axum (tokio multi-thread runtime).
#![allow(missing_docs)]

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use axum::serve::ListenerExt;
use tramline_peers::{FILLER_ROUTES, MESSAGE, Message, PLAINTEXT};

fn app() -> Router {
    let mut router = Router::new()
        .route(
            "/plaintext",
            get(|| async { ([(CONTENT_TYPE, "text/plain")], PLAINTEXT).into_response() }),
        )
        .route(
            "/json",
            get(|| async { axum::Json(Message { message: MESSAGE }) }),
        )
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { format!("user {id}") }),
        )
        .route(
            "/async",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                "OK"
            }),
        )
        .route("/fib", get(|| async { tramline_peers::fib() }))
        .route("/cpu", get(|| async { tramline_peers::cpu() }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/",
            any(|body: Bytes| async move {
                drop(body);
                "OK"
            }),
        );
    for i in 0..FILLER_ROUTES {
        router = router.route(
            &format!("/api/v1/resource{i}/{{id}}"),
            get(move |Path(id): Path<String>| async move { format!("resource {i} {id}") }),
        );
    }
    // bench_server accepts 1 MiB uploads (its limit is 2 MiB).
    router.layer(axum::extract::DefaultBodyLimit::max(2 * 1024 * 1024))
}

fn main() -> std::io::Result<()> {
    let args = tramline_peers::args("axum_server");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
        tramline_peers::announce(listener.local_addr()?);
        // axum leaves Nagle on; every other server in the matrix sets
        // TCP_NODELAY (without it pipelined responses wait for delayed ACKs).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app()).await
    })
}
