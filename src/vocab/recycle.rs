//! Header maps and response heads, recycled per thread.
//!
//! An empty `HeaderMap` allocates twice on its first insert (its index
//! table and its entries) and frees both when dropped, and every request
//! and nearly every response has one. The engine hands a response's map
//! back here once the head is written, and a request's once the handler no
//! longer can read it (the handler takes no body extractor); the next
//! request or response made on the thread starts from one, cleared but with
//! its capacity.

use std::cell::RefCell;

use http::response::Parts;
use http::{HeaderMap, StatusCode, Version};

use crate::vocab::body::Body;

/// `crate::Response` spelled out, so this module, which the response
/// module uses, does not use it back.
type Response = http::Response<Body>;

/// Maps kept per thread: enough for the responses one thread has in flight
/// between two writes; more are freed.
const MAX_POOLED: usize = 16;
/// A map grown past this many entries is freed instead of kept, so one
/// large response does not pin its table for good.
const MAX_CAPACITY: usize = 32;

thread_local! {
    /// Request header maps.
    static MAPS: RefCell<Vec<HeaderMap>> = const { RefCell::new(Vec::new()) };
    /// Response heads, kept whole: a response made from one does not build
    /// a default head and then drop its empty map.
    static HEADS: RefCell<Vec<Parts>> = const { RefCell::new(Vec::new()) };
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

/// Takes back the head of a response that has been written.
pub(crate) fn give_response(mut head: Parts) {
    let capacity = head.headers.capacity();
    if capacity == 0 || capacity > MAX_CAPACITY {
        return;
    }
    head.status = StatusCode::OK;
    head.version = Version::HTTP_11;
    head.headers.clear();
    head.extensions.clear();
    let _ = HEADS.try_with(|heads| {
        if let Ok(mut heads) = heads.try_borrow_mut() {
            if heads.len() < MAX_POOLED {
                heads.push(head);
            }
        }
    });
}

/// A `200 OK` response with `body` and a recycled head when the thread
/// has one.
pub(crate) fn response(body: Body) -> Response {
    let head = HEADS
        .try_with(|heads| heads.borrow_mut().pop())
        .ok()
        .flatten();
    match head {
        Some(head) => Response::from_parts(head, body),
        None => Response::new(body),
    }
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
    fn a_response_head_comes_back_as_new_with_its_room() {
        let mut res = response(Body::from("a"));
        *res.status_mut() = StatusCode::NOT_FOUND;
        *res.version_mut() = Version::HTTP_10;
        res.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        res.extensions_mut().insert(7u8);
        let capacity = res.headers().capacity();
        give_response(res.into_parts().0);
        let again = response(Body::empty());
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(again.version(), Version::HTTP_11);
        assert!(again.headers().is_empty());
        assert_eq!(again.headers().capacity(), capacity);
        assert!(again.extensions().get::<u8>().is_none());
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
