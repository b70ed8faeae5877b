//! tokio-uring 0.5, tokio_uring::start, owned-buffer reads and writes.
use probe_common::{addr, respond, Counter, READ_BUF};
use tokio_uring::net::{TcpListener, TcpStream};

async fn conn(s: TcpStream) {
    let mut rbuf = Vec::with_capacity(READ_BUF);
    let mut wbuf = Vec::with_capacity(READ_BUF);
    let mut c = Counter::default();
    loop {
        rbuf.clear();
        let (r, b) = s.read(rbuf).await;
        rbuf = b;
        match r {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let n = c.feed(&rbuf);
        if n == 0 {
            continue;
        }
        wbuf.clear();
        respond(&mut wbuf, n);
        let (r, b) = s.write_all(wbuf).await;
        wbuf = b;
        if r.is_err() {
            return;
        }
    }
}

fn main() {
    let addr = addr();
    tokio_uring::start(async move {
        // bind() sets SO_REUSEPORT and SO_REUSEADDR itself.
        let l = TcpListener::bind(addr).expect("bind");
        loop {
            let (s, _) = l.accept().await.expect("accept");
            tokio_uring::spawn(conn(s));
        }
    });
}
