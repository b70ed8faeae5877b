//! The built-in load generator: closed loop, keep-alive, optional
//! pipelining, latency in an HdrHistogram.
//!
//! One thread per load CPU, each pinned and running its own `mio` event loop
//! over its share of the connections, as wrk does. Each connection writes a
//! batch of `depth` requests, waits for every response of it, and writes the
//! next; a response's latency runs from the start of its batch's write.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tramline::test::ResponseParser;

/// One request as bytes on the wire, and the class its latency counts in.
#[derive(Debug, Clone)]
pub struct Request {
    /// The whole request: head and body.
    pub bytes: Arc<[u8]>,
}

impl Request {
    /// A `GET path` request.
    pub fn get(path: &str) -> Self {
        Self::raw(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes())
    }

    /// A `POST path` request with `body`.
    pub fn post(path: &str, body: &[u8]) -> Self {
        let mut bytes = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body);
        Self::raw(bytes)
    }

    fn raw(bytes: Vec<u8>) -> Self {
        Self {
            bytes: bytes.into(),
        }
    }
}

/// A load to apply.
#[derive(Debug, Clone)]
pub struct Load {
    /// The server.
    pub addr: SocketAddr,
    /// Connections, spread over the threads.
    pub connections: usize,
    /// Requests per batch (1: no pipelining).
    pub depth: usize,
    /// How long to measure.
    pub duration: Duration,
    /// The usual request.
    pub request: Request,
    /// A rare request and how often it is sent: every `n`-th request of a
    /// connection is this one. Its latencies are kept apart.
    pub rare: Option<(Request, u64)>,
    /// CPUs to pin the threads to, one thread each; empty: one unpinned
    /// thread.
    pub cpus: Vec<usize>,
}

/// What a load measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Responses completed in the measured time.
    pub requests: u64,
    /// Of those, responses whose status was not 2xx.
    pub non_2xx: u64,
    /// Connections that failed or closed (each was reopened).
    pub errors: u64,
    /// The measured time.
    pub elapsed: Duration,
    /// Latency of the usual requests, in microseconds.
    pub latency: Histogram<u64>,
    /// Latency of the rare requests, in microseconds.
    pub rare_latency: Histogram<u64>,
}

impl Outcome {
    fn new() -> Self {
        Self {
            requests: 0,
            non_2xx: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: histogram(),
            rare_latency: histogram(),
        }
    }

    fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.non_2xx += other.non_2xx;
        self.errors += other.errors;
        self.elapsed = self.elapsed.max(other.elapsed);
        // Both are sized alike, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.rare_latency.add(&other.rare_latency);
    }

    /// Completed responses per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// 1 µs to 100 s at 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds")
}

/// Applies `load` and returns what it measured.
///
/// # Errors
///
/// Returns an error if no connection to the server can be opened.
pub fn run(load: &Load) -> io::Result<Outcome> {
    let threads = load.cpus.len().max(1);
    let per_thread: Vec<usize> = (0..threads)
        .map(|t| load.connections / threads + usize::from(t < load.connections % threads))
        .filter(|&n| n > 0)
        .collect();
    let results: Vec<io::Result<Outcome>> = std::thread::scope(|s| {
        let handles: Vec<_> = per_thread
            .iter()
            .enumerate()
            .map(|(t, &conns)| {
                let cpu = load.cpus.get(t).copied();
                s.spawn(move || {
                    if let Some(cpu) = cpu {
                        pin_current_thread(cpu);
                    }
                    Worker::new(load, conns)?.run()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("load thread panicked")))
            })
            .collect()
    });
    let mut total = Outcome::new();
    for r in results {
        total.merge(&r?);
    }
    Ok(total)
}

