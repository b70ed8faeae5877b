//! Request and response bodies.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_lite::{Stream, StreamExt};

use crate::error::{BoxError, Error};

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
}

pub(crate) enum Inner {
    Full(Bytes),
    Stream(BoxStream),
}

impl Body {
    /// Creates an empty body.
    pub const fn empty() -> Self {
        Self {
            inner: Inner::Full(Bytes::new()),
        }
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
        Self {
            inner: Inner::Stream(Box::pin(stream.map(|r| r.map_err(Into::into)))),
        }
    }

    /// Returns the body's length in bytes when it is known without reading
    /// it: `Some` for buffered bodies, `None` for streams.
    pub fn len(&self) -> Option<u64> {
        match &self.inner {
            Inner::Full(b) => Some(b.len() as u64),
            Inner::Stream(_) => None,
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
    pub async fn collect(self) -> Result<Bytes, Error> {
        match self.inner {
            Inner::Full(b) => Ok(b),
            Inner::Stream(mut s) => {
                let mut buf = BytesMut::new();
                while let Some(chunk) = s.next().await {
                    buf.extend_from_slice(&chunk.map_err(Error::body)?);
                }
                Ok(buf.freeze())
            }
        }
    }

    /// Limits the body to `max` bytes.
    ///
    /// A body known to be longer fails on its first read; a stream fails
    /// once it passes `max`. Either way the error's
    /// [`Error::is_too_large`] is `true`, which extractors answer with 413.
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
    pub fn with_limit(self, max: u64) -> Self {
        match self.inner {
            Inner::Full(b) if b.len() as u64 > max => Self::from_stream(
                futures_lite::stream::once(Err::<Bytes, _>(LengthLimitError)),
            ),
            Inner::Full(_) => self,
            Inner::Stream(s) => {
                let mut seen = 0u64;
                Self::from_stream(s.map(move |chunk| {
                    let chunk = chunk?;
                    seen += chunk.len() as u64;
                    if seen > max {
                        return Err(Box::new(LengthLimitError) as BoxError);
                    }
                    Ok(chunk)
                }))
            }
        }
    }

    pub(crate) fn into_inner(self) -> Inner {
        self.inner
    }
}

/// A body passed the limit set by [`Body::with_limit`].
#[derive(Debug)]
pub(crate) struct LengthLimitError;

impl fmt::Display for LengthLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("length limit exceeded")
    }
}

impl std::error::Error for LengthLimitError {}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Full(b) => f.debug_tuple("Body").field(&b.len()).finish(),
            Inner::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl Stream for Body {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.inner {
            Inner::Full(b) if b.is_empty() => Poll::Ready(None),
            Inner::Full(b) => Poll::Ready(Some(Ok(std::mem::take(b)))),
            Inner::Stream(s) => s
                .as_mut()
                .poll_next(cx)
                .map(|o| o.map(|r| r.map_err(Error::body))),
        }
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Self {
            inner: Inner::Full(b),
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Bytes::from(s).into()
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Bytes::from(v).into()
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
        assert!(err.is_body());
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
