//! Routing: from a request's path and method to a handler.
//!
//! [`Router`] matches the path (once per request), [`MethodRouter`] picks
//! the handler for the method and answers `405`, automatic `HEAD` and
//! `OPTIONS` itself.

pub(crate) mod handler;
mod method;
mod nest;
pub(crate) mod params;
pub(crate) mod route;
mod router;

pub use handler::Handler;
pub use method::{MethodRouter, any, delete, get, head, options, patch, post, put};
pub use router::Router;
pub(crate) use router::{Pattern, Unmatched};
