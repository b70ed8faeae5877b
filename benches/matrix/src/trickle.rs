//! Trickled heads: many connections each send one large request head in
//! small writes, as a slow (or hostile) client does. A server that parses
//! the head again from its first byte on every read spends CPU quadratic in
//! the head's length; one that keeps its scan offset, linear. The figure is
//! the server's own CPU time, from `/proc/<pid>/stat`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tramline::test::ResponseParser;

use crate::proc;
use crate::server::Server;

/// What each round sends.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Connections sending at once, one thread each.
    pub connections: usize,
    /// Bytes in each request head, its final CRLF CRLF included.
    pub head_bytes: usize,
    /// Bytes per write (`TCP_NODELAY`, so each write is its own segment
    /// unless the server falls behind).
    pub write_bytes: usize,
    /// Pause after each write, so the writes arrive as separate reads
    /// rather than coalescing in the socket buffer.
    pub pace: Duration,
}

/// One round's result.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// The server's user plus system CPU time during the round.
    pub server_cpu: Duration,
    /// From the first connect to the last response.
    pub wall: Duration,
    /// Connections answered 200.
    pub ok: usize,
}

/// The request: `GET /plaintext` with one filler header bringing the head
/// to `head_bytes` (at least the bare request).
pub fn request(head_bytes: usize) -> Vec<u8> {
    const START: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\nX-Fill: ";
    const END: &[u8] = b"\r\n\r\n";
    let fill = head_bytes.saturating_sub(START.len() + END.len()).max(1);
    let mut req = Vec::with_capacity(START.len() + fill + END.len());
    req.extend_from_slice(START);
    req.resize(START.len() + fill, b'a');
    req.extend_from_slice(END);
    req
}

/// Runs one round against `server`.
///
/// # Errors
///
/// Returns the first connection's error, or an error reading `/proc`.
///
/// # Panics
///
/// Panics if a client thread panics.
pub fn run(server: &Server, shape: &Shape) -> io::Result<Round> {
    let req = request(shape.head_bytes);
    let before = proc::usage(server.pid)?.cpu;
    let started = Instant::now();
    let answered: Vec<io::Result<bool>> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..shape.connections)
            .map(|_| s.spawn(|| send(server, &req, shape)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("client thread"))
            .collect()
    });
    let wall = started.elapsed();
    // Let the server finish with the closed connections before counting.
    std::thread::sleep(Duration::from_millis(100));
    let after = proc::usage(server.pid)?.cpu;
    let mut ok = 0;
    for a in answered {
        ok += usize::from(a?);
    }
    Ok(Round {
        server_cpu: after.saturating_sub(before),
        wall,
        ok,
    })
}

/// Sends `req` in the shape's writes and reads the response head; `true`
/// if it is a 200.
fn send(server: &Server, req: &[u8], shape: &Shape) -> io::Result<bool> {
    let mut stream = TcpStream::connect(server.addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    for piece in req.chunks(shape.write_bytes.max(1)) {
        stream.write_all(piece)?;
        if !shape.pace.is_zero() {
            std::thread::sleep(shape.pace);
        }
    }
    // Only the head matters: read as the answer to HEAD, the response is
    // complete once its head is.
    let mut parser = ResponseParser::new();
    parser.head_request(true);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        match parser.frame(&got) {
            Ok(Some(frame)) => return Ok(frame.status == 200),
            Ok(None) => {}
            Err(_) => return Ok(false),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_has_the_asked_size_and_one_head_end() {
        let req = request(60_000);
        assert_eq!(req.len(), 60_000);
        assert!(req.ends_with(b"\r\n\r\n"));
        assert_eq!(req.windows(4).filter(|w| w == b"\r\n\r\n").count(), 1);
    }
}
