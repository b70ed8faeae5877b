//! A JSON benchmark endpoint with request counters, a stats endpoint, and a
//! cache endpoint that says whether it hit: `X-Cache: HIT` or `MISS`.
//!
//! ```text
//! cargo run --release --example stats_cache
//! curl localhost:3000/json
//! curl -i localhost:3000/cache/fib-30     # MISS, then HIT
//! curl localhost:3000/stats
//! ```
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tramline::prelude::*;

/// Request counters, shared by every handler and the counting middleware.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    json: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Computed values by key.
#[derive(Debug, Default)]
pub struct Cache {
    entries: RwLock<HashMap<String, Arc<str>>>,
}

/// The app's state; handlers take only the part they need through
/// `FromRef`.
#[derive(Debug, Clone, Default)]
pub struct AppState {
    counters: Arc<Counters>,
    cache: Arc<Cache>,
}

impl FromRef<AppState> for Arc<Counters> {
    fn from_ref(state: &AppState) -> Self {
        Self::clone(&state.counters)
    }
}

impl FromRef<AppState> for Arc<Cache> {
    fn from_ref(state: &AppState) -> Self {
        Self::clone(&state.cache)
    }
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// The classic JSON benchmark answer.
async fn json(State(counters): State<Arc<Counters>>) -> Json<Message> {
    counters.json.fetch_add(1, Ordering::Relaxed);
    Json(Message {
        message: "Hello, World!",
    })
}

/// What `/stats` answers.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Stats {
    /// Every request the app saw, this one included.
    pub requests: u64,
    /// Requests to `/json`.
    pub json: u64,
    /// Cache lookups that found a value.
    pub cache_hits: u64,
    /// Cache lookups that computed one.
    pub cache_misses: u64,
    /// Values in the cache.
    pub cache_entries: usize,
}

async fn stats(State(state): State<AppState>) -> Json<Stats> {
    let c = &state.counters;
    Json(Stats {
        requests: c.requests.load(Ordering::Relaxed),
        json: c.json.load(Ordering::Relaxed),
        cache_hits: c.hits.load(Ordering::Relaxed),
        cache_misses: c.misses.load(Ordering::Relaxed),
        cache_entries: state.cache.entries.read().unwrap().len(),
    })
}

/// The slow computation the cache saves: `fib-N` is the N-th Fibonacci
/// number, anything else is reversed.
fn compute(key: &str) -> Result<String, Error> {
    if let Some(n) = key.strip_prefix("fib-") {
        let n: u32 = n.parse()?;
        if n > 90 {
            return Err(Error::unprocessable("fib-N needs N <= 90"));
        }
        let (mut a, mut b) = (0u64, 1u64);
        for _ in 0..n {
            (a, b) = (b, a + b);
        }
        return Ok(a.to_string());
    }
    Ok(key.chars().rev().collect())
}

async fn cached(
    State(cache): State<Arc<Cache>>,
    State(counters): State<Arc<Counters>>,
    Path(key): Path<String>,
) -> Result<([(&'static str, &'static str); 1], String), Error> {
    if let Some(value) = cache.entries.read().unwrap().get(&key) {
        counters.hits.fetch_add(1, Ordering::Relaxed);
        return Ok(([("x-cache", "HIT")], value.to_string()));
    }
    let value: Arc<str> = compute(&key)?.into();
    counters.misses.fetch_add(1, Ordering::Relaxed);
    cache
        .entries
        .write()
        .unwrap()
        .insert(key, Arc::clone(&value));
    Ok(([("x-cache", "MISS")], value.to_string()))
}

/// The app, with fresh counters and an empty cache.
pub fn app() -> Router {
    let state = AppState::default();
    let counters = Arc::clone(&state.counters);
    Router::new()
        .route("/json", get(json))
        .route("/stats", get(stats))
        .route("/cache/{key}", get(cached))
        .with_state(state)
        // Counts every request, 404s included.
        .layer(from_fn(move |req: Request, next: Next| {
            counters.requests.fetch_add(1, Ordering::Relaxed);
            next.run(req)
        }))
}

fn main() -> std::io::Result<()> {
    let server = Server::bind("127.0.0.1:3000")?;
    println!("listening on http://{}", server.local_addr());
    server.serve(app())
}
