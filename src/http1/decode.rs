//! The chunked transfer-coding decoder (RFC 9112 §7.1).
//!
//! Written here rather than taken from httparse's `parse_chunk_size`, which
//! accepts any byte in a chunk extension, bare LF included.

use bytes::{Buf, BytesMut};

use super::{Reject, is_tchar};

/// Total bytes of chunk extensions allowed in one body.
const MAX_EXTENSIONS: usize = 16 * 1024;
/// Total bytes of trailer section allowed in one body.
const MAX_TRAILER_BYTES: usize = 16 * 1024;
/// Trailer fields allowed in one body.
const MAX_TRAILER_FIELDS: usize = 100;
/// Longest chunk-size: 16 hex digits fill a u64.
const MAX_SIZE_DIGITS: usize = 16;

/// Decodes a chunked body incrementally, as its bytes arrive.
#[derive(Debug, Default)]
pub(crate) struct ChunkedDecoder {
    state: State,
    extension_bytes: usize,
    trailer_bytes: usize,
    trailer_fields: usize,
    total: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

impl ChunkedDecoder {
    /// Consumes what it can from `input`, appending chunk data to `out`.
    ///
    /// Returns `Ok(true)` once the last chunk and the trailer section have
    /// been read (the bytes after them stay in `input`), `Ok(false)` when it
    /// needs more input.
    ///
    /// # Errors
    ///
    /// Returns the response to send for a malformed body or one over
    /// `max_body` bytes; the connection must then be closed.
    pub(crate) fn decode(
        &mut self,
        input: &mut BytesMut,
        out: &mut BytesMut,
        max_body: u64,
    ) -> Result<bool, Reject> {
        loop {
            match self.state {
                State::Size => {
                    let Some(line) = take_line(input, MAX_SIZE_DIGITS + MAX_EXTENSIONS + 2)? else {
                        return Ok(false);
                    };
                    let (size, ext_len) = parse_size_line(&line)?;
                    self.extension_bytes += ext_len;
                    if self.extension_bytes > MAX_EXTENSIONS {
                        return Err(Reject::bad_request("chunk extensions too large"));
                    }
                    self.total = self
                        .total
                        .checked_add(size)
                        .filter(|&t| t <= max_body)
                        .ok_or(Reject::BODY_TOO_LARGE)?;
                    self.state = if size == 0 {
                        State::Trailers
                    } else {
                        State::Data(size)
                    };
                }
                State::Data(remaining) => {
                    if input.is_empty() {
                        return Ok(false);
                    }
                    let n = remaining.min(input.len() as u64) as usize;
                    out.extend_from_slice(&input[..n]);
                    input.advance(n);
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                }
                State::DataEnd => {
                    if input.len() < 2 {
                        if input.first().is_some_and(|&b| b != b'\r') {
                            return Err(Reject::bad_request("chunk data not followed by CRLF"));
                        }
                        return Ok(false);
                    }
                    if &input[..2] != b"\r\n" {
                        return Err(Reject::bad_request("chunk data not followed by CRLF"));
                    }
                    input.advance(2);
                    self.state = State::Size;
                }
                State::Trailers => {
                    let room = MAX_TRAILER_BYTES.saturating_sub(self.trailer_bytes) + 2;
                    let Some(line) = take_line(input, room)? else {
                        return Ok(false);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                        continue;
                    }
                    self.trailer_bytes += line.len() + 2;
                    self.trailer_fields += 1;
                    if self.trailer_bytes > MAX_TRAILER_BYTES
                        || self.trailer_fields > MAX_TRAILER_FIELDS
                    {
                        return Err(Reject::bad_request("trailer section too large"));
                    }
                    // Trailers are checked for syntax and then dropped: they
                    // never change framing, and handlers do not see them.
                    check_trailer_field(&line)?;
                }
                State::Done => return Ok(true),
            }
        }
    }
}

/// Takes one CRLF-terminated line (without the CRLF) off the front of
/// `input`, or returns `None` if it is not all there yet.
///
/// Bytes are judged in order and the first bad one decides the error, so
/// the verdict does not depend on how much of the line has arrived.
fn take_line(input: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, Reject> {
    for (i, &b) in input.iter().enumerate() {
        if i > max {
            return Err(Reject::bad_request("chunk line too long"));
        }
        match b {
            b'\n' => return Err(Reject::bad_request("bare LF in chunked body")),
            b'\r' => match input.get(i + 1) {
                None => return Ok(None),
                Some(b'\n') => {
                    let mut line = input.split_to(i + 2);
                    line.truncate(i);
                    return Ok(Some(line));
                }
                Some(_) => return Err(Reject::bad_request("bare CR in chunked body")),
            },
            _ => {}
        }
    }
    if input.len() > max {
        return Err(Reject::bad_request("chunk line too long"));
    }
    Ok(None)
}

/// chunk = chunk-size [ chunk-ext ] CRLF; chunk-size = 1*HEXDIG.
/// Returns the size and the length of the extension part.
fn parse_size_line(line: &[u8]) -> Result<(u64, usize), Reject> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(Reject::bad_request("invalid chunk size"));
    }
    if digits > MAX_SIZE_DIGITS {
        return Err(Reject::bad_request("chunk size overflows"));
    }
    let size = line[..digits].iter().fold(0u64, |acc, &b| {
        let d = (b as char).to_digit(16).unwrap_or(0);
        (acc << 4) | u64::from(d)
    });
    let rest = &line[digits..];
    if rest.is_empty() {
        return Ok((size, 0));
    }
    if !rest.trim_ascii_start().starts_with(b";") {
        return Err(Reject::bad_request("invalid chunk size"));
    }
    // We act on no extension, but one that is not well formed is refused:
    // a reader that splits it differently would frame the body otherwise.
    if !valid_extensions(rest) {
        return Err(Reject::bad_request("invalid chunk extension"));
    }
    Ok((size, rest.len()))
}

