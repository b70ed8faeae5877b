//! glommio 0.9, one LocalExecutor on this thread; its TcpStream implements
//! futures-io AsyncRead/AsyncWrite itself, so this is borrowed-buffer code.
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use probe_common::{addr, respond, Counter, READ_BUF};

async fn conn(mut s: TcpStream) {
    let mut rbuf = vec![0u8; READ_BUF];
    let mut wbuf = Vec::with_capacity(READ_BUF);
    let mut c = Counter::default();
    loop {
        let len = match s.read(&mut rbuf).await {
            Ok(0) | Err(_) => return,
            Ok(len) => len,
        };
        let n = c.feed(&rbuf[..len]);
        if n == 0 {
            continue;
        }
        wbuf.clear();
        respond(&mut wbuf, n);
        if s.write_all(&wbuf).await.is_err() {
            return;
        }
    }
}

fn main() {
    let addr = addr();
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .make()
        .expect("glommio executor");
    ex.run(async move {
        // bind() always sets SO_REUSEPORT.
        let l = TcpListener::bind(addr).expect("bind");
        loop {
            let s = l.accept().await.expect("accept");
            glommio::spawn_local(conn(s)).detach();
        }
    });
}
