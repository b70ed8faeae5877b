//! The connection: the loop that reads, parses, calls the app, encodes,
//! and repeats, and decides when the connection idles, rejects or closes.
//!
//! Its parts live beside it: the stream and buffers in [`super::io`],
//! request bodies in [`super::decode`], calling the app and writing its
//! response in [`super::dispatch`].

use std::io;
use std::pin::pin;
use std::task::Poll;
use std::time::Instant;

use futures_lite::{AsyncRead, AsyncWrite, future};
use http::{Method, Version};

use super::decode::{self, BodyEnd};
use super::dispatch::{self, Exchange, Rest};
use super::io::Io;
use super::parse::{Head, HeaderSpan};
use super::pool::SCRATCH;
use super::scan::HeadScan;
#[cfg(feature = "http2")]
use crate::proto::H2_PREFACE_HEAD;
use crate::proto::call::{Settled, Then, call, echoed, settle};
use crate::proto::clock::Clock;
use crate::proto::shutdown::Ask;
use crate::proto::upgrade::{Callback, CanUpgrade, Upgraded};
use crate::proto::{Config, Connection, Reject, Timer};
use crate::vocab::Request;
use crate::vocab::body::Inner;
use crate::vocab::response::plain_text;
use crate::vocab::service::Service;

/// [`Exit::Closed`], for a `?`-less close that succeeded.
fn closed((): ()) -> Exit {
    Exit::Closed
}

/// Pending output is flushed once it grows past this, even mid-batch.
const FLUSH_AT: usize = 64 * 1024;
/// Most bytes read and dropped while lingering after an error response.
const LINGER_BYTES: usize = 64 * 1024;

/// How an HTTP/1.1 connection ended, for the protocol layer above the
/// engines to act on.
pub(crate) enum Outcome {
    /// Done: closed by either side, timed out, broken, or refused.
    Closed,
    /// A `101` went out: the stream, with the bytes the client sent past
    /// the request head, belongs to the upgrade's function now.
    Upgrade(Upgraded, Callback),
    /// The connection opened with the HTTP/2 preface (prior knowledge): the
    /// stream, with every byte read so far, the preface included, is for
    /// the HTTP/2 engine. Without the `http2` feature the preface is an
    /// HTTP/2.0 request like any other, and answered `505`.
    #[cfg(feature = "http2")]
    Preface(Upgraded),
}

/// Serves HTTP/1.1 on `io` until the peer closes, an error occurs, a timeout
/// expires, the server shuts down, or the connection leaves HTTP/1.1 (an
/// upgrade, or the HTTP/2 preface), and says which.
pub(crate) async fn serve<T, S, I>(io: I, conn: &Connection<'_, T, S>) -> Outcome
where
    T: Timer,
    S: Service,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &*conn.config;
    let sleep = pin!(conn.timer.sleep(config.idle_timeout));
    let mut clock = Clock::new(&conn.timer, sleep, config.idle_timeout, config);
    // No buffers yet: the connection takes them from the pool when its
    // first bytes arrive.
    let mut h1 = Conn {
        io: Io::new(io),
        scan: HeadScan::default(),
        spans: Vec::new(),
    };
    match h1.run(conn, &mut clock).await {
        Ok(Exit::Closed) => Outcome::Closed,
        // The connection is the upgrade's now: no more HTTP timeouts, and
        // it stays busy (not idle) for the server until the upgrade ends.
        Ok(Exit::Upgrade(callback)) => {
            Outcome::Upgrade(h1.io.hand_over().with_signal(conn.signal.clone()), callback)
        }
        #[cfg(feature = "http2")]
        Ok(Exit::Preface) => Outcome::Preface(h1.io.hand_over()),
        Err(e) => {
            tracing::debug!(error = %e, peer = %conn.peer, "connection closed with an error");
            Outcome::Closed
        }
    }
}

/// Why [`Conn::run`] returned.
enum Exit {
    Closed,
    Upgrade(Callback),
    #[cfg(feature = "http2")]
    Preface,
}

/// Where the connection stands between two requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// No byte of the next head yet: the idle timeout runs.
    Idle,
    /// Part of a head is in: the header timeout runs, from its first byte.
    Head,
}

/// The HTTP/1.1 state of one connection.
struct Conn<I> {
    /// The stream, and the buffers read into and written from.
    io: Io<I>,
    /// How far the head at the front of `io.read_buf` has been scanned.
    scan: HeadScan,
    spans: Vec<HeaderSpan>,
}

