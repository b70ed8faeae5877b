//! The runtime trait behind tramline.
//!
//! tramline's HTTP engine and router never name an async runtime. Everything
//! they need from one (spawning tasks, sleeping, accepting TCP streams, and
//! blocking a thread on a future) goes through [`Runtime`], which each adapter
//! crate (`tramline-tokio`, `tramline-smol`, `tramline-async-std`) implements
//! in a few hundred lines.
//!
//! The engine is generic over `R: Runtime`, so the stream, listener and sleep
//! types are the adapter's own concrete types: nothing on the per-connection
//! path is boxed.
//!
//! # Shared and per-core runtimes
//!
//! A runtime runs a server in one of two shapes, told by
//! [`Runtime::listeners`]:
//!
//! - **shared** (`listeners() == 1`): one listener, one accept loop, and the
//!   runtime's own scheduler spreads connections over its threads (tokio's
//!   work stealing, async-executor's shared queue);
//! - **per-core** (`listeners() == n > 1`): `n` independent single-threaded
//!   workers, each with its own listener on the same address (`SO_REUSEPORT`),
//!   so the kernel spreads connections and no task ever moves between threads.
//!
//! The server binds the listeners, then calls [`Runtime::run`], which runs the
//! worker future for each listener index on the thread that owns it.
//!
//! # Writing an adapter
//!
//! The socket glue is written here once, generically, as async-io writes
//! `Async<T>` once for every socket type: [`Stream`] makes a futures-io
//! socket send FIN on close; [`TcpListener`] and [`UnixListener`] wrap a
//! runtime's listener and accept through its [`Accept`] verb, setting
//! `TCP_NODELAY` and reporting [`UNIX_PEER`]; [`Sleep`] wraps its timer.
//! An adapter keeps only what names its runtime: the executor, how a
//! listener is registered and accepted from, and, for a runtime that does
//! not speak futures-io, the bridge to it.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::io;
use std::net::TcpListener as StdTcpListener;
use std::time::Duration;

pub use futures_io::{AsyncRead, AsyncWrite};

pub use listener::{Accept, Listener, TcpListener, nonblocking};
#[cfg(unix)]
pub use listener::{UNIX_PEER, UnixListener};
pub use sleep::Sleep;
pub use stream::Stream;

mod listener;
mod sleep;
mod stream;

#[cfg(feature = "completion")]
#[cfg_attr(docsrs, doc(cfg(feature = "completion")))]
pub mod completion;
#[cfg(feature = "__conformance")]
#[doc(hidden)]
pub mod conformance;

