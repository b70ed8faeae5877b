//! `Trace`'s access log for streamed responses, over real sockets on every
//! runtime: the line is written when the body ends, with its full duration,
//! the bytes sent and how it ended; whole bodies are logged at once.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::stream;
use support::{TestServer, on_every_runtime};
use tramline::extract::State;
use tramline::middleware::Trace;
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::{Body, Router};

/// Everything every test's servers logged; the servers run on their own
/// threads, so the subscriber is the process-wide one.
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Captured;

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| Captured)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

/// A query string no other test uses, to find this test's line.
fn token() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("t={}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Waits up to 10 s for the access line of `target` over HTTP/1.1, and
/// returns it.
fn access_line(target: &str) -> String {
    access_line_for(target, "HTTP/1.1")
}

/// Waits up to 10 s for the access line of `target` over `version`.
fn access_line_for(target: &str, version: &str) -> String {
    let needle = format!("\"GET {target} {version}\"");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
        if let Some(line) = log.lines().find(|l| l.contains(&needle)) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no access line for {target}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The `200 <size> <ms>ms [outcome]` tail of an access line.
fn tail(line: &str) -> (u64, f64, Option<String>) {
    let rest = ["HTTP/1.1\" 200 ", "HTTP/2.0\" 200 "]
        .iter()
        .find_map(|marker| line.split_once(marker))
        .expect(line)
        .1;
    let mut words = rest.split(' ');
    let size = words.next().unwrap().parse().expect(line);
    let ms = words
        .next()
        .unwrap()
        .trim_end_matches("ms")
        .parse()
        .expect(line);
    (size, ms, words.next().map(str::to_owned))
}

fn app<R: Runtime>(rt: R) -> Router {
    Router::new()
        .route("/whole", get(|| async { "hello" }))
        .route(
            // Three 4-byte chunks, 100 ms apart.
            "/slow",
            get(|State(rt): State<R>| async move {
                Body::from_stream(stream::unfold(0, move |i| {
                    let rt = rt.clone();
                    async move {
                        if i == 3 {
                            return None;
                        }
                        if i > 0 {
                            rt.sleep(Duration::from_millis(100)).await;
                        }
                        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"tick")), i + 1))
                    }
                }))
            }),
        )
        .route(
            "/fails",
            get(|| async {
                Body::from_stream(stream::iter(vec![
                    Ok(Bytes::from_static(b"part")),
                    Err(std::io::Error::other("backend gone")),
                ]))
            }),
        )
        .route(
            // A chunk every 20 ms, for ever.
            "/endless",
            get(|State(rt): State<R>| async move {
                Body::from_stream(stream::unfold((), move |()| {
                    let rt = rt.clone();
                    async move {
                        rt.sleep(Duration::from_millis(20)).await;
                        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"more")), ()))
                    }
                }))
            }),
        )
        .layer(Trace::new())
        .with_state(rt)
}