impl<I: AsyncRead + AsyncWrite + Unpin> Conn<I> {
    async fn run<T: Timer, S: Service>(
        &mut self,
        ctx: &Connection<'_, T, S>,
        clock: &mut Clock<'_, T>,
    ) -> io::Result<Exit> {
        let config = clock.config;
        let mut reading = Reading::Idle;
        // No request served yet: the HTTP/2 preface may still open it.
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
                            && self.io.read_buf.starts_with(H2_PREFACE_HEAD)
                        {
                            return Ok(Exit::Preface);
                        }
                        return self.reject(reject, clock).await.map(closed);
                    }
                    // The batch of complete requests is answered: send it
                    // before waiting for more.
                    self.io.flush(clock).await?;
                    let read = if self.io.read_buf.is_empty() {
                        reading = Reading::Idle;
                        match self.wait_idle(ctx, clock).await {
                            Some(read) => read,
                            None => return self.io.close(clock).await.map(closed),
                        }
                    } else {
                        if reading == Reading::Idle {
                            reading = Reading::Head;
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
                                return self.reject(reject, clock).await.map(closed);
                            }
                        }
                    };
                    if read? == 0 {
                        // EOF. A partial head left behind is abandoned, as
                        // the client has given up on it, unless it is
                        // already wrong: that is answered.
                        return match self.verdict_on_partial(config) {
                            Some(reject) => self.reject(reject, clock).await.map(closed),
                            None => Ok(Exit::Closed),
                        };
                    }
                    continue;
                }
            };
            reading = Reading::Idle;
            #[cfg(feature = "http2")]
            {
                first = false;
            }

            // Built in a block of its own: a head or request borrowed in the
            // loop's scope would keep its room in the connection's future
            // across every later wait, and that future is allocated once, at
            // its largest, and kept while the connection idles.
            let (req, peer, exchange, can_upgrade, mut reader) = {
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
                let exchange = Exchange {
                    is_head: method == Method::HEAD,
                    version,
                    keep_alive: keep_alive && ctx.may_persist(),
                };
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
                    req.extensions_mut().insert(CanUpgrade);
                }
                (req, peer, exchange, upgrade, reader)
            };
            let mut exchange = exchange;
            // The app's future is built where it is awaited, so it takes its
            // room once. With a body to pump beside it, it goes on the heap:
            // the connection's future is sized for the common case.
            let mut response = match &mut reader {
                None => call(&*ctx.service, req, peer).await,
                Some(reader) => {
                    let called = call(&*ctx.service, req, peer);
                    Box::pin(reader.pump_while(&mut self.io, clock, called)).await
                }
            };
            let Settled { then, upgrade } = settle(&mut response, can_upgrade, ctx.peer);
            if let Some(callback) = upgrade {
                // Written, then the connection is handed over (see `serve`).
                exchange.is_head = false;
                exchange.keep_alive = true;
                dispatch::respond(&mut self.io, response, exchange, clock).await?;
                self.io.flush(clock).await?;
                return Ok(Exit::Upgrade(callback));
            }
            // The client may still be sending the rest of a body nobody
            // reads: a close then lingers.
            let mut body_unread = then == Then::CloseLingering;
            exchange.keep_alive &= then == Then::Continue;

            if let Some(reader) = &mut reader {
                // A handler that answers with its own request body (an echo)
                // needs the pump running while that body is read.
                if matches!(response.body().inner_ref(), Inner::Incoming(_)) {
                    let (parts, body) = response.into_parts();
                    let collected = reader.pump_while(&mut self.io, clock, body.collect()).await;
                    response = echoed(parts, collected);
                }
                match reader.finish_body(&mut self.io, clock).await? {
                    BodyEnd::Complete => {}
                    BodyEnd::Unread => {
                        exchange.keep_alive = false;
                        body_unread = true;
                    }
                    BodyEnd::Malformed(reject) => {
                        return self.reject(reject, clock).await.map(closed);
                    }
                    BodyEnd::Broken => return Ok(Exit::Closed),
                }
            }

            // Asked again after the handler: a shutdown that began while it
            // ran still gets `Connection: close` on this response.
            exchange.keep_alive &= ctx.may_persist();
            let (keep_alive, rest) =
                dispatch::encode_response(&mut self.io.write_buf, response, exchange);
            if !matches!(rest, Rest::Queued) {
                dispatch::send_rest(&mut self.io, rest, clock).await?;
            }
            if !keep_alive {
                // RFC 9112 §9.6: nothing after a close is processed, pipelined
                // requests included. A client still sending (a body that was
                // not read, or requests after this one) must first get to
                // read the response.
                if body_unread || !self.io.read_buf.is_empty() {
                    return self.close_lingering(clock).await.map(closed);
                }
                return self.io.close(clock).await.map(closed);
            }
            if self.io.write_buf.len() >= FLUSH_AT {
                self.io.flush(clock).await?;
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
        ctx: &Connection<'_, T, S>,
        clock: &mut Clock<'_, T>,
    ) -> Option<io::Result<usize>> {
        let config = clock.config;
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
    ) -> io::Result<()> {
        tracing::debug!(status = %reject.status, reason = reject.reason, "rejecting request");
        let response = plain_text(reject.status, reject.reason);
        let exchange = Exchange {
            is_head: false,
            version: Version::HTTP_11,
            keep_alive: false,
        };
        dispatch::respond(&mut self.io, response, exchange, clock).await?;
        self.close_lingering(clock).await
    }

    /// Closes the connection while the client may still be sending.
    ///
    /// Linger: read and drop what the client is still sending for a short
    /// while, so closing with unread data does not reset the connection
    /// before the client has read the response.
    async fn close_lingering<T: Timer>(&mut self, clock: &mut Clock<'_, T>) -> io::Result<()> {
        self.io.close(clock).await?;
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
        clock.start(clock.config.linger);
        clock.limit(drain).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
