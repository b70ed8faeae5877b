//! The peer address of the connection a request came on, visible to
//! extractors while the engine polls that request's future.
//!
//! Kept in a thread-local set around each poll rather than in the request's
//! extensions: inserting into `http::Extensions` allocates twice per
//! request, and most apps never ask.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;

thread_local! {
    static PEER: Cell<Option<SocketAddr>> = const { Cell::new(None) };
}

/// Runs `f` with `peer` as the current peer address.
pub(crate) fn enter<T>(peer: SocketAddr, f: impl FnOnce() -> T) -> T {
    let previous = PEER.replace(Some(peer));
    // Restore even if `f` panics: the engine catches handler panics and the
    // thread goes on serving other connections.
    struct Restore(Option<SocketAddr>);
    impl Drop for Restore {
        fn drop(&mut self) {
            PEER.set(self.0);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Polls `future` with `peer` as the current peer address on every poll.
pub(crate) async fn scope<F: Future>(peer: SocketAddr, future: F) -> F::Output {
    let mut future = pin!(future);
    std::future::poll_fn(|cx| enter(peer, || future.as_mut().poll(cx))).await
}

/// Returns the peer address of the request being handled on this thread, if
/// any.
pub(crate) fn current() -> Option<SocketAddr> {
    PEER.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, yield_now};

    #[test]
    fn peer_is_visible_across_polls_and_cleared_after() {
        let peer: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let seen = block_on(scope(peer, async {
            let first = current();
            yield_now().await;
            (first, current())
        }));
        assert_eq!(seen, (Some(peer), Some(peer)));
        assert_eq!(current(), None);
    }

    #[test]
    fn peer_is_restored_after_a_panic() {
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let result = std::panic::catch_unwind(|| enter(peer, || panic!("boom")));
        assert!(result.is_err());
        assert_eq!(current(), None);
    }
}
