//! The connection's stream and its buffers: reads appended to the read
//! buffer, responses written out of the write buffer within the
//! connection's write budget, and both buffers lent back to the thread's
//! pool while the connection idles.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, future};

use crate::proto::clock::{Budget, Clock};
// Reads of heads and small bodies go through the thread's scratch array
// and are copied into the read buffer: copying the bytes that arrived
// costs less than zeroing a large read window before every read (safe code
// cannot read into uninitialised memory).
use super::pool::{self, BUF_SIZE, Bufs, SCRATCH};
use crate::proto::Timer;

/// A connection's stream with the buffers it reads into and writes from.
pub(super) struct Io<I> {
    stream: I,
    /// Bytes read but not yet parsed; pipelined requests wait here.
    pub(super) read_buf: BytesMut,
    /// Encoded responses not yet written: flushed once per read batch.
    pub(super) write_buf: Vec<u8>,
    /// Both buffers are back in the pool (both fields are empty and
    /// unallocated): the connection is idle, or has not read yet.
    lent: bool,
    /// Time blocked writes may still take; `None` (full) until a write
    /// first blocks. It belongs to the connection, not to one response: a
    /// reader below the minimum rate gets no fresh allowance by asking for
    /// another response.
    write_budget: Option<Budget>,
}

impl<I> Drop for Io<I> {
    fn drop(&mut self) {
        // The next connection on this thread starts with these.
        if !self.lent {
            pool::give(Bufs {
                read: std::mem::take(&mut self.read_buf),
                write: std::mem::take(&mut self.write_buf),
            });
        }
    }
}

impl<I> Io<I> {
    /// Holds no buffers yet: they are taken from the pool when the first
    /// bytes arrive.
    pub(super) fn new(stream: I) -> Self {
        Self {
            stream,
            read_buf: BytesMut::new(),
            write_buf: Vec::new(),
            lent: true,
            write_budget: None,
        }
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io<I> {
    /// The connection after a `101`, for the upgrade: the bytes read past
    /// the head go with it, and the buffers go back to the pool (the
    /// upgraded stream reads and writes the socket directly).
    pub(super) fn hand_over(mut self) -> crate::proto::upgrade::Upgraded {
        let prefix = Bytes::copy_from_slice(&self.read_buf);
        if !self.lent {
            self.read_buf.clear();
            self.write_buf.clear();
            pool::give(Bufs {
                read: std::mem::take(&mut self.read_buf),
                write: std::mem::take(&mut self.write_buf),
            });
            self.lent = true;
        }
        crate::proto::upgrade::Upgraded::new(Passthrough(self), prefix)
    }
}

/// An `Io` whose buffers are spent: reads and writes go straight to the
/// stream.
struct Passthrough<I>(Io<I>);

impl<I: AsyncRead + Unpin> AsyncRead for Passthrough<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.stream).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Passthrough<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0.stream).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.stream).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.stream).poll_close(cx)
    }
}

