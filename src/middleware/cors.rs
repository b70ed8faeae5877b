//! `Cors`: cross-origin resource sharing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

use super::{Middleware, Next};
use crate::vocab::{Body, Request, Response};

/// Answers CORS preflight requests and adds CORS headers to responses, so
/// that browsers let pages from other origins call the app.
///
/// A request without an `Origin` header passes untouched. A preflight
/// (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is
/// answered `204 No Content` here, without reaching the handler; from an
/// origin that is not allowed it gets no CORS headers, so the browser
/// refuses the real request. Other requests from an allowed origin get
/// `access-control-allow-origin` (and the other headers that apply) on
/// their response. Every answer to a request with `Origin` gets `vary:
/// origin`.
///
/// [`Cors::new`] allows nothing until told; [`Cors::permissive`] allows
/// everything (for development). Settings are chained by value.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tramline::http::Method;
/// use tramline::middleware::Cors;
/// use tramline::routing::get;
/// use tramline::test::TestClient;
/// use tramline::Router;
///
/// let cors = Cors::new()
///     .allow_origin("https://app.example")
///     .allow_methods([Method::GET, Method::POST])
///     .allow_headers(["content-type"])
///     .max_age(Duration::from_secs(600));
/// let app = Router::new().route("/api", get(|| async { "data" })).layer(cors);
/// let client = TestClient::new(app);
///
/// client
///     .options("/api")
///     .header("origin", "https://app.example")
///     .header("access-control-request-method", "POST")
///     .send()
///     .assert_status(204)
///     .assert_header("access-control-allow-origin", "https://app.example")
///     .assert_header("access-control-allow-methods", "GET, POST")
///     .assert_header("access-control-max-age", "600");
///
/// client
///     .get("/api")
///     .header("origin", "https://evil.example")
///     .send()
///     .assert_text("data")
///     .assert_no_header("access-control-allow-origin");
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    config: Arc<Config>,
}

#[derive(Debug, Clone, Default)]
struct Config {
    origins: Origins,
    /// `None`: echo the preflight's requested method.
    methods: Option<HeaderValue>,
    /// `None`: echo the preflight's requested headers.
    headers: Option<HeaderValue>,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

#[derive(Debug, Clone, Default)]
enum Origins {
    #[default]
    None,
    Any,
    List(Vec<HeaderValue>),
}

fn join<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> HeaderValue {
    let text = items
        .into_iter()
        .map(|item| item.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    match HeaderValue::try_from(text) {
        Ok(value) => value,
        Err(_) => panic!("CORS settings must be valid header values"),
    }
}

impl Cors {
    /// Creates a policy that allows no origin; add some with
    /// [`allow_origin`](Self::allow_origin).
    pub fn new() -> Self {
        Self {
            config: Arc::default(),
        }
    }

    /// Creates a policy that allows any origin, method and header, and
    /// exposes no headers. Meant for development.
    pub fn permissive() -> Self {
        Self::new().allow_any_origin()
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Allows requests from `origin` (such as `https://app.example`); call
    /// it once per origin.
    ///
    /// # Panics
    ///
    /// Panics if `origin` is not a valid header value.
    #[track_caller]
    pub fn allow_origin(self, origin: &str) -> Self {
        let Ok(origin) = HeaderValue::try_from(origin) else {
            panic!("CORS origin {origin:?} is not a valid header value")
        };
        self.with(|c| match &mut c.origins {
            Origins::List(list) => list.push(origin),
            other => *other = Origins::List(vec![origin]),
        })
    }

    /// Allows requests from any origin.
    pub fn allow_any_origin(self) -> Self {
        self.with(|c| c.origins = Origins::Any)
    }

    /// Sets the methods a preflight allows (by default, the one it asks
    /// for).
    pub fn allow_methods(self, methods: impl IntoIterator<Item = Method>) -> Self {
        let value = join(methods);
        self.with(|c| c.methods = Some(value))
    }

    /// Sets the request headers a preflight allows (by default, those it
    /// asks for).
    ///
    /// # Panics
    ///
    /// Panics if a name is not a valid header value.
    #[track_caller]
    pub fn allow_headers<T: AsRef<str>>(self, headers: impl IntoIterator<Item = T>) -> Self {
        let value = join(headers);
        self.with(|c| c.headers = Some(value))
    }

    /// Sets the response headers scripts on other origins may read.
    ///
    /// # Panics
    ///
    /// Panics if a name is not a valid header value.
    #[track_caller]
    pub fn expose_headers<T: AsRef<str>>(self, headers: impl IntoIterator<Item = T>) -> Self {
        let value = join(headers);
        self.with(|c| c.expose = Some(value))
    }

    /// Lets requests carry cookies and credentials. With any origin
    /// allowed, the request's origin is echoed instead of `*`, as browsers
    /// require.
    pub fn allow_credentials(self, allow: bool) -> Self {
        self.with(|c| c.credentials = allow)
    }

    /// Sets how long browsers may cache a preflight's answer.
    pub fn max_age(self, max_age: Duration) -> Self {
        let value = HeaderValue::from(max_age.as_secs());
        self.with(|c| c.max_age = Some(value))
    }
}

impl Default for Cors {
    fn default() -> Self {
        Self::new()
    }
}

impl Config {
    /// The `access-control-allow-origin` value for `origin`, if allowed.
    fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            Origins::None => None,
            Origins::Any if self.credentials => Some(origin.clone()),
            Origins::Any => Some(HeaderValue::from_static("*")),
            Origins::List(list) => list.contains(origin).then(|| origin.clone()),
        }
    }

    fn preflight(&self, origin: Option<HeaderValue>, req: &HeaderMap) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let headers = res.headers_mut();
        for name in [
            header::ORIGIN,
            header::ACCESS_CONTROL_REQUEST_METHOD,
            header::ACCESS_CONTROL_REQUEST_HEADERS,
        ] {
            headers.append(
                header::VARY,
                HeaderValue::from_str(name.as_str()).expect("a header name is a valid value"),
            );
        }
        let Some(allowed) = origin else {
            return res;
        };
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        let echo = |name: HeaderName| req.get(name).cloned();
        if let Some(methods) = self
            .methods
            .clone()
            .or_else(|| echo(header::ACCESS_CONTROL_REQUEST_METHOD))
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
        }
        if let Some(allowed) = self
            .headers
            .clone()
            .or_else(|| echo(header::ACCESS_CONTROL_REQUEST_HEADERS))
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        }
        if let Some(max_age) = &self.max_age {
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.clone());
        }
        self.common(headers);
        res
    }

    fn common(&self, headers: &mut HeaderMap) {
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}

