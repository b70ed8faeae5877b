//! io_uring adapter for tramline.
//!
//! [`Uring`] is a thread-per-core runtime on [compio]'s io_uring driver:
//! `n` threads, each with a ring and a single-threaded executor of its own
//! and its own `SO_REUSEPORT` listener, so a connection's tasks never leave
//! the thread that accepted it (a *per-core* [`tramline_rt::Runtime`]).
//!
//! Reads and writes are completion-based: the kernel owns the buffer while
//! an operation is in flight. The engine speaks futures-io, so each stream
//! goes through compio's compat layer, which keeps one read and one write
//! buffer per connection and copies between them and the engine's buffers
//! (BENCHMARKS.md measures what that copy costs).
//!
//! ```
//! use std::time::Duration;
//! use tramline_rt::Runtime;
//! use tramline_uring::Uring;
//!
//! let rt = Uring::new(1);
//! # if rt.check().is_err() { return; } // no io_uring where the docs are built
//! rt.block_on(rt.sleep(Duration::from_millis(1)));
//! ```
//!
//! [compio]: https://docs.rs/compio
//!
//! # Why `SendWrapper`
//!
//! [`tramline_rt::Runtime`] asks for `Send` streams, sleeps and tasks;
//! compio's are `!Send` because they hold `Rc`s into the thread's ring. On a
//! per-core runtime nothing a worker creates ever leaves its thread, so each
//! is wrapped in [`send_wrapper::SendWrapper`]: `Send` by type, and a panic
//! (not undefined behaviour) if it is ever touched or dropped on another
//! thread. No `unsafe` is involved.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
#[cfg(unix)]
use std::os::unix::net::UnixListener as StdUnixListener;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use compio::io::compat::AsyncStream;
use send_wrapper::SendWrapper;
use tramline_rt::{AsyncRead, AsyncWrite, Runtime};

/// Submission queue entries per ring: compio's default, which fits in the
/// 8 MiB of locked memory a default `ulimit -l` allows many times over.
const ENTRIES: u32 = 1024;

/// Slots in each worker's queue of tasks woken from other threads.
///
/// A wake from another thread that finds compio's queue full (default 64)
/// spins until the worker drains it. tramline's shutdown signal wakes every
/// connection task from the server handle's thread while it holds the lock
/// those tasks take when they end, so with more than 64 connections the
/// spin and the lock deadlock (seen in tests/slow_clients.rs at 1,000
/// connections). A task takes at most one slot, so a queue longer than the
/// live tasks never fills: this is 6.5 times the default connection limit,
/// 1 MiB per worker.
const REMOTE_WAKES: usize = 1 << 16;

/// Thread-per-core io_uring: `n` threads, each with its own ring.
///
/// [`Runtime::run`] starts the threads (named `tramline-uring-<i>`) and runs
/// worker `i` on thread `i` under a compio runtime of its own; tasks spawned
/// by a worker run on its thread only. The handle itself holds no threads,
/// so cloning is free.
///
/// # Panics
///
/// [`Runtime::spawn`] and [`Runtime::sleep`] act on the calling thread's
/// ring, so they panic when called outside [`Runtime::run`] or
/// [`Runtime::block_on`]. [`Runtime::block_on`] panics if no ring can be
/// created (use [`Uring::check`] first to get the reason as an error).
/// [`Runtime::drive`] cannot run a ring from inside another runtime: a
/// server on `Uring` is run with [`Runtime::run`] or inside
/// [`Runtime::block_on`].
#[derive(Debug, Clone)]
pub struct Uring {
    workers: usize,
    entries: u32,
}

impl Uring {
    /// Creates a per-core runtime with `workers` threads.
    ///
    /// # Panics
    ///
    /// Panics if `workers` is 0.
    pub fn new(workers: usize) -> Self {
        assert!(workers > 0, "a per-core runtime needs at least one worker");
        Self {
            workers,
            entries: ENTRIES,
        }
    }

