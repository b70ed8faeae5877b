//! Graceful shutdown on every runtime, over real loopback sockets: what
//! happens to requests in flight, to idle keep-alive connections (and a
//! request sent on one as the shutdown begins), to new connections, and to a
//! handler that never finishes.

mod support;

use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::{Client, on_every_runtime};
use tramline::extract::State;
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::{Router, Server, ServerHandle};

const REQUEST: &[u8] = b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n";
const SLOW: &[u8] = b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n";
const NEVER: &[u8] = b"GET /never HTTP/1.1\r\nHost: t\r\n\r\n";

/// Counts the `/never` handler futures alive, so a test can see that the
/// deadline dropped them.
#[derive(Default)]
struct Alive(AtomicUsize);

struct Counted(Arc<Alive>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn app<R: Runtime>(rt: R, alive: Arc<Alive>) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|State(rt): State<R>| async move {
                rt.sleep(Duration::from_millis(400)).await;
                "slow"
            }),
        )
        .route(
            "/never",
            get(move || {
                let alive = alive.clone();
                async move {
                    alive.0.fetch_add(1, Ordering::SeqCst);
                    let _counted = Counted(alive);
                    std::future::pending::<&'static str>().await
                }
            }),
        )
        .with_state(rt)
}

/// A server on a background thread whose `serve` the test waits for.
struct Running {
    addr: std::net::SocketAddr,
    handle: ServerHandle,
    thread: JoinHandle<std::io::Result<()>>,
    alive: Arc<Alive>,
}

fn start<R: Runtime>(rt: R, configure: impl FnOnce(&mut Server<R>)) -> Running {
    let mut server = Server::bind_with(rt.clone(), "127.0.0.1:0").unwrap();
    server.handle_signals(false);
    configure(&mut server);
    let alive = Arc::new(Alive::default());
    let (addr, handle) = (server.local_addr(), server.handle());
    let app = app(rt, alive.clone());
    let thread = std::thread::spawn(move || server.serve(app));
    Running {
        addr,
        handle,
        thread,
        alive,
    }
}

