//! Request body framing: the connection's side of a body it reads on
//! demand (a length or chunks), and the chunked transfer-coding decoder
//! (RFC 9112 §7.1).
//!
//! The decoder is written here rather than taken from httparse's
//! `parse_chunk_size`, which accepts any byte in a chunk extension, bare LF
//! included.

use std::future::pending;
use std::pin::pin;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::{AsyncRead, AsyncWrite, future};

use super::io::Io;
use super::is_tchar;
use super::parse::BodyLength;
use super::pool::BUF_SIZE;
use crate::proto::clock::{Budget, Clock};
use crate::proto::{Config, Reject, Timer};
use crate::vocab::Body;
use crate::vocab::incoming::{self, Pump};

/// Most bytes asked of one read.
const MAX_READ: usize = 64 * 1024;
/// A request body the handler left unread is read and dropped, so the
/// connection can carry the next request, when at most this much is left;
/// past it the connection is closed instead.
const DRAIN_LIMIT: u64 = 64 * 1024;

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

/// How reading a request body ended, as far as the connection is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyEnd {
    /// Every byte was read; the next request can follow.
    Complete,
    /// The handler did not read it all.
    Unread,
    /// The client broke the body's framing (400) or let it time out
    /// (408): answer with this and close.
    Malformed(Reject),
    /// The connection failed or the client closed it mid-body: close at
    /// once.
    Broken,
}

