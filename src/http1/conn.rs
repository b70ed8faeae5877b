//! The per-connection loop: read, parse, call the app, encode, repeat.

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_lite::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, Stream, StreamExt, future,
};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version};

use super::decode::ChunkedDecoder;
use super::encode::{self, Framing, Persist};
use super::parse::{self, BodyLength, HeaderSpan};
use super::{Config, Reject, Timer};
use crate::body::Inner;
use crate::service::Service;
use crate::shutdown::Signal;
use crate::{Body, BoxError, Request, Response};

/// Initial size of each connection's read and write buffers.
const BUF_SIZE: usize = 8 * 1024;
/// Most bytes asked of one read.
const MAX_READ: usize = 64 * 1024;
/// Bodies up to this size are copied into the write buffer, so pipelined
/// responses go out in one write; larger ones are written on their own.
const COPY_LIMIT: usize = 16 * 1024;
/// Pending output is flushed once it grows past this, even mid-batch.
const FLUSH_AT: usize = 64 * 1024;
/// Most bytes read and dropped while lingering after an error response.
const LINGER_BYTES: usize = 64 * 1024;

/// Serves HTTP/1.1 on `io` until the peer closes, an error occurs, or the
/// server shuts down.
pub(crate) async fn serve_connection<T, S, I>(
    io: I,
    peer: SocketAddr,
    service: Arc<S>,
    timer: T,
    config: Arc<Config>,
    signal: Arc<Signal>,
) where
    T: Timer,
    S: Service,
    I: AsyncRead + AsyncWrite + Unpin,
{
    let _open = signal.open_connection();
    let mut conn = Conn {
        io,
        read_buf: BytesMut::with_capacity(BUF_SIZE),
        write_buf: Vec::with_capacity(BUF_SIZE),
        spans: Vec::new(),
    };
    if let Err(e) = conn.run(&*service, peer, &timer, &config, &signal).await {
        tracing::debug!(error = %e, "connection closed with an error");
    }
}

