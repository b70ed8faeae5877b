//! The benchmark server: one app, served on the runtime named on the
//! command line. The benchmarks and the tests depend on this contract.
//!
//! ```text
//! cargo run --release --example bench_server -- \
//!     --runtime <tokio|tokio-local|smol|smol-local|async-std|uring> --workers <N> --port <P> \
//!     [--grace-ms MS] [--drain-idle-ms MS] [--tls-cert PEM --tls-key PEM] [--static DIR]
//! ```
//!
//! It prints `listening on 127.0.0.1:<P>` once it accepts connections; a
//! TCP listener passed by socket activation (`LISTEN_FDS`) is used instead
//! of `--port`. On
//! SIGTERM or SIGINT it shuts down gracefully (see `tramline::Server`) and
//! exits 0; `--grace-ms` and `--drain-idle-ms` set the shutdown's deadline
//! and idle drain window. With `--tls-cert` and `--tls-key` (the `tls`
//! feature: `--features tls`) every route is served over HTTPS instead, on
//! the same port.
//!
//! Besides the benchmark routes: `GET /ws` is a WebSocket echo (the `ws`
//! feature), `GET /sse?n=N` sends N events `data: 0` … `data: N-1` and
//! ends, and `GET /static/{*path}` serves the folder given by `--static`
//! (the `fs` feature; 404 when no folder is given). Built without a
//! feature, its route answers 501 and says which feature it needs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::convert::Infallible;
use std::io::{self, Write};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tramline::extract::{Path, Query, State};
use tramline::http::StatusCode;
use tramline::response::sse::{Event, Sse};
use tramline::response::{IntoResponse, Response};
use tramline::routing::{any, get, post};
use tramline::rt::Runtime;
use tramline::{Json, Router, Server};

/// Filler routes, so routing is not a one-entry table.
const FILLER_ROUTES: usize = 40;

/// xorshift rounds `/cpu` runs: about 5 ms of one core on the benchmark
/// machine (2 ns a round), a fixed amount of work rather than a timed spin.
const CPU_ROUNDS: u64 = 2_500_000;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// The app, generic over the runtime whose timer `/async` sleeps on.
fn app<R: Runtime>(rt: R, static_dir: Option<&str>) -> Router {
    let mut router = Router::new()
        .route("/plaintext", get(|| async { plaintext() }))
        .route(
            "/json",
            get(|| async {
                Json(Message {
                    message: "Hello, World!",
                })
            }),
        )
        .route(
            "/users/{id}",
            get(|Path(id): Path<String>| async move { format!("user {id}") }),
        )
        .route(
            "/async",
            get(|State(rt): State<R>| async move {
                rt.sleep(Duration::from_millis(2)).await;
                "OK"
            }),
        )
        .route("/fib", get(|| async { fib_handler() }))
        .route("/cpu", get(|| async { cpu_handler() }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/",
            any(|body: Bytes| async move {
                // The extractor has read the whole body by now.
                drop(body);
                "OK"
            }),
        );
    router = router.route("/sse", get(sse)).route("/ws", ws_route());
    router = static_routes(router, static_dir);
    for i in 0..FILLER_ROUTES {
        router = router.route(
            &format!("/api/v1/resource{i}/{{id}}"),
            get(move |Path(id): Path<String>| async move { format!("resource {i} {id}") }),
        );
    }
    router.with_state(rt)
}

/// Most events `/sse` sends: the route is for tests and benchmarks, not an
/// open-ended stream.
const MAX_EVENTS: u64 = 1_000_000;

#[derive(Deserialize)]
struct SseParams {
    n: u64,
}

/// `GET /sse?n=N`: N events, `data: 0` … `data: N-1`, then the end.
async fn sse(Query(SseParams { n }): Query<SseParams>) -> Response {
    if n > MAX_EVENTS {
        return (
            StatusCode::BAD_REQUEST,
            format!("n is at most {MAX_EVENTS}"),
        )
            .into_response();
    }
    let events = (0..n).map(|i| Ok::<_, Infallible>(Event::default().data(i.to_string())));
    Sse::new(futures_lite::stream::iter(events)).into_response()
}

/// `GET /ws`: every text or binary message sent back unchanged.
#[cfg(feature = "ws")]
fn ws_route<S: Clone + Send + Sync + 'static>() -> tramline::routing::MethodRouter<S> {
    use tramline::ws::{Message, WebSocketUpgrade};
    get(|ws: WebSocketUpgrade| async move {
        ws.on_upgrade(|mut socket| async move {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Text(_) | Message::Binary(_))
                    && socket.send(message).await.is_err()
                {
                    break;
                }
            }
        })
    })
}

#[cfg(not(feature = "ws"))]
fn ws_route<S: Clone + Send + Sync + 'static>() -> tramline::routing::MethodRouter<S> {
    get(|| async { needs_feature("ws") })
}

/// `GET /static/{*path}` (and `/static/`, its index): the folder given by
/// `--static`, or 404.
#[cfg(feature = "fs")]
fn static_routes<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    dir: Option<&str>,
) -> Router<S> {
    match dir {
        Some(dir) => router.nest_service("/static", tramline::fs::ServeDir::new(dir)),
        None => router.route(
            "/static/{*path}",
            get(|| async { (StatusCode::NOT_FOUND, "no --static folder given") }),
        ),
    }
}

#[cfg(not(feature = "fs"))]
fn static_routes<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    _dir: Option<&str>,
) -> Router<S> {
    router.route("/static/{*path}", get(|| async { needs_feature("fs") }))
}

