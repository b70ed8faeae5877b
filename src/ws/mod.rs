//! WebSocket (RFC 6455) on any runtime: the [`WebSocketUpgrade`] extractor
//! checks the handshake, and [`on_upgrade`](WebSocketUpgrade::on_upgrade)
//! hands the connection over as a [`WebSocket`].
//!
//! ```
//! use tramline::Router;
//! use tramline::routing::get;
//! use tramline::ws::{Message, WebSocketUpgrade};
//!
//! let app: Router = Router::new().route(
//!     "/echo",
//!     get(|ws: WebSocketUpgrade| async move {
//!         ws.on_upgrade(|mut socket| async move {
//!             while let Some(Ok(message)) = socket.recv().await {
//!                 if let Message::Text(_) | Message::Binary(_) = message {
//!                     if socket.send(message).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             }
//!         })
//!     }),
//! );
//! ```
//!
//! The frames are read and written by async-tungstenite over the
//! connection's futures-io stream, so no runtime is involved: the socket
//! runs in the connection's task, on whatever runtime serves it. The types
//! in this module are tramline's own rather than tungstenite's, so that an
//! upgrade of tungstenite (or a change of implementation) does not change
//! the API.
//!
//! # Limits
//!
//! A message may be at most 16 MiB, and so may a single frame; a client
//! that sends more gets close code `1009`. Both are set per route with
//! [`WebSocketUpgrade::max_message_size`] and
//! [`WebSocketUpgrade::max_frame_size`]. The connection's HTTP timeouts do
//! not apply once it has switched protocols: a handler that wants an idle
//! timeout races [`WebSocket::recv`] against its runtime's timer.

#![cfg_attr(docsrs, doc(cfg(feature = "ws")))]

mod message;
mod socket;

use std::fmt;

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Method, StatusCode};

use crate::upgrade::{UpgradeRejection, UpgradeRequest};
use crate::vocab::FromRequestParts;
use crate::vocab::response::{IntoResponse, Response, plain_text};

pub use message::{CloseFrame, Message, Utf8Bytes, close_code};
pub use socket::{WebSocket, WsError};

const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");
const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");
const SEC_WEBSOCKET_PROTOCOL: HeaderName = HeaderName::from_static("sec-websocket-protocol");

/// The default limit on a message's size, and on a frame's: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 << 20;

/// Extracts a WebSocket handshake (RFC 6455 §4.2.1); answer it with
/// [`on_upgrade`](Self::on_upgrade).
///
/// The extractor checks that the request is a `GET` over HTTP/1.1 that
/// offers `Upgrade: websocket` with `Connection: upgrade`, speaks version
/// `13`, and carries a well-formed `Sec-WebSocket-Key`; anything else is
/// refused with a [`WebSocketRejection`].
///
/// # Examples
///
/// Limits and a subprotocol:
///
/// ```
/// use tramline::Router;
/// use tramline::routing::get;
/// use tramline::ws::{Message, WebSocketUpgrade};
///
/// let app: Router = Router::new().route(
///     "/chat",
///     get(|ws: WebSocketUpgrade| async move {
///         ws.protocols(["chat.v2", "chat"])
///             .max_message_size(64 * 1024)
///             .on_upgrade(|mut socket| async move {
///                 let greeting = match socket.protocol() {
///                     Some(p) if p == "chat.v2" => "hello (v2)",
///                     _ => "hello",
///                 };
///                 let _ = socket.send(Message::text(greeting)).await;
///             })
///     }),
/// );
/// ```
pub struct WebSocketUpgrade {
    upgrade: UpgradeRequest,
    key: HeaderValue,
    /// The subprotocols the client offers, as sent (comma-separated, in
    /// one or more headers).
    offered: Vec<HeaderValue>,
    protocol: Option<HeaderValue>,
    config: WebSocketConfig,
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("protocol", &self.protocol)
            .field("max_message_size", &self.config.max_message_size)
            .field("max_frame_size", &self.config.max_frame_size)
            .finish_non_exhaustive()
    }
}

