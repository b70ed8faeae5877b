//! Running the matrix: every target under every workload, interleaved, with
//! warm-up and several runs per cell.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::h2load::{self, H2Load};
use crate::loadgen::{self, Client, Load};
use crate::proc;
use crate::server::{Launch, Server, Target};
use crate::tls::{self, CertFiles};
use crate::workload::{Preset, Timing, Workload};
use crate::wrk::{self, WrkLoad};

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The columns: bench_server runtimes, then peers.
    pub targets: Vec<Target>,
    /// The rows.
    pub workloads: Vec<Workload>,
    /// Connection counts follow the preset.
    pub preset: Preset,
    /// Warm-up, runs and run length.
    pub timing: Timing,
    /// Server worker threads.
    pub workers: usize,
    /// CPUs the servers are pinned to (`taskset -c` list); `None`: unpinned.
    pub server_cpus: Option<String>,
    /// CPUs the load generator is pinned to.
    pub load_cpus: Vec<usize>,
    /// Use wrk where the workload allows it.
    pub use_wrk: bool,
    /// Where wrk's scripts go.
    pub scratch: PathBuf,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// idle: connections to open instead of the preset's count.
    pub idle_connections: Option<usize>,
}

/// One measured run of one cell.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Run {
    /// Responses per second.
    pub rps: f64,
    /// Median latency, µs (NaN, `null` in JSON, where not measured).
    #[serde(deserialize_with = "nan_if_null")]
    pub p50_us: f64,
    /// 99th percentile latency, µs (cpu-mix: of the short requests).
    #[serde(deserialize_with = "nan_if_null")]
    pub p99_us: f64,
    /// cpu-mix: 99th percentile of the `/cpu` requests, µs.
    pub p99_rare_us: Option<f64>,
    /// Server CPU time (user + system) per response, µs.
    pub cpu_us_per_req: f64,
    /// Server context switches per response.
    pub ctx_per_req: f64,
    /// The server's CPU time over the run's wall time, % of one CPU.
    pub server_cpu_pct: f64,
    /// Busy time of other processes on the server's CPUs over the run's
    /// wall time, % of one CPU: how much the machine's other work took from
    /// the server (the load generator runs elsewhere).
    pub other_cpu_pct: f64,
    /// Responses completed.
    pub requests: u64,
    /// Responses that were not 2xx.
    pub non_2xx: u64,
    /// Connection errors.
    pub errors: u64,
    /// idle: resident memory per idle connection, bytes.
    pub rss_per_conn: Option<f64>,
}

/// JSON has no NaN: serde_json writes it as `null`; read it back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Median, min and max over a cell's runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Stat {
    /// Summarises `values`; all zero when empty.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return Self::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[n - 1],
        }
    }
}

/// One cell: a target under a workload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// The row.
    pub workload: Workload,
    /// The column's name.
    pub target: String,
    /// Whether the target is a peer.
    pub peer: bool,
    /// `wrk` or `builtin`.
    pub loadgen: String,
    /// Every measured run.
    pub runs: Vec<Run>,
    /// Responses per second.
    pub rps: Stat,
    /// Median over runs of the median latency, µs.
    pub p50_us: f64,
    /// Median over runs of the p99 latency, µs.
    pub p99_us: f64,
    /// Median over runs of server CPU µs per response.
    pub cpu_us_per_req: f64,
    /// Median over runs of server context switches per response.
    pub ctx_per_req: f64,
    /// Median over runs of the server's CPU use, % of one CPU.
    pub server_cpu_pct: f64,
    /// Median over runs of other processes' CPU use on the server's CPUs.
    pub other_cpu_pct: f64,
    /// The server's peak resident memory (`VmHWM`), KiB.
    pub peak_rss_kib: u64,
    /// idle: bytes of resident memory per idle connection.
    pub rss_per_conn: Option<Stat>,
    /// Non-2xx responses over all runs.
    pub non_2xx: u64,
    /// Connection errors over all runs.
    pub errors: u64,
}

impl Cell {
    fn new(workload: Workload, target: &Target, loadgen: &'static str) -> Self {
        Self {
            workload,
            target: target.name.clone(),
            peer: target.peer,
            loadgen: loadgen.to_owned(),
            runs: Vec::new(),
            rps: Stat::default(),
            p50_us: 0.0,
            p99_us: 0.0,
            cpu_us_per_req: 0.0,
            ctx_per_req: 0.0,
            server_cpu_pct: 0.0,
            other_cpu_pct: 0.0,
            peak_rss_kib: 0,
            rss_per_conn: None,
            non_2xx: 0,
            errors: 0,
        }
    }

