//! The `Router`: paths to method routers, with nesting, merging and
//! fallbacks.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use http::{Method, StatusCode};

use super::method::MethodRouter;
use super::params::{Names, PathParams, param_names};
use super::route::{CallFuture, Endpoint};
use crate::middleware::{Layer, Middleware, erase};
use crate::routing::handler::Handler;
use crate::vocab::response::plain_text;
use crate::vocab::service::Service;
use crate::vocab::{Request, Response};

/// Routes requests by path, then by method, to handlers.
///
/// Paths use [matchit] syntax: `/users/{id}` captures one segment,
/// `/files/{*path}` captures the rest of the path (at least one
/// character), and `{{` / `}}` are literal braces. A static segment beats a
/// parameter, which beats a catch-all, whatever the order of registration.
/// Captured values are read with [`Path`](crate::extract::Path).
///
/// A request whose path matches no route gets the [fallback](Self::fallback),
/// by default `404 Not Found` with the body `not found`. A path that matches
/// but whose method has no handler gets `405` (see [`MethodRouter`]).
/// `CONNECT` is the exception: it names a host to tunnel to, not a path
/// (`CONNECT example.com:443`), so it matches no route, and the fallback
/// never answers it: it gets `501 Not Implemented`. A route whose
/// [`any`](crate::routing::any) handler is at the path of an origin-form
/// `CONNECT /path` still gets that request.
///
/// `S` is the state the handlers need. [`with_state`](Self::with_state)
/// provides it and turns the router into a `Router<()>`, which is the only
/// kind that can be served: a missing state is a compile error, not a
/// runtime one.
///
/// [matchit]: https://docs.rs/matchit
///
/// # Examples
///
/// ```
/// use tramline::extract::Path;
/// use tramline::{Router, Body, Request};
/// use tramline::routing::{get, post};
///
/// let users = Router::new()
///     .route("/", get(|| async { "all users" }).post(|| async { "created" }))
///     .route("/{id}", get(|Path(id): Path<u32>| async move { format!("user {id}") }));
///
/// let app = Router::new()
///     .route("/", get(|| async { "home" }))
///     .nest("/users", users);
///
/// let text = |method: &str, uri: &str| {
///     let req = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
///     let res = futures_lite::future::block_on(app.handle(req));
///     let status = res.status().as_u16();
///     let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
///     (status, String::from_utf8(body.to_vec()).unwrap())
/// };
/// assert_eq!(text("GET", "/"), (200, "home".into()));
/// assert_eq!(text("GET", "/users"), (200, "all users".into()));
/// assert_eq!(text("POST", "/users"), (200, "created".into()));
/// assert_eq!(text("GET", "/users/7"), (200, "user 7".into()));
/// assert_eq!(text("GET", "/nope"), (404, "not found".into()));
/// assert_eq!(text("DELETE", "/"), (405, "method not allowed".into()));
/// ```
pub struct Router<S = ()> {
    /// Maps a path to its index in `routes`.
    matcher: matchit::Router<usize>,
    routes: Vec<RouteEntry<S>>,
    fallback: Option<Fallback<S>>,
    nested_fallbacks: NestedFallbacks<S>,
    /// Refuses a `CONNECT` no route takes, once a middleware wraps the
    /// router, so that answer passes through it too. `None` until then.
    connect: Option<Endpoint<S>>,
}

/// The handler for paths that match no route.
struct Fallback<S> {
    endpoint: Endpoint<S>,
    /// `false` for the default `404` that `layer` puts in place so that
    /// unmatched paths pass through middleware too.
    custom: bool,
}

async fn not_found() -> crate::vocab::Response {
    plain_text(StatusCode::NOT_FOUND, "not found")
}

/// RFC 9110 §9.3.6: CONNECT asks for a tunnel, and a 2xx answer turns the
/// connection into one, which the engine cannot do. A fallback answers the
/// paths no route has, not a method it never asked for, so a CONNECT no
/// route takes is refused. 501, because §15.6.2 gives it for a method the
/// server supports for no resource; 405 would need an `Allow` listing a
/// resource's methods, and an authority-form target names no resource.
fn connect_refused() -> crate::vocab::Response {
    plain_text(StatusCode::NOT_IMPLEMENTED, "CONNECT is not supported")
}

async fn connect_handler() -> crate::vocab::Response {
    connect_refused()
}

struct RouteEntry<S> {
    path: Box<str>,
    /// The parameter names of `path`, shared with every match.
    names: Arc<Names>,
    methods: MethodRouter<S>,
}

/// The fallbacks of nested routers, matched by their prefix.
struct NestedFallbacks<S> {
    /// Maps `prefix`, `prefix/` and `prefix/{*rest}` to an index in `entries`.
    matcher: matchit::Router<usize>,
    entries: Vec<(Box<str>, Fallback<S>)>,
}

