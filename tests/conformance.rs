//! HTTP/1.1 conformance over real loopback sockets, on every runtime: raw
//! request bytes, each with the exact status it must get and whether the
//! connection must close after it (RFC 9110, RFC 9112).
//!
//! After each vector the client pipelines a probe request: it must be
//! answered when the connection stays open, and must not be when the
//! connection closes (no request after a framing error is ever served).

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::stream;
use tramline::extract::State;
use tramline::middleware::BodyLimit;
use tramline::routing::{any, get, post};
use tramline::rt::Runtime;
use tramline::{Body, Router};

use support::{Client, TestServer, on_every_runtime};

const PROBE: &[u8] = b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n";

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "root" }))
        .route("/ok", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/any", any(|| async { "any" }))
        .route(
            "/forever",
            get(|| async {
                let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
                Body::from_stream(stream::repeat(chunk).map(Ok::<_, std::io::Error>))
            }),
        )
        .route(
            "/stream-panic",
            get(|| async {
                let chunks = stream::iter([1, 2]).map(|i| {
                    assert!(i < 2, "stream bug");
                    Ok::<_, std::io::Error>(Bytes::from_static(b"part"))
                });
                Body::from_stream(chunks)
            }),
        )
        // A fallback that answers everything: what a CONNECT must not reach.
        .fallback(|| async { "fallback" })
}

use futures_lite::StreamExt;

/// What a vector must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status, then the connection stays open (the probe is answered).
    Keep(u16),
    /// This status, then the connection closes (the probe is not answered).
    Close(u16),
    /// No response; the connection closes.
    Nothing,
}

struct Vector {
    name: &'static str,
    input: Vec<u8>,
    expect: Expect,
    /// Close the write side after the input instead of sending the probe.
    eof: bool,
}

fn v(name: &'static str, input: impl Into<Vec<u8>>, expect: Expect) -> Vector {
    Vector {
        name,
        input: input.into(),
        expect,
        eof: false,
    }
}

fn post_chunked(body: &str) -> Vec<u8> {
    format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
        .into_bytes()
}

fn get_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: t\r\n{headers}\r\n").into_bytes()
}

