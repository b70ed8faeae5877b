//! The `Bytes` and `String` extractors: the whole request body.

use std::fmt;
use std::future::Future;

use bytes::Bytes;
use http::StatusCode;

use super::rejection::composite_rejection;
use super::rejection::rejection_impls;
use super::{FromRequest, Request};

impl<S> FromRequest<S> for Bytes {
    type Rejection = BytesRejection;

    fn from_request(
        req: Request,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        // Not an `async fn`: that would capture `&S` and need `S: Sync`.
        let body = req.into_body();
        async move { body.collect().await.map_err(BytesRejection::new) }
    }
}

impl<S> FromRequest<S> for String {
    type Rejection = StringRejection;

    fn from_request(
        req: Request,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let body = req.into_body();
        async move {
            let bytes = body.collect().await.map_err(BytesRejection::new)?;
            // `Vec::from(Bytes)` reuses the buffer when it is not shared.
            Self::from_utf8(Vec::from(bytes)).map_err(|e| InvalidUtf8::new(e).into())
        }
    }
}

/// Rejection of [`Bytes`](bytes::Bytes): the request body could not be
/// read. `413 Payload Too Large` with `request body too large` when it
/// passed its limit (see [`BodyLimit`](crate::middleware::BodyLimit)), else
/// `400 Bad Request` with `failed to read the request body`.
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::BytesRejection;
///
/// fn status(r: &BytesRejection) -> tramline::http::StatusCode {
///     r.status()
/// }
/// ```
#[derive(Debug)]
pub struct BytesRejection {
    source: crate::vocab::BodyError,
}

impl BytesRejection {
    pub(crate) fn new(source: crate::vocab::BodyError) -> Self {
        Self { source }
    }

    /// Returns the status code of the response: `413 Payload Too Large`
    /// for a body over its limit (see [`crate::Body::with_limit`]), else
    /// `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        if self.source.is_too_large() {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        }
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.source.is_too_large() {
            return f.write_str("request body too large");
        }
        f.write_str("failed to read the request body")?;
        match std::error::Error::source(&self.source) {
            Some(cause) => write!(f, ": {cause}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for BytesRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
rejection_impls!(BytesRejection);

/// The request body is not valid UTF-8. `400 Bad Request`.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Body, Request};
/// use tramline::routing::post;
///
/// let app = Router::new().route("/", post(|body: String| async move { body }));
/// let req = Request::post("/").body(Body::from(vec![0xff, 0xfe])).unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 400);
/// ```
#[derive(Debug)]
pub struct InvalidUtf8 {
    source: std::string::FromUtf8Error,
}

impl InvalidUtf8 {
    pub(crate) fn new(source: std::string::FromUtf8Error) -> Self {
        Self { source }
    }

    /// Returns the status code of the response: always `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body is not valid UTF-8")
    }
}

impl std::error::Error for InvalidUtf8 {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
rejection_impls!(InvalidUtf8);

/// Rejection of [`String`]: the body could not be read or is not UTF-8.
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::StringRejection;
///
/// fn describe(r: &StringRejection) -> String {
///     match r {
///         StringRejection::InvalidUtf8(_) => "not text".into(),
///         other => other.body_text(),
///     }
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StringRejection {
    /// The body could not be read.
    BytesRejection(BytesRejection),
    /// The body is not valid UTF-8.
    InvalidUtf8(InvalidUtf8),
}

composite_rejection!(StringRejection {
    BytesRejection,
    InvalidUtf8
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::Body;
    use futures_lite::future::block_on;

    fn request(body: impl Into<Body>) -> Request {
        Request::post("/").body(body.into()).unwrap()
    }

    #[test]
    fn body_extractors_read_the_body() {
        let bytes = block_on(Bytes::from_request(request("raw"), &())).unwrap();
        assert_eq!(bytes, "raw");
        let text = block_on(String::from_request(request("text"), &())).unwrap();
        assert_eq!(text, "text");
        let err = block_on(String::from_request(request(vec![b'a', 0xff]), &())).unwrap_err();
        assert!(matches!(err, StringRejection::InvalidUtf8(_)));
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn body_read_failure_is_a_bad_request() {
        let stream = futures_lite::stream::iter([Err::<Bytes, _>(std::io::Error::other("cut"))]);
        let req = Request::new(Body::from_stream(stream));
        let err = block_on(String::from_request(req, &())).unwrap_err();
        assert!(matches!(err, StringRejection::BytesRejection(_)));
        assert_eq!(err.body_text(), "failed to read the request body: cut");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn body_over_its_limit_is_413_before_it_is_read() {
        let req = Request::new(Body::from("12345").with_limit(4));
        let err = block_on(Bytes::from_request(req, &())).unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(err.body_text(), "request body too large");
    }

    #[test]
    fn string_rejection_delegates_to_its_cause() {
        let utf8 = String::from_utf8(vec![0xff]).unwrap_err();
        let rejection = StringRejection::from(InvalidUtf8::new(utf8));
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        assert_eq!(rejection.to_string(), "request body is not valid UTF-8");
        assert!(std::error::Error::source(&rejection).is_some());
    }
}
