//! Testing apps without sockets or a runtime.
//!
//! [`TestClient`] sends requests to a [`Router`] in memory. Called from
//! plain `#[test]` functions it blocks on a small runtime-neutral executor;
//! inside async code, `.await` the request instead of calling
//! [`send`](TestRequest::send).
//!
//! It has two modes:
//!
//! - [`TestClient::new`] hands each request straight to the router, as the
//!   server does after parsing: fast, and enough for handlers, extractors
//!   and middleware.
//! - [`TestClient::with_engine`] writes each request as HTTP/1.1 bytes
//!   through tramline's real HTTP/1.1 engine over an in-memory duplex
//!   stream and parses the bytes that come back, so tests cover parsing,
//!   framing and the headers the engine adds (`date`, `content-length`).
//!   [`TestClient::raw`] sends hand-written bytes the same way.
//!
//! In both modes [`ConnectInfo`](crate::extract::ConnectInfo) sees the peer
//! `127.0.0.1:0`, and a panicking handler answers `500 Internal Server
//! Error`, as it would on a server.
//!
//! For tests that talk to a real server over a socket, [`ResponseParser`]
//! reads HTTP/1.1 responses from the bytes received so far (the engine
//! mode above parses with it too).
//!
//! # Examples
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tramline::extract::Path;
//! use tramline::routing::{get, post};
//! use tramline::test::TestClient;
//! use tramline::{Json, Router};
//!
//! #[derive(Serialize, Deserialize, PartialEq, Debug)]
//! struct Note { text: String }
//!
//! let app = Router::new()
//!     .route("/notes/{id}", get(|Path(id): Path<u32>| async move { format!("note {id}") }))
//!     .route("/notes", post(|Json(note): Json<Note>| async move { Json(note) }));
//! let client = TestClient::new(app);
//!
//! client.get("/notes/7").send().assert_status(200).assert_text("note 7");
//!
//! let note = Note { text: "hi".into() };
//! let res = client.post("/notes").json(&note).send();
//! res.assert_status(200).assert_json(&note);
//! assert_eq!(res.json::<Note>(), note);
//!
//! client
//!     .get("/notes/x")
//!     .send()
//!     .assert_status(400)
//!     .assert_text(r#"invalid path parameter 'id': expected an unsigned integer, got "x""#);
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_lite::FutureExt;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::vocab::response::plain_text;
use crate::vocab::service::Service;
use crate::{
    Router,
    vocab::{Body, Request},
};

mod response;
mod wire;

pub use response::{InvalidResponse, ParsedResponse, ResponseFrame, ResponseParser};

/// The peer address handlers see in tests.
const PEER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// Sends requests to an app in memory; see [the module docs](self).
///
/// Cloning is cheap and shares the app.
#[derive(Clone)]
pub struct TestClient {
    app: Arc<Router>,
    engine: bool,
}

impl TestClient {
    /// Creates a client that hands requests straight to `app`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::Router;
    /// use tramline::routing::get;
    /// use tramline::test::TestClient;
    ///
    /// let client = TestClient::new(Router::new().route("/", get(|| async { "hi" })));
    /// assert_eq!(client.get("/").send().text(), "hi");
    /// ```
    pub fn new(app: Router) -> Self {
        Self {
            app: Arc::new(app),
            engine: false,
        }
    }

    /// Creates a client that sends every request through tramline's
    /// HTTP/1.1 engine, as bytes over an in-memory stream, one connection
    /// per request.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::Router;
    /// use tramline::routing::get;
    /// use tramline::test::TestClient;
    ///
    /// let client = TestClient::with_engine(Router::new().route("/", get(|| async { "hi" })));
    /// let res = client.get("/").send();
    /// res.assert_status(200).assert_header("content-length", "2");
    /// assert!(res.headers().contains_key("date"));
    /// // HEAD gets the GET handler's head, and no body.
    /// client.head("/").send().assert_header("content-length", "2").assert_text("");
    /// ```
    pub fn with_engine(app: Router) -> Self {
        Self {
            app: Arc::new(app),
            engine: true,
        }
    }

    /// Starts a request with `method` to `uri` (a path with an optional
    /// query, such as `/items?page=2`).
    pub fn request(&self, method: Method, uri: &str) -> TestRequest {
        TestRequest {
            client: self.clone(),
            method,
            uri: uri.to_owned(),
            headers: HeaderMap::new(),
            body: Body::empty(),
        }
    }

    /// Starts a `GET` request to `uri`.
    pub fn get(&self, uri: &str) -> TestRequest {
        self.request(Method::GET, uri)
    }

