//! The accept loops behind [`Server`](super::Server): admitting connections
//! under the limit, serving each in its own task, and a worker's part of the
//! graceful shutdown.

use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_listener::EventListener;
use futures_lite::{FutureExt, future};
use tramline_rt::{Listener, Runtime};

use super::protocol::{self, Known};
use super::{Bound, BoxFuture};
use crate::proto::shutdown::{ConnGuard, Signal};
use crate::proto::{Config, Connection};
use crate::vocab::service::Service;

/// Pause after an accept error such as `EMFILE`, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At the connection limit, how long to wait for an evicted idle connection
/// to close before evicting another.
const EVICT_WAIT: Duration = Duration::from_millis(100);
/// At the connection limit with no idle connection, how often to look for
/// one that has gone idle since.
const IDLE_RECHECK: Duration = Duration::from_millis(50);
/// At shutdown, how long the accept queue must stay empty (or, where new
/// connections cannot be held off, how long it is drained at all) before
/// the listener is closed.
const ACCEPT_DRAIN: Duration = Duration::from_millis(5);
/// The longest the accept queue is drained once new connections are held
/// off.
const ACCEPT_DRAIN_MAX: Duration = Duration::from_millis(500);

/// What every accept loop of one server shares.
pub(super) struct Shared<S> {
    pub(super) service: Arc<S>,
    pub(super) config: Arc<Config>,
    pub(super) signal: Arc<Signal>,
    pub(super) grace: Duration,
    pub(super) max_connections: usize,
    /// The user's shutdown future, polled by the first worker.
    pub(super) shutdown: Mutex<Option<BoxFuture>>,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<crate::server::tls::TlsConfig>,
    /// The runtime's timer, for `tramline::time` in application code.
    pub(super) clock: crate::time::AppTimer,
}

/// Runs one worker: its accept loop and then its part of the shutdown. The
/// first worker also watches the user's shutdown future.
pub(super) async fn worker<R: Runtime, S: Service>(
    rt: R,
    bound: Bound,
    shared: Arc<Shared<S>>,
    first: bool,
) -> io::Result<()> {
    let user = if first {
        shared.shutdown.lock().ok().and_then(|mut f| f.take())
    } else {
        None
    };
    let signal = shared.signal.clone();
    let watch_user = async move {
        if let Some(user) = user {
            user.await;
            signal.trigger();
        }
        future::pending::<io::Result<()>>().await
    };
    let serve = async {
        match bound {
            Bound::Tcp(l) => {
                // The same socket, kept to shut its door at shutdown.
                let door = l.try_clone()?;
                accept_loop(&rt, rt.listener(l)?, Some(door), &shared).await;
            }
            #[cfg(unix)]
            Bound::Unix(l) => accept_loop(&rt, rt.unix_listener(l)?, None, &shared).await,
        }
        finish(&rt, &shared).await;
        Ok(())
    };
    future::or(serve, watch_user).await
}

async fn accept_loop<R: Runtime, L: Listener, S: Service>(
    rt: &R,
    mut listener: L,
    door: Option<StdTcpListener>,
    shared: &Arc<Shared<S>>,
) {
    let signal = &shared.signal;
    let mut stop = signal.listen();
    while !signal.is_triggered() {
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            (&mut stop).await;
            None
        })
        .await;
        let (stream, peer) = match accepted {
            None => break,
            Some(Ok(accepted)) => accepted,
            Some(Err(e)) if is_transient(&e) => continue,
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning; the
                // connections that hold the descriptors will finish.
                tracing::error!(error = %e, "accept failed; backing off");
                rt.sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Some(open) = admit(rt, signal, shared.max_connections, &mut stop).await else {
            break;
        };
        spawn_connection(rt, stream, peer, open, shared);
    }
    // Connections the kernel has completed but we have not accepted would
    // be reset by the close, after the client may have sent a request on
    // them (a proxy does not retry a POST it sent): take them in first, and
    // answer them with `Connection: close`, over the limit if need be.
    // Where the door can be shut (new SYNs dropped, so the client retries
    // and is refused once the listener is closed), take them until the
    // queue stays empty; elsewhere for a bounded time only, since a proxy
    // under load keeps connecting and only a closed listener stops it.
    let shut = door.as_ref().is_some_and(shut_the_door);
    let started = std::time::Instant::now();
    let limit = if shut { ACCEPT_DRAIN_MAX } else { ACCEPT_DRAIN };
    loop {
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            break;
        }
        let quiet = if shut { left.min(ACCEPT_DRAIN) } else { left };
        let next = future::or(async { Some(listener.accept().await) }, async {
            rt.sleep(quiet).await;
            None
        })
        .await;
        match next {
            Some(Ok((stream, peer))) => {
                spawn_connection(rt, stream, peer, signal.open_connection(), shared);
            }
            Some(Err(e)) if is_transient(&e) => {}
            Some(Err(_)) | None => break,
        }
    }
    drop(door);
    // Dropping the listener closes it: new connections are refused, so a
    // proxy sends them to another instance.
    drop(listener);
}

