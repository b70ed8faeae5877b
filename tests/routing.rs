//! Routing and extractors end to end over loopback, on every runtime and
//! over HTTP/1.1 and HTTP/2: 404, 405 with `Allow`, path parameters, query
//! strings, JSON, state, nest and fallback.

mod support;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

use tramline::extract::{ConnectInfo, Path, Query, State};
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::{Json, Router};

use support::{TestServer, on_every_runtime_and_protocol};

#[derive(Deserialize)]
struct Page {
    page: u32,
}

#[derive(Deserialize, Serialize)]
struct Item {
    name: String,
    qty: u32,
}

fn app() -> Router {
    let api = Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u64>| async move { format!("item {id}") }),
        )
        .route(
            "/items",
            get(|Query(p): Query<Page>| async move { format!("page {}", p.page) }).post(
                |Json(item): Json<Item>| async move {
                    Json(Item {
                        name: item.name.to_uppercase(),
                        qty: item.qty * 2,
                    })
                },
            ),
        );
    Router::new()
        .route(
            "/users/{id}/files/{*path}",
            get(|Path((id, path)): Path<(u32, String)>| async move { format!("{id}:{path}") }),
        )
        .route(
            "/counter",
            get(|State(name): State<&'static str>| async move { name }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/version",
            get(|req: tramline::Request| async move { format!("{:?}", req.version()) }),
        )
        .nest("/api", api)
        .with_state("tramline")
}

fn request(server: &TestServer, head: &str) -> support::RawResponse {
    server.connect().roundtrip(head.as_bytes())
}

fn unknown_path_is_404<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let r = request(&server, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (404, "not found"));
}

fn wrong_method_is_405_with_allow<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let r = request(&server, "DELETE /api/items HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    let mut allow: Vec<&str> = r
        .header("allow")
        .unwrap()
        .split(',')
        .map(str::trim)
        .collect();
    allow.sort_unstable();
    assert_eq!(allow, ["GET", "HEAD", "OPTIONS", "POST"]);
}

fn path_params_are_typed<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let r = request(
        &server,
        "GET /users/7/files/a/b%20c.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!((r.status, r.text()), (200, "7:a/b c.txt"));
    let r = request(&server, "GET /api/items/42 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "item 42"));
    let r = request(&server, "GET /api/items/abc HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("'id'"), "{}", r.text());
}

fn query_is_deserialized<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let r = request(&server, "GET /api/items?page=3 HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "page 3"));
    let r = request(&server, "GET /api/items HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("page"), "{}", r.text());
}

fn json_round_trips<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let body = r#"{"name":"bolt","qty":21}"#;
    let r = request(
        &server,
        &format!(
            "POST /api/items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let item: Item = serde_json::from_slice(&r.body).unwrap();
    assert_eq!((item.name.as_str(), item.qty), ("BOLT", 42));

    let bad = "{\"name\":";
    let r = request(
        &server,
        &format!(
            "POST /api/items HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{bad}",
            bad.len()
        ),
    );
    assert_eq!(r.status, 400);
    let r = request(
        &server,
        "POST /api/items HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert_eq!(r.status, 415);
}

fn state_reaches_handlers<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let r = request(&server, "GET /counter HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "tramline"));
}

fn connect_info_is_the_client_address<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    let local = client.local_addr();
    let r = client.roundtrip(b"GET /peer HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, local.to_string().as_str()));
}

/// The suite's protocol is the one the handler sees: the HTTP/2 half of
/// the suite really runs over h2.
fn handlers_see_the_protocol_the_client_speaks<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let r = request(&server, "GET /version HTTP/1.1\r\nHost: t\r\n\r\n");
    let expected = format!("{:?}", support::expected_version());
    assert_eq!((r.status, r.text()), (200, expected.as_str()));
}

on_every_runtime_and_protocol!(
    handlers_see_the_protocol_the_client_speaks,
    connect_info_is_the_client_address,
    unknown_path_is_404,
    wrong_method_is_405_with_allow,
    path_params_are_typed,
    query_is_deserialized,
    json_round_trips,
    state_reaches_handlers,
);
