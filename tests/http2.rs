//! HTTP/2 end to end on every runtime: h2c with prior knowledge and `h2`
//! over TLS, against the same app as HTTP/1.1, with the h2 crate, curl,
//! h2load and Python's `h2` package as clients, and raw frames for the
//! attacks the engine must stay cheap under.
#![cfg(feature = "http2")]

#[cfg(feature = "tls")]
#[path = "support/certs.rs"]
mod certs;
mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::stream;
use http::{HeaderMap, Method, StatusCode, Version};
use tramline::extract::State;
use tramline::middleware::{Next, from_fn};
use tramline::routing::{get, post};
use tramline::rt::Runtime;
use tramline::{Body, Request, Router, Server};

use support::{TestServer, on_every_runtime};

/// Bounds every client run.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);
/// The chunk the endless stream yields.
const CHUNK: usize = 16 * 1024;

fn app<R: Runtime>(rt: R, produced: Arc<AtomicUsize>) -> Router {
    Router::new()
        .route("/", get(|| async { "hello over h2" }))
        .route(
            "/version",
            get(|req: Request| async move { format!("{:?}", req.version()) }),
        )
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/echo-body", post(|body: Body| async move { body }))
        .route(
            "/headers",
            get(|headers: HeaderMap| async move {
                let got = headers
                    .get("x-probe")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_owned();
                ([("x-seen", got)], "headers")
            }),
        )
        .route(
            "/stream",
            get(|| async {
                let chunks =
                    (0..5).map(|i| Ok::<_, std::io::Error>(Bytes::from(format!("part{i};"))));
                Body::from_stream(stream::iter(chunks))
            }),
        )
        // An endless body: what it has produced shows how much a client
        // that never reads costs.
        .route(
            "/endless",
            get(move || {
                let produced = produced.clone();
                async move {
                    Body::from_stream(stream::repeat_with(move || {
                        produced.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; CHUNK]))
                    }))
                }
            }),
        )
        .route(
            "/slow",
            get(|State(rt): State<R>| async move {
                rt.sleep(Duration::from_millis(500)).await;
                "slow"
            }),
        )
        .route(
            "/panics",
            get(|| async {
                panic!("handler bug");
                #[allow(unreachable_code)]
                ""
            }),
        )
        // 1xx answers: HTTP/2 has no upgrades (RFC 9113 §8.6), and a 1xx
        // cannot end an exchange.
        .route(
            "/bare-101",
            get(|| async { (StatusCode::SWITCHING_PROTOCOLS, "switching") }),
        )
        .route(
            "/early-hints",
            get(|| async { StatusCode::from_u16(103).unwrap() }),
        )
        // Middleware runs on HTTP/2 as on HTTP/1.1: it sees the version.
        .layer(from_fn(|req: Request, next: Next| async move {
            let version = format!("{:?}", req.version());
            let mut response = next.run(req).await;
            if let Ok(value) = http::HeaderValue::from_str(&version) {
                response.headers_mut().insert("x-middleware", value);
            }
            response
        }))
        .with_state(rt)
}

fn start<R: Runtime>(
    rt: R,
    configure: impl FnOnce(&mut Server<R>),
) -> (TestServer, Arc<AtomicUsize>) {
    let produced = Arc::new(AtomicUsize::new(0));
    let server = TestServer::start_with(rt.clone(), app(rt, produced.clone()), configure);
    (server, produced)
}

/// Runs `f` with an h2 client connected to `addr`, on a tokio runtime in
/// this thread (the client's runtime, not the server's).
fn with_client<T, F, Fut>(addr: SocketAddr, f: F) -> T
where
    F: FnOnce(h2::client::SendRequest<Bytes>) -> Fut,
    Fut: Future<Output = T>,
{
    let rt = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tcp = ::tokio::net::TcpStream::connect(addr).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        ::tokio::spawn(async move {
            let _ = conn.await;
        });
        ::tokio::time::timeout(CLIENT_LIMIT, f(client))
            .await
            .expect("the h2 client finished in time")
    })
}