    /// Starts a `POST` request to `uri`.
    pub fn post(&self, uri: &str) -> TestRequest {
        self.request(Method::POST, uri)
    }

    /// Starts a `PUT` request to `uri`.
    pub fn put(&self, uri: &str) -> TestRequest {
        self.request(Method::PUT, uri)
    }

    /// Starts a `PATCH` request to `uri`.
    pub fn patch(&self, uri: &str) -> TestRequest {
        self.request(Method::PATCH, uri)
    }

    /// Starts a `DELETE` request to `uri`.
    pub fn delete(&self, uri: &str) -> TestRequest {
        self.request(Method::DELETE, uri)
    }

    /// Starts a `HEAD` request to `uri`.
    pub fn head(&self, uri: &str) -> TestRequest {
        self.request(Method::HEAD, uri)
    }

    /// Starts an `OPTIONS` request to `uri`.
    pub fn options(&self, uri: &str) -> TestRequest {
        self.request(Method::OPTIONS, uri)
    }

    /// Writes `bytes` to the HTTP/1.1 engine on a fresh in-memory
    /// connection, closes the client's write side, and returns everything
    /// the engine wrote back (in either mode).
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::Router;
    /// use tramline::routing::get;
    /// use tramline::test::TestClient;
    ///
    /// let client = TestClient::new(Router::new().route("/", get(|| async { "hi" })));
    /// let out = client.raw("GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nBad Name: 1\r\n\r\n");
    /// assert!(out.starts_with("HTTP/1.1 200 OK\r\n"));
    /// // The second request's header name holds a space.
    /// assert!(out.contains("HTTP/1.1 400 Bad Request\r\n"));
    /// assert!(out.ends_with("\r\n\r\ninvalid header name"));
    /// ```
    pub fn raw(&self, bytes: impl AsRef<[u8]>) -> String {
        let out = futures_lite::future::block_on(crate::time::WithTimer::new(
            crate::time::test_timer(),
            wire::exchange(Arc::clone(&self.app), bytes.as_ref().to_vec()),
        ));
        String::from_utf8_lossy(&out).into_owned()
    }

    async fn send(&self, req: Request) -> TestResponse {
        // `tramline::time` in the app sleeps on the test client's timer.
        crate::time::WithTimer::new(crate::time::test_timer(), self.send_now(req)).await
    }

    async fn send_now(&self, req: Request) -> TestResponse {
        if self.engine {
            return wire::send(Arc::clone(&self.app), req).await;
        }
        let is_head = req.method() == Method::HEAD;
        let app = Arc::clone(&self.app);
        let future = async move { Service::call(&*app, req).await };
        // As the engine does: a panic becomes a 500 (the panic hook has
        // already printed it).
        let res = crate::vocab::peer::scope(PEER, AssertUnwindSafe(future).catch_unwind())
            .await
            .unwrap_or_else(|_| {
                tracing::error!("handler panicked; answering 500");
                plain_text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error")
            });
        let (parts, body) = res.into_parts();
        let body = if is_head {
            Bytes::new()
        } else {
            match body.collect().await {
                Ok(body) => body,
                Err(e) => panic!("the response body failed: {e}"),
            }
        };
        TestResponse {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        }
    }
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// A request being built; send it with [`send`](Self::send) from sync code
/// or `.await` it from async code.
#[must_use = "a request does nothing until it is sent or awaited"]
pub struct TestRequest {
    client: TestClient,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Body,
}

impl TestRequest {
    /// Adds a header (after any of the same name).
    ///
    /// # Panics
    ///
    /// Panics if `name` or `value` is not a valid header name or value.
    #[track_caller]
    pub fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        K: TryInto<HeaderName>,
        K::Error: fmt::Debug,
        V: TryInto<HeaderValue>,
        V::Error: fmt::Debug,
    {
        let name = name.try_into().expect("invalid header name");
        let value = value.try_into().expect("invalid header value");
        self.headers.append(name, value);
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the body to `value` as JSON, with `content-type:
    /// application/json`.
    ///
    /// # Panics
    ///
    /// Panics if `value` cannot be serialized.
    #[track_caller]
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let bytes = serde_json::to_vec(value).expect("serialize the JSON body");
        self.content_type("application/json").body(bytes)
    }

