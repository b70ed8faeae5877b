//! bench_server's routes on may-minihttp (stackful coroutines on may's
//! scheduler), routed by hand, the way its TechEmpower entry is written.
//!
//! What may-minihttp cannot do: it frames a request body by
//! `Content-Length` only, so a chunked body is refused here (501), and as
//! may-minihttp then reads the chunks as the next request head, the
//! connection ends, often before that 501 is written. No workload sends
//! one. It also does not set TCP_NODELAY on the connections it accepts,
//! nor lets a service do so.
#![allow(missing_docs)]

use std::fmt::Write as _;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use bytes::BufMut;
use may_minihttp::{HttpServer, HttpService, Request, Response};
use tramline_peers::{FILLER_ROUTES, MESSAGE, Message, PLAINTEXT};

const TEXT_UTF8: &str = "Content-Type: text/plain; charset=utf-8";
const TEXT: &str = "Content-Type: text/plain";

/// `/api/v1/resource{i}/{id}` with `i` one of the filler routes.
fn filler(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("/api/v1/resource")?;
    let (i, id) = rest.split_once('/')?;
    let i: usize = i.parse().ok().filter(|&i| i < FILLER_ROUTES)?;
    (!id.is_empty() && !id.contains('/')).then_some((i, id))
}

/// Why a body cannot be read, answered before touching it: may-minihttp
/// frames a body by `Content-Length` alone (and panics on one that does not
/// parse), so anything else is refused here instead of misread.
fn unreadable_body(req: &Request<'_, '_, '_>) -> Option<(usize, &'static str)> {
    for h in req.headers() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Some((501, "Not Implemented"));
        }
        if h.name.eq_ignore_ascii_case("content-length")
            && std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .is_none()
        {
            return Some((400, "Bad Request"));
        }
    }
    None
}

fn status(rsp: &mut Response<'_>, code: usize, msg: &'static str, body: &'static str) {
    rsp.status_code(code, msg).header(TEXT).body(body);
}

/// Answers `/echo` and `/`: reads the whole body, then echoes it or drops it.
fn with_body(req: Request<'_, '_, '_>, rsp: &mut Response<'_>, echo: bool) -> io::Result<()> {
    if let Some((code, msg)) = unreadable_body(&req) {
        status(rsp, code, msg, "bad body");
        return Ok(());
    }
    let mut body = req.body();
    if echo {
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes)?;
        rsp.header("Content-Type: application/octet-stream")
            .body_vec(bytes);
    } else {
        io::copy(&mut body, &mut io::sink())?;
        rsp.header(TEXT_UTF8).body("OK");
    }
    Ok(())
}

#[derive(Clone)]
struct Peer;

impl HttpService for Peer {
    fn call(&mut self, req: Request<'_, '_, '_>, rsp: &mut Response<'_>) -> io::Result<()> {
        // may-minihttp hands over the raw request target.
        let target = req.path();
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        let get = req.method() == "GET";
        match path {
            "/plaintext" if get => {
                rsp.header(TEXT).body(PLAINTEXT);
            }
            "/json" if get => {
                rsp.header("Content-Type: application/json");
                serde_json::to_writer(rsp.body_mut().writer(), &Message { message: MESSAGE })?;
            }
            "/async" if get => {
                // may's timer parks the coroutine, not the worker thread.
                may::coroutine::sleep(Duration::from_millis(2));
                rsp.header(TEXT_UTF8).body("OK");
            }
            "/fib" if get => {
                rsp.header(TEXT_UTF8).body(tramline_peers::fib());
            }
            "/cpu" if get => {
                rsp.header(TEXT_UTF8).body(tramline_peers::cpu());
            }
            "/echo" if req.method() == "POST" => return with_body(req, rsp, true),
            "/" => return with_body(req, rsp, false),
            _ if get => {
                if let Some(id) = path.strip_prefix("/users/").filter(|id| !id.contains('/')) {
                    rsp.header(TEXT_UTF8);
                    write!(rsp.body_mut(), "user {id}").map_err(io::Error::other)?;
                } else if let Some((i, id)) = filler(path) {
                    rsp.header(TEXT_UTF8);
                    write!(rsp.body_mut(), "resource {i} {id}").map_err(io::Error::other)?;
                } else {
                    status(rsp, 404, "Not Found", "");
                }
            }
            _ => status(rsp, 404, "Not Found", ""),
        }
        Ok(())
    }
}

/// The address to hand may-minihttp, which binds it itself and never says
/// which port it got: for port 0 a std listener picks a free port and lets
/// it go just before may binds it.
fn free_addr(port: u16) -> io::Result<SocketAddr> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if port != 0 {
        return Ok(addr);
    }
    TcpListener::bind(addr)?.local_addr()
}

fn main() -> io::Result<()> {
    let args = tramline_peers::args("may_minihttp_server");
    may::config().set_workers(args.workers);
    // may pins worker i to the i-th allowed core by itself; leave placement
    // to the harness's taskset, as for every other server.
    may::config().set_worker_pin(false);
    // Another process may take the freed port in the instant between;
    // a fresh free port is then tried.
    let mut tries = 0;
    let (addr, server) = loop {
        let addr = free_addr(args.port)?;
        match HttpServer(Peer).start(addr) {
            Ok(server) => break (addr, server),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && args.port == 0 && tries < 10 => {
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    };
    tramline_peers::announce(addr);
    server
        .join()
        .map_err(|_| io::Error::other("the accept loop panicked"))
}
