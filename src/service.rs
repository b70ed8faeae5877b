//! The seam between the HTTP engine and the application.
//!
//! The engine knows nothing of routing: it hands each parsed request to a
//! [`Service`] and writes back whatever response the service produces.

use std::future::Future;

use crate::{Request, Response};

/// Something that answers requests; [`crate::Router`] is the one users build.
pub(crate) trait Service: Send + Sync + 'static {
    /// The future of one response.
    type Future: Future<Output = Response> + Send + 'static;

    /// Starts answering `req`.
    fn call(&self, req: Request) -> Self::Future;
}