struct Answer {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn fetch(
    client: &h2::client::SendRequest<Bytes>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Bytes>,
) -> Answer {
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("http://localhost{path}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut client = client.clone().ready().await.unwrap();
    let (response, mut send) = client
        .send_request(req.body(()).unwrap(), body.is_none())
        .unwrap();
    if let Some(body) = body {
        send.send_data(body, true).unwrap();
    }
    let response = response.await.unwrap();
    let (parts, mut recv) = response.into_parts();
    let mut body = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        body.extend_from_slice(&chunk);
    }
    Answer {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: body.into(),
    }
}

fn serves_the_same_app_over_h2c<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    with_client(server.addr(), |client| async move {
        let hello = fetch(&client, Method::GET, "/", &[], None).await;
        assert_eq!(hello.status, StatusCode::OK);
        assert_eq!(hello.version, Version::HTTP_2);
        assert_eq!(hello.text(), "hello over h2");
        assert_eq!(hello.headers["content-length"], "13");
        assert!(hello.headers.contains_key("date"));
        assert_eq!(hello.headers["x-middleware"], "HTTP/2.0");

        let version = fetch(&client, Method::GET, "/version", &[], None).await;
        assert_eq!(version.text(), "HTTP/2.0");

        // Larger than every window: flow control in both directions.
        let big: Bytes = (0..3 * 1024 * 1024 / 2).map(|i| (i % 251) as u8).collect();
        let echo = fetch(&client, Method::POST, "/echo", &[], Some(big.clone())).await;
        assert_eq!(echo.status, StatusCode::OK);
        assert_eq!(echo.body, big);
        let echo = fetch(&client, Method::POST, "/echo-body", &[], Some(big.clone())).await;
        assert_eq!(echo.body, big);

        let missing = fetch(&client, Method::GET, "/nowhere", &[], None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let wrong = fetch(&client, Method::DELETE, "/echo", &[], None).await;
        assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(wrong.headers["allow"].to_str().unwrap().contains("POST"));

        let headers = fetch(
            &client,
            Method::GET,
            "/headers",
            &[("x-probe", "seen")],
            None,
        )
        .await;
        assert_eq!(headers.headers["x-seen"], "seen");

        let streamed = fetch(&client, Method::GET, "/stream", &[], None).await;
        assert_eq!(streamed.text(), "part0;part1;part2;part3;part4;");
        assert!(!streamed.headers.contains_key("transfer-encoding"));

        let head = fetch(&client, Method::HEAD, "/", &[], None).await;
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());

        // The HTTP/1.1 limits on the target and the number of fields.
        let long = format!("/{}", "a".repeat(9000));
        let too_long = fetch(&client, Method::GET, &long, &[], None).await;
        assert_eq!(too_long.status, StatusCode::URI_TOO_LONG);
        let names: Vec<String> = (0..101).map(|i| format!("x-h{i}")).collect();
        let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
        let too_many = fetch(&client, Method::GET, "/", &many, None).await;
        assert_eq!(too_many.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);

        // The rules after the handler, the same as HTTP/1.1's: a panic
        // and a 1xx answer 500 with the same text, and the connection
        // outlives them.
        for path in ["/panics", "/bare-101", "/early-hints"] {
            let answered = fetch(&client, Method::GET, path, &[], None).await;
            assert_eq!(answered.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            assert_eq!(&answered.body[..], b"internal server error", "{path}");
            let after = fetch(&client, Method::GET, "/", &[], None).await;
            assert_eq!(after.status, StatusCode::OK, "{path}");
        }
    });
}

fn many_streams_share_one_connection<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    with_client(server.addr(), |client| async move {
        // One round trip first, so the client has the server's SETTINGS
        // (100 streams at most) before it opens 300: until then it may
        // open more, and the server refuses those (REFUSED_STREAM).
        fetch(&client, Method::GET, "/", &[], None).await;
        let started = Instant::now();
        let requests = (0..300).map(|i| {
            let client = client.clone();
            async move {
                let path = if i % 3 == 0 { "/slow" } else { "/" };
                fetch(&client, Method::GET, path, &[], None).await.status
            }
        });
        let tasks: Vec<_> = requests.map(::tokio::spawn).collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), StatusCode::OK);
        }
        // 100 slow requests, 100 streams at a time, each 500 ms: in
        // parallel they take about a second, one by one fifty.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    });
}

