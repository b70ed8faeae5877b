//! A futures-io stream over a completion-based socket (io_uring).
//!
//! A completion-based runtime hands a buffer to the kernel with each
//! operation and gets it back when the operation completes; the engine
//! speaks futures-io, which lends a buffer only for one poll. [`Stream`]
//! bridges the two with buffers it owns: one for reads (8 KiB), and two for
//! writes, one the kernel is sending while the other takes what the engine
//! writes meanwhile (a write buffer that a big write grew past 16 KiB is
//! freed once sent, so an idle connection holds little). An adapter implements [`Completion`] for its socket
//! (three operations, each a nameable future) and gets a
//! [`Runtime::Stream`](crate::Runtime::Stream).
//!
//! Behind the `completion` feature: readiness-based runtimes do not compile
//! it and pay nothing for it.
//!
//! # Semantics, as close to a kernel socket as owned buffers allow
//!
//! - **Write-through.** A write copies into the write buffer and submits its
//!   send at once; it returns `Pending` only when the buffer is full
//!   ([`WRITE_BUFFER`]) while a send is in flight, like a full socket send
//!   buffer. A vectored write takes every slice that fits, so a caller that
//!   writes once and gives up (rustls's last alert) loses nothing.
//! - **Flush** waits until everything written has been handed to the kernel,
//!   as `write(2)` returning does: a send still in flight is not waited for,
//!   so a response and the next receive go to the ring together.
//!   Its error, if any, is reported by the next write, flush or close.
//! - **Close** waits for every send to complete, then shuts the write half
//!   down (FIN).
//! - **Drop** with bytes still to send hands them, the socket and its
//!   shutdown to [`Completion::linger`], so the peer gets them, as it would
//!   from a kernel socket's send buffer.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use futures_io::{AsyncRead, AsyncWrite};

/// Bytes each read hands the kernel.
pub const READ_BUFFER: usize = 8 * 1024;

/// The most a stream takes from writes while a send is in flight.
pub const WRITE_BUFFER: usize = 64 * 1024;

/// The biggest write buffer a stream keeps for reuse once it is sent.
const KEEP: usize = 16 * 1024;

/// A completion-based socket: three operations that each own their buffer
/// until the kernel is done with it.
///
/// Each future must be cancel safe the completion way: dropping it before
/// it completes cancels the operation and keeps the buffer alive until the
/// kernel lets go of it (compio's and monoio's operation futures do).
pub trait Completion: Clone + Unpin + 'static {
    /// The future of [`recv`](Self::recv).
    type Recv: Future<Output = (io::Result<usize>, Box<[u8]>)> + Unpin;
    /// The future of [`send`](Self::send).
    type Send: Future<Output = (io::Result<usize>, Vec<u8>)> + Unpin;
    /// The future of [`shutdown`](Self::shutdown).
    type Shutdown: Future<Output = io::Result<()>> + Unpin;

    /// Receives into `buf` from its start: resolves to the count received
    /// (0 at end of stream) and the buffer.
    fn recv(&self, buf: Box<[u8]>) -> Self::Recv;

    /// Sends from `buf` (all of it, or a prefix): resolves to the count sent
    /// and the buffer.
    fn send(&self, buf: Vec<u8>) -> Self::Send;

    /// Shuts the write half down (sends FIN).
    fn shutdown(&self) -> Self::Shutdown;

    /// Runs `rest` (what a dropped stream still had to send, then its
    /// shutdown) after the stream is gone. An adapter spawns it on the
    /// socket's executor, bounded in time; the default drops it, which
    /// closes the socket without sending.
    fn linger(&self, rest: Linger<Self>) {
        drop(rest);
    }
}

/// A futures-io stream over a [`Completion`] socket; see the
/// [module docs](self).
pub struct Stream<C: Completion> {
    read: Reader<C>,
    write: Writer<C>,
}

impl<C: Completion> std::fmt::Debug for Stream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("buffered", &self.read.buffered())
            .field("unsent", &self.write.pending.len())
            .field("sending", &self.write.sending.is_some())
            .finish()
    }
}

enum ReadState<C: Completion> {
    /// The buffer is ours; `buf[start..end]` is received and not yet read.
    Idle {
        buf: Box<[u8]>,
        start: usize,
        end: usize,
    },
    /// The kernel holds the buffer.
    Receiving(C::Recv),
}

struct Reader<C: Completion> {
    io: C,
    state: ReadState<C>,
}

