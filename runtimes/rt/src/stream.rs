//! A futures-io stream over a readiness-based runtime's socket.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
#[cfg(unix)]
use std::os::fd::AsFd as AsSocket;
#[cfg(windows)]
use std::os::windows::io::AsSocket;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use socket2::SockRef;

/// A connected socket of a runtime whose own futures-io `poll_close` only
/// flushes (async-io's `Async`, async-std's streams), made to shut down its
/// write half on close as [`Runtime::Stream`](crate::Runtime::Stream) asks.
///
/// Everything else is passed through to the socket, so the wrapper costs
/// nothing per read or write.
#[derive(Debug)]
pub struct Stream<T>(T);

impl<T> Stream<T> {
    /// Wraps a connected socket.
    pub fn new(socket: T) -> Self {
        Self(socket)
    }

    /// Returns a shared reference to the socket.
    pub fn get_ref(&self) -> &T {
        &self.0
    }

    /// Returns the socket.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Stream<T> {
    fn from(socket: T) -> Self {
        Self(socket)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Stream<T> {
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

impl<T: AsyncWrite + AsSocket + Unpin> AsyncWrite for Stream<T> {
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
        // The socket's own poll_close only flushes; shut down like tokio does
        // so that `close` means the same on every runtime.
        ready!(Pin::new(&mut self.0).poll_flush(cx))?;
        Poll::Ready(SockRef::from(&self.0).shutdown(Shutdown::Write))
    }
}
