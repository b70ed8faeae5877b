//! Types that pull typed data out of requests.
//!
//! A handler's arguments are extractors. Every argument but the last
//! implements [`FromRequestParts`], which sees only the request head
//! ([`http::request::Parts`]) and so can run in any order; the last may
//! instead implement [`FromRequest`] and consume the body. An extractor that
//! fails returns its rejection as the response, and the handler does not
//! run.
//!
//! | extractor | from | rejection |
//! |---|---|---|
//! | [`Path<T>`] | matched path parameters | [`PathRejection`](rejection::PathRejection) |
//! | [`Query<T>`] | the query string | [`QueryRejection`](rejection::QueryRejection) |
//! | [`State<T>`] | the router's state, via [`FromRef`] | none: a missing state does not compile |
//! | [`ConnectInfo<SocketAddr>`](ConnectInfo) | the peer's address (or, behind [trusted proxies](crate::TrustedProxies), the client's) | [`MissingConnectInfo`] |
//! | [`Extension<T>`] | a value a middleware inserted (`.layer(Extension(v))`) | [`MissingExtension`] |
//! | [`MatchedPath`] | the matched route's pattern (`/users/{id}`) | [`NoMatchedPath`] |
//! | `TypedHeader<T>` (feature `typed-header`) | a header as a `headers` crate type | `TypedHeaderRejection` |
//! | [`http::HeaderMap`], [`http::Method`], [`http::Uri`], [`http::Version`] | the head | none |
//! | `CookieJar` (feature `cookies`) | the `cookie` headers | none |
//! | `UpgradeRequest` ([`crate::upgrade`]), `WebSocketUpgrade` (feature `ws`) | a protocol upgrade | `UpgradeRejection`, `WebSocketRejection` |
//! | [`Option<T>`], [`Result<T, T::Rejection>`] | whatever `T` reads | none |
//! | [`Json<T>`] (last) | a JSON body | [`JsonRejection`](rejection::JsonRejection) |
//! | [`Form<T>`] (last) | a URL-encoded form body | [`FormRejection`](rejection::FormRejection) |
//! | `Multipart` (feature `multipart`, last) | a `multipart/form-data` body | `MultipartRejection` |
//! | [`Bytes`](bytes::Bytes), [`String`] (last) | the body | [`BytesRejection`](rejection::BytesRejection), [`StringRejection`](rejection::StringRejection) |
//! | [`Request`], [`Body`] (last) | everything; `Body` streams | none |
//!
//! Every rejection is a `4xx` (or, for a route that contradicts its
//! handler's types, a `500`) whose `text/plain` body says exactly what was
//! wrong, for example `missing query parameter 'page'` or `invalid JSON at
//! line 1 column 9: expected value`. A body over its limit is `413 request
//! body too large`.

use std::convert::Infallible;
use std::future::{Future, ready};

use http::request::Parts;
use http::{HeaderMap, Method, Uri, Version};

use crate::Body;
use crate::response::IntoResponse;

mod body;
mod connect_info;
#[cfg(feature = "cookies")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookies")))]
pub mod cookie;
mod extension;
mod form;
mod matched_path;
#[cfg(feature = "multipart")]
#[cfg_attr(docsrs, doc(cfg(feature = "multipart")))]
pub mod multipart;
mod path;
mod query;
pub mod rejection;
mod state;
#[cfg(feature = "typed-header")]
pub mod typed_header;

pub use connect_info::{ConnectInfo, MissingConnectInfo};
#[cfg(feature = "cookies")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookies")))]
pub use cookie::CookieJar;
pub use extension::{Extension, MissingExtension};
pub use form::Form;
pub use matched_path::{MatchedPath, NoMatchedPath};
#[cfg(feature = "multipart")]
#[cfg_attr(docsrs, doc(cfg(feature = "multipart")))]
pub use multipart::{Field, Multipart, MultipartError, MultipartRejection};
pub use path::Path;
pub use query::Query;
pub use state::{FromRef, State};
#[cfg(feature = "typed-header")]
pub use typed_header::{TypedHeader, TypedHeaderRejection};

pub use crate::json::Json;

/// An HTTP request as tramline hands it to handlers.
pub type Request<B = Body> = http::Request<B>;

