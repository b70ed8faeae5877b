//! tokio adapter for tramline.
//!
//! - [`Tokio`]: one multi-thread runtime whose work-stealing scheduler spreads
//!   connections over its threads (a *shared* [`tramline_rt::Runtime`]).
//! - [`TokioLocal`]: thread-per-core; `n` threads, each with its own
//!   current-thread runtime and listener, so a connection's tasks never leave
//!   the thread that accepted it (a *per-core* runtime).
//!
//! Both accept [`TcpStream`]s (futures-io, `TCP_NODELAY` set).
//!
//! ```
//! use std::time::Duration;
//! use tramline_rt::Runtime;
//! use tramline_tokio::Tokio;
//!
//! let rt = Tokio::with_workers(1);
//! rt.block_on(rt.sleep(Duration::from_millis(1)));
//! ```
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
#[cfg(unix)]
use std::os::unix::net::UnixListener as StdUnixListener;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead as TokioRead, AsyncWrite as TokioWrite, ReadBuf};
use tokio::net as tokio_net;
use tokio::runtime::{Builder, Handle, Runtime as TokioRuntime};
use tramline_rt::{Accept, AsyncRead, AsyncWrite, Runtime, nonblocking};

/// A multi-thread tokio runtime with work stealing.
///
/// Cloning is cheap: clones share one runtime. A runtime this type started
/// ([`Tokio::new`], [`Tokio::with_workers`]) shuts down when the last clone
/// is dropped; one it found ([`Tokio::current`], or [`Tokio::default`]
/// inside `#[tokio::main]`) belongs to its owner.
#[derive(Debug, Clone)]
pub struct Tokio {
    shared: Arc<Shared>,
}

/// The runtime's handle, and the runtime itself when this crate started it,
/// owned so that dropping the last handle works anywhere.
#[derive(Debug)]
struct Shared {
    handle: Handle,
    owned: Option<TokioRuntime>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // A plain drop waits for the workers, which panics inside an async
        // context: e.g. the last handle lived in a task that just finished.
        if let Some(runtime) = self.owned.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                runtime.shutdown_background();
            }
        }
    }
}

impl Tokio {
    /// Creates a runtime with one worker thread per available CPU.
    ///
    /// # Panics
    ///
    /// Panics if the OS refuses to start the runtime's threads or reactor.
    pub fn new() -> Self {
        Self::with_workers(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Creates a runtime with `workers` worker threads.
    ///
    /// # Panics
    ///
    /// Panics if `workers` is 0, or if the OS refuses to start the runtime's
    /// threads or reactor.
    pub fn with_workers(workers: usize) -> Self {
        assert!(workers > 0, "a tokio runtime needs at least one worker");
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("tramline-tokio")
            .enable_io()
            .enable_time()
            .build()
            .expect("failed to start the tokio runtime");
        Self {
            shared: Arc::new(Shared {
                handle: runtime.handle().clone(),
                owned: Some(runtime),
            }),
        }
    }

    /// Returns the tokio runtime the calling thread runs on (inside
    /// `#[tokio::main]` or a task), if there is one.
    pub fn current() -> Option<Self> {
        let handle = Handle::try_current().ok()?;
        Some(Self {
            shared: Arc::new(Shared {
                handle,
                owned: None,
            }),
        })
    }

    fn handle(&self) -> &Handle {
        &self.shared.handle
    }
}

impl Default for Tokio {
    /// Returns the runtime the caller runs on ([`Tokio::current`]), so that
    /// `Server::bind(..)?.run(app).await` inside `#[tokio::main]` serves on
    /// the program's own runtime; outside one, starts a new one
    /// ([`Tokio::new`]).
    // `unwrap_or_default` here would call this very function.
    #[allow(clippy::unwrap_or_default)]
    fn default() -> Self {
        Self::current().unwrap_or_else(Self::new)
    }
}

impl Runtime for Tokio {
    type Stream = TcpStream;
    type Listener = TcpListener;
    type Sleep = tokio::time::Sleep;
    #[cfg(unix)]
    type UnixListener = UnixListener;

    /// Spawns `future` onto this runtime; works from any thread.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Dropping the JoinHandle detaches the task; it keeps running.
        drop(self.handle().spawn(future));
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        let _guard = self.handle().enter();
        tokio::time::sleep(duration)
    }

    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        let _guard = self.handle().enter();
        TcpListener::new(listener, nonblocking(tokio_net::TcpListener::from_std))
    }

    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        let _guard = self.handle().enter();
        UnixListener::new(listener, nonblocking(tokio_net::UnixListener::from_std))
    }

    /// Runs `future` on this runtime, blocking the calling thread.
    ///
    /// # Panics
    ///
    /// Panics if called from inside an async context (tokio forbids nested
    /// `block_on`).
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.shared.owned {
            Some(runtime) => runtime.block_on(future),
            None => self.handle().block_on(future),
        }
    }
}

