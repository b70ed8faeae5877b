//! The `Redirect` response.

use http::StatusCode;
use http::header::{self, HeaderValue};

use super::{IntoResponse, Response};
use crate::vocab::Body;

/// A redirect: a `3xx` status with a `location` header and no body.
///
/// # Examples
///
/// ```
/// use tramline::response::Redirect;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let app = Router::new()
///     .route("/old", get(|| async { Redirect::permanent("/new") }))
///     .route("/login", get(|| async { Redirect::to("/home") }));
/// let client = TestClient::new(app);
/// client.get("/old").send().assert_status(308).assert_header("location", "/new");
/// client.get("/login").send().assert_status(303).assert_header("location", "/home");
/// ```
#[derive(Debug, Clone)]
#[must_use = "a redirect does nothing unless it is returned"]
pub struct Redirect {
    status: StatusCode,
    location: HeaderValue,
}

impl Redirect {
    /// Redirects with `303 See Other`: the client follows with a `GET`
    /// (the usual answer to a form `POST`).
    ///
    /// # Panics
    ///
    /// Panics if `uri` is not a valid header value (it holds a control
    /// character).
    #[track_caller]
    pub fn to(uri: &str) -> Self {
        Self::with_status(StatusCode::SEE_OTHER, uri)
    }

    /// Redirects with `307 Temporary Redirect`: the client repeats the
    /// request, method and body included, at `uri`.
    ///
    /// # Panics
    ///
    /// Panics if `uri` is not a valid header value.
    #[track_caller]
    pub fn temporary(uri: &str) -> Self {
        Self::with_status(StatusCode::TEMPORARY_REDIRECT, uri)
    }

    /// Redirects with `308 Permanent Redirect`: as
    /// [`temporary`](Self::temporary), and clients may remember it.
    ///
    /// # Panics
    ///
    /// Panics if `uri` is not a valid header value.
    #[track_caller]
    pub fn permanent(uri: &str) -> Self {
        Self::with_status(StatusCode::PERMANENT_REDIRECT, uri)
    }

    #[track_caller]
    fn with_status(status: StatusCode, uri: &str) -> Self {
        let Ok(location) = HeaderValue::try_from(uri) else {
            panic!("redirect target {uri:?} is not a valid header value")
        };
        Self { status, location }
    }

    /// Returns the status the redirect answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self.status;
        res.headers_mut().insert(header::LOCATION, self.location);
        res
    }
}
