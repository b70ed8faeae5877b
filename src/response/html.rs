//! The `Html` response type.

use http::header::{self, HeaderValue};

use super::{IntoResponse, Response};
use crate::vocab::Body;

const TEXT_HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

/// An HTML response: the body is sent as `text/html; charset=utf-8`.
///
/// # Examples
///
/// ```
/// use tramline::response::{Html, IntoResponse};
///
/// let res = Html("<h1>hi</h1>").into_response();
/// assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        let mut res = crate::vocab::recycle::response(self.0.into());
        res.headers_mut().insert(header::CONTENT_TYPE, TEXT_HTML);
        res
    }
}

impl<T> From<T> for Html<T> {
    fn from(inner: T) -> Self {
        Self(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn html_sets_html_content_type_and_keeps_body() {
        let res = Html(String::from("<p>x</p>")).into_response();
        assert_eq!(res.status(), http::StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = block_on(res.into_body().collect()).unwrap();
        assert_eq!(&body[..], b"<p>x</p>");
    }
}
