//! The per-connection loop: read, parse, call the app, encode, repeat.

use std::future::pending;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_lite::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt, Stream, StreamExt, future,
};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version};

use super::clock::{Budget, Clock};
use super::decode::ChunkedDecoder;
use super::encode::{self, Persist};
use super::parse::{self, BodyLength, HeaderSpan};
use crate::incoming::{self, Pump};
// Reads of heads and small bodies go through the thread's scratch array
// and are copied into the read buffer: copying the bytes that arrived
// costs less than zeroing a large read window before every read (safe code
// cannot read into uninitialised memory).
use super::pool::{self, BUF_SIZE, Bufs, SCRATCH};
use super::scan::HeadScan;
use super::{Config, Reject, Timer};
use crate::body::Inner;
use crate::service::Service;
use crate::shutdown::{Ask, Signal, Slot};
use crate::{Body, BoxError, Request, Response};

/// Most bytes asked of one read.
const MAX_READ: usize = 64 * 1024;
/// Bodies up to this size are copied into the write buffer, so pipelined
/// responses go out in one write; larger ones are written on their own.
const COPY_LIMIT: usize = 16 * 1024;
/// Pending output is flushed once it grows past this, even mid-batch.
const FLUSH_AT: usize = 64 * 1024;
/// Most bytes read and dropped while lingering after an error response.
const LINGER_BYTES: usize = 64 * 1024;
/// A request body the handler left unread is read and dropped, so the
/// connection can carry the next request, when at most this much is left;
/// past it the connection is closed instead.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Serves HTTP/1.1 on `io` until the peer closes, an error occurs, a timeout
/// expires, or the server shuts down.
///
/// `slot` is the connection's place in the server's table (see
/// [`crate::shutdown`]): the connection marks itself idle there between
/// requests, and reads there whether the server asks it to close.
///
/// The future is boxed: one allocation per connection, of its exact size.
/// Unboxed, it would be copied into the state of every async block that
/// wraps it on the way to the executor (each keeps room for it both as a
/// captured value and as the future it awaits), and an idle connection's
/// memory is mostly this future.
pub(crate) fn serve_connection<T, S, I>(
    io: I,
    peer: SocketAddr,
    service: Arc<S>,
    timer: T,
    config: Arc<Config>,
    signal: Arc<Signal>,
    slot: &Slot,
) -> Pin<Box<impl Future<Output = ()>>>
where
    T: Timer,
    S: Service,
    I: AsyncRead + AsyncWrite + Unpin,
{
    Box::pin(connection(io, peer, service, timer, config, signal, slot))
}

async fn connection<T, S, I>(
    io: I,
    peer: SocketAddr,
    service: Arc<S>,
    timer: T,
    config: Arc<Config>,
    signal: Arc<Signal>,
    slot: &Slot,
) where
    T: Timer,
    S: Service,
    I: AsyncRead + AsyncWrite + Unpin,
{
    let sleep = pin!(timer.sleep(config.idle_timeout));
    let mut clock = Clock::new(&timer, sleep, config.idle_timeout);
    // No buffers yet: the connection takes them from the pool when its
    // first bytes arrive.
    let mut conn = Conn {
        io,
        read_buf: BytesMut::new(),
        write_buf: Vec::new(),
        lent: true,
        scan: HeadScan::default(),
        spans: Vec::new(),
        write_budget: None,
    };
    let ctx = Ctx {
        service: &*service,
        peer,
        config: &config,
        signal: &signal,
        slot,
    };
    if let Err(e) = conn.run(&ctx, &mut clock).await {
        tracing::debug!(error = %e, %peer, "connection closed with an error");
    }
}

/// What a connection needs from its server, borrowed for its lifetime.
struct Ctx<'a, S> {
    service: &'a S,
    peer: SocketAddr,
    config: &'a Config,
    signal: &'a Signal,
    slot: &'a Slot,
}

