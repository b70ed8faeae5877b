//! Shared helpers for the integration suites: a server on a background
//! thread, a raw-bytes client over real loopback sockets, and a macro that
//! instantiates a suite once per runtime.
#![allow(dead_code, unreachable_pub)]

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

/// What one read with a timeout found.
enum Waited {
    /// Bytes (0: end of stream).
    Data(usize),
    /// Nothing within the wait.
    Nothing,
    Failed(io::Error),
}

/// A blocking client that writes raw bytes and parses responses.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// The client side's address, as the server sees it.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        self.stream.write_all(bytes).expect("write request");
        self
    }

    /// Writes `bytes`, handing back the error a write may meet (a reset
    /// connection) instead of failing the test.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Closes the write half, as a client that has sent everything.
    pub fn finish_writing(&mut self) {
        self.stream.shutdown(Shutdown::Write).unwrap();
    }

    /// Reads one response to a request that was not HEAD.
    pub fn response(&mut self) -> RawResponse {
        self.read_response(false)
    }

    /// Reads one response to a HEAD request (no body follows its head).
    pub fn head_response(&mut self) -> RawResponse {
        self.read_response(true)
    }

    /// Sends `request` and reads its response.
    pub fn roundtrip(&mut self, request: &[u8]) -> RawResponse {
        self.send(request);
        self.response()
    }

    fn read_response(&mut self, head_only: bool) -> RawResponse {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill_or_panic("response head");
        };
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut headers);
        parsed
            .parse(&self.buf[..head_end])
            .expect("valid response head");
        let status = parsed.code.unwrap();
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        self.buf.drain(..head_end);
        let mut response = RawResponse {
            status,
            headers,
            body: Vec::new(),
        };
        let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
        if no_body {
            return response;
        }
        if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().expect("numeric content-length");
            while self.buf.len() < len {
                self.fill_or_panic("response body");
            }
            response.body = self.buf.drain(..len).collect();
        } else if response
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            response.body = self.read_chunked();
        } else {
            // Delimited by close.
            while self.fill() > 0 {}
            response.body = std::mem::take(&mut self.buf);
        }
        response
    }

    fn read_chunked(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                self.fill_or_panic("chunk size");
            };
            let size_text = std::str::from_utf8(&self.buf[..line_end]).unwrap();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
                .expect("hex chunk size");
            self.buf.drain(..line_end + 2);
            while self.buf.len() < size + 2 {
                self.fill_or_panic("chunk data");
            }
            body.extend(self.buf.drain(..size));
            assert_eq!(
                self.buf.drain(..2).collect::<Vec<_>>(),
                b"\r\n",
                "chunk CRLF"
            );
            if size == 0 {
                return body;
            }
        }
    }

    /// Reads exactly `n` bytes past what was parsed (an upgraded
    /// connection's own protocol).
    pub fn read_bytes(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill_or_panic("upgraded bytes");
        }
        self.buf.drain(..n).collect()
    }

    /// Reads one response, or `None` if the server closed the connection
    /// without sending one.
    pub fn try_response(&mut self) -> Option<RawResponse> {
        while self.buf.is_empty() {
            if self.fill() == 0 {
                return None;
            }
        }
        Some(self.response())
    }

    /// Whether response bytes have arrived, without waiting.
    pub fn has_data(&mut self) -> bool {
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
        while self.fill() > 0 {}
        std::mem::take(&mut self.buf)
    }

    /// Asserts the server closes the connection with nothing more to say.
    pub fn assert_closed(&mut self) {
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
