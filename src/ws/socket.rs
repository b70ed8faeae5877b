//! [`WebSocket`]: an upgraded connection speaking RFC 6455, on
//! async-tungstenite's futures-io support.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::{self, error::ProtocolError};
use futures_core::Stream;
use futures_lite::{AsyncRead, AsyncWrite};
use futures_sink::Sink;
use http::HeaderValue;

use super::message::{self, CloseFrame, Message, Utf8Bytes, close_code};
use crate::upgrade::Upgraded;

/// A WebSocket connection, server side: a [`Stream`] of the messages the
/// client sends and a [`Sink`] of those to send it.
///
/// Besides the two traits, [`recv`](Self::recv), [`send`](Self::send) and
/// [`close`](Self::close) cover most handlers without an extension crate:
///
/// ```
/// use tramline::ws::{Message, WebSocket};
///
/// // Echoes text and binary messages until the client closes.
/// async fn echo(mut socket: WebSocket) {
///     while let Some(Ok(message)) = socket.recv().await {
///         if matches!(message, Message::Text(_) | Message::Binary(_))
///             && socket.send(message).await.is_err()
///         {
///             break;
///         }
///     }
/// }
/// ```
///
/// The protocol's own chores happen underneath: a ping is answered with a
/// pong, a client's close frame with the socket's own (after which the
/// stream ends), and fragmented messages arrive whole. A client that breaks
/// the protocol gets a close frame that says how — `1007` for invalid UTF-8
/// in a text message, `1009` for a message or frame over the limits of
/// [`WebSocketUpgrade`](super::WebSocketUpgrade), `1002` for anything else
/// — and the stream then yields the error and ends.
pub struct WebSocket {
    inner: WebSocketStream<Upgraded>,
    protocol: Option<HeaderValue>,
    /// A protocol error from the client, held back until the close frame
    /// that answers it has been flushed.
    failing: Option<Failing>,
}

struct Failing {
    error: tungstenite::Error,
    stage: Stage,
}

/// How far failing the connection has got (RFC 6455 §7.1.7).
enum Stage {
    /// The close frame is still to be queued.
    Queue,
    /// The close frame is queued; it is being written.
    Flush,
    /// Sending end of stream after it.
    Shutdown,
    /// Reading and dropping what the client still sends, at most this
    /// many more bytes, until it closes too: closing a socket with unread
    /// bytes resets the connection, and a reset can destroy the close
    /// frame in the client's buffers before the client reads it.
    Drain(usize),
}

/// How much a failed connection reads from the client while waiting for it
/// to close.
const DRAIN_LIMIT: usize = 1 << 20;

impl WebSocket {
    pub(crate) fn new(inner: WebSocketStream<Upgraded>, protocol: Option<HeaderValue>) -> Self {
        Self {
            inner,
            protocol,
            failing: None,
        }
    }

    /// Completes when the server begins a graceful shutdown (at once if it
    /// has begun): the moment to close with code 1001, "going away".
    ///
    /// The server waits for an open WebSocket up to its
    /// [`shutdown_grace`](crate::Server::shutdown_grace), then cancels it;
    /// a socket that closes first tells its client why. Race it against
    /// [`recv`](Self::recv):
    ///
    /// ```
    /// use futures_lite::future;
    /// use tramline::ws::{Message, WebSocket, close_code};
    ///
    /// async fn echo_until_shutdown(mut socket: WebSocket) {
    ///     let mut shutdown = Box::pin(socket.on_shutdown());
    ///     loop {
    ///         let next = future::or(async { Some(socket.recv().await) }, async {
    ///             (&mut shutdown).await;
    ///             None
    ///         });
    ///         match next.await {
    ///             Some(Some(Ok(message @ (Message::Text(_) | Message::Binary(_))))) => {
    ///                 if socket.send(message).await.is_err() {
    ///                     return;
    ///                 }
    ///             }
    ///             Some(Some(Ok(_))) => {}
    ///             Some(None | Some(Err(_))) => return,
    ///             None => {
    ///                 let _ = socket.close(close_code::AWAY, "server shutting down").await;
    ///                 return;
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    pub fn on_shutdown(&self) -> impl Future<Output = ()> + Send + 'static {
        self.inner.get_ref().on_shutdown()
    }

    /// Returns the subprotocol agreed in the handshake, if any (see
    /// [`WebSocketUpgrade::protocols`](super::WebSocketUpgrade::protocols)).
    pub fn protocol(&self) -> Option<&HeaderValue> {
        self.protocol.as_ref()
    }

    /// Receives the next message; `None` once the connection has closed.
    ///
    /// # Errors
    ///
    /// Yields an error when the connection fails: an I/O error, or a
    /// client that broke the protocol (after the close frame that tells it
    /// so has been sent). The stream ends after an error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message is only taken from the connection when it is
    /// returned.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// Sends a message and flushes it to the connection.
    ///
    /// # Errors
    ///
    /// Returns an error if the connection fails, or has closed (sending
    /// after a close frame is a protocol error).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: once started, the message may be partly written.
    pub async fn send(&mut self, message: Message) -> Result<(), WsError> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_ready(cx)).await?;
        Pin::new(&mut *self).start_send(message)?;
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_flush(cx)).await
    }

    /// Closes the connection: sends a close frame with `code` and `reason`
    /// (cut to the 123 bytes a close frame can carry), then reads on,
    /// dropping any messages still arriving, until the client answers with
    /// its own close frame.
    ///
    /// If the client has closed first, its close has been answered
    /// already, and this returns at once. A client that never answers keeps
    /// this waiting: put a deadline on it with the runtime's timer where
    /// that matters.
    ///
    /// # Errors
    ///
    /// Returns an error if the connection fails before the handshake is
    /// done.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the close frame may be partly written.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), WsError> {
        let reason = Utf8Bytes::from(truncate(reason, 123));
        match self
            .send(Message::Close(Some(CloseFrame { code, reason })))
            .await
        {
            // The client closed first, and the socket has answered it.
            Err(e) if e.is_closed() => return Ok(()),
            sent => sent?,
        }
        while let Some(message) = self.recv().await {
            message?;
        }
        Ok(())
    }
}