impl<S> Ctx<'_, S> {
    /// Whether the connection may carry another request after this one: not
    /// once a shutdown has begun or the server asked it to make room.
    fn may_persist(&self) -> bool {
        !self.signal.is_triggered() && self.slot.ask() == Ask::Nothing
    }
}

struct Conn<I> {
    io: I,
    /// Bytes read but not yet parsed; pipelined requests wait here.
    read_buf: BytesMut,
    /// Encoded responses not yet written: flushed once per read batch.
    write_buf: Vec<u8>,
    /// Both buffers are back in the pool (both fields are empty and
    /// unallocated): the connection is idle, or has not read yet.
    lent: bool,
    /// How far the head at the front of `read_buf` has been scanned.
    scan: HeadScan,
    spans: Vec<HeaderSpan>,
    /// Time blocked writes may still take; `None` (full) until a write
    /// first blocks. It belongs to the connection, not to one response: a
    /// reader below the minimum rate gets no fresh allowance by asking for
    /// another response.
    write_budget: Option<Budget>,
}

impl<I> Drop for Conn<I> {
    fn drop(&mut self) {
        // The next connection on this thread starts with these.
        if !self.lent {
            pool::give(Bufs {
                read: std::mem::take(&mut self.read_buf),
                write: std::mem::take(&mut self.write_buf),
            });
        }
    }
}

/// What of a response is left to send once its head is queued.
enum Rest {
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

/// How reading a request body ended, as far as the connection is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyEnd {
    /// Every byte was read; the next request can follow.
    Complete,
    /// The handler did not read it all.
    Unread,
    /// The client broke the body's framing (400) or let it time out
    /// (408): answer with this and close.
    Malformed(Reject),
    /// The connection failed or the client closed it mid-body: close at
    /// once.
    Broken,
}

