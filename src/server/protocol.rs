//! The protocol layer: one place above the engines chooses which one
//! serves a connection, and acts on how it ended.
//!
//! A TLS connection says its protocol in ALPN; a plain one opens with the
//! HTTP/2 preface or with an HTTP/1.1 request. The HTTP/1.1 engine spots
//! the preface itself (it is an HTTP/1.1 head with version 2.0, so it costs
//! no separate read) and hands the connection back with what it read, and
//! the HTTP/2 engine takes it from here. Neither engine names the other; a
//! third (HTTP/3) plugs in here.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_lite::{AsyncRead, AsyncWrite, FutureExt};

use crate::http1::{self, Outcome};
#[cfg(feature = "http2")]
use crate::http2;
use crate::proto::call::panic_message;
use crate::proto::shutdown::Signal;
use crate::proto::upgrade::{Callback, Upgraded};
use crate::proto::{Config, Connection, NoTimer, Timer};
use crate::vocab::Service;

/// The protocol a connection is known to speak before its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Known {
    /// Nothing negotiated: HTTP/1.1, or HTTP/2 if the client opens with
    /// the preface (prior knowledge).
    Unknown,
    /// ALPN chose `h2` (so TLS, which carries ALPN, is on).
    #[cfg(all(feature = "http2", feature = "tls"))]
    Http2,
}

/// Serves `io` with the engine for its protocol until the connection ends,
/// an upgrade included.
///
/// The future is boxed: one allocation per connection, of its exact size.
/// Unboxed, it would be copied into the state of every async block that
/// wraps it on the way to the executor (each keeps room for it both as a
/// captured value and as the future it awaits), and an idle connection's
/// memory is mostly this future.
pub(crate) fn serve<'a, T, S, I>(
    io: I,
    conn: Connection<'a, T, S>,
    known: Known,
) -> Pin<Box<impl Future<Output = ()> + Send + 'a>>
where
    T: Timer,
    S: Service,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(async move {
        match known {
            Known::Unknown => {}
            #[cfg(all(feature = "http2", feature = "tls"))]
            Known::Http2 => return http2::serve(io, &conn).await,
        }
        match http1::serve(io, &conn).await {
            Outcome::Closed => {}
            #[cfg(feature = "http2")]
            Outcome::Preface(io) => http2::serve(io, &conn).await,
            Outcome::Upgrade(io, callback) => upgrade(io, callback, conn.peer).await,
        }
    })
}

/// Runs an upgrade's function on the connection it took over; a panic in
/// it closes the connection and nothing else.
async fn upgrade(io: Upgraded, callback: Callback, peer: SocketAddr) {
    let run = AssertUnwindSafe(callback(io)).catch_unwind();
    if let Err(payload) = run.await {
        tracing::error!(
            panic = %panic_message(&*payload),
            %peer,
            "upgrade handler panicked; connection closed"
        );
    }
}

/// Serves an in-memory stream with the default limits and no timeouts;
/// needs no runtime, so any executor (or `block_on`) can drive it.
/// Extractors see 127.0.0.1:0 as the peer.
pub(crate) async fn serve_in_memory<I, S>(io: I, service: Arc<S>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service,
{
    let signal = Arc::new(Signal::default());
    let open = signal.open_connection();
    let conn = Connection {
        service,
        peer: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        timer: NoTimer,
        config: Arc::new(Config::default()),
        signal: signal.clone(),
        slot: open.slot(),
    };
    serve(io, conn, Known::Unknown).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::routing::get;

    /// An idle connection's memory is mostly its future: keep large arrays
    /// and buffers out of it.
    #[test]
    fn the_connection_future_is_small() {
        let signal = Arc::new(Signal::default());
        let open = signal.open_connection();
        let conn = Connection {
            service: Arc::new(Router::new().route("/", get(|| async { "ok" }))),
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            timer: NoTimer,
            config: Arc::new(Config::default()),
            signal: signal.clone(),
            slot: open.slot(),
        };
        let io = futures_lite::io::Cursor::new(Vec::new());
        let fut = serve(io, conn, Known::Unknown);
        let size = std::mem::size_of_val(&*fut);
        eprintln!("connection future: {size} bytes");
        // 5,128 bytes before the head, the request and the parse result
        // stopped being kept across waits (and 4 KiB more with the linger
        // array); 2,440 after. The app's own future is most of the rest.
        assert!(size <= 2600, "the connection future is {size} bytes");
    }
}