struct Conn<I> {
    io: I,
    /// Bytes read but not yet parsed; pipelined requests wait here.
    read_buf: BytesMut,
    /// Encoded responses not yet written: flushed once per read batch.
    write_buf: Vec<u8>,
    spans: Vec<HeaderSpan>,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    async fn run<T: Timer, S: Service>(
        &mut self,
        service: &S,
        peer: SocketAddr,
        timer: &T,
        config: &Config,
        signal: &Signal,
    ) -> io::Result<()> {
        let mut stop = signal.listen();
        loop {
            let head = match parse::parse_head(&mut self.read_buf, config, &mut self.spans) {
                Ok(Some(head)) => head,
                Ok(None) => {
                    // The batch of complete requests is answered: send it
                    // before waiting for more.
                    self.flush().await?;
                    let read = if self.read_buf.is_empty() {
                        // Idle between requests: a shutdown closes us now.
                        if signal.is_triggered() {
                            return self.close().await;
                        }
                        let read = async { Some(self.fill(MAX_READ).await) };
                        match future::or(read, async {
                            (&mut stop).await;
                            None
                        })
                        .await
                        {
                            Some(read) => read,
                            None => return self.close().await,
                        }
                    } else {
                        self.fill(MAX_READ).await
                    };
                    if read? == 0 {
                        // EOF. A partial head left behind is abandoned, as
                        // the client has given up on it.
                        return Ok(());
                    }
                    continue;
                }
                Err(reject) => return self.reject(reject, timer, config).await,
            };

            let body = match head.body {
                BodyLength::Empty => Body::empty(),
                BodyLength::Length(n) => {
                    // `n` is at most `max_body_size`, checked by the parser.
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    if head.expect_continue && self.read_buf.len() < n {
                        self.continue_100().await?;
                    }
                    match self.read_exact_body(n).await? {
                        Some(bytes) => Body::from(bytes),
                        None => return Ok(()),
                    }
                }
                BodyLength::Chunked => {
                    if head.expect_continue && self.read_buf.is_empty() {
                        self.continue_100().await?;
                    }
                    match self.read_chunked_body(config.max_body_size).await? {
                        Ok(Some(bytes)) => Body::from(bytes),
                        Ok(None) => return Ok(()),
                        Err(reject) => return self.reject(reject, timer, config).await,
                    }
                }
            };

            let is_head = head.method == Method::HEAD;
            let version = head.version;
            let mut keep_alive = head.keep_alive;
            let mut req = Request::new(body);
            *req.method_mut() = head.method;
            *req.uri_mut() = head.uri;
            *req.version_mut() = head.version;
            *req.headers_mut() = head.headers;

            let response = match call(service, req, peer).await {
                Ok(response) => response,
                Err(message) => {
                    tracing::error!(panic = %message, "handler panicked; answering 500");
                    keep_alive = false;
                    plain_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                }
            };
            let keep_alive = self
                .respond(
                    response,
                    is_head,
                    version,
                    keep_alive && !signal.is_triggered(),
                )
                .await?;
            if !keep_alive {
                // RFC 9112 §9.6: nothing after a close is processed, pipelined
                // requests included.
                return self.close().await;
            }
            if self.write_buf.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
    }

    /// Reads once into the spare capacity of the read buffer, asking for at
    /// most `max` bytes. Returns the number read; 0 is EOF.
    async fn fill(&mut self, max: usize) -> io::Result<usize> {
        let len = self.read_buf.len();
        if self.read_buf.capacity() - len < BUF_SIZE / 2 {
            self.read_buf.reserve(BUF_SIZE);
        }
        let end = self.read_buf.capacity().min(len + max);
        self.read_buf.resize(end, 0);
        let result = self.io.read(&mut self.read_buf[len..]).await;
        self.read_buf.truncate(len + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Reads a Content-Length body. `None` means the peer closed first.
    async fn read_exact_body(&mut self, n: usize) -> io::Result<Option<Bytes>> {
        if self.read_buf.len() < n {
            self.read_buf.reserve(n - self.read_buf.len());
        }
        while self.read_buf.len() < n {
            let want = n - self.read_buf.len();
            if self.fill(want.max(BUF_SIZE)).await? == 0 {
                return Ok(None);
            }
        }
        Ok(Some(self.read_buf.split_to(n).freeze()))
    }

    /// Reads and decodes a chunked body. `Ok(None)` means the peer closed
    /// before the last chunk.
    async fn read_chunked_body(&mut self, max: u64) -> io::Result<Result<Option<Bytes>, Reject>> {
        let mut decoder = ChunkedDecoder::default();
        let mut out = BytesMut::new();
        loop {
            match decoder.decode(&mut self.read_buf, &mut out, max) {
                Ok(true) => return Ok(Ok(Some(out.freeze()))),
                Ok(false) => {
                    if self.fill(MAX_READ).await? == 0 {
                        return Ok(Ok(None));
                    }
                }
                Err(reject) => return Ok(Err(reject)),
            }
        }
    }

    async fn continue_100(&mut self) -> io::Result<()> {
        self.write_buf
            .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        self.flush().await
    }

    /// Encodes and sends `response`. Returns whether the connection may
    /// carry another request.
    async fn respond(
        &mut self,
        response: Response,
        is_head: bool,
        version: Version,
        mut keep_alive: bool,
    ) -> io::Result<bool> {
        let (parts, body) = response.into_parts();
        keep_alive &= !says_close(&parts.headers);
        let body = body.into_inner();
        let framing = if !encode::allows_body(parts.status) {
            Framing::NoBody
        } else {
            match &body {
                Inner::Full(bytes) => Framing::Length(bytes.len() as u64),
                Inner::Stream(_) => match declared_length(&parts.headers) {
                    Some(n) => Framing::Length(n),
                    None if version == Version::HTTP_11 => Framing::Chunked,
                    None => {
                        keep_alive = false;
                        Framing::UntilClose
                    }
                },
            }
        };
        let persist = match (keep_alive, version) {
            (false, _) => Persist::Close,
            (true, Version::HTTP_10) => Persist::KeepAlive,
            (true, _) => Persist::Default,
        };
        encode::head(
            &mut self.write_buf,
            parts.status,
            &parts.headers,
            framing,
            persist,
        );
        if is_head || framing == Framing::NoBody {
            return Ok(keep_alive);
        }
        match body {
            Inner::Full(bytes) if bytes.len() <= COPY_LIMIT => {
                self.write_buf.extend_from_slice(&bytes);
            }
            Inner::Full(bytes) => {
                self.flush().await?;
                self.io.write_all(&bytes).await?;
            }
            Inner::Stream(stream) => self.stream_body(stream, framing).await?,
        }
        Ok(keep_alive)
    }

    /// Sends a streamed body, one write per chunk so each reaches the client
    /// as soon as the handler produces it.
    async fn stream_body(
        &mut self,
        mut stream: Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>,
        framing: Framing,
    ) -> io::Result<()> {
        let mut sent = 0u64;
        while let Some(chunk) = stream.next().await {
            // An error mid-body cannot be reported in-band: abort the
            // connection so the client sees a truncated message, not a whole one.
            let chunk = chunk.map_err(io::Error::other)?;
            if chunk.is_empty() {
                continue;
            }
            sent += chunk.len() as u64;
            match framing {
                Framing::Chunked => {
                    encode::chunk_size(&mut self.write_buf, chunk.len());
                    self.write_buf.extend_from_slice(&chunk);
                    self.write_buf.extend_from_slice(b"\r\n");
                }
                Framing::Length(n) if sent > n => {
                    return Err(io::Error::other(
                        "body stream longer than its content-length",
                    ));
                }
                _ => self.write_buf.extend_from_slice(&chunk),
            }
            self.flush().await?;
        }
        match framing {
            Framing::Chunked => self.write_buf.extend_from_slice(encode::LAST_CHUNK),
            Framing::Length(n) if sent != n => {
                return Err(io::Error::other(
                    "body stream shorter than its content-length",
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// Answers a request the engine refuses, then closes the connection.
    async fn reject<T: Timer>(
        &mut self,
        reject: Reject,
        timer: &T,
        config: &Config,
    ) -> io::Result<()> {
        tracing::debug!(status = %reject.status, reason = reject.reason, "rejecting request");
        let response = plain_response(reject.status, reject.reason);
        self.respond(response, false, Version::HTTP_11, false)
            .await?;
        self.close().await?;
        // Linger: read and drop what the client is still sending for a short
        // while, so closing with unread data does not reset the connection
        // before the client has read the response.
        let mut drained = 0;
        let mut scratch = [0u8; 4096];
        let drain = async {
            while drained < LINGER_BYTES {
                match self.io.read(&mut scratch).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        };
        future::or(drain, timer.sleep(config.linger)).await;
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.write_buf.is_empty() {
            self.io.write_all(&self.write_buf).await?;
            self.write_buf.clear();
            self.io.flush().await?;
        }
        Ok(())
    }

    /// Flushes pending responses and closes the write side.
    async fn close(&mut self) -> io::Result<()> {
        self.flush().await?;
        self.io.close().await
    }
}

/// Calls the app with `peer` as the current peer address, turning a panic
/// (while building or polling the response future) into `Err` with the panic
/// message.
async fn call<S: Service>(service: &S, req: Request, peer: SocketAddr) -> Result<Response, String> {
    let future = std::panic::catch_unwind(AssertUnwindSafe(|| {
        crate::peer::enter(peer, || service.call(req))
    }))
    .map_err(|p| panic_message(&*p))?;
    crate::peer::scope(peer, AssertUnwindSafe(future).catch_unwind())
        .await
        .map_err(|p| panic_message(&*p))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A short plain-text response, as every engine-made error is.
fn plain_response(status: StatusCode, reason: &'static str) -> Response {
    let mut response = Response::new(Body::from(reason));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn says_close(headers: &HeaderMap) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.as_bytes()
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