/// Serves one accepted connection in a task of its own, until it ends or the
/// shutdown deadline cancels it.
fn spawn_connection<R: Runtime, S: Service, St>(
    rt: &R,
    stream: St,
    peer: SocketAddr,
    open: ConnGuard,
    shared: &Arc<Shared<S>>,
) where
    St: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let (service, timer) = (shared.service.clone(), rt.clone());
    let (config, signal) = (shared.config.clone(), shared.signal.clone());
    #[cfg(feature = "tls")]
    let tls = shared.tls.clone();
    let conn = async move {
        let conn = Connection {
            service,
            peer,
            timer,
            config,
            signal,
            slot: open.slot(),
        };
        // The TLS path goes on the heap: its handshake state is several
        // KiB, and inline it would size every connection's task for it,
        // plaintext ones included (12 KiB a task instead of about 1 KiB).
        #[cfg(feature = "tls")]
        if let Some(tls) = tls {
            let served = Box::pin(serve_tls(tls, stream, conn));
            if !open.cancellable(served).await {
                tracing::debug!(%peer, "connection cancelled at the shutdown deadline");
            }
            return;
        }
        let served = protocol::serve(stream, conn, Known::Unknown);
        if !open.cancellable(served).await {
            tracing::debug!(%peer, "connection cancelled at the shutdown deadline");
        }
    };
    // The engine catches handler panics; this is the last line, so that
    // no panic reaches an executor thread on any runtime.
    let conn = crate::time::WithTimer::new(shared.clock.clone(), conn);
    rt.spawn(async move {
        if AssertUnwindSafe(conn).catch_unwind().await.is_err() {
            tracing::error!(%peer, "connection task panicked; connection dropped");
        }
    });
}

/// Runs the TLS handshake under its timeout, then serves HTTP on the
/// encrypted stream. A handshake that fails or times out closes the
/// connection (the caller's guard then frees its place).
#[cfg(feature = "tls")]
async fn serve_tls<R: Runtime, IO, S: Service>(
    tls: crate::server::tls::TlsConfig,
    stream: IO,
    conn: Connection<'_, R, S>,
) where
    IO: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let (peer, timeout) = (conn.peer, tls.handshake_timeout_value());
    let handshake = future::or(async { Some(tls.accept(stream).await) }, async {
        conn.timer.sleep(timeout).await;
        None
    });
    match handshake.await {
        Some(Ok(stream)) => {
            // ALPN chose the protocol, or nothing did (HTTP/1.1, or the h2
            // preface with prior knowledge).
            let known = match stream.get_ref().1.alpn_protocol() {
                #[cfg(feature = "http2")]
                Some(b"h2") => Known::Http2,
                _ => Known::Unknown,
            };
            protocol::serve(stream, conn, known).await;
        }
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed; connection closed")
        }
        None => tracing::debug!(%peer, ?timeout, "TLS handshake timed out; connection closed"),
    }
}

/// Claims a place for a new connection. At the limit, asks the connection
/// idle longest to close and waits for room; with none idle, waits for any
/// to close (back-pressure). `None` if the server shuts down meanwhile.
async fn admit<R: Runtime>(
    rt: &R,
    signal: &Arc<Signal>,
    max: usize,
    stop: &mut EventListener,
) -> Option<ConnGuard> {
    loop {
        if let Some(open) = signal.try_admit(max) {
            return Some(open);
        }
        if signal.is_triggered() {
            return None;
        }
        let evicted = signal.evict_oldest_idle();
        // Without an idle connection to close, look again now and then: a
        // busy one may have gone idle.
        let wait = if evicted { EVICT_WAIT } else { IDLE_RECHECK };
        let room = async {
            future::or(signal.below(max), rt.sleep(wait)).await;
            true
        };
        if !future::or(room, async {
            (&mut *stop).await;
            false
        })
        .await
        {
            return None;
        }
    }
}

