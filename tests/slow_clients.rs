//! Slow and hostile clients over real loopback, on every runtime: a client
//! that sends or reads one byte just inside every timeout gap must still be
//! cut after a bounded time, and a slow but honest one must not be.
//!
//! The body and write timeouts are time budgets: waiting spends them, and
//! bytes the client moves earn time back at the minimum rate (see the
//! limits table on `Server`).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::{StreamExt, stream};
use tramline::routing::{get, post};
use tramline::rt::Runtime;
use tramline::{Body, Router};

use support::{TestServer, on_every_runtime};

/// The longest any cut in this suite may take: each case's timeout is
/// 500 ms, so this is a bound with room for a loaded machine, and far below
/// what a trickle of bytes would keep a connection for without the budgets.
const CUT_WITHIN: Duration = Duration::from_secs(3);

const CHUNK: usize = 64 * 1024;
const LARGE: usize = 8 << 20;

/// Sends the time its stream is dropped: when the server gives up on the
/// response (or finishes it).
struct DropSignal(mpsc::Sender<Instant>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(Instant::now());
    }
}

fn app<R: Runtime>(rt: R, dropped: mpsc::Sender<Instant>) -> Router {
    Router::new()
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            // A response with no end, streamed; says when it is dropped.
            "/forever",
            get(move || {
                let signal = DropSignal(dropped.clone());
                async move {
                    let chunk = Bytes::from(vec![b'x'; CHUNK]);
                    Body::from_stream(stream::repeat(chunk).map(move |c| {
                        let _ = &signal;
                        Ok::<_, std::io::Error>(c)
                    }))
                }
            }),
        )
        .route("/large", get(|| async { Body::from(vec![b'y'; LARGE]) }))
        .route(
            "/large-stream",
            get(|| async {
                let chunk = Bytes::from(vec![b'z'; CHUNK]);
                Body::from_stream(
                    stream::repeat(chunk)
                        .take(LARGE / CHUNK)
                        .map(Ok::<_, std::io::Error>),
                )
            }),
        )
        .route(
            // Server-sent-events style: a small chunk every 100 ms for 1 s,
            // far longer than the write timeout of the cases.
            "/ticks",
            get(move || {
                let rt = rt.clone();
                async move {
                    let ticks = stream::unfold(0, move |i| {
                        let rt = rt.clone();
                        async move {
                            if i == 10 {
                                return None;
                            }
                            rt.sleep(Duration::from_millis(100)).await;
                            Some((
                                Ok::<_, std::io::Error>(Bytes::from("data: tick\n\n")),
                                i + 1,
                            ))
                        }
                    });
                    Body::from_stream(ticks)
                }
            }),
        )
}

fn start<R: Runtime>(
    rt: R,
    configure: impl FnOnce(&mut tramline::Server<R>),
) -> (TestServer, mpsc::Receiver<Instant>) {
    let (tx, rx) = mpsc::channel();
    let app = app(rt.clone(), tx);
    (TestServer::start_with(rt, app, configure), rx)
}

/// Sends `prefix`, then `byte` every `gap` until the server answers (or
/// `give_up` passes); returns how long the answer took from the first byte.
fn trickle(
    client: &mut support::Client,
    prefix: &[u8],
    byte: u8,
    gap: Duration,
    give_up: Duration,
) -> Duration {
    let start = Instant::now();
    client.send(prefix);
    while start.elapsed() < give_up {
        std::thread::sleep(gap);
        if client.has_data() {
            return start.elapsed();
        }
        client.send(&[byte]);
    }
    panic!("no answer in {give_up:?} to a client sending a byte every {gap:?}");
}

fn body_sent_a_byte_per_gap_gets_408<R: Runtime>(rt: R) {
    // Each 100 ms gap is far inside the 500 ms timeout; the rate, 10 B/s,
    // is far below the minimum: the budget runs out after about 500 ms.
    let (server, _) = start(rt, |s| {
        s.body_timeout(Duration::from_millis(500));
    });
    let mut client = server.connect();
    let head = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n";
    let took = trickle(
        &mut client,
        head,
        b'b',
        Duration::from_millis(100),
        CUT_WITHIN + Duration::from_secs(2),
    );
    // The handler's response was not sent, so the client is told why.
    let r = client.response();
    assert_eq!((r.status, r.text()), (408, "request body timed out"));
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed();
    assert!(
        took >= Duration::from_millis(400) && took < CUT_WITHIN,
        "{took:?}"
    );
}