/// RFC 9112 §7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name
/// [ BWS "=" BWS chunk-ext-val ] ); the name is a token, the value a token
/// or a quoted-string. BWS is optional SP or HTAB. The whole line is here
/// (the decoder only parses complete lines), so one pass decides.
fn valid_extensions(mut ext: &[u8]) -> bool {
    let bws = |s: &[u8]| -> usize { s.iter().take_while(|&&b| b == b' ' || b == b'\t').count() };
    let token = |s: &[u8]| -> usize { s.iter().take_while(|&&b| is_tchar(b)).count() };
    while !ext.is_empty() {
        ext = &ext[bws(ext)..];
        let Some(after) = ext.strip_prefix(b";") else {
            return false;
        };
        ext = &after[bws(after)..];
        let name = token(ext);
        if name == 0 {
            return false;
        }
        ext = &ext[name..];
        let ws = bws(ext);
        let Some(after) = ext[ws..].strip_prefix(b"=") else {
            // No value: what follows must be the next extension (or the
            // end), and BWS before it is allowed.
            continue;
        };
        ext = &after[bws(after)..];
        let value = if ext.first() == Some(&b'"') {
            quoted_string(ext)
        } else {
            Some(token(ext)).filter(|&n| n > 0)
        };
        let Some(value) = value else {
            return false;
        };
        ext = &ext[value..];
    }
    true
}

/// The length of the quoted-string that `s` starts with, if it is one:
/// DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4).
fn quoted_string(s: &[u8]) -> Option<usize> {
    let mut i = 1;
    while let Some(&b) = s.get(i) {
        match b {
            b'"' => return Some(i + 1),
            // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
            b'\\' => match s.get(i + 1) {
                Some(&n) if n == b'\t' || n == b' ' || (0x21..=0x7e).contains(&n) || n >= 0x80 => {
                    i += 2;
                }
                _ => return None,
            },
            // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
            b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
    None
}

fn check_trailer_field(line: &[u8]) -> Result<(), Reject> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| Reject::bad_request("invalid trailer field"))?;
    let name_ok = colon > 0
        && http::HeaderName::from_bytes(&line[..colon]).is_ok()
        && !line[..colon].iter().any(u8::is_ascii_whitespace);
    let value_ok = line[colon + 1..]
        .iter()
        .all(|&b| b >= 0x20 && b != 0x7f || b == b'\t');
    if name_ok && value_ok {
        Ok(())
    } else {
        Err(Reject::bad_request("invalid trailer field"))
    }
}