impl WebSocketUpgrade {
    /// Sets the subprotocols the server speaks, most preferred first: the
    /// first of them that the client offers in `Sec-WebSocket-Protocol` is
    /// chosen and sent back (RFC 6455 §4.2.2), and is what
    /// [`WebSocket::protocol`] returns. If the client offers none of them,
    /// the handshake goes ahead without a subprotocol; the handler can
    /// check [`WebSocket::protocol`] and close if it needs one.
    ///
    /// A name that is not a valid header value is skipped.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let offered: Vec<&str> = self
            .offered
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        self.protocol = protocols
            .into_iter()
            .find(|p| offered.contains(&p.as_ref()))
            .and_then(|p| HeaderValue::from_str(p.as_ref()).ok());
        self
    }

    /// Sets the largest message the client may send, in bytes, after
    /// reassembling its fragments (default 16 MiB). Past it the socket
    /// closes with `1009`.
    pub fn max_message_size(mut self, max: usize) -> Self {
        self.config.max_message_size = Some(max);
        self
    }

    /// Sets the largest single frame the client may send, in bytes of
    /// payload (default 16 MiB). Past it the socket closes with `1009`.
    pub fn max_frame_size(mut self, max: usize) -> Self {
        self.config.max_frame_size = Some(max);
        self
    }

    /// Sets how many bytes of outgoing frames are gathered before they are
    /// written to the connection (default 128 KiB; `0` writes each frame at
    /// once). [`WebSocket::send`] flushes whatever is gathered, so this
    /// matters to [`Sink`](futures_sink::Sink) users who feed several
    /// messages before flushing.
    pub fn write_buffer_size(mut self, size: usize) -> Self {
        // tungstenite requires the write buffer's hard cap (unbounded
        // here) to be larger than this.
        self.config.write_buffer_size = size.min(usize::MAX - 1);
        self
    }

    /// Sets the size of the buffer the socket reads into (default 16 KiB).
    /// It is allocated for each connection up front: a larger one reads
    /// big messages in fewer calls, a smaller one keeps many idle sockets
    /// cheap.
    pub fn read_buffer_size(mut self, size: usize) -> Self {
        self.config.read_buffer_size = size.max(1);
        self
    }

    /// Accepts the handshake: returns the `101 Switching Protocols`
    /// response, after which the engine runs `callback` with the
    /// connection as a [`WebSocket`]. The connection closes when
    /// `callback` returns.
    pub fn on_upgrade<F, Fut>(self, callback: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self {
            upgrade,
            key,
            protocol,
            config,
            ..
        } = self;
        let chosen = protocol.clone();
        let mut response = upgrade.accept(
            HeaderValue::from_static("websocket"),
            move |io| async move {
                let stream = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                callback(WebSocket::new(stream, chosen)).await;
            },
        );
        let accept = derive_accept_key(key.as_bytes());
        let headers = response.headers_mut();
        // The accept key is base64: always a valid header value.
        if let Ok(accept) = HeaderValue::try_from(accept) {
            headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = protocol {
            headers.insert(SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = WebSocketRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.method != Method::GET {
            return Err(WebSocketRejection::MethodNotGet);
        }
        let upgrade = UpgradeRequest::from_request_parts(parts, state)
            .await
            .map_err(WebSocketRejection::Upgrade)?;
        if !upgrade.offers("websocket") {
            return Err(WebSocketRejection::NotWebSocket);
        }
        // RFC 6455 §4.4: a version the server does not speak gets 426 and
        // the versions it does.
        let version = parts.headers.get(SEC_WEBSOCKET_VERSION);
        if version.is_none_or(|v| v.as_bytes().trim_ascii() != b"13") {
            return Err(WebSocketRejection::UnsupportedVersion);
        }
        let key = parts
            .headers
            .get(SEC_WEBSOCKET_KEY)
            .ok_or(WebSocketRejection::MissingKey)?;
        if !is_valid_key(key.as_bytes()) {
            return Err(WebSocketRejection::InvalidKey);
        }
        Ok(Self {
            upgrade,
            key: key.clone(),
            offered: parts
                .headers
                .get_all(SEC_WEBSOCKET_PROTOCOL)
                .iter()
                .cloned()
                .collect(),
            protocol: None,
            config: WebSocketConfig::default()
                .read_buffer_size(16 * 1024)
                .max_message_size(Some(DEFAULT_MAX_MESSAGE_SIZE))
                .max_frame_size(Some(DEFAULT_MAX_MESSAGE_SIZE)),
        })
    }
}

/// Whether `key` is the base64 of 16 bytes (RFC 6455 §4.2.1, item 5): 22
/// characters of the alphabet, the last with no bits past the 128th, and
/// `==`.
fn is_valid_key(key: &[u8]) -> bool {
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    match key {
        [data @ .., last, b'=', b'='] if data.len() == 21 => {
            data.iter().all(|&c| is_b64(c)) && matches!(last, b'A' | b'Q' | b'g' | b'w')
        }
        _ => false,
    }
}

/// Why a request is not a WebSocket handshake the server can accept.
///
/// Each answers with a short plain-text reason: `426 Upgrade Required` for
/// a request that offers no upgrade (with `Upgrade: websocket`) or an
/// unsupported version (with `Sec-WebSocket-Version: 13`, RFC 6455 §4.4),
/// `400 Bad Request` for the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebSocketRejection {
    /// The request cannot switch protocols at all (see
    /// [`UpgradeRejection`]).
    Upgrade(UpgradeRejection),
    /// The handshake is not a `GET`.
    MethodNotGet,
    /// `Upgrade` offers other protocols, not `websocket`.
    NotWebSocket,
    /// `Sec-WebSocket-Version` is missing or not `13`.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` is missing.
    MissingKey,
    /// `Sec-WebSocket-Key` is not the base64 of 16 bytes.
    InvalidKey,
}

impl WebSocketRejection {
    /// Returns the status code of the response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Upgrade(UpgradeRejection::NotOffered) | Self::UnsupportedVersion => {
                StatusCode::UPGRADE_REQUIRED
            }
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// Returns the text sent as the response body.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for WebSocketRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Upgrade(UpgradeRejection::NotOffered) => {
                f.write_str("this resource needs a WebSocket upgrade")
            }
            Self::Upgrade(inner) => fmt::Display::fmt(inner, f),
            Self::MethodNotGet => f.write_str("a WebSocket handshake must be a GET request"),
            Self::NotWebSocket => f.write_str("`Upgrade` does not offer `websocket`"),
            Self::UnsupportedVersion => {
                f.write_str("unsupported `Sec-WebSocket-Version`; this server speaks 13")
            }
            Self::MissingKey => f.write_str("missing `Sec-WebSocket-Key`"),
            Self::InvalidKey => f.write_str("`Sec-WebSocket-Key` is not the base64 of 16 bytes"),
        }
    }
}

