//! What the runtime-generic examples share: serving an app on the runtime
//! named by the first command-line argument.
#![allow(clippy::print_stdout, dead_code)]

use tramline::rt::Runtime;
use tramline::{Router, Server};

/// Serves `app` on `rt` at 127.0.0.1:3000.
pub(crate) fn serve<R: Runtime>(rt: R, app: Router) -> std::io::Result<()> {
    let server = Server::bind_with(rt, "127.0.0.1:3000")?;
    println!("listening on http://{}", server.local_addr());
    server.serve(app)
}

/// Returns the number of CPUs, the per-core runtimes' worker count.
pub(crate) fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Builds the app with `$app(rt)` on the runtime named by the first
/// argument (`tokio`, the default, `tokio-local`, `smol`, `smol-local` or
/// `async-std`; the per-core ones with a worker per CPU) and serves it.
macro_rules! serve_on_runtime_from_args {
    ($app:path) => {
        match std::env::args().nth(1).as_deref() {
            None | Some("tokio") => {
                let rt = tramline_tokio::Tokio::new();
                serve::serve(rt.clone(), $app(rt))
            }
            Some("tokio-local") => {
                let rt = tramline_tokio::TokioLocal::new(serve::cpus());
                serve::serve(rt.clone(), $app(rt))
            }
            Some("smol") => {
                let rt = tramline_smol::Smol::new();
                serve::serve(rt.clone(), $app(rt))
            }
            Some("smol-local") => {
                let rt = tramline_smol::SmolLocal::new(serve::cpus());
                serve::serve(rt.clone(), $app(rt))
            }
            Some("async-std") => {
                let rt = tramline_async_std::AsyncStd::new();
                serve::serve(rt.clone(), $app(rt))
            }
            Some(other) => Err(std::io::Error::other(format!(
                "unknown runtime {other:?}; expected tokio, tokio-local, smol, smol-local or async-std"
            ))),
        }
    };
}
pub(crate) use serve_on_runtime_from_args;
