//! The write-stall watch: how long the socket has refused every write, so
//! the connection can close a peer that stopped reading (h2 has no write
//! timeout of its own). It wraps the stream below h2's io traits, and is
//! engine policy, so it lives with the engine.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncWrite};

/// A stream whose writes report to a [`Stall`].
#[derive(Debug)]
pub(super) struct Watched<I> {
    io: I,
    stall: Arc<Stall>,
}

impl<I> Watched<I> {
    /// Wraps `io`; its writes report stalls to `stall`.
    pub(super) fn new(io: I, stall: Arc<Stall>) -> Self {
        Self { io, stall }
    }
}

/// Since when the stream has refused every write: set by a write that
/// returned `Pending`, cleared by one that took bytes.
#[derive(Debug)]
pub(super) struct Stall {
    epoch: Instant,
    /// Nanoseconds since `epoch` plus one when the stall began; 0 when the
    /// last write went through.
    since: AtomicU64,
}

impl Stall {
    /// No stall yet.
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            since: AtomicU64::new(0),
        }
    }

    /// When the current stall began, if writes are stalled.
    pub(super) fn since(&self) -> Option<Instant> {
        match self.since.load(Ordering::Relaxed) {
            0 => None,
            n => Some(self.epoch + Duration::from_nanos(n - 1)),
        }
    }

    fn blocked(&self) {
        if self.since.load(Ordering::Relaxed) == 0 {
            let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
            self.since.store(nanos + 1, Ordering::Relaxed);
        }
    }

    fn moved(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    fn outcome<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match &poll {
            Poll::Pending => self.blocked(),
            Poll::Ready(_) => self.moved(),
        }
        poll
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.stall.outcome(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.stall.outcome(poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.stall.outcome(poll)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::AsyncWriteExt;
    use futures_lite::future::block_on;

    #[test]
    fn a_refused_write_starts_a_stall_and_a_taken_one_ends_it() {
        let stall = Stall::new();
        stall.blocked();
        let began = stall.since().unwrap();
        stall.blocked();
        assert_eq!(stall.since(), Some(began), "a stall keeps its start");
        stall.moved();
        assert!(stall.since().is_none());
    }

    #[test]
    fn writes_pass_through_and_a_taken_write_clears_the_stall() {
        let stall = Arc::new(Stall::new());
        stall.blocked();
        let mut watched = Watched::new(futures_lite::io::Cursor::new(Vec::new()), stall.clone());
        block_on(watched.write_all(b"hello")).unwrap();
        assert_eq!(watched.io.get_ref(), b"hello");
        assert!(stall.since().is_none());
    }
}
