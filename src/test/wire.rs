//! The test client's engine mode: requests as bytes through the real
//! HTTP/1.1 engine over an in-memory duplex stream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, future};
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use super::{ResponseParser, TestResponse};
use crate::{Router, vocab::Request};

/// Room in each direction of the in-memory connection.
const PIPE_CAPACITY: usize = 64 * 1024;

/// The server's end of an in-memory connection.
struct Duplex {
    reader: piper::Reader,
    writer: piper::Writer,
}

impl AsyncRead for Duplex {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_close(cx)
    }
}

/// Serves one connection that carries `input` and then closes its write
/// side; returns every byte the engine wrote.
pub(super) async fn exchange(app: Arc<Router>, input: Vec<u8>) -> Vec<u8> {
    let (server_reader, mut client_writer) = piper::pipe(PIPE_CAPACITY);
    let (mut client_reader, server_writer) = piper::pipe(PIPE_CAPACITY);
    let server = crate::server::protocol::serve_in_memory(
        Duplex {
            reader: server_reader,
            writer: server_writer,
        },
        app,
    );
    // Write and read at once: either side may fill a pipe before the
    // other drains it.
    let write = async move {
        // The engine may stop reading (after an error response); what it
        // did not read does not matter then.
        let _ = client_writer.write_all(&input).await;
        let _ = client_writer.close().await;
    };
    let read = async move {
        let mut output = Vec::new();
        let _ = client_reader.read_to_end(&mut output).await;
        output
    };
    let ((), ((), output)) = future::zip(server, future::zip(write, read)).await;
    output
}

/// Sends `req` through the engine and parses its response.
pub(super) async fn send(app: Arc<Router>, req: Request) -> TestResponse {
    let is_head = req.method() == Method::HEAD;
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(body) => body,
        Err(e) => panic!("the request body failed: {e}"),
    };
    let bytes = encode_request(&parts, &body);
    let output = exchange(app, bytes).await;
    match parse_response(&output, is_head) {
        Some(res) => res,
        None => panic!(
            "the engine's answer is not one HTTP/1.1 response: {:?}",
            String::from_utf8_lossy(&output)
        ),
    }
}

/// Writes the request as HTTP/1.1, adding `host` and `content-length` when
/// the test did not set them.
fn encode_request(parts: &http::request::Parts, body: &[u8]) -> Vec<u8> {
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut out = format!("{} {target} HTTP/1.1\r\n", parts.method).into_bytes();
    let mut header = |name: &HeaderName, value: &HeaderValue| {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };
    if !parts.headers.contains_key(header::HOST) {
        let host = parts.uri.authority().map_or("localhost", |a| a.as_str());
        if let Ok(value) = HeaderValue::from_str(host) {
            header(&header::HOST, &value);
        }
    }
    for (name, value) in &parts.headers {
        header(name, value);
    }
    let framed = parts.headers.contains_key(header::CONTENT_LENGTH)
        || parts.headers.contains_key(header::TRANSFER_ENCODING);
    let sends_body = !body.is_empty()
        || matches!(
            parts.method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
    if !framed && sends_body {
        header(&header::CONTENT_LENGTH, &HeaderValue::from(body.len()));
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Parses the first final response in `bytes` (all the engine wrote
/// before it closed the connection), skipping `1xx` ones.
fn parse_response(mut bytes: &[u8], is_head: bool) -> Option<TestResponse> {
    let mut parser = ResponseParser::new();
    parser.head_request(is_head);
    loop {
        let res = parser.parse_to_end(bytes).ok()?;
        if (100..200).contains(&res.status) {
            bytes = &bytes[res.consumed..];
            continue;
        }
        return Some(TestResponse {
            status: StatusCode::from_u16(res.status).ok()?,
            version: res.version,
            headers: res.header_map().ok()?,
            body: Bytes::from(res.body),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_and_truncated_ones_do_not() {
        let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        let whole = format!("{head}3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n");
        assert_eq!(
            parse_response(whole.as_bytes(), false).unwrap().text(),
            "abcde"
        );
        let cut = format!("{head}3\r\nab");
        assert!(parse_response(cut.as_bytes(), false).is_none());
        let bad = format!("{head}zz\r\n");
        assert!(parse_response(bad.as_bytes(), false).is_none());
    }

    #[test]
    fn requests_get_host_and_length_unless_set() {
        let (parts, ()) = Request::post("/a?b=1")
            .header("x-k", "v")
            .body(())
            .unwrap()
            .into_parts();
        let text = String::from_utf8(encode_request(&parts, b"hi")).unwrap();
        assert_eq!(
            text,
            "POST /a?b=1 HTTP/1.1\r\nhost: localhost\r\nx-k: v\r\ncontent-length: 2\r\n\r\nhi"
        );
        let (parts, ()) = Request::get("http://example.com/")
            .body(())
            .unwrap()
            .into_parts();
        let text = String::from_utf8(encode_request(&parts, b"")).unwrap();
        assert_eq!(text, "GET / HTTP/1.1\r\nhost: example.com\r\n\r\n");
    }

    #[test]
    fn interim_responses_are_skipped() {
        let bytes =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\nok";
        let res = parse_response(bytes, false).unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(res.text(), "ok");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n", false).is_none());
    }
}
