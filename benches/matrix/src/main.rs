//! `tramline-bench`: the runtime matrix on the command line.
//!
//! ```text
//! cargo run --release -p tramline-bench -- --quick            # < 10 min on 2 cores
//! cargo run --release -p tramline-bench -- --quick --peers    # + axum, actix-web, hyper, may-minihttp
//! cargo run --release -p tramline-bench -- --instr            # instructions per request
//! cargo run --release -p tramline-bench -- --syscalls         # syscalls per request
//! cargo run --release -p tramline-bench -- --agree            # wrk vs built-in generator
//! cargo run --release -p tramline-bench -- --workloads h2 --only-peers axum   # HTTP/2 via h2load
//! ```
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command-line tool whose output is its tables"
)]

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tramline_bench::instr::{self, CountPlan, Counter};
use tramline_bench::server::{Launch, Server, on_path};
use tramline_bench::{Plan, Preset, Target, Workload, agree, build, matrix, proc, report, trickle};

/// The runtime matrix: bench_server on every runtime (and optionally axum,
/// actix-web, hyper and may-minihttp) × the workloads, each server its own
/// pinned process.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// 1 s warm-up and 3 runs of 2 s per cell: the whole matrix in a few
    /// minutes.
    #[arg(long, conflicts_with = "smoke")]
    quick: bool,
    /// 200 ms per cell, one run, few connections: checks that every cell
    /// works, measures nothing worth keeping.
    #[arg(long)]
    smoke: bool,
    /// Add the peers (axum, actix-web, hyper, may-minihttp), built on
    /// demand from benches/peers.
    #[arg(long)]
    peers: bool,
    /// Count instructions per request under callgrind instead of running
    /// the matrix (default workloads: plaintext, json, param, pipelined).
    #[arg(long, conflicts_with_all = ["syscalls", "agree"])]
    instr: bool,
    /// Count system calls per request under `strace -f -c` instead of
    /// running the matrix.
    #[arg(long, conflicts_with = "agree")]
    syscalls: bool,
    /// Compare wrk and the built-in generator on plaintext.
    #[arg(long)]
    agree: bool,
    /// bench_server runtimes, comma-separated (default: every runtime
    /// bench_server offers); `none` runs the peers alone.
    #[arg(long, value_delimiter = ',')]
    runtimes: Vec<String>,
    /// Peers to add, comma-separated (implies --peers): axum, actix, hyper,
    /// may-minihttp.
    #[arg(long, value_delimiter = ',')]
    only_peers: Vec<String>,
    /// A peer binary already built, as NAME=PATH (repeatable): joins the
    /// run without building benches/peers.
    #[arg(long, value_name = "NAME=PATH")]
    peer_bin: Vec<String>,
    /// Workloads, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<Workload>,
    /// Worker threads per server.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// CPUs the servers are pinned to (a `taskset -c` list).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// CPUs the load generator is pinned to, comma-separated (one
    /// generator thread each).
    #[arg(long, value_delimiter = ',', default_value = "1")]
    load_cpus: Vec<usize>,
    /// Which load generator runs the workloads wrk can run.
    #[arg(long, value_enum, default_value_t = Loadgen::Auto)]
    loadgen: Loadgen,
    /// Measured runs per cell (overrides the preset).
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds per run (overrides the preset; wrk rounds down to whole
    /// seconds).
    #[arg(long)]
    duration: Option<f64>,
    /// Warm-up seconds per cell (overrides the preset).
    #[arg(long)]
    warmup: Option<f64>,
    /// Connections the idle workload opens (default: the preset's, 1,000).
    #[arg(long)]
    idle_connections: Option<usize>,
    /// Run the trickled-head benchmark instead of the matrix: each
    /// connection sends one large head in small writes; prints the
    /// server's CPU time.
    #[arg(long, conflicts_with_all = ["instr", "syscalls", "agree"])]
    trickle: bool,
    /// --trickle: concurrent connections.
    #[arg(long, default_value_t = 20)]
    trickle_connections: usize,
    /// --trickle: bytes in each request head.
    #[arg(long, default_value_t = 60_000)]
    trickle_head: usize,
    /// --trickle: bytes per write.
    #[arg(long, default_value_t = 16)]
    trickle_write: usize,
    /// --trickle: microseconds each connection pauses after a write.
    #[arg(long, default_value_t = 1000)]
    trickle_pace_us: u64,
    /// Requests N for --instr and --syscalls (they also run 2N).
    #[arg(long, default_value_t = 10_000)]
    requests: u64,
    /// Microseconds to pause between a response and the next request in
    /// --instr and --syscalls (default: 0 for --instr, back to back; 1000
    /// for --syscalls, so the server waits for every request as it would
    /// at light load, whatever strace's own overhead).
    #[arg(long)]
    pace_us: Option<u64>,
    /// A bench_server binary to use instead of building one.
    #[arg(long)]
    bench_server: Option<PathBuf>,
    /// Re-render the tables, CSV and chart of an earlier run's
    /// matrix.json, measuring nothing.
    #[arg(long, value_name = "MATRIX_JSON")]
    render: Option<PathBuf>,
    /// Where results go (default: <target>/bench-results).
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Loadgen {
    /// wrk when it is on PATH, else the built-in generator.
    Auto,
    /// Always wrk.
    Wrk,
    /// Always the built-in generator.
    Builtin,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tramline-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn run(cli: Cli) -> io::Result<()> {
    // Before any build: a misspelt peer would otherwise just be left out.
    if let Some(name) = cli
        .only_peers
        .iter()
        .find(|name| !build::PEERS.iter().any(|(peer, _)| peer == name))
    {
        let known: Vec<&str> = build::PEERS.iter().map(|(peer, _)| *peer).collect();
        return Err(io::Error::other(format!(
            "--only-peers: no peer {name:?} (expected {})",
            known.join(", ")
        )));
    }
    let started = Instant::now();
    let nofile = proc::raise_nofile_limit();
    let out = match &cli.out {
        Some(dir) => dir.clone(),
        None => build::target_dir()?.join("bench-results"),
    };
    std::fs::create_dir_all(&out)?;
    if let Some(json) = &cli.render {
        return render(json, &out);
    }

    let bench_server = match &cli.bench_server {
        Some(path) => path.clone(),
        None => {
            eprintln!("building bench_server (release)...");
            build::bench_server(false)?
        }
    };
    let runtimes = if cli.runtimes.is_empty() {
        build::runtimes(&bench_server)
    } else if cli.runtimes == ["none"] {
        Vec::new()
    } else {
        cli.runtimes.clone()
    };
    let mut targets: Vec<Target> = runtimes
        .iter()
        .map(|rt| Target::tramline(bench_server.clone(), rt))
        .collect();
    if cli.peers || !cli.only_peers.is_empty() {
        eprintln!("building the peers (release; the first build takes a few minutes)...");
        for (name, exe) in build::peers()? {
            if cli.only_peers.is_empty() || cli.only_peers.contains(&name) {
                targets.push(Target::peer(&name, exe));
            }
        }
    }
    for spec in &cli.peer_bin {
        let (name, exe) = spec
            .split_once('=')
            .ok_or_else(|| io::Error::other(format!("--peer-bin {spec:?}: expected NAME=PATH")))?;
        targets.push(Target::peer(name, PathBuf::from(exe)));
    }
    if targets.is_empty() {
        return Err(io::Error::other(
            "--runtimes none and no peers: nothing to measure",
        ));
    }
    let built = started.elapsed();
    eprintln!("built in {:.0?}; load average before: {}", built, loadavg());

    if cli.instr || cli.syscalls {
        return count(&cli, targets, &out);
    }
    if cli.agree {
        return agreement(&cli, &targets, &out);
    }
    if cli.trickle {
        return trickle(&cli, &targets, &out);
    }

    let preset = if cli.smoke {
        Preset::Smoke
    } else if cli.quick {
        Preset::Quick
    } else {
        Preset::Full
    };
    let mut timing = preset.timing();
    if let Some(runs) = cli.runs {
        timing.runs = runs.max(1);
    }
    if let Some(secs) = cli.duration {
        timing.duration = Duration::from_secs_f64(secs);
    }
    if let Some(secs) = cli.warmup {
        timing.warmup = Duration::from_secs_f64(secs);
    }
    let use_wrk = match cli.loadgen {
        Loadgen::Wrk => true,
        Loadgen::Builtin => false,
        Loadgen::Auto => on_path("wrk") && preset != Preset::Smoke,
    };
    if use_wrk && !on_path("wrk") {
        return Err(io::Error::other("--loadgen wrk, but wrk is not on PATH"));
    }
    let pin = on_path("taskset");
    if !pin {
        eprintln!("warning: taskset is not on PATH; servers run unpinned");
    }
    let workloads = if cli.workloads.is_empty() {
        let h2load = on_path("h2load");
        let (run, skip): (Vec<_>, Vec<_>) = Workload::ALL
            .into_iter()
            .partition(|w| (use_wrk || !w.needs_wrk()) && (h2load || !w.h2()));
        for w in skip {
            if w.h2() {
                eprintln!("note: {w} skipped: {}", tramline_bench::h2load::MISSING);
            } else {
                eprintln!("note: {w} skipped: it needs wrk (the built-in generator speaks no TLS)");
            }
        }
        run
    } else {
        cli.workloads.clone()
    };
    let idle = workloads.contains(&Workload::Idle);
    let idle_n = cli
        .idle_connections
        .unwrap_or_else(|| Workload::Idle.connections(preset));
    if idle && (idle_n as u64) + 64 > nofile {
        eprintln!("warning: open-file limit {nofile} is low for the idle workload");
    }
    let plan = Plan {
        targets,
        workloads,
        preset,
        timing,
        workers: cli.workers,
        server_cpus: pin.then(|| cli.server_cpus.clone()),
        load_cpus: cli.load_cpus.clone(),
        use_wrk,
        scratch: out.join("scratch"),
        progress: !cli.no_progress,
        idle_connections: cli.idle_connections,
    };
    let load_before = loadavg();
    let cells = matrix::run(&plan)?;
    let load_after = loadavg();

    let md = report::markdown(&cells, timing.runs);
    println!("{md}");
    let generator = match (use_wrk, plan.workloads.iter().any(|w| w.h2())) {
        (true, false) => "wrk (cpu-mix, idle: built-in)",
        (true, true) => "wrk (cpu-mix, idle: built-in; h2: h2load)",
        (false, false) => "built-in",
        (false, true) => "built-in (h2: h2load)",
    };
    let summary = format!(
        "preset {preset:?}: warm-up {:?}, {} run(s) of {:?} per cell, interleaved; {} worker(s) on CPU {}, load ({generator}) on CPU {:?}; load average {load_before} before, {load_after} after; {:.0?} in all ({:.0?} building)",
        timing.warmup,
        timing.runs,
        timing.duration,
        cli.workers,
        plan.server_cpus.as_deref().unwrap_or("any"),
        plan.load_cpus,
        started.elapsed(),
        built,
    );
    println!("{summary}");
    std::fs::write(out.join("matrix.md"), format!("{md}\n{summary}\n"))?;
    report::csv(&cells, &out.join("matrix.csv"))?;
    let json = serde_json::json!({
        "preset": preset,
        "warmup_s": timing.warmup.as_secs_f64(),
        "runs": timing.runs,
        "duration_s": timing.duration.as_secs_f64(),
        "workers": cli.workers,
        "server_cpus": plan.server_cpus,
        "load_cpus": plan.load_cpus,
        "loadgen": generator,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "elapsed_s": started.elapsed().as_secs_f64(),
        "cells": cells,
    });
    std::fs::write(out.join("matrix.json"), serde_json::to_vec_pretty(&json)?)?;
    let title = format!(
        "tramline runtime matrix: {} worker(s), {} run(s) of {:?}, median",
        cli.workers, timing.runs, timing.duration
    );
    report::svg(&cells, &title, &out.join("matrix.svg"))?;
    eprintln!("results in {}/matrix.{{md,csv,json,svg}}", out.display());
    Ok(())
}

/// Re-renders an earlier run's results from its `matrix.json`.
fn render(json: &std::path::Path, out: &std::path::Path) -> io::Result<()> {
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(json)?)?;
    let cells: Vec<matrix::Cell> = serde_json::from_value(saved["cells"].clone())?;
    let runs = saved["runs"].as_u64().unwrap_or(1) as usize;
    let md = report::markdown(&cells, runs);
    println!("{md}");
    std::fs::write(out.join("matrix.md"), &md)?;
    report::csv(&cells, &out.join("matrix.csv"))?;
    let title = format!(
        "tramline runtime matrix: {} worker(s), {runs} run(s) of {}s, median",
        saved["workers"].as_u64().unwrap_or(1),
        saved["duration_s"].as_f64().unwrap_or(0.0)
    );
    report::svg(&cells, &title, &out.join("matrix.svg"))?;
    eprintln!("results in {}/matrix.{{md,csv,svg}}", out.display());
    Ok(())
}

fn count(cli: &Cli, targets: Vec<Target>, out: &std::path::Path) -> io::Result<()> {
    let (counter, tool, name) = if cli.instr {
        (Counter::Instructions, "valgrind", "instr")
    } else {
        (Counter::Syscalls, "strace", "syscalls")
    };
    if !on_path(tool) {
        return Err(io::Error::other(format!("{tool} is not on PATH")));
    }
    let workloads = if cli.workloads.is_empty() {
        vec![
            Workload::Plaintext,
            Workload::Json,
            Workload::Param,
            Workload::Pipelined,
        ]
    } else {
        cli.workloads.clone()
    };
    if let Some(w) = workloads
        .iter()
        .find(|w| matches!(w, Workload::CpuMix | Workload::Idle) || w.tls())
    {
        // The counting client speaks plain HTTP only (h2: h2load does).
        return Err(io::Error::other(format!("{w} has no per-request count")));
    }
    if workloads.iter().any(|w| w.h2()) {
        tramline_bench::h2load::check()?;
    }
    let plan = CountPlan {
        targets,
        workloads,
        requests: cli.requests,
        workers: cli.workers,
        pace: Duration::from_micros(cli.pace_us.unwrap_or(match counter {
            Counter::Instructions => 0,
            Counter::Syscalls => 1000,
        })),
        scratch: out.join(name),
    };
    let started = Instant::now();
    let counts = instr::count(&plan, counter, |what| {
        if !cli.no_progress {
            eprintln!("  {what} ({:.0?})", started.elapsed());
        }
    })?;
    let mut md = String::new();
    let unit = match counter {
        Counter::Instructions => "instructions",
        Counter::Syscalls => "system calls",
    };
    md.push_str(&format!(
        "{unit} per request: (count(2N) − count(N)) / N, N = {}, one keep-alive connection, {} worker(s), {:?} between a response and the next request\n\n",
        cli.requests, cli.workers, plan.pace
    ));
    md.push_str("| workload | server | N | 2N | per request |");
    if counter == Counter::Syscalls {
        md.push_str(" by name |");
    }
    md.push_str("\n|---|---|---:|---:|---:|");
    if counter == Counter::Syscalls {
        md.push_str("---|");
    }
    md.push('\n');
    for c in &counts {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} |",
            c.workload, c.target, c.total_n, c.total_2n, c.per_request
        ));
        if counter == Counter::Syscalls {
            let names: Vec<String> = c
                .by_name
                .iter()
                .map(|(n, v)| format!("{n} {v:.2}"))
                .collect();
            md.push_str(&format!(" {} |", names.join(", ")));
        }
        md.push('\n');
    }
    println!("{md}");
    println!("{:.0?} in all", started.elapsed());
    std::fs::write(out.join(format!("{name}.md")), &md)?;
    std::fs::write(
        out.join(format!("{name}.json")),
        serde_json::to_vec_pretty(&counts)?,
    )?;
    eprintln!(
        "results in {}/{name}.{{md,json}}; counter output in {}",
        out.display(),
        plan.scratch.display()
    );
    Ok(())
}

