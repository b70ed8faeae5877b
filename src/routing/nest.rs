//! Routes to services: handlers that answer every method of a path, or of
//! everything under a prefix, such as `fs::ServeDir` (feature `fs`).

use std::future::Future;
use std::marker::PhantomData;

use http::Uri;
use http::uri::PathAndQuery;

use super::method::any;
use super::router::Router;
use crate::routing::handler::Handler;
use crate::vocab::{Request, Response};

impl<S> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    /// Routes every method of `path` to `service`: a handler (an async fn
    /// or closure taking the [`Request`]), or a service such as
    /// `fs::ServeFile` (feature `fs`).
    ///
    /// The same as [`route`](Self::route) with [`any`](super::any).
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::test::TestClient;
    /// use tramline::{Request, Router};
    ///
    /// let app = Router::new().route_service("/echo", |req: Request| async move {
    ///     format!("{} {}", req.method(), req.uri())
    /// });
    /// TestClient::new(app).delete("/echo").send().assert_text("DELETE /echo");
    /// ```
    ///
    /// # Panics
    ///
    /// As for [`route`](Self::route).
    #[track_caller]
    pub fn route_service<H, T>(self, path: &str, service: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.route(path, any(service))
    }

    /// Mounts `service` at `prefix`: it answers every method of `prefix`
    /// and of every path under it, and sees the request's path with the
    /// prefix taken off (`/static/css/a.css` as `/css/a.css`; `/static` and
    /// `/static/` as `/`), the query kept.
    ///
    /// This is how a `fs::ServeDir` (feature `fs`) is mounted. `prefix`
    /// may hold parameters (`/t/{tenant}/files`); routes more specific than
    /// the prefix's catch-all still win, as ever.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::test::TestClient;
    /// use tramline::{Request, Router};
    ///
    /// let app = Router::new().nest_service("/api", |req: Request| async move {
    ///     req.uri().to_string()
    /// });
    /// let client = TestClient::new(app);
    /// client.get("/api/users/7?full=1").send().assert_text("/users/7?full=1");
    /// client.get("/api").send().assert_text("/");
    /// client.get("/apix").send().assert_status(404);
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if `prefix` does not start with `/` or ends with `/`, or if
    /// one of its routes (`prefix`, `prefix/` and `prefix/{*rest}`) would
    /// panic in [`route`](Self::route).
    #[track_caller]
    pub fn nest_service<H, T>(self, prefix: &str, service: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        assert!(
            prefix.starts_with('/'),
            "nest prefix must start with `/`, got {prefix:?}"
        );
        assert!(
            !prefix.ends_with('/'),
            "nest prefix must not end with `/`, got {prefix:?}"
        );
        // A parameter never spans a `/`, so the prefix of a matched path is
        // its first `segments` segments, whatever the parameters matched.
        let strip = StripPrefix {
            handler: service,
            segments: prefix.matches('/').count(),
            _args: PhantomData,
        };
        self.route(prefix, any(strip.clone()))
            .route(&format!("{prefix}/"), any(strip.clone()))
            .route(
                &format!("{prefix}/{{*__tramline_service_rest}}"),
                any(strip),
            )
    }
}

/// A handler that sees the request's path without its first `segments`
/// segments.
struct StripPrefix<H, T> {
    handler: H,
    segments: usize,
    _args: PhantomData<fn() -> T>,
}

impl<H: Clone, T> Clone for StripPrefix<H, T> {
    fn clone(&self) -> Self {
        Self {
            handler: self.handler.clone(),
            segments: self.segments,
            _args: PhantomData,
        }
    }
}

impl<H, T, S> Handler<T, S> for StripPrefix<H, T>
where
    H: Handler<T, S>,
    T: 'static,
{
    fn call(self, mut req: Request, state: S) -> impl Future<Output = Response> + Send + 'static {
        if let Some(uri) = strip_segments(req.uri(), self.segments) {
            *req.uri_mut() = uri;
        }
        self.handler.call(req, state)
    }
}

/// `uri` without the first `segments` segments of its path; `None` if it
/// cannot be rebuilt (it always can: the rest of a valid path is valid).
fn strip_segments(uri: &Uri, segments: usize) -> Option<Uri> {
    let path = uri.path();
    let rest = path
        .match_indices('/')
        .nth(segments)
        .map_or("/", |(i, _)| &path[i..]);
    let path_and_query = match uri.query() {
        Some(query) => PathAndQuery::try_from(format!("{rest}?{query}")).ok()?,
        None => PathAndQuery::try_from(rest).ok()?,
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{Path, State};
    use crate::routing::get;
    use crate::vocab::Body;
    use futures_lite::future::block_on;

    fn send(router: &Router, method: &str, uri: &str) -> (u16, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let res = block_on(router.handle(req));
        let status = res.status().as_u16();
        let body = block_on(res.into_body().collect()).unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn echo(req: Request) -> String {
        format!("{} {}", req.method(), req.uri())
    }

    #[test]
    fn route_service_takes_every_method() {
        let router = Router::new()
            .route_service("/s", echo)
            .route("/other", get(|| async { "other" }));
        for method in ["GET", "HEAD", "POST", "DELETE", "OPTIONS", "PURGE"] {
            assert_eq!(send(&router, method, "/s"), (200, format!("{method} /s")));
        }
        assert_eq!(send(&router, "GET", "/s/x").0, 404);
    }

    #[test]
    fn nest_service_strips_its_prefix() {
        let router = Router::new()
            .nest_service("/static", echo)
            .nest_service("/t/{tenant}/files", echo)
            .route("/static/exact", get(|| async { "route wins" }))
            .route("/", get(|| async { "root" }));
        let cases = [
            ("GET", "/static", "GET /"),
            ("GET", "/static/", "GET /"),
            ("GET", "/static/a.css", "GET /a.css"),
            ("POST", "/static/a/b/c?x=1&y", "POST /a/b/c?x=1&y"),
            ("GET", "/static//a", "GET //a"),
            ("GET", "/static?q", "GET /?q"),
            ("GET", "/static/exact", "route wins"),
            ("GET", "/t/acme/files/x.txt", "GET /x.txt"),
            ("GET", "/t/acme/files", "GET /"),
            ("GET", "/", "root"),
        ];
        for (method, uri, want) in cases {
            assert_eq!(send(&router, method, uri), (200, want.to_owned()), "{uri}");
        }
        assert_eq!(send(&router, "GET", "/staticx").0, 404);
        assert_eq!(send(&router, "GET", "/t/acme").0, 404);
    }

    #[test]
    fn services_get_state_and_path_params() {
        let router = Router::new()
            .nest_service(
                "/u/{id}",
                |State(name): State<&'static str>,
                 Path(params): Path<std::collections::HashMap<String, String>>,
                 req: Request| async move {
                    format!("{name} {} {}", params["id"], req.uri())
                },
            )
            .with_state("app");
        assert_eq!(send(&router, "GET", "/u/7/x"), (200, "app 7 /x".into()));
    }

    #[test]
    fn strip_keeps_scheme_and_authority() {
        let uri: Uri = "http://example.com/static/a?b".parse().unwrap();
        assert_eq!(
            strip_segments(&uri, 1).unwrap(),
            "http://example.com/a?b".parse::<Uri>().unwrap()
        );
    }
}