impl<S> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    /// Creates a router with no routes: every request gets `404`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router, Body, Request};
    ///
    /// let app = Router::new();
    /// let res = futures_lite::future::block_on(app.handle(Request::get("/").body(Body::empty()).unwrap()));
    /// assert_eq!(res.status(), 404);
    /// ```
    pub fn new() -> Self {
        Self {
            matcher: matchit::Router::new(),
            routes: Vec::new(),
            fallback: None,
            nested_fallbacks: NestedFallbacks {
                matcher: matchit::Router::new(),
                entries: Vec::new(),
            },
            connect: None,
        }
    }

    /// Adds a route that dispatches `path` to `methods`.
    ///
    /// Routing a path that is already routed adds `methods` to its
    /// handlers, as long as no method gets two.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router};
    /// use tramline::routing::{get, post};
    ///
    /// let app: Router = Router::new()
    ///     .route("/users", get(|| async { "list" }))
    ///     .route("/users", post(|| async { "create" }))
    ///     .route("/users/{id}", get(|| async { "one" }));
    /// # let _ = app;
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if `path` does not start with `/`, is not valid route syntax,
    /// conflicts with an existing route (e.g. `/users/{name}` next to
    /// `/users/{id}`), or routes a method that the path already routes.
    ///
    /// ```should_panic
    /// # use tramline::{Router};
    /// # use tramline::routing::get;
    /// let app: Router = Router::new().route("/a", get(|| async {})).route("/a", get(|| async {}));
    /// ```
    #[track_caller]
    pub fn route(mut self, path: &str, mut methods: MethodRouter<S>) -> Self {
        // The route's own layers stay inside the router's.
        methods.enter_level();
        self.add_route(path, methods);
        self
    }

    /// Mounts `router`'s routes under `prefix`.
    ///
    /// A route `/x` of `router` answers at `{prefix}/x`, and its route `/`
    /// at `{prefix}` itself (not `{prefix}/`). `prefix` may hold parameters,
    /// which [`Path`](crate::extract::Path) sees alongside the nested
    /// route's own. If `router` has a fallback, it answers the requests
    /// under `prefix` that match no route.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router, Body, Request};
    /// use tramline::routing::get;
    ///
    /// let api = Router::new()
    ///     .route("/", get(|| async { "api root" }))
    ///     .route("/ping", get(|| async { "pong" }))
    ///     .fallback(|| async { (tramline::http::StatusCode::NOT_FOUND, "no such endpoint") });
    /// let app = Router::new().nest("/api", api);
    ///
    /// let text = |uri: &str| {
    ///     let res = futures_lite::future::block_on(app.handle(Request::get(uri).body(Body::empty()).unwrap()));
    ///     let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
    ///     String::from_utf8(body.to_vec()).unwrap()
    /// };
    /// assert_eq!(text("/api"), "api root");
    /// assert_eq!(text("/api/ping"), "pong");
    /// assert_eq!(text("/api/pong"), "no such endpoint");
    /// assert_eq!(text("/other"), "not found");
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if `prefix` does not start with `/` or ends with `/` (to mount
    /// at the root, use [`merge`](Self::merge)), or if a resulting route
    /// would panic in [`route`](Self::route).
    #[track_caller]
    pub fn nest(mut self, prefix: &str, router: Self) -> Self {
        assert!(
            prefix.starts_with('/'),
            "nest prefix must start with `/`, got {prefix:?}"
        );
        assert!(
            !prefix.ends_with('/'),
            "nest prefix must not end with `/`, got {prefix:?} (use `merge` to mount at the root)"
        );
        let router = router.enter_level();
        for entry in router.routes {
            let path = match &*entry.path {
                "/" => prefix.to_owned(),
                path => format!("{prefix}{path}"),
            };
            self.add_route(&path, entry.methods);
        }
        if let Some(fallback) = router.fallback {
            self.nested_fallbacks.add(prefix.to_owned(), fallback);
        }
        for (inner, fallback) in router.nested_fallbacks.entries {
            self.nested_fallbacks
                .add(format!("{prefix}{inner}"), fallback);
        }
        self
    }

    /// Adds all of `other`'s routes (and its fallback) to this router.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router, Body, Request};
    /// use tramline::routing::{get, post};
    ///
    /// let reads = Router::new().route("/items", get(|| async { "list" }));
    /// let writes = Router::new().route("/items", post(|| async { "add" }));
    /// let app = reads.merge(writes);
    /// let res = futures_lite::future::block_on(app.handle(Request::post("/items").body(Body::empty()).unwrap()));
    /// assert_eq!(res.status(), 200);
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if both routers have a fallback, or if one of `other`'s routes
    /// would panic in [`route`](Self::route).
    #[track_caller]
    pub fn merge(mut self, other: Self) -> Self {
        let other = other.enter_level();
        for entry in other.routes {
            self.add_route(&entry.path, entry.methods);
        }
        if let Some(fallback) = other.fallback {
            let mine = self.fallback.as_ref().is_some_and(|f| f.custom);
            assert!(
                !(mine && fallback.custom),
                "cannot merge two routers that both have a fallback"
            );
            if !mine {
                self.fallback = Some(fallback);
            }
        }
        for (prefix, fallback) in other.nested_fallbacks.entries {
            self.nested_fallbacks.add(prefix.into(), fallback);
        }
        if self.connect.is_none() {
            self.connect = other.connect;
        }
        self
    }

    /// Sets the handler for requests whose path matches no route, replacing
    /// the default `404 Not Found` (and any earlier fallback).
    ///
    /// The fallback sees every method but `CONNECT` (see the
    /// [`Router`] docs), and no path parameters.
    ///
    /// # Examples
    ///
    /// ```
    /// use http::{StatusCode, Uri};
    /// use tramline::{Router, Body, Request};
    ///
    /// let app = Router::new().fallback(|uri: Uri| async move {
    ///     (StatusCode::NOT_FOUND, format!("nothing at {uri}"))
    /// });
    /// let res = futures_lite::future::block_on(app.handle(Request::get("/x").body(Body::empty()).unwrap()));
    /// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
    /// assert_eq!(body, "nothing at /x");
    /// ```
    pub fn fallback<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.fallback = Some(Fallback {
            endpoint: Endpoint::new(handler),
            custom: true,
        });
        self
    }

    /// Wraps every route present now (with those of nested routers), the
    /// fallback, and the automatic `404`, `405` and `OPTIONS` answers in
    /// `middleware`.
    ///
    /// **Layers run in the order they are added**: the first is the
    /// outermost, so it sees the request first and the response last.
    /// Routes and fallbacks added after this call are not wrapped. A
    /// router's layers run outside those of the routes and nested routers it
    /// holds. See [the middleware module](crate::middleware).
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::middleware::{Next, from_fn};
    /// use tramline::routing::get;
    /// use tramline::test::TestClient;
    /// use tramline::{Request, Router};
    ///
    /// let tag = |name: &'static str| from_fn(move |req: Request, next: Next| async move {
    ///     let mut res = next.run(req).await;
    ///     res.headers_mut().append("x-order", tramline::http::HeaderValue::from_static(name));
    ///     res
    /// });
    /// let app = Router::new()
    ///     .route("/", get(|| async { "hi" }))
    ///     .layer(tag("outer"))
    ///     .layer(tag("inner"));
    ///
    /// let res = TestClient::new(app).get("/").send();
    /// // The inner layer sees the response first, so it appends first.
    /// let order: Vec<_> = res.headers().get_all("x-order").iter().collect();
    /// assert_eq!(order, ["inner", "outer"]);
    /// // Unmatched paths pass through the layers too.
    /// let res = TestClient::new(Router::new().layer(tag("seen"))).get("/nope").send();
    /// res.assert_status(404).assert_header("x-order", "seen");
    /// ```
    pub fn layer<M: Middleware>(mut self, middleware: M) -> Self {
        let layer = erase(middleware);
        self.routes = self
            .routes
            .into_iter()
            .map(|entry| RouteEntry {
                methods: entry.methods.layer_erased(&layer),
                ..entry
            })
            .collect();
        let fallback = self.fallback.take().unwrap_or_else(|| Fallback {
            endpoint: Endpoint::new(not_found),
            custom: false,
        });
        self.fallback = Some(fallback.layer(&layer));
        self.nested_fallbacks.entries = self
            .nested_fallbacks
            .entries
            .into_iter()
            .map(|(prefix, fallback)| (prefix, fallback.layer(&layer)))
            .collect();
        let connect = self
            .connect
            .take()
            .unwrap_or_else(|| Endpoint::new(connect_handler));
        self.connect = Some(connect.layer(&layer));
        self
    }

    /// Starts a new middleware level for everything in the router, as it
    /// moves into another one.
    fn enter_level(mut self) -> Self {
        for entry in &mut self.routes {
            entry.methods.enter_level();
        }
        let fallbacks = self.fallback.iter_mut();
        let nested = self.nested_fallbacks.entries.iter_mut().map(|(_, f)| f);
        for fallback in fallbacks.chain(nested) {
            fallback.endpoint.enter_level();
        }
        if let Some(connect) = &mut self.connect {
            connect.enter_level();
        }
        self
    }

    /// Gives every handler `state`, returning a router that needs a state
    /// of any type `S2` (usually `()`, to serve it).
    ///
    /// A router that still needs a state can only be nested in or merged
    /// with routers of the same state; give it its state first to combine it
    /// with routers of another.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::extract::State;
    /// use tramline::{Router, Body, Request};
    /// use tramline::routing::get;
    ///
    /// #[derive(Clone)]
    /// struct Config { name: &'static str }
    ///
    /// let app: Router = Router::new()
    ///     .route("/", get(|State(c): State<Config>| async move { c.name }))
    ///     .with_state(Config { name: "tramline" });
    /// let res = futures_lite::future::block_on(app.handle(Request::get("/").body(Body::empty()).unwrap()));
    /// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
    /// assert_eq!(body, "tramline");
    /// ```
    ///
    /// Forgetting the state is a compile error: only a `Router<()>` can
    /// answer requests.
    ///
    /// ```compile_fail
    /// # use tramline::extract::State;
    /// # use tramline::{Router, Body, Request};
    /// # use tramline::routing::get;
    /// let app = Router::new().route("/", get(|State(n): State<u32>| async move { n.to_string() }));
    /// let _ = app.handle(Request::get("/").body(Body::empty()).unwrap());
    /// ```
    pub fn with_state<S2>(self, state: S) -> Router<S2> {
        let routes = self
            .routes
            .into_iter()
            .map(|entry| RouteEntry {
                path: entry.path,
                names: entry.names,
                methods: entry.methods.with_state(&state),
            })
            .collect();
        let entries = self
            .nested_fallbacks
            .entries
            .into_iter()
            .map(|(prefix, fallback)| (prefix, fallback.with_state(&state)))
            .collect();
        Router {
            matcher: self.matcher,
            routes,
            fallback: self.fallback.map(|fallback| fallback.with_state(&state)),
            nested_fallbacks: NestedFallbacks {
                matcher: self.nested_fallbacks.matcher,
                entries,
            },
            connect: self.connect.map(|connect| connect.with_state(&state)),
        }
    }

    #[track_caller]
    fn add_route(&mut self, path: &str, methods: MethodRouter<S>) {
        assert!(
            path.starts_with('/'),
            "invalid route {path:?}: paths must start with `/`"
        );
        if let Some(entry) = self.routes.iter_mut().find(|e| &*e.path == path) {
            if let Err(method) = entry.methods.merge(methods) {
                match method {
                    "any" => {
                        panic!("overlapping method route: `{path}` already has an `any` handler")
                    }
                    method => {
                        panic!("overlapping method route: `{method} {path}` already has a handler")
                    }
                }
            }
            return;
        }
        if let Err(e) = self.matcher.insert(path, self.routes.len()) {
            panic!("{}", route_error(path, e));
        }
        self.routes.push(RouteEntry {
            path: path.into(),
            names: param_names(path),
            methods,
        });
    }

    /// Answers `req`; the one path match per request happens here.
    fn call_with_state(&self, mut req: Request, state: &S) -> CallFuture {
        let matched = match self.matcher.at(req.uri().path()) {
            // Only routes with parameters pay for storing them.
            // `MatchedPath` reads the pattern from the path itself, unless
            // the pattern escapes braces (`{{`), which the path does not.
            Ok(m) if m.params.is_empty() => {
                let entry = &self.routes[*m.value];
                if entry.names.has_escapes() {
                    req.extensions_mut()
                        .insert(Pattern(entry.names.pattern().into()));
                }
                Some(entry)
            }
            Ok(m) => {
                let entry = &self.routes[*m.value];
                // Stored straight from here: passing the parameters out of
                // the match costs a copy of them per step.
                let params = PathParams::new(&entry.names, &m.params, req.uri());
                drop(m);
                params.insert_into(req.extensions_mut());
                Some(entry)
            }
            Err(_) => None,
        };
        if let Some(entry) = matched {
            return entry.methods.call(req, state);
        }
        if req.method() == Method::CONNECT {
            return match &self.connect {
                Some(connect) => CallFuture::handler(connect.call(req, state)),
                None => CallFuture::ready(connect_refused()),
            };
        }
        // No route matched: `MatchedPath` must not take the path for one.
        req.extensions_mut().insert(Unmatched);
        let fallback = self
            .nested_fallbacks
            .at(req.uri().path(), self.fallback.as_ref())
            .or(self.fallback.as_ref().map(|f| &f.endpoint));
        match fallback {
            Some(fallback) => CallFuture::handler(fallback.call(req, state)),
            None => CallFuture::ready(plain_text(StatusCode::NOT_FOUND, "not found")),
        }
    }
}