fn body_limit_answers_413<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.max_body_size(64 * 1024);
    });
    with_client(server.addr(), |client| async move {
        let big = Bytes::from(vec![b'a'; 256 * 1024]);
        let over = fetch(&client, Method::POST, "/echo", &[], Some(big.clone())).await;
        assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
        // An echo, its body read whole by the engine under the limit.
        let over = fetch(&client, Method::POST, "/echo-body", &[], Some(big)).await;
        assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(&over.body[..], b"request body too large");
        let small = Bytes::from(vec![b'a'; 1024]);
        let fits = fetch(&client, Method::POST, "/echo", &[], Some(small.clone())).await;
        assert_eq!(fits.body, small);
    });
}

// ---- raw frames ------------------------------------------------------------

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const WINDOW_UPDATE: u8 = 8;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;
const ACK: u8 = 1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

fn hpack_str(out: &mut Vec<u8>, s: &[u8]) {
    hpack_int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// A GET of `path`: static-table method and scheme, literal path and
/// authority, never indexed.
fn get_block(path: &str) -> Vec<u8> {
    request_block(0x82, path)
}

/// A POST of `path`, as `get_block`.
fn post_block(path: &str) -> Vec<u8> {
    request_block(0x83, path)
}

/// `method` is the static-table index of `:method` (0x82 GET, 0x83 POST).
fn request_block(method: u8, path: &str) -> Vec<u8> {
    let mut block = vec![method, 0x86];
    hpack_int(&mut block, 0, 4, 4); // :path
    hpack_str(&mut block, path.as_bytes());
    hpack_int(&mut block, 0, 4, 1); // :authority
    hpack_str(&mut block, b"localhost");
    block
}

/// A raw HTTP/2 connection: frames written and read by hand.
struct Raw {
    tcp: TcpStream,
}

struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Self {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.write_all(PREFACE).unwrap();
        tcp.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
        Self { tcp }
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tcp.write_all(bytes)
    }

    /// The next frame; `None` at EOF or a reset. SETTINGS and PING are
    /// acknowledged as a client must.
    fn next(&mut self) -> Option<Frame> {
        loop {
            let mut head = [0u8; 9];
            self.tcp.read_exact(&mut head).ok()?;
            let len = (head[0] as usize) << 16 | (head[1] as usize) << 8 | head[2] as usize;
            let mut payload = vec![0u8; len];
            self.tcp.read_exact(&mut payload).ok()?;
            let frame = Frame {
                kind: head[3],
                flags: head[4],
                stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
                payload,
            };
            match frame.kind {
                SETTINGS if frame.flags & ACK == 0 => {
                    let _ = self.send(&self::frame(SETTINGS, ACK, 0, &[]));
                }
                PING if frame.flags & ACK == 0 => {
                    let _ = self.send(&self::frame(PING, ACK, 0, &frame.payload));
                }
                _ => return Some(frame),
            }
        }
    }

    /// Reads until a GOAWAY (its error code and last stream id) or the end
    /// of the connection (`None`), within `limit`.
    fn goaway_within(&mut self, limit: Duration) -> Option<(u32, u32)> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let frame = self.next()?;
            if frame.kind == GOAWAY {
                let p = &frame.payload;
                let last = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
                let code = u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
                return Some((code, last));
            }
        }
        None
    }

    /// Whether the server closed the connection within `limit`.
    fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.next().is_none() {
                return true;
            }
        }
        false
    }
}

const ENHANCE_YOUR_CALM: u32 = 0xb;
const NO_ERROR: u32 = 0;

/// CVE-2023-44487: streams opened and reset at once cost the server a
/// stream each and the client nearly nothing. The server ends such a
/// connection with GOAWAY.
fn rapid_reset_gets_goaway<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    let mut raw = Raw::connect(server.addr());
    let block = get_block("/slow");
    expect_calm_after_a_stream_flood(&mut raw, "reset streams", |id| {
        let mut frames = frame(HEADERS, END_HEADERS | END_STREAM, id, &block);
        frames.extend(frame(RST_STREAM, 0, id, &8u32.to_be_bytes())); // CANCEL
        frames
    });
}

