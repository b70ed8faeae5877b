//! Parsing a head that arrives in pieces, in time linear in its bytes.
//!
//! [`parse::parse_head`] parses from the head's first byte. Run on every
//! read, a head trickled in small writes would be parsed again and again:
//! quadratic in its length. [`HeadScan`] remembers how far the bytes have
//! been looked at and runs the full parse only when it can decide
//! something:
//!
//! - while the request line has no line feed yet: its limits (414, a bad
//!   method or version) are decided there, and the line is short;
//! - once the bytes can hold the end of the head, a line feed followed by
//!   `\n` or `\r\n` (httparse ends a head at an empty line, with or without
//!   its CR; `check_line_endings` then refuses the bare forms);
//! - once the bytes pass the head-size limit (431 at once, as before);
//! - when the client stops: at EOF or the header timeout the connection
//!   asks for a verdict with [`HeadScan::parse_now`].
//!
//! Between those moments the full parse would have answered `Ok(None)` or
//! an error about bytes already received; httparse reads left to right, so
//! the full parse of the longer input, run later, finds that same error
//! first. The verdict is the same; only an error inside an unfinished head
//! is told when the head ends (or the client stops), not at its first bad
//! byte.

use bytes::{Buf, BytesMut};

use super::parse::{self, Head, HeaderSpan};
use crate::proto::{Config, Reject};

/// Where the scan of the head at the front of the read buffer stands.
#[derive(Debug, Default)]
pub(crate) struct HeadScan {
    /// Bytes at the front of the buffer already looked at: every head end
    /// finishing before this offset has been seen by a full parse.
    scanned: usize,
    /// A byte other than CR or LF is among the `scanned` bytes: the
    /// request line has begun (empty lines before it are skipped).
    text: bool,
    /// A line feed follows that byte: the request line is over.
    line_fed: bool,
}

impl HeadScan {
    /// Parses one request head from the front of `buf`, as
    /// [`parse::parse_head`] does, but skips the full parse while the bytes
    /// read since the last call cannot complete or refuse the head.
    ///
    /// `buf` may only grow at its end between calls; whoever takes bytes
    /// from its front (a body) does so only after a call returned a head,
    /// which resets the scan.
    pub(crate) fn parse(
        &mut self,
        buf: &mut BytesMut,
        config: &Config,
        spans: &mut Vec<HeaderSpan>,
    ) -> Result<Option<Head>, Reject> {
        // The empty lines `parse_head` skips; skipped here first so the
        // offsets below stay those of the head itself.
        while buf.starts_with(b"\r\n") {
            buf.advance(2);
            self.scanned = self.scanned.saturating_sub(2);
        }
        if buf.is_empty() {
            *self = Self::default();
            return Ok(None);
        }
        // A head's first parse runs in full, without a scan: most heads
        // arrive whole, and then the scan would be pure cost. Only a
        // partial one leaves a scan behind (see `parse_now`).
        if self.scanned == 0 {
            return self.parse_now(buf, config, spans);
        }
        let line_was_fed = self.line_fed;
        let may_end = self.look(buf);
        if line_was_fed && !may_end && buf.len() <= config.max_head_size {
            return Ok(None);
        }
        self.parse_now(buf, config, spans)
    }

    /// Runs the full parse on what `buf` holds: for a complete head, or for
    /// the verdict on a partial one when no more bytes will come.
    pub(crate) fn parse_now(
        &mut self,
        buf: &mut BytesMut,
        config: &Config,
        spans: &mut Vec<HeaderSpan>,
    ) -> Result<Option<Head>, Reject> {
        let parsed = parse::parse_head(buf, config, spans);
        match parsed {
            // A partial head: the full parse has seen every byte, so no
            // head end is among them.
            Ok(None) if !buf.is_empty() => {
                *self = Self::default();
                self.look(buf);
            }
            // The next head starts at the front, unscanned.
            _ => *self = Self::default(),
        }
        parsed
    }

