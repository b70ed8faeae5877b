//! Calling the app and writing its response: the app runs with the peer
//! address set and a panic caught, and what it answers is encoded into the
//! write buffer, or sent on its own when it is large or streamed.

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, FutureExt, Stream, StreamExt};
use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Version};

use super::Config;
use super::Timer;
use super::clock::Clock;
use super::encode::{self, Persist};
use super::io::Io;
use crate::body::Inner;
use crate::service::Service;
use crate::{Body, BoxError, Request, Response};

/// Bodies up to this size are copied into the write buffer, so pipelined
/// responses go out in one write; larger ones are written on their own.
const COPY_LIMIT: usize = 16 * 1024;

/// Calls the app with `peer` as the current peer address, turning a panic
/// (while routing, extracting or running the handler) into `Err` with the
/// panic message.
///
/// Routing runs here, synchronously; the future it returns is polled by
/// [`Call`], which sets the peer and catches a panic in each poll. One
/// layer instead of an async block inside a `catch_unwind` inside a peer
/// scope: each of those kept its own copy of the request or the response
/// and moved it on (about 400 instructions a request of `memcpy`).
pub(crate) fn call<S: Service>(service: &S, req: Request, peer: SocketAddr) -> Call<S::Future> {
    // The closures borrow the request rather than capture it, so it is not
    // copied into each of them on the way to the service.
    let mut req = Some(req);
    let req = &mut req;
    let routed = crate::peer::enter(peer, || {
        std::panic::catch_unwind(AssertUnwindSafe(|| {
            service.call(req.take().expect("the service is called once"))
        }))
    });
    match routed {
        Ok(future) => Call::Running { future, peer },
        Err(payload) => Call::Panicked {
            message: Some(panic_message(&*payload)),
        },
    }
}

pin_project_lite::pin_project! {
    // The app's future for one request, polled with the peer address set
    // and a panic caught; see `call`.
    #[project = CallProj]
    pub(crate) enum Call<F> {
        Running {
            #[pin]
            future: F,
            peer: SocketAddr,
        },
        Panicked { message: Option<String> },
    }
}

