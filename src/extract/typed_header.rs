//! The `TypedHeader` extractor (feature `typed-header`): a header parsed
//! into its type from the `headers` crate.

use std::fmt;
use std::future::{Future, ready};

use http::StatusCode;
use http::request::Parts;

use super::FromRequestParts;
use crate::vocab::{IntoResponse, Response};

pub use headers;

/// Extracts a header as a typed value from the [`headers`] crate:
/// `TypedHeader<Authorization<Bearer>>`, `TypedHeader<UserAgent>`,
/// `TypedHeader<IfNoneMatch>`, …
///
/// A missing header and one that does not parse are each a `400` that
/// names the header. Wrap it in `Option` for a header that may be absent.
///
/// # Examples
///
/// ```
/// use tramline::Router;
/// use tramline::extract::TypedHeader;
/// use tramline::extract::typed_header::headers::Authorization;
/// use tramline::extract::typed_header::headers::authorization::Bearer;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
///
/// let app = Router::new().route(
///     "/me",
///     get(|TypedHeader(auth): TypedHeader<Authorization<Bearer>>| async move {
///         format!("token {}", auth.token())
///     }),
/// );
/// let client = TestClient::new(app);
/// client.get("/me").header("authorization", "Bearer abc").send().assert_text("token abc");
/// client.get("/me").send().assert_status(400).assert_text("missing header `authorization`");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedHeader<T>(pub T);

impl<T, S> FromRequestParts<S> for TypedHeader<T>
where
    T: headers::Header + Send,
    S: Sync,
{
    type Rejection = TypedHeaderRejection;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        let mut values = parts.headers.get_all(T::name()).iter().peekable();
        let result = if values.peek().is_none() {
            Err(TypedHeaderRejection {
                name: T::name().as_str(),
                missing: true,
            })
        } else {
            T::decode(&mut values)
                .map(TypedHeader)
                .map_err(|_| TypedHeaderRejection {
                    name: T::name().as_str(),
                    missing: false,
                })
        };
        ready(result)
    }
}

impl<T> std::ops::Deref for TypedHeader<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Rejection for [`TypedHeader`]: the header is missing, or its value does
/// not parse. Answers `400 Bad Request`, naming the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedHeaderRejection {
    name: &'static str,
    missing: bool,
}

impl TypedHeaderRejection {
    /// Returns the status this rejection answers with (400).
    pub fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    /// The header's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the header was missing (rather than malformed).
    pub fn is_missing(&self) -> bool {
        self.missing
    }

    /// Returns the plain-text body this rejection answers with.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TypedHeaderRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.missing {
            write!(f, "missing header `{}`", self.name)
        } else {
            write!(f, "invalid header `{}`", self.name)
        }
    }
}

impl std::error::Error for TypedHeaderRejection {}

impl IntoResponse for TypedHeaderRejection {
    fn into_response(self) -> Response {
        (self.status(), self.body_text()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::routing::get;
    use crate::test::TestClient;
    use headers::{ContentLength, UserAgent};

    #[test]
    fn present_missing_and_malformed() {
        let app = Router::new()
            .route(
                "/ua",
                get(|TypedHeader(ua): TypedHeader<UserAgent>| async move { ua.to_string() }),
            )
            .route(
                "/len",
                get(|len: Option<TypedHeader<ContentLength>>| async move {
                    format!("{:?}", len.map(|TypedHeader(l)| l.0))
                }),
            );
        let client = TestClient::new(app);
        client
            .get("/ua")
            .header("user-agent", "curl/8")
            .send()
            .assert_status(200)
            .assert_text("curl/8");
        client
            .get("/ua")
            .send()
            .assert_status(400)
            .assert_text("missing header `user-agent`");
        client
            .get("/len")
            .send()
            .assert_status(200)
            .assert_text("None");
    }

    #[test]
    fn a_malformed_header_is_named() {
        let mut parts = http::Request::builder()
            .header("content-length", "many")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let got = futures_lite::future::block_on(TypedHeader::<ContentLength>::from_request_parts(
            &mut parts,
            &(),
        ));
        let rejection = got.unwrap_err();
        assert!(!rejection.is_missing());
        assert_eq!(rejection.body_text(), "invalid header `content-length`");
    }
}
