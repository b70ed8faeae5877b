//! compio 0.19, io_uring driver, owned-buffer reads and writes.
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpSocket, TcpStream};
use compio::BufResult;
use probe_common::{addr, respond, Counter, READ_BUF};

async fn conn(mut s: TcpStream) {
    let mut rbuf = Vec::with_capacity(READ_BUF);
    let mut wbuf = Vec::with_capacity(READ_BUF);
    let mut c = Counter::default();
    loop {
        rbuf.clear();
        let BufResult(r, b) = s.read(rbuf).await;
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
        let BufResult(r, b) = s.write_all(wbuf).await;
        wbuf = b;
        if r.is_err() {
            return;
        }
    }
}

fn main() {
    let addr = addr();
    let rt = compio::runtime::Runtime::new().expect("io_uring runtime");
    rt.block_on(async move {
        // TcpListener::bind sets only SO_REUSEADDR; TcpSocket offers SO_REUSEPORT.
        let sock = TcpSocket::new_v4().await.expect("socket");
        sock.set_reuseaddr(true).unwrap();
        sock.set_reuseport(true).unwrap();
        sock.bind(addr).await.expect("bind");
        let l = sock.listen(1024).await.expect("listen");
        loop {
            let (s, _) = l.accept().await.expect("accept");
            compio::runtime::spawn(conn(s)).detach();
        }
    });
}
