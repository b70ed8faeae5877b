//! Request head parsing: httparse for the syntax, then the framing rules
//! httparse leaves to us.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::{Config, Reject};

/// The most header slots httparse gets; `Config::max_headers` is clamped to it.
pub(crate) const MAX_HEADERS: usize = 1024;

/// A parsed request head, with the facts the connection loop needs.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) body: BodyLength,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyLength {
    Empty,
    Length(u64),
    Chunked,
}

/// Byte offsets of one header line inside the head: name start/end and
/// value start/end. Reused across requests so parsing allocates nothing.
pub(crate) type HeaderSpan = [usize; 4];

/// Parses one request head from the front of `buf`.
///
/// Returns `Ok(None)` when `buf` holds only part of a head (a partial head is
/// not an error), and removes the head's bytes from `buf` when it is
/// complete. `spans` is scratch space owned by the connection.
///
/// # Errors
///
/// Returns the response to send (and close after) for a head that is
/// malformed or over a limit.
pub(crate) fn parse_head(
    buf: &mut BytesMut,
    config: &Config,
    spans: &mut Vec<HeaderSpan>,
) -> Result<Option<Head>, Reject> {
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
    // received before the request-line. All of them go, as httparse would
    // skip them anyway: skipping only one per call would make the verdict
    // depend on how the input was split.
    while buf.starts_with(b"\r\n") {
        buf.advance(2);
    }
    if buf.is_empty() {
        return Ok(None);
    }

    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let slots = &mut slots[..config.max_headers.clamp(1, MAX_HEADERS)];
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        &buf[..],
        slots,
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return partial_limits(&buf[..], config).map(|()| None);
        }
        Err(httparse::Error::Version) => {
            return match version_reject(&buf[..]) {
                Some(reject) => Err(reject),
                None => partial_limits(&buf[..], config).map(|()| None),
            };
        }
        Err(e) => return Err(Reject::from(e)),
    };
    if head_len > config.max_head_size {
        return Err(Reject::HEAD_TOO_LARGE);
    }
    check_line_endings(&buf[..head_len])?;

    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| Reject::bad_request("invalid request method"))?;
    let path = req.path.unwrap_or_default();
    if path.len() > config.max_uri_len {
        return Err(Reject::URI_TOO_LONG);
    }
    // RFC 9112 §3.2: the target is ASCII with no controls or spaces;
    // httparse lets bytes over 0x7f through.
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Reject::bad_request("invalid request target"));
    }
    let path_span = (offset(path.as_bytes()), path.len());
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    spans.clear();
    spans.extend(req.headers.iter().map(|h| {
        let n = offset(h.name.as_bytes());
        let v = offset(h.value);
        [n, n + h.name.len(), v, v + h.value.len()]
    }));

    let head = buf.split_to(head_len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_span.0..path_span.0 + path_span.1))
        .map_err(|_| Reject::bad_request("invalid request target"))?;
    let mut headers = HeaderMap::with_capacity(spans.len());
    let mut facts = Facts::default();
    for &[ns, ne, vs, ve] in spans.iter() {
        let name = HeaderName::from_bytes(&head[ns..ne])
            .map_err(|_| Reject::bad_request("invalid header name"))?;
        facts.add(&name, &head[vs..ve]);
        let value = HeaderValue::from_maybe_shared(head.slice(vs..ve))
            .map_err(|_| Reject::bad_request("invalid header value"))?;
        headers.append(name, value);
    }

    check_target(&method, &uri)?;
    let (body, keep_alive, expect_continue) = facts.finish(version)?;
    Ok(Some(Head {
        method,
        uri,
        version,
        headers,
        body,
        keep_alive,
        expect_continue,
    }))
}

/// RFC 9112 §3.2: origin-form for most requests, absolute-form from
/// proxies' clients, authority-form only for CONNECT, `*` only for OPTIONS.
fn check_target(method: &Method, uri: &Uri) -> Result<(), Reject> {
    let ok = if uri == "*" {
        method == Method::OPTIONS
    } else if uri.path().starts_with('/') && uri.authority().is_none() {
        true
    } else if uri.scheme().is_some() {
        uri.authority().is_some()
    } else {
        method == Method::CONNECT && uri.authority().is_some() && uri.path().is_empty()
    };
    if ok {
        Ok(())
    } else {
        Err(Reject::bad_request("invalid request target"))
    }
}

