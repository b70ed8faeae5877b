//! tramline is a runtime-agnostic micro web framework.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod error;
pub mod extract;
pub mod response;
mod service;

pub use body::Body;
pub use error::{BoxError, Error};
pub use extract::Request;
pub use response::Response;
