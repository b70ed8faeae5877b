//! Server-Sent Events over real sockets on every runtime: the exact wire
//! format read by a raw client, events flushed one by one, keep-alive
//! comments on the runtime's timer, curl `-N`, and EventSource in headless
//! Chromium.

#[path = "support/chromium.rs"]
mod chromium;
mod support;

use std::convert::Infallible;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_lite::{StreamExt, stream};
use serde::Deserialize;
use support::{TestServer, on_every_runtime, on_every_runtime_and_protocol};
use tramline::Router;
use tramline::extract::{Query, State};
use tramline::response::Html;
use tramline::response::sse::{Event, KeepAlive, Sse};
use tramline::routing::get;
use tramline::rt::Runtime;

#[derive(Deserialize)]
struct Count {
    n: u32,
}

/// The page the browser test loads: it reads `/events` with EventSource
/// and reports what it saw to `/report`.
const PAGE: &str = r#"<!doctype html><script>
const got = [];
const es = new EventSource('/events');
es.onmessage = (e) => got.push('message:' + e.data + ':' + e.lastEventId);
es.addEventListener('tick', (e) => got.push('tick:' + e.data));
es.addEventListener('done', () => {
  es.close();
  fetch('/report?got=' + encodeURIComponent(got.join('|')));
});
es.onerror = () => { if (es.readyState === EventSource.CLOSED) fetch('/report?error=closed'); };
</script>"#;

/// Events that exercise every field: plain data, an id, multi-line data, a
/// named event, a comment, and a `done` event that ends the page's wait.
fn sample_events() -> Vec<Result<Event, Infallible>> {
    vec![
        Ok(Event::default().data("first")),
        Ok(Event::default().id("7").unwrap().data("second")),
        Ok(Event::default().data("two\nlines")),
        Ok(Event::default()
            .comment("not an event")
            .event("tick")
            .unwrap()
            .data("t")),
        Ok(Event::default()
            .event("done")
            .unwrap()
            .retry(Duration::from_secs(60))
            .data("")),
    ]
}

fn app<R: Runtime>(rt: R, reports: &chromium::Reports, go: Arc<AtomicBool>) -> Router {
    Router::new()
        .route(
            "/sse",
            get(|Query(c): Query<Count>| async move {
                let events =
                    (0..c.n).map(|i| Ok::<_, Infallible>(Event::default().data(i.to_string())));
                Sse::new(stream::iter(events))
            }),
        )
        .route(
            "/events",
            get(|| async { Sse::new(stream::iter(sample_events())) }),
        )
        .route(
            "/fails",
            get(|| async {
                Sse::new(stream::iter(vec![
                    Ok(Event::default().data("ok")),
                    Err(std::io::Error::other("backend gone")),
                ]))
            }),
        )
        .route(
            // "first" at once, "second" only once the test has seen "first".
            "/gated",
            get(move |State(rt): State<R>| {
                let go = go.clone();
                async move {
                    let events = stream::unfold(0, move |step| {
                        let (go, rt) = (go.clone(), rt.clone());
                        async move {
                            match step {
                                0 => Some((Ok::<_, Infallible>(Event::default().data("first")), 1)),
                                1 => {
                                    while !go.load(Ordering::SeqCst) {
                                        rt.sleep(Duration::from_millis(5)).await;
                                    }
                                    Some((Ok(Event::default().data("second")), 2))
                                }
                                _ => None,
                            }
                        }
                    });
                    Sse::new(events)
                }
            }),
        )
        .route(
            "/quiet",
            get(|State(rt): State<R>| async move {
                let events = stream::once(Ok::<_, Infallible>(Event::default().data("hello")))
                    .chain(stream::pending());
                Sse::new(events).keep_alive(
                    KeepAlive::new(rt)
                        .interval(Duration::from_millis(100))
                        .text("ka"),
                )
            }),
        )
        .route(
            // An event every 40 ms for 1.2 s: never quiet for the 500 ms
            // the keep-alive waits (a keep-alive that did not wait for quiet
            // would come at 500 ms and 1 s; a stall would need 460 ms).
            "/busy",
            get(|State(rt): State<R>| async move {
                let keep_alive = KeepAlive::new(rt.clone()).interval(Duration::from_millis(500));
                let events = stream::unfold(0, move |i| {
                    let rt = rt.clone();
                    async move {
                        if i == 30 {
                            return None;
                        }
                        rt.sleep(Duration::from_millis(40)).await;
                        Some((
                            Ok::<_, Infallible>(Event::default().data(i.to_string())),
                            i + 1,
                        ))
                    }
                });
                Sse::new(events).keep_alive(keep_alive)
            }),
        )
        .route("/", get(|| async { Html(PAGE) }))
        .route("/report", reports.route())
        .with_state(rt)
}