/// Applies the size limits to a head that is not complete yet, so a client
/// cannot make the buffer grow without bound.
fn partial_limits(buf: &[u8], config: &Config) -> Result<(), Reject> {
    let line_end = memchr(b'\n', buf);
    // "METHOD SP target SP HTTP/1.1": allow room for the method and version.
    if line_end.is_none() && buf.len() > config.max_uri_len + 64 {
        return Err(Reject::URI_TOO_LONG);
    }
    if buf.len() > config.max_head_size {
        return Err(Reject::HEAD_TOO_LARGE);
    }
    Ok(())
}

/// A well-formed `HTTP/x.y` of another major version (HTTP/2.0, the h2
/// preface) gets 505; anything else, lowercase `http/1.1` included, is 400.
/// `None` while the version is incomplete but may still become `HTTP/x.y`:
/// httparse refuses `HTTP/2` before the line ends, and the verdict must not
/// depend on where the input was split.
fn version_reject(buf: &[u8]) -> Option<Reject> {
    const SHAPE: &[u8] = b"HTTP/d.d";
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    // request-line = method SP request-target SP HTTP-version: the version
    // is everything after the second space (httparse reports a version
    // error only once it has read both).
    let mut spaces = line
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b' ')
        .map(|(i, _)| i);
    let version = match (spaces.next(), spaces.next()) {
        (Some(_), Some(second)) => &line[second + 1..],
        _ => return Some(Reject::bad_request("invalid HTTP version")),
    };
    let fits = version.len() <= SHAPE.len()
        && version.iter().zip(SHAPE).all(|(&b, &s)| {
            if s == b'd' {
                b.is_ascii_digit()
            } else {
                b == s
            }
        });
    if !fits {
        return Some(Reject::bad_request("invalid HTTP version"));
    }
    line_end?;
    Some(if version.len() < SHAPE.len() || version[5] == b'1' {
        Reject::bad_request("invalid HTTP version")
    } else {
        Reject::VERSION
    })
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// RFC 9112 §2.2: a bare CR or bare LF is not a line ending we accept;
/// httparse tolerates a bare LF, so check every LF has its CR and every CR
/// its LF.
fn check_line_endings(head: &[u8]) -> Result<(), Reject> {
    let bare_lf = memchr::memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r');
    let bare_cr = memchr::memchr_iter(b'\r', head).any(|i| head.get(i + 1) != Some(&b'\n'));
    if bare_lf || bare_cr {
        return Err(Reject::bad_request("bare CR or LF in request head"));
    }
    Ok(())
}

/// What the engine needs to know from the headers, gathered while the
/// header map is built so that no lookups follow.
#[derive(Debug, Default)]
struct Facts {
    hosts: usize,
    host_valid: bool,
    content_length: Option<u64>,
    content_length_error: Option<Reject>,
    has_content_length: bool,
    has_transfer_encoding: bool,
    /// Codings seen so far; the last must be chunked.
    codings: usize,
    last_chunked: bool,
    transfer_encoding_error: Option<Reject>,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
    expect_other: bool,
}

impl Facts {
    fn add(&mut self, name: &HeaderName, value: &[u8]) {
        if name == header::HOST {
            self.hosts += 1;
            self.host_valid = valid_host(value);
        } else if name == header::CONTENT_LENGTH {
            self.has_content_length = true;
            self.add_content_length(value);
        } else if name == header::TRANSFER_ENCODING {
            self.has_transfer_encoding = true;
            self.add_transfer_encoding(value);
        } else if name == header::CONNECTION {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name == header::EXPECT {
            if value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                self.expect_other = true;
            }
        }
    }

    /// Content-Length = 1*DIGIT; repeated (as fields or a list) only with
    /// one value (RFC 9110 §8.6).
    fn add_content_length(&mut self, value: &[u8]) {
        for part in value.split(|&b| b == b',') {
            let Some(n) = parse_content_length(part.trim_ascii()) else {
                self.content_length_error
                    .get_or_insert(Reject::bad_request("invalid content-length"));
                return;
            };
            if self.content_length.is_some_and(|l| l != n) {
                self.content_length_error
                    .get_or_insert(Reject::bad_request("conflicting content-length values"));
                return;
            }
            self.content_length = Some(n);
        }
    }