fn vectors() -> Vec<Vector> {
    use Expect::{Close, Keep, Nothing};
    let mut vs = vec![
        // Framing and request smuggling (RFC 9112 §6).
        v(
            "cl and te both",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            Close(400),
        ),
        v(
            "te and cl both, te first",
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            Close(400),
        ),
        v(
            "duplicate cl, different",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            Close(400),
        ),
        v(
            "cl list, different",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!",
            Close(400),
        ),
        v(
            "cl with plus sign",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello",
            Close(400),
        ),
        v(
            "cl negative",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\nhello",
            Close(400),
        ),
        v(
            "cl hex",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello",
            Close(400),
        ),
        v(
            "cl empty",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: \r\n\r\nhello",
            Close(400),
        ),
        v(
            "cl not digits",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: five\r\n\r\nhello",
            Close(400),
        ),
        v(
            "cl overflows u64",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999\r\n\r\nhello",
            Close(400),
        ),
        v(
            "cl with inner space",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1 2\r\n\r\nhello",
            Close(400),
        ),
        v(
            "cl with decimal point",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5.0\r\n\r\nhello",
            Close(400),
        ),
        v(
            "duplicate cl, same",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            Keep(200),
        ),
        v(
            "cl list, same",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello",
            Keep(200),
        ),
        v(
            "te chunked twice",
            post_chunked("0\r\n\r\n").replace_te("chunked, chunked"),
            Close(400),
        ),
        v(
            "te gzip then chunked",
            post_chunked("0\r\n\r\n").replace_te("gzip, chunked"),
            Close(501),
        ),
        v(
            "te chunked not last",
            post_chunked("0\r\n\r\n").replace_te("chunked, gzip"),
            Close(400),
        ),
        v(
            "te identity",
            post_chunked("0\r\n\r\n").replace_te("identity"),
            Close(501),
        ),
        v(
            "te unknown",
            post_chunked("0\r\n\r\n").replace_te("foo"),
            Close(501),
        ),
        v(
            "te empty",
            post_chunked("0\r\n\r\n").replace_te(""),
            Close(400),
        ),
        v(
            "te on http/1.0",
            "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Close(400),
        ),
        v(
            "te in two fields",
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Close(501),
        ),
        v(
            "te with odd case and space",
            post_chunked("5\r\nhello\r\n0\r\n\r\n").replace_te(" ChUnKeD"),
            Keep(200),
        ),
        // Header syntax (RFC 9112 §5, RFC 9110 §5.5).
        v("space before colon", get_with("Bad : x\r\n"), Close(400)),
        v("obs-fold", get_with("X-A: a\r\n folded\r\n"), Close(400)),
        v(
            "obs-fold with tab",
            get_with("X-A: a\r\n\tfolded\r\n"),
            Close(400),
        ),
        v("empty header name", get_with(": x\r\n"), Close(400)),
        v("no colon", get_with("NoColonHere\r\n"), Close(400)),
        v("nul in value", get_with("X-A: a\0b\r\n"), Close(400)),
        v("bare cr in value", get_with("X-A: a\rb\r\n"), Close(400)),
        v("ctl in value", get_with("X-A: a\x01b\r\n"), Close(400)),
        v("del in value", get_with("X-A: a\x7fb\r\n"), Close(400)),
        v("bad token in name", get_with("X(A): 1\r\n"), Close(400)),
        v("non-ascii name", get_with("X-\u{e9}: 1\r\n"), Close(400)),
        v(
            "whitespace before first header",
            "GET / HTTP/1.1\r\n Host: t\r\n\r\n",
            Close(400),
        ),
        v(
            "bare lf after request line",
            "GET / HTTP/1.1\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "bare lf between headers",
            "GET / HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n",
            Close(400),
        ),
        v(
            "bare lf ending the head",
            "GET / HTTP/1.1\r\nHost: t\r\n\n",
            Close(400),
        ),
        v(
            "bare cr ending a line",
            "GET / HTTP/1.1\rHost: t\r\n\r\n",
            Close(400),
        ),
        // Chunked bodies (RFC 9112 §7.1).
        v(
            "chunk size empty",
            post_chunked("\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk size negative",
            post_chunked("-5\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk size 0x prefix",
            post_chunked("0x5\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk size leading space",
            post_chunked(" 5\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk size not hex",
            post_chunked("5g\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk size overflows u64",
            post_chunked("10000000000000000\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk data without crlf",
            post_chunked("5\r\nhelloXX0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk data too long",
            post_chunked("3\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "bare lf after chunk size",
            post_chunked("5\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "bare lf after chunk data",
            post_chunked("5\r\nhello\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "bare lf ending trailers",
            post_chunked("5\r\nhello\r\n0\r\n\n"),
            Close(400),
        ),
        v(
            "bare cr in chunk extension",
            post_chunked("5;a\rb\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "nul in chunk extension",
            post_chunked("5;a=\0\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extension too long",
            post_chunked(&format!(
                "5;{}\r\nhello\r\n0\r\n\r\n",
                "e".repeat(17 * 1024)
            )),
            Close(400),
        ),
        v(
            "too many trailers",
            post_chunked(&format!(
                "0\r\n{}\r\n",
                (0..101).map(|i| format!("T{i}: v\r\n")).collect::<String>()
            )),
            Close(400),
        ),
        v(
            "trailer section too large",
            post_chunked(&format!("0\r\nT: {}\r\n\r\n", "v".repeat(17 * 1024))),
            Close(400),
        ),
        v(
            "malformed trailer",
            post_chunked("0\r\nnot a field\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extensions accepted",
            post_chunked("5;name=value;flag\r\nhello\r\n0;last\r\n\r\n"),
            Keep(200),
        ),
        v(
            "chunk extension with bws and a quoted value",
            post_chunked("5 ; a = \"x;\\\"y\" ;\tb\r\nhello\r\n0\r\n\r\n"),
            Keep(200),
        ),
        v(
            "chunk extension bare semicolon",
            post_chunked("5;\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extension name not a token",
            post_chunked("5;a@b\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extension without a name",
            post_chunked("5;=v\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extension empty value",
            post_chunked("5;a=\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extension value not a token",
            post_chunked("5;a=b(c)\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extension unterminated quote",
            post_chunked("5;a=\"b\r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "chunk extension trailing space",
            post_chunked("5;a \r\nhello\r\n0\r\n\r\n"),
            Close(400),
        ),
        v(
            "last chunk extension bare semicolon",
            post_chunked("5\r\nhello\r\n0;\r\n\r\n"),
            Close(400),
        ),
        v(
            "trailers accepted",
            post_chunked("5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n"),
            Keep(200),
        ),
        v(
            "trailer cannot change framing",
            post_chunked(
                "5\r\nhello\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n",
            ),
            Keep(200),
        ),
        v(
            "uppercase hex size",
            post_chunked("A\r\n0123456789\r\n0\r\n\r\n"),
            Keep(200),
        ),
        // The request line (RFC 9112 §3).
        v(
            "bad method token",
            "G@T / HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "double space",
            "GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "space in target",
            "GET /a b HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "nul in target",
            "GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "tab in target",
            "GET /a\tb HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "non-ascii target",
            "GET /caf\u{e9} HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "lowercase version",
            "GET / http/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "space after version",
            "GET / HTTP/1.1 \r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "space before method",
            " GET / HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "version 1.10",
            "GET / HTTP/1.10\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "asterisk with get",
            "GET * HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "authority-form with get",
            "GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        v(
            "relative target",
            "GET ok HTTP/1.1\r\nHost: t\r\n\r\n",
            Close(400),
        ),
        // RFC 9112 §2.3: a higher HTTP/1 minor version is served as 1.1
        // (so it persists, and needs a Host).
        v("http/1.2", "GET /ok HTTP/1.2\r\nHost: t\r\n\r\n", Keep(200)),
        v("http/1.9", "GET /ok HTTP/1.9\r\nHost: t\r\n\r\n", Keep(200)),
        v(
            "http/1.2 without host",
            "GET /ok HTTP/1.2\r\n\r\n",
            Close(400),
        ),
        v("http/2.0", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", Close(505)),
        // With the `http2` feature the preface opens an HTTP/2 connection
        // instead (tests/http2.rs).
        #[cfg(not(feature = "http2"))]
        v("h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Close(505)),
        v("http/3.0", "GET / HTTP/3.0\r\nHost: t\r\n\r\n", Close(505)),
        v("http/0.9", "GET /\r\n\r\n", Close(400)),
        v(
            "tls client hello",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n".to_vec(),
            Close(400),
        ),
        v(
            "one leading crlf",
            "\r\nGET /ok HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(200),
        ),
        v(
            "absolute-form",
            "GET http://t/ok HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(200),
        ),
        v(
            "options asterisk",
            "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(200),
        ),
        // RFC 9110 §9.3.6, RFC 9112 §3.2.3: CONNECT names a host to tunnel
        // to; no route asked for one, and the fallback must not say yes.
        v(
            "connect authority-form",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            Keep(501),
        ),
        v(
            "connect to an unrouted path",
            "CONNECT /nope HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(501),
        ),
        v(
            "connect to a get route",
            "CONNECT /ok HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(405),
        ),
        v(
            "connect to an any route",
            "CONNECT /any HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(200),
        ),
        v(
            "authority-form with post",
            "POST example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            Close(400),
        ),
        v(
            "method is case-sensitive",
            "get / HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(405),
        ),
        v(
            "extension method",
            "PURGE /any HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(200),
        ),
        v(
            "extension method of 32 bytes",
            format!("{} /any HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(32)),
            Keep(200),
        ),
        // A method over the limit is a bad request line (400); 414 is for
        // the target.
        v(
            "method of 33 bytes",
            format!("{} /any HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(33)),
            Close(400),
        ),
        // Over the URI limit too (this got 414). Kept under the 64 KiB the
        // server drains after an error, so the client's write is not reset;
        // the parser's unit tests take a 100 KB one.
        v(
            "method of 32 KiB",
            format!("{} / HTTP/1.1\r\nHost: t\r\n\r\n", "M".repeat(32 * 1024)),
            Close(400),
        ),
        // Host (RFC 9112 §3.2).
        v("missing host", "GET / HTTP/1.1\r\n\r\n", Close(400)),
        v(
            "two hosts",
            "GET / HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n",
            Close(400),
        ),
        v(
            "host with userinfo",
            "GET / HTTP/1.1\r\nHost: a@t\r\n\r\n",
            Close(400),
        ),
        v(
            "host with space",
            "GET / HTTP/1.1\r\nHost: t u\r\n\r\n",
            Close(400),
        ),
        v(
            "host with bad port",
            "GET / HTTP/1.1\r\nHost: t:port\r\n\r\n",
            Close(400),
        ),
        v(
            "host with path",
            "GET / HTTP/1.1\r\nHost: t/x\r\n\r\n",
            Close(400),
        ),
        // RFC 9112 §3.2: empty means the target URI has no authority, and
        // the http URI an origin-form target names must have one.
        v("host empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", Close(400)),
        v(
            "host empty with asterisk",
            "OPTIONS * HTTP/1.1\r\nHost:\r\n\r\n",
            Close(400),
        ),
        v(
            "host empty with absolute-form",
            "GET http://t/ok HTTP/1.1\r\nHost:\r\n\r\n",
            Keep(200),
        ),
        v(
            "host with port",
            "GET / HTTP/1.1\r\nHost: t:8080\r\n\r\n",
            Keep(200),
        ),
        v(
            "host ipv6",
            "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
            Keep(200),
        ),
        v(
            "http/1.0 without host",
            "GET / HTTP/1.0\r\n\r\n",
            Close(200),
        ),
        v(
            "http/1.0 keep-alive without host",
            "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            Keep(200),
        ),
        // Limits.
        v(
            "uri over 8 KiB",
            format!(
                "GET /{} HTTP/1.1\r\nHost: t\r\n\r\n",
                "a".repeat(8 * 1024 + 1)
            ),
            Close(414),
        ),
        v(
            "head over 64 KiB",
            get_with(&format!("X-Big: {}\r\n", "a".repeat(64 * 1024))),
            Close(431),
        ),
        v(
            "101 headers",
            get_with(
                &(0..100)
                    .map(|i| format!("X-{i}: v\r\n"))
                    .collect::<String>(),
            ),
            Close(431),
        ),
        v(
            "100 headers",
            get_with(&(0..99).map(|i| format!("X-{i}: v\r\n")).collect::<String>()),
            Keep(200),
        ),
        v(
            "body over 2 MiB by content-length",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2097153\r\n\r\n",
            Close(413),
        ),
        v(
            "body over 2 MiB with expect",
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2097153\r\nExpect: 100-continue\r\n\r\n",
            Close(413),
        ),
        v(
            "chunked body over 2 MiB",
            post_chunked(&format!(
                "{:x}\r\n{}\r\n0\r\n\r\n",
                2 * 1024 * 1024 + 1,
                "a".repeat(2 * 1024 * 1024 + 1)
            )),
            Close(413),
        ),
        v(
            "body of exactly 2 MiB",
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\n\r\n{}",
                "a".repeat(2 * 1024 * 1024)
            ),
            Keep(200),
        ),
        v(
            "unknown expectation",
            "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nhi",
            Close(417),
        ),
        // Connection handling (RFC 9112 §9).
        v(
            "connection close",
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            Close(200),
        ),
        v(
            "connection close in a list",
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: te, CLOSE\r\n\r\n",
            Close(200),
        ),
        v(
            "get body is skipped",
            "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
            Keep(200),
        ),
        v(
            "unread chunked body closes",
            "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            Close(200),
        ),
        v(
            "head request",
            "HEAD /ok HTTP/1.1\r\nHost: t\r\n\r\n",
            Keep(200),
        ),
    ];
    vs.push(Vector {
        name: "missing last chunk",
        input: post_chunked("5\r\nhello\r\n"),
        expect: Nothing,
        eof: true,
    });
    vs.push(Vector {
        name: "body shorter than content-length",
        input: b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello".to_vec(),
        expect: Nothing,
        eof: true,
    });
    vs
}

trait ReplaceTe {
    fn replace_te(&self, coding: &str) -> Vec<u8>;
}

impl ReplaceTe for [u8] {
    fn replace_te(&self, coding: &str) -> Vec<u8> {
        String::from_utf8(self.to_vec())
            .unwrap()
            .replace(
                "Transfer-Encoding: chunked",
                &format!(
                    "Transfer-Encoding:{}{coding}",
                    if coding.starts_with(' ') { "" } else { " " }
                ),
            )
            .into_bytes()
    }
}

impl ReplaceTe for Vec<u8> {
    fn replace_te(&self, coding: &str) -> Vec<u8> {
        self.as_slice().replace_te(coding)
    }
}

fn run_vector(server: &TestServer, vector: &Vector) {
    eprintln!("vector: {}", vector.name);
    let mut client = server.connect();
    client.send(&vector.input);
    if vector.eof {
        client.finish_writing();
    } else {
        client.send(PROBE);
    }
    let name = vector.name;
    let head = vector.input.starts_with(b"HEAD");
    match vector.expect {
        Expect::Nothing => {
            let rest = client.read_to_close();
            assert!(
                rest.is_empty(),
                "{name}: expected no response, got {:?}",
                String::from_utf8_lossy(&rest)
            );
        }
        Expect::Keep(status) | Expect::Close(status) => {
            let r = if head {
                client.head_response()
            } else {
                client.response()
            };
            assert_eq!(
                r.status,
                status,
                "{name}: {:?}",
                String::from_utf8_lossy(&r.body)
            );
            if status >= 400 {
                assert_eq!(
                    r.header("content-type"),
                    Some("text/plain; charset=utf-8"),
                    "{name}"
                );
                assert!(
                    !r.body.is_empty(),
                    "{name}: error responses name the problem"
                );
            }
            if matches!(vector.expect, Expect::Close(_)) {
                client.assert_closed();
            } else {
                let probe = client.response();
                assert_eq!(
                    (probe.status, probe.text()),
                    (200, "ok"),
                    "{name}: probe after the vector"
                );
            }
        }
    }
}

fn every_vector_gets_its_exact_status_and_close_behaviour<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let vectors = vectors();
    assert!(vectors.len() >= 80, "{} vectors", vectors.len());
    for vector in &vectors {
        run_vector(&server, vector);
    }
}

fn every_vector_survives_byte_at_a_time_delivery<R: Runtime>(rt: R) {
    // The same verdicts when the request trickles in (small vectors only, to
    // keep the run short).
    let server = TestServer::start(rt, app());
    for vector in vectors().iter().filter(|v| v.input.len() < 256 && !v.eof) {
        let mut client = server.connect();
        // Like a real client, stop sending once the server has answered
        // (it may answer an invalid head early and close).
        let mut answered = false;
        for byte in &vector.input {
            if client.has_data() {
                answered = true;
                break;
            }
            client.send(std::slice::from_ref(byte));
        }
        if !answered {
            client.send(PROBE);
        }
        let status = match vector.expect {
            Expect::Keep(s) | Expect::Close(s) => s,
            Expect::Nothing => continue,
        };
        let r = if vector.input.starts_with(b"HEAD") {
            client.head_response()
        } else {
            client.response()
        };
        assert_eq!(r.status, status, "{} (byte at a time)", vector.name);
    }
}

fn error_response_is_read_before_the_close<R: Runtime>(rt: R) {
    // The client keeps sending after a rejected head; lingering means it
    // still reads the 400 instead of a connection reset.
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client
        .send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    client.send(&vec![b'x'; 32 * 1024]);
    let r = client.response();
    assert_eq!(
        (r.status, r.text()),
        (400, "conflicting content-length values")
    );
}

fn a_response_to_an_unread_body_is_read_before_the_close<R: Runtime>(rt: R) {
    // The handler answers without reading the chunked body, so the server
    // closes. The client is still sending the body: the server lingers
    // instead of resetting the connection under it.
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(b"GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    let r = client.response();
    assert_eq!((r.status, r.text()), (200, "root"));
    keeps_sending_until_closed(&mut client);
}

fn a_413_is_read_before_the_close<R: Runtime>(rt: R) {
    // The body goes over the limit: the server answers 413 once it knows,
    // and lingers while the client sends the rest.
    let server = TestServer::start_with(rt, app(), |s| {
        s.max_body_size(1024);
    });
    let mut client = server.connect();
    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    client.send(format!("800\r\n{}\r\n", "x".repeat(0x800)).as_bytes());
    let r = client.response();
    assert_eq!(r.status, 413);
    keeps_sending_until_closed(&mut client);
}

/// Sends more of a body the server has already answered, in pieces with
/// pauses (a reset would arrive between them), then finishes: the server
/// must have read and dropped it all, and then close.
fn keeps_sending_until_closed(client: &mut Client) {
    let chunk = format!("400\r\n{}\r\n", "x".repeat(0x400));
    for i in 0..8 {
        if let Err(e) = client.try_send(chunk.as_bytes()) {
            panic!("write {i} after the response: {e}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    client.finish_writing();
    client.assert_closed();
}

fn idle_keep_alive_connection_times_out<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.idle_timeout(Duration::from_millis(200));
    });
    let mut client = server.connect();
    assert_eq!(client.roundtrip(PROBE).status, 200);
    let start = Instant::now();
    client.assert_closed();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

fn slow_head_times_out<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.header_timeout(Duration::from_millis(300));
    });
    let mut client = server.connect();
    let start = Instant::now();
    client.send(b"GET / HTTP/1.1\r\n");
    // Part of a head came, so the client is told why nothing else will.
    let r = client.response();
    assert_eq!((r.status, r.text()), (408, "request head timed out"));
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

fn stalled_body_times_out<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.body_timeout(Duration::from_millis(300));
    });
    let mut client = server.connect();
    let start = Instant::now();
    client.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly a little");
    // The handler's answer never went out, so the client is told why.
    let r = client.response();
    assert_eq!((r.status, r.text()), (408, "request body timed out"));
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed();
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

fn client_that_stops_reading_times_out<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.write_timeout(Duration::from_millis(300));
    });
    let mut client = server.connect();
    client.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
    // Stop reading until the socket buffers fill and the server's write
    // stalls past its timeout; then the body must end in a close, not go on.
    std::thread::sleep(Duration::from_millis(1500));
    let start = Instant::now();
    let got = client.read_to_close();
    assert!(!got.is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
}

fn connections_over_the_limit_wait_their_turn<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.max_connections(2);
    });
    // Both places are held by connections in the middle of a request head,
    // so neither is idle and there is nothing to evict: the third waits.
    let mut first = server.connect();
    first.send(b"GET /ok HTTP/1.1\r\n");
    let mut second = server.connect();
    second.send(b"GET /ok HTTP/1.1\r\n");
    // Until the server has read those bytes the two look idle.
    std::thread::sleep(Duration::from_millis(100));
    let mut third = server.connect();
    third.send(PROBE);
    assert!(
        !third.answers_within(Duration::from_millis(300)),
        "third connection served over the limit"
    );
    drop(first);
    let r = third.response();
    assert_eq!((r.status, r.text()), (200, "ok"));
    second.send(b"Host: t\r\n\r\n");
    assert_eq!(second.response().status, 200);
}

fn at_the_limit_the_oldest_idle_connection_makes_room<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.max_connections(2);
    });
    let mut oldest = server.connect();
    assert_eq!(oldest.roundtrip(PROBE).status, 200);
    std::thread::sleep(Duration::from_millis(20));
    let mut newer = server.connect();
    assert_eq!(newer.roundtrip(PROBE).status, 200);
    // Both are idle keep-alive connections: a third is served at once, and
    // the one idle longest is the one closed for it.
    let mut third = server.connect();
    let r = third.roundtrip(PROBE);
    assert_eq!((r.status, r.text()), (200, "ok"));
    oldest.assert_closed();
    assert_eq!(newer.roundtrip(PROBE).status, 200);
}

fn slow_clients_do_not_starve_a_normal_one<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let addr = server.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tricklers: Vec<_> = (0..50)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut client = support::Client::connect(addr);
                let head = b"GET /ok HTTP/1.1\r\nHost: t\r\nX-Slow: ";
                for (i, byte) in head.iter().chain(std::iter::repeat(&b'a')).enumerate() {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) || i > 200 {
                        break;
                    }
                    client.send(std::slice::from_ref(byte));
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    let mut normal = server.connect();
    for _ in 0..50 {
        let start = Instant::now();
        assert_eq!(normal.roundtrip(PROBE).text(), "ok");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tricklers {
        t.join().unwrap();
    }
}

fn panic_in_a_streamed_body_aborts_only_that_connection<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    client.send(b"GET /stream-panic HTTP/1.1\r\nHost: t\r\n\r\n");
    let got = client.read_to_close();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a truncated body must not look complete: {text}"
    );
    assert_eq!(server.connect().roundtrip(PROBE).status, 200);
}

fn route_can_raise_or_lower_the_body_limit<R: Runtime>(rt: R) {
    let app = Router::new()
        .route(
            "/small",
            post(|body: Body| async move {
                match body.with_limit(4).collect().await {
                    Ok(b) => (http::StatusCode::OK, b),
                    Err(e) if e.is_too_large() => {
                        (http::StatusCode::PAYLOAD_TOO_LARGE, Bytes::new())
                    }
                    Err(_) => (http::StatusCode::BAD_REQUEST, Bytes::new()),
                }
            }),
        )
        .route(
            "/large",
            post(|State(()): State<()>, body: Body| async move {
                let n = body
                    .with_limit(4 << 20)
                    .collect()
                    .await
                    .map(|b| b.len())
                    .unwrap_or(0);
                n.to_string()
            }),
        )
        .route(
            "/layered",
            post(|body: Bytes| async move { body.len().to_string() })
                .layer(BodyLimit::new(4 << 20)),
        );
    let server = TestServer::start(rt, app);
    let mut client = server.connect();
    client.send(
        b"POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    // Refused from Content-Length alone: no 100 Continue comes first.
    let r = client.response();
    assert_eq!(r.status, 413);
    // Raised above the server's 2 MiB for one route, by the handler...
    let big = 3 << 20;
    let mut client = server.connect();
    client.send(
        format!("POST /large HTTP/1.1\r\nHost: t\r\nContent-Length: {big}\r\n\r\n").as_bytes(),
    );
    client.send(&vec![b'z'; big]);
    let r = client.response();
    assert_eq!((r.status, r.text()), (200, big.to_string().as_str()));
    // ...and by the BodyLimit middleware, with a chunked body this time.
    let mut client = server.connect();
    client.send(b"POST /layered HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    client.send(format!("{big:x}\r\n").as_bytes());
    client.send(&vec![b'z'; big]);
    client.send(b"\r\n0\r\n\r\n");
    let r = client.response();
    assert_eq!((r.status, r.text()), (200, big.to_string().as_str()));
}

on_every_runtime!(
    every_vector_gets_its_exact_status_and_close_behaviour,
    every_vector_survives_byte_at_a_time_delivery,
    error_response_is_read_before_the_close,
    a_response_to_an_unread_body_is_read_before_the_close,
    a_413_is_read_before_the_close,
    idle_keep_alive_connection_times_out,
    slow_head_times_out,
    stalled_body_times_out,
    client_that_stops_reading_times_out,
    connections_over_the_limit_wait_their_turn,
    slow_clients_do_not_starve_a_normal_one,
    at_the_limit_the_oldest_idle_connection_makes_room,
    panic_in_a_streamed_body_aborts_only_that_connection,
    route_can_raise_or_lower_the_body_limit,
);
