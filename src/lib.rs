//! tramline is a runtime-agnostic micro web framework.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod error;
pub mod extract;
mod http1;
pub mod response;
pub mod rt;
mod server;
mod service;
mod shutdown;

pub use body::Body;
pub use error::{BoxError, Error};
pub use extract::Request;
pub use response::Response;
pub use server::{Server, ServerHandle};
