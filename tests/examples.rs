//! Each example's app, driven through its public routes: `rest_api` and
//! `stats_cache` with the in-memory test client, `middleware` and
//! `concurrency` on every runtime (their timers are the runtime's).
#![allow(
    clippy::duplicate_mod,
    reason = "each example includes the examples' shared `serve` module"
)]

mod support;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "examples are binaries: their `main` and `pub` items are not used here"
)]
#[path = "../examples/concurrency.rs"]
mod concurrency;
#[allow(
    dead_code,
    unreachable_pub,
    reason = "examples are binaries: their `main` and `pub` items are not used here"
)]
#[path = "../examples/middleware.rs"]
mod middleware;
#[allow(
    dead_code,
    unreachable_pub,
    reason = "examples are binaries: their `main` and `pub` items are not used here"
)]
#[path = "../examples/rest_api.rs"]
mod rest_api;
#[allow(
    dead_code,
    unreachable_pub,
    reason = "examples are binaries: their `main` and `pub` items are not used here"
)]
#[path = "../examples/stats_cache.rs"]
mod stats_cache;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tramline::rt::Runtime;
use tramline::test::TestClient;

use support::{TestServer, on_every_runtime};

#[test]
fn rest_api_crud_round_trip() {
    let client = TestClient::new(rest_api::app());
    client
        .get("/todos")
        .send()
        .assert_status(200)
        .assert_json(&json!([]));

    let res = client
        .post("/todos")
        .json(&json!({ "title": "  milk " }))
        .send();
    res.assert_status(201)
        .assert_header("location", "/todos/1")
        .assert_json(&json!({ "id": 1, "title": "milk", "done": false }));
    client
        .post("/todos")
        .json(&json!({ "title": "eggs" }))
        .send()
        .assert_status(201);

    client
        .patch("/todos/1")
        .json(&json!({ "done": true }))
        .send()
        .assert_json(&json!({ "id": 1, "title": "milk", "done": true }));
    let open: Vec<rest_api::Todo> = client.get("/todos?done=false").send().json();
    assert_eq!(
        open.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
        ["eggs"]
    );
    client
        .get("/todos?done=true")
        .send()
        .assert_json(&json!([{ "id": 1, "title": "milk", "done": true }]));

    client
        .delete("/todos/1")
        .send()
        .assert_status(204)
        .assert_text("");
    client
        .get("/todos/1")
        .send()
        .assert_status(404)
        .assert_text("no todo with id 1");
    client.delete("/todos/1").send().assert_status(404);
}