    fn add_transfer_encoding(&mut self, value: &[u8]) {
        for coding in value.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if coding.is_empty() {
                continue;
            }
            self.codings += 1;
            if self.last_chunked {
                self.transfer_encoding_error
                    .get_or_insert(Reject::bad_request(
                        "chunked is not the last transfer coding",
                    ));
            } else if coding.eq_ignore_ascii_case(b"chunked") {
                self.last_chunked = true;
            } else {
                // The only coding we decode is chunked; anything else
                // (identity included, removed by RFC 7230) we cannot frame.
                self.transfer_encoding_error
                    .get_or_insert(Reject::NOT_IMPLEMENTED_CODING);
            }
        }
    }

    /// Applies the rules in a fixed order and returns the body framing,
    /// whether the connection persists, and whether 100 Continue is wanted.
    fn finish(self, version: Version) -> Result<(BodyLength, bool, bool), Reject> {
        // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one valid Host.
        if version == Version::HTTP_11 {
            match self.hosts {
                0 => return Err(Reject::bad_request("missing Host header")),
                1 if !self.host_valid => return Err(Reject::bad_request("invalid Host header")),
                1 => {}
                _ => return Err(Reject::bad_request("multiple Host headers")),
            }
        }
        let body = self.body_length(version)?;
        // RFC 9110 §10.1.1: 100-continue is the only expectation (HTTP/1.1).
        let expect_continue = if version == Version::HTTP_11 {
            if self.expect_other {
                return Err(Reject::new(
                    StatusCode::EXPECTATION_FAILED,
                    "unsupported expectation",
                ));
            }
            self.expect_continue
        } else {
            false
        };
        // RFC 9112 §9.3: HTTP/1.1 persists unless `close`; HTTP/1.0 only
        // with `keep-alive`.
        let keep_alive = !self.close && (version == Version::HTTP_11 || self.keep_alive);
        Ok((body, keep_alive, expect_continue))
    }

    /// RFC 9112 §6.3: how the body is framed.
    fn body_length(&self, version: Version) -> Result<BodyLength, Reject> {
        if self.has_transfer_encoding {
            // RFC 9112 §6.1: chunked cannot frame an HTTP/1.0 message, so a
            // Transfer-Encoding from a 1.0 client cannot be trusted at all.
            if version == Version::HTTP_10 {
                return Err(Reject::bad_request("transfer-encoding on HTTP/1.0"));
            }
            // RFC 9112 §6.3: both present is a smuggling vector; reject.
            if self.has_content_length {
                return Err(Reject::bad_request(
                    "both content-length and transfer-encoding",
                ));
            }
            if let Some(reject) = self.transfer_encoding_error {
                return Err(reject);
            }
            if self.codings == 0 || !self.last_chunked {
                return Err(Reject::bad_request("invalid transfer-encoding"));
            }
            return Ok(BodyLength::Chunked);
        }
        if let Some(reject) = self.content_length_error {
            return Err(reject);
        }
        // A length over the body limit is not refused here: a route may
        // allow more, and the body refuses itself on first read, before any
        // byte of it is read or `100 Continue` is sent.
        // (A Content-Length field with no valid value recorded an error above.)
        match self.content_length {
            None | Some(0) => Ok(BodyLength::Empty),
            Some(n) => Ok(BodyLength::Length(n)),
        }
    }
}

/// Host = uri-host [ ":" port ] (RFC 9110 §7.2), checked byte by byte: a
/// bracketed IP literal or a reg-name/IPv4 of unreserved, sub-delims and
/// percent-encoded bytes; no userinfo; a port of digits only. Empty is
/// allowed (a target with no authority).
fn valid_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let (host, port) = if value[0] == b'[' {
        let Some(end) = value.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &value[1..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (&value[..=end], &value[end + 1..])
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, &value[value.len()..]),
        }
    };
    let port_ok = match port.split_first() {
        None => true,
        Some((b':', digits)) => digits.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    let reg_name = |h: &[u8]| {
        !h.is_empty()
            && h.iter().all(|&b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'.'
                            | b'_'
                            | b'~'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b';'
                            | b'='
                            | b'%'
                    )
            })
    };
    port_ok && (host.starts_with(b"[") || reg_name(host))
}