impl<I: AsyncRead + AsyncWrite + Unpin> Io<I> {
    /// The idle connection's read: while nothing arrives its buffers are
    /// back in the pool; the bytes that come land in the thread's scratch
    /// array and are appended to a pair taken again.
    pub(super) fn poll_idle_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let read = self.poll_fill_small(cx, SCRATCH);
        if read.is_pending() && !self.lent {
            // Idle, so both buffers are empty: the caller flushed the
            // responses and the previous request left no bytes.
            pool::give(Bufs {
                read: std::mem::take(&mut self.read_buf),
                write: std::mem::take(&mut self.write_buf),
            });
            self.lent = true;
        }
        read
    }

    /// One read of at most `max <= SCRATCH` bytes through the thread's
    /// scratch array, appended to the read buffer (taken from the pool
    /// first if the connection lent its buffers).
    fn poll_fill_small(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<io::Result<usize>> {
        let Self {
            stream,
            read_buf,
            write_buf,
            lent,
            ..
        } = self;
        pool::with_scratch(|scratch| {
            let read = Pin::new(&mut *stream).poll_read(cx, &mut scratch[..max]);
            if let Poll::Ready(Ok(n)) = read {
                if n > 0 && *lent {
                    let bufs = pool::take();
                    *read_buf = bufs.read;
                    *write_buf = bufs.write;
                    *lent = false;
                }
                read_buf.extend_from_slice(&scratch[..n]);
            }
            read
        })
    }

    /// One read whose bytes are dropped, for lingering after an error
    /// response. The bytes land in the thread's scratch array, lent per
    /// poll, so the connection's future holds no array of its own for this.
    pub(super) fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        pool::with_scratch(|scratch| Pin::new(&mut self.stream).poll_read(cx, scratch))
    }

    /// Reads once, asking for at most `max` bytes, and appends what came to
    /// the read buffer. Returns the number read; 0 is EOF.
    ///
    /// Cancel safe: if the future is dropped mid-read, the buffer is left as
    /// it was.
    pub(super) async fn fill(&mut self, max: usize) -> io::Result<usize> {
        if max <= SCRATCH {
            return future::poll_fn(|cx| self.poll_fill_small(cx, max)).await;
        }
        let len = self.read_buf.len();
        if self.read_buf.capacity() - len < BUF_SIZE / 2 {
            self.read_buf.reserve(BUF_SIZE);
        }
        let end = self.read_buf.capacity().min(len + max);
        let mut spare = Spare::new(&mut self.read_buf, len, end);
        let n = self.stream.read(spare.slice()).await?;
        spare.keep(n);
        Ok(n)
    }

    /// Writes out the pending responses, within the connection's write
    /// budget.
    pub(super) async fn flush<T: Timer>(&mut self, clock: &mut Clock<'_, T>) -> io::Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.write_buf);
        let result = self.write_timed(&buf, clock).await;
        self.write_buf = buf;
        self.write_buf.clear();
        result
    }

    /// Writes all of `bytes` and flushes. While the client does not take
    /// them, the wait is spent from the connection's write budget, and
    /// every byte it takes earns some back; the write fails once the
    /// budget is gone.
    pub(super) async fn write_timed<T: Timer>(
        &mut self,
        bytes: &[u8],
        clock: &mut Clock<'_, T>,
    ) -> io::Result<()> {
        let Self {
            stream,
            write_budget,
            ..
        } = self;
        let mut written = 0;
        // Most writes complete at once: they read no clock, arm no deadline
        // and, with the budget full, do no arithmetic.
        let first = future::poll_fn(|cx| poll_write_all(stream, bytes, &mut written, cx));
        if let Some(done) = future::poll_once(first).await {
            if let Some(budget) = write_budget {
                budget.earn(written);
            }
            return done;
        }
        // Blocked: go on in steps that each end when the client has taken
        // some bytes, each within what is left of the budget.
        let write_budget = write_budget.get_or_insert_with(|| {
            Budget::full(clock.config.write_timeout, clock.config.min_write_rate)
        });
        write_budget.earn(written);
        let mut since = Instant::now();
        loop {
            let credited = written;
            clock.start_at(since, write_budget.left());
            let step =
                future::poll_fn(|cx| match poll_write_all(stream, bytes, &mut written, cx) {
                    Poll::Ready(done) => Poll::Ready(Some(done)),
                    Poll::Pending if written > credited => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                });
            let Some(step) = clock.limit(step).await else {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out"));
            };
            let now = Instant::now();
            write_budget.spend(now - since);
            write_budget.earn(written - credited);
            if let Some(done) = step {
                return done;
            }
            since = now;
        }
    }

    /// Flushes pending responses and closes the write side.
    pub(super) async fn close<T: Timer>(&mut self, clock: &mut Clock<'_, T>) -> io::Result<()> {
        self.flush(clock).await?;
        self.stream.close().await
    }
}

/// Writes `bytes[*written..]` to `io`, counting progress in `written`
/// (kept across polls, so progress shows between them), then flushes.
fn poll_write_all<I: AsyncWrite + Unpin>(
    io: &mut I,
    bytes: &[u8],
    written: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while *written < bytes.len() {
        match Pin::new(&mut *io).poll_write(cx, &bytes[*written..]) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => *written += n,
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Pin::new(io).poll_flush(cx)
}

/// The spare capacity of a read buffer, zeroed and exposed for one read;
/// anything not kept is cut off again on drop, so a cancelled read leaves
/// the buffer as it was.
struct Spare<'a> {
    buf: &'a mut BytesMut,
    len: usize,
}

impl<'a> Spare<'a> {
    fn new(buf: &'a mut BytesMut, len: usize, end: usize) -> Self {
        buf.resize(end, 0);
        Self { buf, len }
    }

    fn slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    fn keep(&mut self, n: usize) {
        self.len += n;
    }
}

impl Drop for Spare<'_> {
    fn drop(&mut self) {
        self.buf.truncate(self.len);
    }
}
