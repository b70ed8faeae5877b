//! The HTTP/2 side of the suites' client: the HTTP/1.1 request bytes a
//! suite writes are read back into a request and sent as one h2 stream
//! (h2c with prior knowledge), so the same test runs over both protocols.
//!
//! The translation is the one a proxy between the two makes (RFC 9113
//! §8.2.2): the connection-specific fields (`Connection`, `Keep-Alive`,
//! `Transfer-Encoding`, `Upgrade`, ...) are dropped, `Host` becomes the
//! authority, and a chunked body is sent as plain DATA.

use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;

use super::RawResponse;

/// One h2c connection, driven by a tokio runtime on the test's thread (the
/// client's runtime, whatever the server runs on). The connection makes
/// progress while a request is in flight.
pub(super) struct H2Wire {
    rt: ::tokio::runtime::Runtime,
    client: h2::client::SendRequest<Bytes>,
    /// Written request bytes not yet sent as a stream.
    pending: Vec<u8>,
    limit: Duration,
}

/// The fields that describe an HTTP/1.1 connection, not the message; an
/// h2 request must not carry them.
const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
];

impl H2Wire {
    /// Starts h2c with prior knowledge on a connected socket.
    pub(super) fn start(tcp: TcpStream, limit: Duration) -> Self {
        tcp.set_nonblocking(true).unwrap();
        let rt = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt.block_on(async {
            let tcp = ::tokio::net::TcpStream::from_std(tcp).unwrap();
            let (client, conn) = ::tokio::time::timeout(limit, h2::client::handshake(tcp))
                .await
                .expect("h2 handshake in time")
                .expect("h2 handshake");
            ::tokio::spawn(async move {
                let _ = conn.await;
            });
            client
        });
        Self {
            rt,
            client,
            pending: Vec::new(),
            limit,
        }
    }

    /// Keeps request bytes until a response is asked for.
    pub(super) fn write(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// Sends the first whole request written so far as one stream and
    /// reads its response.
    pub(super) fn response(&mut self) -> RawResponse {
        let (request, body, used) = parse_request(&self.pending);
        self.pending.drain(..used);
        let is_head = request.method() == http::Method::HEAD;
        let client = self.client.clone();
        let limit = self.limit;
        self.rt.block_on(async move {
            ::tokio::time::timeout(limit, exchange(client, request, body, is_head))
                .await
                .expect("the h2 exchange finished in time")
        })
    }

    /// Whether written bytes wait for a response.
    pub(super) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

async fn exchange(
    client: h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
    body: Vec<u8>,
    is_head: bool,
) -> RawResponse {
    let mut client = client.ready().await.expect("h2 connection ready");
    let (response, mut send) = client
        .send_request(request, body.is_empty())
        .expect("open an h2 stream");
    if !body.is_empty() {
        // A server that answers before reading the whole body (413, an
        // early error) may reset the stream: the answer still counts.
        let _ = send.send_data(Bytes::from(body), true);
    }
    let response = response.await.expect("h2 response head");
    let (parts, mut recv) = response.into_parts();
    let mut body = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.expect("h2 response body");
        let _ = recv.flow_control().release_capacity(chunk.len());
        body.extend_from_slice(&chunk);
    }
    assert!(
        !is_head || body.is_empty(),
        "a HEAD response carried a body"
    );
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    RawResponse {
        status: parts.status.as_u16(),
        headers,
        body,
    }
}

/// Reads the first whole HTTP/1.1 request out of `bytes`: the h2 request
/// head, its body, and how many bytes it took.
fn parse_request(bytes: &[u8]) -> (http::Request<()>, Vec<u8>, usize) {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut fields);
    let head_len = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => panic!(
            "the h2 client needs a whole request head; had {:?}",
            String::from_utf8_lossy(bytes)
        ),
        Err(e) => panic!(
            "the h2 client can only translate a valid request ({e}); a test of \
             malformed HTTP/1.1 belongs in an HTTP/1.1-only suite"
        ),
    };
    let method = parsed.method.unwrap();
    let target = parsed.path.unwrap();
    let mut authority = "localhost".to_owned();
    let mut length = None;
    let mut chunked = false;
    let mut builder = http::Request::builder()
        .method(method)
        .version(http::Version::HTTP_2);
    for field in parsed.headers.iter() {
        let name = field.name.to_ascii_lowercase();
        let value = std::str::from_utf8(field.value).unwrap_or_default();
        let keep = match name.as_str() {
            "host" => {
                authority = value.to_owned();
                false
            }
            "content-length" => {
                length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .expect("numeric content-length"),
                );
                true
            }
            "transfer-encoding" => {
                chunked = value.to_ascii_lowercase().contains("chunked");
                false
            }
            "te" => value.eq_ignore_ascii_case("trailers"),
            other => !CONNECTION_SPECIFIC.contains(&other),
        };
        if keep {
            builder = builder.header(name, field.value);
        }
    }
    let uri = if target.starts_with('/') {
        format!("http://{authority}{target}")
    } else {
        target.to_owned()
    };
    let request = builder.uri(uri).body(()).expect("an h2 request head");
    let mut at = head_len;
    let body = if chunked {
        let (body, used) = decode_chunked(&bytes[at..]);
        at += used;
        body
    } else if let Some(len) = length {
        assert!(
            bytes.len() >= at + len,
            "the h2 client needs the whole body before it sends"
        );
        at += len;
        bytes[at - len..at].to_vec()
    } else {
        Vec::new()
    };
    (request, body, at)
}

/// Decodes a whole chunked body (trailers dropped): the data and the
/// bytes it took.
fn decode_chunked(bytes: &[u8]) -> (Vec<u8>, usize) {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = find_crlf(&bytes[at..]).expect("a whole chunk-size line") + at;
        let line = std::str::from_utf8(&bytes[at..line_end]).unwrap();
        let size = usize::from_str_radix(line.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        at = line_end + 2;
        if size == 0 {
            // Trailer fields, up to the empty line.
            loop {
                let end = find_crlf(&bytes[at..]).expect("a whole trailer section") + at;
                let empty = end == at;
                at = end + 2;
                if empty {
                    return (body, at);
                }
            }
        }
        body.extend_from_slice(&bytes[at..at + size]);
        at += size + 2;
    }
}

fn find_crlf(hay: &[u8]) -> Option<usize> {
    hay.windows(2).position(|w| w == b"\r\n")
}
