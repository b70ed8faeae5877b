//! The request side of the vocabulary: [`Request`] and the extractor
//! traits, [`FromRequestParts`] and [`FromRequest`], with the impls every
//! layer relies on (`Option`, `Result`, the head fields, the request and
//! its body).

use std::convert::Infallible;
use std::future::{Future, ready};

use http::request::Parts;
use http::{HeaderMap, Method, Uri, Version};

use super::body::Body;
use super::response::IntoResponse;

/// An HTTP request as tramline hands it to handlers.
pub type Request<B = Body> = http::Request<B>;

/// Markers that let one type be both kinds of extractor without the two
/// blanket impls overlapping. Users never name them.
pub(crate) mod private {
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
