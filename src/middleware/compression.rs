//! `Compression`: gzip, brotli or zstd response bodies, by `Accept-Encoding`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_compression::Level;
use async_compression::futures::bufread::{BrotliEncoder, GzipEncoder, ZstdEncoder};
use bytes::Bytes;
use futures_lite::io::{AsyncBufRead, AsyncRead, AsyncReadExt};
use futures_lite::{Stream, stream};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

use super::{Middleware, Next};
use crate::vocab::{Body, Request, Response};

/// Compresses response bodies with brotli, zstd or gzip, whichever the
/// client's `Accept-Encoding` prefers (by q-value; on a tie brotli, then
/// zstd, then gzip).
///
/// Left as they are: bodies shorter than [`min_size`](Self::min_size)
/// (1 KiB by default), bodies already encoded (`content-encoding` set),
/// media that is compressed already (images but SVG, audio, video, fonts,
/// archives), responses marked `cache-control: no-transform`, answers to
/// `HEAD`, and statuses without a body. Every response that could be
/// compressed gets `vary: accept-encoding`, whether it was or not, so
/// caches keep the encodings apart.
///
/// A buffered body is compressed whole and keeps a `content-length`; a
/// streamed body is compressed chunk by chunk as it is sent. Requires the
/// `compression` feature.
///
/// # Examples
///
/// ```
/// use tramline::middleware::Compression;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let app = Router::new()
///     .route("/", get(|| async { "tramline ".repeat(200) }))
///     .layer(Compression::new());
/// let client = TestClient::new(app);
/// let res = client.get("/").header("accept-encoding", "gzip;q=0.5, br").send();
/// res.assert_header("content-encoding", "br").assert_header("vary", "accept-encoding");
/// assert!(res.bytes().len() < 1800);
/// client.get("/").send().assert_no_header("content-encoding");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    min_size: u64,
}

impl Compression {
    /// Creates the middleware with a 1 KiB minimum size.
    pub fn new() -> Self {
        Self { min_size: 1024 }
    }

    /// Sets the smallest body, in bytes, worth compressing.
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.min_size = bytes;
        self
    }
}

impl Default for Compression {
    fn default() -> Self {
        Self::new()
    }
}

/// The encodings offered, in order of preference on equal q-values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Brotli,
    Zstd,
    Gzip,
}

impl Encoding {
    const ALL: [Self; 3] = [Self::Brotli, Self::Zstd, Self::Gzip];

    fn token(self) -> &'static str {
        match self {
            Self::Brotli => "br",
            Self::Zstd => "zstd",
            Self::Gzip => "gzip",
        }
    }

    fn encoder<'a, R>(self, reader: R) -> Box<dyn AsyncRead + Send + Unpin + 'a>
    where
        R: AsyncBufRead + Send + Unpin + 'a,
    {
        match self {
            // Brotli's default (11) is far too slow for live responses.
            Self::Brotli => Box::new(BrotliEncoder::with_quality(reader, Level::Precise(4))),
            Self::Zstd => Box::new(ZstdEncoder::new(reader)),
            Self::Gzip => Box::new(GzipEncoder::new(reader)),
        }
    }
}

/// Picks the encoding `accept` (an `Accept-Encoding` value) prefers, by
/// RFC 9110 §12.5.3: highest q-value, `*` for encodings not named, and
/// `q=0` to refuse.
fn negotiate(accept: &str) -> Option<Encoding> {
    let mut best: Option<(u16, Encoding)> = None;
    for encoding in Encoding::ALL {
        let mut named = None;
        let mut wildcard = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let token = parts.next().unwrap_or("").trim();
            // A malformed q-value refuses the item rather than accept it.
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .or_else(|| p.trim().strip_prefix("Q="))
                })
                .map_or(1000, |q| parse_q(q).unwrap_or(0));
            if token.eq_ignore_ascii_case(encoding.token()) {
                named = Some(q);
            } else if token == "*" {
                wildcard = Some(q);
            }
        }
        let q = named.or(wildcard).unwrap_or(0);
        if q > 0 && best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, encoding));
        }
    }
    best.map(|(_, encoding)| encoding)
}

/// Parses a q-value into thousandths (`0.5` → 500); `None` if malformed.
fn parse_q(text: &str) -> Option<u16> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let frac_value: u16 = format!("{frac:0<3}").parse().ok()?;
    let q = whole + frac_value;
    (q <= 1000).then_some(q)
}