fn body_above_the_minimum_rate_is_read_whole<R: Runtime>(rt: R) {
    // 2 KiB every 100 ms (20 KiB/s) for about 1 s: longer in all than the
    // 500 ms timeout, but above the 1 KiB/s minimum, so never cut.
    let (server, _) = start(rt, |s| {
        s.body_timeout(Duration::from_millis(500));
    });
    let mut client = server.connect();
    let pieces = 10;
    let piece = 2048;
    client.send(
        format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            pieces * piece
        )
        .as_bytes(),
    );
    let start = Instant::now();
    for _ in 0..pieces {
        std::thread::sleep(Duration::from_millis(100));
        client.send(&vec![b'b'; piece]);
    }
    let r = client.response();
    assert_eq!((r.status, r.text()), (200, "20480"));
    assert!(start.elapsed() > Duration::from_millis(500));
}

fn head_trickled_past_the_header_timeout_gets_408<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.header_timeout(Duration::from_millis(500));
    });
    let mut client = server.connect();
    let took = trickle(
        &mut client,
        b"GET /echo HTTP/1.1\r\nHost: t\r\nX-Pad: ",
        b'a',
        Duration::from_millis(50),
        CUT_WITHIN + Duration::from_secs(2),
    );
    let r = client.response();
    assert_eq!((r.status, r.text()), (408, "request head timed out"));
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed();
    assert!(
        took >= Duration::from_millis(400) && took < CUT_WITHIN,
        "{took:?}"
    );
}

fn connection_without_a_byte_closes_without_a_response<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.idle_timeout(Duration::from_millis(300));
        s.header_timeout(Duration::from_millis(100));
    });
    let mut client = server.connect();
    let start = Instant::now();
    client.assert_closed();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < CUT_WITHIN,
        "{waited:?}"
    );
}

/// Requests `/forever` and reads `bytes` every `gap`, until the server drops
/// the response (returned: how long after the request) or `give_up`.
fn read_slowly(
    stream: &mut TcpStream,
    dropped: &mpsc::Receiver<Instant>,
    bytes: usize,
    gap: Duration,
    give_up: Duration,
) -> Duration {
    stream
        .write_all(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let mut buf = vec![0; bytes];
    let mut total = 0;
    while start.elapsed() < give_up {
        if let Ok(at) = dropped.try_recv() {
            return at - start;
        }
        match stream.read(&mut buf) {
            Ok(0) => panic!("end of stream after {total} bytes, and no drop"),
            Ok(n) => total += n,
            Err(e) => panic!("read failed after {total} bytes: {e}"),
        }
        std::thread::sleep(gap);
    }
    panic!("still served after {give_up:?} reading {bytes} B every {gap:?} ({total} bytes)");
}

fn connect_raw(server: &TestServer) -> TcpStream {
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(support::IO_TIMEOUT)).unwrap();
    stream
}

fn reader_taking_a_few_bytes_per_gap_is_cut<R: Runtime>(rt: R) {
    // 16 B every 100 ms. The kernel only reports a blocked socket writable
    // again once a good part of its send buffer has drained, so to the
    // server this is a stall: cut after the 500 ms write timeout.
    let (server, dropped) = start(rt, |s| {
        s.write_timeout(Duration::from_millis(500));
    });
    let mut stream = connect_raw(&server);
    let took = read_slowly(
        &mut stream,
        &dropped,
        16,
        Duration::from_millis(100),
        CUT_WITHIN + Duration::from_secs(2),
    );
    assert!(took < CUT_WITHIN, "{took:?}");
}

