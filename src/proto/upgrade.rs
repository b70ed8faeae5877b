//! The engine's side of a protocol upgrade: the [`Upgraded`] stream a
//! handler gets after `101 Switching Protocols`, and the hand-over that a
//! `101` response carries to the engine. The extractor that asks for an
//! upgrade is in `crate::upgrade`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use futures_lite::{AsyncRead, AsyncWrite};

use super::shutdown::Signal;
use crate::vocab::Response;

/// The connection after a `101 Switching Protocols`: the bytes the client
/// sent past the request head first, then the stream itself (TLS included,
/// when the connection is encrypted).
pub struct Upgraded {
    prefix: Bytes,
    io: Pin<Box<dyn Transport>>,
    /// The server's shutdown, when the connection came from one.
    signal: Option<Arc<Signal>>,
}

/// What [`Upgraded`] reads from and writes to.
pub(crate) trait Transport: AsyncRead + AsyncWrite + Send {}

impl<T: AsyncRead + AsyncWrite + Send> Transport for T {}

impl Upgraded {
    pub(crate) fn new(io: impl Transport + 'static, prefix: Bytes) -> Self {
        Self {
            prefix,
            io: Box::pin(io),
            signal: None,
        }
    }

    pub(crate) fn with_signal(mut self, signal: Arc<Signal>) -> Self {
        self.signal = Some(signal);
        self
    }

    /// Completes when the server begins a graceful shutdown (at once if it
    /// has begun).
    ///
    /// An upgraded connection counts as busy: the server waits for it up
    /// to [`Server::shutdown_grace`](crate::Server::shutdown_grace), then
    /// cancels it. A protocol that can say goodbye (WebSocket's close code
    /// 1001, "going away") should do so when this completes. Take it before
    /// handing the stream to a protocol library; it does not borrow the
    /// stream.
    pub fn on_shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        let signal = self.signal.clone();
        async move {
            let Some(signal) = signal else {
                // Not served by a server: nothing will shut it down.
                return std::future::pending().await;
            };
            loop {
                // Listening first, so a trigger between the check and the
                // wait is not missed.
                let listener = signal.listen();
                if signal.is_triggered() {
                    return;
                }
                listener.await;
            }
        }
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.prefix.len())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for Upgraded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(n));
        }
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.as_mut().poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_close(cx)
    }
}

/// The future an upgrade runs as.
pub(crate) type UpgradeFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
/// What the engine calls with the connection once the `101` is written.
pub(crate) type Callback = Box<dyn FnOnce(Upgraded) -> UpgradeFuture + Send>;

/// A `101` response's hand-over: the function that takes the connection.
///
/// Kept in the response's extensions, which need `Clone + Sync`: the
/// function itself is taken once, by the engine.
#[derive(Clone)]
pub(crate) struct OnUpgrade(Arc<Mutex<Option<Callback>>>);

impl OnUpgrade {
    pub(crate) fn new(callback: Callback) -> Self {
        Self(Arc::new(Mutex::new(Some(callback))))
    }
}

/// Takes the hand-over out of a response, if it carries one.
pub(crate) fn take_callback(response: &mut Response) -> Option<Callback> {
    let OnUpgrade(slot) = response.extensions_mut().remove::<OnUpgrade>()?;
    // A poisoned lock only means another holder panicked; the slot is
    // still a plain Option.
    let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    slot.take()
}

/// The engine's mark on a request it can upgrade: HTTP/1.1, with an
/// `Upgrade` header and `upgrade` in `Connection`, no body, and not asking
/// to close.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CanUpgrade;
