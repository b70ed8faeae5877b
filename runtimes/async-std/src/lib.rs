//! async-std adapter for tramline.
//!
//! [`AsyncStd`] is a *shared* [`tramline_rt::Runtime`] over async-std's
//! global executor (`async-global-executor`) and reactor (`async-io`).
//! Accepted [`TcpStream`]s speak futures-io and have `TCP_NODELAY` set.
//!
//! async-std is discontinued upstream; this adapter lets existing async-std
//! applications serve with tramline unchanged.
//!
//! ```
//! use std::time::Duration;
//! use tramline_rt::Runtime;
//! use tramline_async_std::AsyncStd;
//!
//! let rt = AsyncStd::with_workers(1);
//! rt.block_on(rt.sleep(Duration::from_millis(1)));
//! ```

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
#[cfg(unix)]
use std::os::unix::net::UnixListener as StdUnixListener;
use std::time::Duration;

use async_global_executor::GlobalExecutorConfig;
use async_io::Timer;
use async_std::net as std_net;
#[cfg(unix)]
use async_std::os::unix::net as unix_net;
use tramline_rt::{Accept, Runtime, nonblocking};

/// async-std's global executor, as a tramline runtime.
///
/// The executor is process-wide, so its thread count is too: the first
/// constructor called in the process fixes it, and only if nothing ran on
/// async-std before (async-std sizes the pool on its first `spawn` or
/// `block_on`). Later constructors, whatever their `workers`, share that
/// pool. The `ASYNC_GLOBAL_EXECUTOR_THREADS` environment variable, if set,
/// overrides the count; async-std's own `ASYNC_STD_THREAD_COUNT` is ignored
/// once this type configured the pool.
///
/// [`Runtime::block_on`] drives its future on the calling thread (the accept
/// loop, under [`Runtime::run`]); spawned tasks run on the pool's threads.
#[derive(Debug, Clone)]
pub struct AsyncStd {
    _private: (),
}

impl AsyncStd {
    /// Returns a handle to the global executor, sizing it (if not yet
    /// started) to one thread per available CPU.
    ///
    /// # Panics
    ///
    /// Panics if the OS refuses to start a thread.
    pub fn new() -> Self {
        Self::with_workers(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// Returns a handle to the global executor, sizing it (if not yet
    /// started) to exactly `workers` threads.
    ///
    /// # Panics
    ///
    /// Panics if `workers` is 0 or the OS refuses to start a thread.
    pub fn with_workers(workers: usize) -> Self {
        assert!(
            workers > 0,
            "an async-std runtime needs at least one worker"
        );
        async_global_executor::init_with_config(
            GlobalExecutorConfig::default()
                .with_min_threads(workers)
                .with_max_threads(workers)
                .with_thread_name_fn(|| "tramline-async-std".to_owned()),
        );
        Self { _private: () }
    }
}

impl Default for AsyncStd {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime for AsyncStd {
    type Stream = TcpStream;
    type Listener = TcpListener;
    type Sleep = Sleep;
    #[cfg(unix)]
    type UnixListener = UnixListener;

    /// Spawns `future` onto the global executor; works from any thread.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Dropping an async-std JoinHandle detaches the task; it keeps running.
        drop(async_std::task::spawn(future));
    }

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Sleep::new(Timer::after(duration))
    }

    /// Registers `listener` with async-std's reactor.
    ///
    /// # Errors
    ///
    /// Returns the OS error if the listener cannot be made non-blocking.
    ///
    /// # Panics
    ///
    /// async-std panics if its reactor refuses the listener (for example,
    /// out of epoll watches): its `From` conversion has no error path.
    fn listener(&self, listener: StdTcpListener) -> io::Result<Self::Listener> {
        TcpListener::new(listener, nonblocking(|l: StdTcpListener| Ok(l.into())))
    }

    /// Registers `listener` with async-std's reactor.
    ///
    /// # Errors
    ///
    /// Returns the OS error if the listener cannot be made non-blocking.
    ///
    /// # Panics
    ///
    /// As [`Runtime::listener`]: async-std's conversion has no error path.
    #[cfg(unix)]
    fn unix_listener(&self, listener: StdUnixListener) -> io::Result<Self::UnixListener> {
        UnixListener::new(listener, nonblocking(|l: StdUnixListener| Ok(l.into())))
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_std::task::block_on(future)
    }
}

/// The future returned by [`Runtime::sleep`] on [`AsyncStd`].
pub type Sleep = tramline_rt::Sleep<Timer>;

/// A stream accepted by [`AsyncStd`], speaking the futures-io traits.
pub type Stream<T> = tramline_rt::Stream<T>;
/// A TCP stream accepted by [`AsyncStd`] (`TCP_NODELAY` set).
pub type TcpStream = Stream<std_net::TcpStream>;
/// A Unix domain socket stream accepted by [`AsyncStd`].
#[cfg(unix)]
pub type UnixStream = Stream<unix_net::UnixStream>;

/// A TCP listener registered with async-std's reactor.
pub type TcpListener = tramline_rt::TcpListener<std_net::TcpListener, Net, TcpStream>;
/// A Unix domain socket listener registered with async-std's reactor.
#[cfg(unix)]
pub type UnixListener = tramline_rt::UnixListener<unix_net::UnixListener, Net, UnixStream>;

/// async-std's accept verbs, for [`TcpListener`] and [`UnixListener`].
#[derive(Debug)]
pub enum Net {}

impl Accept<std_net::TcpListener> for Net {
    type Socket = std_net::TcpStream;
    type Peer = SocketAddr;

    fn accept(
        listener: &std_net::TcpListener,
    ) -> impl Future<Output = io::Result<(Self::Socket, SocketAddr)>> + Send {
        listener.accept()
    }
}

#[cfg(unix)]
impl Accept<unix_net::UnixListener> for Net {
    type Socket = unix_net::UnixStream;
    type Peer = unix_net::SocketAddr;

    fn accept(
        listener: &unix_net::UnixListener,
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
    fn async_std_echoes_over_loopback() {
        let stream = echoes_over_loopback(AsyncStd::with_workers(2));
        assert!(stream.get_ref().nodelay().unwrap());
    }

    #[test]
    fn async_std_sleep_waits_at_least_the_duration() {
        sleeps_at_least(AsyncStd::with_workers(2));
    }

    #[test]
    fn async_std_runs_spawned_tasks() {
        runs_spawned_task(AsyncStd::with_workers(2));
    }

    #[cfg(unix)]
    #[test]
    fn async_std_echoes_over_a_unix_socket() {
        echoes_over_a_unix_socket(AsyncStd::with_workers(2));
    }

    #[test]
    fn async_std_detached_tasks_run_on_the_configured_pool() {
        let rt = AsyncStd::with_workers(2);
        let (tx, rx) = mpsc::channel();
        // Outside any block_on: `spawn` drops the JoinHandle at once, and the
        // task must still run to completion.
        rt.spawn(async move {
            async_io::Timer::after(Duration::from_millis(20)).await;
            tx.send(thread::current().name().map(str::to_owned))
                .unwrap();
        });
        let name = rx.recv_timeout(LIMIT).unwrap();
        assert_eq!(name.as_deref(), Some("tramline-async-std"));
    }
}
