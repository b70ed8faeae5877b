//! The matrix's outputs: markdown tables, CSV, JSON and an SVG chart.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use plotters::prelude::*;

use crate::matrix::Cell;
use crate::workload::Workload;

/// Formats a rate or size with a k/M suffix and three significant digits.
pub fn si(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let (v, suffix) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$}{suffix}")
}

/// Formats a latency in µs as µs or ms.
fn latency(us: f64) -> String {
    if !us.is_finite() || us <= 0.0 {
        "–".into()
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// The targets in the order the cells list them.
fn targets(cells: &[Cell]) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for c in cells {
        if !out.iter().any(|(n, _)| *n == c.target) {
            out.push((c.target.clone(), c.peer));
        }
    }
    out
}

fn workloads(cells: &[Cell]) -> Vec<Workload> {
    let mut out: Vec<Workload> = Vec::new();
    for c in cells {
        if !out.contains(&c.workload) {
            out.push(c.workload);
        }
    }
    out
}

fn find<'a>(cells: &'a [Cell], w: Workload, target: &str) -> Option<&'a Cell> {
    cells.iter().find(|c| c.workload == w && c.target == target)
}

/// The headline figure of a cell as table text.
fn headline(c: &Cell) -> String {
    match c.rss_per_conn {
        Some(s) => format!("{} B/conn", si(s.median)),
        None => format!("{} [{}–{}]", si(c.rps.median), si(c.rps.min), si(c.rps.max)),
    }
}

/// The overview's text: the headline, and for cpu-mix the short requests'
/// p99 too.
fn overview(c: &Cell) -> String {
    if c.workload == Workload::CpuMix {
        format!("{}, p99 {}", headline(c), latency(c.p99_us))
    } else {
        headline(c)
    }
}

/// The markdown report: the overview (req/s, median [min–max]), the detail
/// per cell, and the peers' ratios when peers ran.
pub fn markdown(cells: &[Cell], runs: usize) -> String {
    let targets = targets(cells);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "req/s, median [min–max] of {runs} run(s); cpu-mix also the p99 of its short requests; idle: resident bytes per idle connection\n"
    );
    let header: Vec<&str> = targets.iter().map(|(n, _)| n.as_str()).collect();
    let _ = writeln!(md, "| workload | {} |", header.join(" | "));
    let _ = writeln!(md, "|---|{}", "---:|".repeat(targets.len()));
    for w in workloads(cells) {
        let row: Vec<String> = targets
            .iter()
            .map(|(t, peer)| {
                find(cells, w, t).map_or_else(
                    // The peers are not set up for TLS.
                    || {
                        if *peer && w.tls() {
                            "n/a".into()
                        } else {
                            "–".into()
                        }
                    },
                    overview,
                )
            })
            .collect();
        let _ = writeln!(md, "| {w} | {} |", row.join(" | "));
    }

    let _ = writeln!(
        md,
        "\nPer cell (latencies are medians over runs; cpu-mix p99 is the short requests', `/cpu`'s in brackets; CPU and context switches are the server's, per response):\n"
    );
    let _ = writeln!(
        md,
        "| workload | server | load | req/s | p50 | p99 | CPU µs/req | ctx sw/req | server CPU % | others on its CPU % | peak RSS | non-2xx / errors |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for c in cells {
        let (p50, p99, cpu, ctx, util, other) = if c.workload == Workload::Idle {
            let dash = || "–".to_owned();
            (dash(), dash(), dash(), dash(), dash(), dash())
        } else {
            let rare = Stat99::of(c);
            (
                latency(c.p50_us),
                format!("{}{rare}", latency(c.p99_us)),
                format!("{:.1}", c.cpu_us_per_req),
                format!("{:.2}", c.ctx_per_req),
                format!("{:.0}", c.server_cpu_pct),
                format!("{:.0}", c.other_cpu_pct),
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {p50} | {p99} | {cpu} | {ctx} | {util} | {other} | {:.1} MiB | {} / {} |",
            c.workload,
            c.target,
            c.loadgen,
            headline(c),
            c.peak_rss_kib as f64 / 1024.0,
            c.non_2xx,
            c.errors
        );
    }

    let peers: Vec<&str> = targets
        .iter()
        .filter(|(_, p)| *p)
        .map(|(n, _)| n.as_str())
        .collect();
    let ours: Vec<&str> = targets
        .iter()
        .filter(|(_, p)| !*p)
        .map(|(n, _)| n.as_str())
        .collect();
    if !peers.is_empty() && !ours.is_empty() {
        let _ = writeln!(
            md,
            "\nPeers' ratios: tramline's best configuration ÷ each peer, on req/s (above 1: tramline is faster); cpu-mix: on the short requests' p99 and idle: on bytes per connection (below 1: tramline's is smaller)\n"
        );
        let _ = writeln!(md, "| workload | best tramline | {} |", peers.join(" | "));
        let _ = writeln!(md, "|---|---|{}", "---:|".repeat(peers.len()));
        for w in workloads(cells) {
            let lower_is_better = matches!(w, Workload::Idle | Workload::CpuMix);
            let best = ours
                .iter()
                .filter_map(|t| find(cells, w, t).and_then(|c| Some((*t, ratio_value(c)?))))
                .reduce(|a, b| if (b.1 > a.1) != lower_is_better { b } else { a });
            let Some((best_name, best_value)) = best else {
                continue;
            };
            let ratios: Vec<String> = peers
                .iter()
                .map(|p| {
                    find(cells, w, p)
                        .and_then(ratio_value)
                        .map_or_else(|| "–".into(), |v| format!("{:.2}", best_value / v))
                })
                .collect();
            let _ = writeln!(md, "| {w} | {best_name} | {} |", ratios.join(" | "));
        }
    }
    md
}

