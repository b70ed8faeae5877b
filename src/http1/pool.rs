//! Connection buffers, lent per thread.
//!
//! A connection needs its read and write buffers only while it carries a
//! request. An idle keep-alive connection gives them back here and takes a
//! pair again when its next bytes arrive, so ten thousand idle connections
//! hold no buffers at all. On a busy connection the round trip is a pop
//! and a push on a thread-local list: no allocation per request.
//!
//! The pool is bounded (a burst of connections that go idle at once frees
//! what the pool cannot hold) and keeps no oversized buffer, so memory comes
//! back when connections close or go idle.
//!
//! Small reads land in a per-thread scratch array, borrowed only inside one
//! poll: no connection holds one while it waits.

use std::cell::RefCell;

use bytes::BytesMut;

/// Capacity of a fresh read or write buffer.
pub(crate) const BUF_SIZE: usize = 8 * 1024;
/// Size of the per-thread scratch array small reads go through.
pub(crate) const SCRATCH: usize = 4 * 1024;
/// Most buffer pairs one thread keeps for the next connections.
const MAX_POOLED: usize = 64;
/// A buffer that grew past this (a large head, a batch of big responses)
/// is freed rather than kept.
const MAX_KEPT: usize = 4 * BUF_SIZE;

/// A connection's read and write buffers.
#[derive(Debug, Default)]
pub(crate) struct Bufs {
    pub(crate) read: BytesMut,
    pub(crate) write: Vec<u8>,
}

thread_local! {
    static POOL: RefCell<Vec<Bufs>> = const { RefCell::new(Vec::new()) };
    static SCRATCH_BUF: RefCell<[u8; SCRATCH]> = const { RefCell::new([0; SCRATCH]) };
}

/// Takes a pair of empty buffers: a pooled one, or a fresh one when this
/// thread has none.
pub(crate) fn take() -> Bufs {
    POOL.with_borrow_mut(Vec::pop).unwrap_or_else(|| Bufs {
        read: BytesMut::with_capacity(BUF_SIZE),
        write: Vec::with_capacity(BUF_SIZE),
    })
}

/// Gives a pair back, emptied; it is freed instead when the pool is full,
/// when either buffer grew too large, or when it has no capacity to lend.
pub(crate) fn give(mut bufs: Bufs) {
    if bufs.read.capacity() > MAX_KEPT
        || bufs.write.capacity() > MAX_KEPT
        || bufs.write.capacity() == 0
    {
        return;
    }
    bufs.read.clear();
    bufs.write.clear();
    // During thread teardown the pool may already be gone: then the
    // buffers are simply freed.
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < MAX_POOLED {
            pool.push(bufs);
        }
    });
}

/// Runs `f` with this thread's scratch array.
///
/// `f` must not wait: the array is lent for one synchronous call. A nested
/// call (a stream whose poll reads another connection) gets an array of its
/// own.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut [u8; SCRATCH]) -> R) -> R {
    let mut f = Some(f);
    let lent = SCRATCH_BUF.try_with(|s| {
        s.try_borrow_mut()
            .ok()
            .map(|mut s| (f.take().expect("called once"))(&mut s))
    });
    match lent {
        Ok(Some(r)) => r,
        _ => (f.take().expect("not called yet"))(&mut [0; SCRATCH]),
    }
}

/// How many pairs this thread's pool holds.
#[cfg(test)]
fn pooled() -> usize {
    POOL.with_borrow(Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_comes_back_without_an_allocation() {
        let mut bufs = take();
        bufs.read.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        bufs.write.extend_from_slice(b"HTTP/1.1 200 OK\r\n\r\n");
        let (read, write) = (bufs.read.as_ptr(), bufs.write.as_ptr());
        give(bufs);
        let again = take();
        assert_eq!((again.read.as_ptr(), again.write.as_ptr()), (read, write));
        assert!(again.read.is_empty() && again.write.is_empty());
        assert!(again.read.capacity() >= BUF_SIZE && again.write.capacity() >= BUF_SIZE);
    }

    #[test]
    fn the_pool_is_bounded_and_frees_the_rest() {
        // Each test runs on its own thread, so this pool starts empty.
        let many: Vec<Bufs> = (0..MAX_POOLED * 3).map(|_| take()).collect();
        for bufs in many {
            give(bufs);
        }
        assert_eq!(pooled(), MAX_POOLED);
        let drained: Vec<Bufs> = (0..MAX_POOLED).map(|_| take()).collect();
        assert_eq!(pooled(), 0);
        drop(drained);
    }

    #[test]
    fn oversized_buffers_are_not_kept() {
        let mut bufs = take();
        bufs.write.reserve(MAX_KEPT * 2);
        give(bufs);
        let mut bufs = take();
        bufs.read.reserve(MAX_KEPT * 2);
        give(bufs);
        assert_eq!(pooled(), 0);
        // Nor an empty pair (a connection that never took one).
        give(Bufs::default());
        assert_eq!(pooled(), 0);
    }

    #[test]
    fn nested_scratch_gets_its_own_array() {
        with_scratch(|outer| {
            outer[0] = 1;
            with_scratch(|inner| {
                inner[0] = 2;
            });
            assert_eq!(outer[0], 1);
        });
    }
}