impl Router<()> {
    /// Answers one request without a server: routes it, runs the handler
    /// and returns its response.
    ///
    /// This is what the server does for each request (minus what the HTTP
    /// engine adds: `Date`, `Content-Length`, and dropping the body of
    /// `HEAD` responses). Use it in tests and examples.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router, Body, Request};
    /// use tramline::routing::get;
    ///
    /// let app = Router::new().route("/", get(|| async { "hello" }));
    /// let res = futures_lite::future::block_on(app.handle(Request::get("/").body(Body::empty()).unwrap()));
    /// assert_eq!(res.status(), 200);
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the handler's future, cancelling it at its
    /// current `.await`.
    pub fn handle(&self, req: Request) -> impl Future<Output = Response> + Send + 'static + use<> {
        Service::call(self, req)
    }
}

impl Service for Router<()> {
    type Future = CallFuture;

    fn call(&self, req: Request) -> CallFuture {
        self.call_with_state(req, &())
    }
}

impl<S> Clone for Fallback<S> {
    fn clone(&self) -> Self {
        Self {
            endpoint: self.endpoint.clone(),
            custom: self.custom,
        }
    }
}

impl<S> Fallback<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn layer(self, layer: &Layer) -> Self {
        Self {
            endpoint: self.endpoint.layer(layer),
            custom: self.custom,
        }
    }

    fn with_state<S2>(self, state: &S) -> Fallback<S2> {
        Fallback {
            endpoint: self.endpoint.with_state(state),
            custom: self.custom,
        }
    }
}