    /// Sets the body to `value` as a URL-encoded form, with `content-type:
    /// application/x-www-form-urlencoded`.
    ///
    /// # Panics
    ///
    /// Panics if `value` cannot be serialized as a form.
    #[track_caller]
    pub fn form<T: Serialize + ?Sized>(self, value: &T) -> Self {
        let text = serde_urlencoded::to_string(value).expect("serialize the form body");
        self.content_type("application/x-www-form-urlencoded")
            .body(text)
    }

    fn content_type(mut self, value: &'static str) -> Self {
        self.headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        self
    }

    /// Sends the request, blocking the thread until the response (body
    /// included) has arrived.
    ///
    /// Don't call it from inside an async runtime's task: `.await` the
    /// request there instead.
    ///
    /// # Panics
    ///
    /// Panics if the URI is invalid, or if the response body fails.
    #[track_caller]
    pub fn send(self) -> TestResponse {
        futures_lite::future::block_on(self.into_future())
    }

    #[track_caller]
    fn build(self) -> (TestClient, Request) {
        let mut req = Request::new(self.body);
        *req.method_mut() = self.method;
        *req.uri_mut() = match self.uri.parse() {
            Ok(uri) => uri,
            Err(e) => panic!("invalid request URI {:?}: {e}", self.uri),
        };
        *req.headers_mut() = self.headers;
        (self.client, req)
    }
}

impl IntoFuture for TestRequest {
    type Output = TestResponse;
    type IntoFuture = Pin<Box<dyn Future<Output = TestResponse> + Send>>;

    #[track_caller]
    fn into_future(self) -> Self::IntoFuture {
        let (client, req) = self.build();
        Box::pin(async move { client.send(req).await })
    }
}

impl fmt::Debug for TestRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// A response with its whole body, and assertions on it.
///
/// The `assert_*` methods panic with the response's status and body when
/// they fail, and return `&Self` so they chain.
#[derive(Clone)]
pub struct TestResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// Returns the status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Returns the HTTP version (`HTTP/1.1` unless a handler set another).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Returns the headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Returns the first value of header `name` as text, if present and
    /// valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Returns the body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// Returns the body as text; invalid UTF-8 is replaced with `�`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Deserializes the body as JSON.
    ///
    /// # Panics
    ///
    /// Panics if the body is not JSON of type `T`.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        match serde_json::from_slice(&self.body) {
            Ok(value) => value,
            Err(e) => panic!("response body is not the expected JSON ({e}): {self:?}"),
        }
    }

    /// Asserts the status is `status` (a [`StatusCode`] or a `u16`).
    ///
    /// # Panics
    ///
    /// Panics if it is not, or if `status` is not a valid status code.
    #[track_caller]
    pub fn assert_status<C>(&self, status: C) -> &Self
    where
        C: TryInto<StatusCode>,
        C::Error: fmt::Debug,
    {
        let want = status.try_into().expect("a valid status code");
        assert!(
            self.status == want,
            "expected status {want}, got {}: {self:?}",
            self.status
        );
        self
    }

    /// Asserts header `name` is present and its first value is `value`.
    ///
    /// # Panics
    ///
    /// Panics if it is not.
    #[track_caller]
    pub fn assert_header(&self, name: &str, value: &str) -> &Self {
        assert!(
            self.header(name) == Some(value),
            "expected header {name}: {value:?}, got {:?}: {self:?}",
            self.header(name)
        );
        self
    }

    /// Asserts header `name` is absent.
    ///
    /// # Panics
    ///
    /// Panics if it is present.
    #[track_caller]
    pub fn assert_no_header(&self, name: &str) -> &Self {
        assert!(
            !self.headers.contains_key(name),
            "expected no header {name}: {self:?}"
        );
        self
    }

    /// Asserts the body is exactly `text`.
    ///
    /// # Panics
    ///
    /// Panics if it is not.
    #[track_caller]
    pub fn assert_text(&self, text: &str) -> &Self {
        assert!(
            self.body == text.as_bytes(),
            "expected body {text:?}, got {:?} (status {})",
            self.text(),
            self.status
        );
        self
    }

    /// Asserts the body is JSON equal to `value` (compared as JSON values,
    /// so key order and spacing do not matter).
    ///
    /// # Panics
    ///
    /// Panics if the body is not JSON or differs.
    #[track_caller]
    pub fn assert_json<T: Serialize + ?Sized>(&self, value: &T) -> &Self {
        let want = serde_json::to_value(value).expect("serialize the expected JSON");
        let got: serde_json::Value = self.json();
        assert!(
            got == want,
            "expected JSON {want}, got {got} (status {})",
            self.status
        );
        self
    }
}

impl fmt::Debug for TestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}
