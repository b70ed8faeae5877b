//! The quick start: one route, served on the default runtime (tokio).
//!
//! ```text
//! cargo run --example hello
//! curl http://127.0.0.1:3000/
//! ```
#![allow(clippy::print_stdout)]

use tramline::routing::get;
use tramline::{Router, Server};

fn main() -> std::io::Result<()> {
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));

    let server = Server::bind("127.0.0.1:3000")?;
    println!("listening on http://{}", server.local_addr());
    server.serve(app)
}
