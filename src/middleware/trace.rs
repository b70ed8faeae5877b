//! `Trace`: a `tracing` span per request and an access-log line.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::{Method, StatusCode, Version};
use tracing::Instrument;

use super::{Middleware, Next};
use crate::{Request, Response};

/// Opens a `tracing` span per request and logs one access-log line when
/// the response is ready.
///
/// The span is named `request`, at `INFO` level, with the fields `method`,
/// `path`, `status` and `latency_ms` (the last two recorded when the
/// response is ready); whatever the handler logs is nested in it.
///
/// The access-log line is an `INFO` event with target `tramline::access`,
/// in this format (the peer is `-` when unknown, the size `-` for a
/// streamed body):
///
/// ```text
/// 127.0.0.1:51234 "GET /todos?page=2 HTTP/1.1" 200 57 0.412ms
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
        let peer = crate::peer::current();
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
            let latency = start.elapsed();
            span.record("status", res.status().as_u16());
            span.record("latency_ms", latency.as_secs_f64() * 1000.0);
            let line = access_line(&AccessEntry {
                peer,
                method: &method,
                target: &target,
                version,
                status: res.status(),
                size: res.body().len(),
                latency,
            });
            tracing::info!(target: "tramline::access", "{line}");
            res
        }
        .instrument(in_span)
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
    }
}