/// Content-Length = 1*DIGIT, and it must fit in a u64.
fn parse_content_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::fuzz::verdict;

    /// Parses `input` whole and also split at every byte offset, checking
    /// that every split gives the same verdict as the whole.
    fn parse(input: &[u8]) -> Result<Option<Head>, Reject> {
        let config = Config::default();
        let mut spans = Vec::new();
        let whole = parse_head(&mut BytesMut::from(input), &config, &mut spans);
        for split in 1..input.len() {
            let mut buf = BytesMut::from(&input[..split]);
            match parse_head(&mut buf, &config, &mut spans) {
                Ok(None) => {
                    buf.extend_from_slice(&input[split..]);
                    let rest = parse_head(&mut buf, &config, &mut spans);
                    assert_eq!(verdict(&rest), verdict(&whole), "split at {split}");
                }
                other => assert_eq!(verdict(&other), verdict(&whole), "split at {split}"),
            }
        }
        whole
    }

    fn status_of(input: &[u8]) -> StatusCode {
        parse(input).expect_err("should be rejected").status
    }

    #[test]
    fn parses_a_simple_get() {
        let head = parse(b"GET /users/7?x=1 HTTP/1.1\r\nHost: a\r\nX-Y: z\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.uri.path(), "/users/7");
        assert_eq!(head.uri.query(), Some("x=1"));
        assert_eq!(head.headers["x-y"], "z");
        assert_eq!(head.body, BodyLength::Empty);
        assert!(head.keep_alive);
        assert!(!head.expect_continue);
    }

    #[test]
    fn leaves_pipelined_bytes_in_the_buffer() {
        let mut buf = BytesMut::from(&b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\n"[..]);
        let head = parse_head(&mut buf, &Config::default(), &mut Vec::new())
            .unwrap()
            .unwrap();
        assert_eq!(head.uri.path(), "/a");
        assert_eq!(&buf[..], b"GET /b HTTP/1.1\r\n");
    }

    #[test]
    fn partial_head_is_not_an_error() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
    }

    #[test]
    fn framing_table() {
        let cases: &[(&[u8], Result<BodyLength, u16>)] = &[
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Ok(BodyLength::Length(5))),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", Ok(BodyLength::Empty)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Ok(BodyLength::Length(5))),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n", Ok(BodyLength::Length(3_000_000))),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyLength::Chunked)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", Ok(BodyLength::Chunked)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Err(400)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Err(501)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", Err(501)),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(501)),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(400)),
        ];
        for (input, want) in cases {
            let got = parse(input)
                .map(|h| h.unwrap().body)
                .map_err(|e| e.status.as_u16());
            assert_eq!(&got, want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, Close\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input).unwrap().unwrap().keep_alive, *want);
        }
    }

    #[test]
    fn expect_continue_only_on_http11() {
        let h = parse(
            b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        );
        assert!(h.unwrap().unwrap().expect_continue);
        let h = parse(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.unwrap().unwrap().expect_continue);
    }

    #[test]
    fn malformed_heads_are_rejected() {
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n", 400),
            (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
            (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
            (b"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 505),
            // Regression (found by fuzzing): the version is everything after
            // the second space, not the last word.
            (b"#^..#. #. #.'.q( #.'.q( \r\n\r\n", 400),
            (b"h ~Ej  \x94PP`WWWWWW\xd7``0h~ \r\n\r\n", 400),
            (b"\r\n\r\nGET / HTTP/2.1\r\nHost: a\r\n\r\n", 505),
        ];
        for (input, want) in cases {
            assert_eq!(
                status_of(input).as_u16(),
                *want,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn limits_are_enforced() {
        let long_uri = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(status_of(long_uri.as_bytes()), StatusCode::URI_TOO_LONG);
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n");
        assert_eq!(
            status_of(req.as_bytes()),
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        );
        let mut big = BytesMut::from(&b"GET / HTTP/1.1\r\nX: "[..]);
        big.extend_from_slice(&vec![b'a'; 70 * 1024]);
        let err = parse_head(&mut big, &Config::default(), &mut Vec::new()).unwrap_err();
        assert_eq!(err.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    }

    #[test]
    fn one_leading_crlf_is_ignored_and_absolute_form_accepted() {
        let head = parse(b"\r\nGET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.uri.path(), "/x");
        assert_eq!(head.uri.host(), Some("a.example"));
    }
}
