//! The client address behind reverse proxies: which peers are trusted to
//! say who their client was, and the `Forwarded` / `X-Forwarded-For` walk
//! that finds it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use http::header::{FORWARDED, HeaderName};

/// `X-Forwarded-For`, which the `http` crate has no constant for.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The reverse proxies whose word on the client's address is believed, and
/// the header they write it in.
///
/// Set with [`Server::trusted_proxies`](crate::Server::trusted_proxies).
/// By default no peer is trusted and
/// [`ConnectInfo<SocketAddr>`](crate::extract::ConnectInfo) is always the
/// socket's peer: anyone can send a `Forwarded` header, so it means
/// something only when a proxy you run wrote it.
///
/// When the connection's peer is one of these proxies, `ConnectInfo` reports
/// the client the header names instead. The header's hops are read right to
/// left (each proxy appends the address it got the request from), skipping
/// the ones that are trusted proxies too; the first address that is not is
/// the client. If every hop is a trusted proxy, it is the leftmost one.
///
/// The answer falls back to the socket's peer when that first untrusted hop
/// is no address: `unknown`, an obfuscated identifier such as `_hidden`, a
/// missing `for=`, or a malformed value. Nothing to its left can be believed,
/// since a proxy that is not trusted may have written it. The port is the
/// one the header gives, if any, else 0.
///
/// Only the one header named at construction is read. A proxy that writes
/// `X-Forwarded-For` passes a client's own `Forwarded` header through
/// untouched (and the other way round), so reading both would let any
/// client choose its address.
///
/// # Examples
///
/// nginx on the same host, appending to `X-Forwarded-For`
/// (`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`):
///
/// ```no_run
/// use tramline::{Router, Server, TrustedProxies};
///
/// # let app = Router::new();
/// let mut server = Server::bind("127.0.0.1:3000")?;
/// server.trusted_proxies(TrustedProxies::x_forwarded_for(["127.0.0.1", "::1"])?);
/// server.serve(app)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A fleet of load balancers in a private range, writing RFC 7239
/// `Forwarded`:
///
/// ```
/// use tramline::TrustedProxies;
///
/// let proxies = TrustedProxies::forwarded(["10.0.0.0/8", "fd00::/8"])?;
/// assert!(TrustedProxies::forwarded(["10.0.0.0/33"]).is_err());
/// # Ok::<(), tramline::InvalidProxy>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<IpRange>,
    header: ProxyHeader,
}

/// The header a trusted proxy writes the client's address in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ProxyHeader {
    /// RFC 7239: `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]"`.
    #[default]
    Forwarded,
    /// The de-facto `X-Forwarded-For: 192.0.2.60, 198.51.100.17`.
    XForwardedFor,
}

