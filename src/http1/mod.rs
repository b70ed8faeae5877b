//! The HTTP/1.1 engine: head parsing, body decoding, response encoding and
//! the per-connection loop. Private to the crate; [`crate::Server`] drives it.

mod conn;
mod date;
mod decode;
mod encode;
mod parse;

use std::time::Duration;

use http::StatusCode;

pub(crate) use conn::serve_connection;

/// Limits and timeouts one connection enforces.
///
/// Every field has a default and a setter on [`crate::Server`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Longest request target, in bytes (414 over it).
    pub(crate) max_uri_len: usize,
    /// Largest request head (request line and headers), in bytes (431).
    pub(crate) max_head_size: usize,
    /// Most header fields in one request (431).
    pub(crate) max_headers: usize,
    /// Largest request body, in bytes (413).
    pub(crate) max_body_size: u64,
    /// How long after an error response the connection is drained before
    /// it is closed, so the client reads the response instead of a reset.
    pub(crate) linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_uri_len: 8 * 1024,
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_body_size: 2 * 1024 * 1024,
            linger: Duration::from_secs(1),
        }
    }
}

/// A request the engine refuses: the status and the short plain-text reason
/// it answers with before closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

impl Reject {
    pub(crate) const HEAD_TOO_LARGE: Self = Self::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request header too large",
    );
    pub(crate) const TOO_MANY_HEADERS: Self = Self::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "too many request headers",
    );
    pub(crate) const URI_TOO_LONG: Self =
        Self::new(StatusCode::URI_TOO_LONG, "request URI too long");
    pub(crate) const BODY_TOO_LARGE: Self =
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    pub(crate) const NOT_IMPLEMENTED_CODING: Self =
        Self::new(StatusCode::NOT_IMPLEMENTED, "unsupported transfer-encoding");
    pub(crate) const VERSION: Self = Self::new(
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        "HTTP version not supported",
    );

    pub(crate) const fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason }
    }

    pub(crate) const fn bad_request(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl From<httparse::Error> for Reject {
    fn from(e: httparse::Error) -> Self {
        match e {
            httparse::Error::TooManyHeaders => Self::TOO_MANY_HEADERS,
            httparse::Error::HeaderName => Self::bad_request("invalid header name"),
            httparse::Error::HeaderValue => Self::bad_request("invalid header value"),
            httparse::Error::NewLine => Self::bad_request("invalid line ending"),
            httparse::Error::Token => Self::bad_request("invalid token in request line"),
            httparse::Error::Version => Self::bad_request("invalid HTTP version"),
            httparse::Error::Status => Self::bad_request("invalid request line"),
        }
    }
}
