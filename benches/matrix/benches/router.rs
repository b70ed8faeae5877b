//! tramline's router on tables of 1, 100 and 1,000 routes: match, extract a
//! path parameter, run the handler, build the response.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use futures_lite::future::block_on;
use tramline::extract::Path;
use tramline::routing::get;
use tramline::{Body, Request, Router};

fn router(routes: usize) -> Router {
    let mut router = Router::new();
    for i in 0..routes {
        router = router.route(
            &format!("/api/v1/resource{i}/{{id}}"),
            get(move |Path(id): Path<String>| async move { format!("resource {i} {id}") }),
        );
    }
    router
}

fn request(path: &str) -> Request {
    http::Request::get(path)
        .body(Body::empty())
        .expect("valid request")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    for routes in [1, 100, 1000] {
        let app = router(routes);
        // The last route registered: the deepest search for a linear router.
        let path = format!("/api/v1/resource{}/12345", routes - 1);
        group.bench_with_input(BenchmarkId::new("param", routes), &path, |b, path| {
            b.iter_batched(
                || request(path),
                |req| black_box(block_on(app.handle(req))),
                BatchSize::SmallInput,
            );
        });
        group.bench_with_input(BenchmarkId::new("miss_404", routes), &routes, |b, _| {
            b.iter_batched(
                || request("/api/v2/nothing/here"),
                |req| black_box(block_on(app.handle(req))),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