impl TrustedProxies {
    /// Trusts `proxies` (IP addresses such as `127.0.0.1` or `::1`, or CIDR
    /// ranges such as `10.0.0.0/8` or `fd00::/8`) to write the client's
    /// address in the RFC 7239 `Forwarded` header (`for=`).
    ///
    /// # Errors
    ///
    /// Returns [`InvalidProxy`] for the first entry that is neither an IP
    /// address nor a range with a prefix length that fits it.
    pub fn forwarded<I>(proxies: I) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::new(proxies, ProxyHeader::Forwarded)
    }

    /// Trusts `proxies` (IP addresses or CIDR ranges, as for
    /// [`TrustedProxies::forwarded`]) to append the client's address to
    /// `X-Forwarded-For`.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidProxy`] for the first entry that is neither an IP
    /// address nor a range with a prefix length that fits it.
    pub fn x_forwarded_for<I>(proxies: I) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::new(proxies, ProxyHeader::XForwardedFor)
    }

    fn new<I>(proxies: I, header: ProxyHeader) -> Result<Self, InvalidProxy>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let ranges = proxies
            .into_iter()
            .map(|p| IpRange::parse(p.as_ref()).ok_or_else(|| InvalidProxy(p.as_ref().to_owned())))
            .collect::<Result<_, _>>()?;
        Ok(Self { ranges, header })
    }

    /// Returns whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.ranges.iter().any(|range| range.contains(ip))
    }

    /// Returns the client a request from `peer` with `headers` came from.
    ///
    /// With no proxy trusted (the default) this is `peer`, at the cost of
    /// one comparison: it runs for every request.
    #[inline]
    pub(crate) fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if self.ranges.is_empty() {
            return peer;
        }
        self.walk(peer, headers)
    }

    #[cold]
    fn walk(&self, peer: SocketAddr, headers: &HeaderMap) -> SocketAddr {
        if !self.contains(peer.ip()) {
            return peer;
        }
        // One pass left to right: the rightmost untrusted hop is the first
        // untrusted one right to left, and no hop needs to be stored.
        let mut leftmost = None;
        let mut rightmost_untrusted = None;
        let mut visit = |hop: Hop| {
            leftmost.get_or_insert(hop);
            match hop {
                Hop::Addr(addr) if self.contains(addr.ip()) => {}
                other => rightmost_untrusted = Some(other),
            }
        };
        match self.header {
            ProxyHeader::Forwarded => {
                for value in headers.get_all(FORWARDED) {
                    match value.to_str() {
                        Ok(value) => forwarded_hops(value, &mut visit),
                        Err(_) => visit(Hop::Opaque),
                    }
                }
            }
            ProxyHeader::XForwardedFor => {
                for value in headers.get_all(X_FORWARDED_FOR) {
                    match value.to_str() {
                        Ok(value) => x_forwarded_for_hops(value, &mut visit),
                        Err(_) => visit(Hop::Opaque),
                    }
                }
            }
        }
        match rightmost_untrusted.or(leftmost) {
            Some(Hop::Addr(addr)) => addr,
            Some(Hop::Opaque) | None => peer,
        }
    }
}

/// The error for a trusted-proxy entry that is neither an IP address nor a
/// CIDR range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidProxy(String);

impl fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid trusted proxy {:?}: expected an IP address or a CIDR range such as 10.0.0.0/8",
            self.0
        )
    }
}

impl std::error::Error for InvalidProxy {}

/// An IP address with a prefix length: one address or a CIDR range.
///
/// INVARIANT: `addr` is canonical (no IPv4-mapped IPv6), has no bits set
/// past `prefix`, and `prefix` is at most its bit width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => width,
        };
        if prefix > width {
            return None;
        }
        // `::ffff:10.0.0.0/104` is the IPv4 range `10.0.0.0/8`: peers are
        // compared canonically, so the range is stored that way too.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() && prefix >= 96 => {
                (IpAddr::V4(v6.to_ipv4_mapped()?), prefix - 96)
            }
            other => (other, prefix),
        };
        Some(Self {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// `ip` must be canonical.
    fn contains(self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }
}

/// Clears the bits of `addr` past the first `prefix`.
fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let keep = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & keep).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let keep = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & keep).into())
        }
    }
}

/// One proxy hop as a forwarding header records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// The address of the node the proxy got the request from.
    Addr(SocketAddr),
    /// `unknown`, an obfuscated identifier, no `for=`, or garbage.
    Opaque,
}

/// Visits the hops of one `X-Forwarded-For` field line, left to right.
fn x_forwarded_for_hops(value: &str, visit: &mut impl FnMut(Hop)) {
    for item in value.split(',') {
        let item = item.trim_matches([' ', '\t']);
        // RFC 9110 §5.6.1: recipients ignore empty list elements.
        if !item.is_empty() {
            visit(node(item));
        }
    }
}

/// Visits the hops of one `Forwarded` field line (RFC 7239 §4), left to
/// right: one per `forwarded-element`, whose `for=` names the node.
///
/// A syntax error makes the rest of the line one opaque hop: where quotes
/// are unbalanced, no later boundary can be trusted to be one.
fn forwarded_hops(value: &str, visit: &mut impl FnMut(Hop)) {
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return;
        }
        if let Some(after) = rest.strip_prefix(',') {
            // An empty list element.
            rest = after;
            continue;
        }
        let Some((hop, after)) = forwarded_element(rest) else {
            visit(Hop::Opaque);
            return;
        };
        visit(hop);
        match after.strip_prefix(',') {
            Some(after) => rest = after,
            None => return,
        }
    }
}

