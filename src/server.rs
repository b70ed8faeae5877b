//! The server: binds listeners, runs accept loops on a runtime, and shuts
//! down gracefully.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::panic::AssertUnwindSafe;

use futures_lite::{FutureExt, future};
use socket2::{Domain, Protocol, Socket, Type};
use tramline_rt::{Listener, Runtime};

use crate::Router;
use crate::http1::{self, serve_connection};
use crate::service::Service;
use crate::shutdown::Signal;

/// The TLS settings connections are served with; with the `tls` feature
/// off there are none.
#[cfg(feature = "tls")]
type Tls = Option<crate::tls::TlsConfig>;
#[cfg(not(feature = "tls"))]
type Tls = ();

/// Pending connections the kernel queues per listener.
const BACKLOG: i32 = 1024;
/// Pause after an accept error such as `EMFILE`, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// An HTTP/1.1 server bound to an address, ready to serve an app on a
/// runtime.
///
/// Binding happens at construction, so [`Server::local_addr`] is known
/// (port 0 picks a free port) before [`Server::serve`] blocks.
///
/// # Limits and timeouts
///
/// Every limit and timeout has a default and a setter:
///
/// | setter | default | when it is passed |
/// |---|---|---|
/// | [`Server::max_uri_len`] | 8 KiB | 414, connection closed |
/// | [`Server::max_head_size`] | 64 KiB | 431, connection closed |
/// | [`Server::max_headers`] | 100 | 431, connection closed |
/// | [`Server::max_body_size`] | 2 MiB | 413 from `Content-Length` alone, before any body byte is read and without `100 Continue`; a chunked body gets 413 once it passes the limit. A route can raise or lower it with [`crate::middleware::BodyLimit`] or [`crate::Body::with_limit`] |
/// | [`Server::header_timeout`] | 30 s | the whole request head has not arrived: connection closed |
/// | [`Server::body_timeout`] | 30 s | no body bytes for that long: connection closed |
/// | [`Server::write_timeout`] | 30 s | the client took no response bytes for that long: connection closed |
/// | [`Server::idle_timeout`] | 60 s | a keep-alive connection idle that long is closed |
/// | [`Server::max_connections`] | 10,000 | further connections wait in the kernel's accept queue |
/// | [`Server::shutdown_grace`] | 10 s | connections still open at shutdown are dropped |
///
/// Every refusal is a real HTTP response with a short plain-text body that
/// names the problem, such as `request header too large`. After one, the
/// server closes its side and briefly reads what the client is still
/// sending, so the client sees the response rather than a reset.
///
/// A handler that panics gets a 500 with `Connection: close` (or, if its
/// response head was already sent, an aborted connection); the panic is
/// logged with `tracing` and the server goes on.
///
/// # Examples
///
/// ```no_run
/// use tramline::{Router, Server, routing::get};
///
/// let app = Router::new().route("/", get(|| async { "Hello, World!" }));
/// let mut server = Server::bind("127.0.0.1:3000")?;
/// server.max_body_size(1 << 20);
/// server.serve(app)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server<R> {
    runtime: R,
    listeners: Vec<StdTcpListener>,
    local_addr: SocketAddr,
    config: http1::Config,
    grace: Duration,
    max_connections: usize,
    signal: Arc<Signal>,
    tls: Tls,
}

#[cfg(feature = "default-runtime")]
impl Server<crate::rt::DefaultRuntime> {
    /// Binds `addr` for serving on [`crate::rt::DefaultRuntime`], the runtime
    /// the enabled features pick.
    ///
    /// # Errors
    ///
    /// Returns the OS error if no address `addr` resolves to can be bound.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<Self> {
        Self::bind_with(crate::rt::DefaultRuntime::default(), addr)
    }
}

impl<R: Runtime> Server<R> {
    /// Binds `addr` for serving on `runtime`.
    ///
    /// A per-core runtime gets one listener per worker, all on the same
    /// address with `SO_REUSEPORT`, so the kernel spreads connections.
    ///
    /// # Errors
    ///
    /// Returns the OS error if no address `addr` resolves to can be bound.
    pub fn bind_with<A: ToSocketAddrs>(runtime: R, addr: A) -> io::Result<Self> {
        let count = runtime.listeners().max(1);
        let mut last_err = None;
        for addr in addr.to_socket_addrs()? {
            match bind_listeners(addr, count) {
                Ok(listeners) => {
                    let local_addr = listeners[0].local_addr()?;
                    return Ok(Self {
                        runtime,
                        listeners,
                        local_addr,
                        config: http1::Config::default(),
                        grace: Duration::from_secs(10),
                        max_connections: 10_000,
                        signal: Arc::default(),
                        tls: Tls::default(),
                    });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
        }))
    }

