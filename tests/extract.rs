//! Extractors over the public API: rejection messages (exact text and
//! status), wrappers, state, headers, the peer address, and handler shapes.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Uri};
use serde::Deserialize;
use tramline::extract::rejection::{JsonRejection, QueryRejection};
use tramline::extract::{ConnectInfo, Form, FromRef, Json, Path, Query, State};
use tramline::middleware::BodyLimit;
use tramline::routing::{get, post};
use tramline::test::TestClient;
use tramline::{Body, Error, Router};

#[derive(Debug, Deserialize)]
struct Paging {
    page: u32,
    #[allow(dead_code, reason = "present to be parsed")]
    per_page: Option<u8>,
}

#[derive(Debug, Deserialize)]
struct User {
    name: String,
    age: u8,
}

fn app() -> Router {
    Router::new()
        .route(
            "/path/{id}",
            get(|Path(id): Path<u32>| async move { id.to_string() }),
        )
        .route(
            "/query",
            get(|Query(p): Query<Paging>| async move { p.page.to_string() }),
        )
        .route(
            "/json",
            post(|Json(u): Json<User>| async move { format!("{} {}", u.name, u.age) }),
        )
        .route(
            "/form",
            post(|Form(u): Form<User>| async move { format!("{} {}", u.name, u.age) }),
        )
        .route("/text", post(|s: String| async move { s }))
        .route(
            "/small",
            post(|b: Bytes| async move { b.len().to_string() }).layer(BodyLimit::new(5)),
        )
}

/// `(method, uri, content-type, body, status, text)`
type Case = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [u8],
    u16,
    &'static str,
);

const JSON: Option<&str> = Some("application/json");
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

/// What each extractor answers to good and bad input.
const CASES: &[Case] = &[
    ("GET", "/path/7", None, b"", 200, "7"),
    (
        "GET",
        "/path/seven",
        None,
        b"",
        400,
        r#"invalid path parameter 'id': expected an unsigned integer, got "seven""#,
    ),
    (
        "GET",
        "/path/%zz",
        None,
        b"",
        400,
        "invalid percent-encoding in path parameter 'id'",
    ),
    ("GET", "/query?page=2", None, b"", 200, "2"),
    (
        "GET",
        "/query",
        None,
        b"",
        400,
        "missing query parameter 'page'",
    ),
    (
        "GET",
        "/query?per_page=3",
        None,
        b"",
        400,
        "missing query parameter 'page'",
    ),
    (
        "GET",
        "/query?page=2&per_page=300",
        None,
        b"",
        400,
        "invalid query parameter 'per_page': number too large to fit in target type",
    ),
    (
        "POST",
        "/json",
        JSON,
        br#"{"name":"ann","age":3}"#,
        200,
        "ann 3",
    ),
    (
        "POST",
        "/json",
        None,
        b"{}",
        415,
        "expected request with content-type: application/json",
    ),
    (
        "POST",
        "/json",
        JSON,
        br#"{"name": }"#,
        400,
        "invalid JSON at line 1 column 10: expected value",
    ),
    (
        "POST",
        "/json",
        JSON,
        br#"{"name":"ann"}"#,
        422,
        "invalid JSON data at line 1 column 14: missing field `age`",
    ),
    (
        "POST",
        "/json",
        JSON,
        br#"{"name":"ann","age":-1}"#,
        422,
        "invalid JSON data at line 1 column 22: invalid value: integer `-1`, expected u8",
    ),
    ("POST", "/form", FORM, b"name=ann&age=4", 200, "ann 4"),
    (
        "POST",
        "/form",
        FORM,
        b"name=ann",
        422,
        "missing form field 'age'",
    ),
    (
        "POST",
        "/form",
        JSON,
        b"name=ann&age=4",
        415,
        "expected request with content-type: application/x-www-form-urlencoded",
    ),
    (
        "POST",
        "/text",
        None,
        b"\xff\xfe",
        400,
        "request body is not valid UTF-8",
    ),
    ("POST", "/small", None, b"12345", 200, "5"),
    (
        "POST",
        "/small",
        None,
        b"123456",
        413,
        "request body too large",
    ),
];