/// Parses one `forwarded-element` at the start of `s`; returns its hop and
/// what follows it (empty, or starting with the `,` before the next one).
fn forwarded_element(mut s: &str) -> Option<(Hop, &str)> {
    let mut hop = None;
    loop {
        s = s.trim_start_matches([' ', '\t']);
        // `forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )`
        if !(s.is_empty() || s.starts_with([',', ';'])) {
            let (name, value, after) = forwarded_pair(s)?;
            if name.eq_ignore_ascii_case("for") {
                if hop.is_some() {
                    // Two `for=` in one element: which is meant is unknown.
                    return None;
                }
                hop = Some(match value {
                    Value::Plain(node_name) => node(node_name),
                    Value::Escaped => Hop::Opaque,
                });
            }
            s = after.trim_start_matches([' ', '\t']);
        }
        match s.strip_prefix(';') {
            Some(after) => s = after,
            None if s.is_empty() || s.starts_with(',') => {
                // An element without `for=` does not say who sent it.
                return Some((hop.unwrap_or(Hop::Opaque), s));
            }
            None => return None,
        }
    }
}

/// A `forwarded-pair` value.
enum Value<'a> {
    /// A token, or a quoted string without escapes, unquoted.
    Plain(&'a str),
    /// A quoted string with a `\` escape: no node name needs one.
    Escaped,
}

