//! Request head parsing: httparse for the syntax, then the framing rules
//! httparse leaves to us.

use std::mem::MaybeUninit;

use bytes::{Buf, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::is_tchar;
use crate::proto::{Config, Reject};

/// The most header slots httparse gets; `Config::max_headers` is clamped to it.
pub(crate) const MAX_HEADERS: usize = 1024;

/// The longest method accepted, in bytes. The longest registered method
/// (`UPDATEREDIRECTREF`) has 17; an `any` route takes extension methods, so
/// this is not the list of methods routed, only a bound on what is read.
const MAX_METHOD_LEN: usize = 32;

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
    /// The request offers a protocol upgrade the connection could make:
    /// HTTP/1.1, `Upgrade` with `upgrade` in `Connection`, no body, and
    /// the connection persists.
    pub(crate) upgrade: bool,
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
            return unfinished(&buf[..], config, None).map(|()| None);
        }
        Err(e) => return refused(buf, config, spans, e),
    };
    // The request line's limits are judged before the head's size, in the
    // order `unfinished` judges them, so the verdict does not depend on how
    // much of the head had arrived.
    let method = req.method.unwrap_or_default();
    if method.len() > MAX_METHOD_LEN {
        return Err(Reject::METHOD_TOO_LONG);
    }
    let path = req.path.unwrap_or_default();
    if path.len() > config.max_uri_len {
        return Err(Reject::URI_TOO_LONG);
    }
    if head_len > config.max_head_size {
        return Err(Reject::HEAD_TOO_LARGE);
    }
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    spans.clear();
    spans.extend(req.headers.iter().map(|h| {
        let n = offset(h.name.as_bytes());
        let v = offset(h.value);
        [n, n + h.name.len(), v, v + h.value.len()]
    }));
    // The request line is `method SP target SP HTTP/1.x` (httparse takes
    // one space and an 8-byte version, then the line ending).
    let line_end = offset(path.as_bytes()) + path.len() + b" HTTP/1.1".len();
    check_line_endings(&buf[..head_len], offset(method.as_bytes()), line_end, spans)?;

    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| Reject::bad_request("invalid request method"))?;
    // RFC 9112 §3.2: the target is ASCII with no controls or spaces;
    // httparse lets bytes over 0x7f through.
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Reject::bad_request("invalid request target"));
    }
    let path_span = (offset(path.as_bytes()), path.len());
    let origin_form = path.starts_with('/');
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };

    let head = buf.split_to(head_len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_span.0..path_span.0 + path_span.1))
        .map_err(|_| Reject::bad_request("invalid request target"))?;
    let mut headers = crate::vocab::recycle::header_map();
    headers.reserve(spans.len());
    let mut facts = Facts::default();
    for &[ns, ne, vs, ve] in spans.iter() {
        let name = HeaderName::from_bytes(&head[ns..ne])
            .map_err(|_| Reject::bad_request("invalid header name"))?;
        facts.add(&name, &head[vs..ve]);
        let value = HeaderValue::from_maybe_shared(head.slice(vs..ve))
            .map_err(|_| Reject::bad_request("invalid header value"))?;
        headers.append(name, value);
    }

    // An origin-form target (the path a client sends to the server itself)
    // is valid as parsed; only the other forms need the method checked.
    if !origin_form {
        check_target(&method, &uri)?;
    }
    let upgrade_token = facts.upgrade_token;
    let (body, keep_alive, expect_continue) = facts.finish(version, &uri)?;
    // `Upgrade` itself is looked for only when `Connection` names it, so
    // the usual request pays for no extra comparison per header.
    let upgrade = upgrade_token
        && keep_alive
        && version == Version::HTTP_11
        && body == BodyLength::Empty
        && headers.contains_key(header::UPGRADE);
    Ok(Some(Head {
        method,
        uri,
        version,
        headers,
        body,
        keep_alive,
        expect_continue,
        upgrade,
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

/// Decides a head httparse refused: a higher HTTP/1 minor version is parsed
/// again as 1.1, anything else is judged by `unfinished`.
#[cold]
#[inline(never)]
fn refused(
    buf: &mut BytesMut,
    config: &Config,
    spans: &mut Vec<HeaderSpan>,
    error: httparse::Error,
) -> Result<Option<Head>, Reject> {
    let higher = match error {
        httparse::Error::Version => higher_minor_version(&buf[..]),
        _ => None,
    };
    if let Some(at) = higher {
        // RFC 9110 §2.5, RFC 9112 §2.3: a higher minor version of HTTP/1
        // is served as HTTP/1.1, the highest we implement. httparse knows
        // only 1.0 and 1.1, so the digit becomes 1 (the request line is not
        // kept, and the version reported is 1.1 anyway).
        buf[at] = b'1';
        return parse_head(buf, config, spans);
    }
    unfinished(&buf[..], config, Some(error)).map(|()| None)
}

/// Decides a head httparse could not finish: `Ok` to wait for more bytes,
/// or the reject. `error` is what httparse found, if anything.
///
/// A limit is judged on the bytes that have arrived, so a head trickling in
/// is refused once it is over, never read without bound. Each verdict here
/// is also the one the whole head gets: the request line's limits are
/// measured over the bytes httparse accepted, before its error; and a head
/// over its size limit whose error lies past the limit is refused for its
/// size, as it would have been had it arrived in two reads.
#[cold]
fn unfinished(buf: &[u8], config: &Config, error: Option<httparse::Error>) -> Result<(), Reject> {
    line_limits(buf, config)?;
    let limit = config.max_head_size;
    if buf.len() <= limit {
        return httparse_verdict(buf, error);
    }
    let cut = &buf[..=limit];
    let cut_error = error.and_then(|_| probe(cut, config).err());
    httparse_verdict(cut, cut_error).and(Err(Reject::HEAD_TOO_LARGE))
}

/// The reject for what httparse found in `buf`, or `Ok` to wait.
fn httparse_verdict(buf: &[u8], error: Option<httparse::Error>) -> Result<(), Reject> {
    match error {
        None => Ok(()),
        Some(httparse::Error::Version) => version_reject(buf).map_or(Ok(()), Err),
        Some(e) => Err(Reject::from(e)),
    }
}

/// Runs httparse over `buf` alone, for its verdict.
#[inline(never)]
fn probe(buf: &[u8], config: &Config) -> Result<httparse::Status<usize>, httparse::Error> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let slots = &mut slots[..config.max_headers.clamp(1, MAX_HEADERS)];
    httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut httparse::Request::new(&mut []),
        buf,
        slots,
    )
}

/// The request line's limits, over the bytes that have arrived: a method
/// over `MAX_METHOD_LEN`, then a target over `max_uri_len`.
///
/// Each part is measured over the bytes httparse accepts in it, after the
/// empty lines it skips, so that a byte httparse refuses ends the part here
/// too: which error a head gets then depends on the order of its bytes, not
/// on how many have arrived.
fn line_limits(buf: &[u8], config: &Config) -> Result<(), Reject> {
    let mut line = buf;
    while let [b'\n', rest @ ..] | [b'\r', b'\n', rest @ ..] = line {
        line = rest;
    }
    let method = line
        .iter()
        .take(MAX_METHOD_LEN + 1)
        .take_while(|&&b| is_tchar(b))
        .count();
    // A method longer than any the server implements: 400, a bad request
    // line (issue #9's rule; RFC 9112 §3 also allows 501). 414 is for the
    // request-target alone.
    if method > MAX_METHOD_LEN {
        return Err(Reject::METHOD_TOO_LONG);
    }
    if method == 0 || line.get(method) != Some(&b' ') {
        return Ok(());
    }
    // httparse also lets bytes over 0x7f into a target (we refuse them once
    // the head is complete); stopping at them here can only make this limit
    // fire later, never on bytes httparse refused.
    let target = line[method + 1..]
        .iter()
        .take(config.max_uri_len + 1)
        .take_while(|b| b.is_ascii_graphic())
        .count();
    // RFC 9112 §3: "A server that receives a request-target longer than any
    // URI it wishes to parse MUST respond with a 414 (URI Too Long)".
    if target > config.max_uri_len {
        return Err(Reject::URI_TOO_LONG);
    }
    Ok(())
}

/// The HTTP-version of the request line at the front of `buf`: everything
/// after the second space (httparse reports a version error only once it
/// has read both), and whether the line has ended.
fn request_version(buf: &[u8]) -> Option<(&[u8], usize, bool)> {
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n');
    let line = &buf[..line_end.unwrap_or(buf.len())];
    let mut spaces = line
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b' ')
        .map(|(i, _)| i);
    match (spaces.next(), spaces.next()) {
        (Some(_), Some(second)) => Some((&line[second + 1..], second + 1, line_end.is_some())),
        _ => None,
    }
}

