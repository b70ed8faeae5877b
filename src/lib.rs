//! tramline is a runtime-agnostic micro web framework: write an app once and
//! serve it unchanged on tokio, smol or async-std.
//!
//! ```no_run
//! use serde::Deserialize;
//! use tramline::extract::{Path, Query};
//! use tramline::routing::get;
//! use tramline::{Json, Router, Server};
//!
//! #[derive(Deserialize)]
//! struct Page {
//!     page: u32,
//! }
//!
//! let app = Router::new()
//!     .route("/", get(|| async { "Hello, World!" }))
//!     .route("/users/{id}", get(|Path(id): Path<u64>| async move { format!("user {id}") }))
//!     .route(
//!         "/items",
//!         get(|Query(p): Query<Page>| async move { Json(vec![p.page]) }),
//!     );
//!
//! Server::bind("127.0.0.1:3000")?.serve(app)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Runtimes
//!
//! The HTTP engine and the router never name a runtime: they reach one only
//! through the [`rt::Runtime`] trait (spawn, sleep, accept, block on), which a
//! small adapter crate implements for each runtime. The engine is generic
//! over it, so nothing on the per-connection path is boxed.
//!
//! - [`rt::Tokio`]: tokio's multi-thread, work-stealing scheduler;
//! - [`rt::TokioLocal`]: one current-thread tokio runtime per worker, each
//!   with its own listener (`SO_REUSEPORT`), no task ever changing threads;
//! - [`rt::Smol`]: async-executor run by N threads over the async-io reactor;
//! - [`rt::AsyncStd`]: async-std's global executor.
//!
//! [`Server::bind`] serves on [`rt::DefaultRuntime`]; [`Server::bind_with`]
//! takes any runtime by value, so switching runtime is one type.
//!
//! # Feature flags
//!
//! - `tokio` (default): the tokio adapter, [`rt::Tokio`] and [`rt::TokioLocal`];
//! - `smol`: the smol adapter, [`rt::Smol`];
//! - `async-std`: the async-std adapter, [`rt::AsyncStd`].
//!
//! Features only add: with several enabled, each adapter stays usable by
//! type, and [`rt::DefaultRuntime`] is the first of `tokio`, `smol`,
//! `async-std` that is enabled.
//!
//! # Cancel safety
//!
//! A handler's future is dropped if its connection fails while it runs, and
//! when a graceful shutdown's grace period ends. Handlers that must finish
//! work regardless should spawn it.
//!
//! # Stability
//!
//! tramline is 0.x: minor releases may change the API. The minimum supported
//! Rust version is 1.85; raising it is a minor-release change.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod error;
pub mod extract;
mod handler;
mod http1;
mod json;
pub mod response;
pub mod routing;
pub mod rt;
mod server;
mod service;
mod shutdown;

pub use body::Body;
pub use error::{BoxError, Error};
pub use extract::Request;
pub use handler::Handler;
pub use json::Json;
pub use response::Response;
pub use routing::Router;
pub use server::{Server, ServerHandle};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
