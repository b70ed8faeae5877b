//! Rejections: why an extractor refused a request.
//!
//! Every extractor has its own rejection type. Each implements
//! [`IntoResponse`] (a short `text/plain` body with the status that fits),
//! [`Display`](fmt::Display) (the same text) and [`std::error::Error`], and
//! exposes `status()` and `body_text()`. Rejections that combine several
//! causes are `#[non_exhaustive]` enums whose variants are the causes.

use std::fmt;

use http::StatusCode;

use crate::response::{IntoResponse, Response, plain_text};

/// Implements `Display`, `body_text`, and `IntoResponse` for a rejection
/// that has `status(&self)` and `fmt_text(&self, f)`.
macro_rules! rejection_impls {
    ($ty:ident) => {
        impl $ty {
            /// Returns the text sent as the response body.
            pub fn body_text(&self) -> String {
                self.to_string()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.fmt_text(f)
            }
        }

        impl IntoResponse for $ty {
            fn into_response(self) -> Response {
                let status = self.status();
                if status.is_server_error() {
                    // A server-side rejection means the route and the
                    // handler disagree; the client cannot fix it.
                    tracing::error!(rejection = %self, "extractor rejected a request");
                }
                plain_text(status, self.body_text())
            }
        }
    };
}

/// Implements the rejection API for a `#[non_exhaustive]` enum by
/// delegating to the variant's own type.
macro_rules! composite_rejection {
    ($ty:ident { $($variant:ident),+ $(,)? }) => {
        impl $ty {
            /// Returns the status code of the response.
            pub fn status(&self) -> StatusCode {
                match self {
                    $(Self::$variant(inner) => inner.status(),)+
                }
            }

            fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $(Self::$variant(inner) => fmt::Display::fmt(inner, f),)+
                }
            }
        }

        impl std::error::Error for $ty {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $(Self::$variant(inner) => Some(inner),)+
                }
            }
        }

        $(
            impl From<$variant> for $ty {
                fn from(inner: $variant) -> Self {
                    Self::$variant(inner)
                }
            }
        )+

        rejection_impls!($ty);
    };
}

/// Rewrites serde's error text into one that speaks of `what` (for
/// example `query parameter`): a missing field becomes `missing {what}
/// 'name'`, one at `path` (serde_path_to_error's path of the field that did
/// not fit) `invalid {what} 'path': ` and serde's message, anything else
/// (`path` is `.` for the whole value) `{otherwise}: ` and the message.
fn describe_field(message: &str, path: &str, what: &str, otherwise: &str) -> String {
    // serde's derive reports "missing field `name`".
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return format!("missing {what} '{name}'");
    }
    if !path.is_empty() && path != "." {
        return format!("invalid {what} '{path}': {message}");
    }
    format!("{otherwise}: {message}")
}

/// Deserializes `application/x-www-form-urlencoded` bytes (a query string
/// or a form body); the error names the field that did not fit, in
/// [`describe_field`]'s words.
pub(crate) fn from_urlencoded<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    otherwise: &str,
) -> Result<T, String> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        describe_field(&e.into_inner().to_string(), &path, what, otherwise)
    })
}

/// Defines a rejection that carries nothing: a fixed status and text.
macro_rules! unit_rejection {
    ($(#[$doc:meta])* $ty:ident, $status:ident, $text:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $ty(());

        impl $ty {
            pub(crate) fn new() -> Self {
                Self(())
            }

            #[doc = concat!("Returns the status code of the response: `", stringify!($status), "`.")]
            pub fn status(&self) -> StatusCode {
                StatusCode::$status
            }

            fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($text)
            }
        }

        impl std::error::Error for $ty {}
        rejection_impls!($ty);
    };
}