/// Parses `token "=" ( token / quoted-string )` at the start of `s`.
fn forwarded_pair(s: &str) -> Option<(&str, Value<'_>, &str)> {
    let name_len = s.bytes().take_while(|&b| is_tchar(b)).count();
    let (name, rest) = s.split_at(name_len);
    let rest = rest.strip_prefix('=')?;
    if name.is_empty() {
        return None;
    }
    if let Some(quoted) = rest.strip_prefix('"') {
        let bytes = quoted.as_bytes();
        let mut escaped = false;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    let value = if escaped {
                        Value::Escaped
                    } else {
                        Value::Plain(&quoted[..i])
                    };
                    return Some((name, value, &quoted[i + 1..]));
                }
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                _ => i += 1,
            }
        }
        // No closing quote.
        return None;
    }
    // Lenient: a token, or anything up to the next delimiter, so that an
    // unquoted `for=[2001:db8::1]` from a sloppy proxy still reads; `node`
    // decides whether it is an address.
    let len = rest
        .bytes()
        .take_while(|b| !matches!(b, b',' | b';' | b'"' | b' ' | b'\t'))
        .count();
    if len == 0 {
        return None;
    }
    Some((name, Value::Plain(&rest[..len]), &rest[len..]))
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Reads a node name (RFC 7239 §6): an IPv4 address, a bracketed IPv6
/// address, or a bare one as `X-Forwarded-For` writes it, each with an
/// optional port. `unknown` and obfuscated (`_...`) names are opaque.
fn node(s: &str) -> Hop {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Hop::Addr(SocketAddr::new(ip.to_canonical(), 0));
    }
    let (ip, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Hop::Opaque;
        };
        let Ok(v6) = v6.parse::<Ipv6Addr>() else {
            return Hop::Opaque;
        };
        (IpAddr::V6(v6), after)
    } else {
        let Some(colon) = s.find(':') else {
            return Hop::Opaque;
        };
        let Ok(v4) = s[..colon].parse::<Ipv4Addr>() else {
            return Hop::Opaque;
        };
        (IpAddr::V4(v4), &s[colon..])
    };
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => 0,
        // `node-port = port / obfport`: a hidden port is no port.
        Some(p) if p.starts_with('_') && p.len() > 1 => 0,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse() {
                Ok(port) => port,
                Err(_) => return Hop::Opaque,
            }
        }
        _ => return Hop::Opaque,
    };
    Hop::Addr(SocketAddr::new(ip.to_canonical(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// The socket peer in every table case below.
    const PEER: &str = "10.0.0.1:5000";

    fn resolve(proxies: &TrustedProxies, name: &HeaderName, lines: &[&[u8]]) -> SocketAddr {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(name, HeaderValue::from_bytes(line).unwrap());
        }
        proxies.client(addr(PEER), &headers)
    }

    /// `(header lines, expected client)` with the peer and the 10.0.0.0/8
    /// and 2001:db8:ffff::/48 ranges trusted.
    const FORWARDED_CASES: &[(&[&[u8]], &str)] = &[
        // No header: the peer.
        (&[], PEER),
        (&[b"for=192.0.2.60"], "192.0.2.60:0"),
        (&[b"For=192.0.2.60"], "192.0.2.60:0"),
        (
            &[b"for=192.0.2.60;proto=http;by=203.0.113.43"],
            "192.0.2.60:0",
        ),
        (
            &[b"proto=https; for=192.0.2.60 ; by=10.0.0.1"],
            "192.0.2.60:0",
        ),
        (&[b"for=\"192.0.2.60:4711\""], "192.0.2.60:4711"),
        (&[b"for=\"[::1]:80\""], "[::1]:80"),
        (&[b"for=\"[2001:db8:cafe::17]\""], "[2001:db8:cafe::17]:0"),
        // Unquoted brackets are not a token, but a proxy may still write them.
        (
            &[b"for=[2001:db8:cafe::17]:4711"],
            "[2001:db8:cafe::17]:4711",
        ),
        // An IPv4-mapped address is reported as the IPv4 one.
        (&[b"for=\"[::ffff:192.0.2.60]\""], "192.0.2.60:0"),
        // Right to left, skipping trusted hops.
        (&[b"for=192.0.2.60, for=10.1.2.3"], "192.0.2.60:0"),
        (
            &[b"for=192.0.2.60, for=198.51.100.17, for=10.1.2.3"],
            "198.51.100.17:0",
        ),
        (&[b"for=192.0.2.60", b"for=10.1.2.3"], "192.0.2.60:0"),
        (
            &[b"for=\"[2001:db8:cafe::17]\", for=\"[2001:db8:ffff::1]:443\""],
            "[2001:db8:cafe::17]:0",
        ),
        // Every hop trusted: the leftmost.
        (&[b"for=10.9.9.9, for=10.1.2.3"], "10.9.9.9:0"),
        // Obfuscated and unknown identifiers stop the walk: the peer.
        (&[b"for=_hidden"], PEER),
        (&[b"for=192.0.2.60, for=_gazonk"], PEER),
        (&[b"for=192.0.2.60, for=unknown"], PEER),
        (&[b"for=\"_SEVKISEK\", for=10.1.2.3"], PEER),
        // ...but what is left of an untrusted address does not matter.
        (&[b"for=unknown, for=192.0.2.60"], "192.0.2.60:0"),
        (
            &[b"for=_hidden, for=192.0.2.60, for=10.1.2.3"],
            "192.0.2.60:0",
        ),
        // An obfuscated port hides only the port.
        (&[b"for=\"192.0.2.60:_p1\""], "192.0.2.60:0"),
        (&[b"for=\"[2001:db8::1]:_x\""], "[2001:db8::1]:0"),
        // An element without `for=` does not say who sent it.
        (&[b"for=192.0.2.60, proto=https"], PEER),
        (&[b"for=192.0.2.60,, ,for=198.51.100.17"], "198.51.100.17:0"),
        // Malformed: the peer, never a panic.
        (&[b"for="], PEER),
        (&[b"for"], PEER),
        (&[b"=192.0.2.60"], PEER),
        (&[b"for=\"192.0.2.60"], PEER),
        (&[b"for=192.0.2.60;for=198.51.100.17"], PEER),
        (&[b"for=192.0.2.60 garbage"], PEER),
        (&[b"for=\"192.0.2.60\"x"], PEER),
        (&[b"for=\"\\192.0.2.60\""], PEER),
        (&[b"for=192.0.2.256"], PEER),
        (&[b"for=\"[::1]:65536\""], PEER),
        (&[b"for=\"[::1]:+80\""], PEER),
        (&[b"for=\"[::1\""], PEER),
        (&[b"for=\"192.0.2.60:\""], PEER),
        (&[b"for=\"fe80::1%eth0\""], PEER),
        (&[b"for=\"\xff\""], PEER),
        (&[b","], PEER),
        // A client's unbalanced quote swallows the proxy's own hop; the
        // result is the peer, not an address the client chose.
        (&[b"for=\"198.51.100.1, for=192.0.2.60"], PEER),
        // The client's malformed line is opaque, the proxy's is read.
        (&[b"for=\"oops", b"for=192.0.2.60"], "192.0.2.60:0"),
        // An escaped quote does not end a quoted string.
        (&[b"for=\"a\\\",b\", for=192.0.2.60"], "192.0.2.60:0"),
        (&[b"x"], PEER),
    ];

    #[test]
    fn forwarded_walks_right_to_left_past_trusted_hops() {
        let proxies = TrustedProxies::forwarded(["10.0.0.0/8", "2001:db8:ffff::/48"]).unwrap();
        for &(lines, expected) in FORWARDED_CASES {
            assert_eq!(
                resolve(&proxies, &FORWARDED, lines),
                addr(expected),
                "Forwarded: {:?}",
                lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>()
            );
        }
    }

    const X_FORWARDED_FOR_CASES: &[(&[&[u8]], &str)] = &[
        (&[], PEER),
        (&[b"192.0.2.60"], "192.0.2.60:0"),
        (&[b"192.0.2.60, 10.1.2.3"], "192.0.2.60:0"),
        (&[b"192.0.2.60,198.51.100.17,10.1.2.3"], "198.51.100.17:0"),
        (&[b"192.0.2.60", b"10.1.2.3"], "192.0.2.60:0"),
        (&[b"2001:db8:cafe::17"], "[2001:db8:cafe::17]:0"),
        (&[b"[2001:db8:cafe::17]:4711"], "[2001:db8:cafe::17]:4711"),
        (&[b"192.0.2.60:4711"], "192.0.2.60:4711"),
        (&[b"10.9.9.9, 10.1.2.3"], "10.9.9.9:0"),
        (&[b" 192.0.2.60 ,, 10.1.2.3 "], "192.0.2.60:0"),
        (&[b"192.0.2.60, unknown"], PEER),
        (&[b"unknown, 192.0.2.60"], "192.0.2.60:0"),
        (&[b"192.0.2.60, _hidden"], PEER),
        (&[b"192.0.2.60, garbage"], PEER),
        (&[b"garbage, 192.0.2.60"], "192.0.2.60:0"),
        (&[b"for=192.0.2.60"], PEER),
        (&[b"192.0.2.60:99999"], PEER),
        (&[b"\xff"], PEER),
        (&[b""], PEER),
    ];

    #[test]
    fn x_forwarded_for_walks_right_to_left_past_trusted_hops() {
        let proxies =
            TrustedProxies::x_forwarded_for(["10.0.0.0/8", "2001:db8:ffff::/48"]).unwrap();
        for &(lines, expected) in X_FORWARDED_FOR_CASES {
            assert_eq!(
                resolve(&proxies, &X_FORWARDED_FOR, lines),
                addr(expected),
                "X-Forwarded-For: {:?}",
                lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let xff = TrustedProxies::x_forwarded_for(["10.0.0.0/8"]).unwrap();
        assert_eq!(resolve(&xff, &FORWARDED, &[b"for=192.0.2.60"]), addr(PEER));
        let fwd = TrustedProxies::forwarded(["10.0.0.0/8"]).unwrap();
        assert_eq!(
            resolve(&fwd, &X_FORWARDED_FOR, &[b"192.0.2.60"]),
            addr(PEER)
        );
    }

    #[test]
    fn headers_are_ignored_unless_the_peer_is_trusted() {
        let line: &[&[u8]] = &[b"for=192.0.2.60"];
        let nobody = TrustedProxies::default();
        assert_eq!(resolve(&nobody, &FORWARDED, line), addr(PEER));
        let others = TrustedProxies::forwarded(["10.0.0.2", "192.168.0.0/16"]).unwrap();
        assert_eq!(resolve(&others, &FORWARDED, line), addr(PEER));
        let peer = TrustedProxies::forwarded(["10.0.0.1"]).unwrap();
        assert_eq!(resolve(&peer, &FORWARDED, line), addr("192.0.2.60:0"));
    }

    #[test]
    fn an_ipv4_mapped_peer_is_matched_as_ipv4() {
        let proxies = TrustedProxies::forwarded(["127.0.0.1"]).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED, HeaderValue::from_static("for=192.0.2.60"));
        let mapped = addr("[::ffff:127.0.0.1]:80");
        assert_eq!(proxies.client(mapped, &headers), addr("192.0.2.60:0"));
    }

    #[test]
    fn ranges_parse_and_match() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("127.0.0.1", &["127.0.0.1"], &["127.0.0.2", "::1"]),
            (
                "10.0.0.0/8",
                &["10.0.0.0", "10.255.255.255"],
                &["11.0.0.0", "9.255.255.255"],
            ),
            // Host bits past the prefix are ignored, as nginx's
            // `set_real_ip_from` does.
            ("192.168.1.77/24", &["192.168.1.1"], &["192.168.2.1"]),
            ("0.0.0.0/0", &["1.2.3.4", "255.255.255.255"], &["::1"]),
            ("::1", &["::1"], &["::2", "127.0.0.1"]),
            ("fd00::/8", &["fd12:3456::1"], &["fe80::1"]),
            ("::/0", &["2001:db8::1", "::"], &["10.0.0.1"]),
            (
                "::ffff:10.0.0.0/104",
                &["10.1.2.3", "::ffff:10.1.2.3"],
                &["11.0.0.1"],
            ),
            (" 10.0.0.1 ", &["10.0.0.1"], &[]),
            // The peer a Unix domain socket reports.
            ("0.0.0.0", &["0.0.0.0"], &["0.0.0.1"]),
        ];
        for &(range, inside, outside) in cases {
            let proxies = TrustedProxies::forwarded([range]).unwrap();
            for ip in inside {
                assert!(proxies.contains(ip.parse().unwrap()), "{ip} in {range}");
            }
            for ip in outside {
                assert!(
                    !proxies.contains(ip.parse().unwrap()),
                    "{ip} not in {range}"
                );
            }
        }
    }

    #[test]
    fn invalid_ranges_are_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/8/8",
            "localhost",
            "10.0.0",
            "[::1]",
            "10.0.0.0/-1",
        ] {
            let err = TrustedProxies::x_forwarded_for(["127.0.0.1", bad]).unwrap_err();
            assert_eq!(err, InvalidProxy(bad.to_owned()));
            assert!(
                err.to_string().starts_with("invalid trusted proxy"),
                "{err}"
            );
        }
    }

    #[test]
    fn no_trusted_proxy_is_the_default() {
        assert_eq!(TrustedProxies::default().ranges, []);
    }

    proptest::proptest! {
        #[test]
        fn any_header_resolves_without_panicking(
            forwarded in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..3),
            text in "(for=|For=|\"|\\[|\\]|:|;|,| |_|unknown|1|0|\\.|f|\\\\|=|::)*",
        ) {
            let proxies = TrustedProxies::forwarded(["10.0.0.0/8", "::1"]).unwrap();
            let xff = TrustedProxies::x_forwarded_for(["10.0.0.0/8", "::1"]).unwrap();
            let mut headers = HeaderMap::new();
            for line in &forwarded {
                if let Ok(value) = HeaderValue::from_bytes(line) {
                    headers.append(FORWARDED, value.clone());
                    headers.append(X_FORWARDED_FOR, value);
                }
            }
            if let Ok(value) = HeaderValue::from_str(&text) {
                headers.append(FORWARDED, value.clone());
                headers.append(X_FORWARDED_FOR, value);
            }
            proxies.client(addr(PEER), &headers);
            xff.client(addr(PEER), &headers);
        }
    }
}
