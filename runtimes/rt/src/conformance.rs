//! A conformance suite every [`Runtime`] adapter runs in its own tests.
//!
//! Enabled by the test-only `__conformance` feature; not part of the API.
#![allow(missing_docs, clippy::missing_panics_doc, clippy::missing_errors_doc)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Listener, Runtime};

pub const LIMIT: Duration = Duration::from_secs(10);

/// Connects a std client to `addr` on another thread, sends `hello` and
/// returns what comes back.
pub fn client(addr: SocketAddr) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(LIMIT)).unwrap();
        say_hello(&mut conn)
    })
}

/// Sends `hello` and reads to end of stream.
fn say_hello(conn: &mut (impl Read + Write)) -> Vec<u8> {
    conn.write_all(b"hello").unwrap();
    let mut back = Vec::new();
    conn.read_to_end(&mut back).unwrap();
    back
}

/// Accepts one connection, echoes five bytes back and closes the write
/// half; returns the stream, still open.
pub async fn echo_once<R: Runtime>(rt: R, listener: StdTcpListener) -> io::Result<R::Stream> {
    let (stream, _, _) = echo_on(&rt, || rt.listener(listener)).await?;
    Ok(stream)
}

/// Registers a listener (on the runtime, as the server does), accepts one
/// connection, echoes five bytes back and closes the write half; returns
/// the stream, still open, its peer and the listener's address.
async fn echo_on<R: Runtime, L: Listener>(
    rt: &R,
    register: impl FnOnce() -> io::Result<L>,
) -> io::Result<(L::Stream, SocketAddr, SocketAddr)> {
    let serve = async {
        let mut listener = register()?;
        let (mut stream, peer) = listener.accept().await?;
        let mut buf = [0; 5];
        stream.read_exact(&mut buf).await?;
        stream.write_all(&buf).await?;
        stream.flush().await?;
        stream.close().await?;
        Ok((stream, peer, listener.local_addr()?))
    };
    let timeout = async {
        rt.sleep(LIMIT).await;
        Err(io::Error::other("echo timed out"))
    };
    future::or(serve, timeout).await
}

pub fn bind() -> (StdTcpListener, SocketAddr) {
    let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Echoes for a std client; the client reads to EOF while the server's
/// stream is still alive, so `close` must have sent FIN.
pub fn echoes_over_loopback<R: Runtime>(rt: R) -> R::Stream {
    let (listener, addr) = bind();
    let client = client(addr);
    let stream = rt.block_on(echo_once(rt.clone(), listener)).unwrap();
    assert_eq!(client.join().unwrap(), b"hello");
    stream
}

pub fn sleeps_at_least<R: Runtime>(rt: R) {
    // Per-core sleeps need the worker's context, so create it inside.
    let elapsed = rt.block_on(async {
        let start = Instant::now();
        rt.sleep(Duration::from_millis(50)).await;
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
}

/// Spawns from inside `block_on` and waits (bounded) for the task; returns
/// the thread it ran on.
pub fn runs_spawned_task<R: Runtime>(rt: R) -> thread::ThreadId {
    let (tx, rx) = mpsc::channel();
    let got = rt.block_on(async {
        rt.spawn(async move { tx.send(thread::current().id()).unwrap() });
        wait_for(&rt, &rx).await
    });
    got.expect("the spawned task did not run")
}

/// Waits (bounded, on the runtime's timer) for a value on `rx`.
async fn wait_for<R: Runtime, T>(rt: &R, rx: &mpsc::Receiver<T>) -> Option<T> {
    for _ in 0..1000 {
        if let Ok(v) = rx.try_recv() {
            return Some(v);
        }
        rt.sleep(Duration::from_millis(10)).await;
    }
    None
}

/// A per-core runtime runs worker `i` on a thread of its own named
/// `{name}-{i}`, and a task the worker spawns stays on that thread.
pub fn runs_each_worker_on_its_own_thread<R: Runtime>(rt: R, name: &str) {
    use std::sync::{Arc, Mutex};
    assert_eq!(rt.listeners(), 2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let handle = rt.clone();
    rt.run(move |i| {
        let (log, rt) = (log.clone(), handle.clone());
        async move {
            let me = thread::current();
            let (tx, rx) = mpsc::channel();
            rt.spawn(async move { tx.send(thread::current().id()).unwrap() });
            let spawned_on = wait_for(&rt, &rx).await;
            let name = me.name().map(str::to_owned);
            log.lock().unwrap().push((i, me.id(), name, spawned_on));
            Ok(())
        }
    })
    .unwrap();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort_by_key(|entry| entry.0);
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0].1, seen[1].1);
    for (i, id, thread, spawned_on) in &seen {
        assert_eq!(thread.as_deref(), Some(format!("{name}-{i}").as_str()));
        assert_eq!(spawned_on.as_ref(), Some(id));
    }
}

/// A per-core runtime's workers each accept on their own listener: one
/// listener per worker, each echoing once for its client, on threads named
/// `{name}-{i}`. `check` sees each accepted stream (e.g. for
/// `TCP_NODELAY`).
pub fn workers_accept_on_their_own_listeners<R: Runtime>(
    rt: R,
    name: &str,
    check: fn(&R::Stream) -> io::Result<()>,
) {
    use std::sync::{Arc, Mutex};
    let n = rt.listeners();
    let (bound, addrs): (Vec<_>, Vec<_>) = (0..n).map(|_| bind()).unzip();
    let bound = Arc::new(Mutex::new(bound.into_iter().map(Some).collect::<Vec<_>>()));
    let clients: Vec<_> = addrs.into_iter().map(client).collect();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (handle, log) = (rt.clone(), seen.clone());
    rt.run(move |i| {
        let listener = bound.lock().unwrap()[i].take().unwrap();
        let (rt, log) = (handle.clone(), log.clone());
        async move {
            let stream = echo_once(rt, listener).await?;
            check(&stream)?;
            log.lock()
                .unwrap()
                .push(thread::current().name().map(str::to_owned));
            Ok(())
        }
    })
    .unwrap();
    for client in clients {
        assert_eq!(client.join().unwrap(), b"hello");
    }
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let want: Vec<_> = (0..n).map(|i| Some(format!("{name}-{i}"))).collect();
    assert_eq!(seen, want);
}

/// Echoes over a Unix domain socket for a std client: the accepted stream
/// and the listener report [`UNIX_PEER`](crate::UNIX_PEER), and `close`
/// sends FIN.
#[cfg(unix)]
pub fn echoes_over_a_unix_socket<R: Runtime>(rt: R) {
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("tramline-rt-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    let to = path.clone();
    let client = thread::spawn(move || {
        let mut conn = UnixStream::connect(to).unwrap();
        conn.set_read_timeout(Some(LIMIT)).unwrap();
        say_hello(&mut conn)
    });
    let served = rt.block_on(echo_on(&rt, || rt.unix_listener(listener)));
    let _ = std::fs::remove_file(&path);
    let (_stream, peer, local) = served.unwrap();
    assert_eq!(client.join().unwrap(), b"hello");
    assert_eq!((peer, local), (crate::UNIX_PEER, crate::UNIX_PEER));
}
