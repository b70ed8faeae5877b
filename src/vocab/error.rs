//! The errors of the vocabulary: [`BoxError`], the [`BodyError`] a body
//! yields, and [`Error`], the ready error a handler returns.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// A boxed error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error reading or producing a body: the client broke the body's
/// framing or went away, a body stream failed, or the body passed its
/// limit ([`BodyError::is_too_large`]).
///
/// One pointer wide; the underlying cause is reached through
/// [`std::error::Error::source`]. Handlers rarely see it directly: the
/// body extractors turn it into a 400 or 413 rejection, and `?` into
/// [`crate::Error`] does the same.
pub struct BodyError {
    inner: Box<BodyInner>,
}

struct BodyInner {
    too_large: bool,
    cause: BoxError,
}

/// A body passed the limit set by [`Body::with_limit`](crate::Body::with_limit).
///
/// Lives beside [`BodyError`], which recognises it as its cause, so that
/// the body can make it without the two modules needing each other.
#[derive(Debug)]
pub(crate) struct LengthLimitError;

impl fmt::Display for LengthLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("length limit exceeded")
    }
}

impl std::error::Error for LengthLimitError {}

impl BodyError {
    pub(crate) fn new(cause: impl Into<BoxError>) -> Self {
        let cause = cause.into();
        Self {
            inner: Box::new(BodyInner {
                too_large: cause.is::<LengthLimitError>(),
                cause,
            }),
        }
    }

    /// Returns `true` if the body was longer than its limit (see
    /// [`crate::Body::with_limit`]).
    pub fn is_too_large(&self) -> bool {
        self.inner.too_large
    }
}

impl fmt::Debug for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("tramline::BodyError")
            .field(&self.inner.cause)
            .finish()
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.inner.too_large {
            "body too large"
        } else {
            "error reading a body"
        })
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner.cause as &(dyn std::error::Error + 'static))
    }
}

/// An error a handler can return: a status, a message for the client, and
/// optionally the error that caused it.
///
/// A handler returning `Result<T, Error>` answers with `T` or with the
/// error's status and message as `text/plain`. For `5xx` errors the client
/// only sees the status's reason (`internal server error`): the message and
/// the cause may hold internal details, so they are logged with `tracing`
/// at error level instead.
///
/// `?` converts any `std::error::Error + Send + Sync + 'static` into an
/// `Error`:
///
/// | from | status | client sees |
/// |---|---|---|
/// | an extractor rejection | the rejection's | the rejection's text |
/// | a body error ([`BodyError`](crate::BodyError)) | `413` if too large, else `400` | `request body too large` / `failed to read the request body` |
/// | `ParseIntError`, `ParseFloatError`, `ParseBoolError`, `Utf8Error`, `FromUtf8Error` | `400` | `invalid input: ` and the error |
/// | anything else (`io::Error`, `serde_json::Error`, ...) | `500` | `internal server error` |
///
/// # Examples
///
/// ```
/// use tramline::extract::Path;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::{Error, Router};
///
/// async fn user(Path(id): Path<u32>) -> Result<String, Error> {
///     match id {
///         1 => Ok("ann".into()),
///         2 => Err(Error::internal(std::io::Error::other("db at 10.0.0.7 refused"))),
///         _ => Err(Error::not_found(format!("no user {id}"))),
///     }
/// }
///
/// let client = TestClient::new(Router::new().route("/users/{id}", get(user)));
/// client.get("/users/1").send().assert_text("ann");
/// client.get("/users/9").send().assert_status(404).assert_text("no user 9");
/// // The cause is logged, never sent.
/// client.get("/users/2").send().assert_status(500).assert_text("internal server error");
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    status: StatusCode,
    message: Cow<'static, str>,
    source: Option<BoxError>,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $status:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<Cow<'static, str>>) -> Self {
                Self::new(StatusCode::$status, message)
            }
        )*
    };
}