impl<C: Completion> Reader<C> {
    fn buffered(&self) -> usize {
        match &self.state {
            ReadState::Idle { start, end, .. } => end - start,
            ReadState::Receiving(_) => 0,
        }
    }
}

struct Writer<C: Completion> {
    io: C,
    /// Written, not yet handed to the kernel.
    pending: Vec<u8>,
    /// The send in flight; its buffer comes back when it completes.
    sending: Option<C::Send>,
    /// The other buffer, empty, kept for the next send.
    spare: Vec<u8>,
    /// A send's error, for the next write, flush or close.
    error: Option<io::Error>,
    /// A writer waiting for room, woken when a read completes a send.
    waiting: Option<Waker>,
    shutdown: Option<C::Shutdown>,
}

impl<C: Completion> From<C> for Stream<C> {
    fn from(io: C) -> Self {
        Self::new(io)
    }
}

impl<C: Completion> Stream<C> {
    /// Wraps a connected socket.
    pub fn new(io: C) -> Self {
        Self {
            read: Reader {
                io: io.clone(),
                state: ReadState::Idle {
                    buf: Box::default(),
                    start: 0,
                    end: 0,
                },
            },
            write: Writer::new(io),
        }
    }

    /// Returns the socket.
    pub fn get_ref(&self) -> &C {
        &self.write.io
    }

    /// Hands the kernel what a writer left pending behind a send in flight,
    /// for a read that is about to wait or that finds a writer waiting for
    /// room (on another task). The send is polled with the waiting writer's
    /// waker if there is one, so its wake stays with it, else with the
    /// reader's: a task that wrote and now waits to read gets the rest sent
    /// when the send completes.
    fn send_for_writer(&mut self, cx: &mut Context<'_>) {
        let w = &mut self.write;
        if w.pending.is_empty() || w.error.is_some() {
            return;
        }
        let before = w.pending.len();
        let res = match w.waiting.clone() {
            Some(waker) => w.progress(&mut Context::from_waker(&waker)),
            None => w.progress(cx),
        };
        if let Err(e) = res {
            w.error = Some(e);
        }
        if w.pending.len() < before || w.error.is_some() {
            if let Some(waker) = w.waiting.take() {
                waker.wake();
            }
        }
    }
}

impl<C: Completion> Writer<C> {
    fn new(io: C) -> Self {
        Self {
            io,
            pending: Vec::new(),
            sending: None,
            spare: Vec::new(),
            error: None,
            waiting: None,
            shutdown: None,
        }
    }

    /// Reaps the send in flight if it has completed, and hands the kernel
    /// what is pending, polling both with `cx`.
    ///
    /// A writer calls this first with [`noop`]: nobody waits for a send
    /// until a writer needs room, a flush needs the pending bytes gone or a
    /// close needs it done, and only those poll it with their own waker; so
    /// a send that completes while the task waits to read wakes nobody.
    fn progress(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        loop {
            let (res, mut buf) = match &mut self.sending {
                Some(send) => match Pin::new(send).poll(cx) {
                    Poll::Pending => return Ok(()),
                    Poll::Ready(done) => done,
                },
                None if self.pending.is_empty() => return Ok(()),
                None => {
                    let buf = std::mem::replace(&mut self.pending, std::mem::take(&mut self.spare));
                    let mut send = self.io.send(buf);
                    match Pin::new(&mut send).poll(cx) {
                        Poll::Pending => {
                            self.sending = Some(send);
                            return Ok(());
                        }
                        Poll::Ready(done) => done,
                    }
                }
            };
            self.sending = None;
            match res {
                Ok(0) if !buf.is_empty() => {
                    self.pending.clear();
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) if n < buf.len() => {
                    // A short send: its rest goes before what came after.
                    buf.drain(..n);
                    buf.append(&mut self.pending);
                    let emptied = std::mem::replace(&mut self.pending, buf);
                    self.keep(emptied);
                }
                Ok(_) => self.keep(buf),
                Err(e) => {
                    // The connection is broken: nothing more will go.
                    self.pending.clear();
                    return Err(e);
                }
            }
        }
    }

    /// Keeps an emptied buffer for the next send, unless a big write grew
    /// it past [`KEEP`]: an idle connection holds at most that much.
    fn keep(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= KEEP {
            buf.clear();
            self.spare = buf;
        }
    }

