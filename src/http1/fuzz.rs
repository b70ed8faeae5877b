//! Invariant checks shared by the property tests and the cargo-fuzz
//! targets: each takes arbitrary bytes and panics if the engine breaks a
//! rule.
//!
//! - nothing panics;
//! - the verdict is the same however the input is split across reads;
//! - no response follows an error response on a connection.
#![cfg_attr(not(feature = "__fuzz"), allow(unreachable_pub))]

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_lite::future::block_on;
use futures_lite::{AsyncRead, AsyncWrite};

use super::decode::ChunkedDecoder;
use super::parse::{Head, parse_head};
use super::scan::HeadScan;
use super::{Config, Reject, serve_in_memory};
use crate::Router;
use crate::extract::Path;
use crate::routing::{get, post};

/// Parses `data` whole and split at `split`; both must give one verdict.
///
/// # Panics
///
/// Panics if they do not, or if the parser panics.
pub fn parse_request(data: &[u8], split: usize) {
    let config = Config::default();
    let mut spans = Vec::new();
    let whole = verdict(&parse_head(&mut BytesMut::from(data), &config, &mut spans));
    let split = split % (data.len() + 1);
    let mut buf = BytesMut::from(&data[..split]);
    let first = parse_head(&mut buf, &config, &mut spans);
    let resumed = match first {
        Ok(None) => {
            buf.extend_from_slice(&data[split..]);
            verdict(&parse_head(&mut buf, &config, &mut spans))
        }
        other => verdict(&other),
    };
    assert_eq!(whole, resumed, "split at {split}");
}

/// Parses `data` whole, and fed `step` bytes per read through the
/// connection's incremental scan (which skips the full parse while no
/// verdict can change) with a final verdict asked for at EOF, as the
/// connection does: both must give one verdict.
///
/// # Panics
///
/// Panics if they do not, or if the parser panics.
pub fn parse_request_in_pieces(data: &[u8], step: usize) {
    let config = Config::default();
    let mut spans = Vec::new();
    let whole = verdict(&parse_head(&mut BytesMut::from(data), &config, &mut spans));
    let step = step.clamp(1, 64);
    let mut scan = HeadScan::default();
    let mut buf = BytesMut::new();
    let mut resumed = None;
    for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        let r = scan.parse(&mut buf, &config, &mut spans);
        if !matches!(r, Ok(None)) {
            resumed = Some(verdict(&r));
            break;
        }
    }
    let resumed =
        resumed.unwrap_or_else(|| verdict(&scan.parse_now(&mut buf, &config, &mut spans)));
    assert_eq!(whole, resumed, "step {step}");
}

/// A parse result as text, headers included, so two results compare.
pub(crate) fn verdict(r: &Result<Option<Head>, Reject>) -> String {
    match r {
        Ok(Some(h)) => format!(
            "{} {} {:?} {:?} {:?}",
            h.method, h.uri, h.version, h.body, h.headers
        ),
        Ok(None) => "partial".to_owned(),
        Err(e) => format!("{} {}", e.status, e.reason),
    }
}

/// Decodes `data` as a chunked body whole and in `step`-byte pieces; both
/// must give the same body, leftover and verdict.
///
/// # Panics
///
/// Panics if they do not, or if the decoder panics.
pub fn decode_chunked(data: &[u8], step: usize) {
    let whole = decode_in_pieces(data, data.len().max(1));
    let pieces = decode_in_pieces(data, step.clamp(1, 64));
    assert_eq!(whole, pieces, "step {step}");
}

/// Decodes `data` fed `step` bytes at a time (1 MiB body limit); returns the
/// body and what follows it, or the error's reason.
pub(crate) fn decode_in_pieces(
    data: &[u8],
    step: usize,
) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    for (i, piece) in data.chunks(step).enumerate() {
        buf.extend_from_slice(piece);
        if decoder
            .decode(&mut buf, &mut out, 1 << 20)
            .map_err(|e| e.reason)?
        {
            buf.extend_from_slice(&data[((i + 1) * step).min(data.len())..]);
            return Ok((out.to_vec(), buf.to_vec()));
        }
    }
    Err("incomplete")
}

/// Serves `data` as everything a client sends on one connection, delivered
/// whole and in `step`-byte reads: the output must match, and nothing may
/// follow a response that closes the connection.
///
/// # Panics
///
/// Panics if either rule is broken, or if the engine panics.
pub fn connection(data: &[u8], step: usize) {
    let whole = serve(data, data.len().max(1));
    let pieces = serve(data, step.clamp(1, 64));
    assert_eq!(whole, pieces, "step {step}");
    if let Some(i) = whole.find("\r\nconnection: close\r\n") {
        // The closing response's head ends at the next blank line; its body
        // is its content-length; nothing may come after it.
        let head_end = i + whole[i..].find("\r\n\r\n").expect("head ends") + 4;
        let head = &whole[..head_end];
        let start = head.rfind("HTTP/1.1 ").expect("status line");
        let len: usize = head[start..]
            .split("\r\n")
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.parse().expect("numeric content-length"));
        assert_eq!(
            whole.len(),
            head_end + len,
            "bytes after a closing response: {whole:?}"
        );
    }
}

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "root" }))
        .route(
            "/n/{n}",
            get(|Path(n): Path<u32>| async move { format!("n={n}") }),
        )
        .route("/echo", post(|body: bytes::Bytes| async move { body }))
}

