//! smol adapter for tramline.
//!
//! - [`Smol`]: one `async-executor` run by a fixed number of threads (a
//!   *shared* [`tramline_rt::Runtime`]).
//! - [`SmolLocal`]: thread-per-core; `n` threads, each running an executor
//!   of its own with its own listener, so a connection's tasks never leave
//!   the thread that accepted it (a *per-core* runtime).
//!
//! I/O and timers are on `async-io`'s global reactor. Accepted
//! [`TcpStream`]s speak futures-io and have `TCP_NODELAY` set.
//!
//! ```
//! use std::time::Duration;
//! use tramline_rt::Runtime;
//! use tramline_smol::Smol;
//!
//! let rt = Smol::with_workers(1);
//! rt.block_on(rt.sleep(Duration::from_millis(1)));
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use smol::channel::Sender;
use smol::{Async, Executor, LocalExecutor, Timer};
use tramline_rt::{Accept, Runtime};

/// Runs `future` on the calling thread, which meanwhile runs `executor`'s
/// tasks too.
///
/// `future` runs as a task of its own (on a [`LocalExecutor`], as it need
/// not be `Send`), so it is polled only when its own waker fires. Polled
/// straight from `block_on`, it was polled on every wake of the thread: for
/// the accept loop, an `accept4` and an `epoll_ctl` per request.
fn block_on_task<F: Future>(executor: &Executor<'_>, future: F) -> F::Output {
    let root = LocalExecutor::new();
    let task = root.spawn(future);
    smol::block_on(executor.run(root.run(task)))
}

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
        Sleep::new(Timer::after(duration))
    }

    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        TcpListener::new(listener, Async::new)
    }

    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        UnixListener::new(listener, Async::new)
    }

    /// Runs `future` on the calling thread, which meanwhile also runs the
    /// executor's tasks.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on_task(&self.shared.executor, future)
    }

    /// Runs the executor's tasks in the awaiting task while `future` runs,
    /// so `run(..).await` under `smol::block_on` serves with no other thread.
    fn drive<F: Future + Send>(&self, future: F) -> impl Future<Output = F::Output> + Send {
        let executor = self.shared.executor.clone();
        async move { executor.run(future).await }
    }
}

/// Thread-per-core smol: `n` threads, each running an executor of its own.
///
/// [`Runtime::run`] starts the threads (named `tramline-smol-<i>`) and runs
/// worker `i` on thread `i`, under `smol::block_on`; tasks spawned by a
/// worker run on its thread only. The handle itself holds no threads, so
/// cloning is free.
///
/// Each worker's executor is an `async-executor` `Executor` that no other
/// thread runs: the same scheduler as a `LocalExecutor` (which is that
/// executor behind a `!Send` marker), but one that [`Runtime::drive`]'s
/// `Send` future may hold. Timers and sockets are on `async-io`'s global
/// reactor, so [`Runtime::sleep`] and [`Runtime::listener`] work on any
/// thread; a listener is accepted from on the thread that awaits it.
///
/// # Panics
///
/// [`Runtime::spawn`] acts on the calling thread's executor, so it panics
/// when called outside [`Runtime::run`], [`Runtime::block_on`] or
/// [`Runtime::drive`].
#[derive(Debug, Clone)]
pub struct SmolLocal {
    workers: usize,
}

