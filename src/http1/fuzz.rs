//! Invariant checks shared by the property tests and the cargo-fuzz
//! targets: each takes arbitrary bytes and panics if the engine breaks a
//! rule.
//!
//! - nothing panics;
//! - the verdict is the same however the input is split across reads;
//! - no response follows an error response on a connection (the whole
//!   connection's check is `server::fuzz`, as it serves an app).
#![cfg_attr(not(feature = "__fuzz"), allow(unreachable_pub))]

use bytes::BytesMut;

use super::decode::ChunkedDecoder;
use super::parse::{Head, parse_head};
use super::scan::HeadScan;
use crate::proto::{Config, Reject};

/// Parses `data` whole and split at `split`; both must give one verdict.
///
/// # Panics
///
/// Panics if they do not, or if the parser panics.
pub fn parse_request(data: &[u8], split: usize) {
    let config = Config::default();
    let mut spans = Vec::new();
    let whole = verdict(&parse_head(&mut BytesMut::from(data), &config, &mut spans));
    let split = split % (data.len() + 1);
    let mut buf = BytesMut::from(&data[..split]);
    let first = parse_head(&mut buf, &config, &mut spans);
    let resumed = match first {
        Ok(None) => {
            buf.extend_from_slice(&data[split..]);
            verdict(&parse_head(&mut buf, &config, &mut spans))
        }
        other => verdict(&other),
    };
    assert_eq!(whole, resumed, "split at {split}");
}

/// Parses `data` whole, and fed `step` bytes per read through the
/// connection's incremental scan (which skips the full parse while no
/// verdict can change) with a final verdict asked for at EOF, as the
/// connection does: both must give one verdict.
///
/// # Panics
///
/// Panics if they do not, or if the parser panics.
pub fn parse_request_in_pieces(data: &[u8], step: usize) {
    let config = Config::default();
    let mut spans = Vec::new();
    let whole = verdict(&parse_head(&mut BytesMut::from(data), &config, &mut spans));
    let step = step.clamp(1, 64);
    let mut scan = HeadScan::default();
    let mut buf = BytesMut::new();
    let mut resumed = None;
    for piece in data.chunks(step) {
        buf.extend_from_slice(piece);
        let r = scan.parse(&mut buf, &config, &mut spans);
        if !matches!(r, Ok(None)) {
            resumed = Some(verdict(&r));
            break;
        }
    }
    let resumed =
        resumed.unwrap_or_else(|| verdict(&scan.parse_now(&mut buf, &config, &mut spans)));
    assert_eq!(whole, resumed, "step {step}");
}

/// A parse result as text, headers included, so two results compare.
pub(crate) fn verdict(r: &Result<Option<Head>, Reject>) -> String {
    match r {
        Ok(Some(h)) => format!(
            "{} {} {:?} {:?} {:?}",
            h.method, h.uri, h.version, h.body, h.headers
        ),
        Ok(None) => "partial".to_owned(),
        Err(e) => format!("{} {}", e.status, e.reason),
    }
}

/// Decodes `data` as a chunked body whole and in `step`-byte pieces; both
/// must give the same body, leftover and verdict.
///
/// # Panics
///
/// Panics if they do not, or if the decoder panics.
pub fn decode_chunked(data: &[u8], step: usize) {
    let whole = decode_in_pieces(data, data.len().max(1));
    let pieces = decode_in_pieces(data, step.clamp(1, 64));
    assert_eq!(whole, pieces, "step {step}");
}

/// Decodes `data` fed `step` bytes at a time (1 MiB body limit); returns the
/// body and what follows it, or the error's reason.
pub(crate) fn decode_in_pieces(
    data: &[u8],
    step: usize,
) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
    let mut decoder = ChunkedDecoder::default();
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    for (i, piece) in data.chunks(step).enumerate() {
        buf.extend_from_slice(piece);
        if decoder
            .decode(&mut buf, &mut out, 1 << 20)
            .map_err(|e| e.reason)?
        {
            buf.extend_from_slice(&data[((i + 1) * step).min(data.len())..]);
            return Ok((out.to_vec(), buf.to_vec()));
        }
    }
    Err("incomplete")
}

#[cfg(test)]
/// Request-shaped input: fragments that hit the parser's interesting
/// paths, glued together in any order.
pub(crate) fn fragments() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    use proptest::prelude::*;
    let pieces = prop::sample::select(vec![
        &b"GET / HTTP/1.1\r\n"[..],
        b"POST /echo HTTP/1.1\r\n",
        b"GET /n/7 HTTP/1.0\r\n",
        b"Host: t\r\n",
        b"Content-Length: 5\r\n",
        b"Content-Length: 3, 3\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Connection: close\r\n",
        b"Connection: keep-alive\r\n",
        b"Expect: 100-continue\r\n",
        b"\r\n",
        b"\n",
        b"\r",
        b"hello",
        b"5\r\nhello\r\n",
        b"0\r\n\r\n",
        b"5;x=y\r\n",
        b"X: a\x00b\r\n",
        b" folded\r\n",
        b"HTTP/2.0",
        b"HTTP/1.2",
        b"GET / HTTP/1.3\r\n",
        b"CONNECT t:443 HTTP/1.1\r\n",
        b"MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM /",
        b"Host:\r\n",
        b" ",
        b"5;\r\n",
        b"5 ; a = \"b\\\"\" ;c\r\n",
    ]);
    prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parse_verdict_does_not_depend_on_the_split(data in fragments(), split in any::<usize>()) {
            parse_request(&data, split);
        }

        #[test]
        fn incremental_parse_verdict_does_not_depend_on_the_split(data in fragments(), step in 1usize..16) {
            parse_request_in_pieces(&data, step);
        }

        #[test]
        fn incremental_parse_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512), step in 1usize..16) {
            parse_request_in_pieces(&data, step);
        }

        #[test]
        fn parse_never_panics_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..512), split in any::<usize>()) {
            parse_request(&data, split);
        }

        #[test]
        fn chunked_verdict_does_not_depend_on_the_split(data in fragments(), step in 1usize..16) {
            decode_chunked(&data, step);
        }
    }
}