/// Rejection of [`Path`](super::Path): the matched path parameters do not
/// fit the requested type.
///
/// Bad input (a value that does not parse, a bad percent-encoding) is a
/// `400 Bad Request` that names the parameter. A mismatch between the route
/// and the type (wrong number of parameters, a type the path cannot hold)
/// is a `500 Internal Server Error`, since only the server can fix it.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
/// use tramline::extract::Path;
///
/// let app = Router::new().route("/users/{id}", get(|Path(id): Path<u32>| async move { id.to_string() }));
/// let req = Request::get("/users/abc").body(Body::empty()).unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 400);
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(
///     body,
///     r#"invalid path parameter 'id': expected an unsigned integer, got "abc""#,
/// );
/// ```
#[derive(Debug)]
pub struct PathRejection {
    kind: PathErrorKind,
}

#[derive(Debug)]
pub(crate) enum PathErrorKind {
    /// One value did not deserialize.
    InvalidParam {
        name: String,
        message: String,
    },
    /// A value was not valid percent-encoding, or not UTF-8 once decoded.
    Encoding {
        name: String,
        utf8: bool,
    },
    /// A deserializer error that names no parameter (e.g. a missing field).
    Message(String),
    WrongCount {
        expected: usize,
        got: usize,
    },
    Unsupported(&'static str),
}

impl PathRejection {
    pub(crate) fn new(kind: PathErrorKind) -> Self {
        Self { kind }
    }

    /// Returns the status code of the response: `400` for bad input, `500`
    /// when the route and the requested type disagree.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            PathErrorKind::InvalidParam { .. }
            | PathErrorKind::Encoding { .. }
            | PathErrorKind::Message(_) => StatusCode::BAD_REQUEST,
            PathErrorKind::WrongCount { .. } | PathErrorKind::Unsupported(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PathErrorKind::InvalidParam { name, message } => {
                write!(f, "invalid path parameter '{name}': {message}")
            }
            PathErrorKind::Encoding { name, utf8: false } => {
                write!(f, "invalid percent-encoding in path parameter '{name}'")
            }
            PathErrorKind::Encoding { name, utf8: true } => {
                write!(
                    f,
                    "path parameter '{name}' is not valid UTF-8 once percent-decoded"
                )
            }
            PathErrorKind::Message(message) => write!(f, "invalid path parameters: {message}"),
            PathErrorKind::WrongCount { expected, got } => {
                write!(
                    f,
                    "wrong number of path parameters: expected {expected}, got {got}"
                )
            }
            PathErrorKind::Unsupported(what) => {
                write!(f, "unsupported type for path parameters: {what}")
            }
        }
    }
}

impl std::error::Error for PathRejection {}
rejection_impls!(PathRejection);

/// Rejection of [`Query`](super::Query): the query string does not fit the
/// requested type. Always `400 Bad Request`.
///
/// A missing field reads `missing query parameter 'page'`; other problems
/// read `invalid query string: ` followed by the deserializer's message.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
/// use tramline::extract::Query;
/// use std::collections::HashMap;
///
/// #[derive(serde::Deserialize)]
/// struct Page { page: u32 }
///
/// let app = Router::new().route("/", get(|Query(p): Query<Page>| async move { p.page.to_string() }));
/// let res = futures_lite::future::block_on(app.handle(Request::get("/").body(Body::empty()).unwrap()));
/// assert_eq!(res.status(), 400);
/// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
/// assert_eq!(body, "missing query parameter 'page'");
/// ```
#[derive(Debug)]
pub struct QueryRejection {
    message: String,
}

impl QueryRejection {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }

    /// Returns the status code of the response: always `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryRejection {}
rejection_impls!(QueryRejection);

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
    source: crate::BodyError,
}