/// Where the minor digit of a complete `HTTP/1.x` with x > 1 is, if the
/// request line has one: httparse refuses those, RFC 9112 §2.3 does not.
fn higher_minor_version(buf: &[u8]) -> Option<usize> {
    let (version, start, ended) = request_version(buf)?;
    match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] if ended => Some(start + 7),
        _ => None,
    }
}

/// A well-formed `HTTP/x.y` of another major version (HTTP/2.0, the h2
/// preface) gets 505; anything else, lowercase `http/1.1` and two-digit
/// versions included, is 400. `None` while the version is incomplete but
/// may still become `HTTP/x.y`: httparse refuses `HTTP/2` before the line
/// ends, and the verdict must not depend on where the input was split.
fn version_reject(buf: &[u8]) -> Option<Reject> {
    const SHAPE: &[u8] = b"HTTP/d.d";
    let Some((version, _, ended)) = request_version(buf) else {
        return Some(Reject::bad_request("invalid HTTP version"));
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
    if !ended {
        return None;
    }
    // A complete HTTP/1.x with x > 1 was served as 1.1 before we got here.
    Some(if version.len() < SHAPE.len() || version[5] == b'1' {
        Reject::bad_request("invalid HTTP version")
    } else {
        Reject::VERSION
    })
}

/// RFC 9112 §2.2: a bare CR or bare LF is not a line ending we accept.
/// httparse refuses a bare CR itself (a CR anywhere must start a CRLF) but
/// ends a line at a bare LF, so each line ending of the head it parsed is
/// checked for its CR: the request line's at `line_end`, each header
/// line's after its value (httparse trims trailing spaces and tabs from
/// the value, and an empty value points at the line ending), and the empty
/// line's. A head that does not start with its method had empty lines
/// before it that httparse skipped; the CRLF ones are gone already, so
/// those were bare LFs.
///
/// That is a few byte reads per line instead of a pass over the head. The
/// debug assertions, on in the fuzz targets, hold the shortcut to the pass.
fn check_line_endings(
    head: &[u8],
    method_start: usize,
    line_end: usize,
    spans: &[HeaderSpan],
) -> Result<(), Reject> {
    debug_assert!(
        !memchr::memchr_iter(b'\r', head).any(|i| head.get(i + 1) != Some(&b'\n')),
        "httparse let a bare CR through"
    );
    let crlf_at = |i: usize| head.get(i) == Some(&b'\r');
    let header_lines_end_in_crlf = spans.iter().all(|&[_, _, _, value_end]| {
        let blanks = head[value_end..]
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        crlf_at(value_end + blanks)
    });
    let ok = method_start == 0
        && crlf_at(line_end)
        && header_lines_end_in_crlf
        && head.len() >= 2
        && crlf_at(head.len() - 2);
    debug_assert_eq!(
        ok,
        !memchr::memchr_iter(b'\n', head).any(|i| i == 0 || head[i - 1] != b'\r'),
        "the line-ending shortcut disagrees with a pass over {:?}",
        String::from_utf8_lossy(head)
    );
    if !ok {
        return Err(Reject::bad_request("bare CR or LF in request head"));
    }
    Ok(())
}

/// A Host field's value, as far as the framing rules care.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum HostValue {
    #[default]
    Valid,
    Empty,
    Invalid,
}

