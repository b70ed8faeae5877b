//! The response side of the vocabulary: [`Response`] and [`IntoResponse`],
//! with the impls for the common handler results.

use std::borrow::Cow;
use std::convert::Infallible;

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::body::Body;
use super::error::{Error, reason};

/// An HTTP response as tramline sends it.
pub type Response<B = Body> = http::Response<B>;

pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// Converts a value into a [`Response`].
///
/// Handlers return `impl IntoResponse`, and every extractor rejection
/// implements it too. Text (`&'static str`, `String`) is sent as
/// `text/plain; charset=utf-8`, raw bytes (`Bytes`, `Vec<u8>`) as
/// `application/octet-stream`, and a [`Body`] with no `content-type`.
///
/// Tuples add to the response of their last element: `(StatusCode, T)`
/// replaces the status, `(HeaderMap, T)` and `([(K, V); N], T)` insert
/// headers (replacing those of the same name; `K` and `V` may be `&str`,
/// `String` or the `http` header types, and an invalid one answers `500`),
/// and `(StatusCode, HeaderMap, T)` / `(StatusCode, [(K, V); N], T)` do
/// both.
///
/// # Examples
///
/// ```
/// use tramline::response::IntoResponse;
/// use http::{header, HeaderValue, StatusCode};
///
/// let res = (StatusCode::CREATED, "made").into_response();
/// assert_eq!(res.status(), StatusCode::CREATED);
/// assert_eq!(res.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
///
/// let css = [(header::CONTENT_TYPE, HeaderValue::from_static("text/css"))];
/// let res = (css, "body {}").into_response();
/// assert_eq!(res.headers()[header::CONTENT_TYPE], "text/css");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be turned into a response",
    label = "does not implement `IntoResponse`",
    note = "return a `String`, `&'static str`, `Bytes`, `Json<T>`, `Html<T>`, `StatusCode`, `Response`, a `(StatusCode, T)` tuple or a `Result` of those"
)]
pub trait IntoResponse {
    /// Creates the response.
    fn into_response(self) -> Response;
}

/// Builds a response with `body` and, when given, a `content-type`.
fn with_content_type(body: Body, content_type: Option<HeaderValue>) -> Response {
    let mut res = super::recycle::response(body);
    if let Some(value) = content_type {
        res.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    res
}

/// Builds a `text/plain` response with `status`; used for tramline's own
/// short error bodies.
pub(crate) fn plain_text(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut res = with_content_type(body.into(), Some(TEXT_PLAIN));
    *res.status_mut() = status;
    res
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        super::recycle::response(self)
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        super::recycle::response(Body::empty())
    }
}

impl IntoResponse for Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut res = super::recycle::response(Body::empty());
        *res.status_mut() = self;
        res
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_content_type(self.into(), Some(TEXT_PLAIN))
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_content_type(self.into(), Some(TEXT_PLAIN))
    }
}

impl IntoResponse for Cow<'static, str> {
    fn into_response(self) -> Response {
        match self {
            Cow::Borrowed(s) => s.into_response(),
            Cow::Owned(s) => s.into_response(),
        }
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_content_type(self.into(), Some(OCTET_STREAM))
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_content_type(self.into(), Some(OCTET_STREAM))
    }
}

impl IntoResponse for &'static [u8] {
    fn into_response(self) -> Response {
        with_content_type(self.into(), Some(OCTET_STREAM))
    }
}

impl<T, E> IntoResponse for Result<T, E>
where
    T: IntoResponse,
    E: IntoResponse,
{
    fn into_response(self) -> Response {
        match self {
            Ok(ok) => ok.into_response(),
            Err(err) => err.into_response(),
        }
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        *res.status_mut() = self.0;
        res
    }
}

impl<T: IntoResponse> IntoResponse for (HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        res.headers_mut().extend(self.0);
        res
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    fn into_response(self) -> Response {
        let mut res = (self.1, self.2).into_response();
        *res.status_mut() = self.0;
        res
    }
}

/// Inserts `headers`, or says which one is invalid.
fn insert_headers<K, V, const N: usize>(
    res: &mut Response,
    headers: [(K, V); N],
) -> Result<(), String>
where
    K: TryInto<HeaderName>,
    K::Error: std::fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: std::fmt::Display,
{
    for (name, value) in headers {
        let name = name.try_into().map_err(|e| e.to_string())?;
        let value = value.try_into().map_err(|e| e.to_string())?;
        res.headers_mut().insert(name, value);
    }
    Ok(())
}

/// A bad header is the handler's bug: log it and send no half-made
/// response.
fn invalid_header(error: &str) -> Response {
    tracing::error!(%error, "invalid response header");
    plain_text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
}

impl<K, V, T, const N: usize> IntoResponse for ([(K, V); N], T)
where
    K: TryInto<HeaderName>,
    K::Error: std::fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: std::fmt::Display,
    T: IntoResponse,
{
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        match insert_headers(&mut res, self.0) {
            Ok(()) => res,
            Err(error) => invalid_header(&error),
        }
    }
}