/// Pins the calling thread to `cpu`; a CPU that does not exist is ignored.
pub fn pin_current_thread(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

/// The batches a connection sends: the usual one, and the rare one.
struct Batches {
    usual: Arc<[u8]>,
    rare: Option<(Arc<[u8]>, u64)>,
    depth: usize,
}

struct Conn {
    stream: TcpStream,
    /// The batch being written and how much of it is out.
    out: Arc<[u8]>,
    written: usize,
    /// Whether the batch in flight is the rare one.
    rare: bool,
    /// Responses still expected for the batch in flight.
    pending: usize,
    sent_at: Instant,
    /// Batches sent so far, to pick the rare one.
    sent: u64,
    buf: Vec<u8>,
    /// INVARIANT: start <= end <= buf.len(); bytes start..end are unparsed.
    start: usize,
    end: usize,
}

struct Worker<'a> {
    load: &'a Load,
    poll: Poll,
    conns: Vec<Conn>,
    batches: Batches,
    out: Outcome,
}

const READ_CHUNK: usize = 64 * 1024;

impl<'a> Worker<'a> {
    fn new(load: &'a Load, connections: usize) -> io::Result<Self> {
        let poll = Poll::new()?;
        let batch = |r: &Request| -> Arc<[u8]> { r.bytes.repeat(load.depth.max(1)).into() };
        let batches = Batches {
            usual: batch(&load.request),
            rare: load
                .rare
                .as_ref()
                .map(|(r, every)| (batch(r), (*every).max(1))),
            depth: load.depth.max(1),
        };
        let mut worker = Self {
            load,
            poll,
            conns: Vec::with_capacity(connections),
            batches,
            out: Outcome::new(),
        };
        for i in 0..connections {
            let conn = worker.connect(i)?;
            worker.conns.push(conn);
        }
        Ok(worker)
    }