/// Markers that let one type be both kinds of extractor without the two
/// blanket impls overlapping. Users never name them.
mod private {
    /// The extractor reads the whole request.
    #[derive(Debug, Clone, Copy)]
    #[allow(unreachable_pub, reason = "named only by FromRequest's default")]
    pub enum ViaRequest {}

    /// The extractor reads only the head (it implements `FromRequestParts`).
    #[derive(Debug, Clone, Copy)]
    #[allow(unreachable_pub, reason = "named only by a blanket impl")]
    pub enum ViaParts {}
}

/// Extracts a value from the request head.
///
/// Parts extractors may appear in any argument position of a handler, any
/// number of times. Implement this for your own extractors; the returned
/// future may borrow `parts` and `state`.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use tramline::http::request::Parts;
/// use tramline::extract::FromRequestParts;
///
/// /// The `user-agent` header, or an empty string.
/// struct UserAgent(String);
///
/// impl<S: Sync> FromRequestParts<S> for UserAgent {
///     type Rejection = Infallible;
///
///     // An `async fn` satisfies the trait when its future is `Send`.
///     async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
///         let agent = parts
///             .headers
///             .get("user-agent")
///             .and_then(|v| v.to_str().ok())
///             .unwrap_or("");
///         Ok(UserAgent(agent.to_owned()))
///     }
/// }
///
/// # let (mut parts, _) = tramline::http::Request::new(()).into_parts();
/// # let UserAgent(ua) = futures_lite::future::block_on(UserAgent::from_request_parts(&mut parts, &())).unwrap();
/// # assert_eq!(ua, "");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be extracted from the request head",
    label = "not a parts extractor",
    note = "every handler argument but the last must implement `FromRequestParts`; body extractors (`Json`, `String`, `Bytes`, `Request`) must come last"
)]
pub trait FromRequestParts<S>: Sized {
    /// The response sent when extraction fails.
    type Rejection: IntoResponse;

    /// Extracts the value from the request head and the router's state.
    fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

/// Extracts a value from the whole request, body included.
///
/// Only a handler's last argument may implement just this trait. `M` is a
/// marker that lets every [`FromRequestParts`] type also be used in that
/// position; leave it at its default when implementing the trait.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use tramline::http::StatusCode;
/// use tramline::Request;
/// use tramline::extract::FromRequest;
///
/// /// The body's length in bytes.
/// struct BodyLen(usize);
///
/// impl<S: Sync> FromRequest<S> for BodyLen {
///     type Rejection = StatusCode;
///
///     fn from_request(
///         req: Request,
///         _state: &S,
///     ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
///         async move {
///             let bytes = req.into_body().collect().await.map_err(|_| StatusCode::BAD_REQUEST)?;
///             Ok(BodyLen(bytes.len()))
///         }
///     }
/// }
///
/// # let req = Request::new(tramline::Body::from("four"));
/// # let BodyLen(n) = futures_lite::future::block_on(BodyLen::from_request(req, &())).unwrap();
/// # assert_eq!(n, 4);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be extracted from the request",
    label = "not an extractor",
    note = "a handler argument must implement `FromRequestParts` (any position) or `FromRequest` (last position only)"
)]
pub trait FromRequest<S, M = private::ViaRequest>: Sized {
    /// The response sent when extraction fails.
    type Rejection: IntoResponse;

    /// Extracts the value from the request and the router's state.
    fn from_request(
        req: Request,
        state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;
}

impl<S, T> FromRequest<S, private::ViaParts> for T
where
    S: Sync,
    T: FromRequestParts<S>,
{
    type Rejection = T::Rejection;

    // Splitting the request inside the future rather than before it saves
    // a copy of the head.
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        // The body is not needed; drop it before awaiting so the future
        // does not carry it past the first poll.
        drop(body);
        let extracted = T::from_request_parts(&mut parts, state).await;
        // Nothing reads the head after its last extractor: its header map
        // and its extensions map go back for the thread's next request.
        crate::recycle::give(parts.headers);
        crate::routing::params::recycle(parts.extensions);
        extracted
    }
}

impl<S, T> FromRequestParts<S> for Option<T>
where
    S: Sync,
    T: FromRequestParts<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(T::from_request_parts(parts, state).await.ok())
    }
}

