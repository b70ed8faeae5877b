//! bench_server's routes on bare hyper (http1, tokio multi-thread runtime via
//! hyper-util), routed by hand.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tramline_peers::{FILLER_ROUTES, MESSAGE, Message, PLAINTEXT};

fn text(status: StatusCode, ctype: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(body.into()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    res
}

fn ok(body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    text(StatusCode::OK, "text/plain; charset=utf-8", body)
}

/// `/api/v1/resource{i}/{id}` with `i` one of the filler routes.
fn filler(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("/api/v1/resource")?;
    let (i, id) = rest.split_once('/')?;
    let i: usize = i.parse().ok().filter(|&i| i < FILLER_ROUTES)?;
    (!id.is_empty() && !id.contains('/')).then_some((i, id))
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let get = req.method() == Method::GET;
    let res = match path {
        "/plaintext" if get => text(StatusCode::OK, "text/plain", PLAINTEXT),
        "/json" if get => text(
            StatusCode::OK,
            "application/json",
            serde_json::to_vec(&Message { message: MESSAGE }).expect("serializes"),
        ),
        "/async" if get => {
            tokio::time::sleep(Duration::from_millis(2)).await;
            ok("OK")
        }
        "/fib" if get => ok(tramline_peers::fib()),
        "/cpu" if get => ok(tramline_peers::cpu()),
        "/echo" if req.method() == Method::POST => match req.into_body().collect().await {
            Ok(body) => text(StatusCode::OK, "application/octet-stream", body.to_bytes()),
            Err(_) => text(StatusCode::BAD_REQUEST, "text/plain", "bad body"),
        },
        "/" => match req.into_body().collect().await {
            Ok(_) => ok("OK"),
            Err(_) => text(StatusCode::BAD_REQUEST, "text/plain", "bad body"),
        },
        _ if get => {
            if let Some(id) = path.strip_prefix("/users/").filter(|id| !id.contains('/')) {
                ok(format!("user {id}"))
            } else if let Some((i, id)) = filler(path) {
                ok(format!("resource {i} {id}"))
            } else {
                text(StatusCode::NOT_FOUND, "text/plain", "")
            }
        }
        _ => text(StatusCode::NOT_FOUND, "text/plain", ""),
    };
    Ok(res)
}

fn main() -> std::io::Result<()> {
    let args = tramline_peers::args("hyper_server");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
        tramline_peers::announce(listener.local_addr()?);
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    // Answers a pipelined batch with one write, as tramline does.
                    .pipeline_flush(true)
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                    .await;
            });
        }
    })
}
