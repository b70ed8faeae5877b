//! Response head and body framing.

use http::StatusCode;
use http::header::{self, HeaderMap};

/// How a response body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body may follow (1xx, 204, 304).
    NoBody,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// The body runs until the connection closes (HTTP/1.0 streams).
    UntilClose,
}

/// What the connection header should say about persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persist {
    /// HTTP/1.1 default: say nothing.
    Default,
    /// HTTP/1.0 with keep-alive: say `connection: keep-alive`.
    KeepAlive,
    /// The connection closes after this response: say `connection: close`.
    Close,
}

/// Room for a typical response head: status line, a few headers, date,
/// length and connection.
const HEAD_RESERVE: usize = 256;

/// Writes the status line and headers, ending with the blank line.
///
/// `Content-Length` and `Transfer-Encoding` from the handler are replaced by
/// the framing the engine chose; `Date` is added unless the handler set one.
pub(crate) fn head(
    buf: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    framing: Framing,
    persist: Persist,
) {
    // One capacity check for the usual head instead of one per piece.
    buf.reserve(HEAD_RESERVE);
    status_line(buf, status);
    let mut has_date = false;
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || (name == header::CONNECTION && persist != Persist::Default)
        {
            continue;
        }
        has_date |= name == header::DATE;
        buf.extend_from_slice(name.as_str().as_bytes());
        buf.extend_from_slice(b": ");
        buf.extend_from_slice(value.as_bytes());
        buf.extend_from_slice(b"\r\n");
    }
    // The fixed parts go in as few copies as they can: a response head
    // is mostly these.
    if !has_date {
        buf.extend_from_slice(b"date: ");
        super::date::extend(buf);
        buf.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::NoBody | Framing::UntilClose => {}
        Framing::Length(n) => {
            buf.extend_from_slice(b"content-length: ");
            buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            buf.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => buf.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    buf.extend_from_slice(match persist {
        Persist::Default => b"\r\n",
        Persist::KeepAlive => b"connection: keep-alive\r\n\r\n",
        Persist::Close => b"connection: close\r\n\r\n",
    });
}

fn status_line(buf: &mut Vec<u8>, status: StatusCode) {
    let line: &[u8] = match status.as_u16() {
        200 => b"HTTP/1.1 200 OK\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        _ => {
            buf.extend_from_slice(b"HTTP/1.1 ");
            buf.extend_from_slice(status.as_str().as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
            buf.extend_from_slice(b"\r\n");
            return;
        }
    };
    buf.extend_from_slice(line);
}

/// Writes the size line of one chunk of `len` bytes.
pub(crate) fn chunk_size(buf: &mut Vec<u8>, len: usize) {
    use std::io::Write;
    // Writing to a Vec cannot fail.
    let _ = write!(buf, "{len:X}\r\n");
}

/// The last chunk with an empty trailer section.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Whether a response with this status may carry a body (RFC 9110 §6.4.1).
pub(crate) fn allows_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn encode(
        status: StatusCode,
        headers: &HeaderMap,
        framing: Framing,
        persist: Persist,
    ) -> String {
        let mut buf = Vec::new();
        head(&mut buf, status, headers, framing, persist);
        let text = String::from_utf8(buf).unwrap();
        // Blank out the date so the rest can be compared exactly.
        let start = text.find("date: ").unwrap() + 6;
        format!("{}DATE{}", &text[..start], &text[start + 29..])
    }

    #[test]
    fn writes_status_headers_length_and_date() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("999"));
        assert_eq!(
            encode(
                StatusCode::OK,
                &headers,
                Framing::Length(13),
                Persist::Default
            ),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ndate: DATE\r\ncontent-length: 13\r\n\r\n"
        );
    }

    #[test]
    fn writes_chunked_close_and_uncommon_status() {
        assert_eq!(
            encode(
                StatusCode::IM_A_TEAPOT,
                &HeaderMap::new(),
                Framing::Chunked,
                Persist::Close
            ),
            "HTTP/1.1 418 I'm a teapot\r\ndate: DATE\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            encode(
                StatusCode::NO_CONTENT,
                &HeaderMap::new(),
                Framing::NoBody,
                Persist::KeepAlive
            ),
            "HTTP/1.1 204 No Content\r\ndate: DATE\r\nconnection: keep-alive\r\n\r\n"
        );
    }

    #[test]
    fn chunk_sizes_are_hex() {
        let mut buf = Vec::new();
        chunk_size(&mut buf, 255);
        assert_eq!(buf, b"FF\r\n");
    }
}
