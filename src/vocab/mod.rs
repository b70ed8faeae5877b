//! The vocabulary every other layer speaks: [`Request`], [`Response`],
//! [`Body`], the errors, [`IntoResponse`], the extractor traits
//! ([`FromRequestParts`], [`FromRequest`]) and the [`Service`] seam between
//! the engines and the application.
//!
//! It imports nothing above it: routing, extractors, middleware, the
//! engines and the server all import it, and it imports none of them. The
//! public paths (`tramline::Request`, `tramline::extract::FromRequest`,
//! `tramline::response::IntoResponse` …) re-export what is defined here.

pub(crate) mod body;
pub(crate) mod error;
pub(crate) mod incoming;
pub(crate) mod peer;
pub(crate) mod recycle;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod service;

pub use body::Body;
pub use error::{BodyError, BoxError, Error};
pub use request::Request;
pub(crate) use request::{FromRequest, FromRequestParts};
pub(crate) use response::IntoResponse;
pub use response::Response;
pub(crate) use service::Service;
