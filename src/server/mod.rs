//! The server: binds or inherits listeners, runs accept loops on a
//! runtime, and shuts down gracefully.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixListener as StdUnixListener;
#[cfg(unix)]
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tramline_rt::Runtime;

use crate::routing::Router;

use crate::proto::shutdown::Signal;
use crate::vocab::service::Service;

mod accept;
#[cfg(any(test, feature = "__fuzz"))]
pub(crate) mod fuzz;
pub(crate) mod protocol;
mod signals;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub mod tls;

use accept::{Shared, worker};

/// Pending connections the kernel queues per listener.
const BACKLOG: i32 = 1024;

/// An HTTP/1.1 server bound to an address, ready to serve an app on a
/// runtime.
///
/// Binding happens at construction, so [`Server::local_addr`] is known
/// (port 0 picks a free port) before [`Server::serve`] blocks. A server can
/// also take a listener it is given ([`Server::from_listener_with`]), one passed
/// by socket activation ([`Server::inherit_or_bind_with`]), or a Unix domain
/// socket ([`Server::bind_unix_with`]).
///
/// # Serving
///
/// - [`Server::serve`] blocks the calling thread: for a plain `fn main`.
/// - [`Server::run`] is a future that serves on the runtime already driving
///   the caller: for a program whose `main` already runs an async runtime,
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
    config: crate::proto::Config,
    grace: Duration,
    max_connections: usize,
    signal: Arc<Signal>,
    handle_signals: bool,
    shutdown: Option<BoxFuture>,
    #[cfg(feature = "tls")]
    tls: Option<crate::server::tls::TlsConfig>,
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type BoxWorker = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// Runs every worker to completion and returns the first error.
async fn join_all(mut workers: Vec<BoxWorker>) -> io::Result<()> {
    let mut result = Ok(());
    std::future::poll_fn(|cx| {
        workers.retain_mut(|w| match w.as_mut().poll(cx) {
            std::task::Poll::Ready(outcome) => {
                if result.is_ok() {
                    result = outcome;
                }
                false
            }
            std::task::Poll::Pending => true,
        });
        if workers.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    result
}

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
            config: crate::proto::Config::default(),
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
    pub fn tls(&mut self, config: crate::server::tls::TlsConfig) -> &mut Self {
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
    pub fn trusted_proxies(&mut self, proxies: crate::proto::proxy::TrustedProxies) -> &mut Self {
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

    #[doc = include_str!("../../docs/run.md")]
    pub fn run(self, app: Router) -> impl Future<Output = io::Result<()>> + Send {
        let (runtime, workers, shared, watch) = self.start(Arc::new(app));
        async move {
            let _watch = watch?;
            // A per-core runtime bound one listener per worker: all are
            // served here, or connections the kernel hands the others wait.
            let loops: Vec<BoxWorker> = workers
                .into_iter()
                .enumerate()
                .map(|(i, bound)| {
                    Box::pin(worker(runtime.clone(), bound, shared.clone(), i == 0)) as BoxWorker
                })
                .collect();
            runtime.drive(join_all(loops)).await
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
            clock: crate::time::AppTimer::of(self.runtime.clone()),
        });
        (self.runtime, self.listen.into_workers(), shared, watch)
    }
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
