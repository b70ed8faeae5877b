//! Request and response bodies.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_lite::{Stream, StreamExt};

use crate::vocab::error::{BodyError, BoxError, LengthLimitError};
use crate::vocab::incoming::Incoming;

type BoxStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send + 'static>>;

/// The body of a request or a response.
///
/// A body is either empty, one contiguous buffer whose length is known up
/// front (sent with `Content-Length`), or a stream of chunks whose length is
/// not (sent with `Transfer-Encoding: chunked` on HTTP/1.1).
///
/// # Examples
///
/// ```
/// use tramline::Body;
///
/// let body = Body::from("hello");
/// assert_eq!(body.len(), Some(5));
/// let bytes = futures_lite::future::block_on(body.collect()).unwrap();
/// assert_eq!(&bytes[..], b"hello");
/// ```
pub struct Body {
    inner: Inner,
    /// Most bytes this body may yield; request bodies get the server's
    /// `max_body_size`, [`Body::with_limit`] changes it.
    limit: u64,
    /// Bytes yielded so far.
    seen: u64,
    /// The limit was hit: the body yields nothing more.
    failed: bool,
}

pub(crate) enum Inner {
    Full(Bytes),
    /// A whole body made from a `Vec` or `String`, kept as it is: turning
    /// one with spare capacity (`format!`, serde_json) into `Bytes`
    /// allocates a shared header, and the engine only copies the bytes
    /// into its write buffer anyway.
    Vec(Vec<u8>),
    Stream(BoxStream),
    /// A request body the connection reads as the handler asks for it.
    Incoming(Incoming),
}

impl Body {
    /// Creates an empty body.
    pub const fn empty() -> Self {
        Self::new(Inner::Full(Bytes::new()))
    }

    const fn new(inner: Inner) -> Self {
        Self {
            inner,
            limit: u64::MAX,
            seen: 0,
            failed: false,
        }
    }

    pub(crate) fn incoming(incoming: Incoming, limit: u64) -> Self {
        let mut body = Self::new(Inner::Incoming(incoming));
        body.limit = limit;
        body
    }

    /// Creates a body that streams the chunks of `stream`.
    ///
    /// The response is sent with `Transfer-Encoding: chunked` on HTTP/1.1
    /// and is delimited by closing the connection on HTTP/1.0. An error from
    /// the stream aborts the response and closes the connection, so the
    /// client never mistakes a truncated body for a whole one.
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError>,
    {
        Self::new(Inner::Stream(Box::pin(
            stream.map(|r| r.map_err(Into::into)),
        )))
    }

    /// Returns the body's length in bytes when it is known without reading
    /// it: `Some` for buffered bodies and for request bodies sent with
    /// `Content-Length`, `None` for streams and chunked request bodies.
    pub fn len(&self) -> Option<u64> {
        match &self.inner {
            Inner::Full(b) => Some(b.len() as u64),
            Inner::Vec(v) => Some(v.len() as u64),
            Inner::Stream(_) => None,
            Inner::Incoming(i) => i.len(),
        }
    }

    /// Returns `true` if the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// Reads the whole body into one buffer.
    ///
    /// # Errors
    ///
    /// Returns an error if the body's stream yields one.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: chunks already read are lost if the future is
    /// dropped.
    pub async fn collect(mut self) -> Result<Bytes, BodyError> {
        match &mut self.inner {
            Inner::Full(b) if b.len() as u64 <= self.limit => return Ok(std::mem::take(b)),
            Inner::Vec(v) if v.len() as u64 <= self.limit => {
                return Ok(Bytes::from(std::mem::take(v)));
            }
            _ => {}
        }
        let mut buf = BytesMut::new();
        if let Some(n) = self.len() {
            // Bounded by the limit: a declared length over it fails on the
            // first poll below, before anything is read.
            buf.reserve(n.min(self.limit).min(1 << 20) as usize);
        }
        while let Some(chunk) = self.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }

    /// Limits the body to `max` bytes.
    ///
    /// A body whose length is known to be over `max` fails on its first
    /// read, before anything is read from the client (and before a
    /// `100 Continue` is sent); any other body fails once it passes `max`.
    /// Either way the error's [`BodyError::is_too_large`] is `true`, which the
    /// body extractors answer with 413.
    ///
    /// Request bodies start limited to the server's `max_body_size`; this
    /// replaces that limit, so a route may raise it as well as lower it.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::Body;
    ///
    /// let body = Body::from("hello").with_limit(3);
    /// let err = futures_lite::future::block_on(body.collect()).unwrap_err();
    /// assert!(err.is_too_large());
    /// ```
    pub fn with_limit(mut self, max: u64) -> Self {
        self.limit = max;
        self
    }

