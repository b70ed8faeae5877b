//! The matrix in miniature, as CI runs it: every runtime × every workload
//! for 200 ms on a debug bench_server with the built-in generator; each cell
//! must produce a number and see only 2xx responses. The TLS workload, which
//! only wrk runs, gets its own short wrk run.
//!
//! The agreement check (wrk vs the built-in generator on plaintext) runs
//! here too when wrk is on PATH, and the h2 row (h2load against axum and
//! bench_server) when h2load is.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tramline_bench::server::{Launch, Server, on_path};
use tramline_bench::{Plan, Preset, Target, Workload, agree, build, matrix};

/// The debug bench_server: `cargo test --workspace` builds it next to this
/// test's binary; alone (`cargo test -p tramline-bench`) it is built here.
fn bench_server() -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join("bench_server");
    if path.exists() {
        path
    } else {
        build::bench_server(true).expect("cargo build --example bench_server")
    }
}

/// The tests measure: they must not run at the same time.
static MACHINE: Mutex<()> = Mutex::new(());

fn scratch() -> PathBuf {
    std::env::temp_dir().join(format!("tramline-bench-test-{}", std::process::id()))
}

#[test]
fn every_cell_produces_a_number_and_only_2xx() {
    let _machine = MACHINE.lock().unwrap_or_else(PoisonError::into_inner);
    let bin = bench_server();
    let runtimes = build::runtimes(&bin);
    assert!(runtimes.len() >= 4, "{runtimes:?}");
    let preset = Preset::Smoke;
    // h2 (h2load, and the axum peer) has a test of its own below.
    let workloads: Vec<Workload> = Workload::ALL
        .into_iter()
        .filter(|w| !w.needs_wrk() && !w.h2())
        .collect();
    let plan = Plan {
        targets: runtimes
            .iter()
            .map(|rt| Target::tramline(bin.clone(), rt))
            .collect(),
        workloads: workloads.clone(),
        preset,
        timing: preset.timing(),
        workers: 1,
        server_cpus: None,
        load_cpus: Vec::new(),
        use_wrk: false,
        scratch: scratch(),
        progress: false,
        idle_connections: None,
    };
    let started = Instant::now();
    let cells = matrix::run(&plan).unwrap();
    eprintln!("smoke: {} cells in {:.1?}", cells.len(), started.elapsed());
    assert_eq!(cells.len(), runtimes.len() * workloads.len());
    for c in &cells {
        let what = format!("{} on {}", c.workload, c.target);
        assert!(c.value().is_some(), "{what} measured nothing: {c:?}");
        assert!(
            c.runs.iter().all(|r| r.requests > 0),
            "{what}: no responses"
        );
        assert_eq!(c.non_2xx, 0, "{what}: non-2xx responses");
        assert_eq!(c.errors, 0, "{what}: connection errors");
        if c.workload == Workload::CpuMix {
            assert!(c.p99_us > 0.0, "{what}: no short-request p99");
        }
    }
    let md = tramline_bench::report::markdown(&cells, 1);
    assert!(md.contains("| plaintext |") && md.contains("| idle |"));
}

/// The TLS row: wrk over HTTPS against every runtime for one second (wrk's
/// shortest run), with the certificate the matrix makes; only 2xx, no
/// errors.
#[test]
fn tls_cells_run_over_wrk() {
    if !on_path("wrk") {
        eprintln!("note: wrk is not on PATH; skipping the TLS cells");
        return;
    }
    let bin = bench_server();
    // `cargo test --workspace` without `--all-features` builds bench_server
    // without the `tls` feature; it then refuses --tls-cert by name.
    let probe = std::process::Command::new(&bin)
        .args(["--runtime", "tokio", "--workers", "1", "--port", "0"])
        .args(["--tls-cert", "/nonexistent", "--tls-key", "/nonexistent"])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&probe.stderr).contains("`tls` feature") {
        eprintln!("note: bench_server built without the `tls` feature; skipping the TLS cells");
        return;
    }
    let _machine = MACHINE.lock().unwrap_or_else(PoisonError::into_inner);
    let runtimes = build::runtimes(&bin);
    let preset = Preset::Smoke;
    let mut timing = preset.timing();
    timing.duration = Duration::from_secs(1);
    let plan = Plan {
        targets: runtimes
            .iter()
            .map(|rt| Target::tramline(bin.clone(), rt))
            .collect(),
        workloads: vec![Workload::PlaintextTls],
        preset,
        timing,
        workers: 1,
        server_cpus: None,
        load_cpus: Vec::new(),
        use_wrk: true,
        scratch: scratch(),
        progress: false,
        idle_connections: None,
    };
    let cells = matrix::run(&plan).unwrap();
    assert_eq!(cells.len(), runtimes.len());
    for c in &cells {
        let what = format!("{} on {}", c.workload, c.target);
        assert_eq!(c.loadgen, "wrk", "{what}");
        assert!(
            c.runs.iter().all(|r| r.requests > 0),
            "{what}: no responses"
        );
        assert_eq!((c.non_2xx, c.errors), (0, 0), "{what}: {c:?}");
    }
    // Without wrk the row is refused up front, not measured as zero.
    let err = matrix::run(&Plan {
        use_wrk: false,
        ..plan
    })
    .unwrap_err();
    assert!(err.to_string().contains("needs wrk"), "{err}");
}

