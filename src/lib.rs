//! tramline is a runtime-agnostic micro web framework: write an app once and
//! serve it unchanged on any async runtime.
//!
//! ```no_run
//! use serde::Deserialize;
//! use tramline::extract::{Json, Path, Query};
//! use tramline::routing::get;
//! use tramline::{Router, Server};
//!
//! #[derive(Deserialize)]
//! struct Page {
//!     page: u32,
//! }
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "Hello, World!" }))
//!     .route("/users/{id}", get(|Path(id): Path<u64>| async move { format!("user {id}") }))
//!     .route(
//!         "/items",
//!         get(|Query(p): Query<Page>| async move { Json(vec![p.page]) }),
//!     );
//!
//! Server::bind("127.0.0.1:3000")?.serve(app)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![doc = include_str!("../docs/crate.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

#[doc = include_str!("../docs/deploying.md")]
pub mod deploying {}
#[doc = include_str!("../docs/migrating-from-axum.md")]
pub mod migrating_from_axum {}
pub mod extract;
#[cfg(feature = "fs")]
pub mod fs;
mod http1;
#[cfg(feature = "http2")]
mod http2;

pub mod middleware;
pub mod prelude;
mod proto;
pub mod response;
pub mod routing;
pub mod rt;
mod server;
pub mod test;
#[doc = include_str!("../docs/testing.md")]
pub mod testing {}
pub mod time;
pub mod upgrade;
mod vocab;

/// Checks a handler where it is written (feature `macros`), so a mistake is
/// reported at the argument or return type that is wrong rather than at
/// the route, as "`fn(..) -> .. {name}` is not a valid handler".
///
/// `#[debug_handler(state = AppState)]` checks against a router state; the
/// default is `()`. The checks compile to nothing.
///
/// ```
/// use tramline::Json;
/// use tramline::debug_handler;
/// use tramline::extract::State;
///
/// #[derive(Clone)]
/// struct AppState;
///
/// #[debug_handler(state = AppState)]
/// async fn create(State(_): State<AppState>, Json(n): Json<u32>) -> String {
///     n.to_string()
/// }
/// ```
///
/// A body extractor before another argument is named, with the note that
/// body extractors come last:
///
/// ```compile_fail,E0277
/// use tramline::Json;
/// use tramline::extract::State;
///
/// #[derive(Clone)]
/// struct AppState;
///
/// #[tramline::debug_handler(state = AppState)]
/// async fn create(Json(n): Json<u32>, State(_): State<AppState>) -> String {
///     n.to_string()
/// }
/// ```
///
/// So is an argument that is no extractor, a return type that is no
/// response, and a future that is not `Send`:
///
/// ```compile_fail,E0277
/// struct NotAnExtractor;
///
/// #[tramline::debug_handler]
/// async fn handler(_: NotAnExtractor) -> &'static str {
///     "unreachable"
/// }
/// ```
///
/// ```compile_fail,E0277
/// struct NotAResponse;
///
/// #[tramline::debug_handler]
/// async fn handler() -> NotAResponse {
///     NotAResponse
/// }
/// ```
///
/// ```compile_fail,E0277
/// #[tramline::debug_handler]
/// async fn handler() -> &'static str {
///     let held = std::rc::Rc::new(());
///     std::future::ready(()).await;
///     drop(held);
///     "not Send"
/// }
/// ```
#[cfg(feature = "macros")]
pub use tramline_macros::debug_handler;

/// What `#[debug_handler]`'s checks call; not an API.
#[doc(hidden)]
pub mod __private {
    /// Compiles only if `T` can be a handler's last argument.
    pub fn last_argument<S, T, M>()
    where
        T: crate::vocab::FromRequest<S, M>,
    {
    }

    /// Compiles only if the handler's future is `Send`.
    pub fn future_is_send<F: Future + Send>(_: F) {}
}
#[cfg(feature = "ws")]
pub mod ws;

pub use extract::Json;
pub use proto::proxy::{InvalidProxy, TrustedProxies};
pub use routing::{Handler, Router};
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use server::tls;
pub use server::{Server, ServerHandle};
pub use vocab::{Body, BodyError, BoxError, Error, Request, Response};

/// The `http` crate, whose types tramline's requests and responses use.
pub use http;

/// The engine's invariant checks, for the cargo-fuzz targets in `fuzz/`.
#[cfg(feature = "__fuzz")]
#[doc(hidden)]
pub mod __fuzz {
    pub use crate::http1::fuzz::{decode_chunked, parse_request, parse_request_in_pieces};
    pub use crate::server::fuzz::connection;
}

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
