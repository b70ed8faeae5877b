//! The app a newcomer writes on day one, using only the names the docs
//! lead with: `Router`, `routing::*`, `extract::*`, `response::*`,
//! `middleware::{from_fn, Next}`, `test::TestClient`, `Error` and the
//! prelude. If this stops compiling, the public API broke.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tramline::extract::{ConnectInfo, Form, Json, Path, Query, State};
use tramline::middleware::{Next, from_fn};
use tramline::prelude::StatusCode;
use tramline::response::{Html, IntoResponse, Redirect, Response};
use tramline::routing::{any, delete, get, patch, post, put};
use tramline::test::TestClient;
use tramline::{Error, Router, Server};

#[derive(Clone, Default)]
struct Notes(Arc<Mutex<HashMap<u32, String>>>);

#[derive(Serialize, Deserialize)]
struct Note {
    id: u32,
    text: String,
}

#[derive(Deserialize)]
struct NewNote {
    id: u32,
    text: String,
}

#[derive(Deserialize)]
struct Search {
    q: String,
}

async fn home() -> Html<&'static str> {
    Html("<h1>notes</h1>")
}

async fn create(State(notes): State<Notes>, Json(new): Json<NewNote>) -> Result<StatusCode, Error> {
    let mut map = notes.0.lock().unwrap();
    if map.contains_key(&new.id) {
        return Err(Error::conflict(format!("note {} exists", new.id)));
    }
    map.insert(new.id, new.text);
    Ok(StatusCode::CREATED)
}

async fn read(State(notes): State<Notes>, Path(id): Path<u32>) -> Result<Json<Note>, Error> {
    let map = notes.0.lock().unwrap();
    let text = map
        .get(&id)
        .ok_or_else(|| Error::not_found(format!("no note {id}")))?;
    Ok(Json(Note {
        id,
        text: text.clone(),
    }))
}

async fn replace(
    State(notes): State<Notes>,
    Path(id): Path<u32>,
    text: String,
) -> impl IntoResponse {
    notes.0.lock().unwrap().insert(id, text);
    StatusCode::NO_CONTENT
}

async fn append(
    State(notes): State<Notes>,
    Path(id): Path<u32>,
    Form(new): Form<NewNote>,
) -> Response {
    let mut map = notes.0.lock().unwrap();
    match map.get_mut(&id) {
        Some(text) => {
            text.push_str(&new.text);
            Redirect::to(&format!("/notes/{id}")).into_response()
        }
        None => Error::not_found("no such note").into_response(),
    }
}

