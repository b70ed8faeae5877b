//! Middleware over the public API: the order layers run in, where they
//! apply, and the built-ins wired into a router.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use http::{HeaderValue, StatusCode};
use tramline::middleware::{BodyLimit, Cors, Next, RequestId, Trace, from_fn};
use tramline::routing::{get, post};
use tramline::test::TestClient;
use tramline::{Request, Router};

/// A shared record of which layer saw what, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// A middleware that logs `{name} in` and `{name} out` around the rest.
    fn layer(&self, name: &'static str) -> impl tramline::middleware::Middleware {
        let log = self.clone();
        from_fn(move |req: Request, next: Next| {
            let log = log.clone();
            async move {
                log.push(format!("{name} in"));
                let res = next.run(req).await;
                log.push(format!("{name} out"));
                res
            }
        })
    }

    fn handler(
        &self,
    ) -> impl Fn() -> std::future::Ready<&'static str> + Clone + Send + Sync + 'static {
        let log = self.clone();
        move || {
            log.push("handler");
            std::future::ready("ok")
        }
    }
}

#[test]
fn layers_run_in_the_order_they_are_added() {
    let log = Log::default();
    let app = Router::new()
        .route("/", get(log.handler()))
        .layer(log.layer("first"))
        .layer(log.layer("second"))
        .layer(log.layer("third"));
    TestClient::new(app).get("/").send().assert_text("ok");
    assert_eq!(
        log.take(),
        [
            "first in",
            "second in",
            "third in",
            "handler",
            "third out",
            "second out",
            "first out"
        ]
    );
}

#[test]
fn router_layers_run_outside_route_and_nested_router_layers() {
    let log = Log::default();
    let api = Router::new()
        .route("/items", get(log.handler()).layer(log.layer("route")))
        .layer(log.layer("api"));
    let app = Router::new()
        .route("/", get(log.handler()))
        .layer(log.layer("before nest"))
        .nest("/api", api)
        .layer(log.layer("app 1"))
        .layer(log.layer("app 2"));
    let client = TestClient::new(app);

    client.get("/api/items").send().assert_text("ok");
    assert_eq!(
        log.take(),
        [
            "app 1 in",
            "app 2 in",
            "api in",
            "route in",
            "handler",
            "route out",
            "api out",
            "app 2 out",
            "app 1 out"
        ],
        "the layer added before `nest` does not wrap the nested routes"
    );
    // On the router's own routes, its layers keep the order they were
    // added in.
    client.get("/").send().assert_text("ok");
    assert_eq!(
        log.take(),
        [
            "before nest in",
            "app 1 in",
            "app 2 in",
            "handler",
            "app 2 out",
            "app 1 out",
            "before nest out"
        ]
    );
}

#[test]
fn layers_wrap_only_the_routes_present() {
    let log = Log::default();
    let app = Router::new()
        .route("/early", get(log.handler()))
        .layer(log.layer("mw"))
        .route("/late", get(log.handler()));
    let client = TestClient::new(app);
    client.get("/late").send().assert_text("ok");
    assert_eq!(log.take(), ["handler"]);
    client.get("/early").send().assert_text("ok");
    assert_eq!(log.take(), ["mw in", "handler", "mw out"]);
}

#[test]
fn not_found_method_not_allowed_and_options_pass_through_router_layers() {
    let log = Log::default();
    let app = Router::new()
        .route("/r", post(log.handler()))
        .layer(log.layer("mw"));
    let client = TestClient::new(app);
    client
        .get("/nope")
        .send()
        .assert_status(404)
        .assert_text("not found");
    assert_eq!(log.take(), ["mw in", "mw out"]);
    client
        .get("/r")
        .send()
        .assert_status(405)
        .assert_header("allow", "POST, OPTIONS");
    assert_eq!(log.take(), ["mw in", "mw out"]);
    client
        .options("/r")
        .send()
        .assert_status(204)
        .assert_header("allow", "POST, OPTIONS");
    assert_eq!(log.take(), ["mw in", "mw out"]);
}

#[test]
fn a_custom_fallback_present_at_layer_time_is_wrapped() {
    let log = Log::default();
    let app = Router::new()
        .fallback(|| async { (StatusCode::NOT_FOUND, "custom") })
        .layer(log.layer("mw"));
    TestClient::new(app).get("/x").send().assert_text("custom");
    assert_eq!(log.take(), ["mw in", "mw out"]);
}

