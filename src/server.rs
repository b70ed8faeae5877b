//! The server: binds or inherits listeners, runs accept loops on a
//! runtime, and shuts down gracefully.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixListener as StdUnixListener;
use std::panic::AssertUnwindSafe;
#[cfg(unix)]
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use event_listener::EventListener;
use futures_lite::{FutureExt, future};
use socket2::{Domain, Protocol, Socket, Type};
use tramline_rt::{Listener, Runtime};

use crate::Router;
use crate::http1::{self, serve_connection};
use crate::service::Service;
use crate::shutdown::{ConnGuard, Signal};
use crate::signals;

/// Pending connections the kernel queues per listener.
const BACKLOG: i32 = 1024;
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

/// An HTTP/1.1 server bound to an address, ready to serve an app on a
/// runtime.
///
/// Binding happens at construction, so [`Server::local_addr`] is known
/// (port 0 picks a free port) before [`Server::serve`] blocks. A server can
/// also take a listener it is given ([`Server::from_listener`]), one passed
/// by socket activation ([`Server::inherit_or_bind`]), or a Unix domain
/// socket ([`Server::bind_unix`]).
///
/// # Serving
///
/// - [`Server::serve`] blocks the calling thread: for a plain `fn main`.
/// - [`Server::run`] is a future that serves on the runtime already driving
///   the caller: for `#[tokio::main]`, `smol::block_on` or `async_std::main`,
///   and for several servers in one process.
///
/// # Graceful shutdown
///
/// SIGTERM or SIGINT (unless [`Server::handle_signals`] turned that off), the
/// future given to [`Server::with_graceful_shutdown`], or
/// [`ServerHandle::shutdown`] start it:
///
/// 1. the server stops accepting and closes its listener;
/// 2. every request whose head has arrived is answered, with
///    `Connection: close`;
/// 3. an idle keep-alive connection stays open for [`Server::drain_idle`],
///    so a request a proxy is sending on it at that moment is still
///    answered (with `Connection: close`), and is closed after that;
/// 4. at [`Server::shutdown_grace`] the connections still open are
///    cancelled (their futures dropped) and their number logged;
/// 5. `serve`/`run` return once no connection task is left.
///
/// A second SIGTERM or SIGINT during the shutdown exits at once.
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
/// | [`Server::header_timeout`] | 30 s | the whole request head has not arrived, counted from its first byte: 408, connection closed |
/// | [`Server::body_timeout`] | 30 s | no body bytes for that long, or the body's time budget (below) is spent: 408, connection closed |
/// | [`Server::min_body_rate`] | 1 KiB/s | a body slower than this spends its time budget: see below |
/// | [`Server::write_timeout`] | 30 s | the client took no response bytes for that long, or the connection's write budget is spent: connection closed |
/// | [`Server::min_write_rate`] | 1 KiB/s | a client reading slower than this spends the write budget: see below |
/// | [`Server::idle_timeout`] | 60 s | a keep-alive connection idle that long is closed |
/// | [`Server::max_connections`] | 10,000 | the longest-idle keep-alive connection is closed to make room; with none idle, further connections wait |
/// | [`Server::shutdown_grace`] | 30 s | connections still open that long after a shutdown began are cancelled |
/// | [`Server::drain_idle`] | 1 s | an idle keep-alive connection stays open that long after a shutdown began, for a request already on its way |
///
/// The body and write timeouts are not gaps between two bytes, which a
/// client could beat by sending (or reading) one byte just inside every gap.
/// Each is the cap of a time budget: time spent waiting for the client is
/// taken out of it, and every byte the client moves earns back
/// `1 / min_rate` seconds. A body's budget starts full with each body; the
/// write budget belongs to the connection and drains only while a write
/// is blocked, so a long response the client keeps up with, such as
/// server-sent events, is never cut. A client that stalls is cut after the
/// timeout; one that moves bytes at a fraction `f` of the minimum rate,
/// however it spaces them, after at most `timeout / (1 - f)`.
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
    listen: Listen,
    local_addr: SocketAddr,
    config: http1::Config,
    grace: Duration,
    max_connections: usize,
    signal: Arc<Signal>,
    handle_signals: bool,
    shutdown: Option<BoxFuture>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The listening sockets, one per worker of the runtime.