    /// Returns the address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Returns a handle that can stop the server from another thread.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            signal: self.signal.clone(),
        }
    }

    /// Sets the longest request target accepted, in bytes (default 8 KiB);
    /// longer ones get 414.
    pub fn max_uri_len(&mut self, bytes: usize) -> &mut Self {
        self.config.max_uri_len = bytes;
        self
    }

    /// Sets the largest request head accepted, request line and headers
    /// together, in bytes (default 64 KiB); larger ones get 431.
    pub fn max_head_size(&mut self, bytes: usize) -> &mut Self {
        self.config.max_head_size = bytes;
        self
    }

    /// Sets the most header fields one request may carry (default 100, at
    /// most 1024); more get 431.
    pub fn max_headers(&mut self, count: usize) -> &mut Self {
        self.config.max_headers = count;
        self
    }

    /// Sets the largest request body accepted, in bytes (default 2 MiB).
    ///
    /// A `Content-Length` over it gets 413 before any body byte is read and
    /// without `100 Continue`; a chunked body gets 413 once it passes it.
    pub fn max_body_size(&mut self, bytes: u64) -> &mut Self {
        self.config.max_body_size = bytes;
        self
    }

    /// Sets how long the whole request head may take to arrive, counted
    /// from its first byte (default 30 s); past it the connection is closed.
    pub fn header_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.header_timeout = timeout;
        self
    }

    /// Sets how long to wait for the next bytes of a request body (default
    /// 30 s); past it the connection is closed.
    pub fn body_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.body_timeout = timeout;
        self
    }

    /// Sets how long the client may take no response bytes (default 30 s);
    /// past it the connection is closed.
    pub fn write_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.write_timeout = timeout;
        self
    }

    /// Sets how long a keep-alive connection may sit idle between requests
    /// (default 60 s).
    pub fn idle_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Sets how many connections may be open at once (default 10,000).
    ///
    /// At the limit the server stops accepting until one closes; new
    /// connections wait in the kernel's accept queue (back-pressure), and
    /// nothing is refused or dropped by the server itself.
    pub fn max_connections(&mut self, count: usize) -> &mut Self {
        self.max_connections = count.max(1);
        self
    }

    /// Sets how long a graceful shutdown waits for open connections to
    /// finish their current request (default 10 s).
    pub fn shutdown_grace(&mut self, grace: Duration) -> &mut Self {
        self.grace = grace;
        self
    }

    /// Serves every connection over TLS with `config`: certificate, ALPN and
    /// handshake timeout.
    ///
    /// The handshake runs in the connection's own task, bounded by
    /// [`TlsConfig::handshake_timeout`](crate::tls::TlsConfig::handshake_timeout);
    /// a connection whose handshake fails or times out is closed and logged
    /// at debug level. It counts against [`Server::max_connections`] from
    /// the moment it is accepted.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tramline::tls::TlsConfig;
    /// use tramline::{Router, Server, routing::get};
    ///
    /// let app = Router::new().route("/", get(|| async { "Hello over TLS" }));
    /// let mut server = Server::bind("127.0.0.1:8443")?;
    /// server.tls(TlsConfig::from_pem_files("cert.pem", "key.pem")?);
    /// server.serve(app)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn tls(&mut self, config: crate::tls::TlsConfig) -> &mut Self {
        self.tls = Some(config);
        self
    }

    /// Serves `app` until [`ServerHandle::shutdown`] is called, blocking the
    /// calling thread.
    ///
    /// On a shared runtime the accept loop runs on the calling thread; on a
    /// per-core runtime each worker thread runs its own.
    ///
    /// # Errors
    ///
    /// Returns the error that stopped an accept loop: the runtime could not
    /// register a listener, or a worker thread could not be started.
    pub fn serve(self, app: Router) -> io::Result<()> {
        self.serve_service(app)
    }

    /// Serves `service` until [`ServerHandle::shutdown`] is called, blocking
    /// the calling thread.
    pub(crate) fn serve_service<S: Service>(self, service: S) -> io::Result<()> {
        let Self {
            runtime,
            listeners,
            config,
            grace,
            max_connections,
            signal,
            tls,
            ..
        } = self;
        let tls = Arc::new(tls);
        let service = Arc::new(service);
        let config = Arc::new(config);
        let listeners: Vec<_> = listeners.into_iter().map(|l| Mutex::new(Some(l))).collect();
        let rt = runtime.clone();
        runtime.run(move |index| {
            let listener = listeners
                .get(index)
                .and_then(|l| l.lock().ok()?.take())
                .ok_or_else(|| io::Error::other(format!("no listener for worker {index}")));
            accept_loop(
                listener,
                rt.clone(),
                service.clone(),
                config.clone(),
                signal.clone(),
                Limits {
                    grace,
                    max_connections,
                },
                tls.clone(),
            )
        })
    }
}