    fn finish(&mut self) {
        let runs = &self.runs;
        self.rps = Stat::of(runs.iter().map(|r| r.rps));
        self.p50_us = Stat::of(runs.iter().map(|r| r.p50_us)).median;
        self.p99_us = Stat::of(runs.iter().map(|r| r.p99_us)).median;
        self.cpu_us_per_req = Stat::of(runs.iter().map(|r| r.cpu_us_per_req)).median;
        self.ctx_per_req = Stat::of(runs.iter().map(|r| r.ctx_per_req)).median;
        self.server_cpu_pct = Stat::of(runs.iter().map(|r| r.server_cpu_pct)).median;
        self.other_cpu_pct = Stat::of(runs.iter().map(|r| r.other_cpu_pct)).median;
        self.non_2xx = runs.iter().map(|r| r.non_2xx).sum();
        self.errors = runs.iter().map(|r| r.errors).sum();
        if self.workload == Workload::Idle {
            self.rss_per_conn = Some(Stat::of(runs.iter().filter_map(|r| r.rss_per_conn)));
        }
    }

    /// The cell's headline number: median req/s, or for idle the median
    /// bytes per connection; `None` if it measured nothing.
    pub fn value(&self) -> Option<f64> {
        let v = match self.rss_per_conn {
            Some(s) => s.median,
            None => self.rps.median,
        };
        (!self.runs.is_empty() && v.is_finite() && v > 0.0).then_some(v)
    }
}

/// The columns of one row: over TLS, bench_server with `--tls-cert`, and
/// no peers (they are not set up for TLS; their cells stay empty); over
/// h2, bench_server and the peers that serve h2c.
fn row_targets(plan: &Plan, workload: Workload, cert: Option<&CertFiles>) -> Vec<Target> {
    match cert.filter(|_| workload.tls()) {
        Some(cert) => plan
            .targets
            .iter()
            .filter(|t| !t.peer)
            .map(|t| t.with_tls(cert))
            .collect(),
        None => plan
            .targets
            .iter()
            .filter(|t| t.serves(workload))
            .cloned()
            .collect(),
    }
}

