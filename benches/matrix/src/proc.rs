//! What `/proc` tells about a server process: CPU time, memory, context
//! switches.

use std::fs;
use std::io;
use std::time::Duration;

/// A snapshot of one process's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// User plus system CPU time of all its threads so far.
    pub cpu: Duration,
    /// Voluntary plus involuntary context switches of its live threads.
    pub ctx_switches: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times.
fn ticks_per_second() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Reads `pid`'s CPU time and context switches.
///
/// # Errors
///
/// Returns the error of reading `/proc`, e.g. when the process is gone.
pub fn usage(pid: u32) -> io::Result<Usage> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after it do not.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| io::Error::other("unexpected /proc/<pid>/stat"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // proc_pid_stat(5): utime is field 14, stime 15; `after` starts at 3.
    let field = |i: usize| -> io::Result<u64> {
        fields
            .get(i - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("unexpected /proc/<pid>/stat"))
    };
    let ticks = field(14)? + field(15)?;
    let hz = ticks_per_second();
    let cpu = Duration::from_micros(ticks * 1_000_000 / hz);

    let mut ctx_switches = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(status) = fs::read_to_string(task?.path().join("status")) else {
            continue; // the thread exited meanwhile
        };
        for key in ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"] {
            ctx_switches += status_field(&status, key).unwrap_or(0);
        }
    }
    Ok(Usage { cpu, ctx_switches })
}

/// Busy time (user, nice, system, irq, softirq, steal) of `cpus` since
/// boot, from `/proc/stat`; all CPUs when `cpus` is empty.
///
/// # Errors
///
/// Returns the error of reading `/proc/stat`.
pub fn cpus_busy(cpus: &[usize]) -> io::Result<Duration> {
    let stat = fs::read_to_string("/proc/stat")?;
    let mut ticks = 0u64;
    for line in stat.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let Some(Ok(cpu)) = fields.next().map(str::parse::<usize>) else {
            continue; // the "cpu" total line
        };
        if !cpus.is_empty() && !cpus.contains(&cpu) {
            continue;
        }
        let v: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
        // user nice system idle iowait irq softirq steal
        ticks += [0, 1, 2, 5, 6, 7]
            .iter()
            .filter_map(|&i| v.get(i))
            .sum::<u64>();
    }
    Ok(Duration::from_micros(
        ticks * 1_000_000 / ticks_per_second(),
    ))
}

/// Parses a `taskset -c` list such as `0`, `0,2` or `0-3`.
pub fn cpu_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                    cpus.extend(a..=b);
                }
            }
            None => cpus.extend(part.trim().parse::<usize>().ok()),
        }
    }
    cpus
}

/// Resident memory now and at its peak, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`.
    pub rss_kib: u64,
    /// `VmHWM`: the peak resident set since the process started.
    pub peak_kib: u64,
}

/// Reads `pid`'s resident memory.
///
/// # Errors
///
/// Returns the error of reading `/proc`, e.g. when the process is gone.
pub fn memory(pid: u32) -> io::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(Memory {
        rss_kib: status_field(&status, "VmRSS:").unwrap_or(0),
        peak_kib: status_field(&status, "VmHWM:").unwrap_or(0),
    })
}

fn status_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Raises this process's soft open-file limit to its hard limit (children
/// inherit it), for the idle workload's thousand connections; returns the
/// new soft limit.
pub fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lists() {
        assert_eq!(cpu_list("0"), [0]);
        assert_eq!(cpu_list("0,2"), [0, 2]);
        assert_eq!(cpu_list("1-3"), [1, 2, 3]);
        assert!(cpus_busy(&[]).unwrap() > Duration::ZERO);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let usage = usage(pid).unwrap();
        assert!(usage.ctx_switches > 0 || usage.cpu > Duration::ZERO);
        let mem = memory(pid).unwrap();
        assert!(mem.rss_kib > 0 && mem.peak_kib >= mem.rss_kib);
    }
}
