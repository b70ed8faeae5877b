//! `ResponseParser`: HTTP/1.1 responses read back off the wire.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;

use http::Version;

/// Most header fields a response head (or a trailer section) may hold.
const MAX_HEADERS: usize = 100;

/// Parses HTTP/1.1 responses from the bytes read so far, for tests and
/// load generators that talk to a server over a socket.
///
/// Give it the unparsed bytes at the start of a buffer: it answers
/// `Ok(None)` while the response is incomplete ("read more, then call
/// again with everything"), or the response and how many bytes it took, so
/// the rest (the next pipelined response, or an upgraded protocol) stays in
/// the buffer. Bodies are framed as RFC 9112 §6.3 says: none for `1xx`,
/// `204`, `304` and responses to `HEAD`; else chunked (extensions ignored,
/// trailers kept), else `content-length`, else up to the end of the
/// connection ([`parse_to_end`](Self::parse_to_end)). A `1xx` is a
/// response of its own; read the final one after it. Malformed input is an
/// [`InvalidResponse`], never a panic.
///
/// [`frame`](Self::frame) finds a response's status and length without
/// copying anything, for a loop that only counts responses.
///
/// # Examples
///
/// ```
/// use tramline::test::ResponseParser;
///
/// let wire = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiHTTP/1.1 204 No Content\r\n\r\n";
/// let parser = ResponseParser::new();
/// // Too little has arrived yet.
/// assert!(parser.parse(&wire[..20]).unwrap().is_none());
///
/// let first = parser.parse(wire).unwrap().unwrap();
/// assert_eq!((first.status, &first.body[..]), (200, &b"hi"[..]));
/// assert_eq!(first.header("Content-Length"), Some("2"));
/// let second = parser.parse(&wire[first.consumed..]).unwrap().unwrap();
/// assert_eq!(second.status, 204);
/// assert_eq!(first.consumed + second.consumed, wire.len());
///
/// // A response to HEAD announces a length but carries no body.
/// let head = ResponseParser::new().head_request(true).parse(&wire[..38]).unwrap().unwrap();
/// assert_eq!((head.consumed, head.body.len()), (38, 0));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseParser {
    head_request: bool,
    require_framing: bool,
}

/// A response parsed by [`ResponseParser`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedResponse {
    /// The status code.
    pub status: u16,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: Version,
    /// The reason phrase (may be empty).
    pub reason: String,
    /// The header fields in the order they came, values decoded lossily
    /// as UTF-8.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from its chunks if it was chunked.
    pub body: Vec<u8>,
    /// A chunked body's trailer fields.
    pub trailers: Vec<(String, String)>,
    /// How many bytes of the input the response took.
    pub consumed: usize,
    /// The header values as sent, for [`header_map`](Self::header_map):
    /// `headers` holds them decoded.
    raw_values: Vec<Vec<u8>>,
}

impl ParsedResponse {
    /// Returns the first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Returns the header fields as an [`http::HeaderMap`], with their
    /// values as sent (not decoded as UTF-8).
    ///
    /// # Errors
    ///
    /// Returns [`InvalidResponse`] if a name or value is one the `http`
    /// crate refuses.
    pub fn header_map(&self) -> Result<http::HeaderMap, InvalidResponse> {
        let mut map = http::HeaderMap::with_capacity(self.headers.len());
        for ((name, _), value) in self.headers.iter().zip(&self.raw_values) {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| InvalidResponse::new("header name the http crate refuses"))?;
            let value = http::HeaderValue::from_bytes(value)
                .map_err(|_| InvalidResponse::new("header value the http crate refuses"))?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// Where a response starts and ends, from [`ResponseParser::frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResponseFrame {
    /// The status code.
    pub status: u16,
    /// The head's length, its final empty line included.
    pub head_len: usize,
    /// The whole response's length: the head and the body as sent.
    pub len: usize,
}

/// Bytes that are not an HTTP/1.1 response, or one cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidResponse {
    message: Cow<'static, str>,
}

impl InvalidResponse {
    const TRUNCATED: Self = Self::new("connection closed before the response was complete");

    const fn new(message: &'static str) -> Self {
        Self {
            message: Cow::Borrowed(message),
        }
    }

    /// Returns whether the input ended before the response did (only
    /// [`ResponseParser::parse_to_end`] says so).
    pub fn is_incomplete(&self) -> bool {
        *self == Self::TRUNCATED
    }
}

impl fmt::Display for InvalidResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidResponse {}

/// How a body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy)]
enum Framing {
    Empty,
    Length(usize),
    Chunked,
    UntilClose,
}

