//! The HTTP/1.1 engine: head parsing, body decoding, response encoding and
//! the per-connection loop. Private to the crate; [`crate::Server`] drives it.

mod conn;
mod date;
mod decode;
mod encode;
mod parse;

use std::future::{Future, Pending, pending};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};
use http::StatusCode;
use tramline_rt::Runtime;

pub(crate) use conn::serve_connection;

use crate::service::Service;
use crate::shutdown::Signal;

/// The one thing the engine needs from a runtime: a timer for its timeouts.
pub(crate) trait Timer: Send + Sync + 'static {
    /// The future of one sleep.
    type Sleep: Future<Output = ()> + Send;

    /// Returns a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<R: Runtime> Timer for R {
    type Sleep = R::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Runtime::sleep(self, duration)
    }
}

/// A timer that never fires: in-memory connections (the test client) have
/// no timeouts, and so need no runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoTimer;

impl Timer for NoTimer {
    type Sleep = Pending<()>;

    fn sleep(&self, _: Duration) -> Self::Sleep {
        pending()
    }
}

/// Serves HTTP/1.1 on an in-memory stream with the default limits and no
/// timeouts; needs no runtime, so any executor (or `block_on`) can drive it.
/// Extractors see 127.0.0.1:0 as the peer.
pub(crate) async fn serve_in_memory<I, S>(io: I, service: Arc<S>)
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: Service,
{
    let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let config = Arc::new(Config::default());
    serve_connection(
        io,
        peer,
        service,
        NoTimer,
        config,
        Arc::new(Signal::default()),
    )
    .await;
}

/// Limits and timeouts one connection enforces.
///
/// Every field has a default and a setter on [`crate::Server`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Longest request target, in bytes (414 over it).
    pub(crate) max_uri_len: usize,
    /// Largest request head (request line and headers), in bytes (431).
    pub(crate) max_head_size: usize,
    /// Most header fields in one request (431).
    pub(crate) max_headers: usize,
    /// Largest request body, in bytes (413).
    pub(crate) max_body_size: u64,
    /// How long after an error response the connection is drained before
    /// it is closed, so the client reads the response instead of a reset.
    pub(crate) linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_uri_len: 8 * 1024,
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_body_size: 2 * 1024 * 1024,
            linger: Duration::from_secs(1),
        }
    }
}

/// A request the engine refuses: the status and the short plain-text reason
/// it answers with before closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

impl Reject {
    pub(crate) const HEAD_TOO_LARGE: Self = Self::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request header too large",
    );
    pub(crate) const TOO_MANY_HEADERS: Self = Self::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "too many request headers",
    );
    pub(crate) const URI_TOO_LONG: Self =
        Self::new(StatusCode::URI_TOO_LONG, "request URI too long");
    pub(crate) const BODY_TOO_LARGE: Self =
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    pub(crate) const NOT_IMPLEMENTED_CODING: Self =
        Self::new(StatusCode::NOT_IMPLEMENTED, "unsupported transfer-encoding");
    pub(crate) const VERSION: Self = Self::new(
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        "HTTP version not supported",
    );

    pub(crate) const fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason }
    }

    pub(crate) const fn bad_request(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl From<httparse::Error> for Reject {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => Self::TOO_MANY_HEADERS,
            httparse::Error::HeaderName => Self::bad_request("invalid header name"),
            httparse::Error::HeaderValue => Self::bad_request("invalid header value"),
            httparse::Error::NewLine => Self::bad_request("invalid line ending"),
            httparse::Error::Token => Self::bad_request("invalid token in request line"),
            httparse::Error::Version => Self::bad_request("invalid HTTP version"),
            httparse::Error::Status => Self::bad_request("invalid request line"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_lite::future::block_on;

    use crate::Router;
    use crate::routing::get;

    /// A stream that yields `input` in `step`-byte reads, then EOF, and
    /// records every byte written.
    struct Scripted {
        input: Vec<u8>,
        pos: usize,
        step: usize,
        output: Vec<u8>,
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
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.output.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Serves `input` fed `step` bytes at a time; returns what was written,
    /// with every `date` value blanked.
    fn serve(input: &[u8], step: usize) -> String {
        let app = Router::new().route("/{n}", get(|crate::extract::Path(n): crate::extract::Path<u32>| async move { format!("n={n}") }));
        let mut io = Scripted {
            input: input.to_vec(),
            pos: 0,
            step,
            output: Vec::new(),
        };
        block_on(serve_in_memory(&mut io, Arc::new(app)));
        let text = String::from_utf8(io.output).unwrap();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("date: ") {
            out.push_str(&rest[..i + 6]);
            out.push_str("DATE");
            rest = &rest[i + 6 + 29..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn pipelined_requests_get_ordered_responses_however_the_input_is_split() {
        let input = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /22 HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n";
        let want = serve(input, input.len());
        assert!(want.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-8\r\ndate: DATE\r\ncontent-length: 3\r\n\r\nn=1HTTP/1.1 200 OK\r\n"), "{want}");
        assert!(want.contains("n=22HTTP/1.1 400 Bad Request\r\n"), "{want}");
        // Nothing after the `Connection: close` request is served.
        assert!(want.ends_with("connection: close\r\n\r\ninvalid path parameter 'n': expected an unsigned integer, got \"x\""), "{want}");
        for step in [1, 2, 5, 17] {
            assert_eq!(serve(input, step), want, "step {step}");
        }
    }
}