#[cfg(test)]
mod tests {
    use crate::http1::fuzz::decode_in_pieces;

    /// The body limit `decode_in_pieces` applies.
    const LIMIT: u64 = 1 << 20;

    /// Decodes `input` whole and fed one byte at a time, asserting both give
    /// the same verdict; returns (body, leftover) or the error reason.
    fn run(input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
        let whole = decode_in_pieces(input, input.len().max(1));
        for step in [1, 2, 3, 7] {
            assert_eq!(decode_in_pieces(input, step), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello", b""),
            (
                b"5;a=b\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT",
                b"hello world",
                b"NEXT",
            ),
            (
                b"A\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
                b"0123456789",
                b"",
            ),
            (b"5 ;ext\r\nhello\r\n0\r\n\r\n", b"hello", b""),
            (
                b"5 ; a = b ;c;d=\"q \\\" ;\x80\"\t;e\r\nhello\r\n0;f=\"\"\r\n\r\n",
                b"hello",
                b"",
            ),
            (b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc", b""),
        ];
        for (input, body, rest) in cases {
            let (got, left) = run(input).unwrap();
            assert_eq!((&got[..], &left[..]), (*body, *rest));
        }
    }

    #[test]
    fn rejects_malformed_bodies() {
        let cases: &[&[u8]] = &[
            b"\r\nhello\r\n0\r\n\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5g\r\nhello\r\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"5;a\rb\r\nhello\r\n0\r\n\r\n",
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",
            // RFC 9112 §7.1.1: every extension has a token name, and a
            // value, if any, that is a token or a quoted-string.
            b"5;\r\nhello\r\n0\r\n\r\n",
            b"5;a;\r\nhello\r\n0\r\n\r\n",
            b"5;;a\r\nhello\r\n0\r\n\r\n",
            b"5;a@b\r\nhello\r\n0\r\n\r\n",
            b"5;=b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\r\nhello\r\n0\r\n\r\n",
            b"5;a=b=c\r\nhello\r\n0\r\n\r\n",
            b"5;a=b c\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\\\"\r\nhello\r\n0\r\n\r\n",
            b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",
            b"5;a \r\nhello\r\n0\r\n\r\n",
            b"5;\xe9\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0;\r\n\r\n",
            // Regression (found by fuzzing): a bare CR before a bare LF is
            // reported the same way however the line arrives.
            b"\x0f\x0f\x0f&\x0f\x0f\x0f\x0f\r\x0f\x00\x00\x00\x00\x00\x00\x00\x00\x0f\x0f\xa0\n",
        ];
        for input in cases {
            assert!(run(input).is_err(), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn missing_last_chunk_is_incomplete() {
        assert_eq!(run(b"5\r\nhello\r\n"), Err("incomplete"));
    }

    #[test]
    fn caps_extensions_trailers_and_body() {
        let ext = format!("1;{}\r\na\r\n0\r\n\r\n", "e".repeat(17 * 1024));
        assert_eq!(run(ext.as_bytes()), Err("chunk line too long"));
        let trailers: String = (0..101).map(|i| format!("T{i}: v\r\n")).collect();
        let body = format!("0\r\n{trailers}\r\n");
        assert_eq!(run(body.as_bytes()), Err("trailer section too large"));
        let big = format!("{:x}\r\n", LIMIT + 1);
        assert_eq!(run(big.as_bytes()), Err("request body too large"));
    }
}