impl<S, T> FromRequestParts<S> for Result<T, T::Rejection>
where
    S: Sync,
    T: FromRequestParts<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(T::from_request_parts(parts, state).await)
    }
}

impl<S, T> FromRequest<S> for Option<T>
where
    S: Sync,
    T: FromRequest<S>,
{
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(T::from_request(req, state).await.ok())
    }
}

impl<S, T> FromRequest<S> for Result<T, T::Rejection>
where
    S: Sync,
    T: FromRequest<S>,
{
    type Rejection = Infallible;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Ok(T::from_request(req, state).await)
    }
}

/// Implements `FromRequestParts` for a head field that is cloned out.
macro_rules! head_extractor {
    ($ty:ty, |$parts:ident| $get:expr) => {
        impl<S> FromRequestParts<S> for $ty {
            type Rejection = Infallible;

            fn from_request_parts(
                $parts: &mut Parts,
                _state: &S,
            ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
                ready(Ok($get))
            }
        }
    };
}

// Clones rather than takes: other extractors may read the same field.
head_extractor!(HeaderMap, |parts| parts.headers.clone());
head_extractor!(Method, |parts| parts.method.clone());
head_extractor!(Uri, |parts| parts.uri.clone());
head_extractor!(Version, |parts| parts.version);

impl<S> FromRequest<S> for Request {
    type Rejection = Infallible;

    fn from_request(
        req: Request,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(Ok(req))
    }
}

impl<S> FromRequest<S> for Body {
    type Rejection = Infallible;

    fn from_request(
        req: Request,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(Ok(req.into_body()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;
    use http::StatusCode;

    fn assert_parts<T: FromRequestParts<()>>() {}
    fn assert_request<T: FromRequest<(), M>, M>() {}

    #[test]
    fn extractor_kinds_check_at_compile_time() {
        assert_parts::<HeaderMap>();
        assert_parts::<Method>();
        assert_parts::<Uri>();
        assert_parts::<Version>();
        assert_parts::<Option<Method>>();
        assert_parts::<Result<Path<u32>, rejection::PathRejection>>();
        assert_parts::<State<()>>();
        // Parts extractors also work in the last position.
        assert_request::<Method, _>();
        assert_request::<Request, _>();
        assert_request::<Body, _>();
        assert_request::<Option<String>, _>();
        assert_request::<Result<bytes::Bytes, rejection::BytesRejection>, _>();
    }

    fn request(body: impl Into<Body>) -> Request {
        Request::post("/a?b=c")
            .header("x-k", "v")
            .body(body.into())
            .unwrap()
    }

    #[test]
    fn head_extractors_clone_the_fields() {
        let (mut parts, _) = request("").into_parts();
        let headers = block_on(HeaderMap::from_request_parts(&mut parts, &())).unwrap();
        let method = block_on(Method::from_request_parts(&mut parts, &())).unwrap();
        let uri = block_on(Uri::from_request_parts(&mut parts, &())).unwrap();
        let version = block_on(Version::from_request_parts(&mut parts, &())).unwrap();
        assert_eq!(headers["x-k"], "v");
        assert_eq!(method, Method::POST);
        assert_eq!(uri, "/a?b=c");
        assert_eq!(version, Version::HTTP_11);
        assert_eq!(
            parts.headers["x-k"], "v",
            "extraction must not take the field"
        );
    }

    #[test]
    fn option_and_result_wrappers_never_reject() {
        let req = request("\u{0}ok");
        let (mut parts, _) = req.into_parts();
        let missing = block_on(Option::<Path<u32>>::from_request_parts(&mut parts, &())).unwrap();
        assert!(missing.is_none());
        let failed = block_on(Result::<Path<u32>, _>::from_request_parts(&mut parts, &())).unwrap();
        assert_eq!(
            failed.unwrap_err().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );

        let bad_utf8 = block_on(Option::<String>::from_request(request(vec![0xff]), &())).unwrap();
        assert!(bad_utf8.is_none());
        let good = block_on(Option::<String>::from_request(request("x"), &())).unwrap();
        assert_eq!(good.as_deref(), Some("x"));
    }
}