/// Opens up to 2,000 streams with `frames(id)`, 50 at a time, and expects
/// the server to end the connection with GOAWAY ENHANCE_YOUR_CALM.
fn expect_calm_after_a_stream_flood(raw: &mut Raw, what: &str, frames: impl Fn(u32) -> Vec<u8>) {
    let mut batch = Vec::new();
    let mut sent = 0;
    for i in 0..2000u32 {
        batch.extend(frames(2 * i + 1));
        if i % 50 == 49 {
            if raw.send(&batch).is_err() {
                break;
            }
            sent += 50;
            batch.clear();
        }
    }
    let goaway = raw.goaway_within(Duration::from_secs(10));
    let (code, _) = goaway.unwrap_or_else(|| panic!("no GOAWAY after {sent} {what}"));
    assert_eq!(code, ENHANCE_YOUR_CALM);
    assert!(raw.closed_within(Duration::from_secs(5)));
}

/// Streams the server must reset itself (here requests without `:path`,
/// malformed by RFC 9113 §8.3.1) cost it a stream each, like a rapid
/// reset, as in the "MadeYouReset" attack (CVE-2025-8671). The server
/// counts its own resets and ends such a connection with GOAWAY.
fn provoked_resets_get_goaway<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    let mut raw = Raw::connect(server.addr());
    let block = [0x82, 0x86]; // GET, http, and no :path
    expect_calm_after_a_stream_flood(&mut raw, "provoked resets", |id| {
        frame(HEADERS, END_HEADERS | END_STREAM, id, &block)
    });
}

/// CONTINUATION flood (the 2024 family of CVEs): one header block that
/// never ends. The header list limit bounds what the server takes.
fn continuation_flood_is_bounded<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.max_head_size(16 * 1024);
    });
    let mut raw = Raw::connect(server.addr());
    raw.send(&frame(HEADERS, 0, 1, &get_block("/"))).unwrap();
    let mut field = Vec::new();
    field.push(0x00); // literal, new name, not indexed
    hpack_str(&mut field, b"x-flood");
    hpack_str(&mut field, &[b'a'; 1000]);
    let continuation = frame(CONTINUATION, 0, 1, &field);
    let mut written = 0usize;
    let total = 10_000 * continuation.len();
    for _ in 0..10_000 {
        if raw.send(&continuation).is_err() {
            break;
        }
        written += continuation.len();
    }
    // The server gave up on the block long before its end: it answered
    // with GOAWAY and closed, or closed the socket under the writes.
    let ended = match raw.goaway_within(Duration::from_secs(10)) {
        Some((code, _)) => code != NO_ERROR,
        None => true,
    };
    assert!(ended);
    assert!(raw.closed_within(Duration::from_secs(5)));
    assert!(
        written < total,
        "all {total} bytes of header block were taken"
    );
    // Still serving.
    let answer = with_client(server.addr(), |c| async move {
        fetch(&c, Method::GET, "/", &[], None).await.status
    });
    assert_eq!(answer, StatusCode::OK);
}

/// A client that never opens its window: the body the app streams waits
/// for it (memory stays bounded), and after the write timeout the stream
/// is reset.
fn a_client_that_never_reads_is_bounded_and_reset<R: Runtime>(rt: R) {
    let (server, produced) = start(rt, |s| {
        s.write_timeout(Duration::from_secs(1));
    });
    let reset = with_client(server.addr(), |client| async move {
        let mut client = client.ready().await.unwrap();
        let req = http::Request::get("http://localhost/endless")
            .body(())
            .unwrap();
        let (response, _) = client.send_request(req, true).unwrap();
        let (_, mut body) = response.await.unwrap().into_parts();
        let started = Instant::now();
        // Read what the window allows, never giving it back.
        loop {
            match body.data().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return (e.reason(), started.elapsed()),
                None => panic!("an endless body ended"),
            }
        }
    });
    assert_eq!(reset.0, Some(h2::Reason::CANCEL));
    assert!(reset.1 >= Duration::from_millis(900), "{:?}", reset.1);
    // The client's window (64 KiB), h2's send buffer (64 KiB) and a chunk
    // or two in hand: far below what an unbounded send would queue in a
    // second.
    let bytes = produced.load(Ordering::SeqCst) * CHUNK;
    assert!(
        bytes <= 256 * 1024,
        "the app produced {bytes} bytes for a client that read 64 KiB"
    );
}

