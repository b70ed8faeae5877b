//! `tramline::time` in an app with no runtime type anywhere: the same app
//! on every runtime, over real sockets, and under `TestClient`.

mod support;

use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use tramline::Router;
use tramline::middleware::timeout;
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::test::TestClient;

use support::{TestServer, on_every_runtime};

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

on_every_runtime!(the_runtime_serving_the_request_keeps_time);

#[test]
fn the_test_client_keeps_time() {
    let client = TestClient::new(app());
    check(|path| {
        let res = client.get(path).send();
        (res.status().as_u16(), res.text())
    });
}
