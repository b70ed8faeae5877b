//! Protocol upgrades (RFC 9110 §7.8): `101 Switching Protocols`, after which
//! the connection belongs to the handler that asked for it.
//!
//! A handler takes an [`UpgradeRequest`] and answers with
//! [`UpgradeRequest::accept`]. The engine writes the `101` head, then hands
//! the connection, with any bytes the client sent past the request head, to
//! the function given to `accept`, as an [`Upgraded`] stream. That function
//! runs in the connection's own task, on whatever runtime serves it, until
//! it returns; then the connection closes.
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use tramline::http::HeaderValue;
//! use tramline::Router;
//! use tramline::routing::get;
//! use tramline::upgrade::UpgradeRequest;
//!
//! // A line-echo protocol, reached by `Upgrade: echo`.
//! let app: Router = Router::new().route(
//!     "/echo",
//!     get(|upgrade: UpgradeRequest| async move {
//!         upgrade.accept(HeaderValue::from_static("echo"), |mut io| async move {
//!             let mut buf = [0u8; 1024];
//!             while let Ok(n @ 1..) = io.read(&mut buf).await {
//!                 if io.write_all(&buf[..n]).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         })
//!     }),
//! );
//! ```
//!
//! A request that does not offer an upgrade never gets a `101`: the
//! extractor rejects it (see [`UpgradeRejection`]), and a handler that
//! answers `1xx` some other way gets a `500` in its place.

use std::fmt;

use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{StatusCode, Version};

pub use crate::proto::upgrade::Upgraded;
use crate::proto::upgrade::{Callback, CanUpgrade, OnUpgrade};
use crate::vocab::{Body, FromRequestParts, IntoResponse, Response};

/// Extracts a request that asks to switch protocols (`Upgrade` and
/// `Connection: upgrade`), on a connection that can.
///
/// Answer with [`accept`](Self::accept) to switch, or with any other
/// response to serve the request as a plain one.
#[derive(Debug, Clone)]
pub struct UpgradeRequest {
    protocols: HeaderValue,
}

impl UpgradeRequest {
    /// The protocols the client offers, in its order of preference, as
    /// written in `Upgrade` (`name` or `name/version`).
    pub fn protocols(&self) -> impl Iterator<Item = &str> {
        self.protocols
            .to_str()
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
    }

    /// Whether the client offers `protocol` (by name, any version; ASCII
    /// case-insensitive, as RFC 9110 §7.8 compares them).
    pub fn offers(&self, protocol: &str) -> bool {
        self.protocols().any(|p| {
            let name = p.split('/').next().unwrap_or(p);
            name.eq_ignore_ascii_case(protocol)
        })
    }

    /// Switches to `protocol`: a `101 Switching Protocols` response whose
    /// connection is then given to `on_upgrade`. Add any headers the
    /// protocol's handshake needs to the response before returning it.
    pub fn accept<F, Fut>(self, protocol: HeaderValue, on_upgrade: F) -> Response
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let callback: Callback = Box::new(move |io| Box::pin(on_upgrade(io)));
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::UPGRADE, protocol);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        response.extensions_mut().insert(OnUpgrade::new(callback));
        response
    }
}

/// Why a request cannot be upgraded. Each answers `400` with a short
/// plain-text reason, except [`NotOffered`](Self::NotOffered), which
/// answers `426 Upgrade Required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeRejection {
    /// No `Upgrade` header, or `Connection` does not list `upgrade`.
    NotOffered,
    /// The request is not HTTP/1.1 (HTTP/1.0 has no upgrades; HTTP/2 uses
    /// extended CONNECT instead).
    WrongVersion,
    /// The request carries a body, or asks to close the connection, so the
    /// connection cannot switch after it.
    CannotSwitch,
}

