//! Running `wrk`, the field's standard load generator, when it is on `PATH`.
//!
//! Every run gets a generated Lua script: the workload's part (the
//! TechEmpower pipelining script for `pipelined`, a POST body for `upload`)
//! plus a `done` hook that prints the figures this crate needs on one line,
//! so nothing depends on wrk's human-readable report.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The pipelining script TechEmpower's plaintext runs use: 16 requests per
/// write (a copy of the project's shared `bench/pipeline.lua`).
pub const PIPELINE_LUA: &str = include_str!("../lua/pipeline.lua");

/// The `done` hook: one line, `TRAMLINE <requests> <duration µs> <status
/// errors> <connect> <read> <write> <timeout> <p50 µs> <p99 µs>`.
const DONE_LUA: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("TRAMLINE %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.0f\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(99)))
end
"#;

/// A wrk run.
#[derive(Debug, Clone)]
pub struct WrkLoad<'a> {
    /// The server.
    pub addr: SocketAddr,
    /// The path to request.
    pub path: &'a str,
    /// Connections.
    pub connections: usize,
    /// Whole seconds (wrk takes no less).
    pub duration: Duration,
    /// Lua that shapes the requests (may be empty).
    pub script: &'a str,
    /// CPUs for wrk (`taskset -c`); one wrk thread per CPU.
    pub cpus: &'a [usize],
    /// HTTPS instead of HTTP (wrk does not verify the certificate).
    pub tls: bool,
}

/// What wrk measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WrkOutcome {
    /// Responses completed.
    pub requests: u64,
    /// How long wrk ran.
    pub elapsed: Duration,
    /// Responses with a status of 400 or more (wrk's `errors.status`).
    pub non_2xx: u64,
    /// Connect, read, write and timeout errors.
    pub errors: u64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile latency, µs.
    pub p99_us: f64,
}

/// Runs wrk; `scratch` is a directory for the generated script.
///
/// # Errors
///
/// Returns an error if wrk cannot run, fails, or prints no summary.
pub fn run(load: &WrkLoad<'_>, scratch: &Path) -> io::Result<WrkOutcome> {
    std::fs::create_dir_all(scratch)?;
    let script = scratch.join(format!("wrk-{}.lua", std::process::id()));
    std::fs::write(&script, format!("{}\n{DONE_LUA}", load.script))?;
    let threads = load.cpus.len().max(1).min(load.connections.max(1));
    let secs = load.duration.as_secs().max(1);
    let mut cmd = if load.cpus.is_empty() {
        Command::new("wrk")
    } else {
        let list: Vec<String> = load.cpus.iter().map(ToString::to_string).collect();
        let mut c = Command::new("taskset");
        c.args(["-c", &list.join(","), "wrk"]);
        c
    };
    cmd.args([
        format!("-t{threads}"),
        format!("-c{}", load.connections.max(threads)),
        format!("-d{secs}s"),
        "--timeout".into(),
        "10s".into(),
        "-s".into(),
        script.to_string_lossy().into_owned(),
        format!(
            "{}://{}{}",
            if load.tls { "https" } else { "http" },
            load.addr,
            load.path
        ),
    ]);
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TRAMLINE "))
        .ok_or_else(|| {
            io::Error::other(format!(
                "wrk printed no summary ({}):\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
    parse_summary(line).ok_or_else(|| io::Error::other(format!("bad wrk summary {line:?}")))
}

fn parse_summary(line: &str) -> Option<WrkOutcome> {
    let v: Vec<f64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [
        requests,
        duration,
        status,
        connect,
        read,
        write,
        timeout,
        p50,
        p99,
    ] = v[..]
    else {
        return None;
    };
    Some(WrkOutcome {
        requests: requests as u64,
        elapsed: Duration::from_micros(duration as u64),
        non_2xx: status as u64,
        errors: (connect + read + write + timeout) as u64,
        p50_us: p50,
        p99_us: p99,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_done_line() {
        let out = parse_summary("120 2000000 0 0 1 0 0 85 400").unwrap();
        assert_eq!(out.requests, 120);
        assert_eq!(out.elapsed, Duration::from_secs(2));
        assert_eq!((out.non_2xx, out.errors), (0, 1));
        assert_eq!((out.p50_us, out.p99_us), (85.0, 400.0));
        assert_eq!(parse_summary("1 2 3"), None);
    }
}