fn get_to_close(server: &TestServer, target: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

fn a_whole_body_is_logged_at_once_with_its_length<R: Runtime>(rt: R) {
    capture();
    let server = TestServer::start(rt.clone(), app(rt));
    let target = format!("/whole?{}", token());
    get_to_close(&server, &target);
    let (size, _, outcome) = tail(&access_line(&target));
    assert_eq!((size, outcome), (5, None));
}

fn a_stream_is_logged_when_it_ends_with_its_duration_and_bytes<R: Runtime>(rt: R) {
    capture();
    let server = TestServer::start(rt.clone(), app(rt));
    let target = format!("/slow?{}", token());
    let raw = get_to_close(&server, &target);
    assert!(
        raw.ends_with(b"0\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&raw)
    );
    let line = access_line(&target);
    let (size, ms, outcome) = tail(&line);
    assert_eq!(size, 12, "{line}");
    assert!(ms >= 200.0, "logged before the body ended: {line}");
    assert_eq!(outcome.as_deref(), Some("completed"), "{line}");
}

fn a_failed_stream_is_logged_as_errored<R: Runtime>(rt: R) {
    capture();
    let server = TestServer::start(rt.clone(), app(rt));
    let target = format!("/fails?{}", token());
    get_to_close(&server, &target);
    let (size, _, outcome) = tail(&access_line(&target));
    assert_eq!((size, outcome.as_deref()), (4, Some("errored")));
}

fn a_stream_the_client_left_is_logged_as_aborted<R: Runtime>(rt: R) {
    capture();
    let server = TestServer::start(rt.clone(), app(rt));
    let target = format!("/endless?{}", token());
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut first = [0u8; 64];
    assert!(stream.read(&mut first).unwrap() > 0);
    drop(stream);
    // The server notices at its next writes, well before it shuts down.
    let line = access_line(&target);
    let (size, _, outcome) = tail(&line);
    assert!(size >= 4, "{line}");
    assert_eq!(outcome.as_deref(), Some("aborted"), "{line}");
}

on_every_runtime!(
    a_whole_body_is_logged_at_once_with_its_length,
    a_stream_is_logged_when_it_ends_with_its_duration_and_bytes,
    a_failed_stream_is_logged_as_errored,
    a_stream_the_client_left_is_logged_as_aborted,
);

/// The same log lines for HTTP/2 streams: a reset stream, from either
/// side, is logged as errored or aborted.
#[cfg(feature = "http2")]
mod over_h2 {
    use std::time::Duration;

    use tramline::rt::Runtime;

    use super::{TestServer, access_line_for, app, capture, tail, token};

    /// What a GET of `target` over h2 got: the body, or (with `leave`
    /// set) the first chunk after which the client reset the stream;
    /// `Err` when the server reset it.
    fn get(server: &TestServer, target: &str, leave: bool) -> Result<Vec<u8>, h2::Error> {
        let client = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let exchange = async {
            let tcp = ::tokio::net::TcpStream::connect(server.addr())
                .await
                .unwrap();
            let (h2, conn) = h2::client::handshake(tcp).await.unwrap();
            let driver = ::tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut h2 = h2.ready().await.unwrap();
            let req = http::Request::get(format!("http://t{target}"))
                .body(())
                .unwrap();
            let (response, _) = h2.send_request(req, true).unwrap();
            let mut recv = response.await?.into_body();
            let mut body = Vec::new();
            while let Some(chunk) = recv.data().await {
                let chunk = chunk?;
                let _ = recv.flow_control().release_capacity(chunk.len());
                body.extend_from_slice(&chunk);
                if leave {
                    break;
                }
            }
            // Dropping the stream unfinished resets it (CANCEL); the
            // connection stays until the frame is out.
            drop(recv);
            drop(h2);
            let _ = ::tokio::time::timeout(Duration::from_millis(200), driver).await;
            Ok(body)
        };
        client.block_on(async {
            ::tokio::time::timeout(Duration::from_secs(10), exchange)
                .await
                .expect("the h2 exchange finished in time")
        })
    }

    fn a_whole_body_is_logged_with_its_length<R: Runtime>(rt: R) {
        capture();
        let server = TestServer::start(rt.clone(), app(rt));
        let target = format!("/whole?{}", token());
        assert_eq!(get(&server, &target, false).unwrap(), b"hello");
        let (size, _, outcome) = tail(&access_line_for(&target, "HTTP/2.0"));
        assert_eq!((size, outcome), (5, None));
    }

    fn a_stream_is_logged_when_it_ends<R: Runtime>(rt: R) {
        capture();
        let server = TestServer::start(rt.clone(), app(rt));
        let target = format!("/slow?{}", token());
        assert_eq!(get(&server, &target, false).unwrap(), b"tickticktick");
        let line = access_line_for(&target, "HTTP/2.0");
        let (size, ms, outcome) = tail(&line);
        assert_eq!(size, 12, "{line}");
        assert!(ms >= 200.0, "logged before the body ended: {line}");
        assert_eq!(outcome.as_deref(), Some("completed"), "{line}");
    }

    fn a_failed_stream_is_reset_and_logged_as_errored<R: Runtime>(rt: R) {
        capture();
        let server = TestServer::start(rt.clone(), app(rt));
        let target = format!("/fails?{}", token());
        let got = get(&server, &target, false);
        assert!(got.is_err(), "a failed body must reset the stream: {got:?}");
        let (size, _, outcome) = tail(&access_line_for(&target, "HTTP/2.0"));
        assert_eq!((size, outcome.as_deref()), (4, Some("errored")));
    }

    fn a_stream_the_client_reset_is_logged_as_aborted<R: Runtime>(rt: R) {
        capture();
        let server = TestServer::start(rt.clone(), app(rt));
        let target = format!("/endless?{}", token());
        assert!(!get(&server, &target, true).unwrap().is_empty());
        let line = access_line_for(&target, "HTTP/2.0");
        let (size, _, outcome) = tail(&line);
        assert!(size >= 4, "{line}");
        assert_eq!(outcome.as_deref(), Some("aborted"), "{line}");
    }

    crate::support::on_every_runtime!(
        a_whole_body_is_logged_with_its_length,
        a_stream_is_logged_when_it_ends,
        a_failed_stream_is_reset_and_logged_as_errored,
        a_stream_the_client_reset_is_logged_as_aborted,
    );
}
