//! Static files: a folder served at `/`, with precompressed `.br`/`.gz`
//! siblings when a client accepts them, and `index.html` for every path
//! that names no file (a single-page app's client-side routes).
//!
//! ```text
//! cargo run --example static_files --features fs -- ./public   # default: ./public
//! curl -i localhost:3000/
//! curl -i localhost:3000/app.js -H 'accept-encoding: br, gzip'
//! curl -i localhost:3000/app.js -r 0-99
//! ```
#![allow(clippy::print_stdout)]

#[cfg(feature = "fs")]
use std::path::Path;

#[cfg(feature = "fs")]
use tramline::fs::{ServeDir, ServeFile};
#[cfg(feature = "fs")]
use tramline::routing::get;
#[cfg(feature = "fs")]
use tramline::{Router, Server};

/// The app: a health check, and the files under `root` for every other
/// path.
#[cfg(feature = "fs")]
pub fn app(root: &Path) -> Router {
    let files = ServeDir::new(root)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(ServeFile::new(root.join("index.html")));
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .fallback(files)
}

#[cfg(feature = "fs")]
fn main() -> std::io::Result<()> {
    let root = std::env::args().nth(1).unwrap_or_else(|| "public".into());
    let server = Server::bind("127.0.0.1:3000")?;
    println!("serving {root} on http://{}", server.local_addr());
    server.serve(app(Path::new(&root)))
}

#[cfg(not(feature = "fs"))]
fn main() {
    eprintln!(
        "this example needs the `fs` feature: cargo run --example static_files --features fs"
    );
    std::process::exit(2);
}