    /// Looks at the bytes not scanned yet, and says whether a head may end
    /// among them.
    fn look(&mut self, buf: &[u8]) -> bool {
        let start = self.scanned.min(buf.len());
        self.scanned = buf.len();
        // Bytes from `unclassified` on are not yet known to hold text; each
        // byte is classified once.
        let mut unclassified = start;
        for i in memchr::memchr_iter(b'\n', &buf[start..]).map(|i| start + i) {
            if !self.line_fed {
                self.text = self.text || buf[unclassified..i].iter().any(|&b| b != b'\r');
                unclassified = i + 1;
                self.line_fed = self.text;
            }
            // The terminator's first line feed may have come in an earlier
            // read: look back across the boundary.
            // Empty lines before the request line end nothing.
            let ends = self.line_fed
                && ((i >= 1 && buf[i - 1] == b'\n')
                    || (i >= 2 && buf[i - 1] == b'\r' && buf[i - 2] == b'\n'));
            if ends {
                return true;
            }
        }
        if !self.text {
            self.text = buf[unclassified..].iter().any(|&b| b != b'\r');
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::fuzz::verdict;

    fn whole(input: &[u8], config: &Config) -> String {
        verdict(&parse::parse_head(
            &mut BytesMut::from(input),
            config,
            &mut Vec::new(),
        ))
    }

    /// Feeds `input` in two reads split at `at`, then asks for a verdict as
    /// at EOF; returns it and how many full parses ran.
    fn split(input: &[u8], at: usize, config: &Config) -> String {
        let mut scan = HeadScan::default();
        let mut spans = Vec::new();
        let mut buf = BytesMut::from(&input[..at]);
        let first = scan.parse(&mut buf, config, &mut spans);
        if !matches!(first, Ok(None)) {
            return verdict(&first);
        }
        buf.extend_from_slice(&input[at..]);
        let second = scan.parse(&mut buf, config, &mut spans);
        if !matches!(second, Ok(None)) {
            return verdict(&second);
        }
        verdict(&scan.parse_now(&mut buf, config, &mut spans))
    }

    const HEADS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\nGET /next",
        b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"GET / HTTP/1.1\r\nHost: a\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\nMore: y",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\rZ: w\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: y",
        b"G@T / HTTP/1.1\r\nHost: a",
    ];

    #[test]
    fn a_split_at_any_offset_gives_the_whole_parse_verdict() {
        let config = Config::default();
        for head in HEADS {
            let want = whole(head, &config);
            for at in 0..=head.len() {
                assert_eq!(split(head, at, &config), want, "{head:?} split at {at}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_parses_only_where_a_verdict_can_change() {
        let config = Config::default();
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\nX-Fill: ".to_vec();
        input.extend(std::iter::repeat_n(b'a', 30_000));
        input.extend_from_slice(b"\r\n\r\n");
        let mut scan = HeadScan::default();
        let mut spans = Vec::new();
        let mut buf = BytesMut::new();
        let mut full = 0;
        let mut head = None;
        for &b in &input {
            buf.extend_from_slice(&[b]);
            let skipped = scan.line_fed && b != b'\n' && buf.len() <= config.max_head_size;
            if !skipped {
                full += 1;
            }
            if let Some(h) = scan.parse(&mut buf, &config, &mut spans).unwrap() {
                head = Some(h);
            }
        }
        let head = head.expect("the head completes");
        assert_eq!(head.headers["x-fill"].len(), 30_000);
        assert!(buf.is_empty());
        // The request line byte by byte, then one parse per line feed.
        assert!(full <= 16 + 3, "{full} full parses");
    }

    #[test]
    fn the_head_size_limit_fires_as_soon_as_it_is_passed() {
        let config = Config {
            max_head_size: 1000,
            ..Config::default()
        };
        let mut scan = HeadScan::default();
        let mut spans = Vec::new();
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nX-Fill: "[..]);
        assert!(matches!(
            scan.parse(&mut buf, &config, &mut spans),
            Ok(None)
        ));
        while buf.len() < 1000 {
            buf.extend_from_slice(b"a");
            assert!(matches!(
                scan.parse(&mut buf, &config, &mut spans),
                Ok(None)
            ));
        }
        buf.extend_from_slice(b"a");
        let err = scan.parse(&mut buf, &config, &mut spans).unwrap_err();
        assert_eq!(err.status, Reject::HEAD_TOO_LARGE.status);
    }

    #[test]
    fn pipelined_heads_are_each_found() {
        let config = Config::default();
        let input = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
        for step in 1..input.len() {
            let mut scan = HeadScan::default();
            let mut spans = Vec::new();
            let mut buf = BytesMut::new();
            let mut uris = Vec::new();
            for piece in input.chunks(step) {
                buf.extend_from_slice(piece);
                while let Some(head) = scan.parse(&mut buf, &config, &mut spans).unwrap() {
                    uris.push(head.uri.to_string());
                }
            }
            assert_eq!(uris, ["/a", "/b"], "step {step}");
        }
    }
}
