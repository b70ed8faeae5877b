//! The HTTP/1.1 engine: head parsing, body decoding, response encoding and
//! the per-connection loop. Private to the crate; [`crate::Server`] drives it.

mod conn;
mod date;
mod decode;
mod dispatch;
mod encode;
#[cfg(any(test, feature = "__fuzz"))]
pub(crate) mod fuzz;
mod io;
mod parse;
mod pool;
mod scan;

pub(crate) use conn::{Outcome, serve};

use crate::proto::Reject;

// httparse's verdicts, as the answers the engine gives.
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

/// tchar (RFC 9110 §5.6.2): a VCHAR that is not a delimiter. The bytes of
/// a method (httparse's set), a field name or a chunk extension's token.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}