impl BytesRejection {
    pub(crate) fn new(source: crate::BodyError) -> Self {
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

unit_rejection!(
    /// The request has no `content-type: application/json` (or `+json`)
    /// header. `415 Unsupported Media Type`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router, Json, Body, Request};
    /// use tramline::routing::post;
    ///
    /// let app = Router::new().route("/", post(|Json(v): Json<u32>| async move { v.to_string() }));
    /// let req = Request::post("/").body(Body::from("1")).unwrap();
    /// let res = futures_lite::future::block_on(app.handle(req));
    /// assert_eq!(res.status(), 415);
    /// ```
    MissingJsonContentType,
    UNSUPPORTED_MEDIA_TYPE,
    "expected request with content-type: application/json"
);

/// The body is not syntactically valid JSON. `400 Bad Request`, with the
/// parser's position and message: `invalid JSON at line 1 column 9:
/// expected value`.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Json, Body, Request};
/// use tramline::routing::post;
///
/// let app = Router::new().route("/", post(|Json(v): Json<u32>| async move { v.to_string() }));
/// let req = Request::post("/")
///     .header("content-type", "application/json")
///     .body(Body::from("1 2"))
///     .unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 400);
/// ```
#[derive(Debug)]
pub struct JsonSyntaxError {
    source: serde_json::Error,
}

impl JsonSyntaxError {
    pub(crate) fn new(source: serde_json::Error) -> Self {
        Self { source }
    }

    /// Returns the status code of the response: always `400 Bad Request`.
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_json_error(f, "invalid JSON", &self.source)
    }
}

impl std::error::Error for JsonSyntaxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
rejection_impls!(JsonSyntaxError);

/// The body is valid JSON but does not fit the requested type.
/// `422 Unprocessable Entity`, with the position and what was wrong:
/// ``invalid JSON data at line 1 column 14: missing field `age` ``.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Json, Body, Request};
/// use tramline::routing::post;
///
/// let app = Router::new().route("/", post(|Json(v): Json<u32>| async move { v.to_string() }));
/// let req = Request::post("/")
///     .header("content-type", "application/json")
///     .body(Body::from("\"seven\""))
///     .unwrap();
/// let res = futures_lite::future::block_on(app.handle(req));
/// assert_eq!(res.status(), 422);
/// ```
#[derive(Debug)]
pub struct JsonDataError {
    source: serde_json::Error,
}

impl JsonDataError {
    pub(crate) fn new(source: serde_json::Error) -> Self {
        Self { source }
    }

    /// Returns the status code of the response: `422 Unprocessable Entity`.
    pub fn status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_json_error(f, "invalid JSON data", &self.source)
    }
}

impl std::error::Error for JsonDataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
rejection_impls!(JsonDataError);

/// Writes `{what} at line L column C: {message}`, moving serde_json's
/// position to the front where a reader looks first.
fn fmt_json_error(
    f: &mut fmt::Formatter<'_>,
    what: &str,
    error: &serde_json::Error,
) -> fmt::Result {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(message) if error.line() > 0 => write!(f, "{what}{position}: {message}"),
        _ => write!(f, "{what}: {text}"),
    }
}

/// Rejection of [`Json`](crate::Json).
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::JsonRejection;
///
/// fn is_client_error(r: &JsonRejection) -> bool {
///     matches!(r, JsonRejection::JsonSyntaxError(_) | JsonRejection::JsonDataError(_))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JsonRejection {
    /// The `content-type` is not JSON.
    MissingJsonContentType(MissingJsonContentType),
    /// The body is not valid JSON.
    JsonSyntaxError(JsonSyntaxError),
    /// The JSON does not fit the target type.
    JsonDataError(JsonDataError),
    /// The body could not be read.
    BytesRejection(BytesRejection),
}

composite_rejection!(JsonRejection {
    MissingJsonContentType,
    JsonSyntaxError,
    JsonDataError,
    BytesRejection,
});

unit_rejection!(
    /// The request has no `content-type: application/x-www-form-urlencoded`
    /// header. `415 Unsupported Media Type`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::extract::rejection::MissingFormContentType;
    ///
    /// fn status(r: &MissingFormContentType) -> tramline::http::StatusCode {
    ///     r.status()
    /// }
    /// ```
    MissingFormContentType,
    UNSUPPORTED_MEDIA_TYPE,
    "expected request with content-type: application/x-www-form-urlencoded"
);

