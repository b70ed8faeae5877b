//! The `ConnectInfo` extractor: the peer address of the connection.

use std::fmt;
use std::future::{Future, ready};
use std::net::SocketAddr;

use http::StatusCode;
use http::request::Parts;

use super::FromRequestParts;
use crate::vocab::{IntoResponse, Response};

/// Extracts the address of the peer the request came from.
///
/// Available on every request the server's engine handles, at no cost to
/// requests that do not ask for it. Under
/// [`TestClient`](crate::test::TestClient) the peer is `127.0.0.1:0`.
///
/// # Behind a reverse proxy
///
/// Behind a proxy the peer is the proxy. With
/// [`Server::trusted_proxies`](crate::Server::trusted_proxies) set, a
/// request whose peer is one of those proxies reports the client its
/// `Forwarded` or `X-Forwarded-For` header names instead (right to left,
/// past the other trusted hops; see [`TrustedProxies`](crate::TrustedProxies)
/// for the rules and fallbacks). By default no proxy is trusted and the
/// headers are never read, since any client can send them.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use tramline::Router;
/// use tramline::extract::ConnectInfo;
/// use tramline::routing::get;
///
/// let app: Router = Router::new().route(
///     "/ip",
///     get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectInfo<T>(pub T);

impl<S: Sync> FromRequestParts<S> for ConnectInfo<SocketAddr> {
    type Rejection = MissingConnectInfo;

    fn from_request_parts(
        _parts: &mut Parts,
        _state: &S,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send {
        ready(
            crate::vocab::peer::current()
                .map(ConnectInfo)
                .ok_or(MissingConnectInfo),
        )
    }
}

/// Rejection for [`ConnectInfo`] when a request did not come through the
/// server's engine or the test client (for example, a router called
/// directly with [`Router::handle`](crate::Router::handle)), so there is no
/// connection to describe. Answers 500: it is a wiring mistake, not a bad
/// request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingConnectInfo;

impl MissingConnectInfo {
    /// Returns the status this rejection answers with (500).
    pub fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    /// Returns the plain-text body this rejection answers with.
    pub fn body_text(&self) -> &'static str {
        "connection info unavailable: the request did not come through the server"
    }
}

impl fmt::Display for MissingConnectInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body_text())
    }
}

impl std::error::Error for MissingConnectInfo {}

impl IntoResponse for MissingConnectInfo {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (self.status(), self.body_text()).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    fn extract() -> Result<ConnectInfo<SocketAddr>, MissingConnectInfo> {
        let (mut parts, ()) = http::Request::new(()).into_parts();
        block_on(ConnectInfo::from_request_parts(&mut parts, &()))
    }

    #[test]
    fn reads_the_peer_the_engine_set() {
        let peer: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        assert_eq!(
            crate::vocab::peer::enter(peer, extract),
            Ok(ConnectInfo(peer))
        );
    }

    #[test]
    fn is_rejected_with_500_outside_the_engine() {
        let rejection = extract().unwrap_err();
        assert_eq!(rejection.into_response().status(), 500);
    }
}