impl Running {
    /// Waits for `serve` to return, failing the test past `limit`.
    fn join_within(self, limit: Duration) -> Duration {
        let start = Instant::now();
        while !self.thread.is_finished() {
            assert!(
                start.elapsed() < limit,
                "serve did not return within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.thread.join().unwrap().unwrap();
        start.elapsed()
    }
}

fn request_in_flight_finishes_with_connection_close<R: Runtime>(rt: R) {
    let server = start(rt, |_| {});
    let mut client = Client::connect(server.addr);
    client.send(SLOW);
    std::thread::sleep(Duration::from_millis(100));
    server.handle.shutdown();
    let r = client.response();
    assert_eq!((r.status, r.text()), (200, "slow"));
    assert_eq!(r.header("connection"), Some("close"));
    client.assert_closed();
    server.join_within(Duration::from_secs(5));
}

fn new_connections_are_refused_once_shutdown_begins<R: Runtime>(rt: R) {
    let server = start(rt, |_| {});
    // Keeps the server in its shutdown while the test connects.
    let mut busy = Client::connect(server.addr);
    busy.send(SLOW);
    std::thread::sleep(Duration::from_millis(100));
    server.handle.shutdown();
    let refused = support::eventually(Duration::from_secs(2), || {
        TcpStream::connect(server.addr).is_err()
    });
    assert!(refused, "the listener was not closed");
    assert_eq!(busy.response().status, 200);
    server.join_within(Duration::from_secs(5));
}

fn idle_connection_is_closed_after_the_drain_window<R: Runtime>(rt: R) {
    let server = start(rt, |s| {
        s.drain_idle(Duration::from_millis(300));
    });
    let mut idle = Client::connect(server.addr);
    assert_eq!(idle.roundtrip(REQUEST).status, 200);
    let begun = Instant::now();
    server.handle.shutdown();
    idle.assert_closed();
    let waited = begun.elapsed();
    assert!(
        waited >= Duration::from_millis(250),
        "closed after {waited:?}, before the drain window ended"
    );
    server.join_within(Duration::from_secs(5));
}

/// The keep-alive race: a proxy that picked an idle connection just as the
/// shutdown began has its request answered, not reset.
fn request_sent_on_an_idle_connection_as_shutdown_begins_is_answered<R: Runtime>(rt: R) {
    let server = start(rt, |s| {
        s.drain_idle(Duration::from_secs(2));
    });
    let mut idle = Client::connect(server.addr);
    assert_eq!(idle.roundtrip(REQUEST).status, 200);
    server.handle.shutdown();
    std::thread::sleep(Duration::from_millis(100));
    let r = idle.roundtrip(REQUEST);
    assert_eq!((r.status, r.text()), (200, "ok"));
    assert_eq!(r.header("connection"), Some("close"));
    idle.assert_closed();
    // Nothing is left open, so serve returns without waiting for the window.
    let took = server.join_within(Duration::from_secs(5));
    assert!(took < Duration::from_millis(1500), "serve took {took:?}");
}

fn handler_that_never_completes_is_cancelled_at_the_deadline<R: Runtime>(rt: R) {
    let server = start(rt, |s| {
        s.shutdown_grace(Duration::from_millis(500));
    });
    let mut stuck = Client::connect(server.addr);
    stuck.send(NEVER);
    assert!(support::eventually(Duration::from_secs(2), || {
        server.alive.0.load(Ordering::SeqCst) == 1
    }));
    let alive = server.alive.clone();
    server.handle.shutdown();
    let took = server.join_within(Duration::from_secs(5));
    assert!(
        took >= Duration::from_millis(400),
        "returned after {took:?}"
    );
    assert_eq!(
        alive.0.load(Ordering::SeqCst),
        0,
        "the handler's future was not dropped"
    );
    stuck.assert_closed();
}

fn graceful_shutdown_future_stops_the_server<R: Runtime>(rt: R) {
    let flag = Arc::new(AtomicBool::new(false));
    let (watch, timer) = (flag.clone(), rt.clone());
    let server = start(rt, move |s| {
        s.with_graceful_shutdown(async move {
            while !watch.load(Ordering::SeqCst) {
                timer.sleep(Duration::from_millis(10)).await;
            }
        });
    });
    let mut client = Client::connect(server.addr);
    assert_eq!(client.roundtrip(REQUEST).status, 200);
    flag.store(true, Ordering::SeqCst);
    client.assert_closed();
    server.join_within(Duration::from_secs(5));
}

on_every_runtime!(
    request_in_flight_finishes_with_connection_close,
    new_connections_are_refused_once_shutdown_begins,
    idle_connection_is_closed_after_the_drain_window,
    request_sent_on_an_idle_connection_as_shutdown_begins_is_answered,
    handler_that_never_completes_is_cancelled_at_the_deadline,
    graceful_shutdown_future_stops_the_server,
);

/// The signal path, in a process of its own (a signal reaches the whole
/// process): bench_server on SIGTERM answers what is in flight, exits 0,
/// and a second SIGTERM during a long shutdown exits at once.
#[test]
fn bench_server_shuts_down_on_sigterm_and_exits_on_a_second() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    for runtime in ["tokio", "tokio-local", "smol", "smol-local", "async-std"] {
        let start = |grace: &str| {
            let mut child = support::KillOnDrop(
                Command::new(support::example_binary("bench_server"))
                    .args(["--runtime", runtime, "--workers", "2", "--port", "0"])
                    .args(["--grace-ms", grace])
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("run the bench_server example (cargo test builds it)"),
            );
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            let addr: std::net::SocketAddr = line
                .trim()
                .strip_prefix("listening on ")
                .unwrap()
                .parse()
                .unwrap();
            (child, addr)
        };

        // A keep-alive client between requests: SIGTERM, exit 0 by itself.
        let (mut child, addr) = start("10000");
        let mut idle = Client::connect(addr);
        let probe = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
        assert_eq!(idle.roundtrip(probe).status, 200);
        support::terminate(&mut child, Duration::from_secs(10));
        idle.assert_closed();

        // A request head half sent keeps the shutdown waiting for its
        // deadline; a second SIGTERM ends the process now.
        let (mut child, addr) = start("60000");
        let mut partial = Client::connect(addr);
        partial.send(b"GET /plaintext HTTP/1.1\r\n");
        std::thread::sleep(Duration::from_millis(100));
        support::send_sigterm(&child);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{runtime}: exited with a connection still open"
        );
        support::send_sigterm(&child);
        let status = support::wait_within(&mut child, Duration::from_secs(5));
        assert!(!status.success(), "{runtime}: second SIGTERM: {status}");
    }
}