    /// Returns the most bytes this body may yield (`u64::MAX` if unlimited).
    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub(crate) fn inner_ref(&self) -> &Inner {
        &self.inner
    }

    pub(crate) fn into_inner(self) -> Inner {
        self.inner
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Full(b) => f.debug_tuple("Body").field(&b.len()).finish(),
            Inner::Vec(v) => f.debug_tuple("Body").field(&v.len()).finish(),
            Inner::Stream(_) => f.write_str("Body(stream)"),
            Inner::Incoming(i) => f.debug_tuple("Body(incoming)").field(&i.len()).finish(),
        }
    }
}

impl Stream for Body {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.failed {
            return Poll::Ready(None);
        }
        // A declared length over the limit fails before anything is read.
        if this.seen == 0 && this.len().is_some_and(|n| n > this.limit) {
            this.failed = true;
            return Poll::Ready(Some(Err(BodyError::new(LengthLimitError))));
        }
        let next = match &mut this.inner {
            Inner::Full(b) if b.is_empty() => return Poll::Ready(None),
            Inner::Full(b) => Poll::Ready(Some(Ok(std::mem::take(b)))),
            Inner::Vec(v) if v.is_empty() => return Poll::Ready(None),
            Inner::Vec(v) => Poll::Ready(Some(Ok(Bytes::from(std::mem::take(v))))),
            Inner::Stream(s) => s.as_mut().poll_next(cx),
            Inner::Incoming(i) => i.poll_chunk(cx),
        };
        next.map(|item| {
            item.map(|chunk| {
                let chunk = chunk.map_err(BodyError::new)?;
                this.seen += chunk.len() as u64;
                if this.seen > this.limit {
                    this.failed = true;
                    return Err(BodyError::new(LengthLimitError));
                }
                Ok(chunk)
            })
        })
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Self::new(Inner::Full(b))
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Self::new(Inner::Vec(s.into_bytes()))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Self::new(Inner::Vec(v))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Bytes::from_static(s).into()
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Self::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn a_string_or_vec_body_is_whole_and_keeps_its_limit() {
        let text = format!("user {}", 42);
        let body = Body::from(text.clone());
        assert_eq!(body.len(), Some(text.len() as u64));
        assert_eq!(block_on(body.collect()).unwrap(), text.as_bytes());

        let mut body = Body::from(b"abc".to_vec());
        assert_eq!(block_on(body.next()).unwrap().unwrap(), &b"abc"[..]);
        assert!(block_on(body.next()).is_none());

        let over = Body::from(vec![0u8; 10]).with_limit(4);
        assert!(block_on(over.collect()).unwrap_err().is_too_large());
        assert!(block_on(Body::from(String::new()).next()).is_none());
    }

    #[test]
    fn stream_body_collects_all_chunks_in_order() {
        let chunks = futures_lite::stream::iter(vec![
            Ok::<_, std::io::Error>(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
        ]);
        let body = Body::from_stream(chunks);
        assert_eq!(body.len(), None);
        assert_eq!(
            block_on(body.collect()).unwrap(),
            Bytes::from_static(b"abcd")
        );
    }

    #[test]
    fn stream_error_surfaces_from_collect() {
        let chunks = futures_lite::stream::iter(vec![
            Ok(Bytes::from_static(b"ab")),
            Err(std::io::Error::other("gone")),
        ]);
        let err = block_on(Body::from_stream(chunks).collect()).unwrap_err();
        assert!(!err.is_too_large());
        assert_eq!(std::error::Error::source(&err).unwrap().to_string(), "gone");
    }

    #[test]
    fn limit_fails_bodies_over_it_and_passes_the_rest() {
        let err = block_on(Body::from("abcd").with_limit(3).collect()).unwrap_err();
        assert!(err.is_too_large());
        assert_eq!(
            block_on(Body::from("abc").with_limit(3).collect()).unwrap(),
            "abc"
        );
        let chunks = || {
            futures_lite::stream::iter(vec![
                Ok::<_, std::io::Error>(Bytes::from_static(b"ab")),
                Ok(Bytes::from_static(b"cd")),
            ])
        };
        let err = block_on(Body::from_stream(chunks()).with_limit(3).collect()).unwrap_err();
        assert!(err.is_too_large());
        let ok = block_on(Body::from_stream(chunks()).with_limit(4).collect()).unwrap();
        assert_eq!(ok, "abcd");
    }

    #[test]
    fn full_body_yields_once_then_ends() {
        let mut body = Body::from("x");
        assert_eq!(
            block_on(body.next()).unwrap().unwrap(),
            Bytes::from_static(b"x")
        );
        assert!(block_on(body.next()).is_none());
        assert!(Body::empty().is_empty());
    }
}