impl<S> NestedFallbacks<S> {
    /// Answers unmatched paths under `prefix` with `fallback`. A default
    /// `404` (there only to pass through middleware) gives way to what is
    /// already at `prefix`; two custom fallbacks there are a conflict.
    #[track_caller]
    fn add(&mut self, prefix: String, fallback: Fallback<S>) {
        let patterns = [
            prefix.clone(),
            format!("{prefix}/"),
            format!("{prefix}/{{*__tramline_nested_rest}}"),
        ];
        if let Ok(m) = self.matcher.at(&patterns[1]) {
            if self.entries[*m.value].0.as_ref() == prefix {
                let existing = &mut self.entries[*m.value].1;
                if !fallback.custom {
                    return;
                }
                if !existing.custom {
                    *existing = fallback;
                    return;
                }
            }
        }
        let index = self.entries.len();
        for pattern in patterns {
            if let Err(e) = self.matcher.insert(pattern, index) {
                panic!("nested fallback at `{prefix}`: {}", route_error(&prefix, e));
            }
        }
        self.entries.push((prefix.into(), fallback));
    }

    /// The fallback for an unmatched `path`. A nested router's default
    /// `404` (there only to run that router's middleware) gives way to the
    /// nearest custom fallback around it: the one of an enclosing nested
    /// router, or `root`, the router's own, whenever either was set.
    fn at<'a>(&'a self, path: &str, root: Option<&'a Fallback<S>>) -> Option<&'a Endpoint<S>> {
        let m = self.matcher.at(path).ok()?;
        let (prefix, fallback) = &self.entries[*m.value];
        if fallback.custom {
            return Some(&fallback.endpoint);
        }
        let enclosing = self
            .entries
            .iter()
            .filter(|(outer, f)| {
                f.custom
                    && prefix.len() > outer.len()
                    && prefix.starts_with(&**outer)
                    && prefix.as_bytes()[outer.len()] == b'/'
            })
            .max_by_key(|(outer, _)| outer.len())
            .map(|(_, f)| f);
        let custom = enclosing.or(root.filter(|f| f.custom));
        Some(&custom.unwrap_or(fallback).endpoint)
    }
}