    /// Starts a write-side call: reports a send error that a read found,
    /// then makes progress without registering a wake.
    fn begin(&mut self) -> io::Result<()> {
        self.waiting = None;
        match self.error.take() {
            Some(e) => Err(e),
            None => self.progress(&mut noop()),
        }
    }

    fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.begin()?;
        if bufs.iter().all(|b| b.is_empty()) {
            return Poll::Ready(Ok(0));
        }
        loop {
            let mut taken = 0;
            for buf in bufs {
                let n = WRITE_BUFFER
                    .saturating_sub(self.pending.len())
                    .min(buf.len());
                self.pending.extend_from_slice(&buf[..n]);
                taken += n;
                if n < buf.len() {
                    break;
                }
            }
            if taken > 0 {
                self.progress(&mut noop())?;
                return Poll::Ready(Ok(taken));
            }
            // Full behind a send in flight: wait for it.
            self.progress(cx)?;
            if self.pending.len() >= WRITE_BUFFER {
                self.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.begin()?;
        if !self.pending.is_empty() {
            // Behind a send in flight: wait for it.
            self.progress(cx)?;
            if !self.pending.is_empty() {
                self.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.shutdown.is_none() {
            self.begin()?;
            self.progress(cx)?;
            if self.sending.is_some() {
                self.waiting = Some(cx.waker().clone());
                return Poll::Pending;
            }
            self.shutdown = Some(self.io.shutdown());
        }
        let shutdown = self.shutdown.as_mut().expect("set above");
        let res = ready!(Pin::new(shutdown).poll(cx));
        self.shutdown = None;
        Poll::Ready(res)
    }
}

/// A context whose waker does nothing.
fn noop() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// What a dropped [`Stream`] still had to send, then its shutdown: a future
/// for [`Completion::linger`] to run.
#[must_use = "futures do nothing unless you .await or poll them"]
pub struct Linger<C: Completion>(Writer<C>);

impl<C: Completion> std::fmt::Debug for Linger<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Linger")
            .field("unsent", &self.0.pending.len())
            .finish()
    }
}

impl<C: Completion> Future for Linger<C> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // An error means the peer is gone: there is nothing left to do.
        let _ = ready!(self.0.poll_close(cx));
        Poll::Ready(())
    }
}

impl<C: Completion> Drop for Stream<C> {
    fn drop(&mut self) {
        let w = &self.write;
        if w.pending.is_empty() && w.sending.is_none() {
            return;
        }
        let io = w.io.clone();
        let rest = std::mem::replace(&mut self.write, Writer::new(io.clone()));
        io.linger(Linger(rest));
    }
}

impl<C: Completion> AsyncRead for Stream<C> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let this = &mut *self;
        if this.write.waiting.is_some() {
            this.send_for_writer(cx);
        }
        loop {
            let reader = &mut this.read;
            match &mut reader.state {
                ReadState::Idle { buf, start, end } if *start < *end => {
                    let n = (*end - *start).min(out.len());
                    out[..n].copy_from_slice(&buf[*start..*start + n]);
                    *start += n;
                    return Poll::Ready(Ok(n));
                }
                ReadState::Idle { buf, .. } => {
                    let mut buf = std::mem::take(buf);
                    if buf.is_empty() {
                        buf = vec![0; READ_BUFFER].into_boxed_slice();
                    }
                    reader.state = ReadState::Receiving(reader.io.recv(buf));
                }
                ReadState::Receiving(recv) => {
                    let Poll::Ready((res, buf)) = Pin::new(recv).poll(cx) else {
                        this.send_for_writer(cx);
                        return Poll::Pending;
                    };
                    let end = res.as_ref().map_or(0, |&n| n.min(buf.len()));
                    reader.state = ReadState::Idle { buf, start: 0, end };
                    if res? == 0 {
                        return Poll::Ready(Ok(0));
                    }
                }
            }
        }
    }
}