async fn remove(State(notes): State<Notes>, Path(id): Path<u32>) -> StatusCode {
    match notes.0.lock().unwrap().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

async fn search(State(notes): State<Notes>, Query(s): Query<Search>) -> Json<Vec<u32>> {
    let map = notes.0.lock().unwrap();
    let mut ids: Vec<u32> = map
        .iter()
        .filter(|(_, t)| t.contains(&s.q))
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    Json(ids)
}

async fn whoami(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    peer.ip().to_string()
}

async fn stamp(req: tramline::Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert("x-app", "notes".parse().unwrap());
    res
}

fn app() -> Router {
    Router::new()
        .route("/", get(home))
        .route("/notes", post(create))
        .route("/notes/{id}", get(read))
        // Routing a path again adds methods to it.
        .route("/notes/{id}", put(replace))
        .route("/notes/{id}", patch(append))
        .route("/notes/{id}", delete(remove))
        .route("/search", get(search))
        .route("/whoami", get(whoami))
        .route("/ping", any(|| async { "pong" }))
        .layer(from_fn(stamp))
        .with_state(Notes::default())
}

#[test]
fn newcomer_app_works_end_to_end() {
    let client = TestClient::new(app());
    client
        .get("/")
        .send()
        .assert_header("content-type", "text/html; charset=utf-8")
        .assert_header("x-app", "notes");
    client
        .post("/notes")
        .json(&Note {
            id: 1,
            text: "buy milk".into(),
        })
        .send()
        .assert_status(201);
    client
        .post("/notes")
        .json(&Note {
            id: 1,
            text: "again".into(),
        })
        .send()
        .assert_status(409)
        .assert_text("note 1 exists");
    client.get("/notes/1").send().assert_json(&Note {
        id: 1,
        text: "buy milk".into(),
    });
    client
        .put("/notes/2")
        .body("call bob")
        .send()
        .assert_status(204);
    client
        .patch("/notes/2")
        .form(&[("id", "2"), ("text", " today")])
        .send()
        .assert_status(303)
        .assert_header("location", "/notes/2");
    client.get("/notes/2").send().assert_json(&Note {
        id: 2,
        text: "call bob today".into(),
    });
    client.get("/search?q=bob").send().assert_json(&[2]);
    client
        .get("/search")
        .send()
        .assert_status(400)
        .assert_text("missing query parameter 'q'");
    client.delete("/notes/1").send().assert_status(204);
    client
        .get("/notes/1")
        .send()
        .assert_status(404)
        .assert_text("no note 1");
    client.get("/whoami").send().assert_text("127.0.0.1");
    client
        .request("PURGE".parse().unwrap(), "/ping")
        .send()
        .assert_text("pong");
    client
        .get("/missing")
        .send()
        .assert_status(404)
        .assert_header("x-app", "notes");
}

#[test]
fn newcomer_app_can_be_bound_to_a_server() {
    // Binding needs no runtime until `serve`; port 0 picks a free port.
    let server = Server::bind("127.0.0.1:0").expect("bind");
    assert!(server.local_addr().port() > 0);
    let _app = app();
}

/// The same app over real sockets, on every runtime, over HTTP/1.1 and
/// HTTP/2.
mod wire {
    use tramline::rt::Runtime;

    use super::support::{self, TestServer, on_every_runtime_and_protocol};

    fn newcomer_app_serves_over_the_wire<R: Runtime>(rt: R) {
        let server = TestServer::start(rt, super::app());
        let mut client = server.connect();
        let mut call = |method: &str, target: &str, fields: &[(&str, &str)], body: &str| {
            client.roundtrip(&support::request(method, target, fields, body.as_bytes()))
        };
        let json = [("Content-Type", "application/json")];
        let r = call("GET", "/", &[], "");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(r.header("x-app"), Some("notes"));
        let r = call("POST", "/notes", &json, r#"{"id":1,"text":"buy milk"}"#);
        assert_eq!(r.status, 201);
        let r = call("POST", "/notes", &json, r#"{"id":1,"text":"again"}"#);
        assert_eq!((r.status, r.text()), (409, "note 1 exists"));
        let r = call("PUT", "/notes/2", &[], "call bob");
        assert_eq!(r.status, 204);
        let form = [("Content-Type", "application/x-www-form-urlencoded")];
        let r = call("PATCH", "/notes/2", &form, "id=2&text=%20today");
        assert_eq!((r.status, r.header("location")), (303, Some("/notes/2")));
        let r = call("GET", "/notes/2", &[], "");
        assert_eq!(r.text(), r#"{"id":2,"text":"call bob today"}"#);
        let r = call("GET", "/search?q=bob", &[], "");
        assert_eq!(r.text(), "[2]");
        let r = call("GET", "/search", &[], "");
        assert_eq!((r.status, r.text()), (400, "missing query parameter 'q'"));
        let r = call("DELETE", "/notes/1", &[], "");
        assert_eq!(r.status, 204);
        let r = call("GET", "/notes/1", &[], "");
        assert_eq!((r.status, r.text()), (404, "no note 1"));
        let r = call("GET", "/whoami", &[], "");
        assert_eq!(r.text(), "127.0.0.1");
        let r = call("PURGE", "/ping", &[], "");
        assert_eq!(r.text(), "pong");
        let r = call("GET", "/missing", &[], "");
        assert_eq!((r.status, r.header("x-app")), (404, Some("notes")));
    }

    on_every_runtime_and_protocol!(newcomer_app_serves_over_the_wire);
}