impl UpgradeRejection {
    fn reason(self) -> &'static str {
        match self {
            Self::NotOffered => "this resource needs a protocol upgrade",
            Self::WrongVersion => "protocol upgrades need HTTP/1.1",
            Self::CannotSwitch => {
                "a request with a body or `Connection: close` cannot upgrade the connection"
            }
        }
    }
}

impl fmt::Display for UpgradeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for UpgradeRejection {}

impl IntoResponse for UpgradeRejection {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NotOffered => StatusCode::UPGRADE_REQUIRED,
            Self::WrongVersion | Self::CannotSwitch => StatusCode::BAD_REQUEST,
        };
        let mut response = (status, self.reason()).into_response();
        if self == Self::NotOffered {
            // RFC 9110 §15.5.22: a 426 says what to upgrade to; without a
            // protocol of its own, the upgrade itself is what is missing.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        response
    }
}

/// Whether `Connection` lists `upgrade`, and the `Upgrade` value, if any.
fn offered(parts: &Parts) -> Option<&HeaderValue> {
    let listed = parts
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    let upgrade = parts.headers.get(header::UPGRADE)?;
    listed.then_some(upgrade)
}

impl<S: Send + Sync> FromRequestParts<S> for UpgradeRequest {
    type Rejection = UpgradeRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let protocols = offered(parts).ok_or(UpgradeRejection::NotOffered)?.clone();
        if parts.version != Version::HTTP_11 {
            return Err(UpgradeRejection::WrongVersion);
        }
        if parts.extensions.get::<CanUpgrade>().is_none() {
            return Err(UpgradeRejection::CannotSwitch);
        }
        Ok(Self { protocols })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::upgrade::take_callback;
    use bytes::Bytes;
    use futures_lite::{AsyncReadExt, future};

    fn parts(headers: &[(&str, &str)], can: bool) -> Parts {
        let mut req = http::Request::builder().uri("/");
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        if can {
            parts.extensions.insert(CanUpgrade);
        }
        parts
    }

    fn extract(headers: &[(&str, &str)], can: bool) -> Result<UpgradeRequest, UpgradeRejection> {
        let mut parts = parts(headers, can);
        future::block_on(UpgradeRequest::from_request_parts(&mut parts, &()))
    }

    #[test]
    fn an_upgrade_needs_both_headers_and_a_connection_that_can_switch() {
        let both = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "foo/2, bar"),
        ];
        let request = extract(&both, true).unwrap();
        assert_eq!(request.protocols().collect::<Vec<_>>(), ["foo/2", "bar"]);
        assert!(request.offers("FOO") && request.offers("bar") && !request.offers("baz"));
        assert_eq!(
            extract(&[("upgrade", "foo")], true).unwrap_err(),
            UpgradeRejection::NotOffered
        );
        assert_eq!(
            extract(&[("connection", "upgrade")], true).unwrap_err(),
            UpgradeRejection::NotOffered
        );
        assert_eq!(
            extract(&both, false).unwrap_err(),
            UpgradeRejection::CannotSwitch
        );
    }

    #[test]
    fn accept_answers_101_and_the_engine_can_take_the_function_once() {
        let request = extract(&[("connection", "upgrade"), ("upgrade", "foo")], true).unwrap();
        let mut response = request.accept(HeaderValue::from_static("foo"), |_io| async {});
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()[header::UPGRADE], "foo");
        assert_eq!(response.headers()[header::CONNECTION], "upgrade");
        assert!(take_callback(&mut response).is_some());
        assert!(take_callback(&mut response).is_none());
    }

    #[test]
    fn rejections_name_the_problem() {
        let response = UpgradeRejection::NotOffered.into_response();
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        let response = UpgradeRejection::CannotSwitch.into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_bytes_read_past_the_head_come_first() {
        let io = futures_lite::io::Cursor::new(b" world".to_vec());
        let mut upgraded = Upgraded::new(io, Bytes::from_static(b"hello"));
        let mut got = String::new();
        future::block_on(upgraded.read_to_string(&mut got)).unwrap();
        assert_eq!(got, "hello world");
    }
}