#[test]
fn layers_work_before_and_after_the_state_is_given() {
    let log = Log::default();
    let app: Router = Router::new()
        .route(
            "/",
            get(
                |tramline::extract::State(n): tramline::extract::State<u32>| async move {
                    n.to_string()
                },
            ),
        )
        .layer(log.layer("stateful"))
        .with_state(7)
        .layer(log.layer("stateless"));
    TestClient::new(app).get("/").send().assert_text("7");
    // Giving the state changes nothing about the order.
    assert_eq!(
        log.take(),
        [
            "stateful in",
            "stateless in",
            "stateless out",
            "stateful out"
        ]
    );
}

/// Answers `/blocked` itself; gives every other request an `x-user`.
fn gate() -> impl tramline::middleware::Middleware {
    from_fn(|mut req: Request, next: Next| async move {
        if req.uri().path() == "/blocked" {
            return Err((StatusCode::FORBIDDEN, "blocked by middleware"));
        }
        req.headers_mut()
            .insert("x-user", HeaderValue::from_static("ann"));
        Ok(next.run(req).await)
    })
}

#[test]
fn middleware_can_answer_early_and_change_the_request() {
    let log = Log::default();
    let app = Router::new()
        .route("/blocked", get(log.handler()))
        .route(
            "/whoami",
            get(|h: http::HeaderMap| async move { h["x-user"].to_str().unwrap().to_owned() }),
        )
        .layer(gate());
    let client = TestClient::new(app);
    client
        .get("/blocked")
        .send()
        .assert_status(403)
        .assert_text("blocked by middleware");
    assert!(log.take().is_empty(), "the handler must not run");
    client.get("/whoami").send().assert_text("ann");
}

#[test]
fn order_holds_through_the_http1_engine() {
    let log = Log::default();
    let app = Router::new()
        .route("/", get(log.handler()))
        .layer(log.layer("a"))
        .layer(log.layer("b"));
    let res = TestClient::with_engine(app).get("/").send();
    res.assert_text("ok").assert_header("content-length", "2");
    assert_eq!(log.take(), ["a in", "b in", "handler", "b out", "a out"]);
}

/// A `tracing` writer that keeps what was written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn trace_logs_an_access_line_inside_a_request_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let app = Router::new()
        .route("/items", get(|| async { "ok" }))
        .layer(Trace::new())
        .layer(RequestId::new());
    tracing::subscriber::with_default(subscriber, || {
        TestClient::new(app)
            .get("/items?page=2")
            .send()
            .assert_status(200);
    });
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        out.contains(r#"127.0.0.1:0 "GET /items?page=2 HTTP/1.1" 200 2 "#),
        "{out}"
    );
    assert!(
        out.contains("request{method=GET path=/items status=200 latency_ms="),
        "{out}"
    );
    assert!(out.contains("tramline::access"), "{out}");
}

#[test]
fn built_ins_compose_on_one_router() {
    let app = Router::new()
        .route(
            "/upload",
            post(|b: bytes::Bytes| async move { b.len().to_string() }),
        )
        .layer(Trace::new())
        .layer(RequestId::new())
        .layer(Cors::permissive())
        .layer(BodyLimit::new(8));
    let client = TestClient::new(app);
    let res = client
        .post("/upload")
        .header("origin", "https://x.example")
        .body("12345678")
        .send();
    res.assert_text("8")
        .assert_header("access-control-allow-origin", "*");
    assert!(res.header("x-request-id").is_some());
    // Cors answers the preflight itself; the body limit never sees it.
    client
        .options("/upload")
        .header("origin", "https://x.example")
        .header("access-control-request-method", "POST")
        .send()
        .assert_status(204);
    // The 413 still carries the outer layers' headers.
    let res = client.post("/upload").body("123456789").send();
    res.assert_status(413);
    assert!(res.header("x-request-id").is_some());
}

/// Layers over real sockets, on every runtime, over HTTP/1.1 and HTTP/2:
/// the same order, early answers and built-ins as through `TestClient`.
mod wire {
    use tramline::Router;
    #[cfg(feature = "compression")]
    use tramline::middleware::Compression;
    use tramline::middleware::{BodyLimit, Cors, RequestId, Trace};
    use tramline::routing::{get, post};
    use tramline::rt::Runtime;

