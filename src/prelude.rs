//! The names most apps use, for a glob import.
//!
//! ```
//! use tramline::prelude::*;
//!
//! async fn hello(Path(name): Path<String>) -> Result<String, Error> {
//!     if name.is_empty() {
//!         return Err(Error::bad_request("empty name"));
//!     }
//!     Ok(format!("Hello, {name}!"))
//! }
//!
//! let app = Router::new().route("/hello/{name}", get(hello));
//! tramline::test::TestClient::new(app).get("/hello/ann").send().assert_text("Hello, ann!");
//! ```

pub use bytes::Bytes;
pub use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};

pub use crate::extract::{ConnectInfo, Form, FromRef, Json, Path, Query, State};
pub use crate::middleware::{Next, from_fn};
pub use crate::response::{Html, IntoResponse, Redirect, Response};
pub use crate::routing::{any, delete, get, patch, post, put};
pub use crate::{
    Router, Server,
    vocab::{Body, Error, Request},
};
