//! The error a request or response body yields.

use std::fmt;

/// A boxed error that can cross threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error reading or producing a body: the client broke the body's
/// framing or went away, a body stream failed, or the body passed its
/// limit ([`BodyError::is_too_large`]).
///
/// One pointer wide; the underlying cause is reached through
/// [`std::error::Error::source`]. Handlers rarely see it directly: the
/// body extractors turn it into a 400 or 413 rejection, and `?` into
/// [`crate::Error`] does the same.
pub struct BodyError {
    inner: Box<Inner>,
}

struct Inner {
    too_large: bool,
    cause: BoxError,
}

/// A body passed the limit set by [`Body::with_limit`](crate::Body::with_limit).
///
/// Lives beside [`BodyError`], which recognises it as its cause, so that
/// the body can make it without the two modules needing each other.
#[derive(Debug)]
pub(crate) struct LengthLimitError;

impl fmt::Display for LengthLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("length limit exceeded")
    }
}

impl std::error::Error for LengthLimitError {}

impl BodyError {
    pub(crate) fn new(cause: impl Into<BoxError>) -> Self {
        let cause = cause.into();
        Self {
            inner: Box::new(Inner {
                too_large: cause.is::<LengthLimitError>(),
                cause,
            }),
        }
    }

    /// Returns `true` if the body was longer than its limit (see
    /// [`crate::Body::with_limit`]).
    pub fn is_too_large(&self) -> bool {
        self.inner.too_large
    }
}

impl fmt::Debug for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("tramline::BodyError")
            .field(&self.inner.cause)
            .finish()
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.inner.too_large {
            "body too large"
        } else {
            "error reading a body"
        })
    }
}

impl std::error::Error for BodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.inner.cause as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(size_of::<BodyError>(), size_of::<usize>());
    }

    #[test]
    fn error_is_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        assert_bounds::<BodyError>();
    }

    #[test]
    fn display_names_this_layer_and_source_the_cause() {
        let err = BodyError::new(std::io::Error::other("reset"));
        assert!(!err.is_too_large());
        assert_eq!(err.to_string(), "error reading a body");
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "reset"
        );
        let err = BodyError::new(LengthLimitError);
        assert!(err.is_too_large());
        assert_eq!(err.to_string(), "body too large");
    }
}