/// The accept loop's own limits.
#[derive(Debug, Clone, Copy)]
struct Limits {
    grace: Duration,
    max_connections: usize,
}

async fn accept_loop<R: Runtime, S: Service>(
    listener: io::Result<StdTcpListener>,
    rt: R,
    service: Arc<S>,
    config: Arc<http1::Config>,
    signal: Arc<Signal>,
    limits: Limits,
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))] tls: Arc<Tls>,
) -> io::Result<()> {
    let mut listener = rt.listener(listener?)?;
    let mut stop = signal.listen();
    while !signal.is_triggered() {
        // Back-pressure: at the limit, leave new connections in the kernel's
        // queue until one of ours closes.
        let room = async {
            signal.below(limits.max_connections).await;
            true
        };
        if !future::or(room, async {
            (&mut stop).await;
            false
        })
        .await
        {
            break;
        }
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            (&mut stop).await;
            None
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((stream, peer))) => {
                // With several accept loops (per-core), two may pass the
                // check above at once: this claim is the exact one.
                let open = signal.admit(limits.max_connections).await;
                #[cfg(feature = "tls")]
                if let Some(tls) = tls.as_ref() {
                    let conn = serve_tls(
                        tls.clone(),
                        stream,
                        peer,
                        service.clone(),
                        rt.clone(),
                        config.clone(),
                        signal.clone(),
                        open,
                    );
                    rt.spawn(async move {
                        if AssertUnwindSafe(conn).catch_unwind().await.is_err() {
                            tracing::error!(%peer, "connection task panicked; connection dropped");
                        }
                    });
                    continue;
                }
                let conn = serve_connection(
                    stream,
                    peer,
                    service.clone(),
                    rt.clone(),
                    config.clone(),
                    signal.clone(),
                    open,
                );
                // The engine catches handler panics; this is the last line,
                // so that no panic reaches an executor thread on any runtime.
                rt.spawn(async move {
                    if AssertUnwindSafe(conn).catch_unwind().await.is_err() {
                        tracing::error!(%peer, "connection task panicked; connection dropped");
                    }
                });
            }
            Some(Err(e)) if is_transient(&e) => {}
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning; the
                // connections that hold the descriptors will finish.
                tracing::error!(error = %e, "accept failed; backing off");
                rt.sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    future::or(signal.drained(), rt.sleep(limits.grace)).await;
    Ok(())
}

/// Runs the TLS handshake under its timeout, then serves HTTP on the
/// encrypted stream. A handshake that fails or times out closes the
/// connection (dropping `open` frees its slot).
#[cfg(feature = "tls")]
#[allow(clippy::too_many_arguments)]
async fn serve_tls<R: Runtime, S: Service>(
    tls: crate::tls::TlsConfig,
    stream: R::Stream,
    peer: SocketAddr,
    service: Arc<S>,
    rt: R,
    config: Arc<http1::Config>,
    signal: Arc<Signal>,
    open: crate::shutdown::ConnGuard,
) {
    let timeout = tls.handshake_timeout_value();
    let handshake = future::or(async { Some(tls.accept(stream).await) }, async {
        rt.sleep(timeout).await;
        None
    });
    match handshake.await {
        Some(Ok(stream)) => {
            serve_connection(stream, peer, service, rt, config, signal, open).await;
        }
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed; connection closed")
        }
        None => tracing::debug!(%peer, ?timeout, "TLS handshake timed out; connection closed"),
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

fn bind_listeners(addr: SocketAddr, count: usize) -> io::Result<Vec<StdTcpListener>> {
    let mut addr = addr;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        if count > 1 {
            #[cfg(unix)]
            socket.set_reuse_port(true)?;
            #[cfg(not(unix))]
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "per-core listeners need SO_REUSEPORT",
            ));
        }
        socket.bind(&addr.into())?;
        socket.listen(BACKLOG)?;
        let listener = StdTcpListener::from(socket);
        // Port 0 on the first listener picks the port the rest share.
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

impl<R: fmt::Debug> fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("runtime", &self.runtime)
            .field("local_addr", &self.local_addr)
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Server`] from any thread.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    signal: Arc<Signal>,
}

impl ServerHandle {
    /// Starts a graceful shutdown: the server stops accepting, closes idle
    /// connections, lets requests in flight finish (up to
    /// [`Server::shutdown_grace`]), and then [`Server::serve`] returns.
    pub fn shutdown(&self) {
        self.signal.trigger();
    }
}
