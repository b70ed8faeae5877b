//! The request-head parse tramline's engine is built on: httparse with a
//! stack array of headers, on the heads the matrix sends.
//!
//! tramline's own rules on top of httparse (Host, framing, limits) live in
//! the crate-private engine and are not reachable from here; their cost
//! shows in the matrix's instructions per request (`--instr`).
#![allow(missing_docs)]

use std::hint::black_box;
use std::mem::MaybeUninit;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// What wrk sends for plaintext.
const WRK: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// A browser-like head with a dozen headers.
const BROWSER: &[u8] = b"GET /api/v1/resource39/12345?page=2 HTTP/1.1\r\n\
Host: example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: none\r\n\
Cache-Control: max-age=0\r\n\r\n";

fn parse(buf: &[u8]) -> usize {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 100];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n + req.headers.len(),
        _ => 0,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_head");
    for (name, head) in [("wrk_plaintext", WRK), ("browser", BROWSER)] {
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_function(name, |b| b.iter(|| parse(black_box(head))));
    }
    // 16 pipelined requests in one buffer, parsed in turn as the engine does.
    let pipelined = WRK.repeat(16);
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipelined_16", |b| {
        b.iter(|| {
            let mut at = 0;
            let buf = black_box(&pipelined[..]);
            while at < buf.len() {
                let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 100];
                let mut req = httparse::Request::new(&mut []);
                match req.parse_with_uninit_headers(&buf[at..], &mut headers) {
                    Ok(httparse::Status::Complete(n)) => at += n,
                    _ => break,
                }
            }
            at
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
