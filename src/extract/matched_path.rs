//! The `MatchedPath` extractor: the route a request matched, as registered.

use std::fmt;
use std::future::{Future, ready};
use std::sync::Arc;

use http::StatusCode;
use http::request::Parts;

use super::FromRequestParts;
use crate::routing::params::PathParams;
use crate::routing::{Pattern, Unmatched};
use crate::vocab::{IntoResponse, Response};

/// Extracts the pattern of the route the request matched, as it was
/// registered (`/users/{id}`, not `/users/42`): the label metrics and
/// logs want, one per route rather than one per URL.
///
/// For a route of a nested router it is the whole pattern, prefix
/// included. A request no route matched (one a fallback answers) has none.
///
/// # Examples
///
/// ```
/// use tramline::Router;
/// use tramline::extract::MatchedPath;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
///
/// let users = Router::new().route(
///     "/{id}",
///     get(|path: MatchedPath| async move { path.as_str().to_owned() }),
/// );
/// let app = Router::new().nest("/users", users);
/// TestClient::new(app).get("/users/42").send().assert_text("/users/{id}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedPath(Arc<str>);

impl MatchedPath {
    /// The route's pattern.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MatchedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Sync> FromRequestParts<S> for MatchedPath {
    type Rejection = NoMatchedPath;

    fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(matched_path(parts))
    }
}

fn matched_path(parts: &Parts) -> Result<MatchedPath, NoMatchedPath> {
    let extensions = &parts.extensions;
    if extensions.get::<Unmatched>().is_some() {
        return Err(NoMatchedPath);
    }
    if let Some(params) = extensions.get::<PathParams>() {
        return Ok(MatchedPath(params.pattern().into()));
    }
    if let Some(Pattern(pattern)) = extensions.get::<Pattern>() {
        return Ok(MatchedPath(pattern.clone()));
    }
    // A route without parameters matches exactly its own path (the router
    // marks the few whose pattern escapes braces, above), so the path is
    // the pattern. Only routing knows whether one matched at all, and it
    // marks the requests it sends to a fallback.
    Ok(MatchedPath(parts.uri.path().into()))
}

/// Rejection for [`MatchedPath`] when no route matched the request: it
/// went to a fallback, which has no pattern. Answers 500: the handler is
/// wired where it cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMatchedPath;

impl NoMatchedPath {
    /// Returns the status this rejection answers with (500).
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// Returns the plain-text body this rejection answers with.
    pub fn body_text(&self) -> &'static str {
        "no matched path: the request reached a fallback, not a route"
    }
}

impl fmt::Display for NoMatchedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_text())
    }
}

impl std::error::Error for NoMatchedPath {}

impl IntoResponse for NoMatchedPath {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (self.status(), self.body_text()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::routing::get;
    use crate::test::TestClient;

    #[test]
    fn the_pattern_not_the_path() {
        let show = || get(|path: MatchedPath| async move { path.to_string() });
        let app = Router::new()
            .route("/", show())
            .route("/static/page", show())
            .route("/users/{id}", show())
            .route("/files/{*rest}", show())
            .route("/lit/{{x}}", show())
            .nest("/api/v1", Router::new().route("/items/{item}", show()))
            .fallback(|path: MatchedPath| async move { path.to_string() });
        let client = TestClient::new(app);
        for (uri, want) in [
            ("/", "/"),
            ("/static/page?x=1", "/static/page"),
            ("/users/42", "/users/{id}"),
            ("/files/a/b/c", "/files/{*rest}"),
            ("/lit/{x}", "/lit/{{x}}"),
            ("/api/v1/items/7", "/api/v1/items/{item}"),
        ] {
            client.get(uri).send().assert_status(200).assert_text(want);
        }
        client
            .get("/nowhere")
            .send()
            .assert_status(500)
            .assert_text("no matched path: the request reached a fallback, not a route");
    }
}
