//! Running `h2load` (nghttp2's HTTP/2 load generator, Debian's
//! `nghttp2-client`) for the h2 workload, and checking first that the
//! server speaks h2c with prior knowledge at all.
//!
//! h2load exits 0 even when every request failed, so its summary is parsed
//! and its error counts are part of the outcome; and a server that answers
//! the preface with HTTP/1.1 is caught by [`probe`] before h2load runs, so
//! the cell fails with the server's answer instead of a count of errors.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::on_path;

/// The client connection preface (RFC 9113 §3.4) and an empty SETTINGS
/// frame, which must follow it.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0";

/// What to say when h2load is not there.
pub const MISSING: &str =
    "h2load is not on PATH (Debian: apt-get install nghttp2-client); the h2 workload needs it";

/// Returns an error saying h2load is missing, unless it is on `PATH`.
///
/// # Errors
///
/// Returns [`MISSING`] if h2load is not on `PATH`.
pub fn check() -> io::Result<()> {
    if on_path("h2load") {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::NotFound, MISSING))
    }
}

/// Sends the HTTP/2 preface and checks that the server answers with a
/// SETTINGS frame, within `patience`.
///
/// # Errors
///
/// Returns an error naming what the server did instead: answered with
/// HTTP/1.x (its status line is in the message), closed the connection,
/// sent something else, or nothing in time.
pub fn probe(addr: SocketAddr, patience: Duration) -> io::Result<()> {
    let mut tcp = TcpStream::connect_timeout(&addr, patience)?;
    tcp.set_read_timeout(Some(patience))?;
    tcp.write_all(PREFACE)?;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    // A frame header is 9 bytes; an HTTP/1.x answer is judged on its status
    // line.
    while got.len() < 9 || (got.starts_with(b"HTTP/") && !got.contains(&b'\n')) {
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{addr}: no answer to the h2 preface within {patience:?} (got {} bytes)",
                        got.len()
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
        if got.len() > 4096 {
            break;
        }
    }
    judge(addr, &got)
}

/// What the first bytes of the server's answer to the preface say.
fn judge(addr: SocketAddr, got: &[u8]) -> io::Result<()> {
    if got.starts_with(b"HTTP/") {
        let line = got
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or(got);
        return Err(io::Error::other(format!(
            "{addr}: server answered {:?} to the h2 preface: it does not speak h2c with prior knowledge",
            String::from_utf8_lossy(line)
        )));
    }
    // Frame header: length (3), type (1), flags (1), stream id (4); the
    // server's preface is a SETTINGS frame (type 4) without ACK on stream 0.
    match got {
        [_, _, _, 4, flags, 0, 0, 0, 0, ..] if flags & 1 == 0 => Ok(()),
        [] => Err(io::Error::other(format!(
            "{addr}: server closed the connection on the h2 preface"
        ))),
        _ => Err(io::Error::other(format!(
            "{addr}: server answered the h2 preface with {:02x?}, not SETTINGS",
            &got[..got.len().min(16)]
        ))),
    }
}

/// An h2load run.
#[derive(Debug, Clone)]
pub struct H2Load<'a> {
    /// The server (h2c, prior knowledge).
    pub addr: SocketAddr,
    /// The path to request.
    pub path: &'a str,
    /// Connections (`-c`).
    pub connections: usize,
    /// Concurrent streams per connection (`-m`).
    pub streams: usize,
    /// How long to run (`-D`, in whole milliseconds), or `None` to run a
    /// fixed count instead.
    pub duration: Option<Duration>,
    /// Requests in all (`-n`), when `duration` is `None`.
    pub requests: u64,
    /// Requests per second per connection (`--rps`), or `None`: as fast
    /// as the server answers.
    pub rate: Option<u64>,
    /// CPUs for h2load (`taskset -c`); one h2load thread per CPU.
    pub cpus: &'a [usize],
    /// Kill h2load if it has not finished by then (it never should: this
    /// only bounds a server that stops answering).
    pub deadline: Duration,
}

/// What h2load measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct H2Outcome {
    /// Requests h2load counted as done.
    pub done: u64,
    /// Responses with a 2xx status.
    pub ok_2xx: u64,
    /// Responses with a 3xx, 4xx or 5xx status.
    pub non_2xx: u64,
    /// Requests that failed for another reason (stream or connection
    /// errors: h2load's `errored` and `timeout`).
    pub errors: u64,
    /// How long h2load measured.
    pub elapsed: Duration,
    /// Mean time per request, µs (h2load reports no percentiles).
    pub mean_us: f64,
}