/// What a scan found: the head's facts and where the body lies.
struct Layout {
    status: u16,
    head_len: usize,
    framing: Framing,
    /// The end of the response in the input.
    len: usize,
}

/// Where a full parse puts the head's owned parts.
#[derive(Default)]
struct Owned {
    version: Option<Version>,
    reason: String,
    headers: Vec<(String, String)>,
    raw_values: Vec<Vec<u8>>,
    trailers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl ResponseParser {
    /// Creates a parser for responses to requests other than `HEAD`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether the request was `HEAD`, whose response has no body
    /// whatever its `content-length` or `transfer-encoding` say.
    pub fn head_request(&mut self, head_request: bool) -> &mut Self {
        self.head_request = head_request;
        self
    }

    /// Sets whether a body that neither `content-length` nor chunked
    /// coding frames is an error, instead of a body that runs to the end of
    /// the connection: for a keep-alive client, such a response can never
    /// be followed by another.
    pub fn require_framing(&mut self, require_framing: bool) -> &mut Self {
        self.require_framing = require_framing;
        self
    }

    /// Parses the response at the start of `buf`; `Ok(None)` while more
    /// bytes are needed. A body delimited by the end of the connection
    /// stays `Ok(None)`: call [`parse_to_end`](Self::parse_to_end) once the
    /// peer has closed.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidResponse`] when `buf` does not start with a valid
    /// response: a malformed head, a bad or conflicting `content-length`,
    /// a bad chunk size, chunk data not followed by CRLF, a malformed
    /// trailer section, or (with [`require_framing`](Self::require_framing))
    /// a body delimited by the end of the connection.
    pub fn parse(&self, buf: &[u8]) -> Result<Option<ParsedResponse>, InvalidResponse> {
        let mut owned = Owned::default();
        let Some(layout) = self.scan(buf, false, Some(&mut owned))? else {
            return Ok(None);
        };
        Ok(Some(finish(buf, &layout, owned)))
    }

    /// Parses the response at the start of `buf`, the last bytes the peer
    /// will send: a body delimited by the end of the connection ends at the
    /// end of `buf`.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse), and an error for which
    /// [`is_incomplete`](InvalidResponse::is_incomplete) holds when `buf`
    /// ends before the response does.
    pub fn parse_to_end(&self, buf: &[u8]) -> Result<ParsedResponse, InvalidResponse> {
        let mut owned = Owned::default();
        match self.scan(buf, true, Some(&mut owned))? {
            Some(layout) => Ok(finish(buf, &layout, owned)),
            None => Err(InvalidResponse::TRUNCATED),
        }
    }

    /// Finds the status and length of the response at the start of `buf`
    /// without copying or decoding anything; `Ok(None)` while more bytes
    /// are needed (always, for a body delimited by the end of the
    /// connection).
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    // Inlined into a load generator's loop, so that the copying paths of
    // `scan` fold away: it costs about what a bare httparse call did.
    #[inline]
    pub fn frame(&self, buf: &[u8]) -> Result<Option<ResponseFrame>, InvalidResponse> {
        Ok(self.scan(buf, false, None)?.map(|layout| ResponseFrame {
            status: layout.status,
            head_len: layout.head_len,
            len: layout.len,
        }))
    }

    /// Parses the head and walks the body; copies into `owned` only when
    /// given one, so that [`frame`](Self::frame) allocates nothing.
    #[inline]
    fn scan(
        &self,
        buf: &[u8],
        eof: bool,
        mut owned: Option<&mut Owned>,
    ) -> Result<Option<Layout>, InvalidResponse> {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut res, buf, &mut slots);
        let head_len = match parsed {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if eof => return Err(InvalidResponse::TRUNCATED),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(head_error(e)),
        };
        let status = res
            .code
            .ok_or(InvalidResponse::new("response head without a status"))?;
        let mut length: Option<usize> = None;
        let mut transfer_encoding = false;
        let mut chunked = false;
        for h in res.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let value = parse_content_length(h.value)?;
                if length.is_some_and(|seen| seen != value) {
                    return Err(InvalidResponse::new("conflicting content-length values"));
                }
                length = Some(value);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                transfer_encoding = true;
                // RFC 9112 §6.3: chunked counts only as the final coding.
                chunked = h
                    .value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            }
            if let Some(owned) = owned.as_deref_mut() {
                owned.headers.push(field(h));
                owned.raw_values.push(h.value.to_vec());
            }
        }
        if let Some(owned) = owned.as_deref_mut() {
            owned.version = Some(match res.version {
                Some(0) => Version::HTTP_10,
                _ => Version::HTTP_11,
            });
            owned.reason = res.reason.unwrap_or_default().to_owned();
        }

        // RFC 9112 §6.3, in its order: no body for HEAD, 1xx, 204 and 304;
        // transfer-encoding overrides content-length, and a response whose
        // final coding is not chunked runs until the connection closes.
        let framing = if self.head_request
            || (100..200).contains(&status)
            || status == 204
            || status == 304
        {
            Framing::Empty
        } else if transfer_encoding {
            if chunked {
                Framing::Chunked
            } else {
                Framing::UntilClose
            }
        } else if let Some(n) = length {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        if self.require_framing && matches!(framing, Framing::UntilClose) {
            return Err(InvalidResponse::new(
                "response body delimited by the end of the connection",
            ));
        }
        let len = match framing {
            Framing::Empty => Some(head_len),
            Framing::Length(n) => {
                let end = head_len
                    .checked_add(n)
                    .ok_or(InvalidResponse::new("content-length too large"))?;
                (buf.len() >= end).then_some(end)
            }
            Framing::Chunked => chunked_end(buf, head_len, owned)?,
            Framing::UntilClose => eof.then_some(buf.len()),
        };
        match len {
            Some(len) => Ok(Some(Layout {
                status,
                head_len,
                framing,
                len,
            })),
            None if eof => Err(InvalidResponse::TRUNCATED),
            None => Ok(None),
        }
    }
}

