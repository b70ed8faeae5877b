//! Rolling restarts behind a real nginx lose no request.
//!
//! nginx (the Debian package) proxies to two `bench_server` instances with
//! upstream keep-alive and otherwise default settings, while client threads
//! send a steady POST load through it. Each instance in turn gets SIGTERM,
//! must shut down gracefully and exit 0 by itself, and is started again on
//! the same port; the next one is restarted only once nginx sends traffic to
//! the first again. Every request must get its own body back with 200.
//!
//! nginx does not retry a POST it has already sent (`proxy_next_upstream`
//! lacks `non_idempotent` by default), so a connection the server closes
//! under a request nginx is sending is a lost request: the keep-alive race.
//! Connection refusals while an instance is down are retried by nginx,
//! which is why only a graceful shutdown can reach 0.
//!
//! Knobs, for measuring rather than for CI (the defaults keep the file
//! well under a minute and a half):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TRAMLINE_NGINX_ROUNDS` | 1 | full rounds (both instances restarted once each) |
//! | `TRAMLINE_NGINX_CLIENTS` | 8 | client threads, one keep-alive connection each |
//! | `TRAMLINE_NGINX_SETTLE_MS` | 500 | load kept on after a restarted instance is back in rotation |
//! | `TRAMLINE_NGINX_MAX_REQUESTS` | 1500000 × rounds | cap on requests per run |
//! | `TRAMLINE_NGINX_DRAIN_IDLE_MS` | unset | passed to bench_server as `--drain-idle-ms` |
//! | `TRAMLINE_NGINX_GRACE_MS` | unset | passed to bench_server as `--grace-ms` |
//!
//! Without nginx the test says so and passes, except under `CI=true`,
//! where a missing nginx is a failure (`.ci/run` installs it).
#![allow(clippy::print_stderr)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tramline::test::ResponseParser;

/// Longest any one step (a start, an exit, nginx taking an instance back)
/// may take before the test gives up on it.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// A client read or write blocked this long counts as a failed request.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Load before the first restart, so nginx holds warm upstream connections.
const WARMUP: Duration = Duration::from_secs(1);

/// The two runs share the machine's cores; one at a time keeps each run's
/// figures its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn rolling_restart_behind_nginx_on_tokio() {
    rolling_restart("tokio");
}

#[test]
fn rolling_restart_behind_nginx_on_smol() {
    rolling_restart("smol");
}