impl WebSocket {
    /// Fails the connection for `failing.error`: sends the close frame
    /// that names it, ends the stream, and waits for the client to close.
    /// Ready when that is done (or the connection has broken).
    fn poll_fail(&mut self, cx: &mut Context<'_>, failing: &mut Failing) -> Poll<()> {
        loop {
            match failing.stage {
                Stage::Queue => {
                    let ready = ready!(Pin::new(&mut self.inner).poll_ready(cx));
                    failing.stage = Stage::Flush;
                    let (code, reason) =
                        failure_code(&failing.error).unwrap_or((close_code::PROTOCOL, ""));
                    let frame = tungstenite::protocol::CloseFrame {
                        code: code.into(),
                        reason: reason.into(),
                    };
                    let queued = ready.is_ok()
                        && Pin::new(&mut self.inner)
                            .start_send(tungstenite::Message::Close(Some(frame)))
                            .is_ok();
                    if !queued {
                        // The client is gone already; nothing to tell it.
                        return Poll::Ready(());
                    }
                }
                Stage::Flush => {
                    if ready!(Pin::new(&mut self.inner).poll_flush(cx)).is_err() {
                        return Poll::Ready(());
                    }
                    failing.stage = Stage::Shutdown;
                }
                Stage::Shutdown => {
                    // The server closes the TCP connection first (RFC 6455
                    // §7.1.1); a client answers the close frame and then
                    // end of stream with its own.
                    if ready!(Pin::new(self.inner.get_mut()).poll_close(cx)).is_err() {
                        return Poll::Ready(());
                    }
                    failing.stage = Stage::Drain(DRAIN_LIMIT);
                }
                Stage::Drain(left) => {
                    let mut buf = [0u8; 4096];
                    match ready!(Pin::new(self.inner.get_mut()).poll_read(cx, &mut buf)) {
                        Ok(n @ 1..) if n < left => failing.stage = Stage::Drain(left - n),
                        _ => return Poll::Ready(()),
                    }
                }
            }
        }
    }
}

/// The close code and reason that answer a client's error (RFC 6455
/// §7.1.7: fail the connection), or `None` when there is no one left to
/// tell (I/O errors, a connection already closed).
fn failure_code(error: &tungstenite::Error) -> Option<(u16, &'static str)> {
    use tungstenite::Error;
    match error {
        // RFC 6455 §8.1: invalid UTF-8 in a text message.
        Error::Utf8(_) => Some((close_code::INVALID, "invalid UTF-8 in a text message")),
        Error::Capacity(_) => Some((close_code::SIZE, "message too big")),
        // The client hung up without a close frame: nothing to answer.
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        Error::Protocol(_) | Error::AttackAttempt => Some((close_code::PROTOCOL, "protocol error")),
        _ => None,
    }
}

