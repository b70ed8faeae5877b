//! What the peer servers share with `examples/bench_server.rs`: the command
//! line contract, the route table's shape and the handlers' work, so that
//! every server in the matrix does the same thing per request.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "servers report on the terminal"
)]

use std::io::Write;
use std::net::SocketAddr;

/// Filler routes `/api/v1/resource{i}/{id}`, as many as bench_server has.
pub const FILLER_ROUTES: usize = 40;

/// The `/plaintext` body.
pub const PLAINTEXT: &str = "Hello, World!";

/// The `/json` body's message.
pub const MESSAGE: &str = "Hello, World!";

/// The `/json` body.
#[derive(serde::Serialize)]
pub struct Message {
    /// Always [`MESSAGE`].
    pub message: &'static str,
}

/// Walks the Fibonacci numbers up to 100,000,000, as bench_server's `/fib`
/// does.
pub fn fib() -> &'static str {
    let (mut a, mut b) = (0u64, 1u64);
    let mut count = 0u32;
    while a <= std::hint::black_box(100_000_000) {
        (a, b) = (b, a + b);
        count += 1;
    }
    std::hint::black_box(count);
    "OK"
}

/// Burns the same fixed amount of CPU as bench_server's `/cpu` (about
/// 5 ms), without yielding.
pub fn cpu() -> &'static str {
    let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..std::hint::black_box(2_500_000_u64) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x);
    "OK"
}

/// The command line every server in the matrix takes:
/// `--workers <N> --port <P>`.
#[derive(Debug, Clone, Copy)]
pub struct Args {
    /// Worker threads.
    pub workers: usize,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
}

/// Parses `--workers <N> --port <P>`, exiting with status 2 and a usage line
/// on anything else.
pub fn args(name: &str) -> Args {
    let mut args = Args {
        workers: 1,
        port: 8080,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next();
        let parsed = match (flag.as_str(), value.as_deref()) {
            ("--workers", Some(v)) => v.parse().ok().filter(|&n| n > 0).map(|n| args.workers = n),
            ("--port", Some(v)) => v.parse().ok().map(|p| args.port = p),
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("{name}: bad argument {flag:?}\nusage: {name} --workers <N> --port <P>");
            std::process::exit(2);
        }
    }
    args
}

/// Prints the line the bench harness waits for.
pub fn announce(addr: SocketAddr) {
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
}
