//! HTTPS end to end on every runtime, against certificates made at test
//! time: curl and `openssl s_client` as the clients, certificate reload, the
//! handshake timeout, plain HTTP on the TLS port, and the connection limit.
#![cfg(feature = "tls")]

#[path = "support/certs.rs"]
mod certs;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use certs::{Leaf, TestCa};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use http::HeaderValue;
use support::{TestServer, on_every_runtime};
use tramline::routing::{get, post};
use tramline::rt::Runtime;
use tramline::tls::TlsConfig;
use tramline::upgrade::UpgradeRequest;
use tramline::{Router, Server};

fn app() -> Router {
    Router::new()
        .route("/", get(|| async { "hello over tls" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        // An upgraded connection stays encrypted: reads four bytes of the
        // new protocol, answers, and closes (with close_notify).
        .route(
            "/upgrade",
            get(|upgrade: UpgradeRequest| async move {
                upgrade.accept(HeaderValue::from_static("echo"), |mut io| async move {
                    let mut word = [0u8; 4];
                    if io.read_exact(&mut word).await.is_ok() {
                        let reply =
                            format!("switched over tls: {}\n", String::from_utf8_lossy(&word));
                        let _ = io.write_all(reply.as_bytes()).await;
                    }
                    let _ = io.close().await;
                })
            }),
        )
}

fn tls_config(leaf: &Leaf) -> TlsConfig {
    TlsConfig::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap()
}

fn start<R: Runtime>(rt: R, tls: &TlsConfig, configure: impl FnOnce(&mut Server<R>)) -> TestServer {
    let tls = tls.clone();
    TestServer::start_with(rt, app(), move |server| {
        server.tls(tls);
        configure(server);
    })
}

/// curl against `https://localhost:PORT` resolved to the test server,
/// trusting only the test CA; returns its output, whatever its exit status.
/// HTTP/1.1 over TLS: ALPN `h2` is tests/http2.rs's.
fn curl(ca: &TestCa, port: u16, args: &[&str], paths: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "--http1.1", "--cacert"])
        .arg(ca.ca_path())
        .arg("--resolve")
        .arg(format!("localhost:{port}:127.0.0.1"))
        .args(args);
    for path in paths {
        cmd.arg(format!("https://localhost:{port}{path}"));
    }
    cmd.output()
        .expect("curl must be installed (.ci/run installs it)")
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `openssl s_client` to the server, bounded by coreutils' `timeout`, with
/// `input` on its standard input.
fn s_client(ca: &TestCa, port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "2", "15", "openssl", "s_client", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost", "-CAfile"])
        .arg(ca.ca_path())
        .args(extra);
    cmd
}

fn s_client_run(ca: &TestCa, port: u16, extra: &[&str], input: &[u8]) -> String {
    let mut child = s_client(ca, port, extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed (.ci/run installs it)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    format!("{}\n{}", text(&out.stdout), text(&out.stderr))
}

/// The subject of the certificate a fresh handshake is given.
fn served_subject(ca: &TestCa, port: u16) -> String {
    let out = s_client_run(ca, port, &["-showcerts"], b"");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    out.lines()
        .find(|l| l.trim_start().starts_with("0 s:"))
        .unwrap_or_else(|| panic!("no subject line in {out}"))
        .to_owned()
}

fn curl_serves_https<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-curl");
    let leaf = ca.leaf("leaf A");
    let server = start(rt, &tls_config(&leaf), |_| {});
    let port = server.addr().port();

    let out = curl(&ca, port, &["-w", " %{http_version}"], &["/"]);
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello over tls 1.1");

    // Two requests on one TLS connection, and a body both ways.
    let payload = "x".repeat(100_000);
    let out = curl(&ca, port, &["-v"], &["/", "/"]);
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello over tlshello over tls");
    let verbose = text(&out.stderr);
    assert!(
        verbose
            .lines()
            .any(|l| l.contains("ALPN") && l.contains("accepted") && l.contains("http/1.1")),
        "{verbose}"
    );
    assert!(
        verbose.to_lowercase().contains("re-using existing"),
        "{verbose}"
    );
    let out = curl(&ca, port, &["--data-binary", &payload], &["/echo"]);
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), payload);
}