impl SmolLocal {
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

thread_local! {
    /// The executor of the [`SmolLocal`] worker running on this thread.
    static LOCAL: RefCell<Option<Arc<Executor<'static>>>> = const { RefCell::new(None) };
}

/// Makes `executor` the calling thread's [`SmolLocal`] executor until
/// dropped, then puts back the one before (nested `block_on`, `drive`).
struct Enter(Option<Arc<Executor<'static>>>);

impl Enter {
    fn new(executor: &Arc<Executor<'static>>) -> Self {
        Self(LOCAL.with(|local| local.replace(Some(executor.clone()))))
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let previous = self.0.take();
        LOCAL.with(|local| *local.borrow_mut() = previous);
    }
}

/// Runs `future` on the calling thread as a [`SmolLocal`] worker with an
/// executor of its own.
fn run_worker<F: Future>(future: F) -> F::Output {
    let executor = Arc::new(Executor::new());
    let _enter = Enter::new(&executor);
    block_on_task(&executor, future)
}

impl Runtime for SmolLocal {
    type Stream = TcpStream;
    type Listener = TcpListener;
    type Sleep = Sleep;
    #[cfg(unix)]
    type UnixListener = UnixListener;

    /// Spawns `future` onto the calling thread's executor.
    ///
    /// # Panics
    ///
    /// Panics if the calling thread is not a worker: outside
    /// [`Runtime::run`], [`Runtime::block_on`] and [`Runtime::drive`].
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        LOCAL.with(|local| match &*local.borrow() {
            Some(executor) => executor.spawn(future).detach(),
            None => panic!(
                "SmolLocal::spawn called outside a worker: call it inside run, block_on or drive"
            ),
        });
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Sleep::new(Timer::after(duration))
    }

    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        TcpListener::new(listener, Async::new)
    }

    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        UnixListener::new(listener, Async::new)
    }

    /// Runs `future` on a fresh executor on the calling thread (for `main`
    /// and tests); tasks it spawns run there and are dropped when it
    /// returns.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        run_worker(future)
    }

    /// Runs the calling thread's executor (a new one if the thread is not a
    /// worker) while `future` runs, so `run(..).await` under
    /// `smol::block_on` serves on the calling thread.
    fn drive<F: Future + Send>(&self, future: F) -> impl Future<Output = F::Output> + Send {
        let executor = LOCAL
            .with(|local| local.borrow().clone())
            .unwrap_or_default();
        async move {
            let mut run = pin!(executor.run(future));
            // The tasks `future` spawns go to this executor from whichever
            // thread polls it.
            std::future::poll_fn(|cx| {
                let _enter = Enter::new(&executor);
                run.as_mut().poll(cx)
            })
            .await
        }
    }

    fn listeners(&self) -> usize {
        self.workers
    }

    fn run<W, Fut>(&self, worker: W) -> io::Result<()>
    where
        W: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        tramline_rt::run_per_core(self.workers, "tramline-smol", worker, |_, fut| {
            run_worker(fut)
        })
    }
}

/// The future returned by [`Runtime::sleep`] on [`Smol`] and [`SmolLocal`].
pub type Sleep = tramline_rt::Sleep<Timer>;

/// A stream accepted by [`Smol`] or [`SmolLocal`]: a std stream registered
/// with async-io's reactor, speaking the futures-io traits.
pub type Stream<T> = tramline_rt::Stream<Async<T>>;
/// A TCP stream accepted by [`Smol`] or [`SmolLocal`] (`TCP_NODELAY` set).
pub type TcpStream = Stream<StdTcpStream>;
/// A Unix domain socket stream accepted by [`Smol`] or [`SmolLocal`].
#[cfg(unix)]
pub type UnixStream = Stream<StdUnixStream>;

/// A TCP listener registered with smol's reactor (by [`Smol`] or
/// [`SmolLocal`]).
pub type TcpListener = tramline_rt::TcpListener<Async<StdTcpListener>, Net, TcpStream>;
/// A Unix domain socket listener registered with smol's reactor.
#[cfg(unix)]
pub type UnixListener = tramline_rt::UnixListener<Async<StdUnixListener>, Net, UnixStream>;

/// smol's accept verbs, async-io's, for [`TcpListener`] and
/// [`UnixListener`].
#[derive(Debug)]
pub enum Net {}

impl Accept<Async<StdTcpListener>> for Net {
    type Socket = Async<StdTcpStream>;
    type Peer = SocketAddr;

    fn accept(
        listener: &Async<StdTcpListener>,
    ) -> impl Future<Output = io::Result<(Self::Socket, SocketAddr)>> + Send {
        listener.accept()
    }
}

#[cfg(unix)]
impl Accept<Async<StdUnixListener>> for Net {
    type Socket = Async<StdUnixStream>;
    type Peer = std::os::unix::net::SocketAddr;

