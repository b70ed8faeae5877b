//! Method routing: which handler of a path answers which method.

use std::fmt;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::route::{CallFuture, Endpoint};
use crate::middleware::{Layer, Middleware, erase};
use crate::routing::handler::Handler;
use crate::vocab::response::plain_text;
use crate::vocab::{Body, Request, Response};

const GET: usize = 0;
const HEAD: usize = 1;
const OPTIONS: usize = 6;
/// The methods with their own slot, in the order `Allow` lists them.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// Returns the slot of `method`, if it has one.
fn slot(method: &Method) -> Option<usize> {
    METHODS.iter().position(|m| m == method)
}

/// The handlers of one path, by method.
///
/// Build one with [`get`], [`post`], ... [`any`] and chain more methods
/// with the methods of the same names, then give it to
/// [`Router::route`](crate::Router::route). A request is answered by:
///
/// 1. the handler of its method;
/// 2. for `HEAD`, the `GET` handler (the engine drops the body);
/// 3. the [`any`] handler;
/// 4. for `OPTIONS`, an automatic `204 No Content` with `Allow`;
/// 5. otherwise `405 Method Not Allowed` with `Allow` listing the methods
///    that would be answered (`HEAD` whenever `GET` is, and always
///    `OPTIONS`), e.g. `Allow: GET, HEAD, OPTIONS`.
///
/// # Examples
///
/// ```
/// use tramline::{Router, Body, Request};
/// use tramline::routing::get;
///
/// let app = Router::new().route("/", get(|| async { "read" }).post(|| async { "write" }));
/// let res = futures_lite::future::block_on(app.handle(Request::delete("/").body(Body::empty()).unwrap()));
/// assert_eq!(res.status(), 405);
/// assert_eq!(res.headers()["allow"], "GET, HEAD, POST, OPTIONS");
/// ```
pub struct MethodRouter<S = ()> {
    slots: [Option<Endpoint<S>>; METHODS.len()],
    any: Option<Endpoint<S>>,
    /// Answers what no handler does (405, automatic `OPTIONS`) once a
    /// middleware wraps the route, so those answers pass through it too.
    /// `None` until then: the answers are made inline, with no allocation.
    auto: Option<Endpoint<S>>,
    /// INVARIANT: lists the methods `slots` answers, as `call` decides.
    allow: HeaderValue,
}

/// The `Allow` value handed to the `auto` endpoint with the request.
#[derive(Clone)]
struct Allowed(HeaderValue);

/// The answer for a method no handler takes: `204` with `Allow` for
/// `OPTIONS`, else `405` with `Allow`.
fn auto_response(method: &Method, allow: HeaderValue) -> Response {
    let mut res = if method == Method::OPTIONS {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        res
    } else {
        plain_text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
    };
    res.headers_mut().insert(header::ALLOW, allow);
    res
}

async fn auto_handler(req: Request) -> Response {
    let allow = req.extensions().get::<Allowed>().map_or_else(
        || HeaderValue::from_static("OPTIONS"),
        |allowed| allowed.0.clone(),
    );
    auto_response(req.method(), allow)
}

macro_rules! method_fns {
    ($($fn:ident => $slot:literal, $name:literal;)*) => {
        $(
            #[doc = concat!("Creates a [`MethodRouter`] that routes `", $name, "` requests to `handler`.")]
            ///
            /// # Examples
            ///
            /// ```
            /// use tramline::{Router, Body, Request};
            #[doc = concat!("use tramline::routing::", stringify!($fn), ";")]
            ///
            #[doc = concat!("let app = Router::new().route(\"/\", ", stringify!($fn), "(|| async { \"hi\" }));")]
            #[doc = concat!("let req = Request::builder().method(\"", $name, "\").uri(\"/\").body(Body::empty()).unwrap();")]
            /// let res = futures_lite::future::block_on(app.handle(req));
            /// assert_eq!(res.status(), 200);
            /// ```
            pub fn $fn<H, T, S>(handler: H) -> MethodRouter<S>
            where
                H: Handler<T, S>,
                T: 'static,
                S: Clone + Send + Sync + 'static,
            {
                MethodRouter::new().$fn(handler)
            }
        )*

        impl<S> MethodRouter<S>
        where
            S: Clone + Send + Sync + 'static,
        {
            $(
                #[doc = concat!("Routes `", $name, "` requests to `handler` as well.")]
                ///
                /// # Examples
                ///
                /// ```
                /// use tramline::{Router, Body, Request};
                /// use tramline::routing::any;
                ///
                #[doc = concat!("let methods = any(|| async { \"other\" }).", stringify!($fn), "(|| async { \"", $name, "\" });")]
                /// let app = Router::new().route("/", methods);
                #[doc = concat!("let req = Request::builder().method(\"", $name, "\").uri(\"/\").body(Body::empty()).unwrap();")]
                /// let res = futures_lite::future::block_on(app.handle(req));
                /// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
                #[doc = concat!("assert_eq!(body, \"", $name, "\");")]
                /// ```
                ///
                /// # Panics
                ///
                #[doc = concat!("Panics if a `", $name, "` handler is already set.")]
                #[track_caller]
                pub fn $fn<H, T>(self, handler: H) -> Self
                where
                    H: Handler<T, S>,
                    T: 'static,
                {
                    self.on($slot, Endpoint::new(handler))
                }
            )*
        }
    };
}