fn openssl_negotiates_http11<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-openssl");
    let leaf = ca.leaf("leaf A");
    let server = start(rt, &tls_config(&leaf), |_| {});
    let out = s_client_run(
        &ca,
        server.addr().port(),
        &["-alpn", "http/1.1", "-ign_eof"],
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("hello over tls"), "{out}");
    // `Connection: close` ends with close_notify before the FIN: s_client
    // prints `closed` for a clean TLS shutdown, an error for a bare EOF.
    assert!(out.lines().any(|l| l.trim() == "closed"), "{out}");
    assert!(!out.contains("unexpected eof"), "{out}");

    // A client that offers only protocols the server does not speak is
    // refused (RFC 7301 §3.2), not served HTTP/1.1 under another name.
    let out = s_client_run(&ca, server.addr().port(), &["-alpn", "h3"], b"");
    assert!(!out.contains("ALPN protocol: h3"), "{out}");
    assert!(out.contains("no application protocol"), "{out}");
}

fn an_upgraded_connection_stays_encrypted<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-upgrade");
    let leaf = ca.leaf("leaf A");
    let server = start(rt, &tls_config(&leaf), |_| {});
    let out = s_client_run(
        &ca,
        server.addr().port(),
        &["-ign_eof"],
        b"GET /upgrade HTTP/1.1\r\nHost: localhost\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nping",
    );
    assert!(out.contains("HTTP/1.1 101 Switching Protocols"), "{out}");
    assert!(out.contains("switched over tls: ping"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "closed"), "{out}");
}

/// An `openssl s_client` kept open, its output collected by a thread.
struct OpenClient {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl OpenClient {
    fn connect(ca: &TestCa, port: u16) -> Self {
        let mut child = s_client(ca, port, &["-showcerts", "-ign_eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl must be installed (.ci/run installs it)");
        let output = Arc::new(Mutex::new(String::new()));
        let sink = output.clone();
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let client = Self { child, output };
        client.wait_for("Verify return code");
        client
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.output.lock().unwrap().clone();
            if out.contains(needle) {
                return out;
            }
            assert!(Instant::now() < deadline, "no {needle:?} in {out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OpenClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reload_swaps_the_certificate<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-reload");
    let (a, b, other) = (ca.leaf("leaf A"), ca.leaf("leaf B"), ca.leaf("leaf C"));
    let tls = tls_config(&a);
    let server = start(rt, &tls, |_| {});
    let port = server.addr().port();
    assert!(served_subject(&ca, port).contains("leaf A"));
    let open = OpenClient::connect(&ca, port);
    assert!(open.wait_for("Verify return code").contains("leaf A"));

    // Bad reloads fail and leave A in place: a key of another certificate,
    // a missing file, a key file given as the certificate.
    let err = tls
        .reload_from_pem(b.cert_pem.as_bytes(), other.key_pem.as_bytes())
        .unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let err = tls
        .reload_from_pem_files(ca.dir().join("nope.pem"), &b.key_path)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(tls.reload_from_pem_files(&b.key_path, &b.key_path).is_err());
    assert!(served_subject(&ca, port).contains("leaf A"));

    tls.reload_from_pem_files(&b.cert_path, &b.key_path)
        .unwrap();
    assert!(served_subject(&ca, port).contains("leaf B"));
    let out = curl(&ca, port, &["-v"], &["/"]);
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    let verbose = text(&out.stderr);
    assert!(
        verbose
            .lines()
            .any(|l| l.contains("subject:") && l.contains("leaf B")),
        "{verbose}"
    );

    // The connection made before the reload still works, on A.
    let mut open = open;
    open.child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let out = open.wait_for("hello over tls");
    assert!(out.contains("HTTP/1.1 200 OK"), "{out}");

    // And through the PEM form, back to A.
    tls.reload_from_pem(a.cert_pem.as_bytes(), a.key_pem.as_bytes())
        .unwrap();
    assert!(served_subject(&ca, port).contains("leaf A"));
}

/// Reads until the server closes; returns what it sent and how long that
/// took. Panics if it stays open for `limit`.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("connection still open after {:?}: {e}", started.elapsed()),
        }
    }
    (got, started.elapsed())
}