/// A peer that stops reading its socket altogether: the connection closes
/// after the write timeout.
fn a_peer_that_stops_reading_is_closed<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.write_timeout(Duration::from_secs(1));
    });
    let mut raw = Raw::connect(server.addr());
    // Huge windows, so only the socket holds the server back.
    let mut settings = Vec::new();
    settings.extend_from_slice(&4u16.to_be_bytes());
    settings.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
    raw.send(&frame(SETTINGS, 0, 0, &settings)).unwrap();
    raw.send(&frame(WINDOW_UPDATE, 0, 0, &0x7fff_0000u32.to_be_bytes()))
        .unwrap();
    for i in 0..8u32 {
        raw.send(&frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            2 * i + 1,
            &get_block("/endless"),
        ))
        .unwrap();
    }
    std::thread::sleep(Duration::from_secs(3));
    // The server has given up on the connection: what it had queued comes
    // out, then the end (or a reset, for what it could not send). A
    // connection left open would leave the reads waiting instead (its
    // streams reset one by one would not close it).
    raw.tcp
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let started = Instant::now();
    loop {
        match raw.tcp.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the connection is still open: {e}"),
            Ok(_) => assert!(started.elapsed() < Duration::from_secs(10), "still sending"),
        }
    }
}

/// A request body that stops arriving: the app's read fails after the
/// body timeout, and the stream is answered rather than left open.
fn a_stalled_request_body_times_out<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.body_timeout(Duration::from_millis(500));
    });
    let mut raw = Raw::connect(server.addr());
    let block = post_block("/echo");
    raw.send(&frame(HEADERS, END_HEADERS, 1, &block)).unwrap();
    raw.send(&frame(DATA, 0, 1, b"the start of a body that never ends"))
        .unwrap();
    let started = Instant::now();
    let answered = loop {
        let frame = raw.next().expect("an answer before the connection ends");
        match frame.kind {
            HEADERS if frame.stream == 1 => break true,
            RST_STREAM if frame.stream == 1 => break true,
            _ => assert!(started.elapsed() < Duration::from_secs(5), "no answer"),
        }
    };
    assert!(answered);
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

/// Writes `bytes` on a clone of `raw`'s socket every `every` until the
/// returned flag is set, a write fails, or 8 s pass.
fn trickle(raw: &Raw, bytes: Vec<u8>, every: Duration) -> Arc<std::sync::atomic::AtomicBool> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tcp = raw.tcp.try_clone().unwrap();
    let flag = stop.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        while !flag.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(8) {
            std::thread::sleep(every);
            if tcp.write_all(&bytes).is_err() {
                return;
            }
        }
    });
    stop
}

/// Waits for stream 1's answer (its HEADERS or a reset) and says how long
/// it took.
fn stream_one_answered(raw: &mut Raw) -> Duration {
    let started = Instant::now();
    loop {
        let frame = raw.next().expect("an answer before the connection ends");
        match frame.kind {
            HEADERS | RST_STREAM if frame.stream == 1 => return started.elapsed(),
            _ => {}
        }
    }
}

/// A body trickled far below the minimum rate, each gap well inside the
/// body timeout, still runs out of time: the same budget as HTTP/1.1.
fn a_request_body_below_the_minimum_rate_is_cut<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.body_timeout(Duration::from_secs(1)).min_body_rate(1000);
    });
    let mut raw = Raw::connect(server.addr());
    let block = post_block("/echo");
    raw.send(&frame(HEADERS, END_HEADERS, 1, &block)).unwrap();
    // 10 bytes every 250 ms: 40 B/s, 4% of the minimum rate.
    let stop = trickle(
        &raw,
        frame(DATA, 0, 1, b"0123456789"),
        Duration::from_millis(250),
    );
    let took = stream_one_answered(&mut raw);
    stop.store(true, Ordering::SeqCst);
    // About 1.04 s; the trickle alone would keep it going for 8 s.
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

