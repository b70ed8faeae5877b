//! The whole connection's invariant check, shared by the property tests
//! and the cargo-fuzz `connection` target: a small app served over one
//! in-memory connection, whose output must not depend on how the input is
//! split across reads, and in which nothing follows a closing response.
#![cfg_attr(not(feature = "__fuzz"), allow(unreachable_pub))]

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_lite::future::block_on;
use futures_lite::{AsyncRead, AsyncWrite};

use super::protocol::serve_in_memory;
use crate::extract::Path;
use crate::routing::Router;
use crate::routing::{get, post};

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
    use crate::http1::fuzz::fragments;
    use proptest::prelude::*;

    proptest! {
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
