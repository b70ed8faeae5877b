//! Types that turn handler results into responses.
//!
//! A handler may return anything that implements [`IntoResponse`]: strings,
//! bytes, a [`StatusCode`](crate::http::StatusCode), [`Json`](crate::Json), [`Html`], a full
//! [`Response`], tuples that add a status or headers to any of those, and
//! `Result`s of two of them.

mod html;
mod redirect;
pub mod sse;

pub use html::Html;
pub use redirect::Redirect;

pub use crate::vocab::error::Error;
pub use crate::vocab::response::{IntoResponse, Response};
