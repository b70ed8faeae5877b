//! The HTTP/1.1 engine over real loopback sockets, on every runtime:
//! keep-alive, pipelining, chunked bodies both ways, HEAD, HTTP/1.0,
//! `Connection: close`, `Expect: 100-continue`, malformed heads and panics.

mod support;

use std::time::Duration;

use bytes::Bytes;
use futures_lite::stream;
use tramline::extract::Path;
use tramline::routing::{get, post};
use tramline::rt::Runtime;
use tramline::{Body, Router};

use support::{TestServer, on_every_runtime};

fn app() -> Router {
    Router::new()
        .route("/plaintext", get(|| async { "Hello, World!" }))
        .route(
            "/n/{n}",
            get(|Path(n): Path<u32>| async move { format!("n={n}") }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/stream",
            get(|| async {
                let chunks =
                    ["one ", "two ", "three"].map(|s| Ok::<_, std::io::Error>(Bytes::from(s)));
                Body::from_stream(stream::iter(chunks))
            }),
        )
        .route(
            "/panic",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
}

fn keep_alive_serves_many_requests_on_one_connection<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    for i in 0..5 {
        let r = client.roundtrip(format!("GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("n={i}"));
        assert_eq!(
            r.header("content-length"),
            Some(format!("n={i}").len().to_string().as_str())
        );
        assert!(
            r.header("date").is_some_and(|d| d.ends_with(" GMT")),
            "{:?}",
            r.headers
        );
        assert_eq!(r.header("connection"), None);
    }
}

fn pipelined_requests_are_answered_in_order<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    let batch: String = (0..100)
        .map(|i| format!("GET /n/{i} HTTP/1.1\r\nHost: t\r\n\r\n"))
        .collect();
    client.send(batch.as_bytes());
    for i in 0..100 {
        let r = client.response();
        assert_eq!((r.status, r.text()), (200, format!("n={i}").as_str()));
    }
}

fn chunked_request_body_is_decoded<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    std::thread::sleep(Duration::from_millis(20));
    client.send(b"6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    let r = client.response();
    assert_eq!((r.status, r.text()), (200, "hello world"));
    // The connection is still good for the next request.
    let r = client.roundtrip(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "Hello, World!");
}

fn content_length_body_is_read_across_writes<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    let body = vec![b'x'; 1 << 20];
    client.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    for part in body.chunks(64 * 1024) {
        client.send(part);
    }
    let r = client.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, body);
}

fn streamed_response_is_chunked<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    let r = client.roundtrip(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.text(), "one two three");
    let r = client.roundtrip(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.text(), "Hello, World!");
}

fn streamed_response_on_http10_is_delimited_by_close<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = client.response();
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.text(), "one two three");
}

fn head_sends_headers_of_get_without_body<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(b"HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\nGET /n/1 HTTP/1.1\r\nHost: t\r\n\r\n");
    let head = client.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("13"));
    // Had a body followed the HEAD response, this would read it instead.
    let next = client.response();
    assert_eq!(next.text(), "n=1");
}

fn http10_closes_without_keep_alive<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    let r = client.roundtrip(b"GET /plaintext HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "Hello, World!"));
    client.assert_closed();

    let mut client = server.connect();
    let r = client.roundtrip(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.header("connection"), Some("keep-alive"));
    let r = client.roundtrip(b"GET /n/2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(r.text(), "n=2");
}

fn connection_close_stops_after_that_response<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(b"GET /n/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /n/2 HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = client.response();
    assert_eq!(r.text(), "n=1");
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed();
}

fn expect_continue_gets_100_before_the_body<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = client.response();
    assert_eq!(interim.status, 100);
    client.send(b"ping");
    let r = client.response();
    assert_eq!((r.status, r.text()), (200, "ping"));
}

fn malformed_head_gets_400_and_close<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    for bad in [
        &b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"[..],
        b"GET /plaintext HTTP/1.1\nHost: t\n\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    ] {
        let mut client = server.connect();
        let r = client.roundtrip(bad);
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(bad));
        assert_eq!(r.header("connection"), Some("close"));
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert!(!r.body.is_empty());
        client.assert_closed();
    }
    // The server is unharmed.
    let r = server
        .connect()
        .roundtrip(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
}

fn oversized_body_is_refused_from_content_length<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3000000\r\nExpect: 100-continue\r\n\r\n");
    let r = client.response();
    assert_eq!((r.status, r.text()), (413, "request body too large"));
    client.assert_closed();
}

fn panicking_handler_gets_500_and_server_goes_on<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    let r = client.roundtrip(b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (500, "internal server error"));
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed();
    let r = server
        .connect()
        .roundtrip(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
}

fn shutdown_closes_idle_connections<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut idle = server.connect();
    let r = idle.roundtrip(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    let start = std::time::Instant::now();
    drop(server);
    // Graceful shutdown closed the idle keep-alive connection well before
    // its grace period ran out.
    idle.assert_closed();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

on_every_runtime!(
    keep_alive_serves_many_requests_on_one_connection,
    pipelined_requests_are_answered_in_order,
    chunked_request_body_is_decoded,
    content_length_body_is_read_across_writes,
    streamed_response_is_chunked,
    streamed_response_on_http10_is_delimited_by_close,
    head_sends_headers_of_get_without_body,
    http10_closes_without_keep_alive,
    connection_close_stops_after_that_response,
    expect_continue_gets_100_before_the_body,
    malformed_head_gets_400_and_close,
    oversized_body_is_refused_from_content_length,
    panicking_handler_gets_500_and_server_goes_on,
    shutdown_closes_idle_connections,
);