/// The connection's side of a request body it reads on demand.
pub(super) struct BodyReader {
    pump: Pump,
    framing: Framing,
    /// The client asked for `100 Continue`; it is sent on first demand.
    expect_continue: bool,
    continued: bool,
    end: Option<BodyEnd>,
    /// Time the body's reads may still wait; starts full with each body.
    budget: Budget,
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Builds the request body: empty, already buffered (the common case for
/// small bodies, which arrive with their head), or read on demand.
pub(super) fn request_body(
    read_buf: &mut BytesMut,
    length: BodyLength,
    expect_continue: bool,
    config: &Config,
) -> (Body, Option<BodyReader>) {
    let limit = config.max_body_size;
    let framing = match length {
        BodyLength::Empty => return (Body::empty(), None),
        BodyLength::Length(n) if n <= read_buf.len() as u64 => {
            // `n` fits in the buffer, so in usize.
            let bytes = read_buf.split_to(n as usize).freeze();
            return (Body::from(bytes).with_limit(limit), None);
        }
        BodyLength::Length(n) => Framing::Length(n),
        BodyLength::Chunked => Framing::Chunked(ChunkedDecoder::default()),
    };
    let declared = match framing {
        Framing::Length(n) => Some(n),
        Framing::Chunked(_) => None,
    };
    let (incoming, pump) = incoming::channel(declared);
    let reader = BodyReader {
        pump,
        framing,
        expect_continue,
        continued: false,
        end: None,
        budget: Budget::full(config.body_timeout, config.min_body_rate),
    };
    (Body::incoming(incoming, limit), Some(reader))
}

impl BodyReader {
    /// Runs `f` while feeding the request body to whoever reads it.
    pub(super) async fn pump_while<I, T, F>(
        &mut self,
        io: &mut Io<I>,
        clock: &mut Clock<'_, T>,
        f: F,
    ) -> F::Output
    where
        I: AsyncRead + AsyncWrite + Unpin,
        T: Timer,
        F: Future,
    {
        let pumping = async {
            self.pump(io, clock).await;
            pending().await
        };
        future::or(f, pumping).await
    }

    /// Reads body chunks as the handler asks for them, until the body ends,
    /// breaks, or the handler drops it.
    async fn pump<I: AsyncRead + AsyncWrite + Unpin, T: Timer>(
        &mut self,
        io: &mut Io<I>,
        clock: &mut Clock<'_, T>,
    ) {
        while self.end.is_none() {
            if !self.pump.demand().await {
                self.end = Some(BodyEnd::Unread);
                return;
            }
            if self.expect_continue && !self.continued {
                self.continued = true;
                io.write_buf
                    .extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
                if io.flush(clock).await.is_err() {
                    self.pump.finish(Err("connection error"));
                    self.end = Some(BodyEnd::Broken);
                    return;
                }
            }
            match next_chunk(io, &mut self.framing, &mut self.budget, clock).await {
                Ok((chunk, last)) => {
                    if !chunk.is_empty() {
                        self.pump.send(chunk);
                    }
                    if last {
                        self.pump.finish(Ok(()));
                        self.end = Some(BodyEnd::Complete);
                    }
                }
                Err(end) => {
                    let reason = match end {
                        BodyEnd::Malformed(reject) => reject.reason,
                        _ => "connection closed while reading the request body",
                    };
                    self.pump.finish(Err(reason));
                    self.end = Some(end);
                }
            }
        }
    }

    /// After the handler: reads and drops a small unread remainder so the
    /// connection can go on, and says how the body ended.
    pub(super) async fn finish_body<I: AsyncRead + AsyncWrite + Unpin, T: Timer>(
        &mut self,
        io: &mut Io<I>,
        clock: &mut Clock<'_, T>,
    ) -> std::io::Result<BodyEnd> {
        match self.end {
            Some(BodyEnd::Complete) => return Ok(BodyEnd::Complete),
            Some(end @ (BodyEnd::Malformed(_) | BodyEnd::Broken)) => return Ok(end),
            Some(BodyEnd::Unread) | None => {}
        }
        // A client that asked for 100 Continue and never got it has not sent
        // the body; one that is sending a large or chunked body is cheaper to
        // hang up on than to read.
        let drainable = match self.framing {
            Framing::Length(remaining) => {
                remaining <= DRAIN_LIMIT && (!self.expect_continue || self.continued)
            }
            Framing::Chunked(_) => false,
        };
        if !drainable {
            return Ok(BodyEnd::Unread);
        }
        while let Framing::Length(remaining) = self.framing {
            if remaining == 0 {
                break;
            }
            if io.read_buf.is_empty() {
                if let Err(end) = fill_body(io, BUF_SIZE, &mut self.budget, clock).await {
                    return Ok(end);
                }
            }
            let n = remaining.min(io.read_buf.len() as u64);
            let _ = io.read_buf.split_to(n as usize);
            self.framing = Framing::Length(remaining - n);
        }
        Ok(BodyEnd::Complete)
    }
}

/// Reads the next piece of the body; `true` with the last one.
async fn next_chunk<I: AsyncRead + AsyncWrite + Unpin, T: Timer>(
    io: &mut Io<I>,
    framing: &mut Framing,
    budget: &mut Budget,
    clock: &mut Clock<'_, T>,
) -> Result<(Bytes, bool), BodyEnd> {
    loop {
        match framing {
            Framing::Length(remaining) => {
                if !io.read_buf.is_empty() {
                    let n = (*remaining).min(io.read_buf.len() as u64);
                    *remaining -= n;
                    // `n` is at most the buffer's length.
                    let chunk = io.read_buf.split_to(n as usize).freeze();
                    return Ok((chunk, *remaining == 0));
                }
                let want = usize::try_from(*remaining)
                    .unwrap_or(usize::MAX)
                    .clamp(BUF_SIZE, MAX_READ);
                fill_body(io, want, budget, clock).await?;
            }
            Framing::Chunked(decoder) => {
                let mut out = BytesMut::new();
                match decoder.decode(&mut io.read_buf, &mut out, u64::MAX) {
                    Ok(done) if done || !out.is_empty() => return Ok((out.freeze(), done)),
                    Ok(_) => fill_body(io, MAX_READ, budget, clock).await?,
                    Err(reject) => return Err(BodyEnd::Malformed(reject)),
                }
            }
        }
    }
}

/// One read for a body, within what is left of the body's `budget`.
async fn fill_body<I: AsyncRead + AsyncWrite + Unpin, T: Timer>(
    io: &mut Io<I>,
    max: usize,
    budget: &mut Budget,
    clock: &mut Clock<'_, T>,
) -> Result<(), BodyEnd> {
    let mut read = pin!(io.fill(max));
    // Bytes already waiting cost no time; only a read that has to wait
    // reads the clock and spends from the budget.
    let read = match future::poll_once(read.as_mut()).await {
        Some(read) => read,
        None => {
            let since = Instant::now();
            clock.start_at(since, budget.left());
            let Some(read) = clock.limit(read).await else {
                return Err(BodyEnd::Malformed(Reject::BODY_TIMEOUT));
            };
            budget.spend(since.elapsed());
            read
        }
    };
    match read {
        Ok(n) if n > 0 => {
            budget.earn(n);
            Ok(())
        }
        _ => Err(BodyEnd::Broken),
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