/// Runs the matrix and returns its cells, workload by workload.
///
/// Within a workload every target gets a fresh server (idle: one per run);
/// all of them are up at once and measured in turn, A B C A B C ..., so a
/// disturbance on the machine spreads over every column instead of hitting
/// one.
///
/// # Errors
///
/// Returns the first error that stops a cell: a server that does not start
/// or a load generator that cannot connect; and, before measuring anything,
/// a workload that needs wrk in a plan without it, or the h2 workload
/// without h2load or with a target that does not answer the HTTP/2 preface
/// (its answer is in the message).
pub fn run(plan: &Plan) -> io::Result<Vec<Cell>> {
    if let Some(w) = plan
        .workloads
        .iter()
        .find(|w| w.needs_wrk() && !plan.use_wrk)
    {
        return Err(io::Error::other(format!(
            "{w} needs wrk: the built-in generator speaks no TLS"
        )));
    }
    if plan.workloads.iter().any(|w| w.h2()) {
        h2load::check()?;
        probe_h2(plan)?;
    }
    let cert = if plan.workloads.iter().any(|w| w.tls()) {
        Some(tls::generate(&plan.scratch)?)
    } else {
        None
    };
    let t = plan.timing;
    let steps_per_cell = t.runs as u64 + u64::from(!t.warmup.is_zero());
    let total: u64 = plan
        .workloads
        .iter()
        .map(|&w| row_targets(plan, w, cert.as_ref()).len() as u64 * steps_per_cell)
        .sum();
    let bar = if plan.progress {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{wide_bar}] {pos}/{len} cells×runs, eta {eta} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let launch = Launch {
        cpus: plan.server_cpus.clone(),
        wrapper: Vec::new(),
        timeout: Duration::from_secs(30),
        workers: plan.workers,
    };

    let mut cells = Vec::new();
    for &workload in &plan.workloads {
        let targets = row_targets(plan, workload, cert.as_ref());
        let gen_name = if workload.h2() {
            "h2load"
        } else if plan.use_wrk && workload.wrk_capable() {
            "wrk"
        } else {
            "builtin"
        };
        let mut row: Vec<Cell> = targets
            .iter()
            .map(|target| Cell::new(workload, target, gen_name))
            .collect();
        if workload == Workload::Idle {
            for run in 0..t.runs {
                for (target, cell) in targets.iter().zip(&mut row) {
                    bar.set_message(format!("{workload} / {} (run {})", target.name, run + 1));
                    let server = Server::start(target, &launch)?;
                    cell.runs.push(measure_idle(plan, &server)?);
                    cell.peak_rss_kib = cell.peak_rss_kib.max(proc::memory(server.pid)?.peak_kib);
                    drop(server);
                    bar.inc(1);
                }
            }
            if !t.warmup.is_zero() {
                bar.inc(targets.len() as u64); // idle has no warm-up
            }
        } else {
            let servers = targets
                .iter()
                .map(|target| Server::start(target, &launch))
                .collect::<io::Result<Vec<_>>>()?;
            if !t.warmup.is_zero() {
                for (target, server) in targets.iter().zip(&servers) {
                    bar.set_message(format!("{workload} / {} (warm-up)", target.name));
                    measure(plan, workload, server, t.warmup)?;
                    bar.inc(1);
                }
            }
            for run in 0..t.runs {
                for ((target, server), cell) in targets.iter().zip(&servers).zip(&mut row) {
                    bar.set_message(format!("{workload} / {} (run {})", target.name, run + 1));
                    let measured = measure(plan, workload, server, t.duration).map_err(|e| {
                        io::Error::other(format!(
                            "{workload} on {}: {e}\n{}",
                            target.name,
                            server.stderr()
                        ))
                    })?;
                    cell.runs.push(measured);
                    bar.inc(1);
                }
            }
            for (server, cell) in servers.iter().zip(&mut row) {
                cell.peak_rss_kib = proc::memory(server.pid)?.peak_kib;
            }
        }
        for mut cell in row {
            cell.finish();
            cells.push(cell);
        }
    }
    bar.finish_and_clear();
    Ok(cells)
}

/// One run of a throughput workload.
fn measure(
    plan: &Plan,
    workload: Workload,
    server: &Server,
    duration: Duration,
) -> io::Result<Run> {
    let cpus = plan
        .server_cpus
        .as_deref()
        .map(proc::cpu_list)
        .unwrap_or_default();
    let before = proc::usage(server.pid)?;
    let busy_before = proc::cpus_busy(&cpus)?;
    let started = std::time::Instant::now();
    let mut run = if workload.h2() {
        let out = h2load::run(&H2Load {
            addr: server.addr,
            path: workload.path(),
            connections: workload.connections(plan.preset),
            streams: workload.streams(),
            duration: Some(duration),
            requests: 0,
            rate: None,
            cpus: &plan.load_cpus,
            deadline: duration + Duration::from_secs(30),
        })?;
        // h2load prints no percentiles, only the mean time per request,
        // which is not a median; its per-request log (`--log-file`) would
        // give them, but writing it cost h2load 4-12% of its rate against
        // axum (two pairs of 2 s runs), so the latency columns stay empty.
        Run {
            rps: out.ok_2xx as f64 / out.elapsed.as_secs_f64().max(1e-9),
            p50_us: f64::NAN,
            p99_us: f64::NAN,
            requests: out.ok_2xx,
            non_2xx: out.non_2xx,
            errors: out.errors,
            ..Run::default()
        }
    } else if plan.use_wrk && workload.wrk_capable() {
        let script = workload.wrk_script();
        let out = wrk::run(
            &WrkLoad {
                addr: server.addr,
                path: workload.path(),
                connections: workload.connections(plan.preset),
                duration,
                script: &script,
                cpus: &plan.load_cpus,
                tls: workload.tls(),
            },
            &plan.scratch,
        )?;
        // wrk corrects for coordinated omission assuming one response per
        // request written; with a 16-deep pipeline the correction writes
        // samples below the histogram's minimum and its percentiles come out
        // skewed (p99 can read 0). Keep only the rate there.
        let pipelined = workload.depth() > 1;
        Run {
            rps: out.requests as f64 / out.elapsed.as_secs_f64().max(1e-9),
            p50_us: if pipelined { f64::NAN } else { out.p50_us },
            p99_us: if pipelined { f64::NAN } else { out.p99_us },
            requests: out.requests,
            non_2xx: out.non_2xx,
            errors: out.errors,
            ..Run::default()
        }
    } else {
        let out = loadgen::run(&Load {
            addr: server.addr,
            connections: workload.connections(plan.preset),
            depth: workload.depth(),
            duration,
            request: workload.request(),
            rare: workload.rare(),
            cpus: plan.load_cpus.clone(),
        })?;
        Run {
            rps: out.rate(),
            p50_us: out.latency.value_at_quantile(0.5) as f64,
            p99_us: out.latency.value_at_quantile(0.99) as f64,
            p99_rare_us: (workload.rare().is_some() && !out.rare_latency.is_empty())
                .then(|| out.rare_latency.value_at_quantile(0.99) as f64),
            requests: out.requests,
            non_2xx: out.non_2xx,
            errors: out.errors,
            ..Run::default()
        }
    };
    let after = proc::usage(server.pid)?;
    let busy = proc::cpus_busy(&cpus)?.saturating_sub(busy_before);
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    let server_cpu = after.cpu.saturating_sub(before.cpu);
    run.server_cpu_pct = server_cpu.as_secs_f64() / wall * 100.0;
    run.other_cpu_pct = busy.saturating_sub(server_cpu).as_secs_f64() / wall * 100.0;
    let per = |x: f64| x / run.requests.max(1) as f64;
    run.cpu_us_per_req = per(server_cpu.as_micros() as f64);
    run.ctx_per_req = per(after.ctx_switches.saturating_sub(before.ctx_switches) as f64);
    Ok(run)
}