fn trickle(cli: &Cli, targets: &[Target], out: &std::path::Path) -> io::Result<()> {
    let launch = Launch {
        cpus: on_path("taskset").then(|| cli.server_cpus.clone()),
        wrapper: Vec::new(),
        timeout: Duration::from_secs(30),
        workers: cli.workers,
    };
    let shape = trickle::Shape {
        connections: cli.trickle_connections,
        head_bytes: cli.trickle_head,
        write_bytes: cli.trickle_write,
        pace: Duration::from_micros(cli.trickle_pace_us),
    };
    let rounds = cli.runs.unwrap_or(3).max(1);
    let mut md = format!(
        "trickled heads: {} connections at once, each one {}-byte request head in {}-byte writes (TCP_NODELAY, {:?} after each); server CPU time (utime + stime) per round, {} worker(s) on CPU {}\n\n",
        shape.connections,
        shape.head_bytes,
        shape.write_bytes,
        shape.pace,
        cli.workers,
        launch.cpus.as_deref().unwrap_or("any"),
    );
    md.push_str("| server | server CPU s (median) | rounds | wall s (median) | 200s |\n|---|---:|---|---:|---:|\n");
    for target in targets {
        let server = Server::start(target, &launch)?;
        let mut cpu = Vec::new();
        let mut wall = Vec::new();
        let mut ok = 0;
        for _ in 0..rounds {
            let r = trickle::run(&server, &shape)?;
            cpu.push(r.server_cpu.as_secs_f64());
            wall.push(r.wall.as_secs_f64());
            ok += r.ok;
        }
        let rounds: Vec<String> = cpu.iter().map(|c| format!("{c:.2}")).collect();
        md.push_str(&format!(
            "| {} | {:.2} | {} | {:.2} | {ok}/{} |\n",
            target.name,
            matrix::Stat::of(cpu.iter().copied()).median,
            rounds.join(", "),
            matrix::Stat::of(wall.iter().copied()).median,
            shape.connections * cpu.len(),
        ));
        server.terminate(Duration::from_secs(5))?;
    }
    println!("{md}");
    std::fs::write(out.join("trickle.md"), &md)?;
    eprintln!("results in {}/trickle.md", out.display());
    Ok(())
}

fn agreement(cli: &Cli, targets: &[Target], out: &std::path::Path) -> io::Result<()> {
    if !on_path("wrk") {
        return Err(io::Error::other("--agree needs wrk on PATH"));
    }
    let launch = Launch {
        cpus: on_path("taskset").then(|| cli.server_cpus.clone()),
        wrapper: Vec::new(),
        timeout: Duration::from_secs(30),
        workers: cli.workers,
    };
    let duration = Duration::from_secs_f64(cli.duration.unwrap_or(2.0));
    let rounds = cli.runs.unwrap_or(5);
    println!("| server | wrk req/s (median) | built-in req/s (median) | built-in ÷ wrk |");
    println!("|---|---:|---:|---:|");
    for target in targets {
        let server = Server::start(target, &launch)?;
        let a = agree::plaintext(
            &server,
            Workload::Plaintext.connections(Preset::Full),
            rounds,
            duration,
            &cli.load_cpus,
            &out.join("scratch"),
        )?;
        println!(
            "| {} | {} | {} | {:.3} |",
            target.name,
            report::si(matrix::Stat::of(a.wrk.iter().copied()).median),
            report::si(matrix::Stat::of(a.builtin.iter().copied()).median),
            a.ratio()
        );
    }
    Ok(())
}
