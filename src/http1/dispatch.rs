//! Writing the app's response: encoded into the write buffer, or sent on
//! its own when it is large or streamed.

use std::io;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, FutureExt, Stream, StreamExt};
use http::Version;
use http::header::{self, HeaderMap};

use super::encode::{self, Persist};
use super::io::Io;
use crate::proto::Timer;
use crate::proto::call::panic_message;
use crate::proto::clock::Clock;
use crate::vocab::body::Inner;
use crate::vocab::{BoxError, Response};

/// What the response to one request depends on in the request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Exchange {
    /// The request was a `HEAD`: the response goes without its body.
    pub(super) is_head: bool,
    /// The request's version, which the response's framing follows.
    pub(super) version: Version,
    /// The connection may carry another request, as far as the request
    /// and the engine go (the response may still say `close`).
    pub(super) keep_alive: bool,
}

/// Bodies up to this size are copied into the write buffer, so pipelined
/// responses go out in one write; larger ones are written on their own.
const COPY_LIMIT: usize = 16 * 1024;

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
    exchange: Exchange,
    clock: &mut Clock<'_, T>,
) -> io::Result<bool> {
    let (keep_alive, rest) = encode_response(&mut io.write_buf, response, exchange);
    if !matches!(rest, Rest::Queued) {
        send_rest(io, rest, clock).await?;
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
    exchange: Exchange,
) -> (bool, Rest) {
    let Exchange {
        is_head,
        version,
        mut keep_alive,
    } = exchange;
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
    crate::vocab::recycle::give_response(parts);
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
) -> io::Result<()> {
    match rest {
        Rest::Queued => Ok(()),
        Rest::Large(bytes) => {
            io.flush(clock).await?;
            io.write_timed(&bytes, clock).await
        }
        Rest::Stream(stream, framing) => stream_body(io, stream, framing, clock).await,
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
        io.flush(clock).await?;
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