    /// Sets the submission queue size of each worker's ring (default 1024).
    ///
    /// A bigger ring takes more locked memory; the kernel refuses more than
    /// 32768 entries.
    pub fn entries(&mut self, entries: u32) -> &mut Self {
        self.entries = entries;
        self
    }

    /// Creates (and drops) one ring, to learn before serving whether the
    /// kernel and sandbox allow io_uring here.
    ///
    /// # Errors
    ///
    /// Returns the error of `io_uring_setup`, with what to change, as
    /// [`Runtime::run`] would.
    pub fn check(&self) -> io::Result<()> {
        self.ring().map(drop)
    }

    fn ring(&self) -> io::Result<compio::runtime::Runtime> {
        let mut proactor = compio::driver::ProactorBuilder::new();
        proactor.capacity(self.entries);
        compio::runtime::RuntimeBuilder::new()
            .with_proactor(proactor)
            .sync_queue_size(REMOTE_WAKES)
            .build()
            .map_err(ring_error)
    }
}

/// Says what to change when `io_uring_setup` fails; errno values are
/// Linux's.
fn ring_error(err: io::Error) -> io::Error {
    let hint = match err.raw_os_error() {
        // EPERM: `kernel.io_uring_disabled` is 2 (or 1 and not in the group
        // `kernel.io_uring_group`), or a seccomp filter (Docker's default
        // profile before 25.0 never allowed it) refuses the syscall.
        Some(1) => {
            "io_uring is not allowed: set the sysctl kernel.io_uring_disabled=0 and allow io_uring_setup in the container's seccomp profile"
        }
        // ENOMEM: the ring's memory is charged to RLIMIT_MEMLOCK on kernels
        // before 5.12, and to the cgroup after.
        Some(12) => {
            "not enough locked memory for the ring: raise `ulimit -l` (RLIMIT_MEMLOCK) or lower Uring::entries"
        }
        // EINVAL: an entry count the kernel refuses (0 or above 32768).
        Some(22) => "the kernel refused the ring size: set Uring::entries between 1 and 32768",
        // ENOSYS: no io_uring at all (before Linux 5.1, or compiled out).
        Some(38) => "this kernel has no io_uring: it needs Linux 5.6 or later with CONFIG_IO_URING",
        _ => {
            "io_uring is needed by the `uring` runtime; pick another runtime where it is not available"
        }
    };
    io::Error::new(
        err.kind(),
        format!("cannot create an io_uring ring ({err}): {hint}"),
    )
}

impl Default for Uring {
    /// Returns a runtime with one worker per available CPU.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }
}

impl Runtime for Uring {
    type Stream = Stream<compio::net::TcpStream>;
    type Listener = TcpListener;
    type Sleep = Sleep;
    #[cfg(unix)]
    type UnixListener = UnixListener;

    /// Spawns `future` onto the calling thread's ring.
    ///
    /// # Panics
    ///
    /// Panics if the calling thread is not a worker (outside
    /// [`Runtime::run`] and [`Runtime::block_on`]).
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let on_worker = compio::runtime::Runtime::try_with_current(|rt| rt.spawn(future).detach());
        assert!(
            on_worker.is_ok(),
            "Uring::spawn called outside a worker: call it inside run or block_on"
        );
    }

    /// # Panics
    ///
    /// Panics when first polled outside a worker.
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        // compio's sleep is an `async fn` (an unnameable type), so it is
        // boxed; the engine keeps one sleep per connection, not per request.
        Sleep(SendWrapper::new(Box::pin(compio::time::sleep(duration))))
    }

    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        compio::net::TcpListener::from_std(listener).map(|l| TcpListener(SendWrapper::new(l)))
    }

    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        compio::net::UnixListener::from_std(listener).map(|l| UnixListener(SendWrapper::new(l)))
    }

    /// Runs `future` on a fresh ring on the calling thread (for `main` and
    /// tests); tasks it spawns run there and are dropped when it returns.
    ///
    /// # Panics
    ///
    /// Panics with the reason if no ring can be created.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self.ring() {
            Ok(ring) => ring.block_on(future),
            Err(err) => panic!("{err}"),
        }
    }

    fn listeners(&self) -> usize {
        self.workers
    }

    /// # Errors
    ///
    /// Returns the error that a worker returned, or a ring error that says
    /// what to change if a worker's ring cannot be created.
    fn run<W, Fut>(&self, worker: W) -> io::Result<()>
    where
        W: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        let this = self.clone();
        tramline_rt::run_per_core(self.workers, "tramline-uring", worker, move |_, fut| {
            this.ring()?.block_on(fut)
        })
    }
}

