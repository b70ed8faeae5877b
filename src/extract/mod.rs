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
//! | [`Request`], [`Body`](crate::Body) (last) | everything; `Body` streams | none |
//!
//! Every rejection is a `4xx` (or, for a route that contradicts its
//! handler's types, a `500`) whose `text/plain` body says exactly what was
//! wrong, for example `missing query parameter 'page'` or `invalid JSON at
//! line 1 column 9: expected value`. A body over its limit is `413 request
//! body too large`.

use crate::vocab::request::private::ViaParts;
pub use crate::vocab::request::{FromRequest, FromRequestParts, Request};

mod body;
mod connect_info;
#[cfg(feature = "cookies")]
#[cfg_attr(docsrs, doc(cfg(feature = "cookies")))]
pub mod cookie;
mod extension;
mod form;
mod json;
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

pub use json::Json;

impl<S, T> FromRequest<S, ViaParts> for T
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
        crate::vocab::recycle::give(parts.headers);
        crate::routing::params::recycle(parts.extensions);
        extracted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Body;
    use futures_lite::future::block_on;
    use http::{HeaderMap, Method, StatusCode, Uri, Version};

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