fn silent_client_is_closed_after_the_handshake_timeout<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-silent");
    let mut tls = tls_config(&ca.leaf("leaf A"));
    tls.handshake_timeout(Duration::from_millis(300));
    let server = start(rt, &tls, |_| {});
    let mut silent = TcpStream::connect(server.addr()).unwrap();
    let (got, took) = read_until_closed(&mut silent, Duration::from_secs(5));
    assert!(got.is_empty(), "{got:?}");
    assert!(took >= Duration::from_millis(250), "closed after {took:?}");
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    // The server goes on serving.
    let out = curl(&ca, server.addr().port(), &[], &["/"]);
    assert_eq!(text(&out.stdout), "hello over tls", "{}", text(&out.stderr));
}

fn plain_http_on_the_tls_port_is_closed<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-plain");
    // The default 10 s handshake timeout: a close well before it is
    // rustls rejecting the bytes, not the timer.
    let server = start(rt, &tls_config(&ca.leaf("leaf A")), |_| {});
    let mut plain = TcpStream::connect(server.addr()).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let (got, took) = read_until_closed(&mut plain, Duration::from_secs(5));
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
    assert!(!got.starts_with(b"HTTP/"), "{:?}", text(&got));
    let out = curl(&ca, server.addr().port(), &[], &["/"]);
    assert_eq!(text(&out.stdout), "hello over tls", "{}", text(&out.stderr));
}

fn handshakes_count_against_max_connections<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-limit");
    let mut tls = tls_config(&ca.leaf("leaf A"));
    tls.handshake_timeout(Duration::from_millis(800));
    let server = start(rt, &tls, |s| {
        s.max_connections(1);
    });
    // The one slot goes to a client that never starts its handshake: curl
    // waits in the accept queue until the handshake timeout frees it.
    let _silent = TcpStream::connect(server.addr()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let out = curl(&ca, server.addr().port(), &[], &["/"]);
    let took = started.elapsed();
    assert_eq!(text(&out.stdout), "hello over tls", "{}", text(&out.stderr));
    assert!(took >= Duration::from_millis(500), "served after {took:?}");
}

fn shutdown_closes_idle_tls_connections_cleanly<R: Runtime>(rt: R) {
    let ca = TestCa::new("tls-shutdown");
    let server = start(rt, &tls_config(&ca.leaf("leaf A")), |s| {
        s.drain_idle(Duration::from_millis(200));
    });
    let mut idle = OpenClient::connect(&ca, server.addr().port());
    idle.child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let before = idle.wait_for("hello over tls");
    assert!(!before.contains("closed"), "{before}");
    // Dropping the server shuts it down and waits for it. The idle
    // keep-alive connection is closed after the drain window, well before
    // the 2 s grace deadline would cut it.
    let started = Instant::now();
    drop(server);
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "shutdown took {took:?}");
    // With close_notify: s_client prints `closed` for a clean TLS shutdown.
    let out = idle.wait_for("closed");
    assert!(out.trim_end().ends_with("closed"), "{out}");
    assert!(!out.contains("unexpected eof"), "{out}");
}

on_every_runtime!(
    curl_serves_https,
    openssl_negotiates_http11,
    an_upgraded_connection_stays_encrypted,
    reload_swaps_the_certificate,
    silent_client_is_closed_after_the_handshake_timeout,
    plain_http_on_the_tls_port_is_closed,
    handshakes_count_against_max_connections,
    shutdown_closes_idle_tls_connections_cleanly,
);