/// The future returned by [`Runtime::sleep`] on [`Uring`].
///
/// # Cancel safety
///
/// Cancel safe: dropping it cancels the timer.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Sleep(SendWrapper<Pin<Box<dyn Future<Output = ()>>>>);

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sleep")
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

/// The compio sockets a [`Stream`] can wrap: TCP and Unix domain streams.
pub trait Socket:
    compio::io::util::Splittable<ReadHalf = Self, WriteHalf = Self>
    + compio::io::AsyncRead
    + compio::io::AsyncWrite
    + Unpin
    + 'static
{
}

impl Socket for compio::net::TcpStream {}
#[cfg(unix)]
impl Socket for compio::net::UnixStream {}

/// How long a dropped stream may keep sending what it had buffered.
const LINGER: Duration = Duration::from_secs(5);

/// A stream accepted by [`Uring`], speaking futures-io over compio's compat
/// layer (TCP streams have `TCP_NODELAY` set).
///
/// The compat stream is pinned once per connection (it is `!Unpin`: its
/// in-flight operation borrows its own buffer).
///
/// Writes go to the compat layer's buffer, and each write submits its send
/// at once, as the other runtimes' streams write through. So that a stream
/// dropped while a send is in flight still sends it, dropping it on its
/// worker closes it in a task of its own, for at most 5 seconds.
///
/// While a send is in flight the compat buffer belongs to the kernel, and
/// the compat layer refuses writes (`Pending`). A kernel socket would take
/// them into its send buffer, and code written for one may write and give
/// up on `Pending` (rustls sends its alert on a failed handshake that way,
/// then drops the stream), so writes made meanwhile wait in a buffer of
/// their own, of at most `OVERFLOW` (64 KiB), and go out after the send:
/// on the next write, flush, close, read, or the drop.
pub struct Stream<S: Socket>(Option<SendWrapper<Pin<Box<AsyncStream<S>>>>>, Vec<u8>);

/// The most a stream takes while its send is in flight.
const OVERFLOW: usize = 64 * 1024;

impl<S: Socket> std::fmt::Debug for Stream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

impl<S: Socket> Stream<S> {
    fn new(stream: S) -> Self {
        Self(
            Some(SendWrapper::new(Box::pin(AsyncStream::new(stream)))),
            Vec::new(),
        )
    }

    fn inner(&mut self) -> Pin<&mut AsyncStream<S>> {
        // INVARIANT: `None` only inside `drop`.
        self.0.as_mut().expect("stream used after drop").as_mut()
    }

    /// Returns the compio socket (its read half; both halves share it).
    ///
    /// # Panics
    ///
    /// Panics if called on another thread than the one that accepted it.
    pub fn get_ref(&self) -> &S {
        self.0.as_ref().expect("stream used after drop").get_ref().0
    }
}

impl<S: Socket> Stream<S> {
    /// Submits the send of what is buffered, so that a write reaches the
    /// peer without a flush, as on the other runtimes (an upgraded
    /// connection's echo may write and then wait to read). A send still in
    /// flight is finished by the next write or flush, which also reports
    /// its error.
    fn start_send(&mut self, cx: &mut Context<'_>) {
        let _ = self.inner().poll_flush(cx);
    }

    /// Hands the bytes taken during a send to the compat layer, as far as
    /// it takes them now.
    fn drain_overflow(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.1.is_empty() {
            let inner = self.0.as_mut().expect("stream used after drop").as_mut();
            let n = ready!(inner.poll_write(cx, &self.1))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.1.drain(..n);
            // Sent now, as any write is.
            self.start_send(cx);
        }
        Poll::Ready(Ok(()))
    }