    fn connect(&self, token: usize) -> io::Result<Conn> {
        let std = std::net::TcpStream::connect(self.load.addr)?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std);
        self.poll.registry().register(
            &mut stream,
            Token(token),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Conn {
            stream,
            out: self.batches.usual.clone(),
            written: 0,
            rare: false,
            pending: 0,
            sent_at: Instant::now(),
            sent: 0,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
        })
    }

    fn run(mut self) -> io::Result<Outcome> {
        let started = Instant::now();
        let deadline = started + self.load.duration;
        for i in 0..self.conns.len() {
            self.start_batch(i);
            self.drive(i, deadline);
        }
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match self.poll.poll(&mut events, Some(deadline - now)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in &events {
                self.drive(event.token().0, deadline);
            }
        }
        // Only responses completed before the deadline were counted.
        self.out.elapsed = self.load.duration;
        Ok(self.out)
    }

    fn start_batch(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        conn.sent += 1;
        conn.rare = false;
        conn.out = self.batches.usual.clone();
        if let Some((rare, every)) = &self.batches.rare {
            if conn.sent % every == 0 {
                conn.out = rare.clone();
                conn.rare = true;
            }
        }
        conn.written = 0;
        conn.pending = self.batches.depth;
        conn.sent_at = Instant::now();
    }

    /// Writes what can be written and reads what can be read on connection
    /// `i`, until the socket would block.
    fn drive(&mut self, i: usize, deadline: Instant) {
        loop {
            match self.step(i, deadline) {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => {
                    self.out.errors += 1;
                    if self.reconnect(i).is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// One write and one read; `Ok(true)` if there may be more to do.
    fn step(&mut self, i: usize, deadline: Instant) -> io::Result<bool> {
        let mut progress = false;
        let conn = &mut self.conns[i];
        if conn.written < conn.out.len() {
            match conn.stream.write(&conn.out[conn.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    conn.written += n;
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                Err(e) => return Err(e),
            }
        }
        if conn.end == conn.buf.len() {
            if conn.start > 0 {
                conn.buf.copy_within(conn.start..conn.end, 0);
                conn.end -= conn.start;
                conn.start = 0;
            } else {
                let len = conn.buf.len();
                conn.buf.resize(len * 2, 0);
            }
        }
        match conn.stream.read(&mut conn.buf[conn.end..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                conn.end += n;
                progress = true;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => progress = true,
            Err(e) => return Err(e),
        }
        while self.conns[i].start < self.conns[i].end {
            let conn = &mut self.conns[i];
            let Some((len, status)) = parse_response(&conn.buf[conn.start..conn.end])? else {
                break;
            };
            conn.start += len;
            if conn.start == conn.end {
                conn.start = 0;
                conn.end = 0;
            }
            if conn.pending == 0 {
                return Err(io::Error::other("a response nobody asked for"));
            }
            conn.pending -= 1;
            let now = Instant::now();
            if now < deadline {
                let micros = now.duration_since(conn.sent_at).as_micros();
                let micros = u64::try_from(micros).unwrap_or(u64::MAX).max(1);
                let hist = if conn.rare {
                    &mut self.out.rare_latency
                } else {
                    &mut self.out.latency
                };
                hist.saturating_record(micros);
                self.out.requests += 1;
                if !(200..300).contains(&status) {
                    self.out.non_2xx += 1;
                }
            }
            if self.conns[i].pending == 0 && now < deadline {
                self.start_batch(i);
                progress = true;
            }
        }
        Ok(progress && Instant::now() < deadline)
    }

    fn reconnect(&mut self, i: usize) -> io::Result<()> {
        let _ = self.poll.registry().deregister(&mut self.conns[i].stream);
        let conn = self.connect(i)?;
        self.conns[i] = conn;
        self.start_batch(i);
        Ok(())
    }
}

/// Parses one whole response at the start of `buf`: its length on the wire
/// and its status, or `None` while it is incomplete. Only the head is
/// parsed ([`ResponseParser::frame`]: no copy, no allocation); the body is
/// skipped.
///
/// # Errors
///
/// Returns an error on a malformed response or one whose body runs to the
/// end of the connection (every server in the matrix frames its bodies).
pub fn parse_response(buf: &[u8]) -> io::Result<Option<(usize, u16)>> {
    let mut parser = ResponseParser::new();
    parser.require_framing(true);
    match parser.frame(buf) {
        Ok(frame) => Ok(frame.map(|f| (f.len, f.status))),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    }
}

/// A blocking keep-alive client for one connection: the idle workload and
/// the instruction and syscall counters use it.
#[derive(Debug)]
pub struct Client {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
    end: usize,
}

impl Client {
    /// Connects to `addr`.
    ///
    /// # Errors
    ///
    /// Returns the OS error of connecting.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = std::net::TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Self {
            stream,
            buf: vec![0; READ_CHUNK],
            end: 0,
        })
    }

    /// Sends `bytes` (one request or a pipelined batch) and reads `count`
    /// responses; returns how many were 2xx.
    ///
    /// # Errors
    ///
    /// Returns an error if the connection fails or a response is malformed.
    pub fn exchange(&mut self, bytes: &[u8], count: usize) -> io::Result<usize> {
        self.stream.write_all(bytes)?;
        let mut ok = 0;
        let mut start = 0;
        let mut seen = 0;
        while seen < count {
            if let Some((len, status)) = parse_response(&self.buf[start..self.end])? {
                start += len;
                seen += 1;
                ok += usize::from((200..300).contains(&status));
                continue;
            }
            if self.end == self.buf.len() {
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
            match self.stream.read(&mut self.buf[self.end..])? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => self.end += n,
            }
        }
        self.buf.copy_within(start..self.end, 0);
        self.end -= start;
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_responses_only() {
        let res = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        for cut in 0..res.len() {
            assert_eq!(parse_response(&res[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(parse_response(res).unwrap(), Some((res.len(), 200)));
        let two = [&res[..], &res[..]].concat();
        assert_eq!(parse_response(&two).unwrap(), Some((res.len(), 200)));
        let nf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(parse_response(nf).unwrap(), Some((nf.len(), 404)));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n\r\n").is_err());
    }
}