fn start<R: Runtime>(rt: R) -> (TestServer, chromium::Reports, Arc<AtomicBool>) {
    let reports = chromium::Reports::new();
    let go = Arc::new(AtomicBool::new(false));
    let server = TestServer::start(rt.clone(), app(rt, &reports, go.clone()));
    (server, reports, go)
}

fn raw_client_sees_the_exact_wire_format<R: Runtime>(rt: R) {
    let (server, ..) = start(rt);
    let mut client = server.connect();
    client.send(b"GET /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let raw = String::from_utf8(client.read_to_close()).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    for line in [
        "content-type: text/event-stream",
        "cache-control: no-cache",
        "transfer-encoding: chunked",
    ] {
        assert!(head.contains(line), "{line} missing: {head}");
    }
    assert!(!head.contains("content-length"), "{head}");
    // One chunk per event, in order, then the last chunk.
    let want: String = [
        "data: first\n\n",
        "id: 7\ndata: second\n\n",
        "data: two\ndata: lines\n\n",
        ":not an event\nevent: tick\ndata: t\n\n",
        "event: done\nretry: 60000\ndata: \n\n",
    ]
    .map(chunk)
    .concat();
    assert_eq!(body, want + "0\r\n\r\n");
}

/// `text` as one chunk of a chunked body.
fn chunk(text: &str) -> String {
    format!("{:X}\r\n{text}\r\n", text.len())
}

fn a_failing_stream_closes_without_the_last_chunk<R: Runtime>(rt: R) {
    let (server, ..) = start(rt);
    let mut client = server.connect();
    client.send(b"GET /fails HTTP/1.1\r\nHost: t\r\n\r\n");
    let raw = String::from_utf8(client.read_to_close()).unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(body, chunk("data: ok\n\n"));
}

fn each_event_is_sent_as_soon_as_it_is_made<R: Runtime>(rt: R) {
    let (server, _, go) = start(rt);
    let mut conn = Raw::open(&server, "/gated");
    // "second" waits for `go`, so "first" must arrive on its own.
    conn.read_until(&chunk("data: first\n\n"));
    assert!(!conn.text().contains("second"), "{:?}", conn.text());
    go.store(true, Ordering::SeqCst);
    conn.read_until("0\r\n\r\n");
    let want = chunk("data: first\n\n") + &chunk("data: second\n\n") + "0\r\n\r\n";
    assert!(conn.text().ends_with(&want), "{:?}", conn.text());
}

fn quiet_streams_get_keep_alive_comments<R: Runtime>(rt: R) {
    let (server, ..) = start(rt);
    let start = Instant::now();
    let mut conn = Raw::open(&server, "/quiet");
    let ka = chunk(":ka\n\n");
    conn.read_until(&(chunk("data: hello\n\n") + &ka + &ka));
    // Two intervals of quiet at least, each comment a chunk of its own.
    assert!(
        start.elapsed() >= Duration::from_millis(190),
        "{:?}",
        start.elapsed()
    );
}

fn keep_alives_wait_for_the_stream_to_go_quiet<R: Runtime>(rt: R) {
    let (server, ..) = start(rt);
    let mut conn = Raw::open(&server, "/busy");
    conn.read_until("0\r\n\r\n");
    let body = conn.text().split_once("\r\n\r\n").unwrap().1.to_owned();
    let want: String = (0..30).map(|i| chunk(&format!("data: {i}\n\n"))).collect();
    assert_eq!(body, want + "0\r\n\r\n");
}