impl<C: Completion> AsyncWrite for Stream<C> {
    /// Copies `buf` (as much as fits) and submits its send.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write.poll_write(cx, &[IoSlice::new(buf)])
    }

    /// Copies every slice that fits and submits one send for them.
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write.poll_write(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write.poll_flush(cx)
    }

    /// Waits for every send, then shuts down the write half (sends FIN).
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write.poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Wake;

    /// A socket whose kernel side the test drives.
    #[derive(Clone, Default)]
    struct Mock(Rc<RefCell<Wire>>);

    #[derive(Default)]
    struct Wire {
        inbound: VecDeque<u8>,
        eof: bool,
        sent: Vec<u8>,
        /// Sends stay in flight until released.
        hold: bool,
        /// The most one send takes (0: all).
        max_send: usize,
        fail: Option<io::ErrorKind>,
        /// Sends take nothing.
        zero: bool,
        shut: bool,
        /// Wakers of sends in flight.
        wakers: Vec<Waker>,
        /// Wakers of receives waiting for data.
        readers: Vec<Waker>,
        lingered: Vec<Linger<Mock>>,
    }

    impl Mock {
        fn release(&self) {
            let wakers = {
                let mut wire = self.0.borrow_mut();
                wire.hold = false;
                std::mem::take(&mut wire.wakers)
            };
            wakers.into_iter().for_each(Waker::wake);
        }
        fn sent(&self) -> Vec<u8> {
            self.0.borrow().sent.clone()
        }
    }

    struct Op<B>(Mock, Option<B>);

    impl Future for Op<Box<[u8]>> {
        type Output = (io::Result<usize>, Box<[u8]>);
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mock = self.0.clone();
            let mut wire = mock.0.borrow_mut();
            if wire.inbound.is_empty() && !wire.eof {
                wire.readers.push(cx.waker().clone());
                return Poll::Pending;
            }
            let mut buf = self.1.take().expect("polled after completion");
            let n = wire.inbound.len().min(buf.len());
            for (slot, byte) in buf.iter_mut().zip(wire.inbound.drain(..n)) {
                *slot = byte;
            }
            Poll::Ready((Ok(n), buf))
        }
    }

    impl Future for Op<Vec<u8>> {
        type Output = (io::Result<usize>, Vec<u8>);
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            let mock = self.0.clone();
            let mut wire = mock.0.borrow_mut();
            if wire.hold {
                wire.wakers.push(cx.waker().clone());
                return Poll::Pending;
            }
            let buf = self.1.take().expect("polled after completion");
            if let Some(kind) = wire.fail {
                return Poll::Ready((Err(kind.into()), buf));
            }
            let n = match wire.max_send {
                _ if wire.zero => 0,
                0 => buf.len(),
                max => max.min(buf.len()),
            };
            wire.sent.extend_from_slice(&buf[..n]);
            Poll::Ready((Ok(n), buf))
        }
    }

    impl Future for Op<()> {
        type Output = io::Result<()>;
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.0.borrow_mut().shut = true;
            Poll::Ready(Ok(()))
        }
    }

    impl Completion for Mock {
        type Recv = Op<Box<[u8]>>;
        type Send = Op<Vec<u8>>;
        type Shutdown = Op<()>;
        fn recv(&self, buf: Box<[u8]>) -> Self::Recv {
            Op(self.clone(), Some(buf))
        }
        fn send(&self, buf: Vec<u8>) -> Self::Send {
            Op(self.clone(), Some(buf))
        }
        fn shutdown(&self) -> Self::Shutdown {
            Op(self.clone(), None)
        }
        fn linger(&self, rest: Linger<Self>) {
            self.0.borrow_mut().lingered.push(rest);
        }
    }

    /// A waker that remembers it was woken.
    #[derive(Default)]
    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag() -> (Arc<Flag>, Waker) {
        let flag = Arc::new(Flag::default());
        (flag.clone(), Waker::from(flag))
    }

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    fn write(s: &mut Stream<Mock>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(s).poll_write(&mut cx(), bytes)
    }

    fn flush(s: &mut Stream<Mock>) -> Poll<io::Result<()>> {
        Pin::new(s).poll_flush(&mut cx())
    }

    fn ready<T>(poll: Poll<io::Result<T>>) -> T {
        match poll {
            Poll::Ready(Ok(v)) => v,
            Poll::Ready(Err(e)) => panic!("error: {e}"),
            Poll::Pending => panic!("pending"),
        }
    }

    /// A stream whose sends stay in flight until the test releases them.
    fn held() -> (Mock, Stream<Mock>) {
        let mock = Mock::default();
        mock.0.borrow_mut().hold = true;
        (mock.clone(), Stream::new(mock))
    }

    fn failed<T: std::fmt::Debug>(poll: Poll<io::Result<T>>) -> io::Error {
        match poll {
            Poll::Ready(Err(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_come_from_one_receive_in_pieces_then_end() {
        let mock = Mock::default();
        mock.0.borrow_mut().inbound.extend(b"hello world");
        let mut s = Stream::new(mock.clone());
        let mut out = [0; 4];
        let mut got = Vec::new();
        for _ in 0..3 {
            let n = ready(Pin::new(&mut s).poll_read(&mut cx(), &mut out));
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got, b"hello world");
        assert!(Pin::new(&mut s).poll_read(&mut cx(), &mut out).is_pending());
        mock.0.borrow_mut().eof = true;
        assert_eq!(ready(Pin::new(&mut s).poll_read(&mut cx(), &mut out)), 0);
    }

    #[test]
    fn writes_are_taken_at_once_and_go_in_order_behind_a_send_in_flight() {
        let (mock, mut s) = held();
        assert_eq!(ready(write(&mut s, b"a")), 1);
        assert_eq!(ready(write(&mut s, b"bc")), 2);
        assert_eq!(ready(write(&mut s, b"d")), 1);
        // "a" is in flight, "bcd" waits for it.
        assert!(flush(&mut s).is_pending());
        assert_eq!(mock.sent(), b"");
        mock.release();
        ready(flush(&mut s));
        assert_eq!(mock.sent(), b"abcd");
    }

    #[test]
    fn a_send_that_nobody_waits_for_wakes_nobody() {
        let (mock, mut s) = held();
        let (woken, waker) = flag();
        let mut wcx = Context::from_waker(&waker);
        assert_eq!(ready(Pin::new(&mut s).poll_write(&mut wcx, b"response")), 8);
        // Handed to the kernel: the flush does not wait for it.
        ready(Pin::new(&mut s).poll_flush(&mut wcx));
        mock.release();
        assert!(!woken.0.load(Ordering::SeqCst));
        ready(flush(&mut s));
        assert_eq!(mock.sent(), b"response");
    }

    #[test]
    fn a_big_write_leaves_no_big_buffer_behind() {
        let mock = Mock::default();
        let mut s = Stream::new(mock.clone());
        assert_eq!(ready(write(&mut s, &[1; 100])), 100);
        assert_eq!(ready(write(&mut s, &vec![2; WRITE_BUFFER])), WRITE_BUFFER);
        ready(flush(&mut s));
        assert_eq!(mock.sent().len(), 100 + WRITE_BUFFER);
        let w = &s.write;
        assert!(w.sending.is_none());
        let held = w.pending.capacity() + w.spare.capacity();
        assert!(held < WRITE_BUFFER, "{held}");
        // A small one's buffer is kept for the next send.
        ready(write(&mut s, b"small"));
        assert!(s.write.spare.capacity() >= 5);
    }

    #[test]
    fn short_sends_are_resubmitted_from_where_they_stopped() {
        let mock = Mock::default();
        mock.0.borrow_mut().max_send = 2;
        let mut s = Stream::new(mock.clone());
        assert_eq!(ready(write(&mut s, b"hello")), 5);
        ready(flush(&mut s));
        assert_eq!(mock.sent(), b"hello");
    }

    #[test]
    fn a_vectored_write_takes_every_slice_behind_a_send_in_flight() {
        let (mock, mut s) = held();
        ready(write(&mut s, b"first"));
        let (a, b, c) = ([1; 127], [2; 6], [3; 24]);
        let bufs = [IoSlice::new(&a), IoSlice::new(&b), IoSlice::new(&c)];
        assert_eq!(
            ready(Pin::new(&mut s).poll_write_vectored(&mut cx(), &bufs)),
            157
        );
        mock.release();
        ready(flush(&mut s));
        let want: Vec<u8> = [&b"first"[..], &a, &b, &c].concat();
        assert_eq!(mock.sent(), want);
    }

    #[test]
    fn a_full_buffer_pends_until_its_send_completes_and_wakes_the_writer() {
        let (mock, mut s) = held();
        let big = vec![7; WRITE_BUFFER + 100];
        // The first fills the buffer and is sent; the next fills it again.
        assert_eq!(ready(write(&mut s, &big)), WRITE_BUFFER);
        assert_eq!(ready(write(&mut s, &big)), WRITE_BUFFER);
        let (woken, waker) = flag();
        let mut wcx = Context::from_waker(&waker);
        assert!(Pin::new(&mut s).poll_write(&mut wcx, b"x").is_pending());
        mock.release();
        assert!(woken.0.load(Ordering::SeqCst));
        assert_eq!(ready(Pin::new(&mut s).poll_write(&mut wcx, b"x")), 1);
        ready(flush(&mut s));
        assert_eq!(mock.sent().len(), 2 * WRITE_BUFFER + 1);
    }

    #[test]
    fn a_read_that_waits_sends_what_a_writer_left_and_wakes_it() {
        let (mock, mut s) = held();
        let big = vec![7; WRITE_BUFFER];
        ready(write(&mut s, &big));
        ready(write(&mut s, &big));
        let (writer_woken, writer) = flag();
        assert!(
            Pin::new(&mut s)
                .poll_write(&mut Context::from_waker(&writer), b"x")
                .is_pending()
        );
        // The reader (another task) waits; the send's wake stays the writer's.
        let (reader_woken, reader) = flag();
        let mut out = [0; 8];
        let read = Pin::new(&mut s).poll_read(&mut Context::from_waker(&reader), &mut out);
        assert!(read.is_pending());
        mock.0.borrow_mut().hold = false;
        let wakers = std::mem::take(&mut mock.0.borrow_mut().wakers);
        wakers.into_iter().for_each(Waker::wake);
        assert!(writer_woken.0.load(Ordering::SeqCst));
        assert!(!reader_woken.0.load(Ordering::SeqCst));
        // A read now hands the kernel the second buffer for the writer.
        assert!(Pin::new(&mut s).poll_read(&mut cx(), &mut out).is_pending());
        assert_eq!(mock.sent().len(), 2 * WRITE_BUFFER);
    }

    #[test]
    fn a_task_that_wrote_then_waits_to_read_gets_the_rest_sent() {
        let (mock, mut s) = held();
        ready(write(&mut s, b"head"));
        ready(write(&mut s, b"body"));
        let (woken, waker) = flag();
        let mut out = [0; 8];
        let mut rcx = Context::from_waker(&waker);
        assert!(Pin::new(&mut s).poll_read(&mut rcx, &mut out).is_pending());
        mock.release();
        assert!(woken.0.load(Ordering::SeqCst));
        assert!(Pin::new(&mut s).poll_read(&mut rcx, &mut out).is_pending());
        assert_eq!(mock.sent(), b"headbody");
    }

    #[test]
    fn close_waits_for_every_send_then_shuts_down() {
        let (mock, mut s) = held();
        ready(write(&mut s, b"ab"));
        ready(write(&mut s, b"cd"));
        let (woken, waker) = flag();
        let mut wcx = Context::from_waker(&waker);
        assert!(Pin::new(&mut s).poll_close(&mut wcx).is_pending());
        assert!(!mock.0.borrow().shut);
        mock.release();
        assert!(woken.0.load(Ordering::SeqCst));
        ready(Pin::new(&mut s).poll_close(&mut wcx));
        assert_eq!(mock.sent(), b"abcd");
        assert!(mock.0.borrow().shut);
    }

    #[test]
    fn a_dropped_stream_lingers_to_send_what_it_had() {
        let (mock, mut s) = held();
        ready(write(&mut s, b"alert"));
        ready(write(&mut s, b"!"));
        drop(s);
        let mut rest = mock.0.borrow_mut().lingered.pop().expect("lingered");
        mock.release();
        assert!(Pin::new(&mut rest).poll(&mut cx()).is_ready());
        assert_eq!(mock.sent(), b"alert!");
        assert!(mock.0.borrow().shut);
    }

    #[test]
    fn a_dropped_stream_with_nothing_to_send_just_closes() {
        let mock = Mock::default();
        let mut s = Stream::new(mock.clone());
        ready(write(&mut s, b"done"));
        ready(flush(&mut s));
        drop(s);
        assert!(mock.0.borrow().lingered.is_empty());
        assert_eq!(mock.sent(), b"done");
    }

    #[test]
    fn a_failed_send_is_reported_and_drops_what_was_pending() {
        let (mock, mut s) = held();
        ready(write(&mut s, b"a"));
        ready(write(&mut s, b"b"));
        mock.0.borrow_mut().fail = Some(io::ErrorKind::BrokenPipe);
        mock.release();
        let err = failed(flush(&mut s));
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(mock.sent(), b"");
        // The next write submits again, and fails again.
        assert!(matches!(write(&mut s, b"c"), Poll::Ready(Err(_))));
    }

    #[test]
    fn a_send_of_nothing_is_an_error_not_a_loop() {
        let mock = Mock::default();
        mock.0.borrow_mut().zero = true;
        let mut s = Stream::new(mock.clone());
        let err = failed(write(&mut s, b"x"));
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
        assert_eq!(ready(write(&mut s, b"")), 0);
    }
}