fn rolling_restart(runtime: &str) {
    let Some(nginx_bin) = find_nginx() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is not installed; .ci/run installs the Debian package"
        );
        eprintln!("nginx not found: skipping the rolling-restart test on {runtime}");
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let knobs = Knobs::from_env();
    let dir = TempDir::new(runtime);

    let ports = [free_port(), free_port()];
    let mut instances: Vec<Instance> = ports
        .iter()
        .map(|&port| Instance::start(runtime, port, &knobs))
        .collect();
    let nginx_port = free_port();
    let nginx = Nginx::start(&nginx_bin, &dir.0, nginx_port, ports);
    let proxy = SocketAddr::from(([127, 0, 0, 1], nginx_port));

    let started = Instant::now();
    let load = Load::start(proxy, &knobs, started);
    thread::sleep(WARMUP);

    // Problems other than lost requests (an instance that did not exit 0,
    // a step that timed out) are collected, so the counts are printed
    // whatever happens.
    let mut problems = Vec::new();
    let mut log = LogTail::new(dir.0.join("access.log"));
    let mut restarts = 0;
    'rounds: for round in 0..knobs.rounds {
        for instance in &mut instances {
            let port = instance.port;
            eprintln!("{} SIGTERM to the instance on port {port}", stamp(started));
            restarts += 1;
            match instance.restart(runtime, &knobs) {
                Ok(exit) => {
                    eprintln!(
                        "{} it exited with {exit} and was started again",
                        stamp(started)
                    );
                    if !exit.success() {
                        problems.push(format!(
                            "round {round}: the instance on port {port} exited with {exit} after SIGTERM"
                        ));
                    }
                }
                Err(e) => {
                    problems.push(format!("round {round}: restarting port {port}: {e}"));
                    break 'rounds;
                }
            }
            // nginx takes a peer back only `fail_timeout` (10 s by default)
            // after it saw a refused connection; restarting the other one
            // before that would leave it no live upstream.
            if let Err(e) = log.wait_for_upstream(port) {
                problems.push(format!("round {round}: port {port}: {e}"));
                break 'rounds;
            }
            eprintln!("{} nginx sends to port {port} again", stamp(started));
            thread::sleep(knobs.settle);
        }
    }
    if !problems.is_empty() && load.capped() {
        problems.push(format!(
            "the load stopped at its cap of {} requests before the restarts were done; \
             raise TRAMLINE_NGINX_MAX_REQUESTS",
            knobs.max_requests
        ));
    }
    let counts = load.stop();
    let elapsed = started.elapsed();
    drop(nginx);
    drop(instances);
    let access = log.summary();
    let error_log = fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();

    eprintln!(
        "nginx rolling restart on {runtime}: {} requests served, {} failed in {:.1} s \
         ({} restarts, {} clients, drain-idle {})",
        counts.served,
        counts.failed(),
        elapsed.as_secs_f64(),
        restarts,
        knobs.clients,
        knobs
            .drain_idle_ms
            .as_deref()
            .map_or("default".to_owned(), |ms| format!("{ms} ms")),
    );
    eprintln!("nginx access log: {access}");
    if counts.failed() > 0 {
        eprintln!("failures: {:?}", counts.failures);
        for example in &counts.examples {
            eprintln!("  e.g. {example}");
        }
    }
    if counts.failed() > 0 || !problems.is_empty() {
        eprintln!("nginx error.log:");
        for line in error_log.lines() {
            eprintln!("  {line}");
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(counts.failed(), 0, "requests lost behind nginx");
    assert!(counts.served > 0);
}

/// The run's knobs, from the environment.
struct Knobs {
    rounds: usize,
    clients: usize,
    settle: Duration,
    max_requests: u64,
    drain_idle_ms: Option<String>,
    grace_ms: Option<String>,
}

impl Knobs {
    fn from_env() -> Self {
        fn number(name: &str, default: u64) -> u64 {
            std::env::var(name).map_or(default, |v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} takes a number, got {v:?}"))
            })
        }
        let rounds = number("TRAMLINE_NGINX_ROUNDS", 1) as usize;
        Self {
            rounds,
            clients: number("TRAMLINE_NGINX_CLIENTS", 8).max(1) as usize,
            settle: Duration::from_millis(number("TRAMLINE_NGINX_SETTLE_MS", 500)),
            max_requests: number("TRAMLINE_NGINX_MAX_REQUESTS", 1_500_000 * rounds as u64),
            drain_idle_ms: std::env::var("TRAMLINE_NGINX_DRAIN_IDLE_MS").ok(),
            grace_ms: std::env::var("TRAMLINE_NGINX_GRACE_MS").ok(),
        }
    }
}

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// A port that was free a moment ago: bound to port 0, then released.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Sends `signal` (a name such as `TERM`) to `pid`.
fn kill(signal: &str, pid: u32) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Waits up to `timeout` for `child` to exit.
fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("tramline-nginx-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create the nginx prefix");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The example binary cargo built next to this test.
fn bench_server_binary() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join("bench_server")
}

/// One `bench_server` process on a fixed port; killed on drop.
struct Instance {
    child: Child,
    port: u16,
}

impl Instance {
    fn start(runtime: &str, port: u16, knobs: &Knobs) -> Self {
        Self::spawn(runtime, port, knobs).unwrap_or_else(|e| panic!("start bench_server: {e}"))
    }