/// A client that opens its window far below the minimum write rate, each
/// grant well inside the write timeout, gets its stream reset.
fn a_window_opened_below_the_minimum_rate_is_cut<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.write_timeout(Duration::from_secs(1)).min_write_rate(1000);
    });
    let mut tcp = TcpStream::connect(server.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(PREFACE).unwrap();
    // SETTINGS_INITIAL_WINDOW_SIZE = 16: every stream starts nearly shut.
    tcp.write_all(&frame(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 16]))
        .unwrap();
    let mut raw = Raw { tcp };
    let block = get_block("/endless");
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .unwrap();
    // 16 more bytes of window every 250 ms: 64 B/s.
    let update = frame(WINDOW_UPDATE, 0, 1, &16u32.to_be_bytes());
    let stop = trickle(&raw, update, Duration::from_millis(250));
    let started = Instant::now();
    let reset = loop {
        let frame = raw.next().expect("a reset before the connection ends");
        if frame.kind == RST_STREAM && frame.stream == 1 {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(6), "never reset");
    };
    stop.store(true, Ordering::SeqCst);
    assert!(
        reset >= Duration::from_millis(800) && reset < Duration::from_secs(3),
        "{reset:?}"
    );
}

/// A stream that never ends does not hold the shutdown past its grace.
fn shutdown_cuts_endless_streams_at_the_grace<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.shutdown_grace(Duration::from_millis(500));
    });
    let mut raw = Raw::connect(server.addr());
    raw.send(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &get_block("/endless"),
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(raw.closed_within(Duration::from_secs(5)));
}

fn idle_connection_gets_goaway<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |s| {
        s.idle_timeout(Duration::from_millis(300));
    });
    let mut raw = Raw::connect(server.addr());
    raw.send(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &get_block("/"),
    ))
    .unwrap();
    let started = Instant::now();
    let (code, last) = raw
        .goaway_within(Duration::from_secs(5))
        .expect("GOAWAY on idle");
    assert_eq!((code, last), (NO_ERROR, 1));
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(raw.closed_within(Duration::from_secs(5)));
}

/// Shutdown: GOAWAY, the open stream still answered, then the close.
fn graceful_shutdown_sends_goaway_and_finishes_streams<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    let mut raw = Raw::connect(server.addr());
    raw.send(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        1,
        &get_block("/slow"),
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.begin_shutdown();
    let mut goaway = false;
    let mut body = Vec::new();
    let mut ended = false;
    while let Some(frame) = raw.next() {
        match frame.kind {
            GOAWAY => goaway = true,
            DATA if frame.stream == 1 => {
                body.extend_from_slice(&frame.payload);
                ended |= frame.flags & END_STREAM != 0;
            }
            _ => {}
        }
    }
    assert!(goaway, "no GOAWAY");
    assert!(ended);
    assert_eq!(body, b"slow");
    drop(server);
}

/// `Upgrade: h2c` is not supported (RFC 9113 §3.1): it stays HTTP/1.1, and
/// the preface after a request is still a 505.
fn upgrade_h2c_stays_http11<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    let mut client = server.connect();
    let response = client.roundtrip(
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "hello over h2");
    assert_eq!(response.header("x-middleware"), Some("HTTP/1.1"));
    let response = client.roundtrip(PREFACE);
    assert_eq!(response.status, 505);
}