method_fns! {
    get => 0, "GET";
    head => 1, "HEAD";
    post => 2, "POST";
    put => 3, "PUT";
    patch => 4, "PATCH";
    delete => 5, "DELETE";
    options => 6, "OPTIONS";
}

/// Creates a [`MethodRouter`] that routes requests of every method to
/// `handler`, including methods without their own function (`TRACE`,
/// `CONNECT`, extensions).
///
/// Handlers for specific methods, chained before or after, take precedence.
///
/// A `CONNECT` reaches it only with an origin-form target at this path
/// (`CONNECT /path`); the usual `CONNECT host:port` names no path, matches
/// no route, and is answered `501` (see [`Router`](crate::Router)).
///
/// # Examples
///
/// ```
/// use tramline::http::Method;
/// use tramline::{Router, Body, Request};
/// use tramline::routing::any;
///
/// let app = Router::new().route("/", any(|m: Method| async move { m.to_string() }).get(|| async { "get" }));
/// let text = |method: &str| {
///     let req = Request::builder().method(method).uri("/").body(Body::empty()).unwrap();
///     let res = futures_lite::future::block_on(app.handle(req));
///     let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
///     String::from_utf8(body.to_vec()).unwrap()
/// };
/// assert_eq!(text("GET"), "get");
/// assert_eq!(text("PURGE"), "PURGE");
/// ```
pub fn any<H, T, S>(handler: H) -> MethodRouter<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    MethodRouter::new().any(handler)
}

