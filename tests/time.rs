//! `tramline::time` in an app with no runtime type anywhere: the same app
//! on every runtime, over real sockets, and under `TestClient`; and what a
//! handler that awaits a runtime's own timer (tokio's, async-io's) gets on
//! each runtime.

mod support;

use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use tramline::Router;
use tramline::middleware::timeout;
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::test::TestClient;

use support::{TestServer, on_every_runtime_and_protocol};

/// No `R: Runtime`, no `State<R>`.
fn app() -> Router {
    Router::new()
        .route(
            "/sleep",
            get(|| async {
                let started = Instant::now();
                tramline::time::sleep(Duration::from_millis(30)).await;
                format!("slept {}", started.elapsed() >= Duration::from_millis(30))
            }),
        )
        .route(
            "/timeout",
            get(|| async {
                let quick = tramline::time::timeout(Duration::from_secs(5), async { 1 }).await;
                let slow = tramline::time::timeout(
                    Duration::from_millis(20),
                    std::future::pending::<()>(),
                )
                .await;
                format!("{quick:?} {}", slow.unwrap_err())
            }),
        )
        .route(
            "/ticks",
            get(|| async {
                let started = Instant::now();
                let ticks: Vec<_> = tramline::time::interval(Duration::from_millis(10))
                    .take(4)
                    .collect()
                    .await;
                // The first at once, then one per period.
                format!(
                    "{} {}",
                    ticks.len(),
                    started.elapsed() >= Duration::from_millis(30)
                )
            }),
        )
        .route("/stuck", get(std::future::pending::<&'static str>))
        .layer(timeout(Duration::from_millis(300)))
}

fn check(mut get: impl FnMut(&str) -> (u16, String)) {
    assert_eq!(get("/sleep"), (200, "slept true".to_owned()));
    assert_eq!(
        get("/timeout"),
        (200, "Ok(1) timed out after 20ms".to_owned())
    );
    assert_eq!(get("/ticks"), (200, "4 true".to_owned()));
    assert_eq!(get("/stuck"), (503, "request timed out".to_owned()));
}

fn the_runtime_serving_the_request_keeps_time<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    check(|path| {
        let r = client.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        (r.status, r.text().to_owned())
    });
}

#[test]
fn the_test_client_keeps_time() {
    let client = TestClient::new(app());
    check(|path| {
        let res = client.get(path).send();
        (res.status().as_u16(), res.text())
    });
}

/// Handlers that await a runtime's own timer rather than `tramline::time`:
/// tokio's, and async-io's (smol's, which async-std uses too).
fn own_timer_app() -> Router {
    Router::new()
        .route(
            "/tokio-sleep",
            get(|| async {
                let started = Instant::now();
                ::tokio::time::sleep(Duration::from_millis(20)).await;
                format!("slept {}", started.elapsed() >= Duration::from_millis(20))
            }),
        )
        .route(
            "/async-io-sleep",
            get(|| async {
                let started = Instant::now();
                ::smol::Timer::after(Duration::from_millis(20)).await;
                format!("slept {}", started.elapsed() >= Duration::from_millis(20))
            }),
        )
        .route("/ok", get(|| async { "ok" }))
}

/// async-io's timer works on every runtime: with no smol executor driving
/// it, async-io runs its reactor on a thread of its own.
fn async_io_timer_works_everywhere<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, own_timer_app());
    let mut client = server.connect();
    let r = client.roundtrip(b"GET /async-io-sleep HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "slept true"));
}

on_every_runtime_and_protocol!(
    the_runtime_serving_the_request_keeps_time,
    async_io_timer_works_everywhere
);

/// On the tokio adapters every connection's task runs inside the tokio
/// runtime serving it, so tokio's timer (and the rest of tokio's
/// runtime-bound API) works in handlers, on the same connection again and
/// again.
fn tokio_timer_works_on_a_tokio_runtime<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, own_timer_app());
    let mut client = server.connect();
    for _ in 0..3 {
        let r = client.roundtrip(b"GET /tokio-sleep HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!((r.status, r.text()), (200, "slept true"));
        assert_eq!(r.header("connection"), None, "kept alive");
    }
}

#[test]
fn tokio_timer_works_on_tokio() {
    tokio_timer_works_on_a_tokio_runtime(tramline_tokio::Tokio::with_workers(2));
}

#[test]
fn tokio_timer_works_on_tokio_local() {
    tokio_timer_works_on_a_tokio_runtime(tramline_tokio::TokioLocal::new(2));
}

/// Elsewhere there is no tokio runtime: `tokio::time::sleep` panics when
/// the handler calls it ("there is no reactor running, must be called from
/// the context of a Tokio 1.x runtime"), the engine turns the panic into a plain-text
/// `500` and closes that connection, and the server goes on serving.
fn tokio_timer_is_a_500_elsewhere<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, own_timer_app());
    for _ in 0..2 {
        let mut client = server.connect();
        let r = client.roundtrip(b"GET /tokio-sleep HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!((r.status, r.text()), (500, "internal server error"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("connection"), Some("close"));
        client.assert_closed();
        let mut next = server.connect();
        let r = next.roundtrip(b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!((r.status, r.text()), (200, "ok"));
    }
}

#[test]
fn tokio_timer_is_a_500_on_smol() {
    tokio_timer_is_a_500_elsewhere(tramline_smol::Smol::with_workers(2));
}

#[test]
fn tokio_timer_is_a_500_on_smol_local() {
    tokio_timer_is_a_500_elsewhere(tramline_smol::SmolLocal::new(2));
}

#[test]
fn tokio_timer_is_a_500_on_async_std() {
    tokio_timer_is_a_500_elsewhere(tramline_async_std::AsyncStd::with_workers(2));
}

#[test]
fn tokio_timer_is_a_500_under_the_test_client() {
    let client = TestClient::new(own_timer_app());
    let res = client.get("/tokio-sleep").send();
    assert_eq!(res.status().as_u16(), 500);
    assert_eq!(res.text(), "internal server error");
    client.get("/ok").send().assert_text("ok");
    client
        .get("/async-io-sleep")
        .send()
        .assert_text("slept true");
}
