//! What the engines share: the limits and timeouts a connection enforces
//! ([`Config`]), the timer and deadlines they are kept with, the requests
//! an engine refuses ([`Reject`]), the app call and the rules applied to
//! what the app answers, the connection's place in the server's shutdown,
//! and the trusted proxies that name the client.
//!
//! Every engine (`http1`, `http2`) imports this module, and none of them
//! imports another engine: what two engines would share lives here.

pub(crate) mod call;
pub(crate) mod clock;
pub(crate) mod proxy;
pub(crate) mod shutdown;
pub(crate) mod upgrade;

use std::future::{Future, Pending, pending};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use tramline_rt::Runtime;

use proxy::TrustedProxies;
use shutdown::{Ask, Signal, Slot};

/// The one thing the engine needs from a runtime: a timer for its timeouts.
pub(crate) trait Timer: Send + Sync + 'static {
    /// The future of one sleep.
    type Sleep: Future<Output = ()> + Send;

    /// Returns a future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<R: Runtime> Timer for R {
    type Sleep = R::Sleep;

    fn sleep(&self, duration: Duration) -> Self::Sleep {
        Runtime::sleep(self, duration)
    }
}

/// A timer that never fires: in-memory connections (the test client) have
/// no timeouts, and so need no runtime.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoTimer;

impl Timer for NoTimer {
    type Sleep = Pending<()>;

    fn sleep(&self, _: Duration) -> Self::Sleep {
        pending()
    }
}

/// The start of the client's HTTP/2 connection preface (RFC 9113 §3.4) as
/// an HTTP/1.1 parser sees it: a complete request head with version 2.0.
/// HTTP/1.1 stops there and hands the connection back, and the protocol is
/// chosen above the engines.
#[cfg(feature = "http2")]
pub(crate) const H2_PREFACE_HEAD: &[u8] = b"PRI * HTTP/2.0\r\n\r\n";

/// One connection as an engine sees it: the app, the peer, the timer and
/// the limits, and the connection's place in the server's shutdown. The
/// protocol layer above the engines makes one per connection and lends
/// it to the engine it chooses.
pub(crate) struct Connection<'a, T, S> {
    pub(crate) service: Arc<S>,
    /// The address the connection came from (the proxy's, behind one).
    pub(crate) peer: SocketAddr,
    pub(crate) timer: T,
    pub(crate) config: Arc<Config>,
    pub(crate) signal: Arc<Signal>,
    /// The connection's place in the server's table (see [`shutdown`]):
    /// marked idle between requests, and read for what the server asks.
    pub(crate) slot: &'a Slot,
}

impl<T, S> Connection<'_, T, S> {
    /// Whether the connection may carry another request after this one:
    /// not once a shutdown has begun or the server asked it to make room.
    pub(crate) fn may_persist(&self) -> bool {
        !self.signal.is_triggered() && self.slot.ask() == Ask::Nothing
    }
}

/// Limits and timeouts one connection enforces.
///
/// Every field has a default and a setter on [`crate::Server`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Longest request target, in bytes (414 over it).
    pub(crate) max_uri_len: usize,
    /// Largest request head (request line and headers), in bytes (431).
    pub(crate) max_head_size: usize,
    /// Most header fields in one request (431).
    pub(crate) max_headers: usize,
    /// Largest request body, in bytes (413).
    pub(crate) max_body_size: u64,
    /// How long after an error response the connection is drained before
    /// it is closed, so the client reads the response instead of a reset.
    pub(crate) linger: Duration,
    /// Longest time to receive a whole request head, from its first byte.
    pub(crate) header_timeout: Duration,
    /// Longest wait for the next bytes of a request body, and the cap of
    /// the body's time budget (see `clock::Budget`).
    pub(crate) body_timeout: Duration,
    /// Body bytes per second that earn back the time they took; 0 turns
    /// the minimum off.
    pub(crate) min_body_rate: u64,
    /// Longest wait for the client to take more of a response, and the cap
    /// of the connection's write budget.
    pub(crate) write_timeout: Duration,
    /// Response bytes per second that earn back the time a blocked write
    /// took; 0 turns the minimum off.
    pub(crate) min_write_rate: u64,
    /// Longest a keep-alive connection may sit idle between requests.
    pub(crate) idle_timeout: Duration,
    /// How long after a shutdown began an idle connection still waits for
    /// a request already on its way.
    pub(crate) drain_idle: Duration,
    /// Peers whose forwarding header names the client `ConnectInfo` sees.
    pub(crate) trusted_proxies: TrustedProxies,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_uri_len: 8 * 1024,
            max_head_size: 64 * 1024,
            max_headers: 100,
            max_body_size: 2 * 1024 * 1024,
            linger: Duration::from_secs(1),
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            write_timeout: Duration::from_secs(30),
            min_write_rate: 1024,
            idle_timeout: Duration::from_secs(60),
            drain_idle: Duration::from_secs(1),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

/// A request the engine refuses: the status and the short plain-text reason
/// it answers with before closing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

impl Reject {
    pub(crate) const HEAD_TOO_LARGE: Self = Self::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "request header too large",
    );
    pub(crate) const TOO_MANY_HEADERS: Self = Self::new(
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "too many request headers",
    );
    pub(crate) const URI_TOO_LONG: Self =
        Self::new(StatusCode::URI_TOO_LONG, "request URI too long");
    // The issue tracker's rule (#9): 400, as for any malformed request line;
    // RFC 9112 §3 would allow 501 too ("SHOULD"), but 414 is for the target.
    pub(crate) const METHOD_TOO_LONG: Self = Self::bad_request("request method too long");
    pub(crate) const BODY_TOO_LARGE: Self =
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
    pub(crate) const NOT_IMPLEMENTED_CODING: Self =
        Self::new(StatusCode::NOT_IMPLEMENTED, "unsupported transfer-encoding");
    pub(crate) const HEAD_TIMEOUT: Self =
        Self::new(StatusCode::REQUEST_TIMEOUT, "request head timed out");
    pub(crate) const BODY_TIMEOUT: Self =
        Self::new(StatusCode::REQUEST_TIMEOUT, "request body timed out");
    pub(crate) const VERSION: Self = Self::new(
        StatusCode::HTTP_VERSION_NOT_SUPPORTED,
        "HTTP version not supported",
    );

    pub(crate) const fn new(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason }
    }

    pub(crate) const fn bad_request(reason: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason)
    }
}
