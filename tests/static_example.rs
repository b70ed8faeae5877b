//! The `static_files` example's app over loopback, on every runtime: the
//! folder at `/`, precompressed siblings, ranges, the single-page-app
//! fallback and a refused traversal.
#![cfg(feature = "fs")]

mod support;

#[allow(
    dead_code,
    unreachable_pub,
    reason = "examples are binaries: their `main` and `pub` items are not used here"
)]
#[path = "../examples/static_files.rs"]
mod static_files;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tramline::rt::Runtime;

use support::{TestServer, on_every_runtime_and_protocol};

/// The folder the example serves, removed on drop.
struct Folder(PathBuf);

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn serves_the_example_folder<R: Runtime>(rt: R) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let root = std::env::temp_dir().join(format!(
        "tramline-static-example-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&root).unwrap();
    let folder = Folder(root);
    let root = &folder.0;
    std::fs::write(root.join("index.html"), "<p>app</p>").unwrap();
    std::fs::write(root.join("app.js"), "console.log(1)").unwrap();
    std::fs::write(root.join("app.js.gz"), "GZIPPED").unwrap();

    {
        let server = TestServer::start(rt, static_files::app(root));
        let mut client = server.connect();
        let mut get = |path: &str, headers: &str| {
            client.roundtrip(format!("GET {path} HTTP/1.1\r\nHost: t\r\n{headers}\r\n").as_bytes())
        };

        let r = get("/", "");
        assert_eq!((r.status, r.text()), (200, "<p>app</p>"));
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));

        let r = get("/health", "");
        assert_eq!((r.status, r.text()), (200, "ok"));

        let r = get("/app.js", "");
        assert_eq!((r.status, r.text()), (200, "console.log(1)"));
        assert_eq!(
            r.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(r.header("vary"), Some("accept-encoding"));

        let r = get("/app.js", "Accept-Encoding: br, gzip;q=0.8\r\n");
        assert_eq!((r.status, r.text()), (200, "GZIPPED"));
        assert_eq!(r.header("content-encoding"), Some("gzip"));

        let r = get("/app.js", "Range: bytes=0-6\r\n");
        assert_eq!((r.status, r.text()), (206, "console"));
        assert_eq!(r.header("content-range"), Some("bytes 0-6/14"));

        let etag = get("/app.js", "").header("etag").unwrap().to_owned();
        let r = get("/app.js", &format!("If-None-Match: {etag}\r\n"));
        assert_eq!((r.status, r.text()), (304, ""));

        // A client-side route of the single-page app gets the index.
        let r = get("/settings/profile", "");
        assert_eq!((r.status, r.text()), (200, "<p>app</p>"));

        let r = get("/%2e%2e/etc/passwd", "");
        assert_eq!(r.status, 400, "{}", r.text());
    }
}

on_every_runtime_and_protocol!(serves_the_example_folder);