/// Builds the parsed response once its layout is known.
fn finish(buf: &[u8], layout: &Layout, mut owned: Owned) -> ParsedResponse {
    match layout.framing {
        // `chunked_end` already decoded the chunks into `owned.body`.
        Framing::Empty | Framing::Chunked => {}
        Framing::Length(_) | Framing::UntilClose => {
            owned.body = buf[layout.head_len..layout.len].to_vec();
        }
    }
    ParsedResponse {
        status: layout.status,
        version: owned.version.unwrap_or(Version::HTTP_11),
        reason: owned.reason,
        headers: owned.headers,
        body: owned.body,
        trailers: owned.trailers,
        consumed: layout.len,
        raw_values: owned.raw_values,
    }
}

fn head_error(e: httparse::Error) -> InvalidResponse {
    InvalidResponse {
        message: Cow::Owned(format!("invalid response head: {e}")),
    }
}

fn field(h: &httparse::Header<'_>) -> (String, String) {
    (
        h.name.to_owned(),
        String::from_utf8_lossy(h.value).into_owned(),
    )
}

/// Parses a `content-length` value; a list of equal values (RFC 9110
/// §8.6) counts as one.
fn parse_content_length(value: &[u8]) -> Result<usize, InvalidResponse> {
    const INVALID: InvalidResponse = InvalidResponse::new("invalid content-length");
    // The usual value: digits only, too few to overflow even a 32-bit usize.
    if !value.is_empty() && value.len() <= 9 && value.iter().all(u8::is_ascii_digit) {
        return Ok(value.iter().fold(0, |n, &d| n * 10 + usize::from(d - b'0')));
    }
    let mut length = None;
    for item in value.split(|&b| b == b',') {
        let item = item.trim_ascii();
        // `str::parse` would also take a leading `+`.
        if item.is_empty() || !item.iter().all(u8::is_ascii_digit) {
            return Err(INVALID);
        }
        let n: usize = std::str::from_utf8(item)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(INVALID)?;
        if length.is_some_and(|seen| seen != n) {
            return Err(InvalidResponse::new("conflicting content-length values"));
        }
        length = Some(n);
    }
    length.ok_or(INVALID)
}

/// Walks a chunked body starting at `pos`: the end of its trailer section,
/// or `None` while incomplete. Decodes the data and keeps the trailers in
/// `owned` when given one.
fn chunked_end(
    buf: &[u8],
    mut pos: usize,
    mut owned: Option<&mut Owned>,
) -> Result<Option<usize>, InvalidResponse> {
    loop {
        let (line_len, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(InvalidResponse::new("invalid chunk size line")),
        };
        pos += line_len;
        if size == 0 {
            return trailers_end(buf, pos, owned);
        }
        let data_end = usize::try_from(size)
            .ok()
            .and_then(|size| pos.checked_add(size))
            .filter(|end| end.checked_add(2).is_some())
            .ok_or(InvalidResponse::new("chunk size too large"))?;
        let Some(after) = buf.get(data_end..) else {
            return Ok(None);
        };
        // The CRLF after the data, or as much of it as has arrived.
        let crlf = &after[..after.len().min(2)];
        if !b"\r\n".starts_with(crlf) {
            return Err(InvalidResponse::new("chunk data not followed by CRLF"));
        }
        if crlf.len() < 2 {
            return Ok(None);
        }
        if let Some(owned) = owned.as_deref_mut() {
            owned.body.extend_from_slice(&buf[pos..data_end]);
        }
        pos = data_end + 2;
    }
}