enum Listen {
    Tcp(Vec<StdTcpListener>),
    #[cfg(unix)]
    Unix(Vec<StdUnixListener>),
}

impl Listen {
    fn len(&self) -> usize {
        match self {
            Self::Tcp(l) => l.len(),
            #[cfg(unix)]
            Self::Unix(l) => l.len(),
        }
    }

    fn into_workers(self) -> Vec<Bound> {
        match self {
            Self::Tcp(l) => l.into_iter().map(Bound::Tcp).collect(),
            #[cfg(unix)]
            Self::Unix(l) => l.into_iter().map(Bound::Unix).collect(),
        }
    }
}

/// One worker's listening socket, not yet registered with the runtime.
enum Bound {
    Tcp(StdTcpListener),
    #[cfg(unix)]
    Unix(StdUnixListener),
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

    /// Serves on `listener`, a bound, listening TCP socket made elsewhere,
    /// on [`crate::rt::DefaultRuntime`].
    ///
    /// # Errors
    ///
    /// Returns the OS error if the listener's address cannot be read.
    pub fn from_listener(listener: StdTcpListener) -> io::Result<Self> {
        Self::from_listener_with(crate::rt::DefaultRuntime::default(), listener)
    }

    /// Serves on the first TCP listener passed by socket activation
    /// (systemd's `LISTEN_FDS`, or `systemfd` for hot reload), or binds
    /// `addr` if there is none, on [`crate::rt::DefaultRuntime`].
    ///
    /// # Errors
    ///
    /// Returns the OS error if the inherited descriptor is not a TCP
    /// listener, or if `addr` cannot be bound.
    pub fn inherit_or_bind<A: ToSocketAddrs>(addr: A) -> io::Result<Self> {
        Self::inherit_or_bind_with(crate::rt::DefaultRuntime::default(), addr)
    }

