//! What a [`WebSocket`](super::WebSocket) sends and receives.
//!
//! These are tramline's own types rather than tungstenite's, so the public
//! API does not change when the WebSocket implementation underneath does;
//! each converts to and from tungstenite's without copying the payload.

use std::fmt;
use std::ops::Deref;

use async_tungstenite::tungstenite;
use bytes::Bytes;

/// Close codes (RFC 6455 §7.4.1) as the `u16` a [`CloseFrame`] carries.
pub mod close_code {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: u16 = 1000;
    /// 1001: the endpoint is going away (server shutdown, page left).
    pub const AWAY: u16 = 1001;
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL: u16 = 1002;
    /// 1003: a kind of data the endpoint cannot accept (e.g. binary only).
    pub const UNSUPPORTED: u16 = 1003;
    /// 1007: data inconsistent with its message type (invalid UTF-8 text).
    pub const INVALID: u16 = 1007;
    /// 1008: a message that violates the endpoint's policy.
    pub const POLICY: u16 = 1008;
    /// 1009: a message too big to process.
    pub const SIZE: u16 = 1009;
    /// 1011: the server met an unexpected condition.
    pub const ERROR: u16 = 1011;
    /// 1012: the server is restarting.
    pub const RESTART: u16 = 1012;
    /// 1013: try again later.
    pub const AGAIN: u16 = 1013;
}

/// A UTF-8 string that shares its buffer: the payload of a text message.
///
/// Cloning it and converting it to [`Bytes`] do not copy.
///
/// ```
/// use tramline::ws::Utf8Bytes;
///
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text.as_str(), "héllo");
/// assert_eq!(text, "héllo");
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(tungstenite::Utf8Bytes);

impl Utf8Bytes {
    /// Creates a `Utf8Bytes` from a static string, without copying it.
    pub const fn from_static(text: &'static str) -> Self {
        Self(tungstenite::Utf8Bytes::from_static(text))
    }

    /// Returns the text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(text.into())
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(text.into())
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Checks that `bytes` are UTF-8, without copying them.
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        tungstenite::Utf8Bytes::try_from(bytes).map(Self)
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0.into()
    }
}

impl From<Utf8Bytes> for String {
    fn from(text: Utf8Bytes) -> Self {
        text.as_str().to_owned()
    }
}

/// The code and reason of a close frame (RFC 6455 §5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the connection closes: one of [`close_code`], or an
    /// application's own code in 3000..=4999.
    pub code: u16,
    /// A short text for people (at most 123 bytes on the wire).
    pub reason: Utf8Bytes,
}

/// A WebSocket message.
///
/// Pings are answered with pongs, and a peer's close frame is answered with
/// one of the socket's own, by the socket itself: the application sees
/// them only to know they happened.
///
/// ```
/// use tramline::ws::Message;
///
/// let text = Message::text("hello");
/// assert_eq!(text.as_text(), Some("hello"));
/// let binary = Message::binary(vec![1, 2, 3]);
/// assert_eq!(binary.as_text(), None);
/// assert_eq!(binary.into_data(), &[1, 2, 3][..]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8, checked on receipt).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping (at most 125 bytes); the socket answers it with a pong.
    Ping(Bytes),
    /// A pong (at most 125 bytes).
    Pong(Bytes),
    /// A close frame: the peer's, when received (the socket replies), or
    /// one to send, which starts the close handshake.
    Close(Option<CloseFrame>),
}

impl Message {
    /// Creates a text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// Creates a binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// Returns the text of a text message, and `None` for any other.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text.as_str()),
            _ => None,
        }
    }

    /// Returns the payload, whatever the kind (a close frame's is its
    /// reason).
    pub fn into_data(self) -> Bytes {
        match self {
            Self::Text(text) => text.into(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data,
            Self::Close(frame) => frame.map(|f| f.reason.into()).unwrap_or_default(),
        }
    }
}

impl From<Message> for tungstenite::Message {
    fn from(message: Message) -> Self {
        match message {
            Message::Text(text) => Self::Text(text.0),
            Message::Binary(data) => Self::Binary(data),
            Message::Ping(data) => Self::Ping(data),
            Message::Pong(data) => Self::Pong(data),
            Message::Close(frame) => Self::Close(frame.map(Into::into)),
        }
    }
}

impl From<CloseFrame> for tungstenite::protocol::CloseFrame {
    fn from(frame: CloseFrame) -> Self {
        Self {
            code: frame.code.into(),
            reason: frame.reason.0,
        }
    }
}

impl From<tungstenite::protocol::CloseFrame> for CloseFrame {
    fn from(frame: tungstenite::protocol::CloseFrame) -> Self {
        Self {
            code: frame.code.into(),
            reason: Utf8Bytes(frame.reason),
        }
    }
}

/// Converts a received message; `None` for a raw frame, which tungstenite
/// only hands out when it is the one sending it.
pub(crate) fn from_tungstenite(message: tungstenite::Message) -> Option<Message> {
    Some(match message {
        tungstenite::Message::Text(text) => Message::Text(Utf8Bytes(text)),
        tungstenite::Message::Binary(data) => Message::Binary(data),
        tungstenite::Message::Ping(data) => Message::Ping(data),
        tungstenite::Message::Pong(data) => Message::Pong(data),
        tungstenite::Message::Close(frame) => Message::Close(frame.map(Into::into)),
        tungstenite::Message::Frame(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_convert_both_ways_without_losing_anything() {
        let messages = [
            Message::text("héllo"),
            Message::binary(vec![0, 255]),
            Message::Ping(Bytes::from_static(b"p")),
            Message::Pong(Bytes::new()),
            Message::Close(None),
            Message::Close(Some(CloseFrame {
                code: 4000,
                reason: "bye".into(),
            })),
        ];
        for message in messages {
            let back = from_tungstenite(message.clone().into());
            assert_eq!(back.as_ref(), Some(&message));
        }
    }

    #[test]
    fn text_shares_its_buffer_with_bytes() {
        let text = Utf8Bytes::from("abc".to_owned());
        let pointer = text.as_str().as_ptr();
        let bytes = Bytes::from(text);
        assert_eq!(bytes.as_ptr(), pointer);
    }
}
