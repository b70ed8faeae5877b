//! Cookies, read from the request and set on the response, with the
//! [`cookie`](https://docs.rs/cookie) crate. Requires the `cookies` feature.

use std::convert::Infallible;
use std::fmt;
use std::future::{Future, ready};

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;

use super::FromRequestParts;
use crate::vocab::{IntoResponse, Response};

pub use cookie::{Cookie, SameSite};

/// The request's cookies, and the changes to send back.
///
/// As an extractor it reads every `cookie` header (percent-decoding the
/// values). Returned from a handler, alone or as the first element of a
/// tuple, it adds a `set-cookie` header for every cookie added or removed.
///
/// # Examples
///
/// ```
/// use tramline::extract::cookie::{Cookie, CookieJar};
/// use tramline::routing::{get, post};
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// async fn login(jar: CookieJar) -> (CookieJar, &'static str) {
///     (jar.add(Cookie::build(("session", "s3cr3t")).http_only(true).path("/")), "welcome")
/// }
///
/// async fn me(jar: CookieJar) -> String {
///     match jar.get("session") {
///         Some(c) => format!("session {}", c.value()),
///         None => "anonymous".into(),
///     }
/// }
///
/// let client = TestClient::new(Router::new().route("/login", post(login)).route("/me", get(me)));
/// client
///     .post("/login")
///     .send()
///     .assert_header("set-cookie", "session=s3cr3t; HttpOnly; Path=/");
/// client.get("/me").header("cookie", "theme=dark; session=abc").send().assert_text("session abc");
/// client.get("/me").send().assert_text("anonymous");
/// ```
#[derive(Default, Clone)]
pub struct CookieJar {
    jar: cookie::CookieJar,
}

impl CookieJar {
    /// Creates a jar with the cookies of `headers`; malformed ones are
    /// skipped.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut jar = cookie::CookieJar::new();
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for cookie in Cookie::split_parse_encoded(value.to_owned()).flatten() {
                jar.add_original(cookie);
            }
        }
        Self { jar }
    }

    /// Returns the cookie called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Cookie<'static>> {
        self.jar.get(name)
    }

    /// Adds `cookie`, to be set on the response.
    #[allow(
        clippy::should_implement_trait,
        reason = "the cookie crate's name for it; `+` would read oddly"
    )]
    pub fn add(mut self, cookie: impl Into<Cookie<'static>>) -> Self {
        self.jar.add(cookie);
        self
    }

    /// Removes the cookie called `name`: the response tells the client to
    /// delete it.
    pub fn remove(mut self, name: impl Into<String>) -> Self {
        self.jar.remove(Cookie::from(name.into()));
        self
    }

    /// Returns an iterator over the cookies, as they stand after the
    /// changes.
    pub fn iter(&self) -> impl Iterator<Item = &Cookie<'static>> {
        self.jar.iter()
    }

    fn write_changes(&self, headers: &mut HeaderMap) {
        for cookie in self.jar.delta() {
            if let Ok(value) = HeaderValue::try_from(cookie.encoded().to_string()) {
                headers.append(header::SET_COOKIE, value);
            }
        }
    }
}

impl fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: list the names only.
        f.debug_set()
            .entries(self.jar.iter().map(Cookie::name))
            .finish()
    }
}

impl<S> FromRequestParts<S> for CookieJar {
    type Rejection = Infallible;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(Ok(Self::from_headers(&parts.headers)))
    }
}

impl IntoResponse for CookieJar {
    fn into_response(self) -> Response {
        (self, ()).into_response()
    }
}

impl<T: IntoResponse> IntoResponse for (CookieJar, T) {
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        self.0.write_changes(res.headers_mut());
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_parsed_from_every_header_and_decoded() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=x%20y"));
        headers.append(header::COOKIE, HeaderValue::from_static("c=3; =bad; d"));
        let jar = CookieJar::from_headers(&headers);
        assert_eq!(jar.get("a").unwrap().value(), "1");
        assert_eq!(jar.get("b").unwrap().value(), "x y");
        assert_eq!(jar.get("c").unwrap().value(), "3");
        let debug = format!("{jar:?}");
        assert!(debug.contains("\"b\"") && !debug.contains("x y"), "{debug}");
    }

    #[test]
    fn only_changes_are_sent_back() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("keep=1; gone=2"));
        let jar = CookieJar::from_headers(&headers)
            .add(Cookie::new("new", "v w"))
            .remove("gone");
        let res = jar.into_response();
        let mut set: Vec<_> = res
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        set.sort();
        assert_eq!(set.len(), 2, "{set:?}");
        assert!(set[0].starts_with("gone=; "), "{set:?}");
        assert!(set[0].contains("Max-Age=0"), "{set:?}");
        assert_eq!(set[1], "new=v%20w");
    }
}
