//! The axum app of docs/migrating-from-axum.md, its test included, kept
//! here so that it compiles against axum as users get it:
//! `cargo test --manifest-path benches/peers/Cargo.toml --bin axum_migration`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

#[derive(Clone, Default)]
struct AppState {
    notes: Arc<Mutex<BTreeMap<u64, Note>>>,
}

#[derive(Clone, Serialize, Deserialize)]
struct Note {
    id: u64,
    text: String,
}

#[derive(Deserialize)]
struct NewNote {
    text: String,
}

#[derive(Deserialize)]
struct Paging {
    limit: Option<usize>,
}

enum ApiError {
    NotFound(u64),
    EmptyText,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no note {id}")),
            ApiError::EmptyText => (StatusCode::UNPROCESSABLE_ENTITY, "text is empty".into()),
        }
        .into_response()
    }
}

async fn list(State(state): State<AppState>, Query(paging): Query<Paging>) -> Json<Vec<Note>> {
    let notes = state.notes.lock().unwrap();
    let limit = paging.limit.unwrap_or(usize::MAX);
    Json(notes.values().take(limit).cloned().collect())
}

async fn show(State(state): State<AppState>, Path(id): Path<u64>) -> Result<Json<Note>, ApiError> {
    let notes = state.notes.lock().unwrap();
    notes
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound(id))
}

async fn create(
    State(state): State<AppState>,
    Json(new): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), ApiError> {
    if new.text.trim().is_empty() {
        return Err(ApiError::EmptyText);
    }
    let mut notes = state.notes.lock().unwrap();
    let id = notes.len() as u64 + 1;
    let note = Note { id, text: new.text };
    notes.insert(id, note.clone());
    Ok((StatusCode::CREATED, Json(note)))
}

async fn require_key(req: Request, next: Next) -> Result<Response, StatusCode> {
    match req.headers().get("x-api-key") {
        Some(key) if key == "secret" => Ok(next.run(req).await),
        _ => Err(StatusCode::UNAUTHORIZED),
    }
}

async fn fallback(uri: Uri) -> (StatusCode, String) {
    (StatusCode::NOT_FOUND, format!("nothing at {uri}"))
}

fn app() -> Router {
    Router::new()
        .route("/notes", get(list).post(create))
        .route("/notes/{id}", get(show))
        .layer(middleware::from_fn(require_key))
        .fallback(fallback)
        .with_state(AppState::default())
}

#[tokio::main]
async fn main() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .unwrap();
    axum::serve(listener, app()).await.unwrap();
}

// The test, with `tower` (feature "util") and `http-body-util` as
// dev-dependencies.
#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn create_then_show() {
        let app = super::app();
        let req = Request::post("/notes")
            .header("x-api-key", "secret")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"text":"milk"}"#))
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), 201);

        let req = Request::get("/notes/1")
            .header("x-api-key", "secret")
            .body(Body::empty())
            .unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), 200);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, r#"{"id":1,"text":"milk"}"#);
    }
}
