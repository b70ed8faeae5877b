//! io_uring adapter for tramline.
//!
//! [`Uring`] is a thread-per-core runtime on [compio]'s io_uring driver:
//! `n` threads, each with a ring and a single-threaded executor of its own
//! and its own `SO_REUSEPORT` listener, so a connection's tasks never leave
//! the thread that accepted it (a *per-core* [`tramline_rt::Runtime`]).
//!
//! Reads and writes are completion-based: the kernel owns the buffer while
//! an operation is in flight. The engine speaks futures-io, so each stream
//! is tramline-rt's completion bridge ([`tramline_rt::completion`]) over
//! compio's receive, send and shutdown operations: it owns a read buffer
//! and two write buffers per connection and copies between them and the
//! engine's buffers (BENCHMARKS.md measures what that costs).
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
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd};
#[cfg(unix)]
use std::os::unix::net::UnixListener as StdUnixListener;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use compio::BufResult;
use compio::buf::IntoInner;
use compio::driver::{OpCode, SharedFd, ToSharedFd, op};
use compio::net as compio_net;
use compio::runtime::Submit;
use send_wrapper::SendWrapper;
use tramline_rt::{Accept, Runtime};

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
        // ENOMEM: the ring's memory is charged to RLIMIT_MEMLOCK unless the
        // process has CAP_IPC_LOCK (on 6.18 too: 1024 entries fail under
        // `ulimit -l 64`, see the test), and to the cgroup.
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
    type Stream = Stream;
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
        Sleep::new(SendWrapper::new(Box::pin(compio::time::sleep(duration))))
    }

    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        TcpListener::new(listener, |l| {
            compio_net::TcpListener::from_std(l).map(SendWrapper::new)
        })
    }

    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        UnixListener::new(listener, |l| {
            compio_net::UnixListener::from_std(l).map(SendWrapper::new)
        })
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
pub type Sleep = tramline_rt::Sleep<SendWrapper<Pin<Box<dyn Future<Output = ()>>>>>;

/// How long a dropped stream may keep sending what it had buffered.
const LINGER: Duration = Duration::from_secs(5);

/// A stream accepted by [`Uring`] (TCP, with `TCP_NODELAY` set, or Unix):
/// tramline-rt's completion bridge over compio's own send and receive
/// operations, which own their buffers while the kernel has them.
pub type Stream = tramline_rt::completion::Stream<Socket>;

/// The file descriptor every operation on a [`Socket`] holds a share of.
type Fd = SharedFd<socket2::Socket>;

/// A connected socket on a [`Uring`] worker's ring, for [`Stream`].
///
/// A stream dropped with bytes still to send goes on sending them in a task
/// of its own on its worker, for at most 5 seconds, then shuts down.
#[derive(Clone)]
pub struct Socket(SendWrapper<Fd>);

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Socket")
    }
}

impl Socket {
    fn new(socket: &impl ToSharedFd<socket2::Socket>) -> Self {
        Self(SendWrapper::new(socket.to_shared_fd()))
    }

    /// Returns the socket itself.
    ///
    /// # Panics
    ///
    /// Panics if called on another thread than the one that accepted it.
    pub fn get_ref(&self) -> &socket2::Socket {
        &self.0
    }

    fn submit<T: OpCode + 'static, O>(
        &self,
        op: impl FnOnce(Fd) -> T,
        done: fn(BufResult<usize, T>) -> O,
    ) -> Op<T, O> {
        let submit = compio::runtime::submit(op(Fd::clone(&self.0)));
        Op(SendWrapper::new(submit), done)
    }
}

/// An operation on a [`Socket`], submitted to its worker's ring on first
/// poll, and what its result becomes.
pub struct Op<T: OpCode, O>(SendWrapper<Submit<T>>, fn(BufResult<usize, T>) -> O);

#[cfg(unix)]
impl AsFd for Socket {
    /// Panics if called on another thread than the one that accepted it.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: OpCode, O> std::fmt::Debug for Op<T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Op")
    }
}

impl<T: OpCode + 'static, O> Future for Op<T, O> {
    type Output = O;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<O> {
        let done = ready!(Pin::new(&mut *self.0).poll(cx));
        Poll::Ready((self.1)(done))
    }
}

impl tramline_rt::completion::Completion for Socket {
    type Recv = Op<op::Recv<Box<[u8]>, Fd>, (io::Result<usize>, Box<[u8]>)>;
    type Send = Op<op::Send<Vec<u8>, Fd>, (io::Result<usize>, Vec<u8>)>;
    type Shutdown = Op<op::ShutdownSocket<Fd>, io::Result<()>>;

    /// The kernel writes into the buffer from its start: compio hands it
    /// the whole of a `Box<[u8]>`, which is always initialized.
    fn recv(&self, buf: Box<[u8]>) -> Self::Recv {
        let recv = |fd| op::Recv::new(fd, buf, op::RecvFlags::empty());
        self.submit(recv, |BufResult(res, op)| (res, op.into_inner()))
    }