/// Thread-per-core tokio: `n` threads, each running its own current-thread
/// runtime.
///
/// [`Runtime::run`] starts the threads (named `tramline-tokio-<i>`) and
/// runs worker `i` on thread `i`; tasks spawned by a worker stay on its
/// thread. The handle itself holds no threads, so cloning is free.
///
/// # Panics
///
/// [`Runtime::spawn`], [`Runtime::sleep`] and [`Runtime::listener`] act on
/// the calling thread's runtime, so they panic when called outside
/// [`Runtime::run`] or [`Runtime::block_on`].
#[derive(Debug, Clone)]
pub struct TokioLocal {
    workers: usize,
}

impl TokioLocal {
    /// Creates a per-core runtime with `workers` threads.
    ///
    /// # Panics
    ///
    /// Panics if `workers` is 0.
    pub fn new(workers: usize) -> Self {
        assert!(workers > 0, "a per-core runtime needs at least one worker");
        Self { workers }
    }
}

/// Builds the single-threaded runtime one worker thread drives (with io and
/// time, the only drivers this crate's tokio features include).
fn current_thread() -> io::Result<TokioRuntime> {
    Builder::new_current_thread().enable_all().build()
}

impl Runtime for TokioLocal {
    type Stream = TcpStream;
    type Listener = TcpListener;
    type Sleep = tokio::time::Sleep;
    #[cfg(unix)]
    type UnixListener = UnixListener;

    /// Spawns `future` onto the calling thread's runtime.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(future));
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        TcpListener::new(listener, nonblocking(tokio_net::TcpListener::from_std))
    }

    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        UnixListener::new(listener, nonblocking(tokio_net::UnixListener::from_std))
    }

    /// Runs `future` on a fresh current-thread runtime (for `main` and
    /// tests); tasks it spawns are dropped when it returns.
    ///
    /// # Panics
    ///
    /// Panics if the runtime cannot be built, or if called from inside an
    /// async context.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        current_thread()
            .expect("failed to start a current-thread tokio runtime")
            .block_on(future)
    }

    fn listeners(&self) -> usize {
        self.workers
    }

    fn run<W, Fut>(&self, worker: W) -> io::Result<()>
    where
        W: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        tramline_rt::run_per_core(self.workers, "tramline-tokio", worker, |_, fut| {
            current_thread()?.block_on(fut)
        })
    }
}

/// A stream accepted by a tokio runtime, speaking the futures-io traits.
#[derive(Debug)]
pub struct Stream<T>(T);

/// A TCP stream accepted by a tokio runtime (`TCP_NODELAY` set).
pub type TcpStream = Stream<tokio_net::TcpStream>;
/// A Unix domain socket stream accepted by a tokio runtime.
#[cfg(unix)]
pub type UnixStream = Stream<tokio_net::UnixStream>;

impl<T> Stream<T> {
    /// Returns a shared reference to the tokio stream.
    pub fn get_ref(&self) -> &T {
        &self.0
    }

    /// Returns the tokio stream.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Stream<T> {
    fn from(stream: T) -> Self {
        Self(stream)
    }
}

impl<T: TokioRead + Unpin> AsyncRead for Stream<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        ready!(Pin::new(&mut self.get_mut().0).poll_read(cx, &mut buf))?;
        Poll::Ready(Ok(buf.filled().len()))
    }
}

