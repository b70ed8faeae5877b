//! Shared helpers for the integration suites: a server on a background
//! thread, a client over real loopback sockets, and macros that
//! instantiate a suite once per runtime, or once per runtime and protocol.
//!
//! A suite writes its requests as HTTP/1.1 bytes. Under
//! `on_every_runtime_and_protocol!` the same test runs a second time with
//! its client speaking HTTP/2 (h2c): each request is sent as one h2 stream
//! and its response read back into the same [`RawResponse`].
#![allow(dead_code, unreachable_pub)]

mod h2_wire;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tramline::rt::Runtime;
use tramline::{Router, Server, ServerHandle};

/// How long any single client read may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Instantiates each listed generic test `fn name<R: Runtime>(rt: R)` once
/// per runtime: tokio (multi-thread), tokio-local (per-core), smol,
/// smol-local (per-core) and async-std, each with two workers.
macro_rules! on_every_runtime {
    ($($test:ident),* $(,)?) => {
        mod tokio {
            $( #[test] fn $test() { super::$test(tramline_tokio::Tokio::with_workers(2)) } )*
        }
        mod tokio_local {
            $( #[test] fn $test() { super::$test(tramline_tokio::TokioLocal::new(2)) } )*
        }
        mod smol {
            $( #[test] fn $test() { super::$test(tramline_smol::Smol::with_workers(2)) } )*
        }
        mod smol_local {
            $( #[test] fn $test() { super::$test(tramline_smol::SmolLocal::new(2)) } )*
        }
        mod async_std {
            $( #[test] fn $test() { super::$test(tramline_async_std::AsyncStd::with_workers(2)) } )*
        }
        #[cfg(feature = "uring")]
        mod uring {
            $( #[test] fn $test() { super::$test(tramline::rt::Uring::new(2)) } )*
        }
    };
}
pub(crate) use on_every_runtime;

/// Instantiates each listed generic test `fn name<R: Runtime>(rt: R)` on
/// every runtime twice: in `http1`, its clients speak HTTP/1.1; in `http2`,
/// they speak HTTP/2 with prior knowledge to the same port, so the same
/// assertions hold for both protocols. For suites about what an app sees
/// (routing, extractors, middleware, bodies, shutdown), not about one
/// protocol's wire.
#[allow(unused_macros)]
macro_rules! on_every_runtime_and_protocol {
    ($($test:ident),* $(,)?) => {
        mod http1 {
            $(
                fn $test<R: tramline::rt::Runtime>(rt: R) {
                    crate::support::with_protocol(crate::support::Protocol::Http1, || super::$test(rt))
                }
            )*
            crate::support::on_every_runtime!($($test),*);
        }
        #[cfg(feature = "http2")]
        mod http2 {
            $(
                fn $test<R: tramline::rt::Runtime>(rt: R) {
                    crate::support::with_protocol(crate::support::Protocol::Http2, || super::$test(rt))
                }
            )*
            crate::support::on_every_runtime!($($test),*);
        }
    };
}
#[allow(unused_imports)]
pub(crate) use on_every_runtime_and_protocol;

/// The protocol a suite's clients speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

thread_local! {
    static PROTOCOL: std::cell::Cell<Protocol> = const { std::cell::Cell::new(Protocol::Http1) };
}

/// Runs `test` with clients made on this thread speaking `protocol`.
pub fn with_protocol<T>(protocol: Protocol, test: impl FnOnce() -> T) -> T {
    let before = PROTOCOL.replace(protocol);
    let out = test();
    PROTOCOL.set(before);
    out
}

/// The protocol clients made on this thread speak (HTTP/1.1 unless the
/// test runs under `on_every_runtime_and_protocol!`'s `http2`).
pub fn protocol() -> Protocol {
    PROTOCOL.get()
}

/// curl's flag for the current protocol: HTTP/1.1, or h2c with prior
/// knowledge.
pub fn curl_protocol_flag() -> &'static str {
    match protocol() {
        Protocol::Http1 => "--http1.1",
        Protocol::Http2 => "--http2-prior-knowledge",
    }
}

/// How curl names the current protocol in a status line.
pub fn curl_version_label() -> &'static str {
    match protocol() {
        Protocol::Http1 => "HTTP/1.1",
        Protocol::Http2 => "HTTP/2",
    }
}

/// The `Request::version()` a handler sees under the current protocol.
pub fn expected_version() -> tramline::http::Version {
    match protocol() {
        Protocol::Http1 => tramline::http::Version::HTTP_11,
        Protocol::Http2 => tramline::http::Version::HTTP_2,
    }
}

/// A server serving one app on 127.0.0.1 on a background thread; shut down
/// and joined on drop.
pub struct TestServer {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl TestServer {
    pub fn start<R: Runtime>(rt: R, app: Router) -> Self {
        Self::start_with(rt, app, |_| {})
    }

    /// Starts a server after `configure` has set its limits.
    pub fn start_with<R: Runtime>(
        rt: R,
        app: Router,
        configure: impl FnOnce(&mut Server<R>),
    ) -> Self {
        let mut server = Server::bind_with(rt, "127.0.0.1:0").expect("bind 127.0.0.1:0");
        server.shutdown_grace(Duration::from_secs(2));
        configure(&mut server);
        let addr = server.local_addr();
        let handle = server.handle();
        let thread = std::thread::spawn(move || server.serve(app));
        Self {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Starts a graceful shutdown without waiting for it (drop waits).
    pub fn begin_shutdown(&self) {
        self.handle.shutdown();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(thread) = self.thread.take() {
            let result = thread.join();
            if !std::thread::panicking() {
                result
                    .expect("server thread panicked")
                    .expect("server failed");
            }
        }
    }
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
}

/// An HTTP/1.1 request's bytes: `Host: t`, the given fields, and a
/// `Content-Length` whenever there is a body.
pub fn request(method: &str, target: &str, fields: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: t\r\n");
    for (name, value) in fields {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// What one read with a timeout found.
enum Waited {
    /// Bytes (0: end of stream).
    Data(usize),
    /// Nothing within the wait.
    Nothing,
    Failed(io::Error),
}

/// A blocking client that writes HTTP/1.1 request bytes and reads
/// responses: over the wire as written, or (made under HTTP/2) translated
/// into h2 streams.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    h2: Option<h2_wire::H2Wire>,
}

impl Client {
    /// Connects speaking the current protocol ([`protocol`]).
    pub fn connect(addr: SocketAddr) -> Self {
        let mut client = Self::connect_http1(addr);
        if protocol() == Protocol::Http2 {
            // The h2 connection owns the socket; this handle on it is
            // kept for its addresses.
            let tcp = client.stream.try_clone().expect("clone the socket");
            client.h2 = Some(h2_wire::H2Wire::start(tcp, IO_TIMEOUT));
        }
        client
    }

    /// Connects speaking HTTP/1.1 as written, whatever the current protocol.
    pub fn connect_http1(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: Vec::new(),
            h2: None,
        }
    }

    /// Fails a test that uses an HTTP/1.1 wire behaviour over HTTP/2.
    fn http1_only(&self, what: &str) {
        assert!(
            self.h2.is_none(),
            "`{what}` is HTTP/1.1 wire behaviour: instantiate this test with \
             on_every_runtime!, not on_every_runtime_and_protocol!"
        );
    }

    /// The client side's address, as the server sees it.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        match &mut self.h2 {
            Some(h2) => h2.write(bytes),
            None => self.stream.write_all(bytes).expect("write request"),
        }
        self
    }

    /// Writes `bytes`, handing back the error a write may meet (a reset
    /// connection) instead of failing the test.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.http1_only("try_send");
        self.stream.write_all(bytes)
    }

    /// Closes the write half, as a client that has sent everything.
    pub fn finish_writing(&mut self) {
        self.http1_only("finish_writing");
        self.stream.shutdown(Shutdown::Write).unwrap();
    }

    /// Reads one response to a request that was not HEAD.
    pub fn response(&mut self) -> RawResponse {
        match &mut self.h2 {
            Some(h2) => h2.response(),
            None => self.read_response(false),
        }
    }

    /// Reads one response to a HEAD request (no body follows its head).
    pub fn head_response(&mut self) -> RawResponse {
        match &mut self.h2 {
            Some(h2) => h2.response(),
            None => self.read_response(true),
        }
    }

    /// Sends `request` and reads its response.
    pub fn roundtrip(&mut self, request: &[u8]) -> RawResponse {
        self.send(request);
        self.response()
    }

    /// Reads one response with the parser the test client and the load
    /// generator use: a body framed by its length or chunked, or (with
    /// neither) by the server's close.
    fn read_response(&mut self, head_only: bool) -> RawResponse {
        let mut parser = tramline::test::ResponseParser::new();
        parser.head_request(head_only);
        let parsed = loop {
            match parser.parse(&self.buf) {
                Ok(Some(parsed)) => break parsed,
                Ok(None) => {
                    if self.fill() == 0 {
                        // Delimited by close, or cut short.
                        break parser.parse_to_end(&self.buf).unwrap_or_else(|e| {
                            panic!(
                                "connection closed mid-response ({e}); had {:?}",
                                String::from_utf8_lossy(&self.buf)
                            )
                        });
                    }
                }
                Err(e) => panic!(
                    "invalid response ({e}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        };
        self.buf.drain(..parsed.consumed);
        RawResponse {
            status: parsed.status,
            headers: parsed.headers,
            body: parsed.body,
        }
    }

    /// Reads exactly `n` bytes past what was parsed (an upgraded
    /// connection's own protocol).
    pub fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        self.http1_only("read_bytes");
        while self.buf.len() < n {
            self.fill_or_panic("upgraded bytes");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one response, or `None` if the server closed the connection
    /// without sending one.
    pub fn try_response(&mut self) -> Option<RawResponse> {
        self.http1_only("try_response");
        while self.buf.is_empty() {
            if self.fill() == 0 {
                return None;
            }
        }
        Some(self.response())
    }

    /// Whether response bytes have arrived, without waiting.
    pub fn has_data(&mut self) -> bool {
        self.http1_only("has_data");
        if !self.buf.is_empty() {
            return true;
        }
        self.stream.set_nonblocking(true).unwrap();
        let mut chunk = [0u8; 4096];
        let got = match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => true,
        };
        self.stream.set_nonblocking(false).unwrap();
        got
    }

    /// Sets how long a read may block; reads past it fail the test.
    pub fn read_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
    }

    /// Whether bytes arrive within `wait`.
    pub fn answers_within(&mut self, wait: Duration) -> bool {
        self.http1_only("answers_within");
        if !self.buf.is_empty() {
            return true;
        }
        match self.read_within(wait) {
            Waited::Data(n) => n > 0,
            Waited::Nothing => false,
            Waited::Failed(e) => panic!("read failed: {e}"),
        }
    }

    /// Returns whether the server has closed the connection (end of stream
    /// or reset), waiting at most `wait` for it; bytes that arrive instead
    /// are kept for the next response.
    pub fn closed_within(&mut self, wait: Duration) -> bool {
        self.http1_only("closed_within");
        match self.read_within(wait) {
            Waited::Data(n) => n == 0,
            Waited::Nothing => false,
            Waited::Failed(e) if e.kind() == io::ErrorKind::ConnectionReset => true,
            Waited::Failed(e) => panic!("read failed: {e}"),
        }
    }

    /// One read that waits at most `wait`; what arrives is kept in the
    /// buffer.
    fn read_within(&mut self, wait: Duration) -> Waited {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut chunk = [0u8; 4096];
        let waited = match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Waited::Data(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Waited::Nothing
            }
            Err(e) => Waited::Failed(e),
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        waited
    }

    /// Reads until the server closes the connection, returning what came.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        self.http1_only("read_to_close");
        while self.fill() > 0 {}
        std::mem::take(&mut self.buf)
    }

    /// Asserts the server closes the connection with nothing more to say.
    pub fn assert_closed(&mut self) {
        self.http1_only("assert_closed");
        let rest = self.read_to_close();
        assert!(
            rest.is_empty(),
            "unexpected bytes after close: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                n
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    fn fill_or_panic(&mut self, what: &str) {
        if self.fill() == 0 {
            panic!(
                "connection closed while reading {what}; had {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Runs `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// The path of example `name`, which cargo builds next to the tests.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join(name)
}

/// Sends SIGTERM to `child` (with `kill`, as a test may not use `unsafe`).
pub fn send_sigterm(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
}

/// Waits up to `limit` for `child` to exit, killing it and failing the test
/// past that.
pub fn wait_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Stops a server process the way a service manager does, with SIGTERM,
/// and checks that it shut down gracefully: exited by itself, with 0.
pub fn terminate(child: &mut std::process::Child, limit: Duration) {
    send_sigterm(child);
    let status = wait_within(child, limit);
    assert!(
        status.success(),
        "server exited with {status} after SIGTERM"
    );
}

/// A child process killed (and reaped) when the test is done with it, even
/// when the test fails first.
pub struct KillOnDrop(pub std::process::Child);

impl std::ops::Deref for KillOnDrop {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