    fn send(&self, buf: Vec<u8>) -> Self::Send {
        let send = |fd| op::Send::new(fd, buf, op::SendFlags::empty());
        self.submit(send, |BufResult(res, op)| (res, op.into_inner()))
    }

    fn shutdown(&self) -> Self::Shutdown {
        let shutdown = |fd| op::ShutdownSocket::new(fd, std::net::Shutdown::Write);
        self.submit(shutdown, |BufResult(res, _)| res.map(drop))
    }

    /// Off the worker (a test's stream outliving its `block_on`) there is
    /// no ring to send on: the socket just closes.
    fn linger(&self, rest: tramline_rt::completion::Linger<Self>) {
        let _ = compio::runtime::Runtime::try_with_current(move |rt| {
            rt.spawn(compio::time::timeout(LINGER, rest)).detach();
        });
    }
}

/// A TCP listener on a [`Uring`] worker's ring.
pub type TcpListener = tramline_rt::TcpListener<SendWrapper<compio_net::TcpListener>, Net, Stream>;
/// A Unix domain socket listener on a [`Uring`] worker's ring.
#[cfg(unix)]
pub type UnixListener =
    tramline_rt::UnixListener<SendWrapper<compio_net::UnixListener>, Net, Stream>;

/// compio's accept verbs, for [`TcpListener`] and [`UnixListener`].
///
/// # Cancel safety
///
/// An accept is an io_uring operation: dropping it cancels it, and a
/// connection the kernel had accepted just before the cancel is closed.
/// The server drops an accept only when it stops accepting.
#[derive(Debug)]
pub enum Net {}

impl Accept<SendWrapper<compio_net::TcpListener>> for Net {
    type Socket = Socket;
    type Peer = SocketAddr;

    fn accept(
        listener: &SendWrapper<compio_net::TcpListener>,
    ) -> impl Future<Output = io::Result<(Socket, SocketAddr)>> + Send {
        on_ring(listener.accept())
    }
}

#[cfg(unix)]
impl Accept<SendWrapper<compio_net::UnixListener>> for Net {
    type Socket = Socket;
    type Peer = socket2::SockAddr;

    fn accept(
        listener: &SendWrapper<compio_net::UnixListener>,
    ) -> impl Future<Output = io::Result<(Socket, Self::Peer)>> + Send {
        on_ring(listener.accept())
    }
}

/// Makes a compio accept, `!Send` like everything on the ring, the `Send`
/// future [`Accept`] asks for, yielding a [`Socket`].
fn on_ring<S, P>(
    accept: impl Future<Output = io::Result<(S, P)>>,
) -> impl Future<Output = io::Result<(Socket, P)>> + Send
where
    S: ToSharedFd<socket2::Socket>,
{
    SendWrapper::new(async move {
        let (stream, peer) = accept.await?;
        Ok((Socket::new(&stream), peer))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tramline_rt::conformance::*;

    #[test]
    fn uring_echoes_over_loopback() {
        let stream = echoes_over_loopback(Uring::new(1));
        assert!(stream.get_ref().get_ref().tcp_nodelay().unwrap());
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
        workers_accept_on_their_own_listeners(Uring::new(2), "tramline-uring", |stream| {
            assert!(stream.get_ref().get_ref().tcp_nodelay()?);
            Ok(())
        });
    }

    #[cfg(unix)]
    #[test]
    fn uring_echoes_over_a_unix_socket() {
        echoes_over_a_unix_socket(Uring::new(1));
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

    /// Runs this test binary again under `ulimit -l 64` without
    /// CAP_IPC_LOCK (which exempts root from the limit; util-linux's
    /// `setpriv` drops it); that child creates a ring and checks what the
    /// error says.
    #[test]
    fn uring_too_little_locked_memory_says_what_to_change() {
        const CHILD: &str = "TRAMLINE_URING_MEMLOCK_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let err = Uring::new(1).check().unwrap_err().to_string();
            assert!(err.contains("Cannot allocate memory"), "{err}");
            assert!(err.contains("raise `ulimit -l`"), "{err}");
            return;
        }
        let me = std::env::current_exe().unwrap();
        let drop_cap =
            "setpriv --inh-caps=-ipc_lock --ambient-caps=-ipc_lock --bounding-set=-ipc_lock";
        // Without capabilities (not root) there is nothing to drop.
        let script = format!(
            "ulimit -l 64 && if grep -q '^CapEff:.*[1-9a-f]' /proc/self/status; \
             then exec {drop_cap} \"$0\" \"$@\"; else exec \"$0\" \"$@\"; fi"
        );
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .arg(me)
            .args([
                "--exact",
                "tests::uring_too_little_locked_memory_says_what_to_change",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
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