/// The mark on a request no route matched (it goes to a fallback).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unmatched;

/// The pattern of a matched route without parameters whose path differs
/// from it (it escapes braces).
#[derive(Debug, Clone)]
pub(crate) struct Pattern(pub(crate) Arc<str>);

/// Describes a route matchit refused, in tramline's words.
fn route_error(path: &str, error: matchit::InsertError) -> String {
    match error {
        matchit::InsertError::Conflict { with } => {
            format!("route `{path}` conflicts with the existing route `{with}`")
        }
        matchit::InsertError::InvalidParamSegment => {
            format!("invalid route `{path}`: only one parameter is allowed per path segment")
        }
        matchit::InsertError::InvalidParam => format!(
            "invalid route `{path}`: parameters are written `{{name}}` or `{{*name}}` with a non-empty name (write `{{{{` and `}}}}` for literal braces)"
        ),
        matchit::InsertError::InvalidCatchAll => {
            format!("invalid route `{path}`: a catch-all parameter must end the route")
        }
        other => format!("invalid route `{path}`: {other}"),
    }
}

impl<S> Default for Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Clone for Router<S> {
    fn clone(&self) -> Self {
        Self {
            matcher: self.matcher.clone(),
            routes: self
                .routes
                .iter()
                .map(|entry| RouteEntry {
                    path: entry.path.clone(),
                    names: Arc::clone(&entry.names),
                    methods: entry.methods.clone(),
                })
                .collect(),
            fallback: self.fallback.clone(),
            nested_fallbacks: NestedFallbacks {
                matcher: self.nested_fallbacks.matcher.clone(),
                entries: self.nested_fallbacks.entries.clone(),
            },
            connect: self.connect.clone(),
        }
    }
}

