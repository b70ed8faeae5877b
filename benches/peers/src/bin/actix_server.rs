//! bench_server's routes on actix-web (one single-threaded runtime per
//! worker, like tramline's tokio-local).
#![allow(missing_docs)]

use std::time::Duration;

use actix_web::http::header::ContentType;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};
use tramline_peers::{FILLER_ROUTES, MESSAGE, Message, PLAINTEXT};

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/plaintext",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type(ContentType::plaintext().essence_str().to_owned())
                .body(PLAINTEXT)
        }),
    )
    .route(
        "/json",
        web::get().to(|| async { web::Json(Message { message: MESSAGE }) }),
    )
    .route(
        "/users/{id}",
        web::get().to(|id: web::Path<String>| async move { format!("user {id}") }),
    )
    .route(
        "/async",
        web::get().to(|| async {
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
            "OK"
        }),
    )
    .route("/fib", web::get().to(|| async { tramline_peers::fib() }))
    .route("/cpu", web::get().to(|| async { tramline_peers::cpu() }))
    .route("/echo", web::post().to(|body: Bytes| async move { body }))
    .route(
        "/",
        web::route().to(|body: Bytes| async move {
            drop(body);
            "OK"
        }),
    );
    for i in 0..FILLER_ROUTES {
        cfg.route(
            &format!("/api/v1/resource{i}/{{id}}"),
            web::get().to(move |id: web::Path<String>| async move { format!("resource {i} {id}") }),
        );
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = tramline_peers::args("actix_server");
    let server = HttpServer::new(|| {
        App::new()
            // bench_server accepts 1 MiB uploads (its limit is 2 MiB).
            .app_data(web::PayloadConfig::new(2 * 1024 * 1024))
            .configure(routes)
    })
    .workers(args.workers)
    .bind(("127.0.0.1", args.port))?;
    tramline_peers::announce(server.addrs()[0]);
    server.run().await
}
