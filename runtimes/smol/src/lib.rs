//! smol adapter for tramline.
//!
//! [`Smol`] is a *shared* [`tramline_rt::Runtime`]: one `async-executor`
//! run by a fixed number of threads, with I/O and timers on `async-io`'s
//! global reactor. Accepted [`TcpStream`]s speak futures-io and have
//! `TCP_NODELAY` set.
//!
//! ```
//! use std::time::Duration;
//! use tramline_rt::Runtime;
//! use tramline_smol::Smol;
//!
//! let rt = Smol::with_workers(1);
//! rt.block_on(rt.sleep(Duration::from_millis(1)));
//! ```

use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Shutdown, SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use smol::channel::Sender;
use smol::{Async, Executor, Timer};
use tramline_rt::{AsyncRead, AsyncWrite, Runtime};

/// A smol executor shared by a fixed number of threads.
///
/// With `workers = n`, exactly `n` threads run the executor while the server
/// runs: the thread inside [`Runtime::block_on`] (where
/// [`Runtime::run`] puts the accept loop) plus `n - 1` background threads
/// named `tramline-smol-<i>`, started by the constructor. So `workers = 1`
/// serves everything on the calling thread, and tasks spawned while no
/// thread is in `block_on` wait for one (or for a background thread).
///
/// Cloning is cheap. The background threads stop when the last clone is
/// dropped; tasks still pending then are dropped with the executor. A task
/// that holds a clone and never finishes keeps the threads (idle, parked)
/// alive.
#[derive(Debug, Clone)]
pub struct Smol {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    executor: Arc<Executor<'static>>,
    /// Never sent on: dropping it closes the channel, which ends every
    /// background thread's `run`.
    _stop: Sender<()>,
}

impl Smol {
    /// Creates a runtime served by one thread per available CPU.
    ///
    /// # Panics
    ///
    /// Panics if the OS refuses to start a thread.
    pub fn new() -> Self {
        Self::with_workers(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Creates a runtime served by `workers` threads in total, the one in
    /// [`Runtime::block_on`] included.
    ///
    /// # Panics
    ///
    /// Panics if `workers` is 0 or the OS refuses to start a thread.
    pub fn with_workers(workers: usize) -> Self {
        assert!(workers > 0, "a smol runtime needs at least one worker");
        let executor = Arc::new(Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        for i in 1..workers {
            let (executor, stopped) = (executor.clone(), stopped.clone());
            std::thread::Builder::new()
                .name(format!("tramline-smol-{i}"))
                .spawn(move || {
                    // `recv` fails once the channel closes: time to stop.
                    let _ = smol::block_on(executor.run(stopped.recv()));
                })
                .expect("failed to start a smol executor thread");
        }
        Self {
            shared: Arc::new(Shared {
                executor,
                _stop: stop,
            }),
        }
    }
}

impl Default for Smol {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime for Smol {
    type Stream = TcpStream;
    type Listener = TcpListener;
    type Sleep = Sleep;
    #[cfg(unix)]
    type UnixListener = UnixListener;

    /// Spawns `future` onto the shared executor; works from any thread.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.shared.executor.spawn(future).detach();
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Sleep(Timer::after(duration))
    }

    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        Async::new(listener).map(TcpListener)
    }

    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        Async::new(listener).map(UnixListener)
    }

    /// Runs `future` on the calling thread, which meanwhile also runs the
    /// executor's tasks.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        smol::block_on(self.shared.executor.run(future))
    }

    /// Runs the executor's tasks in the awaiting task while `future` runs,
    /// so `run(..).await` under `smol::block_on` serves with no other thread.
    fn drive<F: Future + Send>(&self, future: F) -> impl Future<Output = F::Output> + Send {
        let executor = self.shared.executor.clone();
        async move { executor.run(future).await }
    }
}