#[test]
fn rejections_answer_4xx_saying_exactly_what_was_wrong() {
    // Both modes: straight to the router, and as bytes through the engine.
    for client in [TestClient::new(app()), TestClient::with_engine(app())] {
        for &(method, uri, content_type, body, status, text) in CASES {
            let mut req = client.request(method.parse().unwrap(), uri);
            if let Some(value) = content_type {
                req = req.header("content-type", value);
            }
            let res = req.body(body.to_vec()).send();
            assert_eq!(
                (res.status().as_u16(), res.text().as_str()),
                (status, text),
                "{method} {uri} {client:?}"
            );
            if status >= 400 {
                res.assert_header("content-type", "text/plain; charset=utf-8");
            }
        }
    }
}

#[test]
fn option_and_result_wrappers_let_the_handler_decide() {
    let app = Router::new()
        .route(
            "/opt",
            get(|q: Option<Query<Paging>>| async move {
                q.map_or("no page".to_owned(), |Query(p)| p.page.to_string())
            }),
        )
        .route(
            "/res",
            get(|q: Result<Query<Paging>, QueryRejection>| async move {
                match q {
                    Ok(Query(p)) => p.page.to_string(),
                    Err(rejection) => format!("handled: {rejection}"),
                }
            }),
        )
        .route(
            "/body",
            post(|j: Result<Json<User>, JsonRejection>| async move {
                match j {
                    Ok(Json(u)) => u.name,
                    Err(rejection) => format!("{}: {rejection}", rejection.status().as_u16()),
                }
            }),
        );
    let client = TestClient::new(app);
    client.get("/opt?page=3").send().assert_text("3");
    client
        .get("/opt")
        .send()
        .assert_status(200)
        .assert_text("no page");
    client
        .get("/res?page=x")
        .send()
        .assert_status(200)
        .assert_text("handled: invalid query parameter 'page': invalid digit found in string");
    client
        .post("/body")
        .body("{}")
        .send()
        .assert_text("415: expected request with content-type: application/json");
}

#[test]
fn handlers_return_result_with_tramline_error_and_question_mark() {
    async fn double(Path(raw): Path<String>, body: Bytes) -> Result<String, Error> {
        let n: i64 = raw.parse()?;
        let extra: i64 = if body.is_empty() {
            0
        } else {
            std::str::from_utf8(&body)?.parse()?
        };
        if n == 13 {
            return Err(Error::internal(std::io::Error::other(
                "secret db host 10.0.0.9",
            )));
        }
        Ok((n * 2 + extra).to_string())
    }
    let client = TestClient::new(Router::new().route("/d/{n}", post(double)));
    client.post("/d/21").send().assert_text("42");
    client.post("/d/1").body("5").send().assert_text("7");
    client
        .post("/d/x")
        .send()
        .assert_status(400)
        .assert_text("invalid input: invalid digit found in string");
    // No internal detail leaks on a 500.
    client
        .post("/d/13")
        .send()
        .assert_status(500)
        .assert_text("internal server error");
}

#[derive(Clone)]
struct AppState {
    db: Db,
    name: &'static str,
}