    fn spawn(runtime: &str, port: u16, knobs: &Knobs) -> io::Result<Self> {
        let mut command = Command::new(bench_server_binary());
        command.args(["--runtime", runtime, "--workers", "2", "--port"]);
        command.arg(port.to_string());
        if let Some(ms) = &knobs.drain_idle_ms {
            command.args(["--drain-idle-ms", ms]);
        }
        if let Some(ms) = &knobs.grace_ms {
            command.args(["--grace-ms", ms]);
        }
        let mut child = command.stdout(Stdio::piped()).spawn().map_err(|e| {
            io::Error::other(format!(
                "run the bench_server example ({e}); `cargo build --example bench_server` builds it"
            ))
        })?;
        // The first line says it accepts connections; the rest of its
        // stdout is passed on, so nothing blocks on a full pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for line in lines.map_while(Result::ok) {
                eprintln!("bench_server: {line}");
            }
        });
        let expected = format!("listening on 127.0.0.1:{port}");
        let outcome = match rx.recv_timeout(STEP_TIMEOUT) {
            Ok(Some(Ok(line))) if line.trim() == expected => Ok(()),
            Ok(Some(Ok(line))) => Err(format!("unexpected first line {line:?}")),
            Ok(_) => Err("exited before it listened".to_owned()),
            Err(_) => Err(format!("no `listening` line within {STEP_TIMEOUT:?}")),
        };
        match outcome {
            Ok(()) => Ok(Self { child, port }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "bench_server on port {port}: {e}"
                )))
            }
        }
    }

    /// Sends SIGTERM, waits for the process to exit by itself, and starts
    /// it again on the same port; returns how the old one exited.
    fn restart(&mut self, runtime: &str, knobs: &Knobs) -> io::Result<ExitStatus> {
        let port = self.port;
        kill("TERM", self.child.id());
        let exit = wait_timeout(&mut self.child, STEP_TIMEOUT)?;
        let Some(exit) = exit else {
            return Err(io::Error::other(format!(
                "still running {STEP_TIMEOUT:?} after SIGTERM"
            )));
        };
        *self = Self::spawn(runtime, port, knobs)?;
        Ok(exit)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx on 127.0.0.1 with everything under a temporary prefix; stopped
/// (SIGTERM, then SIGKILL) on drop.
struct Nginx {
    child: Child,
}

impl Nginx {
    fn start(bin: &Path, dir: &Path, port: u16, upstreams: [u16; 2]) -> Self {
        let d = dir.display();
        let [a, b] = upstreams;
        // The upstream settings are the ordinary ones for keep-alive to an
        // HTTP/1.1 backend (nginx's own docs for `keepalive`); failover is
        // left at nginx's defaults: max_fails=1, fail_timeout=10s,
        // proxy_next_upstream "error timeout" (so no POST once sent).
        let conf = format!(
            "worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$status $upstream_addr';
    access_log {d}/access.log upstream;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream tramline {{
        server 127.0.0.1:{a};
        server 127.0.0.1:{b};
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://tramline;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }}
    }}
}}
"
        );
        let conf_path = dir.join("nginx.conf");
        fs::write(&conf_path, conf).expect("write nginx.conf");
        let mut prefix = dir.as_os_str().to_owned();
        prefix.push("/");
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf_path)
            // The error log before the configuration is read, too: the
            // compiled-in one is outside the prefix.
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .spawn()
            .expect("run nginx");
        let deadline = Instant::now() + STEP_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = child.try_wait().unwrap();
            if exited.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let log = fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                panic!("nginx did not start ({exited:?}):\n{log}");
            }
            thread::sleep(Duration::from_millis(20));
        }
        Self { child }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        kill("TERM", self.child.id());
        if !matches!(
            wait_timeout(&mut self.child, Duration::from_secs(10)),
            Ok(Some(_))
        ) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Elapsed time since the load started, for the timeline printed as the
/// test goes.
fn stamp(since: Instant) -> String {
    format!("{:6.2}s", since.elapsed().as_secs_f64())
}

/// Counts from nginx's access log: `$status $upstream_addr` per request.
struct LogTail {
    path: PathBuf,
    offset: u64,
    partial: String,
    /// 200s by the upstream port that answered (the last one tried).
    served: BTreeMap<u16, u64>,
    /// Requests nginx sent to a second upstream after the first failed
    /// (a refused connection while an instance was down).
    retried: u64,
    /// Responses other than 200, by status.
    other: BTreeMap<String, u64>,
}

impl LogTail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            offset: 0,
            partial: String::new(),
            served: BTreeMap::new(),
            retried: 0,
            other: BTreeMap::new(),
        }
    }

    /// Reads the lines appended since the last call.
    fn update(&mut self) {
        let Ok(mut file) = File::open(&self.path) else {
            return;
        };
        let mut new = String::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err()
            || file.read_to_string(&mut new).is_err()
        {
            return;
        }
        self.offset += new.len() as u64;
        self.partial.push_str(&new);
        let Some(end) = self.partial.rfind('\n') else {
            return;
        };
        let complete: String = self.partial.drain(..=end).collect();
        for line in complete.lines() {
            let (status, upstreams) = line.split_once(' ').unwrap_or((line, ""));
            if upstreams.contains(',') {
                self.retried += 1;
            }
            if status == "200" {
                let last = upstreams.rsplit(", ").next().unwrap_or("");
                let port = last
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                *self.served.entry(port).or_default() += 1;
            } else {
                *self.other.entry(line.to_owned()).or_default() += 1;
            }
        }
    }

    /// Waits until nginx has had a 200 from the instance on `port` after
    /// this call: the restarted instance is back in rotation.
    fn wait_for_upstream(&mut self, port: u16) -> Result<(), String> {
        // Lines for requests the old process answered are written as nginx
        // finishes them, just after; let them land before the baseline.
        thread::sleep(Duration::from_millis(200));
        self.update();
        let before = self.served.get(&port).copied().unwrap_or(0);
        let deadline = Instant::now() + STEP_TIMEOUT;
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
            self.update();
            if self.served.get(&port).copied().unwrap_or(0) > before {
                return Ok(());
            }
        }
        Err(format!(
            "nginx sent it nothing within {STEP_TIMEOUT:?} of its restart"
        ))
    }

    fn summary(&mut self) -> String {
        self.update();
        format!(
            "200s by upstream port {:?}, {} retried by nginx on the other upstream, other responses {:?}",
            self.served, self.retried, self.other
        )
    }
}

