//! The seam between the HTTP engine and the application.
//!
//! The engine knows nothing of routing: it hands each parsed request to a
//! [`Service`] and writes back whatever response the service produces.

use std::future::Future;
use std::pin::Pin;

use crate::vocab::{Request, Response};

/// Something that answers requests; [`crate::Router`] is the one users build.
pub(crate) trait Service: Send + Sync + 'static {
    /// The future of one response.
    type Future: Future<Output = Response> + Send + 'static;

    /// Starts answering `req`.
    fn call(&self, req: Request) -> Self::Future;
}

/// The boxed future of one response: what an erased service returns.
pub(crate) type BoxFuture = Pin<Box<dyn Future<Output = Response> + Send + 'static>>;

/// A [`Service`] with its type erased, shared behind an `Arc`: a handler
/// with its state, or a middleware chain ending in one.
///
/// It sits here, below both, because routing builds these chains and
/// middleware's `Next` calls the rest of one.
pub(crate) trait ErasedService: Send + Sync + 'static {
    /// Starts answering `req`.
    fn call(&self, req: Request) -> BoxFuture;
}