impl<S> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    /// Creates a method router with no handlers: every method but
    /// `OPTIONS` is answered with `405`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::routing::MethodRouter;
    ///
    /// let methods: MethodRouter = MethodRouter::new().get(|| async { "hi" });
    /// # let _ = methods;
    /// ```
    pub fn new() -> Self {
        Self {
            slots: Default::default(),
            any: None,
            auto: None,
            allow: HeaderValue::from_static("OPTIONS"),
        }
    }

    /// Wraps the handlers this route holds now (and its automatic `405` and
    /// `OPTIONS` answers) in `middleware`.
    ///
    /// Layers run in the order they are added, the first outermost; a
    /// router's layers run outside them. Handlers chained after this call
    /// are not wrapped. See [the middleware module](crate::middleware).
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::http::StatusCode;
    /// use tramline::middleware::{Next, from_fn};
    /// use tramline::routing::get;
    /// use tramline::test::TestClient;
    /// use tramline::{Request, Router};
    ///
    /// let admin_only = from_fn(async |req: Request, next: Next| {
    ///     if req.headers().contains_key("x-admin") {
    ///         Ok(next.run(req).await)
    ///     } else {
    ///         Err(StatusCode::FORBIDDEN)
    ///     }
    /// });
    /// let app = Router::new()
    ///     .route("/", get(|| async { "public" }))
    ///     .route("/admin", get(|| async { "secret" }).layer(admin_only));
    ///
    /// let client = TestClient::new(app);
    /// client.get("/").send().assert_status(200);
    /// client.get("/admin").send().assert_status(403);
    /// client.get("/admin").header("x-admin", "1").send().assert_text("secret");
    /// ```
    pub fn layer<M: Middleware>(self, middleware: M) -> Self {
        self.layer_erased(&erase(middleware))
    }

    pub(crate) fn layer_erased(self, layer: &Layer) -> Self {
        let auto = self.auto.unwrap_or_else(|| Endpoint::new(auto_handler));
        Self {
            slots: self.slots.map(|slot| slot.map(|e| e.layer(layer))),
            any: self.any.map(|e| e.layer(layer)),
            auto: Some(auto.layer(layer)),
            allow: self.allow,
        }
    }

    /// Starts a new middleware level: layers added from now on go outside
    /// the present ones.
    pub(crate) fn enter_level(&mut self) {
        for endpoint in self.endpoints_mut() {
            endpoint.enter_level();
        }
    }

    fn endpoints_mut(&mut self) -> impl Iterator<Item = &mut Endpoint<S>> {
        self.slots
            .iter_mut()
            .chain([&mut self.any, &mut self.auto])
            .flatten()
    }

    /// Routes requests of every method not otherwise handled to `handler`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::{Router, Body, Request};
    /// use tramline::routing::get;
    ///
    /// let app = Router::new().route("/", get(|| async { "get" }).any(|| async { "other" }));
    /// let req = Request::put("/").body(Body::empty()).unwrap();
    /// let res = futures_lite::future::block_on(app.handle(req));
    /// let body = futures_lite::future::block_on(res.into_body().collect()).unwrap();
    /// assert_eq!(body, "other");
    /// ```
    ///
    /// # Panics
    ///
    /// Panics if an `any` handler is already set.
    #[track_caller]
    pub fn any<H, T>(mut self, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        assert!(
            self.any.is_none(),
            "overlapping method route: an `any` handler is already set"
        );
        self.any = Some(Endpoint::new(handler));
        self
    }

    #[track_caller]
    fn on(mut self, slot: usize, endpoint: Endpoint<S>) -> Self {
        let taken = &mut self.slots[slot];
        assert!(
            taken.is_none(),
            "overlapping method route: a `{}` handler is already set",
            METHODS[slot]
        );
        *taken = Some(endpoint);
        self.allow = self.compute_allow();
        self
    }

    /// Moves `other`'s handlers into `self`.
    ///
    /// # Errors
    ///
    /// Returns the name of a method (or `any`) that both handle; `self` is
    /// then unchanged.
    pub(crate) fn merge(&mut self, other: Self) -> Result<(), &'static str> {
        for (index, (mine, theirs)) in self.slots.iter().zip(&other.slots).enumerate() {
            if mine.is_some() && theirs.is_some() {
                return Err(METHODS[index].as_str());
            }
        }
        if self.any.is_some() && other.any.is_some() {
            return Err("any");
        }
        for (mine, theirs) in self.slots.iter_mut().zip(other.slots) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        if other.any.is_some() {
            self.any = other.any;
        }
        if self.auto.is_none() {
            self.auto = other.auto;
        }
        self.allow = self.compute_allow();
        Ok(())
    }

    fn compute_allow(&self) -> HeaderValue {
        let mut allow = String::new();
        for (index, method) in METHODS.iter().enumerate() {
            let answered = self.slots[index].is_some()
                || (index == HEAD && self.slots[GET].is_some())
                || index == OPTIONS;
            if answered {
                if !allow.is_empty() {
                    allow.push_str(", ");
                }
                allow.push_str(method.as_str());
            }
        }
        HeaderValue::from_str(&allow).expect("method names are valid header values")
    }

    /// Answers `req`, whose path matched this router's.
    #[inline]
    pub(crate) fn call(&self, req: Request, state: &S) -> CallFuture {
        let slot = slot(req.method());
        let endpoint = slot
            .and_then(|i| self.slots[i].as_ref())
            .or_else(|| match slot {
                Some(HEAD) => self.slots[GET].as_ref(),
                _ => None,
            })
            .or(self.any.as_ref());
        if let Some(endpoint) = endpoint {
            return CallFuture::handler(endpoint.call(req, state));
        }
        match &self.auto {
            Some(auto) => {
                let mut req = req;
                req.extensions_mut().insert(Allowed(self.allow.clone()));
                CallFuture::handler(auto.call(req, state))
            }
            None => CallFuture::ready(auto_response(req.method(), self.allow.clone())),
        }
    }

    /// Gives every handler `state`.
    pub(crate) fn with_state<S2>(self, state: &S) -> MethodRouter<S2> {
        MethodRouter {
            slots: self.slots.map(|slot| slot.map(|e| e.with_state(state))),
            any: self.any.map(|e| e.with_state(state)),
            auto: self.auto.map(|e| e.with_state(state)),
            allow: self.allow,
        }
    }
}

impl<S> Default for MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Clone for MethodRouter<S> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots.clone(),
            any: self.any.clone(),
            auto: self.auto.clone(),
            allow: self.allow.clone(),
        }
    }
}