/// The connection's side of a request body it reads on demand.
struct BodyReader {
    pump: Pump,
    framing: Framing,
    /// The client asked for `100 Continue`; it is sent on first demand.
    expect_continue: bool,
    continued: bool,
    end: Option<BodyEnd>,
    /// Time the body's reads may still wait; starts full with each body.
    budget: Budget,
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    async fn run<T: Timer, S: Service>(
        &mut self,
        ctx: &Ctx<'_, S>,
        clock: &mut Clock<'_, T>,
    ) -> io::Result<()> {
        let config = ctx.config;
        let mut head_started = false;
        loop {
            let head = match self.scan.parse(&mut self.read_buf, config, &mut self.spans) {
                Ok(Some(head)) => head,
                // Moved out whole before any wait: a result left in place
                // (it has room for a head) would be kept across the waits.
                other => {
                    if let Some(reject) = other.err() {
                        return self.reject(reject, clock, config).await;
                    }
                    // The batch of complete requests is answered: send it
                    // before waiting for more.
                    self.flush(clock, config).await?;
                    let read = if self.read_buf.is_empty() {
                        head_started = false;
                        match self.wait_idle(ctx, clock).await {
                            Some(read) => read,
                            None => return self.close(clock, config).await,
                        }
                    } else {
                        if !head_started {
                            head_started = true;
                            clock.start(config.header_timeout);
                        }
                        match clock.limit(self.fill(SCRATCH)).await {
                            Some(read) => read,
                            None => {
                                tracing::debug!(peer = %ctx.peer, "request head read timed out");
                                // Part of a head arrived, so the client is
                                // waiting for an answer: tell it why it gets
                                // none (RFC 9110 §15.5.9), or what is wrong
                                // with what it sent.
                                let reject = self
                                    .verdict_on_partial(config)
                                    .unwrap_or(Reject::HEAD_TIMEOUT);
                                return self.reject(reject, clock, config).await;
                            }
                        }
                    };
                    if read? == 0 {
                        // EOF. A partial head left behind is abandoned, as
                        // the client has given up on it, unless it is
                        // already wrong: that is answered.
                        return match self.verdict_on_partial(config) {
                            Some(reject) => self.reject(reject, clock, config).await,
                            None => Ok(()),
                        };
                    }
                    continue;
                }
            };
            head_started = false;

            // Built in a block of its own: a head or request borrowed in the
            // loop's scope would keep its room in the connection's future
            // across every later wait, and that future is allocated once, at
            // its largest, and kept while the connection idles.
            let (req, peer, is_head, version, keep_alive, mut reader) = {
                let head = head;
                let is_head = head.method == Method::HEAD;
                let (body, reader) = self.request_body(&head, config);
                let mut req = Request::new(body);
                *req.method_mut() = head.method;
                *req.uri_mut() = head.uri;
                *req.version_mut() = head.version;
                *req.headers_mut() = head.headers;
                // The client behind a trusted proxy; `ctx.peer` itself, after one
                // length check, when none is configured.
                let peer = config.trusted_proxies.client(ctx.peer, req.headers());
                (req, peer, is_head, head.version, head.keep_alive, reader)
            };
            let mut keep_alive = keep_alive && ctx.may_persist();
            // The app's future is built where it is awaited, so it takes its
            // room once. With a body to pump beside it, it goes on the heap:
            // the connection's future is sized for the common case.
            let response = match &mut reader {
                None => call(ctx.service, req, peer).await,
                Some(reader) => {
                    let called = call(ctx.service, req, peer);
                    Box::pin(self.pump_while(reader, clock, config, called)).await
                }
            };
            let mut response = match response {
                Ok(response) => response,
                Err(message) => {
                    tracing::error!(panic = %message, peer = %ctx.peer, "handler panicked; answering 500");
                    keep_alive = false;
                    plain_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
                }
            };

            // RFC 9110 §15.5.14: after 413 the server may close so the client
            // stops sending; always doing so keeps the verdict the same
            // whether or not the rest of the body happened to arrive already.
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                keep_alive = false;
            }

            if let Some(reader) = &mut reader {
                // A handler that answers with its own request body (an echo)
                // needs the pump running while that body is read.
                if matches!(response.body().inner_ref(), Inner::Incoming(_)) {
                    let (parts, body) = response.into_parts();
                    let collected = self.pump_while(reader, clock, config, body.collect()).await;
                    response = match collected {
                        Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
                        Err(e) if e.is_too_large() => {
                            plain_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                        }
                        Err(_) => plain_response(StatusCode::BAD_REQUEST, "invalid request body"),
                    };
                }
                match self.finish_body(reader, clock).await? {
                    BodyEnd::Complete => {}
                    BodyEnd::Unread => keep_alive = false,
                    BodyEnd::Malformed(reject) => return self.reject(reject, clock, config).await,
                    BodyEnd::Broken => return Ok(()),
                }
            }

            // Asked again after the handler: a shutdown that began while it
            // ran still gets `Connection: close` on this response.
            let keep_alive = keep_alive && ctx.may_persist();
            let (keep_alive, rest) = self.encode(response, is_head, version, keep_alive);
            if !matches!(rest, Rest::Queued) {
                self.send_rest(rest, clock, config).await?;
            }
            if !keep_alive {
                // RFC 9112 §9.6: nothing after a close is processed, pipelined
                // requests included.
                return self.close(clock, config).await;
            }
            if self.write_buf.len() >= FLUSH_AT {
                self.flush(clock, config).await?;
            }
        }
    }

    /// Waits, idle, for the first bytes of the next request, and returns the
    /// read; `None` means close instead: the idle timeout passed, the server
    /// asked for room, or a shutdown's drain window ended with no request.
    ///
    /// Once a shutdown has begun an idle connection stays open for the
    /// drain window, so a request a client is sending at that moment is
    /// still answered (with `Connection: close`) rather than lost.
    async fn wait_idle<T: Timer, S>(
        &mut self,
        ctx: &Ctx<'_, S>,
        clock: &mut Clock<'_, T>,
    ) -> Option<io::Result<usize>> {
        let config = ctx.config;
        loop {
            let draining = ctx.signal.triggered_at();
            let deadline = match draining {
                None => clock.start(config.idle_timeout),
                Some(at) => {
                    let left = (at + config.drain_idle).saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    clock.start(left.min(config.idle_timeout))
                }
            };
            ctx.slot.set_idle(Some(deadline));
            let read = async { Some(future::poll_fn(|cx| self.poll_idle_read(cx)).await) };
            // Woken through the slot by the server (see `ConnGuard`).
            let asked = std::future::poll_fn(|_| {
                let shutdown_began = draining.is_none() && ctx.signal.is_triggered();
                if shutdown_began || ctx.slot.ask() != Ask::Nothing {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            });
            let outcome = clock.limit(future::or(read, asked)).await;
            ctx.slot.set_idle(None);
            match outcome {
                Some(Some(read)) => return Some(read),
                // A shutdown began: wait out its drain window instead.
                Some(None) if ctx.slot.ask() == Ask::Nothing => {}
                Some(None) => {
                    // Asked to make room. A request that has already
                    // arrived is answered (with `Connection: close`) rather
                    // than reset by the close.
                    return future::poll_once(future::poll_fn(|cx| self.poll_idle_read(cx)))
                        .await
                        .filter(|read| matches!(read, Ok(n) if *n > 0));
                }
                None => {
                    tracing::trace!(peer = %ctx.peer, "idle keep-alive connection closed");
                    return None;
                }
            }
        }
    }

    /// Builds the request body: empty, already buffered (the common case for
    /// small bodies, which arrive with their head), or read on demand.
    fn request_body(&mut self, head: &parse::Head, config: &Config) -> (Body, Option<BodyReader>) {
        let limit = config.max_body_size;
        let framing = match head.body {
            BodyLength::Empty => return (Body::empty(), None),
            BodyLength::Length(n) if n <= self.read_buf.len() as u64 => {
                // `n` fits in the buffer, so in usize.
                let bytes = self.read_buf.split_to(n as usize).freeze();
                return (Body::from(bytes).with_limit(limit), None);
            }
            BodyLength::Length(n) => Framing::Length(n),
            BodyLength::Chunked => Framing::Chunked(ChunkedDecoder::default()),
        };
        let declared = match framing {
            Framing::Length(n) => Some(n),
            Framing::Chunked(_) => None,
        };
        let (incoming, pump) = incoming::channel(declared);
        let reader = BodyReader {
            pump,
            framing,
            expect_continue: head.expect_continue,
            continued: false,
            end: None,
            budget: Budget::full(config.body_timeout, config.min_body_rate),
        };
        (Body::incoming(incoming, limit), Some(reader))
    }

    /// Runs `f` while feeding the request body to whoever reads it.
    async fn pump_while<T: Timer, F: std::future::Future>(
        &mut self,
        reader: &mut BodyReader,
        clock: &mut Clock<'_, T>,
        config: &Config,
        f: F,
    ) -> F::Output {
        let pumping = async {
            self.pump(reader, clock, config).await;
            pending().await
        };
        future::or(f, pumping).await
    }

    /// Reads body chunks as the handler asks for them, until the body ends,
    /// breaks, or the handler drops it.
    async fn pump<T: Timer>(
        &mut self,
        reader: &mut BodyReader,
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) {
        while reader.end.is_none() {
            if !reader.pump.demand().await {
                reader.end = Some(BodyEnd::Unread);
                return;
            }
            if reader.expect_continue && !reader.continued {
                reader.continued = true;
                self.write_buf
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                if self.flush(clock, config).await.is_err() {
                    reader.pump.finish(Err("connection error"));
                    reader.end = Some(BodyEnd::Broken);
                    return;
                }
            }
            match self
                .next_chunk(&mut reader.framing, &mut reader.budget, clock)
                .await
            {
                Ok((chunk, last)) => {
                    if !chunk.is_empty() {
                        reader.pump.send(chunk);
                    }
                    if last {
                        reader.pump.finish(Ok(()));
                        reader.end = Some(BodyEnd::Complete);
                    }
                }
                Err(end) => {
                    let reason = match end {
                        BodyEnd::Malformed(reject) => reject.reason,
                        _ => "connection closed while reading the request body",
                    };
                    reader.pump.finish(Err(reason));
                    reader.end = Some(end);
                }
            }
        }
    }

    /// Reads the next piece of the body; `true` with the last one.
    async fn next_chunk<T: Timer>(
        &mut self,
        framing: &mut Framing,
        budget: &mut Budget,
        clock: &mut Clock<'_, T>,
    ) -> Result<(Bytes, bool), BodyEnd> {
        loop {
            match framing {
                Framing::Length(remaining) => {
                    if !self.read_buf.is_empty() {
                        let n = (*remaining).min(self.read_buf.len() as u64);
                        *remaining -= n;
                        // `n` is at most the buffer's length.
                        let chunk = self.read_buf.split_to(n as usize).freeze();
                        return Ok((chunk, *remaining == 0));
                    }
                    let want = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .clamp(BUF_SIZE, MAX_READ);
                    self.fill_body(want, budget, clock).await?;
                }
                Framing::Chunked(decoder) => {
                    let mut out = BytesMut::new();
                    match decoder.decode(&mut self.read_buf, &mut out, u64::MAX) {
                        Ok(done) if done || !out.is_empty() => return Ok((out.freeze(), done)),
                        Ok(_) => self.fill_body(MAX_READ, budget, clock).await?,
                        Err(reject) => return Err(BodyEnd::Malformed(reject)),
                    }
                }
            }
        }
    }

    /// One read for a body, within what is left of the body's `budget`.
    async fn fill_body<T: Timer>(
        &mut self,
        max: usize,
        budget: &mut Budget,
        clock: &mut Clock<'_, T>,
    ) -> Result<(), BodyEnd> {
        let mut read = pin!(self.fill(max));
        // Bytes already waiting cost no time; only a read that has to wait
        // reads the clock and spends from the budget.
        let read = match future::poll_once(read.as_mut()).await {
            Some(read) => read,
            None => {
                let since = Instant::now();
                clock.start_at(since, budget.left());
                let Some(read) = clock.limit(read).await else {
                    return Err(BodyEnd::Malformed(Reject::BODY_TIMEOUT));
                };
                budget.spend(since.elapsed());
                read
            }
        };
        match read {
            Ok(n) if n > 0 => {
                budget.earn(n);
                Ok(())
            }
            _ => Err(BodyEnd::Broken),
        }
    }

    /// After the handler: reads and drops a small unread remainder so the
    /// connection can go on, and says how the body ended.
    async fn finish_body<T: Timer>(
        &mut self,
        reader: &mut BodyReader,
        clock: &mut Clock<'_, T>,
    ) -> io::Result<BodyEnd> {
        match reader.end {
            Some(BodyEnd::Complete) => return Ok(BodyEnd::Complete),
            Some(end @ (BodyEnd::Malformed(_) | BodyEnd::Broken)) => return Ok(end),
            Some(BodyEnd::Unread) | None => {}
        }
        // A client that asked for 100 Continue and never got it has not sent
        // the body; one that is sending a large or chunked body is cheaper to
        // hang up on than to read.
        let drainable = match reader.framing {
            Framing::Length(remaining) => {
                remaining <= DRAIN_LIMIT && (!reader.expect_continue || reader.continued)
            }
            Framing::Chunked(_) => false,
        };
        if !drainable {
            return Ok(BodyEnd::Unread);
        }
        while let Framing::Length(remaining) = reader.framing {
            if remaining == 0 {
                break;
            }
            if self.read_buf.is_empty() {
                if let Err(end) = self.fill_body(BUF_SIZE, &mut reader.budget, clock).await {
                    return Ok(end);
                }
            }
            let n = remaining.min(self.read_buf.len() as u64);
            let _ = self.read_buf.split_to(n as usize);
            reader.framing = Framing::Length(remaining - n);
        }
        Ok(BodyEnd::Complete)
    }

    /// The verdict on a partial head the client will not finish (EOF, or
    /// the header timeout): the scan may have skipped parsing its last
    /// bytes, and a head already wrong is answered as such.
    fn verdict_on_partial(&mut self, config: &Config) -> Option<Reject> {
        if self.read_buf.is_empty() {
            return None;
        }
        // No head can be complete: the scan found no head end among the
        // bytes it skipped.
        self.scan
            .parse_now(&mut self.read_buf, config, &mut self.spans)
            .err()
    }

    /// The idle connection's read: while nothing arrives its buffers are
    /// back in the pool; the bytes that come land in the thread's scratch
    /// array and are appended to a pair taken again.
    fn poll_idle_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let read = self.poll_fill_small(cx, SCRATCH);
        if read.is_pending() && !self.lent {
            // Idle, so both buffers are empty: the caller flushed the
            // responses and the previous request left no bytes.
            pool::give(Bufs {
                read: std::mem::take(&mut self.read_buf),
                write: std::mem::take(&mut self.write_buf),
            });
            self.lent = true;
        }
        read
    }

    /// One read of at most `max <= SCRATCH` bytes through the thread's
    /// scratch array, appended to the read buffer (taken from the pool
    /// first if the connection lent its buffers).
    fn poll_fill_small(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let Self {
            io,
            read_buf,
            write_buf,
            lent,
            ..
        } = self;
        pool::with_scratch(|scratch| {
            let read = Pin::new(&mut *io).poll_read(cx, &mut scratch[..max]);
            if let Poll::Ready(Ok(n)) = read {
                if n > 0 && *lent {
                    let bufs = pool::take();
                    *read_buf = bufs.read;
                    *write_buf = bufs.write;
                    *lent = false;
                }
                read_buf.extend_from_slice(&scratch[..n]);
            }
            read
        })
    }

    /// Reads once, asking for at most `max` bytes, and appends what came to
    /// the read buffer. Returns the number read; 0 is EOF.
    ///
    /// Cancel safe: if the future is dropped mid-read, the buffer is left as
    /// it was.
    async fn fill(&mut self, max: usize) -> io::Result<usize> {
        if max <= SCRATCH {
            return future::poll_fn(|cx| self.poll_fill_small(cx, max)).await;
        }
        let len = self.read_buf.len();
        if self.read_buf.capacity() - len < BUF_SIZE / 2 {
            self.read_buf.reserve(BUF_SIZE);
        }
        let end = self.read_buf.capacity().min(len + max);
        let mut spare = Spare::new(&mut self.read_buf, len, end);
        let n = self.io.read(spare.slice()).await?;
        spare.keep(n);
        Ok(n)
    }

    /// Encodes `response` and queues or sends it. Returns whether the
    /// connection may carry another request.
    async fn respond<T: Timer>(
        &mut self,
        response: Response,
        is_head: bool,
        version: Version,
        keep_alive: bool,
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) -> io::Result<bool> {
        let (keep_alive, rest) = self.encode(response, is_head, version, keep_alive);
        if !matches!(rest, Rest::Queued) {
            self.send_rest(rest, clock, config).await?;
        }
        Ok(keep_alive)
    }

    /// Encodes the head of `response` into the write buffer, and its body
    /// too when that is small and whole: the common response is queued
    /// without an await, so it is never moved into a future's state.
    /// Returns whether the connection may carry another request, and what
    /// is left to send.
    fn encode(
        &mut self,
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
        encode::head(
            &mut self.write_buf,
            parts.status,
            &parts.headers,
            framing,
            persist,
        );
        crate::recycle::give_response(parts);
        if is_head || framing == encode::Framing::NoBody {
            return (keep_alive, Rest::Queued);
        }
        let rest = match body {
            Inner::Full(bytes) if bytes.len() <= COPY_LIMIT => {
                self.write_buf.extend_from_slice(&bytes);
                Rest::Queued
            }
            Inner::Full(bytes) => Rest::Large(bytes),
            Inner::Stream(stream) => Rest::Stream(stream, framing),
            // Another request's body cannot be read here; the engine turns
            // this request's own body into a buffered one before responding.
            Inner::Incoming(_) => Rest::Unrelated,
        };
        (keep_alive, rest)
    }

    /// Sends what [`Conn::encode`] did not queue.
    async fn send_rest<T: Timer>(
        &mut self,
        rest: Rest,
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) -> io::Result<()> {
        match rest {
            Rest::Queued => Ok(()),
            Rest::Large(bytes) => {
                self.flush(clock, config).await?;
                self.write_timed(&bytes, clock, config).await
            }
            Rest::Stream(stream, framing) => self.stream_body(stream, framing, clock, config).await,
            Rest::Unrelated => Err(io::Error::other(
                "response body is an unrelated request body",
            )),
        }
    }

    /// Sends a streamed body, one write per chunk so each reaches the client
    /// as soon as the handler produces it.
    async fn stream_body<T: Timer>(
        &mut self,
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
                    encode::chunk_size(&mut self.write_buf, chunk.len());
                    self.write_buf.extend_from_slice(&chunk);
                    self.write_buf.extend_from_slice(b"\r\n");
                }
                encode::Framing::Length(n) if sent > n => {
                    return Err(io::Error::other(
                        "body stream longer than its content-length",
                    ));
                }
                _ => self.write_buf.extend_from_slice(&chunk),
            }
            self.flush(clock, config).await?;
        }
        match framing {
            encode::Framing::Chunked => self.write_buf.extend_from_slice(encode::LAST_CHUNK),
            encode::Framing::Length(n) if sent != n => {
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
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) -> io::Result<()> {
        tracing::debug!(status = %reject.status, reason = reject.reason, "rejecting request");
        let response = plain_response(reject.status, reject.reason);
        self.respond(response, false, Version::HTTP_11, false, clock, config)
            .await?;
        self.close(clock, config).await?;
        // Linger: read and drop what the client is still sending for a short
        // while, so closing with unread data does not reset the connection
        // before the client has read the response.
        // The bytes land in the thread's scratch array, lent per poll, so
        // the connection's future holds no array of its own for this.
        let mut drained = 0;
        let io = &mut self.io;
        let drain = future::poll_fn(|cx| {
            while drained < LINGER_BYTES {
                let read = pool::with_scratch(|scratch| Pin::new(&mut *io).poll_read(cx, scratch));
                match read {
                    Poll::Ready(Ok(0) | Err(_)) => break,
                    Poll::Ready(Ok(n)) => drained += n,
                    Poll::Pending => return Poll::Pending,
                }
            }
            Poll::Ready(())
        });
        clock.start(config.linger);
        clock.limit(drain).await;
        Ok(())
    }

    /// Writes out the pending responses, within the connection's write
    /// budget.
    async fn flush<T: Timer>(
        &mut self,
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.write_buf);
        let result = self.write_timed(&buf, clock, config).await;
        self.write_buf = buf;
        self.write_buf.clear();
        result
    }

    /// Writes all of `bytes` and flushes. While the client does not take
    /// them, the wait is spent from the connection's write budget, and
    /// every byte it takes earns some back; the write fails once the
    /// budget is gone.
    async fn write_timed<T: Timer>(
        &mut self,
        bytes: &[u8],
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) -> io::Result<()> {
        let Self {
            io, write_budget, ..
        } = self;
        let mut written = 0;
        // Most writes complete at once: they read no clock, arm no deadline
        // and, with the budget full, do no arithmetic.
        let first = future::poll_fn(|cx| poll_write_all(io, bytes, &mut written, cx));
        if let Some(done) = future::poll_once(first).await {
            if let Some(budget) = write_budget {
                budget.earn(written);
            }
            return done;
        }
        // Blocked: go on in steps that each end when the client has taken
        // some bytes, each within what is left of the budget.
        let write_budget = write_budget
            .get_or_insert_with(|| Budget::full(config.write_timeout, config.min_write_rate));
        write_budget.earn(written);
        let mut since = Instant::now();
        loop {
            let credited = written;
            clock.start_at(since, write_budget.left());
            let step = future::poll_fn(|cx| match poll_write_all(io, bytes, &mut written, cx) {
                Poll::Ready(done) => Poll::Ready(Some(done)),
                Poll::Pending if written > credited => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            });
            let Some(step) = clock.limit(step).await else {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
            };
            let now = Instant::now();
            write_budget.spend(now - since);
            write_budget.earn(written - credited);
            if let Some(done) = step {
                return done;
            }
            since = now;
        }
    }

    /// Flushes pending responses and closes the write side.
    async fn close<T: Timer>(
        &mut self,
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) -> io::Result<()> {
        self.flush(clock, config).await?;
        self.io.close().await
    }
}