/// Runs the engine over `input` fed `step` bytes per read; returns the
/// output with every `date` value blanked.
pub(crate) fn serve(input: &[u8], step: usize) -> String {
    // The engine takes its stream by value and for good (an upgrade could
    // keep it), so the stream owns a copy of the input and shares its
    // output.
    let output = Arc::new(Mutex::new(Vec::new()));
    let io = Scripted {
        input: input.to_vec(),
        pos: 0,
        step,
        output: output.clone(),
    };
    block_on(serve_in_memory(io, Arc::new(app())));
    let output = output.lock().unwrap();
    let text = String::from_utf8_lossy(&output);
    let mut out = String::with_capacity(text.len());
    let mut rest = &*text;
    while let Some(i) = rest.find("date: ") {
        out.push_str(&rest[..i + 6]);
        out.push_str("DATE");
        rest = rest.get(i + 6 + 29..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// A stream that yields its input in `step`-byte reads, then EOF, and
/// records every byte written.
struct Scripted {
    input: Vec<u8>,
    pos: usize,
    step: usize,
    output: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.step).min(self.input.len() - self.pos);
        let pos = self.pos;
        buf[..n].copy_from_slice(&self.input[pos..pos + n]);
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.output.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Request-shaped input: fragments that hit the parser's interesting
    /// paths, glued together in any order.
    fn fragments() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST /echo HTTP/1.1\r\n",
            b"GET /n/7 HTTP/1.0\r\n",
            b"Host: t\r\n",
            b"Content-Length: 5\r\n",
            b"Content-Length: 3, 3\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Connection: close\r\n",
            b"Connection: keep-alive\r\n",
            b"Expect: 100-continue\r\n",
            b"\r\n",
            b"\n",
            b"\r",
            b"hello",
            b"5\r\nhello\r\n",
            b"0\r\n\r\n",
            b"5;x=y\r\n",
            b"X: a\x00b\r\n",
            b" folded\r\n",
            b"HTTP/2.0",
            b"HTTP/1.2",
            b"GET / HTTP/1.3\r\n",
            b"CONNECT t:443 HTTP/1.1\r\n",
            b"MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM /",
            b"Host:\r\n",
            b" ",
            b"5;\r\n",
            b"5 ; a = \"b\\\"\" ;c\r\n",
        ]);
        prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn parse_verdict_does_not_depend_on_the_split(data in fragments(), split in any::<usize>()) {
            parse_request(&data, split);
        }

        #[test]
        fn incremental_parse_verdict_does_not_depend_on_the_split(data in fragments(), step in 1usize..16) {
            parse_request_in_pieces(&data, step);
        }

        #[test]
        fn incremental_parse_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512), step in 1usize..16) {
            parse_request_in_pieces(&data, step);
        }

        #[test]
        fn parse_never_panics_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512), split in any::<usize>()) {
            parse_request(&data, split);
        }

        #[test]
        fn chunked_verdict_does_not_depend_on_the_split(data in fragments(), step in 1usize..16) {
            decode_chunked(&data, step);
        }

        #[test]
        fn connection_output_does_not_depend_on_the_split(data in fragments(), step in 1usize..16) {
            connection(&data, step);
        }
    }

    #[test]
    fn pipelined_requests_get_ordered_responses_however_the_input_is_split() {
        let input = b"GET /n/1 HTTP/1.1\r\nHost: a\r\n\r\nGET /n/22 HTTP/1.1\r\nHost: a\r\n\r\nGET /n/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /n/3 HTTP/1.1\r\nHost: a\r\n\r\n";
        let want = serve(input, input.len());
        assert!(want.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ndate: DATE\r\ncontent-length: 3\r\n\r\nn=1HTTP/1.1 200 OK\r\n"), "{want}");
        assert!(want.contains("n=22HTTP/1.1 400 Bad Request\r\n"), "{want}");
        // Nothing after the `Connection: close` request is served.
        assert!(want.ends_with("connection: close\r\n\r\ninvalid path parameter 'n': expected an unsigned integer, got \"x\""), "{want}");
        for step in [1, 2, 5, 17] {
            assert_eq!(serve(input, step), want, "step {step}");
        }
        connection(input, 3);
    }
}
