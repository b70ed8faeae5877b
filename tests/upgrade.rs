//! Protocol upgrades (`101 Switching Protocols`), on every runtime, over
//! real loopback sockets: the hand-over of the connection, and what the
//! engine does with a 1xx that is not a real upgrade.

mod support;

use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http::{HeaderValue, StatusCode};
use tramline::Router;
use tramline::response::IntoResponse;
use tramline::routing::{get, post};
use tramline::rt::Runtime;
use tramline::upgrade::UpgradeRequest;

use support::{TestServer, on_every_runtime};

const PROBE: &[u8] = b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n";

fn app() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        // `Upgrade: echo` switches to a protocol that sends back every
        // byte; anything else is answered as a plain request.
        .route(
            "/echo",
            get(|upgrade: UpgradeRequest| async move {
                if !upgrade.offers("echo") {
                    return "plain".into_response();
                }
                upgrade.accept(HeaderValue::from_static("echo"), |mut io| async move {
                    let mut buf = [0u8; 4096];
                    while let Ok(n @ 1..) = io.read(&mut buf).await {
                        if io.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                })
            }),
        )
        .route(
            "/upload",
            post(|upgrade: UpgradeRequest| async move {
                upgrade.accept(HeaderValue::from_static("echo"), |_io| async {})
            }),
        )
        .route(
            "/panics",
            get(|upgrade: UpgradeRequest| async move {
                upgrade.accept(HeaderValue::from_static("echo"), |_io| async {
                    panic!("upgrade handler bug");
                })
            }),
        )
        .route(
            "/until-shutdown",
            get(|upgrade: UpgradeRequest| async move {
                upgrade.accept(HeaderValue::from_static("echo"), |mut io| async move {
                    io.on_shutdown().await;
                    let _ = io.write_all(b"going away").await;
                    let _ = io.close().await;
                })
            }),
        )
        // 1xx answers that are not upgrades.
        .route(
            "/bare-101",
            get(|| async { (StatusCode::SWITCHING_PROTOCOLS, "switching") }),
        )
        .route(
            "/early-hints",
            get(|| async { StatusCode::from_u16(103).unwrap() }),
        )
}

const ECHO_UPGRADE: &[u8] =
    b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n";

fn the_connection_is_handed_over_after_the_101<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    // The first bytes of the new protocol arrive with the head: they are
    // the upgrade's, not a next request.
    let mut first = ECHO_UPGRADE.to_vec();
    first.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    client.send(&first);
    let r = client.response();
    assert_eq!(r.status, 101);
    assert_eq!(r.header("upgrade"), Some("echo"));
    assert_eq!(r.header("connection"), Some("upgrade"));
    assert!(r.header("content-length").is_none(), "{:?}", r.headers);
    assert!(r.header("content-type").is_none(), "{:?}", r.headers);
    assert!(r.header("transfer-encoding").is_none(), "{:?}", r.headers);
    assert_eq!(client.read_bytes(18), b"GET / HTTP/1.1\r\n\r\n");
    for message in [&b"hello"[..], &[0, 255, 13, 10], &[b'x'; 20_000]] {
        client.send(message);
        assert_eq!(client.read_bytes(message.len()), message);
    }
    // The client closing ends the upgrade, and the connection with it.
    client.finish_writing();
    client.assert_closed();
}

fn an_unsupported_protocol_is_answered_as_a_plain_request<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    // A route that never upgrades ignores the offer.
    let r = client
        .roundtrip(b"GET /ok HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "ok"));
    // A route that can upgrade, but not to this.
    let r = client.roundtrip(
        b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: foo/1\r\n\r\n",
    );
    assert_eq!((r.status, r.text()), (200, "plain"));
    // Still HTTP on the same connection.
    assert_eq!(client.roundtrip(PROBE).status, 200);
}

fn a_request_that_cannot_upgrade_is_refused<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    // No offer at all: 426, and the connection stays usable.
    let r = client.roundtrip(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 426);
    assert_eq!(r.header("connection"), Some("upgrade"));
    assert_eq!(r.text(), "this resource needs a protocol upgrade");
    // `Upgrade` without `Connection: upgrade` is no offer either.
    let r = client.roundtrip(b"GET /echo HTTP/1.1\r\nHost: t\r\nUpgrade: echo\r\n\r\n");
    assert_eq!(r.status, 426);
    // A body before the switch: the connection cannot change protocol
    // after it, so no 101.
    let r = client.roundtrip(
        b"POST /upload HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(r.status, 400);
    assert_eq!(client.roundtrip(PROBE).status, 200);
    // HTTP/1.0 has no upgrades.
    let mut client = server.connect();
    let r = client.roundtrip(
        b"GET /echo HTTP/1.0\r\nConnection: upgrade, keep-alive\r\nUpgrade: echo\r\n\r\n",
    );
    assert_eq!(r.status, 400);
}

fn a_1xx_that_is_not_an_upgrade_becomes_a_500<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    for path in ["/bare-101", "/early-hints"] {
        // Offered or not, a 101 without the function that takes the
        // connection cannot switch.
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n"
        );
        let r = client.roundtrip(request.as_bytes());
        assert_eq!(
            (r.status, r.text()),
            (500, "internal server error"),
            "{path}"
        );
        // The connection is still HTTP, and still open.
        assert_eq!(client.roundtrip(PROBE).status, 200, "{path}");
    }
}

fn a_panicking_upgrade_closes_only_its_connection<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(b"GET /panics HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n");
    assert_eq!(client.response().status, 101);
    client.assert_closed();
    let mut other = server.connect();
    assert_eq!(other.roundtrip(PROBE).status, 200);
}

fn many_upgraded_connections_run_at_once<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut clients: Vec<_> = (0..20).map(|_| server.connect()).collect();
    for client in &mut clients {
        client.send(ECHO_UPGRADE);
        assert_eq!(client.response().status, 101);
    }
    for round in 0..3 {
        for (i, client) in clients.iter_mut().enumerate() {
            let message = format!("client {i} round {round}");
            client.send(message.as_bytes());
            assert_eq!(client.read_bytes(message.len()), message.as_bytes());
        }
    }
}

fn an_upgrade_hears_of_the_shutdown<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(
        b"GET /until-shutdown HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
    );
    assert_eq!(client.response().status, 101);
    assert!(!client.answers_within(Duration::from_millis(100)));
    let started = Instant::now();
    server.begin_shutdown();
    assert_eq!(client.read_bytes(10), b"going away");
    client.assert_closed();
    // Well within the grace the test server allows (2 s): the upgrade
    // ended on its own.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    drop(server);
}

on_every_runtime!(
    the_connection_is_handed_over_after_the_101,
    an_unsupported_protocol_is_answered_as_a_plain_request,
    a_request_that_cannot_upgrade_is_refused,
    a_1xx_that_is_not_an_upgrade_becomes_a_500,
    a_panicking_upgrade_closes_only_its_connection,
    many_upgraded_connections_run_at_once,
    an_upgrade_hears_of_the_shutdown,
);