/// Writes `bytes[*written..]` to `io`, counting progress in `written`
/// (kept across polls, so progress shows between them), then flushes.
fn poll_write_all<I: AsyncWrite + Unpin>(
    io: &mut I,
    bytes: &[u8],
    written: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while *written < bytes.len() {
        match Pin::new(&mut *io).poll_write(cx, &bytes[*written..]) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => *written += n,
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Pin::new(io).poll_flush(cx)
}

/// The spare capacity of a read buffer, zeroed and exposed for one read;
/// anything not kept is cut off again on drop, so a cancelled read leaves
/// the buffer as it was.
struct Spare<'a> {
    buf: &'a mut BytesMut,
    len: usize,
}

impl<'a> Spare<'a> {
    fn new(buf: &'a mut BytesMut, len: usize, end: usize) -> Self {
        buf.resize(end, 0);
        Self { buf, len }
    }

    fn slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    fn keep(&mut self, n: usize) {
        self.len += n;
    }
}

impl Drop for Spare<'_> {
    fn drop(&mut self) {
        self.buf.truncate(self.len);
    }
}

/// Calls the app with `peer` as the current peer address, turning a panic
/// (while routing, extracting or running the handler) into `Err` with the
/// panic message.
///
/// Routing runs here, synchronously; the future it returns is polled by
/// [`Call`], which sets the peer and catches a panic in each poll. One
/// layer instead of an async block inside a `catch_unwind` inside a peer
/// scope: each of those kept its own copy of the request or the response
/// and moved it on (about 400 instructions a request of `memcpy`).
fn call<S: Service>(service: &S, req: Request, peer: SocketAddr) -> Call<S::Future> {
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
    enum Call<F> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::http1::NoTimer;
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

    /// An idle connection's memory is mostly its future: keep large arrays
    /// and buffers out of it.
    #[test]
    fn the_connection_future_is_small() {
        let signal = Arc::new(Signal::default());
        let open = signal.open_connection();
        let service = Arc::new(Router::new().route("/", get(|| async { "ok" })));
        let io = futures_lite::io::Cursor::new(Vec::new());
        let peer = SocketAddr::from(([127, 0, 0, 1], 0));
        let fut = serve_connection(
            io,
            peer,
            service,
            NoTimer,
            Arc::new(Config::default()),
            signal.clone(),
            open.slot(),
        );
        let size = std::mem::size_of_val(&*fut);
        eprintln!("serve_connection future: {size} bytes");
        // 5,128 bytes before the head, the request and the parse result
        // stopped being kept across waits (and 4 KiB more with the linger
        // array); 2,440 after. The app's own future is most of the rest.
        assert!(size <= 2600, "serve_connection future is {size} bytes");
    }
}
