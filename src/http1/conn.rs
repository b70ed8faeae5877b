//! The connection: the loop that reads, parses, calls the app, encodes,
//! and repeats, and decides when the connection idles, rejects or closes.
//!
//! Its parts live beside it: the stream and buffers in [`super::io`],
//! request bodies in [`super::decode`], calling the app and writing its
//! response in [`super::dispatch`].

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncWrite, FutureExt, future};
use http::{Method, StatusCode, Version};

use super::clock::Clock;
use super::decode::{self, BodyEnd};
use super::dispatch::{self, Rest, call, plain_response};
use super::io::Io;
use super::parse::{Head, HeaderSpan};
use super::pool::SCRATCH;
use super::scan::HeadScan;
use super::{Config, Reject, Timer};
use crate::body::Inner;
use crate::service::Service;
use crate::shutdown::{Ask, Signal, Slot};
use crate::{Body, Request, Response};

/// Pending output is flushed once it grows past this, even mid-batch.
const FLUSH_AT: usize = 64 * 1024;
/// Most bytes read and dropped while lingering after an error response.
const LINGER_BYTES: usize = 64 * 1024;

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
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
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
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let sleep = pin!(timer.sleep(config.idle_timeout));
    let mut clock = Clock::new(&timer, sleep, config.idle_timeout);
    // No buffers yet: the connection takes them from the pool when its
    // first bytes arrive.
    let mut conn = Conn {
        io: Io::new(io),
        scan: HeadScan::default(),
        spans: Vec::new(),
        upgrade: None,
        #[cfg(feature = "http2")]
        http2: false,
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
        return;
    }
    #[cfg(feature = "http2")]
    if conn.http2 {
        // The h2c preface, with prior knowledge: the HTTP/2 engine takes
        // the connection and the bytes read so far, the preface included.
        let io = conn.io.hand_over();
        crate::http2::serve_connection(io, peer, service, timer, config, signal, slot).await;
        return;
    }
    if let Some(callback) = conn.upgrade.take() {
        // The connection is the upgrade's now: no more HTTP timeouts, and
        // it stays busy (not idle) for the server until the upgrade ends.
        let upgraded = conn.io.hand_over().with_signal(signal.clone());
        let run = AssertUnwindSafe(callback(upgraded)).catch_unwind();
        if let Err(payload) = run.await {
            tracing::error!(
                panic = %dispatch::panic_message(&*payload),
                %peer,
                "upgrade handler panicked; connection closed"
            );
        }
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
    /// The stream, and the buffers read into and written from.
    io: Io<I>,
    /// How far the head at the front of `io.read_buf` has been scanned.
    scan: HeadScan,
    spans: Vec<HeaderSpan>,
    /// Set when a `101` was written: what takes the connection.
    upgrade: Option<crate::upgrade::Callback>,
    /// Set when the connection opened with the HTTP/2 preface.
    #[cfg(feature = "http2")]
    http2: bool,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    async fn run<T: Timer, S: Service>(
        &mut self,
        ctx: &Ctx<'_, S>,
        clock: &mut Clock<'_, T>,
    ) -> io::Result<()> {
        let config = ctx.config;
        let mut head_started = false;
        #[cfg(feature = "http2")]
        let mut first = true;
        loop {
            let head = match self
                .scan
                .parse(&mut self.io.read_buf, config, &mut self.spans)
            {
                Ok(Some(head)) => head,
                // Moved out whole before any wait: a result left in place
                // (it has room for a head) would be kept across the waits.
                other => {
                    if let Some(reject) = other.err() {
                        // RFC 9113 §3.4: the preface only opens a
                        // connection; anywhere else it stays a 505.
                        #[cfg(feature = "http2")]
                        if first
                            && reject == Reject::VERSION
                            && self.io.read_buf.starts_with(crate::http2::PREFACE_HEAD)
                        {
                            self.http2 = true;
                            return Ok(());
                        }
                        return self.reject(reject, clock, config).await;
                    }
                    // The batch of complete requests is answered: send it
                    // before waiting for more.
                    self.io.flush(clock, config).await?;
                    let read = if self.io.read_buf.is_empty() {
                        head_started = false;
                        match self.wait_idle(ctx, clock).await {
                            Some(read) => read,
                            None => return self.io.close(clock, config).await,
                        }
                    } else {
                        if !head_started {
                            head_started = true;
                            clock.start(config.header_timeout);
                        }
                        match clock.limit(self.io.fill(SCRATCH)).await {
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
            #[cfg(feature = "http2")]
            {
                first = false;
            }

            // Built in a block of its own: a head or request borrowed in the
            // loop's scope would keep its room in the connection's future
            // across every later wait, and that future is allocated once, at
            // its largest, and kept while the connection idles.
            let (req, peer, is_head, version, keep_alive, can_upgrade, mut reader) = {
                let Head {
                    method,
                    uri,
                    version,
                    headers,
                    body,
                    keep_alive,
                    expect_continue,
                    upgrade,
                } = head;
                let is_head = method == Method::HEAD;
                let (body, reader) =
                    decode::request_body(&mut self.io.read_buf, body, expect_continue, config);
                let mut req = Request::new(body);
                *req.method_mut() = method;
                *req.version_mut() = version;
                // The defaults these replace own nothing (`HeaderMap::new`
                // does not allocate, and the default `Uri` is a static
                // "/"): forgetting them skips their drop glue, which is most
                // of the cost of the assignment.
                std::mem::forget(std::mem::replace(req.uri_mut(), uri));
                std::mem::forget(std::mem::replace(req.headers_mut(), headers));
                // The client behind a trusted proxy; `ctx.peer` itself, after one
                // length check, when none is configured.
                let peer = config.trusted_proxies.client(ctx.peer, req.headers());
                if upgrade {
                    req.extensions_mut().insert(crate::upgrade::CanUpgrade);
                }
                (req, peer, is_head, version, keep_alive, upgrade, reader)
            };
            let mut keep_alive = keep_alive && ctx.may_persist();
            // The app's future is built where it is awaited, so it takes its
            // room once. With a body to pump beside it, it goes on the heap:
            // the connection's future is sized for the common case.
            let response = match &mut reader {
                None => call(ctx.service, req, peer).await,
                Some(reader) => {
                    let called = call(ctx.service, req, peer);
                    Box::pin(reader.pump_while(&mut self.io, clock, config, called)).await
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

            if response.status().is_informational() {
                // A `101` the request asked for, with the function that
                // takes the connection: written, then the connection is
                // handed over (see `connection`). Any other 1xx cannot end
                // an exchange (RFC 9110 §15.2), so the handler is wrong.
                let callback = crate::upgrade::take_callback(&mut response);
                match callback {
                    Some(callback)
                        if can_upgrade && response.status() == StatusCode::SWITCHING_PROTOCOLS =>
                    {
                        dispatch::respond(
                            &mut self.io,
                            response,
                            false,
                            version,
                            true,
                            clock,
                            config,
                        )
                        .await?;
                        self.io.flush(clock, config).await?;
                        self.upgrade = Some(callback);
                        return Ok(());
                    }
                    _ => {
                        tracing::error!(
                            status = %response.status(),
                            peer = %ctx.peer,
                            "handler answered 1xx without an upgrade the request offered; answering 500"
                        );
                        response = plain_response(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal server error",
                        );
                    }
                }
            }

            // RFC 9110 §15.5.14: after 413 the server may close so the client
            // stops sending; always doing so keeps the verdict the same
            // whether or not the rest of the body happened to arrive already.
            // The client may still be sending the rest of that body, so the
            // close lingers.
            let mut body_unread = false;
            if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
                keep_alive = false;
                body_unread = true;
            }

            if let Some(reader) = &mut reader {
                // A handler that answers with its own request body (an echo)
                // needs the pump running while that body is read.
                if matches!(response.body().inner_ref(), Inner::Incoming(_)) {
                    let (parts, body) = response.into_parts();
                    let collected = reader
                        .pump_while(&mut self.io, clock, config, body.collect())
                        .await;
                    response = match collected {
                        Ok(bytes) => Response::from_parts(parts, Body::from(bytes)),
                        Err(e) if e.is_too_large() => {
                            plain_response(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                        }
                        Err(_) => plain_response(StatusCode::BAD_REQUEST, "invalid request body"),
                    };
                }
                match reader.finish_body(&mut self.io, clock).await? {
                    BodyEnd::Complete => {}
                    BodyEnd::Unread => {
                        keep_alive = false;
                        body_unread = true;
                    }
                    BodyEnd::Malformed(reject) => return self.reject(reject, clock, config).await,
                    BodyEnd::Broken => return Ok(()),
                }
            }

            // Asked again after the handler: a shutdown that began while it
            // ran still gets `Connection: close` on this response.
            let keep_alive = keep_alive && ctx.may_persist();
            let (keep_alive, rest) = dispatch::encode_response(
                &mut self.io.write_buf,
                response,
                is_head,
                version,
                keep_alive,
            );
            if !matches!(rest, Rest::Queued) {
                dispatch::send_rest(&mut self.io, rest, clock, config).await?;
            }
            if !keep_alive {
                // RFC 9112 §9.6: nothing after a close is processed, pipelined
                // requests included. A client still sending (a body that was
                // not read, or requests after this one) must first get to
                // read the response.
                if body_unread || !self.io.read_buf.is_empty() {
                    return self.close_lingering(clock, config).await;
                }
                return self.io.close(clock, config).await;
            }
            if self.io.write_buf.len() >= FLUSH_AT {
                self.io.flush(clock, config).await?;
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
            // The read first, then what the server asks: woken through the
            // slot (see `ConnGuard`). One poll function rather than two
            // futures raced by `or`.
            let io = &mut self.io;
            let read_or_asked = future::poll_fn(|cx| {
                if let Poll::Ready(read) = io.poll_idle_read(cx) {
                    return Poll::Ready(Some(read));
                }
                let shutdown_began = draining.is_none() && ctx.signal.is_triggered();
                if shutdown_began || ctx.slot.ask() != Ask::Nothing {
                    Poll::Ready(None)
                } else {
                    Poll::Pending
                }
            });
            let outcome = clock.limit(read_or_asked).await;
            ctx.slot.set_idle(None);
            match outcome {
                Some(Some(read)) => return Some(read),
                // A shutdown began: wait out its drain window instead.
                Some(None) if ctx.slot.ask() == Ask::Nothing => {}
                Some(None) => {
                    // Asked to make room. A request that has already
                    // arrived is answered (with `Connection: close`) rather
                    // than reset by the close.
                    return future::poll_once(future::poll_fn(|cx| self.io.poll_idle_read(cx)))
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

    /// The verdict on a partial head the client will not finish (EOF, or
    /// the header timeout): the scan may have skipped parsing its last
    /// bytes, and a head already wrong is answered as such.
    fn verdict_on_partial(&mut self, config: &Config) -> Option<Reject> {
        if self.io.read_buf.is_empty() {
            return None;
        }
        // No head can be complete: the scan found no head end among the
        // bytes it skipped.
        self.scan
            .parse_now(&mut self.io.read_buf, config, &mut self.spans)
            .err()
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
        dispatch::respond(
            &mut self.io,
            response,
            false,
            Version::HTTP_11,
            false,
            clock,
            config,
        )
        .await?;
        self.close_lingering(clock, config).await
    }

    /// Closes the connection while the client may still be sending.
    ///
    /// Linger: read and drop what the client is still sending for a short
    /// while, so closing with unread data does not reset the connection
    /// before the client has read the response.
    async fn close_lingering<T: Timer>(
        &mut self,
        clock: &mut Clock<'_, T>,
        config: &Config,
    ) -> io::Result<()> {
        self.io.close(clock, config).await?;
        // The bytes land in the thread's scratch array, lent per poll (see
        // `Io::poll_discard`), so the connection's future holds no array of
        // its own for this.
        let mut drained = 0;
        let io = &mut self.io;
        let drain = future::poll_fn(|cx| {
            while drained < LINGER_BYTES {
                match io.poll_discard(cx) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::http1::NoTimer;
    use crate::routing::get;

    /// The request's default URI and header map are forgotten, not
    /// dropped, when the parsed ones replace them: that is only sound while
    /// they own no heap memory.
    #[test]
    fn a_new_requests_default_uri_and_headers_own_nothing() {
        let req = Request::new(());
        assert_eq!(req.headers().capacity(), 0);
        // http builds the default URI with `Uri::from_static("/")`.
        assert_eq!(*req.uri(), http::Uri::from_static("/"));
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