    fn accept(
        listener: &Async<StdUnixListener>,
    ) -> impl Future<Output = io::Result<(Self::Socket, Self::Peer)>> + Send {
        listener.accept()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tramline_rt::conformance::*;

    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::task::{Context, Poll};
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
        let on = runs_spawned_task(Smol::with_workers(1));
        assert_eq!(on, thread::current().id());
    }

    #[cfg(unix)]
    #[test]
    fn smol_echoes_over_a_unix_socket() {
        echoes_over_a_unix_socket(Smol::with_workers(1));
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

    /// Counts how often `inner` is polled.
    struct Counted<F> {
        polls: Arc<AtomicUsize>,
        inner: Pin<Box<F>>,
    }

    impl<F: Future> Future for Counted<F> {
        type Output = F::Output;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.polls.fetch_add(1, Ordering::Relaxed);
            self.inner.as_mut().poll(cx)
        }
    }

    /// While a spawned task wakes the thread 50 times, the future given to
    /// `block_on` (the accept loop, under `run`) is polled only when its own
    /// waker fires: once to start, once when the task is done.
    fn polls_the_block_on_future_only_when_woken<R: Runtime>(rt: R) {
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = Counted {
            polls: polls.clone(),
            inner: Box::pin(async {
                let (tx, rx) = smol::channel::bounded(1);
                let timer = rt.clone();
                rt.spawn(async move {
                    for _ in 0..50 {
                        timer.sleep(Duration::from_millis(1)).await;
                    }
                    tx.send(()).await.unwrap();
                });
                rx.recv().await.unwrap();
            }),
        };
        rt.block_on(counted);
        let polls = polls.load(Ordering::Relaxed);
        assert!(polls <= 3, "polled {polls} times");
    }

    #[test]
    fn smol_polls_the_block_on_future_only_when_woken() {
        polls_the_block_on_future_only_when_woken(Smol::with_workers(1));
    }

    #[test]
    fn smol_local_polls_the_block_on_future_only_when_woken() {
        polls_the_block_on_future_only_when_woken(SmolLocal::new(1));
    }

    #[test]
    fn smol_local_echoes_over_loopback() {
        let stream = echoes_over_loopback(SmolLocal::new(1));
        assert!(stream.get_ref().get_ref().nodelay().unwrap());
    }

    #[test]
    fn smol_local_sleep_waits_at_least_the_duration() {
        sleeps_at_least(SmolLocal::new(1));
    }

    #[test]
    fn smol_local_runs_spawned_tasks() {
        runs_spawned_task(SmolLocal::new(1));
    }

    #[test]
    #[should_panic(expected = "outside a worker")]
    fn smol_local_spawn_outside_a_worker_panics() {
        SmolLocal::new(1).spawn(async {});
    }

    #[test]
    fn smol_local_drive_runs_spawned_tasks_under_smol_block_on() {
        let rt = SmolLocal::new(1);
        let me = thread::current().id();
        let on = smol::block_on(rt.drive(async {
            let (tx, rx) = smol::channel::bounded(1);
            rt.spawn(async move { tx.send(thread::current().id()).await.unwrap() });
            rx.recv().await.unwrap()
        }));
        assert_eq!(on, me);
    }

    #[test]
    fn smol_local_runs_each_worker_on_its_own_thread() {
        runs_each_worker_on_its_own_thread(SmolLocal::new(2), "tramline-smol");
    }

    #[test]
    fn smol_local_workers_accept_on_their_own_listeners() {
        workers_accept_on_their_own_listeners(SmolLocal::new(2), "tramline-smol", |stream| {
            assert!(stream.get_ref().get_ref().nodelay()?);
            Ok(())
        });
    }

    #[cfg(unix)]
    #[test]
    fn smol_local_echoes_over_a_unix_socket() {
        echoes_over_a_unix_socket(SmolLocal::new(1));
    }

    #[test]
    fn smol_local_reports_a_worker_panic_as_an_error() {
        let err = SmolLocal::new(2)
            .run(|i| async move {
                assert!(i != 1, "worker 1 fails");
                Ok(())
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "worker 1 panicked");
    }
}
