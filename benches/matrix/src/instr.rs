//! Counting what one request costs the server, deterministically: CPU
//! instructions under callgrind, and system calls under `strace -c`.
//!
//! Each count runs the server twice, driving N and then 2N keep-alive
//! requests over one connection, and reports (count(2N) − count(N)) / N, so
//! start-up and the first connection cancel out. Instructions are dumped
//! while the server still runs (then it is killed), so shutdown is not
//! counted; system calls are counted to the server's exit.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::h2load::{self, H2Load};
use crate::loadgen::Client;
use crate::server::{Launch, Server, Target};
use crate::workload::Workload;

/// Which counter to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Counter {
    /// `valgrind --tool=callgrind`: instructions executed.
    Instructions,
    /// `strace -f -c`: system calls, by name.
    Syscalls,
}

/// What to count.
#[derive(Debug, Clone)]
pub struct CountPlan {
    /// The servers.
    pub targets: Vec<Target>,
    /// Request–response workloads (plaintext, pipelined, json, param, fib,
    /// async, upload, h2).
    pub workloads: Vec<Workload>,
    /// N.
    pub requests: u64,
    /// Server worker threads.
    pub workers: usize,
    /// A pause between a response and the next request. Zero measures the
    /// back-to-back path; a pause longer than the server needs lets it go
    /// idle and wait for every request, which is what strace should see:
    /// strace slows every syscall, so without a pause the next request is
    /// often already there when the server reads again, and the count
    /// depends on the tracer's own overhead.
    pub pace: Duration,
    /// Where the counters' output files go.
    pub scratch: PathBuf,
}

/// One (server, workload) count.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    /// The server.
    pub target: String,
    /// The workload.
    pub workload: Workload,
    /// N.
    pub requests: u64,
    /// The total after N requests (instructions, or all system calls).
    pub total_n: u64,
    /// The total after 2N requests.
    pub total_2n: u64,
    /// (total(2N) − total(N)) / N.
    pub per_request: f64,
    /// Syscalls only: per request, by name, largest first.
    pub by_name: Vec<(String, f64)>,
}

/// Runs `counter` over every target and workload in `plan`.
///
/// `progress` is called before each server run with a description.
///
/// # Errors
///
/// Returns an error if valgrind or strace cannot run, a server does not
/// start, or a response is not 2xx.
pub fn count(
    plan: &CountPlan,
    counter: Counter,
    mut progress: impl FnMut(&str),
) -> io::Result<Vec<Count>> {
    std::fs::create_dir_all(&plan.scratch)?;
    let mut counts = Vec::new();
    for &workload in &plan.workloads {
        // Peers without h2c have no h2 count (their cells stay empty).
        for target in plan.targets.iter().filter(|t| t.serves(workload)) {
            let mut totals = Vec::new();
            for n in [plan.requests, 2 * plan.requests] {
                progress(&format!("{} / {workload}: {n} requests", target.name));
                let file = plan.scratch.join(format!(
                    "{}.{}.{workload}.{n}.out",
                    match counter {
                        Counter::Instructions => "callgrind",
                        Counter::Syscalls => "strace",
                    },
                    target.name
                ));
                let wrapper: Vec<String> = match counter {
                    Counter::Instructions => vec![
                        "valgrind".into(),
                        "--tool=callgrind".into(),
                        format!("--callgrind-out-file={}", file.display()),
                    ],
                    Counter::Syscalls => vec![
                        "strace".into(),
                        "-f".into(),
                        "-c".into(),
                        "-o".into(),
                        file.to_string_lossy().into_owned(),
                    ],
                };
                let launch = Launch {
                    cpus: None,
                    wrapper,
                    timeout: Duration::from_secs(180),
                    workers: plan.workers,
                };
                let _ = std::fs::remove_file(&file);
                let server = Server::start(target, &launch)?;
                drive(&server, workload, n, plan.pace).map_err(|e| {
                    io::Error::new(e.kind(), format!("{} / {workload}: {e}", target.name))
                })?;
                let file = match counter {
                    // The count is dumped while the server runs, then it is
                    // killed: under valgrind 3.19 a thread waiting in
                    // io_uring_enter keeps valgrind's lock, so the uring
                    // server's signal thread never runs and SIGTERM is never
                    // handled. Start-up cancels out in count(2N) − count(N)
                    // as before; shutdown is no longer counted at all.
                    Counter::Instructions => {
                        let dump = dump_callgrind(&server, &file)?;
                        drop(server);
                        dump
                    }
                    Counter::Syscalls => {
                        server.terminate(Duration::from_secs(120))?;
                        file
                    }
                };
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("no counter output {}: {e}", file.display()),
                    )
                })?;
                totals.push(match counter {
                    Counter::Instructions => (callgrind_total(&text)?, BTreeMap::new()),
                    Counter::Syscalls => {
                        let by_name = strace_calls(&text);
                        (by_name.values().sum(), by_name)
                    }
                });
            }
            let n = plan.requests as f64;
            let mut by_name: Vec<(String, f64)> = totals[1]
                .1
                .iter()
                .map(|(name, &c2)| {
                    let c1 = totals[0].1.get(name).copied().unwrap_or(0);
                    (name.clone(), (c2 as f64 - c1 as f64) / n)
                })
                .filter(|(_, per)| per.abs() >= 0.005)
                .collect();
            by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
            counts.push(Count {
                target: target.name.clone(),
                workload,
                requests: plan.requests,
                total_n: totals[0].0,
                total_2n: totals[1].0,
                per_request: (totals[1].0 as f64 - totals[0].0 as f64) / n,
                by_name,
            });
        }
    }
    Ok(counts)
}

