//! The crate's error type.

use std::fmt;

/// A boxed error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors from serving HTTP: I/O, malformed input, timeouts, body streams.
///
/// `Error` is opaque and one pointer wide; ask what it is with the `is_*`
/// methods and reach the underlying cause through
/// [`std::error::Error::source`].
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    cause: Option<BoxError>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Parse,
    Io,
    Timeout,
    IncompleteMessage,
    Body,
    TooLarge,
}

impl Error {
    pub(crate) fn new(kind: Kind, cause: Option<BoxError>) -> Self {
        Self {
            inner: Box::new(Inner { kind, cause }),
        }
    }

    pub(crate) fn body(cause: impl Into<BoxError>) -> Self {
        let cause = cause.into();
        if cause.is::<crate::body::LengthLimitError>() {
            return Self::new(Kind::TooLarge, Some(cause));
        }
        Self::new(Kind::Body, Some(cause))
    }

    /// Returns `true` if the peer sent a message that could not be parsed.
    pub fn is_parse(&self) -> bool {
        self.inner.kind == Kind::Parse
    }

    /// Returns `true` if the error came from the underlying connection.
    pub fn is_io(&self) -> bool {
        self.inner.kind == Kind::Io
    }

    /// Returns `true` if a timeout expired.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// Returns `true` if the connection closed before a message was complete.
    pub fn is_incomplete_message(&self) -> bool {
        self.inner.kind == Kind::IncompleteMessage
    }

    /// Returns `true` if reading or producing a body failed.
    pub fn is_body(&self) -> bool {
        self.inner.kind == Kind::Body
    }

    /// Returns `true` if a body was longer than its limit (see
    /// [`crate::Body::with_limit`]).
    pub fn is_too_large(&self) -> bool {
        self.inner.kind == Kind::TooLarge
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("tramline::Error");
        d.field(&self.inner.kind);
        if let Some(cause) = &self.inner.cause {
            d.field(cause);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.inner.kind {
            Kind::Parse => "invalid HTTP message",
            Kind::Io => "connection error",
            Kind::Timeout => "timed out",
            Kind::IncompleteMessage => "connection closed before message completed",
            Kind::Body => "error reading a body",
            Kind::TooLarge => "body too large",
        })
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .cause
            .as_ref()
            .map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(size_of::<Error>(), size_of::<usize>());
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<Error>();
    }

    #[test]
    fn display_names_this_layer_and_source_the_cause() {
        let err = Error::new(Kind::Io, Some(std::io::Error::other("reset").into()));
        assert!(err.is_io());
        assert_eq!(err.to_string(), "connection error");
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "reset"
        );
    }
}
