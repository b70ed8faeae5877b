//! Types that pull typed data out of requests.

use crate::Body;

/// An HTTP request as tramline hands it to handlers.
pub type Request<B = Body> = http::Request<B>;
