//! Types that turn handler results into responses.

use crate::Body;

/// An HTTP response as tramline sends it.
pub type Response<B = Body> = http::Response<B>;