    /// Takes what fits of `buf` while a send is in flight; `Pending` when
    /// nothing does.
    fn overflow(&mut self, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = OVERFLOW.saturating_sub(self.1.len()).min(buf.len());
        if room == 0 {
            return Poll::Pending;
        }
        self.1.extend_from_slice(&buf[..room]);
        Poll::Ready(Ok(room))
    }

    /// As [`overflow`](Self::overflow), for every slice in turn: a
    /// vectored write's last-gasp caller (rustls: a record per slice)
    /// writes once.
    fn overflow_vectored(&mut self, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let mut taken = 0;
        for buf in bufs {
            match self.overflow(buf) {
                Poll::Ready(Ok(n)) => {
                    taken += n;
                    if n < buf.len() {
                        break;
                    }
                }
                _ => break,
            }
        }
        if taken == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Poll::Pending;
        }
        Poll::Ready(Ok(taken))
    }

    /// Writes `bufs` in turn into the compat buffer (its own vectored write
    /// takes only the first slice, and a last-gasp caller such as rustls
    /// writes once), then starts the send; what meets a send in flight
    /// waits in the overflow.
    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Earlier bytes go first; the waker is kept by the compat layer.
        match self.drain_overflow(cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return self.overflow_vectored(bufs),
        }
        let mut total = 0;
        for (i, buf) in bufs.iter().enumerate() {
            if buf.is_empty() {
                continue;
            }
            match self.inner().poll_write(cx, buf) {
                Poll::Ready(Ok(n)) => {
                    total += n;
                    if n < buf.len() {
                        break;
                    }
                }
                Poll::Ready(Err(e)) if total == 0 => return Poll::Ready(Err(e)),
                Poll::Ready(Err(_)) => break,
                Poll::Pending => {
                    if let Poll::Ready(Ok(n)) = self.overflow_vectored(&bufs[i..]) {
                        total += n;
                    }
                    break;
                }
            }
        }
        if total > 0 {
            self.start_send(cx);
            return Poll::Ready(Ok(total));
        }
        if bufs.iter().all(|b| b.is_empty()) {
            Poll::Ready(Ok(0))
        } else {
            Poll::Pending
        }
    }
}

impl<S: Socket> Drop for Stream<S> {
    fn drop(&mut self) {
        let Some(stream) = self.0.take() else { return };
        let overflow = std::mem::take(&mut self.1);
        // Off the worker (a test's stream outliving its `block_on`) there is
        // no ring to send on: the socket just closes.
        let _ = compio::runtime::Runtime::try_with_current(move |rt| {
            let mut stream = stream.take();
            rt.spawn(async move {
                let _ = compio::time::timeout(LINGER, async {
                    let mut rest = &overflow[..];
                    while !rest.is_empty() {
                        let n = std::future::poll_fn(|cx| {
                            AsyncWrite::poll_write(stream.as_mut(), cx, rest)
                        })
                        .await?;
                        if n == 0 {
                            break;
                        }
                        rest = &rest[n..];
                    }
                    stream.as_mut().close_now().await
                })
                .await;
            })
            .detach();
        });
    }
}

/// Flushes and shuts the write half down, for [`Stream`]'s drop.
trait CloseNow {
    fn close_now(self: Pin<&mut Self>) -> impl Future<Output = io::Result<()>>;
}

impl<S: Socket> CloseNow for AsyncStream<S> {
    fn close_now(mut self: Pin<&mut Self>) -> impl Future<Output = io::Result<()>> {
        std::future::poll_fn(move |cx| AsyncWrite::poll_close(self.as_mut(), cx))
    }
}

/// A Unix domain socket stream accepted by [`Uring`].
#[cfg(unix)]
pub type UnixStream = Stream<compio::net::UnixStream>;