/// A raw connection with one GET sent, read until a given text arrives.
struct Raw {
    stream: TcpStream,
    seen: Vec<u8>,
}

impl Raw {
    fn open(server: &TestServer, path: &str) -> Self {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        Self {
            stream,
            seen: Vec::new(),
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// Reads until `want` has arrived, failing the test after 10 s.
    fn read_until(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut chunk = [0u8; 4096];
        while !self.text().contains(want) {
            assert!(
                Instant::now() < deadline,
                "{want:?} did not arrive; got {:?}",
                self.text()
            );
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("closed before {want:?}; got {:?}", self.text()),
                Ok(n) => self.seen.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }
}

fn curl_reads_the_events_as_they_come<R: Runtime>(rt: R) {
    let (server, ..) = start(rt);
    let out = Command::new("curl")
        .arg(support::curl_protocol_flag())
        .args(["-sSN", "--max-time", "10"])
        .arg(format!("http://{}/sse?n=3", server.addr()))
        .output()
        .expect("run curl");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    );
}

fn event_source_in_chromium_receives_every_field<R: Runtime>(rt: R) {
    let (server, reports, _) = start(rt);
    let _browser = chromium::Chromium::open(&format!("http://{}/", server.addr()));
    let report = reports.wait(Duration::from_secs(30));
    let got = report.strip_prefix("got=").unwrap_or(&report);
    let got = percent_decode(got);
    assert_eq!(
        got,
        "message:first:|message:second:7|message:two\nlines:7|tick:t"
    );
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

// These read HTTP/1.1's chunked framing, and Chromium speaks HTTP/2 only
// over TLS: HTTP/1.1 only. tests/http2.rs streams events over h2.
on_every_runtime!(
    raw_client_sees_the_exact_wire_format,
    a_failing_stream_closes_without_the_last_chunk,
    each_event_is_sent_as_soon_as_it_is_made,
    quiet_streams_get_keep_alive_comments,
    keep_alives_wait_for_the_stream_to_go_quiet,
    event_source_in_chromium_receives_every_field,
);

on_every_runtime_and_protocol!(curl_reads_the_events_as_they_come);

/// Events over HTTP/2: each one leaves as its own DATA frame as soon as it
/// is made, not when the stream ends.
#[cfg(feature = "http2")]
mod over_h2 {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use bytes::Bytes;
    use tramline::rt::Runtime;

    fn each_event_is_a_data_frame_sent_as_soon_as_it_is_made<R: Runtime>(rt: R) {
        let (server, _, go) = super::start(rt);
        let client = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let body = client.block_on(async {
            let exchange = async {
                let tcp = ::tokio::net::TcpStream::connect(server.addr())
                    .await
                    .unwrap();
                let (h2, conn) = h2::client::handshake(tcp).await.unwrap();
                ::tokio::spawn(async move {
                    let _ = conn.await;
                });
                let mut h2 = h2.ready().await.unwrap();
                let req = http::Request::get("http://t/gated").body(()).unwrap();
                let (response, _) = h2.send_request(req, true).unwrap();
                let (parts, mut recv) = response.await.unwrap().into_parts();
                assert_eq!(parts.status, 200);
                assert_eq!(parts.headers["content-type"], "text/event-stream");
                let first: Bytes = recv.data().await.unwrap().unwrap();
                assert_eq!(&first[..], b"data: first\n\n");
                // "second" waits for `go`: nothing more may have come.
                let early = ::tokio::time::timeout(Duration::from_millis(100), recv.data()).await;
                assert!(early.is_err(), "a frame came before the event was made");
                go.store(true, Ordering::SeqCst);
                let mut rest = Vec::new();
                while let Some(chunk) = recv.data().await {
                    let chunk = chunk.unwrap();
                    let _ = recv.flow_control().release_capacity(chunk.len());
                    rest.extend_from_slice(&chunk);
                }
                rest
            };
            ::tokio::time::timeout(Duration::from_secs(10), exchange)
                .await
                .expect("the h2 exchange finished in time")
        });
        assert_eq!(body, b"data: second\n\n");
    }

    crate::support::on_every_runtime!(each_event_is_a_data_frame_sent_as_soon_as_it_is_made);
}
