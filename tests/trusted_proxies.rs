//! `ConnectInfo` behind reverse proxies, over real loopback on every
//! runtime: the forwarding headers name the client only when the peer
//! (here 127.0.0.1) is a trusted proxy.

mod support;

use std::net::SocketAddr;

use tramline::extract::ConnectInfo;
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::{Router, TrustedProxies};

use support::{TestServer, on_every_runtime_and_protocol};

fn app() -> Router {
    Router::new().route(
        "/ip",
        get(|ConnectInfo(client): ConnectInfo<SocketAddr>| async move { client.to_string() }),
    )
}

fn get_ip(header: Option<&str>) -> String {
    match header {
        Some(h) => format!("GET /ip HTTP/1.1\r\nHost: x\r\n{h}\r\n\r\n"),
        None => "GET /ip HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
    }
}

/// Headers are ignored by default: anyone can send them.
fn forwarding_headers_are_ignored_by_default<R: Runtime>(rt: R) {
    let server = TestServer::start(rt, app());
    let mut client = server.connect();
    let me = client.local_addr().to_string();
    for header in ["X-Forwarded-For: 203.0.113.7", "Forwarded: for=203.0.113.7"] {
        let response = client.roundtrip(get_ip(Some(header)).as_bytes());
        assert_eq!(
            (response.status, response.text()),
            (200, me.as_str()),
            "{header}"
        );
    }
}

/// A peer outside the trusted ranges is its own client.
fn an_untrusted_peer_is_reported_as_itself<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.trusted_proxies(TrustedProxies::x_forwarded_for(["10.0.0.0/8", "::1"]).unwrap());
    });
    let mut client = server.connect();
    let me = client.local_addr().to_string();
    let response = client.roundtrip(get_ip(Some("X-Forwarded-For: 203.0.113.7")).as_bytes());
    assert_eq!(response.text(), me);
}

/// A trusted peer's `X-Forwarded-For` names the client, request by
/// request on one keep-alive connection.
fn a_trusted_peer_names_the_client_in_x_forwarded_for<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.trusted_proxies(TrustedProxies::x_forwarded_for(["127.0.0.1"]).unwrap());
    });
    let mut client = server.connect();
    let me = client.local_addr().to_string();
    let cases = [
        (Some("X-Forwarded-For: 203.0.113.7"), "203.0.113.7:0"),
        // No header on the next request: the peer again, nothing left over.
        (None, me.as_str()),
        (
            Some("X-Forwarded-For: 198.51.100.1, 203.0.113.7, 127.0.0.1"),
            "203.0.113.7:0",
        ),
        (
            Some("X-Forwarded-For: [2001:db8::1]:4711"),
            "[2001:db8::1]:4711",
        ),
        (Some("X-Forwarded-For: 203.0.113.7, unknown"), me.as_str()),
        (Some("X-Forwarded-For: not an address"), me.as_str()),
        // Only the configured header is read.
        (Some("Forwarded: for=203.0.113.7"), me.as_str()),
    ];
    for (header, expected) in cases {
        let response = client.roundtrip(get_ip(header).as_bytes());
        assert_eq!(
            (response.status, response.text()),
            (200, expected),
            "{header:?}"
        );
    }
}

/// A trusted peer's RFC 7239 `Forwarded` names the client.
fn a_trusted_peer_names_the_client_in_forwarded<R: Runtime>(rt: R) {
    let server = TestServer::start_with(rt, app(), |s| {
        s.trusted_proxies(TrustedProxies::forwarded(["127.0.0.0/8"]).unwrap());
    });
    let mut client = server.connect();
    let me = client.local_addr().to_string();
    let cases = [
        ("Forwarded: for=203.0.113.7;proto=https", "203.0.113.7:0"),
        ("Forwarded: for=\"[::1]:80\"", "[::1]:80"),
        ("Forwarded: for=203.0.113.7, for=127.0.0.2", "203.0.113.7:0"),
        ("Forwarded: for=203.0.113.7, for=_hidden", me.as_str()),
        ("Forwarded: for=\"203.0.113.7", me.as_str()),
        ("X-Forwarded-For: 203.0.113.7", me.as_str()),
    ];
    for (header, expected) in cases {
        let response = client.roundtrip(get_ip(Some(header)).as_bytes());
        assert_eq!(
            (response.status, response.text()),
            (200, expected),
            "{header}"
        );
    }
}

on_every_runtime_and_protocol!(
    forwarding_headers_are_ignored_by_default,
    an_untrusted_peer_is_reported_as_itself,
    a_trusted_peer_names_the_client_in_x_forwarded_for,
    a_trusted_peer_names_the_client_in_forwarded,
);
