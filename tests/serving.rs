//! Where a server can serve from: `.await`ed inside a program's own runtime
//! (`#[tokio::main]`, `smol::block_on`, `async_std`), several servers on one
//! runtime, a listener made elsewhere, a Unix domain socket (checked with
//! `curl --unix-socket`), and a listener passed by socket activation.

mod support;

use std::io;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Client, on_every_runtime};
use tramline::routing::get;
use tramline::rt::Runtime;
use tramline::{Router, Server};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// Answers with the name of the thread that ran the handler.
fn thread_app() -> Router {
    Router::new().route(
        "/",
        get(|| async {
            std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_owned()
        }),
    )
}

/// Sends one request to `addr` from another thread once the server runs,
/// shuts the server down, and returns the answer.
fn ask_then_stop(server: &Server<impl Runtime>) -> std::thread::JoinHandle<String> {
    let (addr, handle) = (server.local_addr(), server.handle());
    std::thread::spawn(move || {
        let text = Client::connect(addr).roundtrip(REQUEST).text().to_owned();
        handle.shutdown();
        text
    })
}

#[tokio::main]
async fn tokio_main() -> io::Result<String> {
    // `Server::bind` picks up the runtime the caller runs on.
    let mut server = Server::bind_with(tramline_tokio::Tokio::default(), "127.0.0.1:0")?;
    server.handle_signals(false);
    let app = Router::new().route(
        "/",
        get(|| async {
            // tokio's own timer works: the handler runs on this program's runtime.
            tokio::time::sleep(Duration::from_millis(5)).await;
            std::thread::current().name().unwrap_or("").to_owned()
        }),
    );
    let asked = ask_then_stop(&server);
    server.run(app).await?;
    Ok(asked.join().unwrap())
}

#[test]
fn run_awaits_inside_tokio_main() {
    // tokio::main's workers are named by tokio (`tokio-rt-worker`); a
    // runtime that tramline started would name them `tramline-tokio`.
    let thread = tokio_main().unwrap();
    assert!(thread.starts_with("tokio-"), "served on {thread:?}");
}

#[test]
fn run_awaits_under_smol_block_on_on_the_calling_thread() {
    let me = std::thread::current().name().map(str::to_owned);
    let answer = smol::block_on(async {
        let mut server = Server::bind_with(tramline_smol::Smol::with_workers(1), "127.0.0.1:0")?;
        server.handle_signals(false);
        let asked = ask_then_stop(&server);
        server.run(thread_app()).await?;
        io::Result::Ok(asked.join().unwrap())
    })
    .unwrap();
    assert_eq!(
        Some(answer),
        me,
        "one smol worker serves on the block_on thread"
    );
}

#[async_std::test]
async fn run_awaits_under_async_std() {
    let mut server =
        Server::bind_with(tramline_async_std::AsyncStd::with_workers(2), "127.0.0.1:0").unwrap();
    server.handle_signals(false);
    let asked = ask_then_stop(&server);
    server.run(thread_app()).await.unwrap();
    assert!(!asked.join().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_run_side_by_side_on_one_runtime() {
    let rt = tramline_tokio::Tokio::default();
    let mut a = Server::bind_with(rt.clone(), "127.0.0.1:0").unwrap();
    let mut b = Server::bind_with(rt, "127.0.0.1:0").unwrap();
    a.handle_signals(false);
    b.handle_signals(false);
    let (addr_a, addr_b) = (a.local_addr(), b.local_addr());
    let (stop_a, stop_b) = (a.handle(), b.handle());
    let app_a = Router::new().route("/", get(|| async { "a" }));
    let app_b = Router::new().route("/", get(|| async { "b" }));
    let client = std::thread::spawn(move || {
        let answers = (
            Client::connect(addr_a).roundtrip(REQUEST).text().to_owned(),
            Client::connect(addr_b).roundtrip(REQUEST).text().to_owned(),
        );
        stop_a.shutdown();
        stop_b.shutdown();
        answers
    });
    let (ra, rb) = futures_lite::future::zip(a.run(app_a), b.run(app_b)).await;
    ra.unwrap();
    rb.unwrap();
    assert_eq!(client.join().unwrap(), ("a".to_owned(), "b".to_owned()));
}

/// A per-core runtime binds a listener per worker; `run` must serve all of
/// them, or the connections the kernel hands the others wait forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_every_listener_of_a_per_core_runtime() {
    let mut server = Server::bind_with(tramline_tokio::TokioLocal::new(2), "127.0.0.1:0").unwrap();
    server.handle_signals(false);
    let (addr, handle) = (server.local_addr(), server.handle());
    let client = std::thread::spawn(move || {
        let answered = (0..20)
            .filter(|_| Client::connect(addr).roundtrip(REQUEST).status == 200)
            .count();
        handle.shutdown();
        answered
    });
    server.run(thread_app()).await.unwrap();
    assert_eq!(client.join().unwrap(), 20);
}

fn serves_a_listener_made_elsewhere<R: Runtime>(rt: R) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = Server::from_listener_with(rt, listener).unwrap();
    server.handle_signals(false);
    assert_eq!(server.local_addr(), addr);
    let handle = server.handle();
    let thread = std::thread::spawn(move || server.serve(thread_app()));
    for _ in 0..4 {
        assert_eq!(Client::connect(addr).roundtrip(REQUEST).status, 200);
    }
    handle.shutdown();
    thread.join().unwrap().unwrap();
}

