//! Listeners: the [`Listener`] trait, and the TCP and Unix listeners every
//! adapter builds from its runtime's own listener and one [`Accept`] verb.

use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
#[cfg(unix)]
use std::net::{IpAddr, Ipv4Addr};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
#[cfg(unix)]
use std::os::fd::AsFd as AsSocket;
#[cfg(unix)]
use std::os::unix::net::UnixListener as StdUnixListener;
#[cfg(windows)]
use std::os::windows::io::AsSocket;

use futures_io::{AsyncRead, AsyncWrite};
use socket2::SockRef;

/// The address a Unix domain socket listener and its streams report: a Unix
/// socket has no IP address, so this is the unspecified `0.0.0.0:0`.
#[cfg(unix)]
pub const UNIX_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// A listener registered with a runtime: TCP, or a Unix domain socket.
pub trait Listener: Send + 'static {
    /// The stream type accepted connections come as.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Accepts the next connection and returns it with the peer's address.
    ///
    /// # Errors
    ///
    /// Returns the OS error of the failed `accept` (for example `EMFILE`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future before it completes loses no
    /// connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// Returns the address this listener is bound to.
    ///
    /// # Errors
    ///
    /// Returns the OS error if the address cannot be read.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Accepts a connection on a runtime's listener `L`: the one verb of a
/// listener that differs between runtimes (async-io's
/// `Async<TcpListener>::accept`, tokio's `TcpListener::accept`).
///
/// An adapter implements it on a marker type of its own, once per listener
/// type (orphan rules keep it off the runtime's listener itself), and names
/// its listeners [`TcpListener<L, A, S>`] and [`UnixListener<L, A, S>`] with
/// that marker as `A`.
pub trait Accept<L> {
    /// The accepted socket as the runtime returns it, with its peer's
    /// address.
    type Socket;
    /// The peer's address as the runtime reports it.
    type Peer;

    /// Accepts the next connection on `listener`.
    ///
    /// # Cancel safety
    ///
    /// The listener's [`Listener::accept`] is as cancel safe as this.
    fn accept(listener: &L) -> impl Future<Output = io::Result<(Self::Socket, Self::Peer)>> + Send;
}

/// Makes a std listener non-blocking, then registers it with `register`:
/// what a readiness reactor whose own registration leaves the listener
/// blocking (tokio's `from_std`, async-std's `From`) needs before
/// [`TcpListener::new`] or [`UnixListener::new`].
pub fn nonblocking<S: AsSocket, L>(
    register: impl FnOnce(S) -> io::Result<L>,
) -> impl FnOnce(S) -> io::Result<L> {
    move |listener| {
        SockRef::from(&listener).set_nonblocking(true)?;
        register(listener)
    }
}

/// A TCP listener: the runtime's listener `L`, accepting with `A`'s
/// [`Accept`] verb and yielding `S` streams with `TCP_NODELAY` set.
pub struct TcpListener<L, A, S> {
    listener: L,
    /// Read once at registration: a bound listener's address never changes.
    local_addr: SocketAddr,
    _accept: PhantomData<fn() -> (A, S)>,
}

impl<L, A, S> TcpListener<L, A, S> {
    /// Registers a bound, listening std listener with a runtime through
    /// `register` (async-io's `Async::new`, tokio's `from_std`).
    ///
    /// # Errors
    ///
    /// Returns the OS error if the listener's address cannot be read, or
    /// the error of `register`.
    pub fn new(
        listener: StdTcpListener,
        register: impl FnOnce(StdTcpListener) -> io::Result<L>,
    ) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener: register(listener)?,
            local_addr,
            _accept: PhantomData,
        })
    }

    /// Returns a shared reference to the runtime's listener.
    pub fn get_ref(&self) -> &L {
        &self.listener
    }
}

impl<L: fmt::Debug, A, S> fmt::Debug for TcpListener<L, A, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("listener", &self.listener)
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

impl<L, A, S> Listener for TcpListener<L, A, S>
where
    L: Send + Sync + 'static,
    A: Accept<L, Peer = SocketAddr> + 'static,
    A::Socket: AsSocket,
    S: From<A::Socket> + AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = S;

    async fn accept(&mut self) -> io::Result<(S, SocketAddr)> {
        let (socket, peer) = A::accept(&self.listener).await?;
        // A latency hint only: if the peer is already gone the first read
        // reports it, so this must not fail the accept loop.
        let _ = SockRef::from(&socket).set_tcp_nodelay(true);
        Ok((S::from(socket), peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// A Unix domain socket listener: the runtime's listener `L`, accepting
/// with `A`'s [`Accept`] verb and yielding `S` streams, whose peer is
/// [`UNIX_PEER`].
#[cfg(unix)]
pub struct UnixListener<L, A, S> {
    listener: L,
    _accept: PhantomData<fn() -> (A, S)>,
}

#[cfg(unix)]
impl<L, A, S> UnixListener<L, A, S> {
    /// Registers a bound, listening std Unix listener with a runtime
    /// through `register`.
    ///
    /// # Errors
    ///
    /// Returns the error of `register`.
    pub fn new(
        listener: StdUnixListener,
        register: impl FnOnce(StdUnixListener) -> io::Result<L>,
    ) -> io::Result<Self> {
        Ok(Self {
            listener: register(listener)?,
            _accept: PhantomData,
        })
    }

    /// Returns a shared reference to the runtime's listener.
    pub fn get_ref(&self) -> &L {
        &self.listener
    }
}

#[cfg(unix)]
impl<L: fmt::Debug, A, S> fmt::Debug for UnixListener<L, A, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("listener", &self.listener)
            .finish()
    }
}

#[cfg(unix)]
impl<L, A, S> Listener for UnixListener<L, A, S>
where
    L: Send + Sync + 'static,
    A: Accept<L> + 'static,
    S: From<A::Socket> + AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = S;

    async fn accept(&mut self) -> io::Result<(S, SocketAddr)> {
        let (socket, _) = A::accept(&self.listener).await?;
        Ok((S::from(socket), UNIX_PEER))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(UNIX_PEER)
    }
}