    use super::Log;
    use super::support::{self, TestServer, on_every_runtime_and_protocol};

    fn app(log: &Log) -> Router {
        let nested = Router::new()
            .route("/", get(log.handler()))
            .layer(log.layer("nested"));
        let app = Router::new()
            .route("/", get(log.handler()).layer(log.layer("route")))
            .route("/blocked", get(log.handler()))
            .route(
                "/whoami",
                get(|h: http::HeaderMap| async move { h["x-user"].to_str().unwrap().to_owned() }),
            )
            .route(
                "/upload",
                post(|b: bytes::Bytes| async move { b.len().to_string() }),
            )
            .route("/big", get(|| async { "tramline ".repeat(200) }))
            .nest("/n", nested)
            .layer(super::gate())
            .layer(log.layer("a"))
            .layer(log.layer("b"))
            .layer(Trace::new())
            .layer(RequestId::new())
            .layer(Cors::permissive())
            .layer(BodyLimit::new(8));
        #[cfg(feature = "compression")]
        let app = app.layer(Compression::new());
        app
    }

    fn layers_run_in_order_around_routes_and_nested_routers<R: Runtime>(rt: R) {
        let log = Log::default();
        let server = TestServer::start(rt, app(&log));
        let mut client = server.connect();
        let r = client.roundtrip(&support::request("GET", "/", &[], b""));
        assert_eq!((r.status, r.text()), (200, "ok"));
        assert_eq!(
            log.take(),
            [
                "a in",
                "b in",
                "route in",
                "handler",
                "route out",
                "b out",
                "a out"
            ]
        );
        let r = client.roundtrip(&support::request("GET", "/n", &[], b""));
        assert_eq!((r.status, r.text()), (200, "ok"));
        assert_eq!(
            log.take(),
            [
                "a in",
                "b in",
                "nested in",
                "handler",
                "nested out",
                "b out",
                "a out"
            ]
        );
    }

    fn a_layer_answers_early_or_changes_the_request<R: Runtime>(rt: R) {
        let log = Log::default();
        let server = TestServer::start(rt, app(&log));
        let mut client = server.connect();
        let r = client.roundtrip(&support::request("GET", "/blocked", &[], b""));
        assert_eq!((r.status, r.text()), (403, "blocked by middleware"));
        assert!(!log.take().contains(&"handler".to_owned()));
        let r = client.roundtrip(&support::request("GET", "/whoami", &[], b""));
        assert_eq!((r.status, r.text()), (200, "ann"));
    }

    fn built_ins_answer_alike_over_both_protocols<R: Runtime>(rt: R) {
        let log = Log::default();
        let server = TestServer::start(rt, app(&log));
        let origin = ("Origin", "https://x.example");
        let r = server.connect().roundtrip(&support::request(
            "POST",
            "/upload",
            &[origin],
            b"12345678",
        ));
        assert_eq!((r.status, r.text()), (200, "8"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(r.header("x-request-id").is_some());
        // Cors answers the preflight itself.
        let preflight = [origin, ("Access-Control-Request-Method", "POST")];
        let r = server
            .connect()
            .roundtrip(&support::request("OPTIONS", "/upload", &preflight, b""));
        assert_eq!(r.status, 204);
        // The 413 still carries the outer layers' headers.
        let r = server
            .connect()
            .roundtrip(&support::request("POST", "/upload", &[], b"123456789"));
        assert_eq!(r.status, 413);
        assert!(r.header("x-request-id").is_some());
        // Compression: gzip when asked for, the same bytes back.
        #[cfg(feature = "compression")]
        {
            let r = server.connect().roundtrip(&support::request(
                "GET",
                "/big",
                &[("Accept-Encoding", "gzip")],
                b"",
            ));
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-encoding"), Some("gzip"));
            let mut plain = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&r.body[..]),
                &mut plain,
            )
            .unwrap();
            assert_eq!(plain, "tramline ".repeat(200));
        }
    }

    on_every_runtime_and_protocol!(
        layers_run_in_order_around_routes_and_nested_routers,
        a_layer_answers_early_or_changes_the_request,
        built_ins_answer_alike_over_both_protocols,
    );
}
