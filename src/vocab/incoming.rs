//! The request body as the handler sees it while the connection reads it:
//! a one-slot hand-off between the handler's [`crate::Body`] and the
//! connection loop's pump.
//!
//! Nothing is read from the socket until the handler asks: that is when
//! `100 Continue` goes out, and a handler that rejects a request from its
//! head alone never makes the client send the body.

use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

use crate::vocab::BoxError;

/// The handler's end.
pub(crate) struct Incoming {
    shared: Arc<Mutex<State>>,
    len: Option<u64>,
}

/// The connection's end.
pub(crate) struct Pump {
    shared: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    /// The handler is waiting for a chunk.
    want: bool,
    chunk: Option<Bytes>,
    /// `Some` once the body ended: cleanly, or with the reason it broke.
    end: Option<Result<(), &'static str>>,
    /// The handler dropped its body.
    dropped: bool,
    body_waker: Option<Waker>,
    pump_waker: Option<Waker>,
}

/// A body the connection could not read: the client broke its framing or
/// went away. The connection is closed after the response.
#[derive(Debug)]
pub(crate) struct BodyReadError(pub(crate) &'static str);

impl fmt::Display for BodyReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BodyReadError {}

/// Creates the two ends for a body of declared length `len` (`None` for
/// chunked).
pub(crate) fn channel(len: Option<u64>) -> (Incoming, Pump) {
    let shared = Arc::new(Mutex::new(State::default()));
    (
        Incoming {
            shared: shared.clone(),
            len,
        },
        Pump { shared },
    )
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    // The lock is never held across a call that can panic.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl Incoming {
    /// The declared length: Content-Length, or `None` for chunked.
    pub(crate) fn len(&self) -> Option<u64> {
        self.len
    }

    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BoxError>>> {
        let mut state = lock(&self.shared);
        if let Some(chunk) = state.chunk.take() {
            return Poll::Ready(Some(Ok(chunk)));
        }
        match state.end {
            Some(Ok(())) => return Poll::Ready(None),
            Some(Err(reason)) => return Poll::Ready(Some(Err(Box::new(BodyReadError(reason))))),
            None => {}
        }
        state.want = true;
        if !state
            .body_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.body_waker = Some(cx.waker().clone());
        }
        if let Some(pump) = state.pump_waker.take() {
            drop(state);
            pump.wake();
        }
        Poll::Pending
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let mut state = lock(&self.shared);
        state.dropped = true;
        if let Some(pump) = state.pump_waker.take() {
            drop(state);
            pump.wake();
        }
    }
}

impl Pump {
    /// Waits until the handler wants a chunk (`true`) or has dropped its
    /// body (`false`).
    pub(crate) async fn demand(&self) -> bool {
        poll_fn(|cx| {
            let mut state = lock(&self.shared);
            if state.dropped {
                return Poll::Ready(false);
            }
            if state.want && state.chunk.is_none() {
                return Poll::Ready(true);
            }
            state.pump_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Hands one chunk to the handler.
    pub(crate) fn send(&self, chunk: Bytes) {
        let mut state = lock(&self.shared);
        state.chunk = Some(chunk);
        state.want = false;
        Self::wake_body(state);
    }

    /// Ends the body, cleanly or with the reason it broke.
    pub(crate) fn finish(&self, end: Result<(), &'static str>) {
        let mut state = lock(&self.shared);
        state.end = Some(end);
        state.want = false;
        Self::wake_body(state);
    }

    fn wake_body(mut state: MutexGuard<'_, State>) {
        if let Some(waker) = state.body_waker.take() {
            drop(state);
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    fn next(incoming: &mut Incoming) -> Option<Option<Result<Bytes, BoxError>>> {
        block_on(poll_once(poll_fn(|cx| incoming.poll_chunk(cx))))
    }

    #[test]
    fn nothing_is_demanded_until_the_body_is_polled() {
        let (mut incoming, pump) = channel(Some(3));
        assert_eq!(incoming.len(), Some(3));
        assert!(block_on(poll_once(pump.demand())).is_none());
        assert!(next(&mut incoming).is_none());
        assert_eq!(block_on(poll_once(pump.demand())), Some(true));
        pump.send(Bytes::from_static(b"abc"));
        assert_eq!(next(&mut incoming).unwrap().unwrap().unwrap(), "abc");
        pump.finish(Ok(()));
        assert!(next(&mut incoming).unwrap().is_none());
    }

    #[test]
    fn errors_reach_the_body_and_drops_reach_the_pump() {
        let (mut incoming, pump) = channel(None);
        pump.finish(Err("bad chunk"));
        let err = next(&mut incoming).unwrap().unwrap().unwrap_err();
        assert_eq!(err.to_string(), "bad chunk");
        drop(incoming);
        assert!(!block_on(pump.demand()));
    }
}