/// The longest prefix of `text` that fits in `max` bytes, cut at a
/// character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Stream for WebSocket {
    type Item = Result<Message, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(mut failing) = this.failing.take() {
                if this.poll_fail(cx, &mut failing).is_pending() {
                    this.failing = Some(failing);
                    return Poll::Pending;
                }
                return Poll::Ready(Some(Err(WsError::new(failing.error))));
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Ok(message)) => {
                    if let Some(message) = message::from_tungstenite(message) {
                        return Poll::Ready(Some(Ok(message)));
                    }
                }
                Some(Err(error)) => {
                    if failure_code(&error).is_none() {
                        // Not the client's fault: nothing to tell it.
                        return Poll::Ready(Some(Err(WsError::new(error))));
                    }
                    this.failing = Some(Failing {
                        error,
                        stage: Stage::Queue,
                    });
                }
            }
        }
    }
}

impl Sink<Message> for WebSocket {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner)
            .poll_ready(cx)
            .map_err(WsError::new)
    }

    fn start_send(mut self: Pin<&mut Self>, message: Message) -> Result<(), WsError> {
        Pin::new(&mut self.inner)
            .start_send(message.into())
            .map_err(WsError::new)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner)
            .poll_flush(cx)
            .map_err(WsError::new)
    }

    /// Sends a close frame without a code, and flushes it; reading on
    /// until the client answers is up to the stream side.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.inner)
            .poll_close(cx)
            .map_err(WsError::new)
    }
}

/// Why a [`WebSocket`] failed: the connection's I/O, a client that broke
/// the protocol, or use after the connection closed.
pub struct WsError {
    inner: Box<tungstenite::Error>,
}

impl WsError {
    fn new(inner: tungstenite::Error) -> Self {
        Self {
            inner: Box::new(inner),
        }
    }

    /// Returns the close code the socket sent the client for breaking the
    /// protocol (`1002`, `1007` or `1009`), or `None` if the client did
    /// not.
    pub fn close_code(&self) -> Option<u16> {
        failure_code(&self.inner).map(|(code, _)| code)
    }

    /// Returns whether the connection's I/O failed.
    pub fn is_io(&self) -> bool {
        matches!(*self.inner, tungstenite::Error::Io(_))
    }

    /// Returns whether the connection had already closed (a send after the
    /// close handshake, for example).
    pub fn is_closed(&self) -> bool {
        matches!(
            *self.inner,
            tungstenite::Error::AlreadyClosed
                | tungstenite::Error::ConnectionClosed
                | tungstenite::Error::Protocol(
                    ProtocolError::SendAfterClosing | ProtocolError::ResetWithoutClosingHandshake
                )
        )
    }
}

impl fmt::Debug for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((_, reason)) = failure_code(&self.inner) {
            return f.write_str(reason);
        }
        f.write_str(match *self.inner {
            tungstenite::Error::Io(_) => "websocket connection error",
            _ if self.is_closed() => "websocket connection closed",
            tungstenite::Error::Capacity(_) => "message too big",
            _ => "websocket error",
        })
    }
}

impl std::error::Error for WsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_a_send_stream_and_sink_and_its_error_is_small() {
        fn stream_and_sink<T: Stream<Item = Result<Message, WsError>> + Sink<Message> + Send>() {}
        fn error<E: std::error::Error + Send + Sync + 'static>() {}
        stream_and_sink::<WebSocket>();
        error::<WsError>();
        assert_eq!(size_of::<WsError>(), size_of::<usize>());
    }

    #[test]
    fn a_close_reason_is_cut_at_a_character_boundary() {
        assert_eq!(truncate("short", 123), "short");
        let long = "é".repeat(100);
        let cut = truncate(&long, 123);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn errors_say_which_close_code_answered_them() {
        let utf8 = WsError::new(tungstenite::Error::Utf8("bad".into()));
        assert_eq!(
            (utf8.close_code(), utf8.to_string().as_str()),
            (Some(1007), "invalid UTF-8 in a text message")
        );
        let size = WsError::new(tungstenite::Error::Capacity(
            tungstenite::error::CapacityError::MessageTooLong {
                size: 2,
                max_size: 1,
            },
        ));
        assert_eq!(size.close_code(), Some(1009));
        let protocol = WsError::new(ProtocolError::UnmaskedFrameFromClient.into());
        assert_eq!(protocol.close_code(), Some(1002));
        let reset = WsError::new(ProtocolError::ResetWithoutClosingHandshake.into());
        assert_eq!(reset.close_code(), None);
        assert!(reset.is_closed());
        let io = WsError::new(std::io::Error::other("x").into());
        assert!(io.is_io() && io.close_code().is_none());
    }
}