    /// Binds a Unix domain socket at `path`, on
    /// [`crate::rt::DefaultRuntime`]. A stale socket file that no process
    /// listens on is replaced.
    ///
    /// # Errors
    ///
    /// Returns the OS error if `path` cannot be bound, or
    /// `AddrInUse` if another process is listening there.
    #[cfg(unix)]
    pub fn bind_unix<P: AsRef<Path>>(path: P) -> io::Result<Self> {
        Self::bind_unix_with(crate::rt::DefaultRuntime::default(), path)
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
                    return Ok(Self::new(runtime, Listen::Tcp(listeners), local_addr));
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
        }))
    }

    /// Serves on `listener`, a bound, listening TCP socket made elsewhere,
    /// on `runtime`. A per-core runtime's workers all accept from it.
    ///
    /// # Errors
    ///
    /// Returns the OS error if the listener's address cannot be read or the
    /// socket cannot be duplicated for the workers.
    pub fn from_listener_with(runtime: R, listener: StdTcpListener) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let listeners = share(listener, runtime.listeners(), StdTcpListener::try_clone)?;
        Ok(Self::new(runtime, Listen::Tcp(listeners), local_addr))
    }

    /// Serves on the first TCP listener passed by socket activation
    /// (systemd's `LISTEN_FDS`, or `systemfd --no-pid -s http::3000` for
    /// hot reload), or binds `addr` if there is none, on `runtime`.
    ///
    /// # Errors
    ///
    /// Returns the OS error if the inherited descriptor is not a TCP
    /// listener, or if `addr` cannot be bound.
    pub fn inherit_or_bind_with<A: ToSocketAddrs>(runtime: R, addr: A) -> io::Result<Self> {
        match listenfd::ListenFd::from_env().take_tcp_listener(0)? {
            Some(listener) => {
                tracing::info!(addr = ?listener.local_addr().ok(), "serving on an inherited listener");
                Self::from_listener_with(runtime, listener)
            }
            None => Self::bind_with(runtime, addr),
        }
    }

    /// Binds a Unix domain socket at `path`, on `runtime`. A stale socket
    /// file that no process listens on is replaced; the file is left in
    /// place when the server stops, for the next process to replace.
    ///
    /// [`Server::local_addr`] is `0.0.0.0:0` for such a server, and so is
    /// the peer address extractors see.
    ///
    /// # Errors
    ///
    /// Returns the OS error if `path` cannot be bound, or `AddrInUse` if
    /// another process is listening there.
    #[cfg(unix)]
    pub fn bind_unix_with<P: AsRef<Path>>(runtime: R, path: P) -> io::Result<Self> {
        let path = path.as_ref();
        let listener = match StdUnixListener::bind(path) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("another process listens on {}", path.display()),
                    ));
                }
                std::fs::remove_file(path)?;
                StdUnixListener::bind(path)?
            }
            other => other?,
        };
        let listeners = share(listener, runtime.listeners(), StdUnixListener::try_clone)?;
        Ok(Self::new(
            runtime,
            Listen::Unix(listeners),
            tramline_rt::UNIX_PEER,
        ))
    }

    fn new(runtime: R, listen: Listen, local_addr: SocketAddr) -> Self {
        Self {
            runtime,
            listen,
            local_addr,
            config: http1::Config::default(),
            grace: Duration::from_secs(30),
            max_connections: 10_000,
            signal: Arc::default(),
            handle_signals: true,
            shutdown: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Returns the address the server listens on (`0.0.0.0:0` for a Unix
    /// domain socket).
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
    /// from its first byte (default 30 s); past it the client gets 408 and
    /// the connection is closed. A connection on which no byte of a new
    /// request has arrived is idle instead (see [`Server::idle_timeout`]),
    /// and is closed without a response.
    pub fn header_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.header_timeout = timeout;
        self
    }

    /// Sets how long to wait for the next bytes of a request body (default
    /// 30 s), and so the most time a body's reads may wait in all beyond
    /// what its bytes earn back at [`Server::min_body_rate`]; past it the
    /// client gets 408 and the connection is closed.
    pub fn body_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.body_timeout = timeout;
        self
    }

    /// Sets the slowest a request body may arrive, in bytes per second
    /// (default 1,024).
    ///
    /// Each body byte earns back `1 / bytes_per_sec` seconds of the
    /// [`Server::body_timeout`] budget; a body that arrives slower runs the
    /// budget out, however it spaces its bytes. Time the handler spends
    /// between reads is not counted. 0 turns the minimum off: then only a
    /// gap longer than the timeout is cut.
    pub fn min_body_rate(&mut self, bytes_per_sec: u64) -> &mut Self {
        self.config.min_body_rate = bytes_per_sec;
        self
    }

    /// Sets how long the client may take no response bytes (default 30 s),
    /// and so the most time blocked writes may take in all beyond what the
    /// bytes the client took earn back at [`Server::min_write_rate`]; past
    /// it the connection is closed.
    pub fn write_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.config.write_timeout = timeout;
        self
    }

    /// Sets the slowest a client may read responses, in bytes per second
    /// (default 1,024).
    ///
    /// Only time a write is blocked on the client is counted, and each
    /// byte it takes earns back `1 / bytes_per_sec` seconds of the
    /// [`Server::write_timeout`] budget, which lasts for the connection. A
    /// response the handler produces slowly is never cut for that. 0 turns
    /// the minimum off: then only a write blocked longer than the timeout
    /// is cut.
    ///
    /// A single write blocked for the whole timeout is cut at any rate: the
    /// kernel reports a full socket writable again only once a good part of
    /// its send buffer has drained, so a client must read that much within
    /// the timeout, whatever the minimum.
    pub fn min_write_rate(&mut self, bytes_per_sec: u64) -> &mut Self {
        self.config.min_write_rate = bytes_per_sec;
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
    /// At the limit, a new connection first makes room by closing the
    /// keep-alive connection that has been idle longest; if none is idle it
    /// waits (back-pressure: later ones wait in the kernel's accept queue)
    /// until one closes. Nothing is refused by the server itself.
    pub fn max_connections(&mut self, count: usize) -> &mut Self {
        self.max_connections = count.max(1);
        self
    }

    /// Sets how long a graceful shutdown waits for open connections to
    /// finish their current request (default 30 s); past it they are
    /// cancelled and [`Server::serve`] returns.
    pub fn shutdown_grace(&mut self, grace: Duration) -> &mut Self {
        self.grace = grace;
        self
    }

    /// Sets how long, once a shutdown has begun, an idle keep-alive
    /// connection stays open for a request already on its way (default 1 s).
    ///
    /// Closing an idle connection races with a client that is sending on it
    /// at that moment: a proxy such as nginx does not retry a `POST` it has
    /// sent, so the request would be lost. Within this window such a request
    /// is answered, with `Connection: close`; 0 closes idle connections at
    /// once.
    pub fn drain_idle(&mut self, window: Duration) -> &mut Self {
        self.config.drain_idle = window;
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

    /// Sets whether SIGTERM and SIGINT start a graceful shutdown (default
    /// `true`, on Unix). A second signal during the shutdown exits at once.
    pub fn handle_signals(&mut self, on: bool) -> &mut Self {
        self.handle_signals = on;
        self
    }

    /// Starts a graceful shutdown when `signal` completes, as well as on the
    /// other triggers.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tramline::{Router, Server};
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let (stop, stopped) = std::sync::mpsc::channel::<()>();
    /// let mut server = Server::bind("127.0.0.1:3000")?;
    /// server.with_graceful_shutdown(async move {
    ///     // Any future: here, a message from another part of the program.
    ///     let _ = blocking_recv(stopped).await;
    /// });
    /// # drop(stop);
    /// server.serve(Router::new())
    /// # }
    /// # async fn blocking_recv(rx: std::sync::mpsc::Receiver<()>) {}
    /// ```
    pub fn with_graceful_shutdown<F>(&mut self, signal: F) -> &mut Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shutdown = Some(Box::pin(signal));
        self
    }

    /// Sets the reverse proxies trusted to name the client in a forwarding
    /// header (default: none).
    ///
    /// For a request whose connection comes from one of them,
    /// [`ConnectInfo<SocketAddr>`](crate::extract::ConnectInfo) reports the
    /// client that `Forwarded` or `X-Forwarded-For` names, as
    /// [`TrustedProxies`](crate::TrustedProxies) describes; for every other
    /// request it stays the socket's peer. Without trusted proxies the
    /// headers are never read.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tramline::{Router, Server, TrustedProxies};
    ///
    /// # let app = Router::new();
    /// let mut server = Server::bind("127.0.0.1:3000")?;
    /// server.trusted_proxies(TrustedProxies::x_forwarded_for(["127.0.0.1", "::1"])?);
    /// server.serve(app)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn trusted_proxies(&mut self, proxies: crate::TrustedProxies) -> &mut Self {
        self.config.trusted_proxies = proxies;
        self
    }

    /// Serves `app`, blocking the calling thread, until a graceful shutdown
    /// (see the type's docs) has finished.
    ///
    /// On a shared runtime the accept loop runs on the calling thread; on a
    /// per-core runtime each worker thread runs its own. Inside an async
    /// runtime, use [`Server::run`] instead.
    ///
    /// # Errors
    ///
    /// Returns the error that stopped an accept loop: the runtime could not
    /// register a listener, a worker thread could not be started, or the
    /// signal handlers could not be installed.
    pub fn serve(self, app: Router) -> io::Result<()> {
        self.serve_service(app)
    }

    /// Serves `app` on the runtime already driving the caller, until a
    /// graceful shutdown (see the type's docs) has finished.
    ///
    /// It works inside `#[tokio::main]` (with [`crate::rt::Tokio`], which
    /// [`Server::bind`] picks up from the caller), under `smol::block_on`
    /// and under `async_std::main`; several servers can run side by side in
    /// one task (`futures_lite::future::zip`) or be spawned. One accept loop
    /// serves every connection, on a per-core runtime too: thread-per-core
    /// serving is [`Server::serve`]'s.
    ///
    /// # Errors
    ///
    /// As [`Server::serve`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # #[cfg(feature = "smol")] {
    /// use tramline::rt::Smol;
    /// use tramline::routing::get;
    /// use tramline::{Router, Server};
    ///
    /// let app = Router::new().route("/", get(|| async { "Hello" }));
    /// smol::block_on(async {
    ///     Server::bind_with(Smol::with_workers(1), "127.0.0.1:3000")?.run(app).await
    /// })?;
    /// # }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn run(self, app: Router) -> impl Future<Output = io::Result<()>> + Send {
        let (runtime, mut workers, shared, watch) = self.start(Arc::new(app));
        async move {
            let _watch = watch?;
            let bound = workers.remove(0);
            let rt = runtime.clone();
            runtime.drive(worker(rt, bound, shared, true)).await
        }
    }

    /// Serves `service` until a graceful shutdown has finished, blocking the
    /// calling thread.
    pub(crate) fn serve_service<S: Service>(self, service: S) -> io::Result<()> {
        let (runtime, workers, shared, watch) = self.start(Arc::new(service));
        let _watch = watch?;
        let workers: Vec<_> = workers.into_iter().map(|b| Mutex::new(Some(b))).collect();
        let rt = runtime.clone();
        runtime.run(move |index| {
            let bound = workers.get(index).and_then(|b| b.lock().ok()?.take());
            let (rt, shared) = (rt.clone(), shared.clone());
            async move {
                let bound = bound
                    .ok_or_else(|| io::Error::other(format!("no listener for worker {index}")))?;
                worker(rt, bound, shared, index == 0).await
            }
        })
    }

    /// Splits the server into what its workers share.
    #[allow(clippy::type_complexity)]
    fn start<S: Service>(
        self,
        service: Arc<S>,
    ) -> (
        R,
        Vec<Bound>,
        Arc<Shared<S>>,
        io::Result<Option<signals::Watch>>,
    ) {
        let watch = if self.handle_signals && cfg!(unix) {
            signals::watch(&self.signal).map(Some)
        } else {
            Ok(None)
        };
        debug_assert!(self.listen.len() > 0);
        let shared = Arc::new(Shared {
            service,
            config: Arc::new(self.config),
            signal: self.signal,
            grace: self.grace,
            max_connections: self.max_connections,
            shutdown: Mutex::new(self.shutdown),
            #[cfg(feature = "tls")]
            tls: self.tls,
        });
        (self.runtime, self.listen.into_workers(), shared, watch)
    }
}