/// Parses the trailer section after the last chunk (RFC 9112 §7.1.2).
fn trailers_end(
    buf: &[u8],
    pos: usize,
    owned: Option<&mut Owned>,
) -> Result<Option<usize>, InvalidResponse> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(&buf[pos..], &mut fields) {
        Ok(httparse::Status::Complete((len, fields))) => {
            if let Some(owned) = owned {
                owned.trailers = fields.iter().map(field).collect();
            }
            Ok(Some(pos + len))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(InvalidResponse {
            message: Cow::Owned(format!("invalid trailer section: {e}")),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response that must parse, and what it must parse to.
    struct Case {
        wire: &'static [u8],
        head_request: bool,
        status: u16,
        headers: usize,
        body: &'static [u8],
        trailers: &'static [(&'static str, &'static str)],
    }

    impl Case {
        const fn new(
            wire: &'static [u8],
            status: u16,
            headers: usize,
            body: &'static [u8],
        ) -> Self {
            Self {
                wire,
                head_request: false,
                status,
                headers,
                body,
                trailers: &[],
            }
        }

        fn run(&self) {
            let mut parser = ResponseParser::new();
            parser.head_request(self.head_request);
            let name = String::from_utf8_lossy(self.wire);
            // Byte by byte: every prefix asks for more, none is an error.
            for cut in 0..self.wire.len() {
                let prefix = &self.wire[..cut];
                assert_eq!(parser.parse(prefix), Ok(None), "{name:?} cut at {cut}");
                assert_eq!(parser.frame(prefix), Ok(None), "{name:?} cut at {cut}");
                let truncated = parser.parse_to_end(prefix).unwrap_err();
                assert!(
                    truncated.is_incomplete(),
                    "{name:?} cut at {cut}: {truncated}"
                );
            }
            // Whole, and with the next response's first bytes behind it.
            let followed = [self.wire, b"HTTP/1.1 200"].concat();
            for input in [self.wire, &followed[..]] {
                let res = parser.parse(input).unwrap().expect("complete");
                assert_eq!(res.status, self.status, "{name:?}");
                assert_eq!(res.headers.len(), self.headers, "{name:?}");
                assert_eq!(res.body, self.body, "{name:?}");
                let trailers: Vec<_> = res
                    .trailers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                assert_eq!(trailers, self.trailers, "{name:?}");
                assert_eq!(res.consumed, self.wire.len(), "{name:?}");
                let frame = parser.frame(input).unwrap().expect("complete");
                assert_eq!((frame.status, frame.len), (self.status, self.wire.len()));
                assert_eq!(parser.parse_to_end(self.wire), Ok(res));
            }
        }
    }

    #[test]
    fn responses_parse_whole_and_resume_from_any_cut() {
        let head = Case {
            head_request: true,
            ..Case::new(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", 200, 1, b"")
        };
        let trailers = Case {
            trailers: &[("x-sum", "abc"), ("x-n", "2")],
            ..Case::new(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nx-sum: abc\r\nx-n: 2\r\n\r\n",
                200,
                1,
                b"abc",
            )
        };
        let cases = [
            Case::new(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", 200, 1, b"hello"),
            Case::new(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX: y\r\n\r\n", 404, 2, b""),
            Case::new(b"HTTP/1.0 200 OK\r\ncontent-length: 1, 1\r\n\r\nz", 200, 1, b"z"),
            Case::new(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\nA ; n\r\n0123456789\r\n0\r\n\r\n",
                200,
                1,
                b"abcde0123456789",
            ),
            // Transfer-encoding overrides content-length (RFC 9112 §6.3).
            Case::new(
                b"HTTP/1.1 200 OK\r\ncontent-length: 99\r\ntransfer-encoding: gzip, chunked\r\n\r\n1\r\nq\r\n0\r\n\r\n",
                200,
                2,
                b"q",
            ),
            trailers,
            Case::new(b"HTTP/1.1 100 Continue\r\n\r\n", 100, 0, b""),
            Case::new(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n", 101, 1, b""),
            Case::new(b"HTTP/1.1 204 No Content\r\ncontent-length: 3\r\n\r\n", 204, 1, b""),
            Case::new(b"HTTP/1.1 304 Not Modified\r\ntransfer-encoding: chunked\r\n\r\n", 304, 1, b""),
            head,
        ];
        for case in &cases {
            case.run();
        }
    }

    #[test]
    fn a_body_without_length_runs_to_the_end_of_the_connection() {
        let parser = ResponseParser::new();
        for wire in [
            &b"HTTP/1.1 200 OK\r\n\r\nuntil close"[..],
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nuntil close",
        ] {
            assert_eq!(parser.parse(wire), Ok(None));
            assert_eq!(parser.frame(wire), Ok(None));
            let res = parser.parse_to_end(wire).unwrap();
            assert_eq!(
                (res.body.as_slice(), res.consumed),
                (&b"until close"[..], wire.len())
            );
        }
    }

    #[test]
    fn require_framing_refuses_a_body_until_close() {
        let mut parser = ResponseParser::new();
        parser.require_framing(true);
        let err = parser
            .frame(b"HTTP/1.1 200 OK\r\n\r\nuntil close")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "response body delimited by the end of the connection"
        );
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(parser.frame(ok).unwrap().unwrap().len, ok.len());
        let empty = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(parser.frame(empty).unwrap().unwrap().len, empty.len());
    }

    #[test]
    fn the_owned_parts_are_kept() {
        let res = ResponseParser::new()
            .parse_to_end(b"HTTP/1.0 418 I'm a teapot\r\nA: 1\r\na: \xff\r\n\r\n")
            .unwrap();
        assert_eq!(res.version, Version::HTTP_10);
        assert_eq!(res.reason, "I'm a teapot");
        assert_eq!(res.header("a"), Some("1"));
        assert_eq!(res.headers[1], ("a".to_owned(), "\u{fffd}".to_owned()));
        assert_eq!(res.header("b"), None);
        let map = res.header_map().unwrap();
        assert_eq!(
            map.get_all("a").iter().collect::<Vec<_>>(),
            [&b"1"[..], b"\xff"]
        );
    }

    #[test]
    fn malformed_responses_are_errors_at_any_cut() {
        let cases: [(&[u8], &str); 9] = [
            (
                b"HTTP/1.1 2000 OK\r\n\r\n",
                "invalid response head: invalid response status",
            ),
            (
                b"GET / HTTP/1.1\r\n\r\n",
                "invalid response head: invalid HTTP version",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: +5\r\n\r\nhello",
                "invalid content-length",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\nx",
                "conflicting content-length values",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nxy",
                "conflicting content-length values",
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999999\r\n\r\n",
                "invalid content-length",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
                "invalid chunk size line",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                "chunk data not followed by CRLF",
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n",
                "invalid trailer section: invalid header name",
            ),
        ];
        let parser = ResponseParser::new();
        for (wire, message) in cases {
            let name = String::from_utf8_lossy(wire);
            for cut in 0..wire.len() {
                // A prefix may look fine so far, or already be wrong.
                if let Err(e) = parser.parse(&wire[..cut]) {
                    assert_eq!(e.to_string(), message, "{name:?} cut at {cut}");
                }
            }
            let err = parser.parse(wire).unwrap_err();
            assert_eq!(err.to_string(), message, "{name:?}");
            assert!(!err.is_incomplete());
            assert_eq!(parser.frame(wire).unwrap_err(), err);
            assert_eq!(parser.parse_to_end(wire).unwrap_err(), err);
        }
    }

    #[test]
    fn huge_chunk_sizes_are_errors() {
        let parser = ResponseParser::new();
        // Seventeen hex digits are more than httparse takes.
        let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1ffffffffffffffff\r\n";
        assert_eq!(
            parser.parse(wire).unwrap_err().to_string(),
            "invalid chunk size line"
        );
        // Sixteen are a u64 whose end lies past any buffer.
        let wire = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffff\r\n";
        assert_eq!(
            parser.parse(wire).unwrap_err().to_string(),
            "chunk size too large"
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            head in proptest::sample::select(vec![
                &b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"[..],
                b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n",
                b"HTTP/1.1 200 OK\r\n",
                b"",
            ]),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            head_request in proptest::prelude::any::<bool>(),
        ) {
            let wire = [head, &tail[..]].concat();
            let mut parser = ResponseParser::new();
            parser.head_request(head_request);
            let parsed = parser.parse(&wire);
            if let Ok(Some(res)) = &parsed {
                proptest::prop_assert!(res.consumed <= wire.len());
            }
            let framed = parser.frame(&wire);
            proptest::prop_assert_eq!(
                framed.map(|f| f.map(|f| f.len)),
                parsed.map(|r| r.map(|r| r.consumed))
            );
            let _ = parser.parse_to_end(&wire);
        }
    }
}
