//! The `bench_server` example's contract, checked with curl against the real
//! binary on every runtime: the command line, the `listening on` line, and
//! every route's answer, over HTTP/1.1 and HTTP/2 (h2c with prior knowledge,
//! and with the `tls` feature `h2` through ALPN over HTTPS with a
//! certificate made at test time).

#[cfg(feature = "tls")]
#[path = "support/certs.rs"]
mod certs;

// Only the raw client is used here, not the per-runtime macro.
#[allow(unused_macros, unused_imports)]
mod support;
#[cfg(feature = "ws")]
#[path = "support/ws_frames.rs"]
mod ws_frames;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The example binary cargo built next to this test.
fn example_binary() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join("bench_server")
}

/// A bench_server process, killed on drop.
struct BenchServer {
    child: Child,
    port: u16,
    /// Over HTTPS: the CA file curl is to trust.
    ca: Option<PathBuf>,
    /// The protocol curl is to speak: its flag, and the version it must
    /// then report.
    protocol: std::cell::Cell<(&'static str, &'static str)>,
}

impl BenchServer {
    fn start(runtime: &str) -> Self {
        Self::start_with(runtime, &[], None)
    }

    /// Starts it with `extra` arguments; `ca` makes curl use HTTPS and
    /// trust that CA.
    fn start_with(runtime: &str, extra: &[&str], ca: Option<PathBuf>) -> Self {
        let mut child = Command::new(example_binary())
            .args(["--runtime", runtime, "--workers", "2", "--port", "0"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run the bench_server example (cargo test builds it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self {
            child,
            port,
            ca,
            protocol: std::cell::Cell::new(("--http1.1", "1.1")),
        }
    }

    /// Runs curl and returns (status, content-type, body).
    fn curl(&self, args: &[&str], path: &str) -> (u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code} %{http_version} %{content_type}",
        ])
        .arg(self.protocol.get().0)
        .args(args);
        match &self.ca {
            Some(ca) => cmd
                .arg("--cacert")
                .arg(ca)
                .arg("--resolve")
                .arg(format!("localhost:{}:127.0.0.1", self.port))
                .arg(format!("https://localhost:{}{path}", self.port)),
            None => cmd.arg(format!("http://127.0.0.1:{}{path}", self.port)),
        };
        let out = cmd
            .output()
            .expect("curl must be installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "curl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (body, meta) = text.rsplit_once('\n').unwrap();
        let (code, rest) = meta.split_once(' ').unwrap();
        let (version, ctype) = rest.split_once(' ').unwrap();
        assert_eq!(
            version,
            self.protocol.get().1,
            "curl spoke another protocol"
        );
        (code.parse().unwrap(), ctype.to_owned(), body.to_owned())
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every route over HTTP/1.1, then over h2c with prior knowledge on the
/// same port.
fn answers_every_route(runtime: &str) {
    let server = BenchServer::start(runtime);
    check_every_route(&server);
    server.protocol.set(("--http2-prior-knowledge", "2"));
    check_every_route(&server);
}

fn check_every_route(server: &BenchServer) {
    let (code, ctype, body) = server.curl(&[], "/plaintext");
    assert_eq!(
        (code, ctype.as_str(), body.as_str()),
        (200, "text/plain", "Hello, World!")
    );

    let (code, ctype, body) = server.curl(&[], "/json");
    assert_eq!((code, ctype.as_str()), (200, "application/json"));
    assert_eq!(body, r#"{"message":"Hello, World!"}"#);

    assert_eq!(server.curl(&[], "/users/42").2, "user 42");
    assert_eq!(server.curl(&[], "/api/v1/resource7/9").2, "resource 7 9");
    assert_eq!(server.curl(&[], "/api/v1/resource39/x").2, "resource 39 x");

    let started = std::time::Instant::now();
    assert_eq!(server.curl(&[], "/async").2, "OK");
    assert!(started.elapsed() >= Duration::from_millis(2));

    assert_eq!(server.curl(&[], "/fib").2, "OK");
    assert_eq!(server.curl(&[], "/cpu").2, "OK");

    let payload = "x".repeat(100_000);
    let (code, _, body) = server.curl(&["-X", "POST", "--data-binary", &payload], "/echo");
    assert_eq!((code, body.len()), (200, payload.len()));
    assert_eq!(body, payload);

    for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
        let (code, _, body) = server.curl(&["-X", method, "--data-binary", "abc"], "/");
        assert_eq!((code, body.as_str()), (200, "OK"), "{method} /");
    }
    let (code, _, _) = server.curl(&[], "/missing");
    assert_eq!(code, 404);

    let (code, ctype, body) = server.curl(&["-N"], "/sse?n=3");
    assert_eq!((code, ctype.as_str()), (200, "text/event-stream"));
    assert_eq!(body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
    assert_eq!(server.curl(&[], "/sse?n=0").2, "");
    assert_eq!(server.curl(&[], "/sse?n=many").0, 400);
    assert_eq!(server.curl(&[], "/sse?n=1000001").0, 400);

    // No --static folder: nothing to serve (or, built without the
    // feature, a 501 that says so).
    let (code, _, body) = server.curl(&[], "/static/index.html");
    if cfg!(feature = "fs") {
        assert_eq!((code, body.as_str()), (404, "no --static folder given"));
    } else {
        assert_eq!(code, 501, "{body}");
    }

    if server.ca.is_none() {
        check_websocket_echo(server.port);
    }
}

/// `GET /ws` echoes text and binary messages, checked frame by frame.
#[cfg(feature = "ws")]
fn check_websocket_echo(port: u16) {
    use ws_frames::{BINARY, TEXT, frame, handshake, read_frame};
    let mut client = support::Client::connect(([127, 0, 0, 1], port).into());
    client.send(&handshake("/ws", ""));
    assert_eq!(client.response().status, 101);
    for (opcode, payload) in [(TEXT, &b"hello"[..]), (BINARY, &[0u8, 1, 2, 255][..])] {
        client.send(&frame(true, opcode, payload));
        assert_eq!(read_frame(&mut client), (true, opcode, payload.to_vec()));
    }
}

#[cfg(not(feature = "ws"))]
fn check_websocket_echo(port: u16) {
    let mut client = support::Client::connect(([127, 0, 0, 1], port).into());
    let r = client.roundtrip(b"GET /ws HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 501);
}

/// `--static DIR` serves that folder under `/static/`, on every runtime.
#[cfg(feature = "fs")]
#[test]
fn bench_server_serves_the_static_folder() {
    let dir = std::env::temp_dir().join(format!("bench-server-static-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("css")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>hi</h1>").unwrap();
    std::fs::write(dir.join("css/site.css"), "body{}").unwrap();
    let mut runtimes = vec!["tokio", "tokio-local", "smol", "smol-local", "async-std"];
    if cfg!(feature = "uring") {
        runtimes.push("uring");
    }
    for runtime in runtimes {
        let server = BenchServer::start_with(runtime, &["--static", dir.to_str().unwrap()], None);
        let (code, ctype, body) = server.curl(&[], "/static/css/site.css");
        assert_eq!(
            (code, ctype.as_str(), body.as_str()),
            (200, "text/css; charset=utf-8", "body{}"),
            "{runtime}"
        );
        let (code, _, body) = server.curl(&[], "/static/");
        assert_eq!((code, body.as_str()), (200, "<h1>hi</h1>"), "{runtime}");
        let (code, _, body) = server.curl(&["-r", "1-2"], "/static/css/site.css");
        assert_eq!((code, body.as_str()), (206, "od"), "{runtime}");
        assert_eq!(server.curl(&[], "/static/missing.txt").0, 404, "{runtime}");
        assert_eq!(
            server.curl(&["--path-as-is"], "/static/../Cargo.toml").0,
            400,
            "{runtime}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_server_on_tokio() {
    answers_every_route("tokio");
}

#[test]
fn bench_server_on_tokio_local() {
    answers_every_route("tokio-local");
}

#[test]
fn bench_server_on_smol() {
    answers_every_route("smol");
}

#[test]
fn bench_server_on_smol_local() {
    answers_every_route("smol-local");
}

#[test]
fn bench_server_on_async_std() {
    answers_every_route("async-std");
}

#[cfg(feature = "uring")]
#[test]
fn bench_server_on_uring() {
    answers_every_route("uring");
}

#[test]
fn bench_server_rejects_an_unknown_runtime() {
    let out = Command::new(example_binary())
        .args(["--runtime", "nope", "--workers", "1", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown runtime"));
    // The matrix learns the runtimes from this list.
    assert_eq!(
        stderr.contains("or uring"),
        cfg!(feature = "uring"),
        "{stderr}"
    );
}

/// The same routes over HTTPS: `--tls-cert` and `--tls-key` with a
/// certificate for `localhost` signed by a CA made here.
#[cfg(feature = "tls")]
fn answers_every_route_over_https(runtime: &str) {
    let ca = certs::TestCa::new("bench-server-tls");
    let leaf = ca.leaf("bench server");
    let (cert, key) = (
        leaf.cert_path.to_str().unwrap(),
        leaf.key_path.to_str().unwrap(),
    );
    let server = BenchServer::start_with(
        runtime,
        &["--tls-cert", cert, "--tls-key", key],
        Some(ca.ca_path()),
    );
    check_every_route(&server);
    // HTTP/2 through ALPN on the same port.
    server.protocol.set(("--http2", "2"));
    check_every_route(&server);
    // Plain HTTP is not served on the TLS port.
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!("http://127.0.0.1:{}/plaintext", server.port))
        .output()
        .unwrap();
    assert!(!out.status.success(), "plain HTTP answered on the TLS port");
}

#[cfg(feature = "tls")]
#[test]
fn bench_server_over_https_on_tokio() {
    answers_every_route_over_https("tokio");
}

#[cfg(feature = "tls")]
#[test]
fn bench_server_over_https_on_tokio_local() {
    answers_every_route_over_https("tokio-local");
}

#[cfg(feature = "tls")]
#[test]
fn bench_server_over_https_on_smol() {
    answers_every_route_over_https("smol");
}

#[cfg(feature = "tls")]
#[test]
fn bench_server_over_https_on_smol_local() {
    answers_every_route_over_https("smol-local");
}

#[cfg(feature = "tls")]
#[test]
fn bench_server_over_https_on_async_std() {
    answers_every_route_over_https("async-std");
}

#[cfg(all(feature = "tls", feature = "uring"))]
#[test]
fn bench_server_over_https_on_uring() {
    answers_every_route_over_https("uring");
}

#[cfg(feature = "tls")]
#[test]
fn bench_server_reports_a_bad_certificate_file() {
    let out = Command::new(example_binary())
        .args(["--runtime", "tokio", "--workers", "1", "--port", "0"])
        .args([
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            "/nonexistent/key.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/cert.pem"), "{stderr}");
}

/// Without the `tls` feature the TLS flags are refused with a message that
/// says how to get them.
#[cfg(not(feature = "tls"))]
#[test]
fn bench_server_without_tls_says_which_feature() {
    let out = Command::new(example_binary())
        .args(["--runtime", "tokio", "--workers", "1", "--port", "0"])
        .args(["--tls-cert", "cert.pem", "--tls-key", "key.pem"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`tls` feature"), "{stderr}");
}