/// What every accept loop of one server shares.
struct Shared<S> {
    service: Arc<S>,
    config: Arc<http1::Config>,
    signal: Arc<Signal>,
    grace: Duration,
    max_connections: usize,
    /// The user's shutdown future, polled by the first worker.
    shutdown: Mutex<Option<BoxFuture>>,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsConfig>,
}

/// Runs one worker: its accept loop and then its part of the shutdown. The
/// first worker also watches the user's shutdown future.
async fn worker<R: Runtime, S: Service>(
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
        #[cfg(feature = "tls")]
        if let Some(tls) = tls {
            let conn = serve_tls(
                tls,
                stream,
                peer,
                service,
                timer,
                config,
                signal,
                open.slot(),
            );
            if !open.cancellable(conn).await {
                tracing::debug!(%peer, "connection cancelled at the shutdown deadline");
            }
            return;
        }
        let conn = serve_connection(stream, peer, service, timer, config, signal, open.slot());
        if !open.cancellable(conn).await {
            tracing::debug!(%peer, "connection cancelled at the shutdown deadline");
        }
    };
    // The engine catches handler panics; this is the last line, so that
    // no panic reaches an executor thread on any runtime.
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
#[allow(clippy::too_many_arguments)]
async fn serve_tls<R: Runtime, IO, S: Service>(
    tls: crate::tls::TlsConfig,
    stream: IO,
    peer: SocketAddr,
    service: Arc<S>,
    timer: R,
    config: Arc<http1::Config>,
    signal: Arc<Signal>,
    slot: &crate::shutdown::Slot,
) where
    IO: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send,
{
    let timeout = tls.handshake_timeout_value();
    let handshake = future::or(async { Some(tls.accept(stream).await) }, async {
        timer.sleep(timeout).await;
        None
    });
    match handshake.await {
        Some(Ok(stream)) => {
            serve_connection(stream, peer, service, timer, config, signal, slot).await;
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

/// Duplicates `listener` so each of `count` workers has its own descriptor
/// of the same socket.
fn share<L>(listener: L, count: usize, dup: fn(&L) -> io::Result<L>) -> io::Result<Vec<L>> {
    let mut listeners = Vec::with_capacity(count.max(1));
    for _ in 1..count.max(1) {
        listeners.push(dup(&listener)?);
    }
    listeners.push(listener);
    Ok(listeners)
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
            .field("listeners", &self.listen.len())
            .finish_non_exhaustive()
    }
}

/// Stops a running [`Server`] from any thread.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    signal: Arc<Signal>,
}

impl ServerHandle {
    /// Starts a graceful shutdown (see [`Server`]): the server stops
    /// accepting, lets requests in flight finish, closes idle connections,
    /// cancels what is left at [`Server::shutdown_grace`], and then
    /// [`Server::serve`] returns.
    pub fn shutdown(&self) {
        self.signal.trigger();
    }
}