impl std::error::Error for WebSocketRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Upgrade(inner) => Some(inner),
            _ => None,
        }
    }
}

impl IntoResponse for WebSocketRejection {
    fn into_response(self) -> Response {
        let mut response = plain_text(self.status(), self.body_text());
        let headers = response.headers_mut();
        match self {
            // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
            Self::Upgrade(UpgradeRejection::NotOffered) => {
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            }
            Self::UnsupportedVersion => {
                headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
                headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extract(headers: &[(&str, &str)]) -> Result<WebSocketUpgrade, WebSocketRejection> {
        let mut req = http::Request::builder().uri("/ws");
        for (name, value) in [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]
        .iter()
        .chain(headers)
        {
            req = req.header(*name, *value);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        parts.extensions.insert(crate::proto::upgrade::CanUpgrade);
        futures_lite::future::block_on(WebSocketUpgrade::from_request_parts(&mut parts, &()))
    }

    #[test]
    fn the_servers_first_protocol_the_client_offers_is_chosen() {
        let offered = [
            ("sec-websocket-protocol", "b, c"),
            ("sec-websocket-protocol", "a"),
        ];
        let ws = extract(&offered).unwrap().protocols(["x", "a", "b"]);
        let response = ws.on_upgrade(|_socket| async {});
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()[SEC_WEBSOCKET_PROTOCOL], "a");
        assert_eq!(
            response.headers()[SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(response.headers()[header::UPGRADE], "websocket");
        let ws = extract(&offered).unwrap().protocols(["z"]);
        let response = ws.on_upgrade(|_socket| async {});
        assert!(response.headers().get(SEC_WEBSOCKET_PROTOCOL).is_none());
    }

    #[test]
    fn a_key_must_be_the_base64_of_16_bytes() {
        // RFC 6455 §1.3's sample key.
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_valid_key(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ",
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZR==",
            b"dGhlIHNhbXBsZSBub25j*Q==",
            b"dGhlIHNhbXBsZSBub25jZQ==\0",
            b"c2hvcnQ=",
            b"dGhlIHNhbXBsZSBub25jZXhYWFg=",
        ] {
            assert!(!is_valid_key(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_accept_key_is_rfc_6455s() {
        // RFC 6455 §1.3.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn rejections_name_the_problem_and_what_the_server_speaks() {
        let response = WebSocketRejection::UnsupportedVersion.into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[SEC_WEBSOCKET_VERSION], "13");
        let response = WebSocketRejection::Upgrade(UpgradeRejection::NotOffered).into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()[header::UPGRADE], "websocket");
        let response = WebSocketRejection::InvalidKey.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
}