/// Whether a response with these headers and status may be compressed at
/// all (whatever the client accepts).
fn is_compressible(status: StatusCode, headers: &HeaderMap, len: Option<u64>, min: u64) -> bool {
    if status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || headers.contains_key(header::CONTENT_ENCODING)
        || len.is_some_and(|len| len < min)
    {
        return false;
    }
    let no_transform = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-transform"));
    if no_transform {
        return false;
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let compressed_media = (content_type.starts_with("image/")
        && !content_type.starts_with("image/svg"))
        || [
            "audio/",
            "video/",
            "font/woff",
            "application/zip",
            "application/gzip",
            "application/x-gzip",
            "application/zstd",
            "application/x-7z",
            "application/x-rar",
            "application/pdf",
        ]
        .iter()
        .any(|prefix| content_type.starts_with(prefix));
    !compressed_media
}

impl Middleware for Compression {
    fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static {
        let min = self.min_size;
        let is_head = req.method() == Method::HEAD;
        let encoding = req
            .headers()
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let encoding = negotiate(&encoding);
        async move {
            let res = next.run(req).await;
            if is_head || !is_compressible(res.status(), res.headers(), res.body().len(), min) {
                return res;
            }
            let (mut parts, body) = res.into_parts();
            // A handler (ServeDir with precompressed files) may have said so
            // already: say it once.
            if !varies_on_accept_encoding(&parts.headers) {
                parts
                    .headers
                    .append(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            let Some(encoding) = encoding else {
                return Response::from_parts(parts, body);
            };
            let body = if body.len().is_some() {
                match compress_whole(encoding, body).await {
                    Ok(bytes) => Body::from(bytes),
                    Err(error) => {
                        tracing::error!(%error, "failed to compress a response");
                        return crate::vocab::response::plain_text(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "internal server error",
                        );
                    }
                }
            } else {
                Body::from_stream(compress_stream(encoding, body))
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.headers.remove(header::ACCEPT_RANGES);
            parts.headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static(encoding.token()),
            );
            Response::from_parts(parts, body)
        }
    }
}

async fn compress_whole(encoding: Encoding, body: Body) -> io::Result<Vec<u8>> {
    let data = body.collect().await.map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(data.len() / 2);
    encoding.encoder(&data[..]).read_to_end(&mut out).await?;
    Ok(out)
}

/// Size of the chunks a compressed stream is read in.
const CHUNK: usize = 8 * 1024;

fn compress_stream(encoding: Encoding, body: Body) -> impl Stream<Item = io::Result<Bytes>> + Send {
    let encoder = encoding.encoder(BodyReader {
        body,
        chunk: Bytes::new(),
    });
    stream::try_unfold(encoder, |mut encoder| async move {
        let mut buf = vec![0; CHUNK];
        let n = encoder.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), encoder)))
    })
}

/// A body read as bytes, for the encoders.
struct BodyReader {
    body: Body,
    /// INVARIANT: the unread rest of the chunk last taken from `body`.
    chunk: Bytes,
}

impl AsyncBufRead for BodyReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        while this.chunk.is_empty() {
            match ready!(Pin::new(&mut this.body).poll_next(cx)) {
                Some(Ok(chunk)) => this.chunk = chunk,
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
                None => break,
            }
        }
        Poll::Ready(Ok(&this.chunk))
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        let _ = self.chunk.split_to(amt);
    }
}

/// Whether the response's `Vary` already covers `Accept-Encoding`: it
/// names it, or it is `*` (RFC 9110 §12.5.5), in any of its fields.
fn varies_on_accept_encoding(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::VARY)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|name| name == b"*" || name.eq_ignore_ascii_case(b"accept-encoding"))
}

