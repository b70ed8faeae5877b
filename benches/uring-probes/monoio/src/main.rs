//! monoio 0.2, IoUringDriver only, owned-buffer reads and writes.
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};
use probe_common::{addr, respond, Counter, READ_BUF};

async fn conn(mut s: TcpStream) {
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
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .build()
        .expect("io_uring runtime");
    rt.block_on(async move {
        // bind() sets SO_REUSEPORT and SO_REUSEADDR by default (ListenerOpts).
        let l = TcpListener::bind(addr).expect("bind");
        loop {
            let (s, _) = l.accept().await.expect("accept");
            monoio::spawn(conn(s));
        }
    });
}