fn reader_below_the_minimum_rate_is_cut_though_it_never_stalls<R: Runtime>(rt: R) {
    // 256 KiB every 20 ms, about 12 MiB/s: the server's blocked writes move
    // on every 30-200 ms, always inside the 500 ms timeout, so a gap
    // timeout never fires (this client was served for as long as it read
    // before the budgets). The minimum rate is scaled up with the reader so
    // the case stays short: at about 1/20 of 256 MiB/s the budget drains at
    // nearly wall-clock speed, as 45 B/s would against the 1 KiB/s default.
    let (server, dropped) = start(rt, |s| {
        s.write_timeout(Duration::from_millis(500))
            .min_write_rate(256 << 20);
    });
    let mut stream = connect_raw(&server);
    let took = read_slowly(
        &mut stream,
        &dropped,
        256 * 1024,
        Duration::from_millis(20),
        CUT_WITHIN + Duration::from_secs(2),
    );
    assert!(
        took >= Duration::from_millis(400) && took < CUT_WITHIN,
        "{took:?}"
    );
}

fn reader_at_normal_speed_gets_the_whole_response<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.write_timeout(Duration::from_millis(500));
    });
    let mut client = server.connect();
    for path in ["/large", "/large-stream"] {
        let r = client.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        assert_eq!((r.status, r.body.len()), (200, LARGE), "{path}");
    }
}

fn slow_stream_the_reader_keeps_up_with_is_not_cut<R: Runtime>(rt: R) {
    // The handler takes 1 s to produce the body; the client reads at once.
    // No write ever waits on the client, so the 200 ms budget is not spent.
    let (server, _) = start(rt, |s| {
        s.write_timeout(Duration::from_millis(200));
    });
    let mut client = server.connect();
    let start = Instant::now();
    let r = client.roundtrip(b"GET /ticks HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "data: tick\n\n".repeat(10));
    assert!(start.elapsed() >= Duration::from_millis(900));
}

/// A flood of idle keep-alive connections up to the limit does not lock a
/// new client out: the longest-idle one is closed to make room.
fn thousand_idle_connections_at_the_limit_do_not_lock_out_a_new_client<R: Runtime>(rt: R) {
    const LIMIT: usize = 1000;
    let server = TestServer::start_with(
        rt,
        Router::new().route("/ok", get(|| async { "ok" })),
        |s| {
            s.max_connections(LIMIT);
        },
    );
    let probe = b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut idle: Vec<_> = (0..LIMIT)
        .map(|_| {
            let mut client = server.connect();
            assert_eq!(client.roundtrip(probe).status, 200);
            client
        })
        .collect();
    let start = Instant::now();
    let mut fresh = server.connect();
    let r = fresh.roundtrip(probe);
    assert_eq!((r.status, r.text()), (200, "ok"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the new client waited {:?}",
        start.elapsed()
    );
    // Room was made by closing idle connections, not the newest one. (Which
    // one goes first is pinned down, oldest first, by the two-connection
    // test in tests/conformance.rs and the unit tests in src/shutdown.rs;
    // here, under a loaded executor, an eviction that had to be retried may
    // have closed more than one.)
    let closed: Vec<usize> = (0..LIMIT)
        .filter(|&i| idle[i].closed_within(Duration::from_millis(2)))
        .collect();
    assert!(!closed.is_empty(), "no idle connection was closed");
    assert!(
        closed.len() <= 10 && !closed.contains(&(LIMIT - 1)),
        "closed: {closed:?}"
    );
    assert_eq!(idle[LIMIT - 1].roundtrip(probe).status, 200);
}

on_every_runtime!(
    thousand_idle_connections_at_the_limit_do_not_lock_out_a_new_client,
    body_sent_a_byte_per_gap_gets_408,
    body_above_the_minimum_rate_is_read_whole,
    head_trickled_past_the_header_timeout_gets_408,
    connection_without_a_byte_closes_without_a_response,
    reader_taking_a_few_bytes_per_gap_is_cut,
    reader_below_the_minimum_rate_is_cut_though_it_never_stalls,
    reader_at_normal_speed_gets_the_whole_response,
    slow_stream_the_reader_keeps_up_with_is_not_cut,
);