/// What the client threads saw.
#[derive(Debug, Default)]
struct Counts {
    served: u64,
    /// Failed requests by kind.
    failures: BTreeMap<String, u64>,
    /// The first few failures, with when they happened.
    examples: Vec<String>,
}

impl Counts {
    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// Client threads sending POSTs through nginx until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    failures: Arc<Mutex<Counts>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(proxy: SocketAddr, knobs: &Knobs, since: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Counts::default()));
        let sent = Arc::new(AtomicU64::new(0));
        let threads = (0..knobs.clients)
            .map(|id| {
                let (stop, served, failures, sent) =
                    (stop.clone(), served.clone(), failures.clone(), sent.clone());
                let max = knobs.max_requests;
                thread::spawn(move || {
                    let mut conn: Option<ProxyConn> = None;
                    let mut seq = 0u64;
                    while !stop.load(Ordering::Relaxed)
                        && sent.fetch_add(1, Ordering::Relaxed) < max
                    {
                        seq += 1;
                        // Small and different every time, so a response
                        // cannot pass for another request's.
                        let body = format!(
                            "client {id} request {seq} {}",
                            "x".repeat((seq % 64) as usize)
                        );
                        let outcome = match conn.as_mut() {
                            Some(c) => c.post_echo(&body),
                            None => ProxyConn::connect(proxy)
                                .map_err(|e| ("connect to nginx".to_owned(), e.to_string()))
                                .and_then(|c| conn.insert(c).post_echo(&body)),
                        };
                        match outcome {
                            Ok(keep_alive) => {
                                served.fetch_add(1, Ordering::Relaxed);
                                if !keep_alive {
                                    conn = None;
                                }
                            }
                            Err((kind, detail)) => {
                                conn = None;
                                let mut f = failures.lock().unwrap();
                                *f.failures.entry(kind.clone()).or_default() += 1;
                                if f.examples.len() < 10 {
                                    f.examples
                                        .push(format!("{} {kind}: {detail}", stamp(since)));
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            served,
            failures,
            threads,
        }
    }

    /// Returns whether the clients have stopped at the request cap.
    fn capped(&self) -> bool {
        self.threads.iter().all(|t| t.is_finished())
    }

    fn stop(self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("client thread panicked");
        }
        let mut counts = std::mem::take(&mut *self.failures.lock().unwrap());
        counts.served = self.served.load(Ordering::Relaxed);
        counts
    }
}

/// One keep-alive client connection to nginx.
struct ProxyConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// A failed request: its kind (for counting) and what happened.
type Failure = (String, String);

impl ProxyConn {
    fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends `POST /echo` with `body` and checks the answer; returns
    /// whether the connection stays open.
    fn post_echo(&mut self, body: &str) -> Result<bool, Failure> {
        let request = format!(
            "POST /echo HTTP/1.1\r\nHost: tramline\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let io_err = |what: &str| {
            let what = what.to_owned();
            move |e: io::Error| (format!("{what}: {:?}", e.kind()), e.to_string())
        };
        self.stream
            .write_all(request.as_bytes())
            .map_err(io_err("write to nginx"))?;
        // Keep-alive: a body must be framed, or no response could follow.
        let mut parser = ResponseParser::new();
        parser.require_framing(true);
        let response = loop {
            match parser.parse(&self.buf) {
                Ok(Some(response)) => break response,
                Ok(None) => self.fill().map_err(io_err("read from nginx"))?,
                Err(e) => {
                    return Err((
                        "malformed response".to_owned(),
                        format!("{e}: {:?}", String::from_utf8_lossy(&self.buf)),
                    ));
                }
            }
        };
        self.buf.drain(..response.consumed);
        let status = response.status;
        let close = response
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let got = response.body;
        if status != 200 {
            return Err((
                format!("status {status}"),
                // nginx's error page names the status again; its title
                // line is enough.
                String::from_utf8_lossy(&got)
                    .lines()
                    .find(|l| l.contains("<title>"))
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
            ));
        }
        if got != body.as_bytes() {
            return Err((
                "wrong body".to_owned(),
                format!("sent {body:?}, got {:?}", String::from_utf8_lossy(&got)),
            ));
        }
        Ok(!close)
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "nginx closed the connection",
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}