impl<S> fmt::Debug for MethodRouter<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let methods = METHODS.iter().zip(&self.slots).filter(|(_, e)| e.is_some());
        f.debug_struct("MethodRouter")
            .field(
                "methods",
                &methods.map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
            )
            .field("any", &self.any.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn call(methods: &MethodRouter, method: &str) -> (StatusCode, Option<String>, String) {
        let req = Request::builder()
            .method(method)
            .uri("/")
            .body(Body::empty())
            .unwrap();
        let res = block_on(methods.call(req, &()));
        let allow = res
            .headers()
            .get(header::ALLOW)
            .map(|v| v.to_str().unwrap().to_owned());
        let status = res.status();
        let body = block_on(res.into_body().collect()).unwrap();
        (status, allow, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn echo(method: Method) -> String {
        method.to_string()
    }

    #[test]
    fn method_dispatch_table() {
        type Case = (&'static str, StatusCode, Option<&'static str>, &'static str);
        let tables: Vec<(&str, MethodRouter, Vec<Case>)> = vec![
            (
                "get only",
                get(echo),
                vec![
                    ("GET", StatusCode::OK, None, "GET"),
                    ("HEAD", StatusCode::OK, None, "HEAD"),
                    (
                        "OPTIONS",
                        StatusCode::NO_CONTENT,
                        Some("GET, HEAD, OPTIONS"),
                        "",
                    ),
                    (
                        "POST",
                        StatusCode::METHOD_NOT_ALLOWED,
                        Some("GET, HEAD, OPTIONS"),
                        "method not allowed",
                    ),
                    (
                        "TRACE",
                        StatusCode::METHOD_NOT_ALLOWED,
                        Some("GET, HEAD, OPTIONS"),
                        "method not allowed",
                    ),
                ],
            ),
            (
                "explicit head beats get",
                get(echo).head(|| async { "head" }),
                vec![("HEAD", StatusCode::OK, None, "head")],
            ),
            (
                "post put delete",
                post(echo).put(echo).delete(echo).patch(echo),
                vec![
                    ("DELETE", StatusCode::OK, None, "DELETE"),
                    ("PATCH", StatusCode::OK, None, "PATCH"),
                    (
                        "HEAD",
                        StatusCode::METHOD_NOT_ALLOWED,
                        Some("POST, PUT, PATCH, DELETE, OPTIONS"),
                        "method not allowed",
                    ),
                    (
                        "GET",
                        StatusCode::METHOD_NOT_ALLOWED,
                        Some("POST, PUT, PATCH, DELETE, OPTIONS"),
                        "method not allowed",
                    ),
                ],
            ),
            (
                "explicit options",
                options(|| async { "opts" }).head(echo),
                vec![
                    ("OPTIONS", StatusCode::OK, None, "opts"),
                    (
                        "GET",
                        StatusCode::METHOD_NOT_ALLOWED,
                        Some("HEAD, OPTIONS"),
                        "method not allowed",
                    ),
                ],
            ),
            (
                "any takes every method, specific ones first",
                any(|| async { "any" }).get(echo),
                vec![
                    ("GET", StatusCode::OK, None, "GET"),
                    ("HEAD", StatusCode::OK, None, "HEAD"),
                    ("OPTIONS", StatusCode::OK, None, "any"),
                    ("POST", StatusCode::OK, None, "any"),
                    ("PURGE", StatusCode::OK, None, "any"),
                ],
            ),
            (
                "empty",
                MethodRouter::new(),
                vec![
                    ("OPTIONS", StatusCode::NO_CONTENT, Some("OPTIONS"), ""),
                    (
                        "GET",
                        StatusCode::METHOD_NOT_ALLOWED,
                        Some("OPTIONS"),
                        "method not allowed",
                    ),
                ],
            ),
        ];
        for (name, methods, cases) in tables {
            for (method, status, allow, body) in cases {
                let got = call(&methods, method);
                let want = (status, allow.map(str::to_owned), body.to_owned());
                assert_eq!(got, want, "{name}: {method}");
            }
        }
    }

    #[test]
    fn method_not_allowed_is_plain_text() {
        let req = Request::post("/").body(Body::empty()).unwrap();
        let res = block_on(get(echo).call(req, &()));
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    #[should_panic(expected = "overlapping method route: a `GET` handler is already set")]
    fn chaining_the_same_method_twice_panics() {
        let _: MethodRouter = get(echo).post(echo).get(echo);
    }

    #[test]
    #[should_panic(expected = "overlapping method route: an `any` handler is already set")]
    fn chaining_any_twice_panics() {
        let _: MethodRouter = any(echo).any(echo);
    }

    #[test]
    fn merge_joins_disjoint_methods_and_refuses_overlap() {
        let mut methods = get(echo);
        methods.merge(post(echo)).unwrap();
        assert_eq!(call(&methods, "POST").0, StatusCode::OK);
        assert_eq!(
            call(&methods, "PUT").1.as_deref(),
            Some("GET, HEAD, POST, OPTIONS")
        );

        assert_eq!(methods.merge(put(echo).post(echo)), Err("POST"));
        assert_eq!(
            call(&methods, "PUT").0,
            StatusCode::METHOD_NOT_ALLOWED,
            "a failed merge changes nothing"
        );
        methods.merge(any(echo)).unwrap();
        assert_eq!(methods.merge(any(echo)), Err("any"));
    }
}