/// Sends `n` of `workload`'s requests over one keep-alive connection
/// (pipelined: in batches of 16) and checks every response is 2xx.
fn drive(server: &Server, workload: Workload, n: u64, pace: Duration) -> io::Result<()> {
    if workload.h2() {
        return drive_h2(server, workload, n, pace);
    }
    let mut client = Client::connect(server.addr)?;
    let depth = workload.depth() as u64;
    let batch = workload.request().bytes.repeat(workload.depth());
    let mut sent = 0;
    while sent < n {
        let count = depth.min(n - sent) as usize;
        let bytes = &batch[..batch.len() / workload.depth() * count];
        let ok = client.exchange(bytes, count)?;
        if ok != count {
            return Err(io::Error::other(format!(
                "{workload} on {}: a response was not 2xx",
                server.addr
            )));
        }
        sent += count as u64;
        if !pace.is_zero() {
            std::thread::sleep(pace);
        }
    }
    Ok(())
}

/// h2: `n` requests from h2load over one connection, one stream at a time
/// (`-c 1 -m 1`), as the HTTP/1.1 workloads send one request at a time;
/// the connection's setup (preface, SETTINGS) cancels out in count(2N) −
/// count(N) like the HTTP/1.1 connection's. A pace becomes h2load's
/// per-connection rate (`--rps`), which spaces the requests out the same
/// way at these speeds.
fn drive_h2(server: &Server, workload: Workload, n: u64, pace: Duration) -> io::Result<()> {
    // First the preface alone: a server without h2c fails here with its
    // answer, not as h2load's error count.
    h2load::probe(server.addr, Duration::from_secs(60))?;
    let out = h2load::run(&H2Load {
        addr: server.addr,
        path: workload.path(),
        connections: 1,
        streams: 1,
        duration: None,
        requests: n,
        rate: (!pace.is_zero()).then(|| (1_000_000 / pace.as_micros().max(1)) as u64),
        cpus: &[],
        // Under valgrind a request takes some hundred µs; this only bounds
        // a server that stops answering.
        deadline: Duration::from_secs(60) + Duration::from_millis(n),
    })?;
    if out.ok_2xx != n || out.non_2xx != 0 || out.errors != 0 {
        return Err(io::Error::other(format!(
            "{workload} on {}: h2load got {} 2xx of {n}, {} non-2xx, {} errors",
            server.addr, out.ok_2xx, out.non_2xx, out.errors
        )));
    }
    Ok(())
}

/// Asks the callgrind run behind `server` (through `callgrind_control`,
/// which reaches it with vgdb even while it waits in a system call) to dump
/// its counts so far, and returns the dump's path, `<out>.1`, once written.
fn dump_callgrind(server: &Server, out: &std::path::Path) -> io::Result<PathBuf> {
    let dump = PathBuf::from(format!("{}.1", out.display()));
    let _ = std::fs::remove_file(&dump);
    let status = std::process::Command::new("callgrind_control")
        .args(["--dump", &server.pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run callgrind_control: {e}")))?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "callgrind_control --dump {} failed ({status})",
            server.pid
        )));
    }
    // callgrind_control returns ("OK.") once the dump is written.
    Ok(dump)
}

/// The instruction total of a callgrind output file (its `totals:` line, or
/// `summary:` in older formats).
fn callgrind_total(text: &str) -> io::Result<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| io::Error::other("callgrind output has no totals line"))
}

/// Calls by syscall name from an `strace -c` table.
fn strace_calls(text: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors,] syscall
        if cols.len() < 5 || cols[0].parse::<f64>().is_err() {
            continue;
        }
        let name = cols[cols.len() - 1];
        if name == "total" {
            continue;
        }
        if let Ok(n) = cols[3].parse::<u64>() {
            calls.insert(name.to_owned(), n);
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrind_totals() {
        let out = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 123456\n\ntotals: 123456\n";
        assert_eq!(callgrind_total(out).unwrap(), 123_456);
        assert!(callgrind_total("events: Ir\n").is_err());
    }

    #[test]
    fn reads_an_strace_summary() {
        let out = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 52.47    0.006144           3      2000           sendto
 40.01    0.004685           1      4001      2000 recvfrom
  0.50    0.000059          59         1           epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.011709           1      6002      2000 total
";
        let calls = strace_calls(out);
        assert_eq!(calls["sendto"], 2000);
        assert_eq!(calls["recvfrom"], 4001);
        assert_eq!(calls["epoll_wait"], 1);
        assert!(!calls.contains_key("total"));
    }
}