/// One URL per run: curl 7.88 fails a reused prior-knowledge connection
/// itself (curl/curl#10634, fixed in 8.0).
fn curl_h2c(port: u16, path: &str, extra: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--http2-prior-knowledge"])
        .args(["-w", "|%{http_version}|%{response_code}"])
        .args(extra)
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .expect("curl must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn curl_with_prior_knowledge<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    let port = server.addr().port();
    assert_eq!(curl_h2c(port, "/", &[]), "hello over h2|2|200");
    assert_eq!(
        curl_h2c(port, "/stream", &[]),
        "part0;part1;part2;part3;part4;|2|200"
    );
    assert_eq!(curl_h2c(port, "/echo", &["-d", "posted"]), "posted|2|200");
    assert_eq!(curl_h2c(port, "/version", &[]), "HTTP/2.0|2|200");
}

#[cfg(feature = "tls")]
fn curl_over_tls_negotiates_h2<R: Runtime>(rt: R) {
    let ca = certs::TestCa::new("http2");
    let leaf = ca.leaf("h2 leaf");
    let tls = tramline::tls::TlsConfig::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())
        .unwrap();
    let (server, _) = start(rt, move |s| {
        s.tls(tls);
    });
    let port = server.addr().port();
    let curl = |version: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", version, "--cacert"])
            .arg(ca.ca_path())
            .arg("--resolve")
            .arg(format!("localhost:{port}:127.0.0.1"))
            .args(["-w", "|%{http_version}\n"])
            .arg(format!("https://localhost:{port}/version"))
            .output()
            .expect("curl must be installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl("--http2"), "HTTP/2.0|2\n");
    // ALPN without h2 still gets HTTP/1.1.
    assert_eq!(curl("--http1.1"), "HTTP/1.1|1.1\n");
}

fn python() -> String {
    std::env::var("TRAMLINE_PYTHON")
        .unwrap_or_else(|_| format!("{}/target/py/bin/python", env!("CARGO_MANIFEST_DIR")))
}

/// Protocol errors, sent with Python's `h2` package (its own checks off):
/// each gets the reset or GOAWAY RFC 9113 asks for, and the server keeps
/// serving. The script prints one line per case.
fn protocol_errors_get_the_right_answer<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    let out = Command::new("timeout")
        .args(["-k", "2", "60"])
        .arg(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/h2_client.py"
        ))
        .arg(server.addr().port().to_string())
        .output()
        .expect("python with the h2 package (.ci/run installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = [
        "valid request: 200",
        // h2 refuses a header block with an invalid name as a whole: a
        // connection error, which RFC 9113 §5.4.1 allows for any error.
        "uppercase header name: goaway PROTOCOL_ERROR",
        "connection-specific header: reset PROTOCOL_ERROR",
        "missing :path: reset PROTOCOL_ERROR",
        "te other than trailers: reset PROTOCOL_ERROR",
        "content-length mismatch: reset PROTOCOL_ERROR",
        "data on stream 0: goaway PROTOCOL_ERROR",
        "headers on an even stream: goaway PROTOCOL_ERROR",
        "after the errors: 200",
    ];
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines, expected, "{stdout}");
}

fn h2load_finishes_without_errors<R: Runtime>(rt: R) {
    let (server, _) = start(rt, |_| {});
    let out = Command::new("timeout")
        .args([
            "-k", "2", "60", "h2load", "-n", "10000", "-c", "8", "-m", "16",
        ])
        .arg(format!("http://127.0.0.1:{}/", server.addr().port()))
        .output()
        .expect("h2load must be installed (nghttp2-client)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(
            "requests: 10000 total, 10000 started, 10000 done, 10000 succeeded, 0 failed, 0 errored"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("status codes: 10000 2xx"), "{stdout}");
}

on_every_runtime!(
    serves_the_same_app_over_h2c,
    many_streams_share_one_connection,
    body_limit_answers_413,
    rapid_reset_gets_goaway,
    provoked_resets_get_goaway,
    continuation_flood_is_bounded,
    a_client_that_never_reads_is_bounded_and_reset,
    a_peer_that_stops_reading_is_closed,
    idle_connection_gets_goaway,
    a_stalled_request_body_times_out,
    a_request_body_below_the_minimum_rate_is_cut,
    a_window_opened_below_the_minimum_rate_is_cut,
    shutdown_cuts_endless_streams_at_the_grace,
    graceful_shutdown_sends_goaway_and_finishes_streams,
    upgrade_h2c_stays_http11,
    curl_with_prior_knowledge,
    protocol_errors_get_the_right_answer,
    h2load_finishes_without_errors,
);

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    on_every_runtime!(curl_over_tls_negotiates_h2);
}