impl<T: TokioWrite + Unpin> AsyncWrite for Stream<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    /// Shuts down the write half (sends FIN).
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

/// A TCP listener registered with a tokio runtime.
pub type TcpListener = tramline_rt::TcpListener<tokio_net::TcpListener, Net, TcpStream>;
/// A Unix domain socket listener registered with a tokio runtime.
#[cfg(unix)]
pub type UnixListener = tramline_rt::UnixListener<tokio_net::UnixListener, Net, UnixStream>;

/// tokio's accept verbs, for [`TcpListener`] and [`UnixListener`].
#[derive(Debug)]
pub enum Net {}

impl Accept<tokio_net::TcpListener> for Net {
    type Socket = tokio_net::TcpStream;
    type Peer = SocketAddr;

    fn accept(
        listener: &tokio_net::TcpListener,
    ) -> impl Future<Output = io::Result<(Self::Socket, SocketAddr)>> + Send {
        listener.accept()
    }
}

#[cfg(unix)]
impl Accept<tokio_net::UnixListener> for Net {
    type Socket = tokio_net::UnixStream;
    type Peer = tokio_net::unix::SocketAddr;

    fn accept(
        listener: &tokio_net::UnixListener,
    ) -> impl Future<Output = io::Result<(Self::Socket, Self::Peer)>> + Send {
        listener.accept()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tramline_rt::conformance::*;

    use std::sync::mpsc;
    use std::thread;

    #[test]
    fn tokio_echoes_over_loopback() {
        let stream = echoes_over_loopback(Tokio::with_workers(2));
        assert!(stream.get_ref().nodelay().unwrap());
    }

    #[test]
    fn tokio_sleep_waits_at_least_the_duration() {
        sleeps_at_least(Tokio::with_workers(1));
    }

    #[test]
    fn tokio_runs_spawned_tasks() {
        runs_spawned_task(Tokio::with_workers(2));
    }

    #[test]
    fn tokio_spawns_from_a_plain_thread() {
        let rt = Tokio::with_workers(1);
        let (tx, rx) = mpsc::channel();
        let handle = rt.clone();
        thread::spawn(move || handle.spawn(async move { tx.send(1).unwrap() }))
            .join()
            .unwrap();
        assert_eq!(rx.recv_timeout(LIMIT), Ok(1));
    }

    #[test]
    fn tokio_last_handle_can_drop_inside_a_task() {
        let rt = Tokio::with_workers(1);
        let (tx, rx) = mpsc::channel();
        let inner = rt.clone();
        rt.spawn(async move {
            inner.sleep(Duration::from_millis(20)).await;
            drop(inner);
            tx.send(()).unwrap();
        });
        drop(rt);
        assert_eq!(rx.recv_timeout(LIMIT), Ok(()));
    }

    #[test]
    fn tokio_local_echoes_over_loopback() {
        let stream = echoes_over_loopback(TokioLocal::new(1));
        assert!(stream.get_ref().nodelay().unwrap());
    }

    #[test]
    fn tokio_local_sleep_waits_at_least_the_duration() {
        sleeps_at_least(TokioLocal::new(1));
    }

    #[test]
    fn tokio_local_runs_spawned_tasks() {
        runs_spawned_task(TokioLocal::new(1));
    }

    #[test]
    fn tokio_local_runs_each_worker_on_its_own_thread() {
        runs_each_worker_on_its_own_thread(TokioLocal::new(2), "tramline-tokio");
    }

    #[test]
    fn tokio_local_workers_accept_on_their_own_listeners() {
        workers_accept_on_their_own_listeners(TokioLocal::new(2), "tramline-tokio", |stream| {
            assert!(stream.get_ref().nodelay()?);
            Ok(())
        });
    }

    #[cfg(unix)]
    #[test]
    fn tokio_echoes_over_a_unix_socket() {
        echoes_over_a_unix_socket(Tokio::with_workers(1));
    }

    #[cfg(unix)]
    #[test]
    fn tokio_local_echoes_over_a_unix_socket() {
        echoes_over_a_unix_socket(TokioLocal::new(1));
    }
}
