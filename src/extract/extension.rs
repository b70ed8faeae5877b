//! The `Extension` extractor and middleware: a value a middleware (or the
//! router) puts in the request's extensions, taken out by type.

use std::any::type_name;
use std::fmt;
use std::future::{Future, ready};

use http::StatusCode;
use http::request::Parts;

use super::FromRequestParts;
use crate::middleware::{Middleware, Next};
use crate::vocab::Request;
use crate::vocab::{IntoResponse, Response};

/// A value carried in the request's extensions.
///
/// As an extractor, `Extension<T>` clones the `T` a middleware inserted
/// (`req.extensions_mut().insert(value)`); a request without one is a
/// wiring mistake and answers 500, naming the type. As a middleware
/// (`.layer(Extension(value))`), it inserts a clone of `value` into every
/// request it wraps: a way to share a value with handlers without
/// changing the router's state type.
///
/// # Examples
///
/// ```
/// use tramline::Router;
/// use tramline::extract::Extension;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
///
/// #[derive(Clone)]
/// struct Greeting(&'static str);
///
/// let app = Router::new()
///     .route("/", get(|Extension(g): Extension<Greeting>| async move { g.0 }))
///     .layer(Extension(Greeting("hello")));
/// TestClient::new(app).get("/").send().assert_text("hello");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Extension<T>(pub T);

impl<T, S> FromRequestParts<S> for Extension<T>
where
    T: Clone + Send + Sync + 'static,
    S: Sync,
{
    type Rejection = MissingExtension;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(
            parts
                .extensions
                .get::<T>()
                .cloned()
                .map(Extension)
                .ok_or(MissingExtension {
                    type_name: type_name::<T>(),
                }),
        )
    }
}

impl<T: Clone + Send + Sync + 'static> Middleware for Extension<T> {
    fn call(
        &self,
        mut req: Request,
        next: Next,
    ) -> impl Future<Output = Response> + Send + 'static {
        req.extensions_mut().insert(self.0.clone());
        next.run(req)
    }
}

impl<T> std::ops::Deref for Extension<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Rejection for [`Extension<T>`] when the request carries no `T`: no
/// middleware inserted one on the way to this handler. Answers 500 and
/// names the type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingExtension {
    type_name: &'static str,
}

impl MissingExtension {
    /// Returns the status this rejection answers with (500).
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// Returns the plain-text body this rejection answers with.
    pub fn body_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for MissingExtension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "missing request extension `{}`: add it with `.layer(Extension(value))` or a middleware",
            self.type_name
        )
    }
}

impl std::error::Error for MissingExtension {}

impl IntoResponse for MissingExtension {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (self.status(), self.body_text()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::middleware::from_fn;
    use crate::routing::get;
    use crate::test::TestClient;

    #[derive(Clone)]
    struct User(String);

    #[test]
    fn a_middleware_inserts_and_a_handler_extracts() {
        let app = Router::new()
            .route(
                "/me",
                get(|Extension(u): Extension<User>| async move { u.0 }),
            )
            .route(
                "/count",
                get(|Extension(n): Extension<u32>| async move { n.to_string() }),
            )
            .layer(from_fn(|mut req: Request, next: Next| async move {
                req.extensions_mut().insert(User("ada".into()));
                next.run(req).await
            }))
            .layer(Extension(7u32));
        let client = TestClient::new(app);
        client
            .get("/me")
            .send()
            .assert_status(200)
            .assert_text("ada");
        client
            .get("/count")
            .send()
            .assert_status(200)
            .assert_text("7");
    }

    #[test]
    fn a_missing_extension_names_its_type() {
        let app = Router::new().route("/", get(|_: Extension<User>| async { "unreachable" }));
        TestClient::new(app)
            .get("/")
            .send()
            .assert_status(500)
            .assert_text(
                "missing request extension `tramline::extract::extension::tests::User`: add it with `.layer(Extension(value))` or a middleware",
            );
    }
}
