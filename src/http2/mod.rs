//! The HTTP/2 engine, on the `h2` crate: every stream of a connection is a
//! request for the same [`Service`] the HTTP/1.1 engine calls, served
//! inside the connection's own task.
//!
//! A connection reaches it from the protocol layer above the engines: with
//! the h2c preface (prior knowledge, spotted by the HTTP/1.1 engine, which
//! hands back the bytes it read) or with ALPN `h2` after a TLS handshake.
//!
//! The h2 crate does the framing, HPACK and flow-control bookkeeping; the
//! limits that keep a hostile peer cheap are set here (see
//! [`serve_connection`]), and so are the timeouts h2 has none of: the
//! handshake (header timeout), a request body's next chunk (body timeout),
//! a response's next window (write timeout), a socket that takes no bytes
//! (write timeout), and a connection with no open stream (idle timeout).

mod stall;
mod stream;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncWrite, StreamExt, future};
use futures_util::stream::FuturesUnordered;

use stall::{Stall, Watched};
use tramline_tokio_io::Compat;

use crate::proto::shutdown::Ask;
use crate::proto::{Config, Connection, Timer};
use crate::vocab::service::Service;

/// Most streams a client may have open at once (RFC 9113 §6.5.2 suggests no
/// fewer than 100).
const MAX_STREAMS: u32 = 100;
/// Each stream's receive window: what an app that does not read its body
/// lets a client send before the stream stalls.
const STREAM_WINDOW: u32 = 256 * 1024;
/// The connection's receive window, shared by its streams.
const CONNECTION_WINDOW: u32 = 1024 * 1024;
/// Most response bytes h2 buffers per stream before a body waits for the
/// client's window (the h2 default is 400 KiB).
const SEND_BUFFER: usize = 64 * 1024;
/// Streams a client may open and reset before the app has taken them (the
/// rapid-reset attack, CVE-2023-44487): past this, GOAWAY.
const PENDING_ACCEPT_RESETS: usize = 20;
/// Streams the server may have to reset over the client's protocol errors
/// before it closes the connection instead: a client that provokes resets
/// ("MadeYouReset", CVE-2025-8671) costs a stream each, as a rapid reset
/// does.
const LOCAL_ERROR_RESETS: usize = 256;

/// Serves HTTP/2 on `io`, whose first bytes are the client's connection
/// preface, until the connection closes, a timeout expires, or the server's
/// shutdown has let its open streams finish.
///
/// Boxed, so that the connection future of the protocol layer, which also
/// holds the HTTP/1.1 engine's, stays sized for HTTP/1.1.
pub(crate) fn serve<'a, T, S, I>(
    io: I,
    conn: &'a Connection<'_, T, S>,
) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>
where
    T: Timer,
    S: Service,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(async move {
        let peer = conn.peer;
        match connection(io, conn).await {
            Ok(()) => tracing::trace!(%peer, "HTTP/2 connection closed"),
            Err(e) => tracing::debug!(%peer, error = %e, "HTTP/2 connection closed with an error"),
        }
    })
}

/// The h2 settings for a server with `config`.
fn builder(config: &Config) -> h2::server::Builder {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(MAX_STREAMS)
        // The HTTP/1.1 head limit, decoded size as RFC 9113 §6.5.2 counts
        // it. h2 (0.4.4 and later) also stops a CONTINUATION flood with it:
        // a header block growing past it ends the connection, so endless
        // CONTINUATION frames cannot grow memory or time.
        .max_header_list_size(u32::try_from(config.max_head_size).unwrap_or(u32::MAX))
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .max_send_buffer_size(SEND_BUFFER)
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS));
    builder
}

async fn connection<T, S, I>(io: I, ctx: &Connection<'_, T, S>) -> io::Result<()>
where
    T: Timer,
    S: Service,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (config, signal, slot) = (&*ctx.config, &*ctx.signal, ctx.slot);
    let stall = Arc::new(Stall::new());
    let watched = Watched::new(io, stall.clone());
    let handshake = builder(config).handshake::<_, Bytes>(Compat::new(watched));
    // The preface and the client's SETTINGS are its request head, as far
    // as timing goes.
    let Some(handshake) = limit(&ctx.timer, config.header_timeout, handshake).await else {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "HTTP/2 handshake timed out",
        ));
    };
    let mut conn = handshake.map_err(h2_error)?;
    let mut streams = FuturesUnordered::new();
    // Armed while no stream is open: the idle timeout.
    let mut idle: Option<Pin<Box<T::Sleep>>> = None;
    // Armed while the socket takes no bytes: the write timeout, and the
    // stall it was armed for.
    let mut stalled: Option<(Instant, Pin<Box<T::Sleep>>)> = None;
    let mut going_away = false;
    let mut closing_idle = false;
    future::poll_fn(|cx| {
        loop {
            if !going_away && signal.is_triggered() {
                // RFC 9113 §6.8: GOAWAY first with the highest stream id,
                // then, a round trip later, with the last one taken; the
                // streams already open finish (under the server's grace).
                going_away = true;
                conn.graceful_shutdown();
            }
            let mut accepted = false;
            loop {
                match conn.poll_accept(cx) {
                    Poll::Ready(Some(Ok((req, respond)))) => {
                        accepted = true;
                        streams.push(stream::serve(ctx, req, respond));
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(h2_error(e))),
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => break,
                }
            }
            while let Poll::Ready(Some(())) = streams.poll_next(cx) {}
            if accepted {
                // The new streams' first polls may have queued frames for
                // the connection to send.
                continue;
            }
            break;
        }

        // The write timeout, for the connection as a whole: a peer that
        // stops reading its socket holds every stream's frames.
        match stall.since() {
            None => stalled = None,
            Some(since) => {
                let deadline = since + config.write_timeout;
                if stalled.as_ref().is_none_or(|(at, _)| *at != since) {
                    let left = deadline.saturating_duration_since(Instant::now());
                    stalled = Some((since, Box::pin(ctx.timer.sleep(left))));
                }
                let expired = stalled
                    .as_mut()
                    .is_some_and(|(_, sleep)| sleep.as_mut().poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "HTTP/2 peer stopped reading",
                    )));
                }
            }
        }

        // The idle timeout, and eviction at the connection limit: both
        // only while no stream is open, and both end the connection with
        // a GOAWAY naming the last stream served.
        let open = !streams.is_empty() || conn.has_streams();
        if open || going_away || closing_idle {
            if idle.take().is_some() {
                slot.set_idle(None);
            }
        } else {
            if idle.is_none() {
                slot.set_idle(Some(Instant::now() + config.idle_timeout));
                idle = Some(Box::pin(ctx.timer.sleep(config.idle_timeout)));
            }
            let expired = idle
                .as_mut()
                .is_some_and(|s| s.as_mut().poll(cx).is_ready());
            if expired || slot.ask() == Ask::Evict {
                closing_idle = true;
                idle = None;
                slot.set_idle(None);
                conn.abrupt_shutdown(h2::Reason::NO_ERROR);
                // Polled again so the GOAWAY goes out.
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    })
    .await
}

/// Runs `f` for at most `duration`; `None` if the time ran out first.
async fn limit<T: Timer, F: Future>(timer: &T, duration: Duration, f: F) -> Option<F::Output> {
    future::or(async { Some(f.await) }, async {
        timer.sleep(duration).await;
        None
    })
    .await
}

fn h2_error(e: h2::Error) -> io::Error {
    if e.is_io() {
        e.into_io()
            .unwrap_or_else(|| io::Error::other("HTTP/2 io error"))
    } else {
        io::Error::other(e)
    }
}
