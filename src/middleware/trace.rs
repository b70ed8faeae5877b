//! `Trace`: a `tracing` span per request and an access-log line.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::Stream;
use http::{Method, StatusCode, Version};
use tracing::{Instrument, Span};

use super::{Middleware, Next};
use crate::vocab::body::Inner;
use crate::vocab::{Body, BodyError, Request, Response};

/// Opens a `tracing` span per request and logs one access-log line when
/// the response is done.
///
/// The span is named `request`, at `INFO` level, with the fields `method`,
/// `path`, `status` and `latency_ms` (the last two recorded when the
/// response is done); whatever the handler logs is nested in it.
///
/// The access-log line is an `INFO` event with target `tramline::access`,
/// in this format (the peer is `-` when unknown, the size `-` when it is
/// not known):
///
/// ```text
/// 127.0.0.1:51234 "GET /todos?page=2 HTTP/1.1" 200 57 0.412ms
/// ```
///
/// A whole body (text, bytes, JSON) is logged as soon as the handler
/// returns. A streamed body ([`Body::from_stream`](crate::Body::from_stream),
/// [`Sse`](crate::response::sse::Sse)) is logged when it ends, with the
/// bytes it sent, the time until its end, and how it ended: `completed`,
/// `errored` (the stream yielded an error and the connection was cut), or
/// `aborted` (the body was dropped before its end, as when the client goes
/// away):
///
/// ```text
/// 127.0.0.1:51234 "GET /events HTTP/1.1" 200 1843 512.086ms completed
/// ```
///
/// Add it first, so that it is outermost and times everything, including
/// the other middleware. It needs a `tracing` subscriber to print
/// anything.
///
/// # Examples
///
/// ```
/// use tramline::middleware::Trace;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let app = Router::new().route("/", get(|| async { "hi" })).layer(Trace::new());
/// TestClient::new(app).get("/").send().assert_status(200);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace {
    _private: (),
}

impl Trace {
    /// Creates the middleware.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Middleware for Trace {
    fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static {
        let start = Instant::now();
        let peer = crate::vocab::peer::current();
        let method = req.method().clone();
        let version = req.version();
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
        let span = tracing::info_span!(
            "request",
            method = %method,
            path = %req.uri().path(),
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let in_span = span.clone();
        async move {
            let res = next.run(req).await;
            span.record("status", res.status().as_u16());
            let status = res.status();
            // Only a stream that will be sent is wrapped: a whole body costs
            // nothing extra, and a HEAD response or a status without a body
            // drops its stream unsent.
            let streams = matches!(res.body().inner_ref(), Inner::Stream(_))
                && method != Method::HEAD
                && !(status.is_informational()
                    || status == StatusCode::NO_CONTENT
                    || status == StatusCode::NOT_MODIFIED);
            let log = Log {
                span,
                start,
                peer,
                method,
                target,
                version,
                status,
            };
            if !streams {
                let size = res.body().len();
                log.write(size, None);
                return res;
            }
            let (parts, body) = res.into_parts();
            let body = Body::from_stream(Streamed {
                body,
                sent: 0,
                log: Some(log),
            });
            Response::from_parts(parts, body)
        }
        .instrument(in_span)
    }
}

/// What the access-log line of one request needs, kept until its body ends.
struct Log {
    span: Span,
    start: Instant,
    peer: Option<SocketAddr>,
    method: Method,
    target: String,
    version: Version,
    status: StatusCode,
}

impl Log {
    /// Records the latency and writes the line, inside the request's span.
    fn write(self, size: Option<u64>, outcome: Option<&'static str>) {
        let latency = self.start.elapsed();
        self.span
            .record("latency_ms", latency.as_secs_f64() * 1000.0);
        let _in_span = self.span.enter();
        let line = access_line(&AccessEntry {
            peer: self.peer,
            method: &self.method,
            target: &self.target,
            version: self.version,
            status: self.status,
            size,
            latency,
            outcome,
        });
        tracing::info!(target: "tramline::access", "{line}");
    }
}

/// A streamed response body that writes the access-log line when it ends.
struct Streamed {
    body: Body,
    /// Bytes the body has yielded to the engine.
    sent: u64,
    /// `None` once the line is written.
    log: Option<Log>,
}

impl Streamed {
    fn finish(&mut self, outcome: &'static str) {
        if let Some(log) = self.log.take() {
            log.write(Some(self.sent), Some(outcome));
        }
    }
}

impl Stream for Streamed {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let next = Pin::new(&mut this.body).poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => this.sent += chunk.len() as u64,
            Poll::Ready(Some(Err(_))) => this.finish("errored"),
            Poll::Ready(None) => this.finish("completed"),
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for Streamed {
    fn drop(&mut self) {
        // Dropped before its end: the engine gave up on the response
        // (the client went away, or a write timed out).
        self.finish("aborted");
    }
}

/// What one access-log line says.
struct AccessEntry<'a> {
    peer: Option<SocketAddr>,
    method: &'a Method,
    target: &'a str,
    version: Version,
    status: StatusCode,
    size: Option<u64>,
    latency: Duration,
    /// How a streamed body ended; `None` for a whole body.
    outcome: Option<&'static str>,
}

fn access_line(e: &AccessEntry<'_>) -> String {
    let mut line = String::with_capacity(64);
    match e.peer {
        Some(peer) => write!(line, "{peer}"),
        None => write!(line, "-"),
    }
    .and_then(|()| {
        write!(
            line,
            " \"{} {} {:?}\" {} ",
            e.method,
            e.target,
            e.version,
            e.status.as_u16()
        )
    })
    .and_then(|()| match e.size {
        Some(size) => write!(line, "{size}"),
        None => write!(line, "-"),
    })
    .and_then(|()| write!(line, " {:.3}ms", e.latency.as_secs_f64() * 1000.0))
    .and_then(|()| match e.outcome {
        Some(outcome) => write!(line, " {outcome}"),
        None => Ok(()),
    })
    .expect("writing to a String cannot fail");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_line_has_peer_request_status_size_and_latency() {
        let entry = AccessEntry {
            peer: Some("127.0.0.1:51234".parse().unwrap()),
            method: &Method::GET,
            target: "/todos?page=2",
            version: Version::HTTP_11,
            status: StatusCode::OK,
            size: Some(57),
            latency: Duration::from_micros(412),
            outcome: None,
        };
        assert_eq!(
            access_line(&entry),
            r#"127.0.0.1:51234 "GET /todos?page=2 HTTP/1.1" 200 57 0.412ms"#
        );
        let entry = AccessEntry {
            peer: None,
            size: None,
            status: StatusCode::NOT_FOUND,
            ..entry
        };
        assert_eq!(
            access_line(&entry),
            r#"- "GET /todos?page=2 HTTP/1.1" 404 - 0.412ms"#
        );
        let entry = AccessEntry {
            size: Some(1843),
            status: StatusCode::OK,
            outcome: Some("completed"),
            ..entry
        };
        assert_eq!(
            access_line(&entry),
            r#"- "GET /todos?page=2 HTTP/1.1" 200 1843 0.412ms completed"#
        );
    }
}