/// The future returned by [`Runtime::sleep`] on [`Smol`].
///
/// # Cancel safety
///
/// Cancel safe: dropping it cancels the timer.
#[derive(Debug)]
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Sleep(Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A stream accepted by [`Smol`], speaking the futures-io traits.
#[derive(Debug)]
pub struct Stream<T>(Async<T>);

/// A TCP stream accepted by [`Smol`] (`TCP_NODELAY` set).
pub type TcpStream = Stream<StdTcpStream>;
/// A Unix domain socket stream accepted by [`Smol`].
#[cfg(unix)]
pub type UnixStream = Stream<StdUnixStream>;

impl<T> Stream<T> {
    /// Returns a shared reference to the registered std stream.
    pub fn get_ref(&self) -> &Async<T> {
        &self.0
    }

    /// Returns the registered std stream.
    pub fn into_inner(self) -> Async<T> {
        self.0
    }
}

/// The std streams whose write half can be shut down.
pub trait HalfClose {
    /// Shuts down the write half (sends FIN).
    ///
    /// # Errors
    ///
    /// Returns the OS error of `shutdown(2)`.
    fn shutdown_write(&self) -> io::Result<()>;
}

impl HalfClose for StdTcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl HalfClose for StdUnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl<T> AsyncRead for Stream<T>
where
    Async<T>: AsyncRead,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read_vectored(cx, bufs)
    }
}

impl<T: HalfClose> AsyncWrite for Stream<T>
where
    Async<T>: AsyncWrite,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    /// Flushes, then shuts down the write half (sends FIN).
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // async-io's own poll_close only flushes; shut down like tokio does
        // so that `close` means the same on every runtime.
        ready!(Pin::new(&mut self.0).poll_flush(cx))?;
        Poll::Ready(self.0.get_ref().shutdown_write())
    }
}

/// A TCP listener registered with smol's reactor.
#[derive(Debug)]
pub struct TcpListener(Async<StdTcpListener>);

impl tramline_rt::Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.0.accept().await?;
        // A latency hint only: if the peer is already gone the first read
        // reports it, so this must not fail the accept loop.
        let _ = stream.get_ref().set_nodelay(true);
        Ok((Stream(stream), addr))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

/// A Unix domain socket listener registered with smol's reactor.
#[cfg(unix)]
#[derive(Debug)]
pub struct UnixListener(Async<StdUnixListener>);

#[cfg(unix)]
impl tramline_rt::Listener for UnixListener {
    type Stream = UnixStream;

    async fn accept(&mut self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, _) = self.0.accept().await?;
        Ok((Stream(stream), tramline_rt::UNIX_PEER))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(tramline_rt::UNIX_PEER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tramline_rt::conformance::*;

    use std::sync::mpsc;
    use std::thread;
    use std::time::Instant;

    #[test]
    fn smol_echoes_over_loopback() {
        let stream = echoes_over_loopback(Smol::with_workers(2));
        assert!(stream.get_ref().get_ref().nodelay().unwrap());
    }

    #[test]
    fn smol_sleep_waits_at_least_the_duration() {
        sleeps_at_least(Smol::with_workers(1));
    }

    #[test]
    fn smol_runs_spawned_tasks() {
        runs_spawned_task(Smol::with_workers(2));
    }

    #[test]
    fn smol_with_one_worker_serves_on_the_calling_thread() {
        let rt = Smol::with_workers(1);
        let (tx, rx) = mpsc::channel();
        let on = rt.block_on(async {
            rt.spawn(async move { tx.send(thread::current().id()).unwrap() });
            for _ in 0..1000 {
                if let Ok(id) = rx.try_recv() {
                    return Some(id);
                }
                rt.sleep(Duration::from_millis(10)).await;
            }
            None
        });
        assert_eq!(on, Some(thread::current().id()));
    }

    #[test]
    fn smol_background_workers_run_tasks_spawned_outside_block_on() {
        let rt = Smol::with_workers(2);
        let (tx, rx) = mpsc::channel();
        rt.spawn(async move {
            tx.send(thread::current().name().map(str::to_owned))
                .unwrap()
        });
        let name = rx.recv_timeout(LIMIT).unwrap();
        assert_eq!(name.as_deref(), Some("tramline-smol-1"));
    }

    #[test]
    fn smol_background_workers_stop_when_the_last_handle_drops() {
        let rt = Smol::with_workers(3);
        let clone = rt.clone();
        let executor = Arc::downgrade(&rt.shared.executor);
        drop(rt);
        thread::sleep(Duration::from_millis(20));
        assert!(executor.upgrade().is_some(), "a clone is still alive");
        drop(clone);
        // Each background thread holds the executor until its `run` ends.
        let start = Instant::now();
        while executor.upgrade().is_some() {
            assert!(start.elapsed() < LIMIT, "background threads did not stop");
            thread::sleep(Duration::from_millis(5));
        }
    }
}
