//! Middleware: code that runs around handlers.
//!
//! A middleware gets the request and an owned [`Next`]; it may change the
//! request, answer without calling the handler, or await
//! [`Next::run`] and change the response. Write one as an async closure or
//! `async fn` and wrap it with [`from_fn`], or implement [`Middleware`].
//!
//! # Order
//!
//! **Middleware runs in the order it is added**: the first `.layer(..)`
//! call is the outermost, so it sees the request first and the response
//! last. (axum runs layers in reverse; tramline does not.)
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tramline::middleware::{Next, from_fn};
//! use tramline::routing::get;
//! use tramline::test::TestClient;
//! use tramline::{Request, Router};
//!
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let step = |name: &'static str| {
//!     let log = log.clone();
//!     from_fn(move |req: Request, next: Next| {
//!         log.lock().unwrap().push(name);
//!         next.run(req)
//!     })
//! };
//! let app = Router::new()
//!     .route("/", get(|| async { "hi" }))
//!     .layer(step("first"))
//!     .layer(step("second"));
//!
//! TestClient::new(app).get("/").send().assert_status(200);
//! assert_eq!(*log.lock().unwrap(), ["first", "second"]);
//! ```
//!
//! # Where it applies
//!
//! - [`Router::layer`](crate::Router::layer): every route of the router
//!   present when it is called, including those of nested routers, the
//!   router's `404` fallback and the automatic `405` and `OPTIONS`
//!   answers. Routes added afterwards are not wrapped.
//! - A nested router's own layers wrap only its routes; the enclosing
//!   router's layers run outside them.
//! - [`MethodRouter::layer`](crate::routing::MethodRouter::layer): one
//!   route (the handlers it holds when called).
//!
//! A router's layers always run outside those of the routes and routers
//! it holds, whatever the order of the calls.
//!
//! # Cost
//!
//! A request pays one boxed future per middleware it passes through, and
//! nothing else: [`Next`] is an owned handle to the rest of the chain,
//! built once when the layer is added.
//!
//! # Built-in middleware
//!
//! | middleware | what it does |
//! |---|---|
//! | [`Trace`] | a `tracing` span per request and an access-log line |
//! | [`RequestId`] | reads or makes an `x-request-id` and echoes it |
//! | [`timeout`] | answers `503` when the rest takes too long, on any runtime's timer |
//! | [`Cors`] | answers CORS preflights and adds CORS headers |
//! | [`BodyLimit`] | a tighter request-body limit for some routes (`413`) |
#![cfg_attr(
    feature = "compression",
    doc = "| [`Compression`] | gzip, brotli or zstd by `Accept-Encoding` |"
)]
//!
//! Panics need no middleware: the server's engine already turns a
//! panicking handler into `500 Internal Server Error`, logs the panic with
//! `tracing`, closes that connection and goes on serving;
//! [`TestClient`](crate::test::TestClient) does the same.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::vocab::IntoResponse;
use crate::vocab::service::{BoxFuture, ErasedService};
use crate::vocab::{Request, Response};

mod body_limit;
#[cfg(feature = "compression")]
mod compression;
mod cors;
mod request_id;
mod timeout;
mod trace;

pub use body_limit::BodyLimit;
#[cfg(feature = "compression")]
#[cfg_attr(docsrs, doc(cfg(feature = "compression")))]
pub use compression::Compression;
pub use cors::Cors;
pub use request_id::RequestId;
pub use timeout::{Timeout, timeout, timeout_with};
pub use trace::Trace;

/// Code that runs around a handler.
///
/// Most middleware is written with [`from_fn`]; implement this trait for a
/// reusable one with settings. The returned future owns what it needs
/// (clone settings into it), since it may outlive `&self`.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use tramline::http::HeaderValue;
/// use tramline::middleware::{Middleware, Next};
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::{Request, Response, Router};
///
/// /// Adds `x-powered-by` to every response.
/// #[derive(Clone)]
/// struct PoweredBy(&'static str);
///
/// impl Middleware for PoweredBy {
///     fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static {
///         let value = HeaderValue::from_static(self.0);
///         async move {
///             let mut res = next.run(req).await;
///             res.headers_mut().insert("x-powered-by", value);
///             res
///         }
///     }
/// }
///
/// let app = Router::new().route("/", get(|| async { "hi" })).layer(PoweredBy("tramline"));
/// TestClient::new(app).get("/").send().assert_header("x-powered-by", "tramline");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a middleware",
    label = "not a middleware",
    note = "wrap an `async fn(Request, Next) -> impl IntoResponse` or a closure with `tramline::middleware::from_fn`"
)]
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, usually by awaiting `next.run(req)` at some point.
    fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static;
}