impl<S> fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field(
                "routes",
                &self
                    .routes
                    .iter()
                    .map(|entry| (&*entry.path, &entry.methods))
                    .collect::<Vec<_>>(),
            )
            .field("fallback", &self.fallback.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{FromRef, Path, State};
    use crate::routing::{any, get, post};
    use crate::vocab::Body;
    use futures_lite::future::block_on;
    use http::header;
    use http::{Method, Uri};
    use std::collections::HashMap;

    /// One request through `Service::call`, as the engine makes it.
    fn send(router: &Router, method: &str, uri: &str) -> (StatusCode, Option<String>, String) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::empty())
            .unwrap();
        let res = block_on(Service::call(router, req));
        let allow = res
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = res.status();
        let body = block_on(res.into_body().collect()).unwrap();
        (status, allow, String::from_utf8(body.to_vec()).unwrap())
    }

    /// `(method, uri, status, allow, body)`
    type Case = (
        &'static str,
        &'static str,
        u16,
        Option<&'static str>,
        &'static str,
    );

    fn run(router: &Router, cases: &[Case]) {
        for &(method, uri, status, allow, body) in cases {
            let want = (
                StatusCode::from_u16(status).unwrap(),
                allow.map(str::to_owned),
                body.to_owned(),
            );
            assert_eq!(send(router, method, uri), want, "{method} {uri}");
        }
    }

    fn text(s: &'static str) -> MethodRouter {
        get(move || async move { s })
    }

    async fn params(Path(p): Path<HashMap<String, String>>) -> String {
        let mut pairs: Vec<_> = p.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.sort();
        pairs.join("&")
    }

    #[test]
    fn static_beats_param_beats_catch_all() {
        let router = Router::new()
            .route("/", text("root"))
            .route("/users/me", text("static"))
            .route("/users/{id}", get(params))
            .route("/users/{id}/posts", get(params))
            .route("/{*rest}", get(params))
            .route("/img-{name}.png", get(params));
        run(
            &router,
            &[
                ("GET", "/", 200, None, "root"),
                ("GET", "/users/me", 200, None, "static"),
                ("GET", "/users/42", 200, None, "id=42"),
                ("GET", "/users/a%20b", 200, None, "id=a b"),
                ("GET", "/users/42/posts", 200, None, "id=42"),
                ("GET", "/users/42/other", 200, None, "rest=users/42/other"),
                ("GET", "/users", 200, None, "rest=users"),
                ("GET", "/users/", 200, None, "rest=users/"),
                ("GET", "/img-cat.png", 200, None, "name=cat"),
                ("GET", "/a/b/c?q=1", 200, None, "rest=a/b/c"),
            ],
        );
    }

    #[test]
    fn unmatched_paths_and_methods() {
        let router = Router::new()
            .route("/r", text("get").post(|| async { "post" }))
            .route("/w", post(|| async { "w" }))
            .route("/any", any(|m: Method| async move { m.to_string() }));
        let get_post = Some("GET, HEAD, POST, OPTIONS");
        run(
            &router,
            &[
                ("GET", "/missing", 404, None, "not found"),
                ("POST", "/missing", 404, None, "not found"),
                ("GET", "/r/", 404, None, "not found"),
                ("GET", "/R", 404, None, "not found"),
                ("HEAD", "/r", 200, None, "get"),
                ("POST", "/r", 200, None, "post"),
                ("PUT", "/r", 405, get_post, "method not allowed"),
                ("DELETE", "/r", 405, get_post, "method not allowed"),
                ("OPTIONS", "/r", 204, get_post, ""),
                (
                    "GET",
                    "/w",
                    405,
                    Some("POST, OPTIONS"),
                    "method not allowed",
                ),
                (
                    "HEAD",
                    "/w",
                    405,
                    Some("POST, OPTIONS"),
                    "method not allowed",
                ),
                ("OPTIONS", "/any", 200, None, "OPTIONS"),
                ("BREW", "/any", 200, None, "BREW"),
            ],
        );
        let req = Request::get("/missing").body(Body::empty()).unwrap();
        let res = block_on(router.handle(req));
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn routing_a_path_twice_merges_its_methods() {
        let router = Router::new()
            .route("/x", text("get"))
            .route("/x", post(|| async { "post" }));
        run(
            &router,
            &[
                ("GET", "/x", 200, None, "get"),
                ("POST", "/x", 200, None, "post"),
                (
                    "PUT",
                    "/x",
                    405,
                    Some("GET, HEAD, POST, OPTIONS"),
                    "method not allowed",
                ),
            ],
        );
    }

    #[test]
    fn nest_mounts_routes_under_a_prefix() {
        let inner = Router::new()
            .route("/", text("inner root"))
            .route("/leaf", text("leaf"))
            .route("/{id}", get(params));
        let router = Router::new()
            .route("/", text("outer root"))
            .nest("/api", inner.clone())
            .nest("/t/{tenant}", inner)
            .nest(
                "/deep",
                Router::new().nest("/er", Router::new().route("/x", text("deep"))),
            );
        run(
            &router,
            &[
                ("GET", "/", 200, None, "outer root"),
                ("GET", "/api", 200, None, "inner root"),
                ("GET", "/api/", 404, None, "not found"),
                ("GET", "/api/leaf", 200, None, "leaf"),
                ("GET", "/api/7", 200, None, "id=7"),
                ("GET", "/api/7/8", 404, None, "not found"),
                ("GET", "/t/acme/9", 200, None, "id=9&tenant=acme"),
                ("GET", "/t/acme", 200, None, "inner root"),
                ("GET", "/deep/er/x", 200, None, "deep"),
                ("GET", "/deep/er", 404, None, "not found"),
                ("GET", "/leaf", 404, None, "not found"),
            ],
        );
    }

    #[test]
    fn fallbacks_answer_unmatched_paths() {
        let api = Router::new()
            .route("/ping", text("pong"))
            .fallback(
                |uri: Uri| async move { (StatusCode::NOT_FOUND, format!("api has no {uri}")) },
            );
        let router = Router::new()
            .route("/", text("root"))
            .nest("/api", api)
            .fallback(|m: Method| async move { (StatusCode::IM_A_TEAPOT, format!("outer {m}")) });
        run(
            &router,
            &[
                ("GET", "/", 200, None, "root"),
                (
                    "POST",
                    "/",
                    405,
                    Some("GET, HEAD, OPTIONS"),
                    "method not allowed",
                ),
                ("GET", "/api/ping", 200, None, "pong"),
                ("GET", "/api/nope", 404, None, "api has no /api/nope"),
                ("GET", "/api/a/b", 404, None, "api has no /api/a/b"),
                ("GET", "/api", 404, None, "api has no /api"),
                ("GET", "/api/", 404, None, "api has no /api/"),
                ("GET", "/apix", 418, None, "outer GET"),
                ("DELETE", "/else", 418, None, "outer DELETE"),
            ],
        );
    }

    #[test]
    fn a_layered_nested_router_without_a_fallback_keeps_the_parents() {
        let noop = || {
            crate::middleware::from_fn(|req: Request, next: crate::middleware::Next| async move {
                next.run(req).await
            })
        };
        let api = Router::new().route("/ping", text("pong")).layer(noop());
        let own = Router::new()
            .route("/ping", text("pong"))
            .fallback(|| async { (StatusCode::NOT_FOUND, "own fallback") });
        // Nested twice: the closest custom fallback wins.
        let deep = Router::new()
            .nest("/b", api.clone())
            .fallback(|| async { (StatusCode::NOT_FOUND, "middle fallback") });
        let router = Router::new()
            .nest("/api", api)
            .nest("/own", own.layer(noop()))
            .nest("/a", deep)
            .fallback(|| async { (StatusCode::IM_A_TEAPOT, "outer fallback") });
        run(
            &router,
            &[
                ("GET", "/api/ping", 200, None, "pong"),
                ("GET", "/api/unknown", 418, None, "outer fallback"),
                ("GET", "/api", 418, None, "outer fallback"),
                ("GET", "/own/unknown", 404, None, "own fallback"),
                ("GET", "/a/b/unknown", 404, None, "middle fallback"),
                ("GET", "/a/unknown", 404, None, "middle fallback"),
                ("GET", "/elsewhere", 418, None, "outer fallback"),
            ],
        );
        // With no custom fallback anywhere, the built-in 404 answers.
        let plain = Router::new().nest(
            "/api",
            Router::new().route("/ping", text("pong")).layer(noop()),
        );
        run(&plain, &[("GET", "/api/unknown", 404, None, "not found")]);
    }

    #[test]
    fn connect_reaches_only_a_route_that_takes_it() {
        let api = Router::new().fallback(|| async { "api fallback" });
        let router = Router::new()
            .route(
                "/tunnel",
                any(|m: Method| async move { format!("any {m}") }),
            )
            .route("/", text("root"))
            .nest("/api", api)
            .fallback(|| async { "fallback" });
        run(
            &router,
            &[
                (
                    "CONNECT",
                    "example.com:443",
                    501,
                    None,
                    "CONNECT is not supported",
                ),
                ("CONNECT", "/nope", 501, None, "CONNECT is not supported"),
                ("CONNECT", "/api/x", 501, None, "CONNECT is not supported"),
                (
                    "CONNECT",
                    "/",
                    405,
                    Some("GET, HEAD, OPTIONS"),
                    "method not allowed",
                ),
                ("CONNECT", "/tunnel", 200, None, "any CONNECT"),
                ("GET", "/nope", 200, None, "fallback"),
                ("GET", "/api/x", 200, None, "api fallback"),
            ],
        );
    }

    #[test]
    fn a_refused_connect_passes_through_middleware() {
        let tag = |name: &'static str| {
            crate::middleware::from_fn(
                move |req: Request, next: crate::middleware::Next| async move {
                    let mut res = next.run(req).await;
                    res.headers_mut()
                        .append("x-seen", http::HeaderValue::from_static(name));
                    res
                },
            )
        };
        let inner = Router::new().route("/", text("root")).layer(tag("inner"));
        let router = Router::new().merge(inner).layer(tag("outer"));
        let req = Request::builder()
            .method(Method::CONNECT)
            .uri("example.com:443")
            .body(Body::empty())
            .unwrap();
        let res = block_on(router.handle(req));
        assert_eq!(res.status(), StatusCode::NOT_IMPLEMENTED);
        let seen: Vec<_> = res.headers().get_all("x-seen").iter().collect();
        assert_eq!(seen, ["inner", "outer"]);
    }

    #[test]
    fn merge_combines_routes_and_fallbacks() {
        let a = Router::new()
            .route("/a", text("a"))
            .route("/both", text("both get"));
        let b = Router::new()
            .route("/b", text("b"))
            .route("/both", post(|| async { "both post" }))
            .nest("/n", Router::new().fallback(|| async { "n fallback" }))
            .fallback(|| async { "b fallback" });
        let router = a.merge(b);
        run(
            &router,
            &[
                ("GET", "/a", 200, None, "a"),
                ("GET", "/b", 200, None, "b"),
                ("GET", "/both", 200, None, "both get"),
                ("POST", "/both", 200, None, "both post"),
                ("GET", "/n/x", 200, None, "n fallback"),
                ("GET", "/zzz", 200, None, "b fallback"),
            ],
        );
    }

    #[derive(Clone)]
    struct AppState {
        name: &'static str,
        db: Db,
    }

    #[derive(Clone)]
    struct Db(u32);

    impl FromRef<AppState> for Db {
        fn from_ref(state: &AppState) -> Self {
            state.db.clone()
        }
    }

    #[test]
    fn with_state_feeds_state_and_substate() {
        let users: Router<Db> = Router::new().route(
            "/count",
            get(|State(Db(n)): State<Db>| async move { n.to_string() }),
        );
        let router = Router::new()
            .route("/", get(|State(s): State<AppState>| async move { s.name }))
            .route(
                "/db",
                get(|State(Db(n)): State<Db>| async move { format!("db {n}") }),
            )
            .fallback(|State(s): State<AppState>| async move { format!("{} fallback", s.name) })
            .nest("/users", users.with_state(Db(7)))
            .with_state(AppState {
                name: "app",
                db: Db(3),
            });
        run(
            &router,
            &[
                ("GET", "/", 200, None, "app"),
                ("GET", "/db", 200, None, "db 3"),
                ("GET", "/users/count", 200, None, "7"),
                ("GET", "/nothing", 200, None, "app fallback"),
            ],
        );
    }

    #[test]
    fn routes_without_params_store_none() {
        let router = Router::new().route(
            "/plain",
            get(|req: Request| async move {
                req.extensions().get::<PathParams>().is_none().to_string()
            }),
        );
        run(&router, &[("GET", "/plain", 200, None, "true")]);
    }

    #[test]
    fn bad_path_params_are_rejected_at_extraction() {
        let router = Router::new()
            .route(
                "/n/{id}",
                get(|Path(id): Path<u32>| async move { id.to_string() }),
            )
            .route(
                "/s/{name}",
                get(|Path(name): Path<String>| async move { name }),
            )
            .route("/ignored/{name}", text("not extracted"));
        run(
            &router,
            &[
                ("GET", "/n/12", 200, None, "12"),
                (
                    "GET",
                    "/n/x",
                    400,
                    None,
                    r#"invalid path parameter 'id': expected an unsigned integer, got "x""#,
                ),
                (
                    "GET",
                    "/s/%zz",
                    400,
                    None,
                    "invalid percent-encoding in path parameter 'name'",
                ),
                (
                    "GET",
                    "/s/%C3%28",
                    400,
                    None,
                    "path parameter 'name' is not valid UTF-8 once percent-decoded",
                ),
                ("GET", "/ignored/%zz", 200, None, "not extracted"),
            ],
        );
    }

    #[test]
    fn handle_matches_service_call() {
        let router = Router::new().route("/", text("same"));
        let req = Request::get("/").body(Body::empty()).unwrap();
        let res = block_on(router.handle(req));
        let body = block_on(res.into_body().collect()).unwrap();
        assert_eq!(body, "same");
        assert_eq!(send(&router, "GET", "/").2, "same");
    }

    fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let err = std::panic::catch_unwind(f).unwrap_err();
        err.downcast_ref::<String>()
            .cloned()
            .or_else(|| err.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap()
    }

    #[test]
    fn invalid_routes_panic_with_a_clear_message() {
        let cases: [(&str, fn()); 9] = [
            ("invalid route \"users\": paths must start with `/`", || {
                let _ = Router::<()>::new().route("users", text("x"));
            }),
            (
                "route `/u/{name}` conflicts with the existing route `/u/{id}`",
                || {
                    let _ = Router::<()>::new()
                        .route("/u/{id}", text("x"))
                        .route("/u/{name}", text("y"));
                },
            ),
            (
                "invalid route `/a/{x}{y}`: only one parameter is allowed per path segment",
                || {
                    let _ = Router::<()>::new().route("/a/{x}{y}", text("x"));
                },
            ),
            (
                "invalid route `/a/{}`: parameters are written `{name}` or `{*name}` with a non-empty name (write `{{` and `}}` for literal braces)",
                || {
                    let _ = Router::<()>::new().route("/a/{}", text("x"));
                },
            ),
            (
                "invalid route `/a/{*x}/b`: a catch-all parameter must end the route",
                || {
                    let _ = Router::<()>::new().route("/a/{*x}/b", text("x"));
                },
            ),
            (
                "overlapping method route: `GET /a` already has a handler",
                || {
                    let _ = Router::<()>::new()
                        .route("/a", text("x"))
                        .route("/a", text("y"));
                },
            ),
            (
                "overlapping method route: `/a` already has an `any` handler",
                || {
                    let _ = Router::<()>::new()
                        .route("/a", any(|| async {}))
                        .route("/a", any(|| async {}));
                },
            ),
            (
                "nest prefix must not end with `/`, got \"/api/\" (use `merge` to mount at the root)",
                || {
                    let _ = Router::<()>::new().nest("/api/", Router::<()>::new());
                },
            ),
            ("cannot merge two routers that both have a fallback", || {
                let _ = Router::<()>::new()
                    .fallback(|| async {})
                    .merge(Router::<()>::new().fallback(|| async {}));
            }),
        ];
        for (want, f) in cases {
            assert_eq!(panic_message(f), want);
        }
    }

    #[test]
    #[should_panic(expected = "nest prefix must start with `/`")]
    fn nest_prefix_without_slash_panics() {
        let _ = Router::<()>::new().nest("api", Router::new());
    }

    #[test]
    fn arbitrary_paths_never_panic() {
        let router = Router::new()
            .route("/", text("root"))
            .route(
                "/{a}",
                get(|Path(a): Path<u32>| async move { a.to_string() }),
            )
            .route(
                "/{a}/{*rest}",
                get(|Path((a, rest)): Path<(String, String)>| async move { a + &rest }),
            )
            .nest(
                "/n",
                Router::new()
                    .route("/{x}", get(params))
                    .fallback(|| async { "nf" }),
            );
        let pieces = [
            "/", "%", "a", "7", "n", "%2F", "%ff", "%e2%9c", "{", "é", "+",
        ];
        let mut paths = vec![String::from("/")];
        let mut last = paths.clone();
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|p| pieces.iter().map(move |piece| format!("{p}{piece}")))
                .collect();
            paths.extend(last.iter().cloned());
        }
        let mut routed = 0;
        for path in paths {
            // Paths the engine could never hand over are not interesting.
            let Ok(req) = Request::get(path.as_str()).body(Body::empty()) else {
                continue;
            };
            let status = block_on(Service::call(&router, req)).status();
            assert!(
                [200, 400, 404].contains(&status.as_u16()),
                "{path}: {status}"
            );
            routed += 1;
        }
        assert!(routed > 10_000, "only {routed} paths were valid URIs");
    }

    #[test]
    fn router_and_future_are_send_sync_static() {
        fn assert_bounds<T: Send + Sync + 'static>() {}
        fn assert_send_static<T: Send + 'static>(_: &T) {}
        assert_bounds::<Router>();
        let router = Router::new();
        let future = router.handle(Request::new(Body::empty()));
        assert_send_static(&future);
    }
}
