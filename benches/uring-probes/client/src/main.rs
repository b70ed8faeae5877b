//! One keep-alive connection, requests back to back, each response read in
//! full (by content-length) before the next request is sent.
//!
//! usage: probe-client PORT WARMUP N [CMD_AFTER_WARMUP [CMD_AFTER_RUN]]
//! The commands run through `sh -c` on the same open connection, e.g.
//! `callgrind_control -z PID` and `callgrind_control -d PID`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Instant;

const REQ: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n";

fn run(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "`{cmd}` failed: {st}");
}

/// Reads one response; `buf` keeps bytes past its end (there are none here).
fn response(s: &mut TcpStream, buf: &mut Vec<u8>) {
    loop {
        if let Some(h) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..h]).expect("utf8 head");
            assert!(head.starts_with("HTTP/1.1 200 "), "bad status: {head}");
            let len: usize = head
                .split("\r\n")
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse().unwrap())
                })
                .expect("content-length");
            let total = h + 4 + len;
            if buf.len() >= total {
                buf.drain(..total);
                return;
            }
        }
        let mut tmp = [0u8; 4096];
        let n = s.read(&mut tmp).expect("read");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let port: u16 = a.get(1).and_then(|p| p.parse().ok()).expect("usage: probe-client PORT WARMUP N [CMD [CMD]]");
    let warmup: usize = a.get(2).and_then(|p| p.parse().ok()).unwrap_or(1000);
    let n: usize = a.get(3).and_then(|p| p.parse().ok()).unwrap_or(10_000);
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(4096);
    for _ in 0..warmup {
        s.write_all(REQ).unwrap();
        response(&mut s, &mut buf);
    }
    if let Some(c) = a.get(4) {
        run(c);
    }
    let t = Instant::now();
    for _ in 0..n {
        s.write_all(REQ).unwrap();
        response(&mut s, &mut buf);
    }
    let el = t.elapsed();
    if let Some(c) = a.get(5) {
        run(c);
    }
    eprintln!("probe-client: {warmup} warm-up + {n} requests, {n} in {el:?}");
}