/// A middleware with its type erased; shared by every endpoint it wraps.
pub(crate) type Layer = Arc<dyn ErasedMiddleware>;

pub(crate) trait ErasedMiddleware: Send + Sync + 'static {
    fn call(&self, req: Request, next: Next) -> BoxFuture;
}

impl<M: Middleware> ErasedMiddleware for M {
    fn call(&self, req: Request, next: Next) -> BoxFuture {
        Box::pin(Middleware::call(self, req, next))
    }
}

pub(crate) fn erase<M: Middleware>(middleware: M) -> Layer {
    Arc::new(middleware)
}

/// One middleware in front of the rest of a chain.
struct Layered {
    layer: Layer,
    next: Arc<dyn ErasedService>,
}

impl ErasedService for Layered {
    fn call(&self, req: Request) -> BoxFuture {
        self.layer.call(req, Next::new(Arc::clone(&self.next)))
    }
}

/// Puts `layers` (outermost first) in front of `end`, a handler with its
/// state.
pub(crate) fn wrap(layers: &[Layer], end: Arc<dyn ErasedService>) -> Arc<dyn ErasedService> {
    layers.iter().rev().fold(end, |next, layer| {
        Arc::new(Layered {
            layer: Arc::clone(layer),
            next,
        })
    })
}

/// The rest of the middleware chain and the handler at its end.
///
/// Owned: a middleware may move it into a future, call it once, or drop it
/// to answer without calling the handler.
#[must_use = "a middleware that drops `Next` answers without calling the handler"]
pub struct Next {
    route: Arc<dyn ErasedService>,
}

impl Next {
    fn new(route: Arc<dyn ErasedService>) -> Self {
        Self { route }
    }

    /// Runs the rest of the chain (the next middleware, or the handler) on
    /// `req` and returns its response.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::middleware::{Next, from_fn};
    /// use tramline::{Request, Response};
    ///
    /// async fn add_header(req: Request, next: Next) -> Response {
    ///     let mut res = next.run(req).await;
    ///     res.headers_mut().insert("x-seen", tramline::http::HeaderValue::from_static("1"));
    ///     res
    /// }
    /// let _layer = from_fn(add_header);
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the rest of the chain where it stands.
    pub fn run(self, req: Request) -> impl Future<Output = Response> + Send + 'static {
        self.route.call(req)
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

/// Creates a middleware from an async function or closure taking the
/// request and [`Next`].
///
/// `f` may return anything that implements [`IntoResponse`], so it can
/// answer early with a status, a `Result`, or a [`crate::Error`].
///
/// A closure that keeps state of its own (a counter, a configuration) must
/// hand each call an owned copy: write `move |req, next| { let c = c.clone();
/// async move { .. } }`. An `async move |req, next|` closure that uses its
/// captures by reference is not `Fn` and does not compile.
///
/// # Examples
///
/// ```
/// use tramline::http::StatusCode;
/// use tramline::middleware::{Next, from_fn};
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::{Request, Response, Router};
///
/// async fn require_token(req: Request, next: Next) -> Result<Response, StatusCode> {
///     match req.headers().get("authorization") {
///         Some(v) if v == "Bearer let-me-in" => Ok(next.run(req).await),
///         _ => Err(StatusCode::UNAUTHORIZED),
///     }
/// }
///
/// let app = Router::new()
///     .route("/secret", get(|| async { "42" }))
///     .layer(from_fn(require_token))
///     .layer(from_fn(async |req: Request, next: Next| {
///         let mut res = next.run(req).await;
///         res.headers_mut().insert("x-checked", tramline::http::HeaderValue::from_static("yes"));
///         res
///     }));
///
/// let client = TestClient::new(app);
/// client.get("/secret").send().assert_status(401);
/// client
///     .get("/secret")
///     .header("authorization", "Bearer let-me-in")
///     .send()
///     .assert_status(200)
///     .assert_header("x-checked", "yes")
///     .assert_text("42");
/// ```
pub fn from_fn<F, Fut, Res>(f: F) -> FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send + 'static,
    Res: IntoResponse,
{
    FromFn { f }
}

/// A middleware made by [`from_fn`].
#[derive(Clone, Copy)]
pub struct FromFn<F> {
    f: F,
}

impl<F, Fut, Res> Middleware for FromFn<F>
where
    F: Fn(Request, Next) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Res> + Send + 'static,
    Res: IntoResponse,
{
    fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static {
        let future = (self.f)(req, next);
        async move { future.await.into_response() }
    }
}

impl<F> fmt::Debug for FromFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromFn").finish_non_exhaustive()
    }
}