/// What the engine needs to know from the headers, gathered while the
/// header map is built so that no lookups follow.
#[derive(Debug, Default)]
struct Facts {
    hosts: usize,
    /// What the last Host field held.
    host: HostValue,
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
    /// `Connection` lists `upgrade`.
    upgrade_token: bool,
    expect_continue: bool,
    expect_other: bool,
}

impl Facts {
    fn add(&mut self, name: &HeaderName, value: &[u8]) {
        if name == header::HOST {
            self.hosts += 1;
            self.host = if value.is_empty() {
                HostValue::Empty
            } else if valid_host(value) {
                HostValue::Valid
            } else {
                HostValue::Invalid
            };
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
                self.upgrade_token |= token.eq_ignore_ascii_case(b"upgrade");
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
    fn finish(self, version: Version, uri: &Uri) -> Result<(BodyLength, bool, bool), Reject> {
        // RFC 9112 §3.2: an HTTP/1.1 request carries exactly one valid Host.
        if version == Version::HTTP_11 {
            match self.hosts {
                0 => return Err(Reject::bad_request("missing Host header")),
                1 if self.host == HostValue::Invalid => {
                    return Err(Reject::bad_request("invalid Host header"));
                }
                // RFC 9112 §3.2: an empty Host says the target URI has no
                // authority. An origin-form or `*` target takes its
                // authority from Host, and the URI it names on this server
                // is http(s), which must have a non-empty host (RFC 9110
                // §4.2.1, "MUST reject it as invalid"; §3.3 lets the server
                // reject it): so there an empty Host is invalid (400).
                // Absolute- and authority-form carry their own authority,
                // which overrides Host (RFC 9112 §3.2.2): an empty one is
                // accepted there.
                1 if self.host == HostValue::Empty && uri.authority().is_none() => {
                    return Err(Reject::bad_request("empty Host header"));
                }
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
/// percent-encoded bytes; no userinfo; a port of digits only. `value` is
/// not empty (whether the target allows an empty one is decided in
/// `finish`).
fn valid_host(value: &[u8]) -> bool {
    let (host, port) = if value.first() == Some(&b'[') {
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
    let reg_name = |h: &[u8]| !h.is_empty() && h.iter().all(|&b| REG_NAME[usize::from(b)]);
    port_ok && (host.starts_with(b"[") || reg_name(host))
}

/// The bytes of a reg-name or IPv4 address (RFC 3986 §3.2.2): unreserved,
/// sub-delims and `%` of a percent-encoding, one table lookup per byte.
static REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
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
            );
        b += 1;
    }
    table
};

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
    fn an_upgrade_is_offered_only_where_the_connection_could_switch() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n", true),
            (b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: keep-alive, upgrade\r\n\r\n", true),
            // Not named in Connection, or no Upgrade to switch to.
            (b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", false),
            // A body, a close, or HTTP/1.0: nothing to switch after.
            (b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\nContent-Length: 1\r\n\r\n", false),
            (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade, close\r\nUpgrade: x\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: upgrade, keep-alive\r\nUpgrade: x\r\n\r\n", false),
        ];
        for (input, want) in cases {
            let head = parse(input).unwrap().unwrap();
            assert_eq!(head.upgrade, *want, "{}", String::from_utf8_lossy(input));
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
    fn a_higher_http1_minor_version_is_served_as_http11() {
        for input in [
            &b"GET /x HTTP/1.2\r\nHost: a\r\n\r\n"[..],
            b"GET /x HTTP/1.9\r\nHost: a\r\nX: y\r\n\r\n",
            b"\r\nPOST /x HTTP/1.3\r\nHost: a\r\nContent-Length: 2\r\n\r\n",
        ] {
            let head = parse(input).unwrap().unwrap();
            assert_eq!(head.version, Version::HTTP_11);
            assert!(head.keep_alive, "{}", String::from_utf8_lossy(input));
        }
        // Served as 1.1, so the 1.1 rules apply.
        assert_eq!(
            status_of(b"GET / HTTP/1.2\r\n\r\n"),
            StatusCode::BAD_REQUEST
        );
        let cases: &[(&[u8], u16)] = &[
            (b"GET / HTTP/1.2 \r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.22\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/1.2\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/2.2\r\nHost: a\r\n\r\n", 505),
        ];
        for (input, want) in cases {
            let got = status_of(input).as_u16();
            assert_eq!(got, *want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn a_method_over_the_limit_is_400_however_it_arrives() {
        let ok = format!("{} /x HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(32));
        assert_eq!(
            parse(ok.as_bytes()).unwrap().unwrap().method.as_str().len(),
            32
        );
        let long = format!("{} /x HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(33));
        assert_eq!(parse(long.as_bytes()).unwrap_err(), Reject::METHOD_TOO_LONG);
        // Over the limit before a bad byte: too long; a bad byte first wins.
        let bad_after = format!("{}@ /x HTTP/1.1\r\n\r\n", "M".repeat(40));
        assert_eq!(
            parse(bad_after.as_bytes()).unwrap_err(),
            Reject::METHOD_TOO_LONG
        );
        let bad_first = format!("M@{} /x HTTP/1.1\r\n\r\n", "M".repeat(40));
        assert_eq!(
            parse(bad_first.as_bytes()).unwrap_err().reason,
            "invalid token in request line"
        );
        // Before any other limit, and told before the method has ended.
        let huge = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "M".repeat(100 * 1024));
        let mut buf = BytesMut::from(huge.as_bytes());
        let err = parse_head(&mut buf, &Config::default(), &mut Vec::new()).unwrap_err();
        assert_eq!(err, Reject::METHOD_TOO_LONG);
        let mut buf = BytesMut::from(&huge.as_bytes()[..40]);
        let err = parse_head(&mut buf, &Config::default(), &mut Vec::new()).unwrap_err();
        assert_eq!(err, Reject::METHOD_TOO_LONG);
    }

    #[test]
    fn limits_are_judged_in_order_whatever_has_arrived() {
        let config = Config {
            max_uri_len: 16,
            max_head_size: 64,
            ..Config::default()
        };
        let parse_with = |input: &[u8]| {
            let mut spans = Vec::new();
            let whole = parse_head(&mut BytesMut::from(input), &config, &mut spans);
            for split in 1..input.len() {
                let mut buf = BytesMut::from(&input[..split]);
                let got = match parse_head(&mut buf, &config, &mut spans) {
                    Ok(None) => {
                        buf.extend_from_slice(&input[split..]);
                        parse_head(&mut buf, &config, &mut spans)
                    }
                    other => other,
                };
                assert_eq!(verdict(&got), verdict(&whole), "split at {split}");
            }
            whole.map(|_| ()).map_err(|e| (e.status.as_u16(), e.reason))
        };
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(16));
        assert_eq!(parse_with(long_target.as_bytes()).unwrap_err().0, 414);
        // A long target with a bad byte inside the limit: the byte decides.
        let bad_in_target = format!("GET /a\x01{} HTTP/1.1\r\n\r\n", "a".repeat(20));
        assert_eq!(parse_with(bad_in_target.as_bytes()).unwrap_err().0, 400);
        // A head over its limit with a bad byte past the limit: too large,
        // as a read that stopped at the limit would have been told.
        let late_bad = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\nY : 1\r\n\r\n",
            "v".repeat(40)
        );
        assert_eq!(parse_with(late_bad.as_bytes()).unwrap_err().0, 431);
        // ...and with the bad byte inside the limit, the byte decides.
        let early_bad = format!("GET / HTTP/1.1\r\nY : 1\r\nX: {}\r\n\r\n", "v".repeat(40));
        assert_eq!(parse_with(early_bad.as_bytes()).unwrap_err().0, 400);
    }

    #[test]
    fn an_empty_host_is_refused_unless_the_target_has_an_authority() {
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nHost:\r\n\r\n")
                .unwrap_err()
                .reason,
            "empty Host header"
        );
        assert_eq!(
            status_of(b"OPTIONS * HTTP/1.1\r\nHost: \r\n\r\n"),
            StatusCode::BAD_REQUEST
        );
        let head = parse(b"GET http://a/x HTTP/1.1\r\nHost:\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.uri.host(), Some("a"));
        let head = parse(b"CONNECT a:443 HTTP/1.1\r\nHost:\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.method, Method::CONNECT);
        // HTTP/1.0 has no Host rules.
        assert!(parse(b"GET / HTTP/1.0\r\nHost:\r\n\r\n").unwrap().is_some());
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