fn serves_a_unix_socket_to_curl<R: Runtime>(rt: R) {
    let dir = tempdir();
    let path = dir.join("app.sock");
    // A stale socket file from an earlier process is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut server = Server::bind_unix_with(rt.clone(), &path).unwrap();
    server.handle_signals(false);
    // While it is served, a second server may not take the path over.
    let live = std::os::unix::net::UnixStream::connect(&path);
    assert!(live.is_ok());
    let taken = Server::bind_unix_with(rt, &path)
        .err()
        .expect("a second server bound a live socket's path");
    assert_eq!(taken.kind(), io::ErrorKind::AddrInUse);
    let handle = server.handle();
    let app = Router::new().route("/hi", get(|| async { "over a unix socket" }));
    let thread = std::thread::spawn(move || server.serve(app));
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--unix-socket"])
        .arg(&path)
        .args(["-w", " %{http_code}", "http://localhost/hi"])
        .output()
        .expect("curl must be installed (.ci/run installs it)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "over a unix socket 200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    handle.shutdown();
    thread.join().unwrap().unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// In a module of their own, so the runtime modules the macro makes do not
/// shadow the runtime crates the tests above name.
mod each {
    use super::*;
    on_every_runtime!(
        serves_a_listener_made_elsewhere,
        serves_a_unix_socket_to_curl
    );
}

fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tramline-serving-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts bench_server the way systemd or systemfd do: the launcher (a few
/// lines of Python, as the test must not use `unsafe` to place a descriptor)
/// binds the socket, puts it at descriptor 3 and sets `LISTEN_FDS=1`.
#[test]
fn bench_server_serves_a_socket_activated_listener_on_every_runtime() {
    const LAUNCH: &str = "import os, socket, sys\n\
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        s.bind(('127.0.0.1', 0)); s.listen(128)\n\
        print(s.getsockname()[1], flush=True)\n\
        os.dup2(s.fileno(), 3); os.set_inheritable(3, True)\n\
        env = dict(os.environ, LISTEN_FDS='1'); env.pop('LISTEN_PID', None)\n\
        os.execve(sys.argv[1], sys.argv[1:], env)\n";
    for runtime in ["tokio", "tokio-local", "smol", "smol-local", "async-std"] {
        let mut child = support::KillOnDrop(
            Command::new("python3")
                .args(["-c", LAUNCH])
                .arg(support::example_binary("bench_server"))
                // A port that would fail the test if it were used instead.
                .args(["--runtime", runtime, "--workers", "2", "--port", "1"])
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs the socket-activation launcher"),
        );
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let port: u16 = lines.next().unwrap().unwrap().trim().parse().unwrap();
        let listening = lines.next().unwrap().unwrap();
        assert_eq!(
            listening,
            format!("listening on 127.0.0.1:{port}"),
            "{runtime}"
        );
        for _ in 0..3 {
            let r = Client::connect(([127, 0, 0, 1], port).into())
                .roundtrip(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
            assert_eq!((r.status, r.text()), (200, "Hello, World!"), "{runtime}");
        }
        support::terminate(&mut child, Duration::from_secs(10));
    }
}