#[test]
fn rest_api_rejects_bad_input_with_reasons() {
    let client = TestClient::new(rest_api::app());
    let cases = [
        (
            json!({ "title": "" }),
            422,
            "title must not be empty".to_owned(),
        ),
        (
            json!({ "title": "x".repeat(101) }),
            422,
            "title must be at most 100 characters".to_owned(),
        ),
        (
            json!({ "name": "milk" }),
            422,
            "invalid JSON data at line 1 column 15: missing field `title`".to_owned(),
        ),
    ];
    for (body, status, text) in cases {
        client
            .post("/todos")
            .json(&body)
            .send()
            .assert_status(status)
            .assert_text(&text);
    }
    client
        .post("/todos")
        .header("content-type", "application/json")
        .body(r#"{"title": }"#)
        .send()
        .assert_status(400)
        .assert_text("invalid JSON at line 1 column 11: expected value");
    client
        .get("/todos/abc")
        .send()
        .assert_status(400)
        .assert_text(r#"invalid path parameter 'id': expected an unsigned integer, got "abc""#);
    client
        .get("/todos?done=maybe")
        .send()
        .assert_status(400)
        .assert_text("invalid query parameter 'done': provided string was not `true` or `false`");
    client
        .patch("/todos/9")
        .json(&json!({ "done": true }))
        .send()
        .assert_status(404);
    client
        .patch("/todos/9")
        .json(&json!({ "title": " " }))
        .send()
        .assert_status(422);
}

#[test]
fn stats_cache_counts_requests_and_caches() {
    let client = TestClient::new(stats_cache::app());
    for _ in 0..3 {
        client
            .get("/json")
            .send()
            .assert_header("content-type", "application/json")
            .assert_json(&json!({ "message": "Hello, World!" }));
    }
    client
        .get("/cache/fib-30")
        .send()
        .assert_header("x-cache", "MISS")
        .assert_text("832040");
    client
        .get("/cache/fib-30")
        .send()
        .assert_header("x-cache", "HIT")
        .assert_text("832040");
    client
        .get("/cache/abc")
        .send()
        .assert_header("x-cache", "MISS")
        .assert_text("cba");
    client
        .get("/cache/fib-x")
        .send()
        .assert_status(400)
        .assert_no_header("x-cache");
    client
        .get("/cache/fib-91")
        .send()
        .assert_status(422)
        .assert_text("fib-N needs N <= 90");
    client.get("/nowhere").send().assert_status(404);

    let stats: stats_cache::Stats = client.get("/stats").send().json();
    assert_eq!(
        stats,
        stats_cache::Stats {
            requests: 10,
            json: 3,
            cache_hits: 1,
            cache_misses: 2,
            cache_entries: 2,
        }
    );
}

fn middleware_example_wraps_app_nested_router_and_route<R: Runtime>(rt: R) {
    let client = TestClient::new(middleware::app(rt.clone()));
    rt.block_on(async {
        let res = client.get("/").await;
        res.assert_text("hello");
        assert_eq!(res.header("x-request-id").map(str::len), Some(16));
        assert!(
            res.header("x-response-time")
                .is_some_and(|t| t.ends_with("us"))
        );

        client
            .get("/admin/stats")
            .await
            .assert_status(401)
            .assert_text("missing or wrong bearer token");
        client
            .get("/admin/stats")
            .header("authorization", "Bearer hunter2")
            .await
            .assert_text("42 users");

        client
            .post("/upload")
            .body("x".repeat(1024))
            .await
            .assert_text("got 1024 bytes");
        client
            .post("/upload")
            .body("x".repeat(1025))
            .await
            .assert_status(413)
            .assert_text("request body too large");

        client
            .get("/")
            .header("origin", "https://app.example")
            .await
            .assert_header("access-control-allow-origin", "https://app.example");

        let start = Instant::now();
        client
            .get("/slow")
            .await
            .assert_status(503)
            .assert_text("request timed out");
        assert!(
            start.elapsed() < Duration::from_millis(950),
            "{:?}",
            start.elapsed()
        );
    });
}

fn concurrency_gathers_races_and_times_out<R: Runtime>(rt: R) {
    let server = TestServer::start(rt.clone(), concurrency::app(rt));
    let mut client = server.connect();

    let start = Instant::now();
    let r = client.roundtrip(b"GET /gather HTTP/1.1\r\nHost: t\r\n\r\n");
    let took = start.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (&body["user"], &body["orders"], &body["recommendations"]),
        (&json!("ann"), &json!("3 orders"), &json!("socks"))
    );
    // Run at once, the three 150 ms calls take about 150 ms, not 450.
    let sum = concurrency::USER_MS + concurrency::ORDERS_MS + concurrency::RECOMMENDATIONS_MS;
    let elapsed = body["elapsed_ms"].as_u64().unwrap();
    assert!(
        (concurrency::USER_MS..sum - 50).contains(&elapsed),
        "{elapsed} ms"
    );
    assert!(took >= Duration::from_millis(concurrency::USER_MS));

    let start = Instant::now();
    let r = client.roundtrip(b"GET /race HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.text()), (200, "fast mirror"));
    assert!(start.elapsed() < Duration::from_millis(concurrency::SLOW_MIRROR_MS / 2));

    let start = Instant::now();
    let r = client.roundtrip(b"GET /deadline HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(
        (r.status, r.text()),
        (504, "the backend did not answer within 100 ms")
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

on_every_runtime!(
    middleware_example_wraps_app_nested_router_and_route,
    concurrency_gathers_races_and_times_out,
);
