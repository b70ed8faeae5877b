//! A todo REST API: CRUD over JSON with shared state, validation errors and
//! 404s.
//!
//! ```text
//! cargo run --example rest_api
//! curl -i -X POST localhost:3000/todos -H 'content-type: application/json' -d '{"title":"milk"}'
//! curl -i localhost:3000/todos/1
//! curl -i 'localhost:3000/todos?done=false'
//! curl -i -X PATCH localhost:3000/todos/1 -H 'content-type: application/json' -d '{"done":true}'
//! curl -i -X DELETE localhost:3000/todos/1
//! ```
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tramline::middleware::Trace;
use tramline::prelude::*;

/// One todo, as stored and as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Todo {
    /// Assigned by the server, from 1.
    pub id: u64,
    /// What to do; 1 to 100 characters.
    pub title: String,
    /// Whether it is done.
    pub done: bool,
}

/// The body of `POST /todos`.
#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

/// The body of `PATCH /todos/{id}`: only the fields to change.
#[derive(Deserialize)]
struct UpdateTodo {
    title: Option<String>,
    done: Option<bool>,
}

/// The query of `GET /todos`.
#[derive(Deserialize)]
struct Filter {
    done: Option<bool>,
}

/// The app's state: cloned per request, so the data sits behind an `Arc`.
#[derive(Clone, Default, Debug)]
pub struct Db {
    inner: Arc<Mutex<Store>>,
}

#[derive(Default, Debug)]
struct Store {
    next_id: u64,
    todos: BTreeMap<u64, Todo>,
}

const MAX_TITLE: usize = 100;

/// Checks a title, with a message the client can act on (422 otherwise).
fn validate_title(title: &str) -> Result<String, Error> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::unprocessable("title must not be empty"));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(Error::unprocessable(format!(
            "title must be at most {MAX_TITLE} characters"
        )));
    }
    Ok(title.to_owned())
}

fn not_found(id: u64) -> Error {
    Error::not_found(format!("no todo with id {id}"))
}

async fn list(State(db): State<Db>, Query(filter): Query<Filter>) -> Json<Vec<Todo>> {
    let store = db.inner.lock().unwrap();
    let todos = store
        .todos
        .values()
        .filter(|t| filter.done.is_none_or(|done| t.done == done))
        .cloned()
        .collect();
    Json(todos)
}

async fn create(
    State(db): State<Db>,
    Json(new): Json<NewTodo>,
) -> Result<
    (
        StatusCode,
        [(tramline::http::HeaderName, HeaderValue); 1],
        Json<Todo>,
    ),
    Error,
> {
    let title = validate_title(&new.title)?;
    let mut store = db.inner.lock().unwrap();
    store.next_id += 1;
    let todo = Todo {
        id: store.next_id,
        title,
        done: false,
    };
    store.todos.insert(todo.id, todo.clone());
    let location = HeaderValue::try_from(format!("/todos/{}", todo.id))?;
    Ok((
        StatusCode::CREATED,
        [(tramline::http::header::LOCATION, location)],
        Json(todo),
    ))
}

async fn show(State(db): State<Db>, Path(id): Path<u64>) -> Result<Json<Todo>, Error> {
    let store = db.inner.lock().unwrap();
    store
        .todos
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or_else(|| not_found(id))
}

async fn update(
    State(db): State<Db>,
    Path(id): Path<u64>,
    Json(changes): Json<UpdateTodo>,
) -> Result<Json<Todo>, Error> {
    // Validate before taking the lock: the check needs no data.
    let title = changes.title.as_deref().map(validate_title).transpose()?;
    let mut store = db.inner.lock().unwrap();
    let todo = store.todos.get_mut(&id).ok_or_else(|| not_found(id))?;
    if let Some(title) = title {
        todo.title = title;
    }
    if let Some(done) = changes.done {
        todo.done = done;
    }
    Ok(Json(todo.clone()))
}

async fn remove(State(db): State<Db>, Path(id): Path<u64>) -> Result<StatusCode, Error> {
    let mut store = db.inner.lock().unwrap();
    match store.todos.remove(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(not_found(id)),
    }
}

/// The app, on a fresh empty store.
pub fn app() -> Router {
    Router::new()
        .route("/todos", get(list).post(create))
        .route("/todos/{id}", get(show).patch(update).delete(remove))
        .layer(Trace::new())
        .with_state(Db::default())
}

fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt::init();
    let server = Server::bind("127.0.0.1:3000")?;
    println!("listening on http://{}", server.local_addr());
    server.serve(app())
}