impl Error {
    /// Creates an error answering `status` with `message`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::http::StatusCode;
    /// use tramline::Error;
    ///
    /// let err = Error::new(StatusCode::PAYMENT_REQUIRED, "upgrade your plan");
    /// assert_eq!(err.status(), 402);
    /// assert_eq!(err.message(), "upgrade your plan");
    /// ```
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            inner: Box::new(Inner {
                status,
                message: message.into(),
                source: None,
            }),
        }
    }

    /// Creates an error answering `status` with its reason phrase in lower
    /// case (`404` → `not found`) as the message.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::http::StatusCode;
    /// use tramline::Error;
    ///
    /// assert_eq!(Error::from_status(StatusCode::NOT_FOUND).message(), "not found");
    /// ```
    pub fn from_status(status: StatusCode) -> Self {
        Self::new(status, reason(status))
    }

    constructors! {
        /// Creates a `400 Bad Request` error.
        bad_request => BAD_REQUEST;
        /// Creates a `401 Unauthorized` error.
        unauthorized => UNAUTHORIZED;
        /// Creates a `403 Forbidden` error.
        forbidden => FORBIDDEN;
        /// Creates a `404 Not Found` error.
        not_found => NOT_FOUND;
        /// Creates a `409 Conflict` error.
        conflict => CONFLICT;
        /// Creates a `422 Unprocessable Entity` error, for input that parses
        /// but fails validation.
        unprocessable => UNPROCESSABLE_ENTITY;
    }

    /// Creates a `500 Internal Server Error` caused by `source`, which is
    /// logged and not sent.
    pub fn internal(source: impl Into<BoxError>) -> Self {
        let source = source.into();
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, source.to_string()).with_source(source)
    }

    /// Records `source` as the cause; it is logged with the error when the
    /// status is `5xx`, and never sent.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Returns the status the error answers with.
    pub fn status(&self) -> StatusCode {
        self.inner.status
    }

    /// Returns the message (sent to the client unless the status is `5xx`).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Returns the cause, if one was recorded.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.inner.source.as_deref()
    }
}

/// The reason phrase of `status` in lower case, as tramline's own error
/// bodies are written.
pub(crate) fn reason(status: StatusCode) -> String {
    status
        .canonical_reason()
        .unwrap_or("error")
        .to_ascii_lowercase()
}

impl Error {
    /// The status, the message and the cause, for the response the error
    /// becomes (see `vocab::response`).
    pub(crate) fn into_parts(self) -> (StatusCode, Cow<'static, str>, Option<BoxError>) {
        let Inner {
            status,
            message,
            source,
        } = *self.inner;
        (status, message, source)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("tramline::Error");
        d.field("status", &self.inner.status)
            .field("message", &self.inner.message);
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::response::IntoResponse;
    use futures_lite::future::block_on;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(size_of::<BodyError>(), size_of::<usize>());
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<BodyError>();
    }

    #[test]
    fn display_names_this_layer_and_source_the_cause() {
        let err = BodyError::new(std::io::Error::other("reset"));
        assert!(!err.is_too_large());
        assert_eq!(err.to_string(), "error reading a body");
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "reset"
        );
        let err = BodyError::new(LengthLimitError);
        assert!(err.is_too_large());
        assert_eq!(err.to_string(), "body too large");
    }

    fn sent(err: Error) -> (StatusCode, String) {
        let res = err.into_response();
        let status = res.status();
        let body = block_on(res.into_body().collect()).unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn error_is_one_pointer_wide_and_thread_safe() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }

    #[test]
    fn client_errors_send_their_message_and_server_errors_do_not() {
        let cases = [
            (Error::not_found("no todo 3"), 404, "no todo 3"),
            (
                Error::unprocessable("title is empty"),
                422,
                "title is empty",
            ),
            (Error::from_status(StatusCode::CONFLICT), 409, "conflict"),
            (
                Error::new(StatusCode::SERVICE_UNAVAILABLE, "redis at 10.1.2.3 is down"),
                503,
                "service unavailable",
            ),
            (
                Error::internal(std::io::Error::other("/etc/secret missing")),
                500,
                "internal server error",
            ),
        ];
        for (err, status, text) in cases {
            assert_eq!(
                sent(err),
                (StatusCode::from_u16(status).unwrap(), text.into())
            );
        }
    }

    #[test]
    fn common_errors_convert_by_kind() {
        let parse: Error = "x".parse::<u32>().unwrap_err().into();
        assert_eq!(
            sent(parse),
            (
                StatusCode::BAD_REQUEST,
                "invalid input: invalid digit found in string".into()
            )
        );
        let io: Error = std::io::Error::other("disk on fire").into();
        assert_eq!(io.status(), 500);
        assert_eq!(io.message(), "disk on fire");
        assert!(io.source().is_some());

        let too_large =
            block_on(crate::vocab::Body::from("abcd").with_limit(2).collect()).unwrap_err();
        assert_eq!(
            sent(too_large.into()),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large".into()
            )
        );
        let rejection = crate::extract::Query::<u8>::from_query("x").unwrap_err();
        let err = Error::from(rejection);
        assert_eq!(err.status(), 400);
        assert!(err.message().starts_with("invalid query string"), "{err}");
    }
}
