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

use crate::{Listener as _, Runtime};

pub const LIMIT: Duration = Duration::from_secs(10);

/// Connects a std client to `addr` on another thread, sends `hello` and
/// returns what comes back.
pub fn client(addr: SocketAddr) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        conn.set_read_timeout(Some(LIMIT)).unwrap();
        conn.write_all(b"hello").unwrap();
        let mut back = Vec::new();
        conn.read_to_end(&mut back).unwrap();
        back
    })
}

/// Accepts one connection, echoes five bytes back and closes the write
/// half; returns the stream, still open.
pub async fn echo_once<R: Runtime>(rt: R, listener: StdTcpListener) -> io::Result<R::Stream> {
    let serve = async {
        let mut listener = rt.listener(listener)?;
        let (mut stream, _) = listener.accept().await?;
        let mut buf = [0; 5];
        stream.read_exact(&mut buf).await?;
        stream.write_all(&buf).await?;
        stream.flush().await?;
        stream.close().await?;
        Ok(stream)
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

/// Spawns from inside `block_on` and waits (bounded) for the task.
pub fn runs_spawned_task<R: Runtime>(rt: R) {
    let (tx, rx) = mpsc::channel();
    let got = rt.block_on(async {
        rt.spawn(async move { tx.send(7).unwrap() });
        for _ in 0..1000 {
            if let Ok(v) = rx.try_recv() {
                return Some(v);
            }
            rt.sleep(Duration::from_millis(10)).await;
        }
        None
    });
    assert_eq!(got, Some(7));
}

/// A per-core runtime's workers each accept on their own listener: one
/// listener per worker, each echoing once for its client. `check` sees each
/// accepted stream (e.g. for `TCP_NODELAY`); returns the names of the
/// threads the workers ran on, sorted.
pub fn workers_accept_on_their_own_listeners<R: Runtime>(
    rt: R,
    check: fn(&R::Stream) -> io::Result<()>,
) -> Vec<Option<String>> {
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
    seen
}