impl AsyncRead for BodyReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::routing::{MethodRouter, get};
    use crate::test::TestClient;
    use futures_lite::future::block_on;

    #[test]
    fn negotiation_follows_q_values_and_preference() {
        let cases = [
            ("gzip", Some(Encoding::Gzip)),
            ("gzip, br, zstd", Some(Encoding::Brotli)),
            ("gzip;q=1.0, br;q=0.8", Some(Encoding::Gzip)),
            ("zstd;q=0.9, br;q=0.5, gzip;q=0.9", Some(Encoding::Zstd)),
            ("*", Some(Encoding::Brotli)),
            ("*;q=0.1, br;q=0", Some(Encoding::Zstd)),
            ("br;q=0, gzip;q=0", None),
            ("identity", None),
            ("deflate, compress", None),
            ("gzip;q=2", None),
            ("gzip;q=0.1234", None),
            ("GZIP ; q=0.5", Some(Encoding::Gzip)),
            ("", None),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate(accept), want, "{accept:?}");
        }
    }

    fn decode(encoding: &str, data: &[u8]) -> Vec<u8> {
        use async_compression::futures::bufread::{BrotliDecoder, GzipDecoder, ZstdDecoder};
        let mut out = Vec::new();
        let mut reader: Box<dyn AsyncRead + Unpin> = match encoding {
            "br" => Box::new(BrotliDecoder::new(data)),
            "zstd" => Box::new(ZstdDecoder::new(data)),
            "gzip" => Box::new(GzipDecoder::new(data)),
            other => panic!("unexpected encoding {other}"),
        };
        block_on(reader.read_to_end(&mut out)).unwrap();
        out
    }

    fn app() -> TestClient {
        let text = "all work and no play ".repeat(100);
        let streamed = text.clone();
        TestClient::new(
            Router::new()
                .route("/text", get(move || std::future::ready(text.clone())))
                .route(
                    "/stream",
                    get(move || {
                        let chunks: Vec<_> = streamed
                            .as_bytes()
                            .chunks(300)
                            .map(|c| Ok::<_, io::Error>(Bytes::copy_from_slice(c)))
                            .collect();
                        async move { Body::from_stream(stream::iter(chunks)) }
                    }),
                )
                .route("/small", get(|| async { "tiny" }))
                .route(
                    "/png",
                    get(|| async {
                        (
                            [(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))],
                            vec![0u8; 4096],
                        )
                    }),
                )
                .layer(Compression::new()),
        )
    }

    #[test]
    fn whole_and_streamed_bodies_round_trip_in_every_encoding() {
        let client = app();
        let want = "all work and no play ".repeat(100);
        for encoding in ["br", "zstd", "gzip"] {
            for path in ["/text", "/stream"] {
                let res = client.get(path).header("accept-encoding", encoding).send();
                res.assert_status(200)
                    .assert_header("content-encoding", encoding)
                    .assert_header("vary", "accept-encoding");
                assert!(res.bytes().len() < want.len() / 4, "{encoding} {path}");
                assert_eq!(
                    decode(encoding, res.bytes()),
                    want.as_bytes(),
                    "{encoding} {path}"
                );
            }
        }
    }

    // Regression: issue 21, bug 2 (ServeDir under Compression sent
    // `vary: accept-encoding` twice).
    #[test]
    fn vary_names_accept_encoding_once() {
        /// A compressible text answer that already says `vary: {vary}`.
        fn varying(vary: &'static str) -> MethodRouter {
            get(
                move || async move { ([(header::VARY, vary)], "all work and no play ".repeat(100)) },
            )
        }
        let client = TestClient::new(
            Router::new()
                .route("/said", varying("Origin, Accept-Encoding"))
                .route("/star", varying("*"))
                .route("/origin", varying("origin"))
                .layer(Compression::new()),
        );
        let vary = |path: &str, accept: &str| -> Vec<String> {
            let res = client.get(path).header("accept-encoding", accept).send();
            res.assert_status(200);
            res.headers()
                .get_all(header::VARY)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        for accept in ["gzip", "identity"] {
            assert_eq!(
                vary("/said", accept),
                ["Origin, Accept-Encoding"],
                "{accept}"
            );
            assert_eq!(vary("/star", accept), ["*"], "{accept}");
            assert_eq!(
                vary("/origin", accept),
                ["origin", "accept-encoding"],
                "{accept}"
            );
        }
    }

    #[test]
    fn small_media_and_unaccepted_responses_stay_identity() {
        let client = app();
        client
            .get("/small")
            .header("accept-encoding", "gzip")
            .send()
            .assert_text("tiny")
            .assert_no_header("content-encoding")
            .assert_no_header("vary");
        client
            .get("/png")
            .header("accept-encoding", "gzip")
            .send()
            .assert_no_header("content-encoding");
        client
            .get("/text")
            .header("accept-encoding", "identity")
            .send()
            .assert_no_header("content-encoding")
            .assert_header("vary", "accept-encoding");
        client
            .head("/text")
            .header("accept-encoding", "gzip")
            .send()
            .assert_no_header("content-encoding");
    }

    #[test]
    fn compressed_whole_bodies_keep_a_content_length_through_the_engine() {
        let client = TestClient::with_engine(
            Router::new()
                .route("/", get(|| async { "abc".repeat(1000) }))
                .layer(Compression::new()),
        );
        let res = client.get("/").header("accept-encoding", "gzip").send();
        res.assert_header("content-encoding", "gzip");
        let len: usize = res.header("content-length").unwrap().parse().unwrap();
        assert_eq!(len, res.bytes().len());
        assert_eq!(decode("gzip", res.bytes()), "abc".repeat(1000).as_bytes());
    }
}