/// The end of a worker's shutdown: waits for the connections to finish,
/// cancels those still open at the deadline, and returns once none is left.
async fn finish<R: Runtime, S: Service>(rt: &R, shared: &Shared<S>) {
    let signal = &shared.signal;
    let elapsed = signal
        .triggered_at()
        .map_or(Duration::ZERO, |at| at.elapsed());
    let left = shared.grace.saturating_sub(elapsed);
    let drained = async {
        signal.drained().await;
        true
    };
    let deadline = async {
        rt.sleep(left).await;
        false
    };
    if !future::or(drained, deadline).await {
        let cut = signal.cancel_all();
        if cut > 0 {
            tracing::warn!(
                connections = cut,
                grace = ?shared.grace,
                "shutdown deadline passed; cancelling the connections still open"
            );
        }
        signal.drained().await;
    }
}

/// Holds new connections off a listening TCP socket, while those already in
/// its queue can still be accepted: a socket filter that drops segments
/// with SYN set and ACK clear, so a new client's handshake waits for its
/// SYN retransmission, which a closed listener then refuses (a proxy
/// retries a refused connection elsewhere). Handshakes already under way
/// complete. Returns whether the filter is in place (Linux only).
fn shut_the_door(listener: &StdTcpListener) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use socket2::SockFilter;
        // Classic BPF over the TCP header (where a TCP socket's filter
        // starts): A = flags byte; drop if (A & (SYN|ACK)) == SYN.
        const LDB_ABS: u16 = 0x30;
        const AND_K: u16 = 0x54;
        const JEQ_K: u16 = 0x15;
        const RET_K: u16 = 0x06;
        let program = [
            SockFilter::new(LDB_ABS, 0, 0, 13),
            SockFilter::new(AND_K, 0, 0, 0x12),
            SockFilter::new(JEQ_K, 0, 1, 0x02),
            SockFilter::new(RET_K, 0, 0, 0),
            SockFilter::new(RET_K, 0, 0, u32::MAX),
        ];
        match socket2::SockRef::from(listener).attach_filter(&program) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(error = %e, "cannot hold new connections off at shutdown");
                false
            }
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = listener;
        false
    }
}

/// Errors about one failed connection, not about the listener.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use std::future::{Future, Pending, pending};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_lite::io::Cursor;

    use super::*;
    use crate::Router;
    use crate::routing::get;

    /// The size of the last future spawned on [`SizeOnly`].
    static SPAWNED: AtomicUsize = AtomicUsize::new(0);

    /// A runtime that runs nothing: it only records how large the futures
    /// given to `spawn` are.
    #[derive(Clone)]
    struct SizeOnly;

    struct NoListener;

    impl Listener for NoListener {
        type Stream = Cursor<Vec<u8>>;

        fn accept(
            &mut self,
        ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
            pending()
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            Err(io::ErrorKind::Unsupported.into())
        }
    }

    impl Runtime for SizeOnly {
        type Stream = Cursor<Vec<u8>>;
        type Listener = NoListener;
        type Sleep = Pending<()>;
        #[cfg(unix)]
        type UnixListener = NoListener;

        fn spawn<F>(&self, future: F)
        where
            F: Future<Output = ()> + Send + 'static,
        {
            SPAWNED.store(std::mem::size_of_val(&future), Ordering::SeqCst);
        }

        fn sleep(&self, _: Duration) -> Self::Sleep {
            pending()
        }

        fn listener(&self, _: StdTcpListener) -> io::Result<Self::Listener> {
            Ok(NoListener)
        }

        #[cfg(unix)]
        fn unix_listener(
            &self,
            _: std::os::unix::net::UnixListener,
        ) -> io::Result<Self::UnixListener> {
            Ok(NoListener)
        }

        fn block_on<F: Future>(&self, future: F) -> F::Output {
            future::block_on(future)
        }
    }

    /// Every open connection keeps its task: with 10,000 idle ones, each
    /// byte here is 10 KB. The TLS handshake, inline, once made every task
    /// (plaintext ones too) 12 KiB.
    #[test]
    fn a_connections_task_is_small() {
        let signal = Arc::new(Signal::default());
        let shared = Arc::new(Shared {
            service: Arc::new(Router::new().route("/", get(|| async { "ok" }))),
            config: Arc::new(Config::default()),
            signal: signal.clone(),
            grace: Duration::from_secs(1),
            max_connections: 1,
            shutdown: Mutex::new(None),
            #[cfg(feature = "tls")]
            tls: None,
            clock: crate::time::AppTimer::of(SizeOnly),
        });
        let peer = SocketAddr::from(([127, 0, 0, 1], 1));
        spawn_connection(
            &SizeOnly,
            Cursor::new(Vec::new()),
            peer,
            signal.open_connection(),
            &shared,
        );
        let size = SPAWNED.load(Ordering::SeqCst);
        eprintln!("connection task future: {size} bytes");
        assert!(
            size > 0 && size <= 1024,
            "a connection's task is {size} bytes"
        );
    }
}