/// Runs h2load and parses its summary.
///
/// # Errors
///
/// Returns an error if h2load is missing, cannot run, runs past the
/// deadline (it is killed), or prints no summary.
pub fn run(load: &H2Load<'_>) -> io::Result<H2Outcome> {
    check()?;
    let threads = load.cpus.len().max(1).min(load.connections.max(1));
    let mut cmd = if load.cpus.is_empty() {
        Command::new("h2load")
    } else {
        let list: Vec<String> = load.cpus.iter().map(ToString::to_string).collect();
        let mut c = Command::new("taskset");
        c.args(["-c", &list.join(","), "h2load"]);
        c
    };
    cmd.args([
        format!("-t{threads}"),
        format!("-c{}", load.connections.max(threads)),
        format!("-m{}", load.streams.max(1)),
    ]);
    match load.duration {
        Some(d) => cmd.arg(format!("-D{}ms", d.as_millis().max(1))),
        None => cmd.arg(format!("-n{}", load.requests.max(1))),
    };
    if let Some(rate) = load.rate {
        cmd.arg(format!("--rps={}", rate.max(1)));
    }
    cmd.arg(format!("http://{}{}", load.addr, load.path));
    let out = output_within(cmd, load.deadline)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_summary(&stdout).ok_or_else(|| {
        io::Error::other(format!(
            "h2load printed no summary ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

/// Runs `cmd` to completion, killing it at `deadline`.
fn output_within(mut cmd: Command, deadline: Duration) -> io::Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run h2load: {e}")))?;
    // Readers on threads: h2load's output must not fill a pipe while we wait.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = out_pipe.as_mut() {
            let _ = p.read_to_end(&mut s);
        }
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(p) = err_pipe.as_mut() {
            let _ = p.read_to_end(&mut s);
        }
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_reader.join().unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "h2load did not finish within {deadline:?}; killed it:\n{}",
                    String::from_utf8_lossy(&stdout)
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Ok(std::process::Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// Reads h2load's human-readable summary: the `finished in`, `requests:`,
/// `status codes:` and `time for request:` lines.
fn parse_summary(text: &str) -> Option<H2Outcome> {
    let mut elapsed = None;
    let mut requests = None;
    let mut status = None;
    let mut mean_us = f64::NAN;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("finished in ") {
            elapsed = parse_duration(rest.split(',').next()?.trim());
        } else if let Some(rest) = line.strip_prefix("requests:") {
            // "N total, N started, N done, N succeeded, N failed, N errored, N timeout"
            requests = Some(counts(rest)?);
        } else if let Some(rest) = line.strip_prefix("status codes:") {
            // "N 2xx, N 3xx, N 4xx, N 5xx"
            status = Some(counts(rest)?);
        } else if let Some(rest) = line.strip_prefix("time for request:") {
            // min, max, mean, sd, +/- sd
            mean_us = rest
                .split_whitespace()
                .nth(2)
                .and_then(parse_duration)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6);
        }
    }
    let requests = requests?;
    let status = status?;
    let get =
        |list: &[(String, u64)], key: &str| list.iter().find(|(k, _)| k == key).map(|&(_, v)| v);
    let ok_2xx = get(&status, "2xx")?;
    let non_2xx = get(&status, "3xx")? + get(&status, "4xx")? + get(&status, "5xx")?;
    Some(H2Outcome {
        done: get(&requests, "done")?,
        ok_2xx,
        non_2xx,
        errors: get(&requests, "errored")? + get(&requests, "timeout")?,
        elapsed: elapsed?,
        mean_us,
    })
}

/// `"3 total, 2 done"` as `[("total", 3), ("done", 2)]`.
fn counts(list: &str) -> Option<Vec<(String, u64)>> {
    list.split(',')
        .map(|item| {
            let (n, key) = item.trim().split_once(' ')?;
            Some((key.trim().to_owned(), n.parse().ok()?))
        })
        .collect()
}

/// h2load's durations: `913us`, `1.52ms`, `2.00s`.
fn parse_duration(s: &str) -> Option<Duration> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_summary() {
        let out = "\
starting benchmark...
spawning thread #0: 64 total client(s). 100000 total requests
Application protocol: h2c
progress: 10% done

finished in 1.52s, 65789.47 req/s, 2.57MB/s
requests: 100000 total, 100000 started, 100000 done, 99990 succeeded, 10 failed, 4 errored, 1 timeout
status codes: 99990 2xx, 0 3xx, 5 4xx, 0 5xx
traffic: 3.91MB (4100000) total, 1.00MB (1048576) headers (space savings 95.00%), 1.24MB (1300000) data
                     min         max         mean         sd        +/- sd
time for request:       52us     12.30ms      1.50ms       300us    80.00%
time for connect:      319us       2.1ms      1.2ms        20us   100.00%
";
        let o = parse_summary(out).unwrap();
        assert_eq!(
            (o.done, o.ok_2xx, o.non_2xx, o.errors),
            (100_000, 99_990, 5, 5)
        );
        assert_eq!(o.elapsed, Duration::from_millis(1520));
        assert!((o.mean_us - 1500.0).abs() < 1e-6, "{}", o.mean_us);
        assert_eq!(parse_summary("finished in 1s\n"), None);
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("913us"), Some(Duration::from_micros(913)));
        assert_eq!(parse_duration("2.00s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5ms"), Some(Duration::from_micros(1500)));
        assert_eq!(parse_duration("fast"), None);
    }

    #[test]
    fn judges_the_answer_to_the_preface() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let err = judge(
            addr,
            b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-length: 0\r\n\r\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("\"HTTP/1.1 505 HTTP Version Not Supported\""),
            "{err}"
        );
        assert!(judge(addr, &[0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100]).is_ok());
        // A SETTINGS ACK is not the server's preface.
        assert!(judge(addr, &[0, 0, 0, 4, 1, 0, 0, 0, 0]).is_err());
        assert!(judge(addr, b"").unwrap_err().to_string().contains("closed"));
    }
}