/// An async runtime that can serve tramline applications.
///
/// Implementations are cheap handles (`Clone`) to a runtime that may be shared
/// by many threads.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP stream.
    ///
    /// `poll_close` must shut down the write half (send FIN), so a client
    /// reading to end of stream sees the response end.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A TCP listener that accepts [`Runtime::Stream`]s.
    type Listener: Listener<Stream = Self::Stream>;
    /// The future returned by [`Runtime::sleep`].
    type Sleep: Future<Output = ()> + Send + 'static;
    /// A Unix domain socket listener. Its streams report the unspecified
    /// address `0.0.0.0:0` as their peer, as a Unix socket has no IP peer.
    #[cfg(unix)]
    type UnixListener: Listener;

    /// Spawns a task that runs `future` to completion in the background.
    ///
    /// Called from inside [`Runtime::run`] or [`Runtime::block_on`], the task
    /// runs on that runtime (on a per-core runtime: on the calling worker).
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Returns a future that completes after `duration`.
    ///
    /// Call it from inside [`Runtime::run`] or [`Runtime::block_on`]: a
    /// per-core runtime's timers belong to the calling worker.
    fn sleep(&self, duration: Duration) -> Self::Sleep;

    /// Registers a bound, listening std listener with the runtime's reactor.
    ///
    /// Called from inside [`Runtime::run`], on the thread that will accept
    /// from it.
    ///
    /// # Errors
    ///
    /// Returns the reactor's error if the listener cannot be registered.
    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener>;

    /// Registers a bound, listening std Unix domain socket listener with the
    /// runtime's reactor.
    ///
    /// Called from inside [`Runtime::run`] or [`Runtime::drive`], on the
    /// thread that will accept from it.
    ///
    /// # Errors
    ///
    /// Returns the reactor's error if the listener cannot be registered.
    #[cfg(unix)]
    fn unix_listener(
        &self,
        listener: std::os::unix::net::UnixListener,
    ) -> io::Result<Self::UnixListener>;

    /// Runs `future` to completion on this runtime, blocking the calling
    /// thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Drives `future` from inside an async context (a `#[tokio::main]`,
    /// `smol::block_on` or `async_std::main` program), so that the tasks it
    /// spawns on this runtime make progress while it is awaited.
    ///
    /// The default returns `future` itself, for runtimes whose tasks run on
    /// their own threads or on the caller's runtime. A runtime whose executor
    /// only runs while some thread drives it (smol's) runs it here.
    fn drive<F: Future + Send>(&self, future: F) -> impl Future<Output = F::Output> + Send {
        future
    }

    /// Returns how many listeners (and so independent workers) the server
    /// should bind: `1` for a shared runtime, `n` for `n` per-core workers.
    fn listeners(&self) -> usize {
        1
    }

    /// Runs `worker(i)` for every listener index `i` in `0..self.listeners()`
    /// and blocks until all of them have finished.
    ///
    /// A shared runtime (the default) runs `worker(0)` with
    /// [`Runtime::block_on`]. A per-core runtime starts one single-threaded
    /// executor per index, each on its own thread, and runs that index's
    /// worker there. Returns the first error a worker returned.
    ///
    /// # Errors
    ///
    /// Returns the first error any worker returned, or an error if a worker
    /// thread could not be started or panicked.
    fn run<W, Fut>(&self, worker: W) -> io::Result<()>
    where
        W: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        self.block_on(worker(0))
    }
}

/// Runs `worker(i)` on `n` threads, each driving its own single-threaded
/// executor through `block_on`, and waits for them all.
///
/// Per-core adapters build [`Runtime::run`] from this: `block_on` receives
/// the worker index and the worker's future and drives it on the new thread.
///
/// # Errors
///
/// Returns the first worker error, or an error naming the worker that could
/// not be spawned or that panicked.
pub fn run_per_core<W, Fut, B>(n: usize, name: &str, worker: W, block_on: B) -> io::Result<()>
where
    W: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
    B: Fn(usize, Fut) -> io::Result<()> + Send + Sync + 'static,
{
    let shared = std::sync::Arc::new((worker, block_on));
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                let (worker, block_on) = &*shared;
                block_on(i, worker(i))
            })?;
        handles.push(handle);
    }
    let mut result = Ok(());
    for (i, handle) in handles.into_iter().enumerate() {
        let outcome = handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other(format!("worker {i} panicked"))));
        if result.is_ok() {
            result = outcome;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_core_runs_every_index_and_reports_the_first_error() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let result = run_per_core(
            3,
            "t",
            move |i| {
                let log = log.clone();
                async move {
                    log.lock().unwrap().push(i);
                    if i == 2 {
                        Err(io::Error::other("two"))
                    } else {
                        Ok(())
                    }
                }
            },
            |_, fut| futures_lite_block_on(fut),
        );
        assert_eq!(result.unwrap_err().to_string(), "two");
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2]);
    }

    #[test]
    fn per_core_turns_a_worker_panic_into_an_error() {
        let result = run_per_core(
            2,
            "t",
            |i| async move {
                assert!(i != 1, "boom");
                Ok(())
            },
            |_, fut| futures_lite_block_on(fut),
        );
        assert_eq!(result.unwrap_err().to_string(), "worker 1 panicked");
    }

    /// A minimal block_on for futures that never return Pending.
    fn futures_lite_block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("test future pended"),
        }
    }
}