#[cfg(not(all(feature = "ws", feature = "fs")))]
fn needs_feature(feature: &str) -> Response {
    (
        StatusCode::NOT_IMPLEMENTED,
        format!("bench_server was built without the `{feature}` feature"),
    )
        .into_response()
}

fn plaintext() -> impl IntoResponse {
    (
        [(
            tramline::http::header::CONTENT_TYPE,
            tramline::http::HeaderValue::from_static("text/plain"),
        )],
        "Hello, World!",
    )
}

/// Walks the Fibonacci numbers up to 100,000,000, as the Python-vs-Rust
/// benchmark the project was seeded with does, and answers `OK`.
fn fib_handler() -> &'static str {
    let (mut a, mut b) = (0u64, 1u64);
    let mut count = 0u32;
    while a <= std::hint::black_box(100_000_000) {
        (a, b) = (b, a + b);
        count += 1;
    }
    std::hint::black_box(count);
    "OK"
}

/// Burns about 5 ms of CPU without yielding, as a CPU-bound handler that
/// blocks its worker would; the cpu-mix workload sends 1% of its requests
/// here and measures what that does to the other 99%.
fn cpu_handler() -> &'static str {
    let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..std::hint::black_box(CPU_ROUNDS) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x);
    "OK"
}

struct Args {
    runtime: String,
    workers: usize,
    port: u16,
    grace: Option<Duration>,
    drain_idle: Option<Duration>,
    /// `--tls-cert` and `--tls-key`: serve HTTPS with these PEM files
    /// (always `None` without the `tls` feature).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    tls: Option<(String, String)>,
    /// `--static DIR`: the folder `/static/` serves.
    static_dir: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        runtime: "tokio".into(),
        workers: 1,
        port: 8080,
        grace: None,
        drain_idle: None,
        tls: None,
        static_dir: None,
    };
    let (mut tls_cert, mut tls_key) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runtime" => args.runtime = value,
            "--workers" => {
                args.workers =
                    value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("--workers takes a positive number, got {value:?}")
                    })?;
            }
            "--port" => {
                args.port = value
                    .parse()
                    .map_err(|_| format!("--port takes a port number, got {value:?}"))?;
            }
            "--grace-ms" => args.grace = Some(millis(&flag, &value)?),
            "--drain-idle-ms" => args.drain_idle = Some(millis(&flag, &value)?),
            "--tls-cert" => tls_cert = Some(value),
            "--tls-key" => tls_key = Some(value),
            "--static" => args.static_dir = Some(value),
            _ => return Err(format!("unknown flag {flag:?}")),
        }
    }
    args.tls = match (tls_cert, tls_key) {
        (None, None) => None,
        (Some(cert), Some(key)) if cfg!(feature = "tls") => Some((cert, key)),
        (Some(_), Some(_)) => {
            return Err(
                "--tls-cert needs the `tls` feature: cargo run --features tls --example bench_server"
                    .into(),
            );
        }
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    Ok(args)
}

fn millis(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse()
        .map(Duration::from_millis)
        .map_err(|_| format!("{flag} takes a number of milliseconds, got {value:?}"))
}

fn serve<R: Runtime>(rt: R, args: &Args) -> io::Result<()> {
    // A listener passed by socket activation (systemd, systemfd) wins over
    // --port, so the server can be restarted without refusing a connection.
    let mut server = Server::inherit_or_bind_with(rt.clone(), ("127.0.0.1", args.port))?;
    if let Some(grace) = args.grace {
        server.shutdown_grace(grace);
    }
    if let Some(window) = args.drain_idle {
        server.drain_idle(window);
    }
    // parse_args refuses the TLS flags without the feature.
    #[cfg(feature = "tls")]
    if let Some((cert, key)) = &args.tls {
        server.tls(tramline::tls::TlsConfig::from_pem_files(cert, key)?);
    }
    println!("listening on {}", server.local_addr());
    io::stdout().flush()?;
    server.serve(app(rt, args.static_dir.as_deref()))
}

/// The runtimes `--runtime` takes; `uring` with the `uring` feature.
const RUNTIMES: &str = if cfg!(feature = "uring") {
    "tokio, tokio-local, smol, smol-local, async-std or uring"
} else {
    "tokio, tokio-local, smol, smol-local or async-std"
};

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!(
                "bench_server: {e}\nusage: bench_server --runtime <{}> --workers <N> --port <P> [--grace-ms MS] [--drain-idle-ms MS] [--tls-cert PEM --tls-key PEM] [--static DIR]",
                RUNTIMES.replace(", ", "|").replace(" or ", "|")
            );
            std::process::exit(2);
        }
    };
    let n = args.workers;
    let result = match args.runtime.as_str() {
        "tokio" => serve(tramline_tokio::Tokio::with_workers(n), &args),
        "tokio-local" => serve(tramline_tokio::TokioLocal::new(n), &args),
        "smol" => serve(tramline_smol::Smol::with_workers(n), &args),
        "smol-local" => serve(tramline_smol::SmolLocal::new(n), &args),
        "async-std" => serve(tramline_async_std::AsyncStd::with_workers(n), &args),
        #[cfg(feature = "uring")]
        "uring" => serve(tramline::rt::Uring::new(n), &args),
        other => {
            // The matrix reads this list to learn the runtimes.
            eprintln!("bench_server: unknown runtime {other:?}; expected {RUNTIMES}");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("bench_server: {e}");
        std::process::exit(1);
    }
}