/// The form body does not fit the requested type. `422 Unprocessable
/// Entity`: `missing form field 'email'`, or `invalid form body: ` and the
/// deserializer's message.
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::InvalidFormBody;
///
/// fn status(r: &InvalidFormBody) -> tramline::http::StatusCode {
///     r.status()
/// }
/// ```
#[derive(Debug)]
pub struct InvalidFormBody {
    message: String,
}

impl InvalidFormBody {
    pub(crate) fn new(message: String) -> Self {
        Self { message }
    }

    /// Returns the status code of the response: `422 Unprocessable Entity`.
    pub fn status(&self) -> StatusCode {
        StatusCode::UNPROCESSABLE_ENTITY
    }

    fn fmt_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidFormBody {}
rejection_impls!(InvalidFormBody);

/// Rejection of [`Form`](super::Form).
///
/// # Examples
///
/// ```
/// use tramline::extract::rejection::FormRejection;
///
/// fn is_bad_content_type(r: &FormRejection) -> bool {
///     matches!(r, FormRejection::MissingFormContentType(_))
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum FormRejection {
    /// The `content-type` is not a URL-encoded form.
    MissingFormContentType(MissingFormContentType),
    /// The form does not fit the target type.
    InvalidFormBody(InvalidFormBody),
    /// The body could not be read.
    BytesRejection(BytesRejection),
}

composite_rejection!(FormRejection {
    MissingFormContentType,
    InvalidFormBody,
    BytesRejection,
});

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn response_text(res: Response) -> (StatusCode, String, String) {
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        let status = res.status();
        let body = block_on(res.into_body().collect()).unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[test]
    fn path_rejections_pick_status_and_text() {
        let cases = [
            (
                PathErrorKind::InvalidParam {
                    name: "id".into(),
                    message: "bad".into(),
                },
                StatusCode::BAD_REQUEST,
                "invalid path parameter 'id': bad",
            ),
            (
                PathErrorKind::Encoding {
                    name: "n".into(),
                    utf8: false,
                },
                StatusCode::BAD_REQUEST,
                "invalid percent-encoding in path parameter 'n'",
            ),
            (
                PathErrorKind::Encoding {
                    name: "n".into(),
                    utf8: true,
                },
                StatusCode::BAD_REQUEST,
                "path parameter 'n' is not valid UTF-8 once percent-decoded",
            ),
            (
                PathErrorKind::Message("missing field `a`".into()),
                StatusCode::BAD_REQUEST,
                "invalid path parameters: missing field `a`",
            ),
            (
                PathErrorKind::WrongCount {
                    expected: 1,
                    got: 2,
                },
                StatusCode::INTERNAL_SERVER_ERROR,
                "wrong number of path parameters: expected 1, got 2",
            ),
            (
                PathErrorKind::Unsupported("a map inside a parameter"),
                StatusCode::INTERNAL_SERVER_ERROR,
                "unsupported type for path parameters: a map inside a parameter",
            ),
        ];
        for (kind, status, text) in cases {
            let rejection = PathRejection::new(kind);
            assert_eq!(rejection.status(), status, "{text}");
            assert_eq!(rejection.body_text(), text);
            assert_eq!(
                response_text(rejection.into_response()),
                (
                    status,
                    "text/plain; charset=utf-8".to_owned(),
                    text.to_owned()
                )
            );
        }
    }

    #[test]
    fn composite_rejections_delegate_to_their_cause() {
        let syntax = serde_json::from_str::<Vec<u32>>("[1,]").unwrap_err();
        let rejection = JsonRejection::from(JsonSyntaxError::new(syntax));
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            rejection.body_text(),
            "invalid JSON at line 1 column 4: trailing comma"
        );
        assert!(std::error::Error::source(&rejection).is_some());

        let rejection = JsonRejection::from(MissingJsonContentType::new());
        assert_eq!(rejection.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(
            response_text(rejection.into_response()).2,
            "expected request with content-type: application/json"
        );

        let utf8 = String::from_utf8(vec![0xff]).unwrap_err();
        let rejection = StringRejection::from(InvalidUtf8::new(utf8));
        assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
        assert_eq!(rejection.to_string(), "request body is not valid UTF-8");
    }
}