/// What the peers' ratios compare: req/s; cpu-mix: the short requests'
/// p99; idle: bytes per connection.
fn ratio_value(c: &Cell) -> Option<f64> {
    match c.workload {
        Workload::CpuMix => (c.p99_us > 0.0).then_some(c.p99_us),
        _ => c.value(),
    }
}

/// The `/cpu` p99 in brackets, for cpu-mix.
struct Stat99(Option<f64>);

impl Stat99 {
    fn of(c: &Cell) -> Self {
        let rare: Vec<f64> = c.runs.iter().filter_map(|r| r.p99_rare_us).collect();
        Self((!rare.is_empty()).then(|| crate::matrix::Stat::of(rare).median))
    }
}

impl std::fmt::Display for Stat99 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(us) => write!(f, " ({})", latency(us)),
            None => Ok(()),
        }
    }
}

/// Writes one CSV row per cell.
///
/// # Errors
///
/// Returns the error of writing `path`.
pub fn csv(cells: &[Cell], path: &Path) -> io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "workload",
        "server",
        "peer",
        "loadgen",
        "runs",
        "rps_median",
        "rps_min",
        "rps_max",
        "p50_us",
        "p99_us",
        "cpu_us_per_req",
        "ctx_per_req",
        "server_cpu_pct",
        "other_cpu_pct",
        "peak_rss_kib",
        "rss_per_conn_bytes",
        "non_2xx",
        "errors",
    ])?;
    for c in cells {
        w.write_record([
            c.workload.name().to_owned(),
            c.target.clone(),
            c.peer.to_string(),
            c.loadgen.to_owned(),
            c.runs.len().to_string(),
            format!("{:.1}", c.rps.median),
            format!("{:.1}", c.rps.min),
            format!("{:.1}", c.rps.max),
            format!("{:.1}", c.p50_us),
            format!("{:.1}", c.p99_us),
            format!("{:.3}", c.cpu_us_per_req),
            format!("{:.4}", c.ctx_per_req),
            format!("{:.1}", c.server_cpu_pct),
            format!("{:.1}", c.other_cpu_pct),
            c.peak_rss_kib.to_string(),
            c.rss_per_conn
                .map_or_else(String::new, |s| format!("{:.0}", s.median)),
            c.non_2xx.to_string(),
            c.errors.to_string(),
        ])?;
    }
    w.flush()
}

/// Draws the chart: one panel per workload, one bar per server, each bar
/// labelled with its figure; req/s (idle: bytes per connection).
///
/// # Errors
///
/// Returns the error of drawing or writing `path`.
pub fn svg(cells: &[Cell], title: &str, path: &Path) -> io::Result<()> {
    draw(cells, title, path).map_err(|e| io::Error::other(e.to_string()))
}

/// What a chart panel shows: req/s; cpu-mix: the short requests' p99 in
/// ms; idle: bytes per connection.
fn chart_value(c: &Cell) -> f64 {
    match c.workload {
        Workload::CpuMix => c.p99_us / 1000.0,
        _ => c.value().unwrap_or(0.0),
    }
}

const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
];

fn draw(cells: &[Cell], title: &str, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let targets = targets(cells);
    let workloads = workloads(cells);
    let cols = 3usize;
    let rows = workloads.len().div_ceil(cols).max(1);
    let (width, height) = (1200u32, 90 + 300 * rows as u32);
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(90);
    head.draw(&Text::new(
        title.to_owned(),
        (20, 12),
        ("sans-serif", 22).into_font(),
    ))?;
    for (i, (name, peer)) in targets.iter().enumerate() {
        let x = 20 + 150 * i as i32;
        let color = COLORS[i % COLORS.len()];
        head.draw(&Rectangle::new([(x, 52), (x + 16, 68)], color.filled()))?;
        let label = if *peer {
            format!("{name} (peer)")
        } else {
            name.clone()
        };
        head.draw(&Text::new(
            label,
            (x + 22, 54),
            ("sans-serif", 15).into_font(),
        ))?;
    }
    let panels = body.split_evenly((rows, cols));
    for (panel, &w) in panels.iter().zip(&workloads) {
        let values: Vec<f64> = targets
            .iter()
            .map(|(t, _)| find(cells, w, t).map_or(0.0, chart_value))
            .collect();
        let max = values.iter().copied().fold(0.0, f64::max).max(1.0);
        let unit = match w {
            Workload::Idle => "bytes per idle connection, lower is better",
            Workload::CpuMix => "p99 of the short requests, ms, lower is better",
            _ => "req/s",
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("{w} ({unit})"), ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(8)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..targets.len() as f64, 0f64..max * 1.18)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_x_axis()
            .y_labels(5)
            .y_label_formatter(&|v| si(*v))
            .draw()?;
        chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
            let color = COLORS[i % COLORS.len()];
            Rectangle::new(
                [(i as f64 + 0.12, 0.0), (i as f64 + 0.88, v)],
                color.filled(),
            )
        }))?;
        chart.draw_series(values.iter().enumerate().map(|(i, &v)| {
            Text::new(
                si(v),
                (i as f64 + 0.14, v + max * 0.1),
                ("sans-serif", 12).into_font(),
            )
        }))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn si_keeps_three_digits() {
        assert_eq!(si(152_345.0), "152k");
        assert_eq!(si(15_234.0), "15.2k");
        assert_eq!(si(1_523_400.0), "1.52M");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(9.5), "9.50");
        assert_eq!(si(0.0), "0");
    }
}
