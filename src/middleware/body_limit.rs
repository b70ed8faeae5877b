//! `BodyLimit`: a request-body limit of its own for some routes.

use std::future::Future;

use http::StatusCode;

use super::{Middleware, Next};
use crate::vocab::response::plain_text;
use crate::vocab::{Request, Response};

/// Limits request bodies to `max` bytes on the routes it wraps.
///
/// A request whose `Content-Length` is over the limit is answered `413
/// Payload Too Large` with `request body too large` before the handler
/// runs and without reading the body. A body without a length (chunked)
/// is cut off as it passes the limit: the body extractors then reject with
/// the same `413`.
///
/// It replaces the server's limit ([`Server::max_body_size`], 2 MiB by
/// default) for these routes, so it may be lower or higher: the server
/// reads a body only as the handler asks for it, and checks the limit that
/// the body carries when it does.
///
/// [`Server::max_body_size`]: crate::Server::max_body_size
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use tramline::middleware::BodyLimit;
/// use tramline::routing::post;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let app = Router::new()
///     .route("/avatar", post(|b: Bytes| async move { b.len().to_string() }).layer(BodyLimit::new(4)))
///     .route("/doc", post(|b: Bytes| async move { b.len().to_string() }));
/// let client = TestClient::new(app);
/// client.post("/avatar").body("tiny").send().assert_text("4");
/// client
///     .post("/avatar")
///     .body("too big")
///     .send()
///     .assert_status(413)
///     .assert_text("request body too large");
/// client.post("/doc").body("too big").send().assert_text("7");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    max: u64,
}

impl BodyLimit {
    /// Creates a limit of `max` bytes.
    pub fn new(max: u64) -> Self {
        Self { max }
    }
}

impl Middleware for BodyLimit {
    fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static {
        let max = self.max;
        let over = req.body().len().is_some_and(|len| len > max);
        let req = if over {
            None
        } else {
            Some(req.map(|body| body.with_limit(max)))
        };
        async move {
            match req {
                Some(req) => next.run(req).await,
                None => plain_text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::routing::post;
    use crate::test::TestClient;
    use bytes::Bytes;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn declared_length_over_the_limit_never_reaches_the_handler() {
        let called = Arc::new(AtomicBool::new(false));
        let flag = called.clone();
        let app = Router::new().route(
            "/",
            post(move |_: Bytes| {
                flag.store(true, Ordering::SeqCst);
                async {}
            })
            .layer(BodyLimit::new(3)),
        );
        let res = TestClient::new(app)
            .post("/")
            .header("content-length", "10")
            .body("0123456789")
            .send();
        res.assert_status(413).assert_text("request body too large");
        assert!(!called.load(Ordering::SeqCst));
    }

    #[test]
    fn streamed_body_over_the_limit_is_rejected_by_the_extractor() {
        let app = Router::new().route(
            "/",
            post(|b: Bytes| async move { b.len().to_string() }).layer(BodyLimit::new(3)),
        );
        let chunks = futures_lite::stream::iter(
            ["ab", "cd"].map(|s| Ok::<_, std::io::Error>(Bytes::from(s))),
        );
        let res = TestClient::new(app)
            .post("/")
            .body(crate::vocab::Body::from_stream(chunks))
            .send();
        res.assert_status(413).assert_text("request body too large");
    }
}