/// Starts every target once and checks that it answers the HTTP/2 preface,
/// so that a server without h2c fails the plan before anything is measured,
/// with its answer (`HTTP/1.1 505 ...`) rather than h2load's error count.
fn probe_h2(plan: &Plan) -> io::Result<()> {
    let launch = Launch {
        cpus: None,
        wrapper: Vec::new(),
        timeout: Duration::from_secs(30),
        workers: plan.workers,
    };
    for target in plan.targets.iter().filter(|t| t.serves(Workload::H2)) {
        let server = Server::start(target, &launch)?;
        h2load::probe(server.addr, Duration::from_secs(5))
            .map_err(|e| io::Error::new(e.kind(), format!("h2 on {}: {e}", target.name)))?;
    }
    Ok(())
}

/// One run of the idle workload on a fresh server: open N keep-alive
/// connections, one request each, and divide the growth of the resident
/// set by N.
fn measure_idle(plan: &Plan, server: &Server) -> io::Result<Run> {
    let request = Workload::Idle.request();
    // Warm the server up first (threads, allocator arenas, date cache), so
    // the baseline already holds what any served request costs once.
    {
        let mut warm = Client::connect(server.addr)?;
        for _ in 0..16 {
            warm.exchange(&request.bytes, 1)?;
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    let base = proc::memory(server.pid)?.rss_kib;
    let n = plan
        .idle_connections
        .unwrap_or_else(|| Workload::Idle.connections(plan.preset));
    let mut clients = Vec::with_capacity(n);
    let mut ok = 0;
    let started = std::time::Instant::now();
    for _ in 0..n {
        let mut client = Client::connect(server.addr)?;
        ok += client.exchange(&request.bytes, 1)?;
        clients.push(client);
    }
    let elapsed = started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let rss = proc::memory(server.pid)?.rss_kib;
    drop(clients);
    // What stays once they are gone: the server's pools and the
    // allocator's free lists, not a per-connection cost.
    std::thread::sleep(Duration::from_millis(300));
    let closed = proc::memory(server.pid)?.rss_kib;
    eprintln!(
        "idle: {n} connections: resident +{} KiB while open, +{} KiB after they closed",
        rss.saturating_sub(base),
        closed.saturating_sub(base)
    );
    let n = n as u64;
    Ok(Run {
        rps: n as f64 / elapsed.as_secs_f64().max(1e-9),
        requests: n,
        non_2xx: n - ok as u64,
        rss_per_conn: Some(rss.saturating_sub(base) as f64 * 1024.0 / n as f64),
        ..Run::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_takes_the_median() {
        let s = Stat::of([3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stat::of([4.0, 1.0, 2.0, 3.0]).median, 2.5);
        assert_eq!(Stat::of([]), Stat::default());
    }
}
