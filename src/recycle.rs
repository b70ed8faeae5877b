//! Header maps, recycled per thread.
//!
//! An empty `HeaderMap` allocates twice on its first insert (its index
//! table and its entries) and frees both when dropped, and every request
//! and nearly every response has one. The engine hands a response's map
//! back here once the head is written, and a request's once the handler no
//! longer can read it (the handler takes no body extractor); the next
//! request or response made on the thread starts from one, cleared but with
//! its capacity.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps kept per thread: enough for the responses one thread has in flight
/// between two writes; more are freed.
const MAX_POOLED: usize = 16;
/// A map grown past this many entries is freed instead of kept, so one
/// large response does not pin its table for good.
const MAX_CAPACITY: usize = 32;

thread_local! {
    static MAPS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
}

/// An empty map, with room from an earlier response when the thread has one.
pub(crate) fn header_map() -> HeaderMap {
    MAPS.try_with(|maps| maps.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Takes back a map whose response has been written.
pub(crate) fn give(mut map: HeaderMap) {
    if map.capacity() == 0 || map.capacity() > MAX_CAPACITY {
        return;
    }
    map.clear();
    let _ = MAPS.try_with(|maps| {
        if let Ok(mut maps) = maps.try_borrow_mut() {
            if maps.len() < MAX_POOLED {
                maps.push(map);
            }
        }
    });
}

/// A response with `body` and a recycled header map.
pub(crate) fn response(body: crate::Body) -> crate::Response {
    let mut res = crate::Response::new(body);
    *res.headers_mut() = header_map();
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONTENT_TYPE, HeaderValue};

    fn pooled() -> usize {
        MAPS.with_borrow(Vec::len)
    }

    #[test]
    fn a_map_comes_back_empty_with_its_room() {
        let mut map = header_map();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        let capacity = map.capacity();
        give(map);
        let again = header_map();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), capacity);
    }

    #[test]
    fn the_pool_is_bounded_and_keeps_no_empty_or_large_maps() {
        let maps: Vec<HeaderMap> = (0..MAX_POOLED * 2)
            .map(|_| {
                let mut map = HeaderMap::new();
                map.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                map
            })
            .collect();
        for map in maps {
            give(map);
        }
        assert_eq!(pooled(), MAX_POOLED);
        while pooled() > 0 {
            header_map();
        }
        give(HeaderMap::new());
        give(HeaderMap::with_capacity(MAX_CAPACITY * 4));
        assert_eq!(pooled(), 0);
    }
}
