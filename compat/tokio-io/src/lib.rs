//! tokio's io traits over a futures-io stream, for crates written against
//! tokio's: the h2 crate behind tramline's HTTP/2 engine (and, later,
//! others of its kind).
//!
//! It is a crate of its own so that tramline's own code names no runtime
//! crate; tokio is built without default features, so no runtime comes with
//! it. It is not a runtime adapter either: it runs on every runtime, and
//! holds no engine policy (the HTTP/2 engine's write-stall watch wraps the
//! stream below it). It only bridges the traits, at the cost of the bytes
//! each read copies (see `SCRATCH_BUF`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use tokio::io::{AsyncRead as TokioRead, AsyncWrite as TokioWrite, ReadBuf};

/// A futures-io stream seen through tokio's io traits.
#[derive(Debug)]
pub struct Compat<I> {
    io: I,
}

impl<I> Compat<I> {
    /// Wraps `io`.
    pub fn new(io: I) -> Self {
        Self { io }
    }

    /// Returns the wrapped stream.
    pub fn get_ref(&self) -> &I {
        &self.io
    }
}

/// The most one read takes: h2's largest frame by default (16 KiB) and its
/// head.
const SCRATCH: usize = 16 * 1024 + 9;

thread_local! {
    /// Zeroed once per thread, and read into by every connection on it.
    /// tokio hands each read a fresh view of its buffer's spare capacity,
    /// as uninitialised memory; futures-io reads need initialised bytes.
    /// Zeroing the whole spare capacity before every read (a read that
    /// finds nothing included) cost about 19,000 instructions per h2
    /// request; copying out the bytes a read got costs their length.
    static SCRATCH_BUF: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; SCRATCH].into_boxed_slice());
}

impl<I: AsyncRead + Unpin> TokioRead for Compat<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let io = &mut self.io;
        SCRATCH_BUF.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                let len = buf.remaining().min(scratch.len());
                let poll = Pin::new(io).poll_read(cx, &mut scratch[..len]);
                if let Poll::Ready(Ok(n)) = poll {
                    buf.put_slice(&scratch[..n.min(len)]);
                }
                poll.map_ok(|_| ())
            }
            // A read from inside a read on this thread (not done by any
            // stream tramline makes): straight into the buffer.
            Err(_) => {
                let poll = Pin::new(io).poll_read(cx, buf.initialize_unfilled());
                if let Poll::Ready(Ok(n)) = poll {
                    buf.advance(n);
                }
                poll.map_ok(|_| ())
            }
        })
    }
}

impl<I: AsyncWrite + Unpin> TokioWrite for Compat<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // futures-io has no way to ask; every stream takes vectored writes
        // (the default writes the first slice), and h2 sends a frame head
        // and its payload as two.
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use std::future::poll_fn;

    #[test]
    fn reads_and_writes_pass_through() {
        let io = futures_lite::io::Cursor::new(b"hello".to_vec());
        let mut compat = Compat::new(io);
        let mut storage = [0u8; 8];
        let mut buf = ReadBuf::new(&mut storage);
        block_on(poll_fn(|cx| Pin::new(&mut compat).poll_read(cx, &mut buf))).unwrap();
        assert_eq!(buf.filled(), b"hello");
        let n = block_on(poll_fn(|cx| Pin::new(&mut compat).poll_write(cx, b"!"))).unwrap();
        assert_eq!(n, 1);
        assert_eq!(compat.io.get_ref(), b"hello!");
    }

    #[test]
    fn reads_into_uninitialised_memory_in_scratch_sized_steps() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let mut compat = Compat::new(futures_lite::io::Cursor::new(data.clone()));
        let mut storage = vec![std::mem::MaybeUninit::<u8>::uninit(); 50_000];
        let mut buf = ReadBuf::uninit(&mut storage);
        let mut reads = Vec::new();
        loop {
            let before = buf.filled().len();
            block_on(poll_fn(|cx| Pin::new(&mut compat).poll_read(cx, &mut buf))).unwrap();
            let got = buf.filled().len() - before;
            if got == 0 {
                break;
            }
            reads.push(got);
        }
        assert_eq!(buf.filled(), &data[..]);
        assert_eq!(reads, [SCRATCH, SCRATCH, 40_000 - 2 * SCRATCH]);
    }
}