#[derive(Clone)]
struct Db(HashMap<u32, &'static str>);

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

#[test]
fn state_and_substates_reach_handlers_in_any_position() {
    let app = Router::new()
        .route(
            "/users/{id}",
            get(
                |Path(id): Path<u32>, State(Db(db)): State<Db>, State(s): State<AppState>| async move {
                    format!("{} on {}", db.get(&id).copied().unwrap_or("nobody"), s.name)
                },
            ),
        )
        .with_state(AppState {
            db: Db(HashMap::from([(1, "ann")])),
            name: "tramline",
        });
    let client = TestClient::new(app);
    client.get("/users/1").send().assert_text("ann on tramline");
    client
        .get("/users/2")
        .send()
        .assert_text("nobody on tramline");
}

/// What a handler reads of the request head, the peer and the body.
async fn head_parts(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> String {
    let body = body.collect().await.unwrap();
    format!(
        "{peer} {method} {uri} {} {}",
        headers["x-k"].to_str().unwrap(),
        body.len()
    )
}

#[test]
fn head_parts_and_peer_address_are_extractable() {
    let app = Router::new().route("/", post(head_parts));
    for client in [
        TestClient::new(app.clone()),
        TestClient::with_engine(app.clone()),
    ] {
        client
            .post("/?q=1")
            .header("x-k", "v")
            .body("abc")
            .send()
            .assert_text("127.0.0.1:0 POST /?q=1 v 3");
    }
}

#[test]
fn sixteen_arguments_with_the_body_last_compile_and_run() {
    #[allow(clippy::too_many_arguments, reason = "the point of the test")]
    async fn sixteen(
        _: Method,
        _: Uri,
        _: HeaderMap,
        Path(a): Path<u32>,
        Query(q): Query<HashMap<String, String>>,
        _: Option<ConnectInfo<SocketAddr>>,
        _: Method,
        _: Uri,
        _: HeaderMap,
        _: Method,
        _: Uri,
        _: HeaderMap,
        _: Method,
        _: Uri,
        _: HeaderMap,
        Json(v): Json<Vec<u32>>,
    ) -> String {
        format!("{a} {} {}", q["x"], v.iter().sum::<u32>())
    }
    let client = TestClient::new(Router::new().route("/{a}", post(sixteen)));
    client
        .post("/5?x=y")
        .json(&[1, 2, 3])
        .send()
        .assert_text("5 y 6");
}

#[test]
fn a_panicking_handler_answers_500_in_both_modes() {
    let app = Router::new().route(
        "/",
        get(|| async {
            if std::hint::black_box(true) {
                panic!("bug");
            }
            "unreachable"
        }),
    );
    TestClient::new(app.clone())
        .get("/")
        .send()
        .assert_status(StatusCode::INTERNAL_SERVER_ERROR)
        .assert_text("internal server error");
    TestClient::with_engine(app)
        .get("/")
        .send()
        .assert_status(500)
        .assert_header("connection", "close");
}

#[cfg(feature = "cookies")]
#[test]
fn cookies_are_read_and_set() {
    use tramline::extract::cookie::{Cookie, CookieJar};
    let app = Router::new().route(
        "/",
        get(|jar: CookieJar| async move {
            let visits: u32 = jar
                .get("visits")
                .and_then(|c| c.value().parse().ok())
                .unwrap_or(0);
            (
                jar.add(Cookie::new("visits", (visits + 1).to_string())),
                visits.to_string(),
            )
        }),
    );
    let client = TestClient::new(app);
    client
        .get("/")
        .send()
        .assert_text("0")
        .assert_header("set-cookie", "visits=1");
    client
        .get("/")
        .header("cookie", "visits=4")
        .send()
        .assert_text("4")
        .assert_header("set-cookie", "visits=5");
}

/// The extractors over real sockets, on every runtime, over HTTP/1.1 and
/// HTTP/2: the same answers as through `TestClient`.
mod wire {
    use http::Uri;
    use tramline::extract::{Extension, MatchedPath, Path, Query};
    use tramline::middleware::{Next, from_fn};
    use tramline::routing::{get, post};
    use tramline::rt::Runtime;
    use tramline::{Request, Router};

    use super::support::{self, TestServer, on_every_runtime_and_protocol};
    use super::{CASES, Paging};

    #[derive(Clone)]
    struct User(&'static str);

    /// What a handler reads of the request: the same over both protocols.
    fn parts_app() -> Router {
        let api =
            Router::new()
                .route(
                    "/items/{id}",
                    get(|p: MatchedPath, Path(id): Path<u32>| async move {
                        format!("{} {id}", p.as_str())
                    }),
                )
                .layer(from_fn(|req: Request, next: Next| async move {
                    let mut res = next.run(req).await;
                    res.headers_mut().insert("x-api", "1".parse().unwrap());
                    res
                }));
        Router::new()
            .route("/parts", post(super::head_parts))
            .route(
                "/me",
                get(|Extension(user): Extension<User>| async move { user.0 }),
            )
            .route(
                "/page",
                get(|Query(p): Query<Paging>| async move { p.page.to_string() }),
            )
            .route(
                "/panics",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("bug");
                    }
                    "unreachable"
                }),
            )
            .nest("/api", api)
            .layer(Extension(User("ann")))
            .fallback(|uri: Uri| async move { format!("fallback for {}", uri.path()) })
    }

    fn every_case_answers_as_through_the_test_client<R: Runtime>(rt: R) {
        let server = TestServer::start(rt, super::app());
        for &(method, uri, content_type, body, status, text) in CASES {
            let fields: Vec<(&str, &str)> = content_type
                .map(|v| ("Content-Type", v))
                .into_iter()
                .collect();
            let r = server
                .connect()
                .roundtrip(&support::request(method, uri, &fields, body));
            assert_eq!((r.status, r.text()), (status, text), "{method} {uri}");
            if status >= 400 {
                assert_eq!(
                    r.header("content-type"),
                    Some("text/plain; charset=utf-8"),
                    "{method} {uri}"
                );
            }
        }
    }

    fn head_parts_and_the_peer_are_the_same_over_both_protocols<R: Runtime>(rt: R) {
        let server = TestServer::start(rt, parts_app());
        let mut client = server.connect();
        let peer = client.local_addr();
        let r = client.roundtrip(&support::request(
            "POST",
            "/parts?q=1",
            &[("X-K", "v")],
            b"abc",
        ));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("{peer} POST /parts?q=1 v 3"));
    }

    fn extension_matched_path_and_nested_layers_reach_handlers<R: Runtime>(rt: R) {
        let server = TestServer::start(rt, parts_app());
        let mut client = server.connect();
        let r = client.roundtrip(&support::request("GET", "/me", &[], b""));
        assert_eq!((r.status, r.text()), (200, "ann"));
        let r = client.roundtrip(&support::request("GET", "/api/items/7", &[], b""));
        assert_eq!((r.status, r.text()), (200, "/api/items/{id} 7"));
        assert_eq!(r.header("x-api"), Some("1"));
        // The nested router has a layer; the parent's fallback still
        // answers what it does not route.
        let r = client.roundtrip(&support::request("GET", "/api/unknown", &[], b""));
        assert_eq!((r.status, r.text()), (200, "fallback for /api/unknown"));
        let r = client.roundtrip(&support::request("GET", "/page?page=x", &[], b""));
        assert_eq!(r.status, 400);
        assert_eq!(
            r.text(),
            "invalid query parameter 'page': invalid digit found in string"
        );
    }

    fn a_panicking_handler_answers_500_and_the_server_goes_on<R: Runtime>(rt: R) {
        let server = TestServer::start(rt, parts_app());
        let r = server
            .connect()
            .roundtrip(&support::request("GET", "/panics", &[], b""));
        assert_eq!((r.status, r.text()), (500, "internal server error"));
        let r = server
            .connect()
            .roundtrip(&support::request("GET", "/me", &[], b""));
        assert_eq!((r.status, r.text()), (200, "ann"));
    }

    on_every_runtime_and_protocol!(
        every_case_answers_as_through_the_test_client,
        head_parts_and_the_peer_are_the_same_over_both_protocols,
        extension_matched_path_and_nested_layers_reach_handlers,
        a_panicking_handler_answers_500_and_the_server_goes_on,
    );
}