impl<K, V, T, const N: usize> IntoResponse for (StatusCode, [(K, V); N], T)
where
    K: TryInto<HeaderName>,
    K::Error: std::fmt::Display,
    V: TryInto<HeaderValue>,
    V::Error: std::fmt::Display,
    T: IntoResponse,
{
    fn into_response(self) -> Response {
        let mut res = self.2.into_response();
        match insert_headers(&mut res, self.1) {
            Ok(()) => {
                *res.status_mut() = self.0;
                res
            }
            Err(error) => invalid_header(&error),
        }
    }
}

/// An [`Error`] answers with its status and message as `text/plain`; a
/// `5xx` sends only its status's reason, and logs the message and the
/// cause instead.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let (status, message, source) = self.into_parts();
        if status.is_server_error() {
            match &source {
                Some(source) => {
                    tracing::error!(%status, %message, error = %source, "request failed")
                }
                None => tracing::error!(%status, %message, "request failed"),
            }
            return plain_text(status, reason(status));
        }
        plain_text(status, message.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn parts(res: Response) -> (StatusCode, Option<String>, String) {
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = res.status();
        let body = block_on(res.into_body().collect()).unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    const TEXT: Option<&str> = Some("text/plain; charset=utf-8");
    const OCTETS: Option<&str> = Some("application/octet-stream");

    #[test]
    fn plain_values_pick_status_content_type_and_body() {
        let cases: Vec<(&str, Response, StatusCode, Option<&str>, &str)> = vec![
            ("unit", ().into_response(), StatusCode::OK, None, ""),
            (
                "static str",
                "hi".into_response(),
                StatusCode::OK,
                TEXT,
                "hi",
            ),
            (
                "string",
                String::from("s").into_response(),
                StatusCode::OK,
                TEXT,
                "s",
            ),
            (
                "cow",
                Cow::Borrowed("c").into_response(),
                StatusCode::OK,
                TEXT,
                "c",
            ),
            (
                "bytes",
                Bytes::from_static(b"b").into_response(),
                StatusCode::OK,
                OCTETS,
                "b",
            ),
            (
                "vec",
                b"v".to_vec().into_response(),
                StatusCode::OK,
                OCTETS,
                "v",
            ),
            (
                "slice",
                (&b"sl"[..]).into_response(),
                StatusCode::OK,
                OCTETS,
                "sl",
            ),
            (
                "body",
                Body::from("raw").into_response(),
                StatusCode::OK,
                None,
                "raw",
            ),
            (
                "status",
                StatusCode::NO_CONTENT.into_response(),
                StatusCode::NO_CONTENT,
                None,
                "",
            ),
            (
                "status tuple",
                (StatusCode::IM_A_TEAPOT, "tea").into_response(),
                StatusCode::IM_A_TEAPOT,
                TEXT,
                "tea",
            ),
            (
                "ok result",
                Ok::<_, StatusCode>("fine").into_response(),
                StatusCode::OK,
                TEXT,
                "fine",
            ),
            (
                "err result",
                Err::<&str, _>((StatusCode::BAD_GATEWAY, "down")).into_response(),
                StatusCode::BAD_GATEWAY,
                TEXT,
                "down",
            ),
        ];
        for (name, res, status, content_type, body) in cases {
            let got = parts(res);
            assert_eq!(
                got,
                (status, content_type.map(str::to_owned), body.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn header_tuples_override_the_inner_content_type() {
        let css = HeaderValue::from_static("text/css");
        let array = ([(header::CONTENT_TYPE, css.clone())], "a{}").into_response();
        assert_eq!(array.headers()[header::CONTENT_TYPE], "text/css");

        let mut map = HeaderMap::new();
        map.insert(header::CONTENT_TYPE, css.clone());
        map.insert("x-extra", HeaderValue::from_static("1"));
        let res = (StatusCode::ACCEPTED, map, "a{}").into_response();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/css");
        assert_eq!(res.headers()["x-extra"], "1");
        assert_eq!(
            res.headers().get_all(header::CONTENT_TYPE).iter().count(),
            1
        );

        let res = (
            StatusCode::CREATED,
            [(header::LOCATION, HeaderValue::from_static("/x"))],
            (),
        )
            .into_response();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()[header::LOCATION], "/x");
    }

    #[test]
    fn header_arrays_take_strings_and_refuse_invalid_ones() {
        let res = ([("x-cache", "HIT")], "v").into_response();
        assert_eq!(res.headers()["x-cache"], "HIT");
        let res = (StatusCode::CREATED, [("x-id", String::from("7"))], ()).into_response();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.headers()["x-id"], "7");
        let res = (StatusCode::CREATED, [("bad name", "v")], ()).into_response();
        assert_eq!(
            parts(res),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                TEXT.map(str::to_owned),
                "internal server error".to_owned()
            )
        );
    }

    #[test]
    fn plain_text_sets_status_and_text_content_type() {
        let res = plain_text(StatusCode::NOT_FOUND, "not found");
        assert_eq!(
            parts(res),
            (
                StatusCode::NOT_FOUND,
                TEXT.map(str::to_owned),
                "not found".to_owned()
            )
        );
    }
}