impl Middleware for Cors {
    fn call(&self, req: Request, next: Next) -> impl Future<Output = Response> + Send + 'static {
        let config = Arc::clone(&self.config);
        async move {
            let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
                return next.run(req).await;
            };
            let allowed = config.allow_origin(&origin);
            let is_preflight = req.method() == Method::OPTIONS
                && req
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
            if is_preflight {
                return config.preflight(allowed, req.headers());
            }
            let mut res = next.run(req).await;
            let headers = res.headers_mut();
            headers.append(header::VARY, HeaderValue::from_static("origin"));
            if let Some(allowed) = allowed {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
                if let Some(expose) = &config.expose {
                    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
                }
                config.common(headers);
            }
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Router;
    use crate::routing::post;
    use crate::test::TestClient;

    fn client(cors: Cors) -> TestClient {
        TestClient::new(
            Router::new()
                .route("/", post(|| async { "posted" }))
                .layer(cors),
        )
    }

    #[test]
    fn preflight_for_a_route_without_options_is_answered_with_echoed_settings() {
        let res = client(Cors::permissive())
            .options("/")
            .header("origin", "https://a.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-token")
            .send();
        res.assert_status(204)
            .assert_header("access-control-allow-origin", "*")
            .assert_header("access-control-allow-methods", "POST")
            .assert_header("access-control-allow-headers", "x-token")
            .assert_no_header("access-control-allow-credentials");
        let vary: Vec<_> = res.headers().get_all("vary").iter().collect();
        assert_eq!(
            vary,
            [
                "origin",
                "access-control-request-method",
                "access-control-request-headers"
            ]
        );
    }

    #[test]
    fn credentials_echo_the_origin_instead_of_a_wildcard() {
        let res = client(
            Cors::permissive()
                .allow_credentials(true)
                .expose_headers(["x-total"]),
        )
        .post("/")
        .header("origin", "https://a.example")
        .send();
        res.assert_text("posted")
            .assert_header("access-control-allow-origin", "https://a.example")
            .assert_header("access-control-allow-credentials", "true")
            .assert_header("access-control-expose-headers", "x-total")
            .assert_header("vary", "origin");
    }

    #[test]
    fn unlisted_origins_and_plain_requests_get_no_cors_headers() {
        let cors = Cors::new()
            .allow_origin("https://a.example")
            .allow_origin("https://b.example");
        let client = client(cors);
        client
            .post("/")
            .header("origin", "https://b.example")
            .send()
            .assert_header("access-control-allow-origin", "https://b.example");
        client
            .options("/")
            .header("origin", "https://c.example")
            .header("access-control-request-method", "POST")
            .send()
            .assert_status(204)
            .assert_no_header("access-control-allow-origin")
            .assert_no_header("access-control-allow-methods");
        client
            .post("/")
            .send()
            .assert_text("posted")
            .assert_no_header("vary")
            .assert_no_header("access-control-allow-origin");
        // Without a CORS request method, OPTIONS is an ordinary request.
        client
            .options("/")
            .header("origin", "https://a.example")
            .send()
            .assert_header("allow", "POST, OPTIONS");
    }
}
