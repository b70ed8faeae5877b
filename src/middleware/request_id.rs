//! `RequestId`: a per-request id in the `x-request-id` header.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::HeaderValue;
use http::header::HeaderName;

use super::{Middleware, Next};
use crate::vocab::{Request, Response};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest incoming id kept; longer ones are replaced.
const MAX_LEN: usize = 128;

/// Gives every request an id in the `x-request-id` header, and copies it to
/// the response.
///
/// An id the client (or a proxy) sent is kept when it is 1 to 128 visible
/// ASCII characters; otherwise a new one is made: 16 hex digits, unique in
/// the process and random across restarts. Handlers and later middleware
/// read it from the request's headers; add [`Trace`](super::Trace) after
/// `RequestId` to have it in scope of the request's span, or log it
/// yourself.
///
/// # Examples
///
/// ```
/// use tramline::http::HeaderMap;
/// use tramline::middleware::RequestId;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let app = Router::new()
///     .route("/", get(|h: HeaderMap| async move { h["x-request-id"].to_str().unwrap().to_owned() }))
///     .layer(RequestId::new());
/// let client = TestClient::new(app);
///
/// let res = client.get("/").send();
/// let id = res.header("x-request-id").unwrap();
/// assert_eq!(id.len(), 16);
/// res.assert_text(id);
///
/// client.get("/").header("x-request-id", "abc-1").send().assert_header("x-request-id", "abc-1");
/// ```
#[derive(Debug, Clone)]
pub struct RequestId {
    header: HeaderName,
}

impl RequestId {
    /// Creates the middleware, using the `x-request-id` header.
    pub fn new() -> Self {
        Self {
            header: X_REQUEST_ID,
        }
    }

    /// Uses the header `name` instead of `x-request-id`.
    pub fn header(mut self, name: HeaderName) -> Self {
        self.header = name;
        self
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

fn is_acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=MAX_LEN).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// Returns a new id: a random per-process prefix mixed with a counter, so
/// ids never repeat within a process and rarely across processes.
fn new_id() -> HeaderValue {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| RandomState::new().hash_one(std::process::id()));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // A bijective mix of the counter (odd multiplier), so no two counters
    // give the same id.
    let id = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    HeaderValue::from_str(&format!("{id:016x}")).expect("hex digits are a valid header value")
}

impl Middleware for RequestId {
    fn call(
        &self,
        mut req: Request,
        next: Next,
    ) -> impl Future<Output = Response> + Send + 'static {
        let header = self.header.clone();
        let id = match req.headers().get(&header) {
            Some(value) if is_acceptable(value) => value.clone(),
            _ => {
                let id = new_id();
                req.headers_mut().insert(header.clone(), id.clone());
                id
            }
        };
        async move {
            let mut res = next.run(req).await;
            res.headers_mut().insert(header, id);
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn new_ids_are_distinct_hex() {
        let ids: HashSet<_> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.len() == 16 && is_acceptable(id)));
    }

    #[test]
    fn incoming_ids_must_be_short_visible_ascii() {
        let cases = [
            ("abc-123", true),
            ("", false),
            ("has space", false),
            (&*"x".repeat(128), true),
            (&*"x".repeat(129), false),
        ];
        for (value, ok) in cases {
            assert_eq!(
                is_acceptable(&HeaderValue::from_str(value).unwrap()),
                ok,
                "{value:?}"
            );
        }
    }
}
