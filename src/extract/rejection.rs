//! Rejections: why an extractor refused a request.
//!
//! Every extractor has its own rejection type, defined beside the
//! extractor and re-exported here, so that one `use` reaches them all. Each
//! implements [`IntoResponse`](crate::response::IntoResponse) (a short
//! `text/plain` body with the status that fits), [`Display`](std::fmt::Display)
//! (the same text) and [`std::error::Error`], and exposes `status()` and
//! `body_text()`. Rejections that combine several causes are
//! `#[non_exhaustive]` enums whose variants are the causes.

pub use super::body::{BytesRejection, InvalidUtf8, StringRejection};
pub use super::connect_info::MissingConnectInfo;
pub use super::extension::MissingExtension;
pub use super::form::{FormRejection, InvalidFormBody, MissingFormContentType};
pub use super::json::{JsonDataError, JsonRejection, JsonSyntaxError, MissingJsonContentType};
pub use super::matched_path::NoMatchedPath;
#[cfg(feature = "multipart")]
#[cfg_attr(docsrs, doc(cfg(feature = "multipart")))]
pub use super::multipart::{MultipartError, MultipartRejection};
pub use super::path::PathRejection;
pub use super::query::QueryRejection;
#[cfg(feature = "typed-header")]
#[cfg_attr(docsrs, doc(cfg(feature = "typed-header")))]
pub use super::typed_header::TypedHeaderRejection;

use http::StatusCode;

use crate::vocab::{BoxError, Error};

// The macros below are shared by the extractors' modules; their paths are
// absolute so that a module using them needs no imports for their sake.

/// Implements `Display`, `body_text`, and `IntoResponse` for a rejection
/// that has `status(&self)` and `fmt_text(&self, f)`.
macro_rules! rejection_impls {
    ($ty:ident) => {
        impl $ty {
            /// Returns the text sent as the response body.
            pub fn body_text(&self) -> String {
                self.to_string()
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.fmt_text(f)
            }
        }

        impl $crate::vocab::IntoResponse for $ty {
            fn into_response(self) -> $crate::vocab::Response {
                let status = self.status();
                if status.is_server_error() {
                    // A server-side rejection means the route and the
                    // handler disagree; the client cannot fix it.
                    tracing::error!(rejection = %self, "extractor rejected a request");
                }
                $crate::vocab::response::plain_text(status, self.body_text())
            }
        }
    };
}
pub(crate) use rejection_impls;

/// Implements the rejection API for a `#[non_exhaustive]` enum by
/// delegating to the variant's own type.
macro_rules! composite_rejection {
    ($ty:ident { $($variant:ident),+ $(,)? }) => {
        impl $ty {
            /// Returns the status code of the response.
            pub fn status(&self) -> $crate::http::StatusCode {
                match self {
                    $(Self::$variant(inner) => inner.status(),)+
                }
            }

            fn fmt_text(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self {
                    $(Self::$variant(inner) => ::std::fmt::Display::fmt(inner, f),)+
                }
            }
        }

        impl ::std::error::Error for $ty {
            fn source(&self) -> Option<&(dyn ::std::error::Error + 'static)> {
                match self {
                    $(Self::$variant(inner) => Some(inner),)+
                }
            }
        }

        $(
            impl From<$variant> for $ty {
                fn from(inner: $variant) -> Self {
                    Self::$variant(inner)
                }
            }
        )+

        $crate::extract::rejection::rejection_impls!($ty);
    };
}
pub(crate) use composite_rejection;

/// Defines a rejection that carries nothing: a fixed status and text.
macro_rules! unit_rejection {
    ($(#[$doc:meta])* $ty:ident, $status:ident, $text:literal) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $ty(());

        impl $ty {
            pub(crate) fn new() -> Self {
                Self(())
            }

            #[doc = concat!("Returns the status code of the response: `", stringify!($status), "`.")]
            pub fn status(&self) -> $crate::http::StatusCode {
                $crate::http::StatusCode::$status
            }

            fn fmt_text(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($text)
            }
        }

        impl ::std::error::Error for $ty {}
        $crate::extract::rejection::rejection_impls!($ty);
    };
}
pub(crate) use unit_rejection;

/// Rewrites serde's error text into one that speaks of `what` (for
/// example `query parameter`): a missing field becomes `missing {what}
/// 'name'`, one at `path` (serde_path_to_error's path of the field that did
/// not fit) `invalid {what} 'path': ` and serde's message, anything else
/// (`path` is `.` for the whole value) `{otherwise}: ` and the message.
fn describe_field(message: &str, path: &str, what: &str, otherwise: &str) -> String {
    // serde's derive reports "missing field `name`".
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return format!("missing {what} '{name}'");
    }
    if !path.is_empty() && path != "." {
        return format!("invalid {what} '{path}': {message}");
    }
    format!("{otherwise}: {message}")
}

/// Deserializes `application/x-www-form-urlencoded` bytes (a query string
/// or a form body); the error names the field that did not fit, in
/// [`describe_field`]'s words.
pub(crate) fn from_urlencoded<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    what: &str,
    otherwise: &str,
) -> Result<T, String> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        describe_field(&e.into_inner().to_string(), &path, what, otherwise)
    })
}

/// Sorts a boxed error into a status and a message: a body error by its
/// kind, an extractor rejection by its own status and text, a parse error
/// as `400`, anything else as `500`. It lives beside the rejections it
/// recognises, so that [`Error`] itself names nothing above the
/// vocabulary.
fn classify(error: BoxError) -> Error {
    let error = match error.downcast::<crate::vocab::BodyError>() {
        Ok(body) if body.is_too_large() => {
            return Error::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
                .with_source(body);
        }
        Ok(body) => {
            return Error::new(StatusCode::BAD_REQUEST, "failed to read the request body")
                .with_source(body);
        }
        Err(other) => other,
    };
    macro_rules! rejections {
        ($($ty:ty),*) => {
            $(
                if let Some(r) = error.downcast_ref::<$ty>() {
                    return Error::new(r.status(), r.body_text());
                }
            )*
        };
    }
    rejections!(
        PathRejection,
        QueryRejection,
        JsonRejection,
        FormRejection,
        BytesRejection,
        StringRejection,
        InvalidUtf8
    );
    macro_rules! bad_input {
        ($($ty:ty),*) => {
            if $(error.is::<$ty>())||* {
                return Error::new(StatusCode::BAD_REQUEST, format!("invalid input: {error}"));
            }
        };
    }
    bad_input!(
        std::num::ParseIntError,
        std::num::ParseFloatError,
        std::str::ParseBoolError,
        std::str::Utf8Error,
        std::string::FromUtf8Error
    );
    Error::internal(error)
}

impl<E> From<E> for Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        classify(Box::new(error))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use futures_lite::future::block_on;
    use http::StatusCode;

    use crate::vocab::Response;

    /// Returns a rejection response's status, content type and body.
    pub(crate) fn response_text(res: Response) -> (StatusCode, String, String) {
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        let status = res.status();
        let body = block_on(res.into_body().collect()).unwrap();
        (
            status,
            content_type,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }
}