/// The h2 row: h2load against axum's HTTP/2 (h2c, prior knowledge) for
/// 200 ms, then against bench_server on tokio. axum must see only 2xx and
/// no errors; bench_server too once it speaks h2c, and until then the row
/// must fail up front with the server's answer to the preface, not hang
/// and not come out as a count of errors.
#[test]
fn h2_cells_run_over_h2load() {
    if !on_path("h2load") {
        eprintln!("note: h2load is not on PATH (nghttp2-client); skipping the h2 cells");
        return;
    }
    let _machine = MACHINE.lock().unwrap_or_else(PoisonError::into_inner);
    let axum = build::peer("axum").expect("cargo build --release axum_server");
    let started = Instant::now();
    let preset = Preset::Smoke;
    let plan = |target: Target| Plan {
        targets: vec![target],
        workloads: vec![Workload::H2],
        preset,
        timing: preset.timing(),
        workers: 1,
        server_cpus: None,
        load_cpus: Vec::new(),
        use_wrk: false,
        scratch: scratch(),
        progress: false,
        idle_connections: None,
    };
    let check = |cells: &[tramline_bench::Cell]| {
        assert_eq!(cells.len(), 1);
        let c = &cells[0];
        let what = format!("{} on {}", c.workload, c.target);
        assert_eq!(c.loadgen, "h2load", "{what}");
        assert!(c.value().is_some(), "{what} measured nothing: {c:?}");
        assert!(
            c.runs.iter().all(|r| r.requests > 0),
            "{what}: no responses"
        );
        assert_eq!((c.non_2xx, c.errors), (0, 0), "{what}: {c:?}");
        eprintln!("{what}: {:.0} req/s", c.rps.median);
    };
    check(&matrix::run(&plan(Target::peer("axum", axum))).unwrap());

    // bench_server speaks h2c with prior knowledge (the `http2` feature,
    // on by default).
    check(&matrix::run(&plan(Target::tramline(bench_server(), "tokio"))).unwrap());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "the h2 row took {took:?}");
}

/// The built-in generator and wrk must agree within 15% on plaintext. The
/// machine is small and shared, so each side is the median of alternating
/// runs; the server is pinned to CPU 0 and the load to CPU 1 where there
/// are two.
#[test]
fn builtin_generator_agrees_with_wrk() {
    if !on_path("wrk") {
        eprintln!("note: wrk is not on PATH; skipping the generator agreement check");
        return;
    }
    // Agreement is a property of the generators at the speeds they are used
    // at: with this test (and so the built-in generator) compiled without
    // optimisation the built-in one measured 0.7× wrk against a release
    // server, and 1.3× against a debug one. The check is only meaningful
    // with both optimised, so it runs under `cargo test --release` (.ci/run
    // does that).
    if cfg!(debug_assertions) {
        eprintln!(
            "note: debug build; run `cargo test --release -p tramline-bench --test smoke` for the agreement check"
        );
        return;
    }
    let _machine = MACHINE.lock().unwrap_or_else(PoisonError::into_inner);
    let bin = build::bench_server(false).expect("cargo build --release --example bench_server");
    let two_cpus = std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2);
    let pin = two_cpus && on_path("taskset");
    let server = Server::start(
        &Target::tramline(bin, "tokio"),
        &Launch {
            cpus: pin.then(|| "0".to_owned()),
            wrapper: Vec::new(),
            timeout: Duration::from_secs(30),
            workers: 1,
        },
    )
    .unwrap();
    let load_cpus = if pin { vec![1] } else { Vec::new() };
    // Other builds may share the machine: a busy spell can swing one pair
    // of runs by far more than 15%, so an attempt that misses is repeated
    // (a real disagreement misses every time).
    let mut ratios = Vec::new();
    for _attempt in 0..3 {
        let a = agree::plaintext(
            &server,
            32,
            5,
            Duration::from_secs(1),
            &load_cpus,
            &scratch(),
        )
        .unwrap();
        eprintln!(
            "wrk {:.0?} req/s, built-in {:.0?} req/s, median ratio {:.3}",
            a.wrk,
            a.builtin,
            a.ratio()
        );
        ratios.push(a.ratio());
        if (0.85..=1.15).contains(&a.ratio()) {
            return;
        }
    }
    panic!("the built-in generator measured {ratios:.3?}× what wrk did");
}