impl<S: Socket> AsyncRead for Stream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // A task that wrote during a send and now waits to read is woken
        // when the send completes: what it wrote goes out then.
        if let Poll::Ready(Err(e)) = self.drain_overflow(cx) {
            return Poll::Ready(Err(e));
        }
        self.inner().poll_read(cx, buf)
    }
}

impl<S: Socket> AsyncWrite for Stream<S> {
    /// Buffers `buf`, then starts sending it.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_with(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_with(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain_overflow(cx))?;
        self.inner().poll_flush(cx)
    }

    /// Flushes, then shuts down the write half (sends FIN).
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain_overflow(cx))?;
        self.inner().poll_close(cx)
    }
}

/// A TCP listener on a [`Uring`] worker's ring.
#[derive(Debug)]
pub struct TcpListener(SendWrapper<compio::net::TcpListener>);

impl tramline_rt::Listener for TcpListener {
    type Stream = Stream<compio::net::TcpStream>;

    /// # Cancel safety
    ///
    /// The accept is an io_uring operation: dropping it cancels it, and a
    /// connection the kernel had accepted just before the cancel is closed.
    /// The server drops an accept only when it stops accepting.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        let listener = &*self.0;
        SendWrapper::new(async move {
            let (stream, addr) = listener.accept().await?;
            // A latency hint only: if the peer is already gone the first
            // read reports it, so this must not fail the accept loop.
            let _ = stream.set_nodelay(true);
            Ok((Stream::new(stream), addr))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// A Unix domain socket listener on a [`Uring`] worker's ring.
#[cfg(unix)]
#[derive(Debug)]
pub struct UnixListener(SendWrapper<compio::net::UnixListener>);

#[cfg(unix)]
impl tramline_rt::Listener for UnixListener {
    type Stream = UnixStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send {
        let listener = &*self.0;
        SendWrapper::new(async move {
            let (stream, _) = listener.accept().await?;
            Ok((Stream::new(stream), tramline_rt::UNIX_PEER))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(tramline_rt::UNIX_PEER)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tramline_rt::conformance::*;

    #[test]
    fn uring_echoes_over_loopback() {
        let stream = echoes_over_loopback(Uring::new(1));
        assert!(stream.get_ref().nodelay().unwrap());
    }

    #[test]
    fn uring_sleep_waits_at_least_the_duration() {
        sleeps_at_least(Uring::new(1));
    }

    #[test]
    fn uring_runs_spawned_tasks() {
        runs_spawned_task(Uring::new(1));
    }

    #[test]
    #[should_panic(expected = "outside a worker")]
    fn uring_spawn_outside_a_worker_panics() {
        Uring::new(1).spawn(async {});
    }

    #[test]
    fn uring_workers_accept_on_their_own_listeners() {
        let seen = workers_accept_on_their_own_listeners(Uring::new(2), |_| Ok(()));
        let want = ["tramline-uring-0", "tramline-uring-1"].map(|n| Some(n.to_owned()));
        assert_eq!(seen, want);
    }

    #[test]
    fn uring_refused_ring_size_says_what_to_change() {
        // The kernel caps a ring at 32768 entries (IORING_MAX_ENTRIES) and
        // compio does not ask it to clamp, so this fails in io_uring_setup.
        let mut rt = Uring::new(1);
        rt.entries(1 << 20);
        let err = rt.run(|_| async { Ok(()) }).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot create an io_uring ring"), "{text}");
        assert!(text.contains("Uring::entries"), "{text}");
        assert_eq!(rt.check().unwrap_err().to_string(), text);
    }

    #[test]
    fn uring_refusals_name_the_knob() {
        for (errno, knob) in [
            (1, "kernel.io_uring_disabled"),
            (12, "ulimit -l"),
            (38, "Linux 5.6"),
        ] {
            let err = ring_error(io::Error::from_raw_os_error(errno));
            assert!(err.to_string().contains(knob), "{errno}: {err}");
            assert_eq!(err.raw_os_error(), None);
            assert_eq!(err.kind(), io::Error::from_raw_os_error(errno).kind());
        }
    }
}