impl<F: Future<Output = Response>> Future for Call<F> {
    type Output = Result<Response, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CallProj::Running { future, peer } => {
                let polled = crate::peer::enter(*peer, || {
                    std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)))
                });
                match polled {
                    Ok(Poll::Ready(response)) => Poll::Ready(Ok(response)),
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(payload) => Poll::Ready(Err(panic_message(&*payload))),
                }
            }
            CallProj::Panicked { message } => {
                Poll::Ready(Err(message.take().unwrap_or_else(|| "polled again".into())))
            }
        }
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A short plain-text response, as every engine-made error is.
pub(crate) fn plain_response(status: StatusCode, reason: &'static str) -> Response {
    let mut response = crate::recycle::response(Body::from(reason));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether the handler set `Connection: close`. A walk over the few
/// headers a response has costs less than hashing the name for a lookup.
fn says_close(headers: &HeaderMap) -> bool {
    headers.iter().any(|(name, v)| {
        name == header::CONNECTION
            && v.as_bytes()
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// The Content-Length a handler declared for a streamed body, if valid.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// What of a response is left to send once its head is queued.
pub(super) enum Rest {
    /// Nothing: the body, if any, is queued with the head.
    Queued,
    /// A whole body too large to copy into the write buffer.
    Large(Bytes),
    Stream(
        Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>,
        encode::Framing,
    ),
    /// The body of a request: not something a response can send.
    Unrelated,
}

/// Encodes `response` and queues or sends it. Returns whether the
/// connection may carry another request.
pub(super) async fn respond<I: AsyncRead + AsyncWrite + Unpin, T: Timer>(
    io: &mut Io<I>,
    response: Response,
    is_head: bool,
    version: Version,
    keep_alive: bool,
    clock: &mut Clock<'_, T>,
    config: &Config,
) -> io::Result<bool> {
    let (keep_alive, rest) =
        encode_response(&mut io.write_buf, response, is_head, version, keep_alive);
    if !matches!(rest, Rest::Queued) {
        send_rest(io, rest, clock, config).await?;
    }
    Ok(keep_alive)
}

/// Encodes the head of `response` into the write buffer, and its body
/// too when that is small and whole: the common response is queued
/// without an await, so it is never moved into a future's state.
/// Returns whether the connection may carry another request, and what
/// is left to send.
pub(super) fn encode_response(
    write_buf: &mut Vec<u8>,
    response: Response,
    is_head: bool,
    version: Version,
    mut keep_alive: bool,
) -> (bool, Rest) {
    let (parts, body) = response.into_parts();
    keep_alive &= !says_close(&parts.headers);
    let body = body.into_inner();
    let framing = if !encode::allows_body(parts.status) {
        encode::Framing::NoBody
    } else {
        match &body {
            Inner::Full(bytes) => encode::Framing::Length(bytes.len() as u64),
            Inner::Vec(bytes) => encode::Framing::Length(bytes.len() as u64),
            Inner::Stream(_) | Inner::Incoming(_) => match declared_length(&parts.headers) {
                Some(n) => encode::Framing::Length(n),
                None if version == Version::HTTP_11 => encode::Framing::Chunked,
                None => {
                    keep_alive = false;
                    encode::Framing::UntilClose
                }
            },
        }
    };
    let persist = match (keep_alive, version) {
        (false, _) => Persist::Close,
        (true, Version::HTTP_10) => Persist::KeepAlive,
        (true, _) => Persist::Default,
    };
    encode::head(write_buf, parts.status, &parts.headers, framing, persist);
    crate::recycle::give_response(parts);
    if is_head || framing == encode::Framing::NoBody {
        return (keep_alive, Rest::Queued);
    }
    let rest = match body {
        Inner::Full(bytes) if bytes.len() <= COPY_LIMIT => {
            write_buf.extend_from_slice(&bytes);
            Rest::Queued
        }
        Inner::Full(bytes) => Rest::Large(bytes),
        Inner::Vec(bytes) if bytes.len() <= COPY_LIMIT => {
            write_buf.extend_from_slice(&bytes);
            Rest::Queued
        }
        Inner::Vec(bytes) => Rest::Large(Bytes::from(bytes)),
        Inner::Stream(stream) => Rest::Stream(stream, framing),
        // Another request's body cannot be read here; the engine turns
        // this request's own body into a buffered one before responding.
        Inner::Incoming(_) => Rest::Unrelated,
    };
    (keep_alive, rest)
}

/// Sends what [`encode_response`] did not queue.
pub(super) async fn send_rest<I: AsyncRead + AsyncWrite + Unpin, T: Timer>(
    io: &mut Io<I>,
    rest: Rest,
    clock: &mut Clock<'_, T>,
    config: &Config,
) -> io::Result<()> {
    match rest {
        Rest::Queued => Ok(()),
        Rest::Large(bytes) => {
            io.flush(clock, config).await?;
            io.write_timed(&bytes, clock, config).await
        }
        Rest::Stream(stream, framing) => stream_body(io, stream, framing, clock, config).await,
        Rest::Unrelated => Err(io::Error::other(
            "response body is an unrelated request body",
        )),
    }
}

/// Sends a streamed body, one write per chunk so each reaches the client
/// as soon as the handler produces it.
async fn stream_body<I: AsyncRead + AsyncWrite + Unpin, T: Timer>(
    io: &mut Io<I>,
    mut stream: Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>,
    framing: encode::Framing,
    clock: &mut Clock<'_, T>,
    config: &Config,
) -> io::Result<()> {
    let mut sent = 0u64;
    loop {
        // A panic in the stream comes after the head went out: all that
        // can be done is to abort the connection.
        let next = AssertUnwindSafe(stream.next())
            .catch_unwind()
            .await
            .map_err(|p| {
                io::Error::other(format!("body stream panicked: {}", panic_message(&*p)))
            })?;
        let Some(chunk) = next else { break };
        // An error mid-body cannot be reported in-band: abort the
        // connection so the client sees a truncated message, not a whole one.
        let chunk = chunk.map_err(io::Error::other)?;
        if chunk.is_empty() {
            continue;
        }
        sent += chunk.len() as u64;
        match framing {
            encode::Framing::Chunked => {
                encode::chunk_size(&mut io.write_buf, chunk.len());
                io.write_buf.extend_from_slice(&chunk);
                io.write_buf.extend_from_slice(b"\r\n");
            }
            encode::Framing::Length(n) if sent > n => {
                return Err(io::Error::other(
                    "body stream longer than its content-length",
                ));
            }
            _ => io.write_buf.extend_from_slice(&chunk),
        }
        io.flush(clock, config).await?;
    }
    match framing {
        encode::Framing::Chunked => io.write_buf.extend_from_slice(encode::LAST_CHUNK),
        encode::Framing::Length(n) if sent != n => {
            return Err(io::Error::other(
                "body stream shorter than its content-length",
            ));
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use futures_lite::future;

    use super::*;
    use crate::Router;
    use crate::routing::get;

    /// A service that panics while routing, before it has a future.
    struct PanicsWhileRouting;

    impl Service for PanicsWhileRouting {
        type Future = future::Ready<Response>;

        fn call(&self, _req: Request) -> Self::Future {
            panic!("routing broke")
        }
    }

    #[test]
    fn a_panic_while_routing_or_polling_becomes_an_error_with_its_message() {
        let peer = SocketAddr::from(([127, 0, 0, 1], 7));
        let routed =
            futures_lite::future::block_on(call(&PanicsWhileRouting, Request::default(), peer));
        assert_eq!(routed.unwrap_err(), "routing broke");

        let router = Router::new().route(
            "/",
            get(|| async {
                futures_lite::future::yield_now().await;
                // The peer is set in every poll, not only the first.
                assert_eq!(
                    crate::peer::current(),
                    Some(SocketAddr::from(([127, 0, 0, 1], 7)))
                );
                panic!("handler broke");
                #[allow(unreachable_code)]
                "never"
            }),
        );
        let polled = futures_lite::future::block_on(call(&router, Request::default(), peer));
        assert_eq!(polled.unwrap_err(), "handler broke");
        assert_eq!(crate::peer::current(), None);

        let ok = Router::new().route("/", get(|| async { "ok" }));
        let answered = futures_lite::future::block_on(call(&ok, Request::default(), peer));
        assert_eq!(answered.unwrap().status(), StatusCode::OK);
    }
}
