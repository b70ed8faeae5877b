//! What all four probes share, so they do the same work per request.

/// The fixed response, appended once per complete request.
pub const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\ncontent-type: text/plain\r\n\r\nHello, World!";

/// Size of each connection's read buffer.
pub const READ_BUF: usize = 8 * 1024;

/// Counts requests ending in "\r\n\r\n", across reads: it remembers how much
/// of the terminator the previous read ended with.
#[derive(Default, Debug)]
pub struct Counter {
    matched: u8,
}

impl Counter {
    /// Feeds one read's bytes; returns how many requests they completed.
    #[inline]
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        const END: &[u8; 4] = b"\r\n\r\n";
        let mut m = self.matched as usize;
        let mut n = 0;
        for &b in bytes {
            if b == END[m] {
                m += 1;
                if m == 4 {
                    n += 1;
                    m = 0;
                }
            } else {
                m = (b == b'\r') as usize;
            }
        }
        self.matched = m as u8;
        n
    }
}

/// Appends `n` responses to `out`.
#[inline]
pub fn respond(out: &mut Vec<u8>, n: usize) {
    for _ in 0..n {
        out.extend_from_slice(RESPONSE);
    }
}

/// The address to bind: 127.0.0.1 and the port given as the first argument.
pub fn addr() -> std::net::SocketAddr {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: probe-<rt> PORT");
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

#[cfg(test)]
mod tests {
    use super::Counter;

    #[test]
    fn split_and_pipelined() {
        let req = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut all = Vec::new();
        for _ in 0..16 {
            all.extend_from_slice(req);
        }
        // every split point, and byte by byte
        for cut in 0..all.len() {
            let mut c = Counter::default();
            assert_eq!(c.feed(&all[..cut]) + c.feed(&all[cut..]), 16);
        }
        let mut c = Counter::default();
        assert_eq!(all.iter().map(|b| c.feed(std::slice::from_ref(b))).sum::<usize>(), 16);
        let mut c = Counter::default();
        assert_eq!(c.feed(b"\r\r\n\r\n\r\n\r\r\n\r\n"), 2);
    }
}
