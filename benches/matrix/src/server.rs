//! Starting a server under test as its own process, pinned to its CPUs, and
//! stopping it.

use std::io::{self, BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// One column of the matrix: a server binary and the arguments that select
/// its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name in tables: a bench_server runtime (`tokio`, `smol`, ...) or a
    /// peer (`axum`, `actix`, `hyper`, `may-minihttp`).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Arguments before `--workers <N> --port <P>`.
    pub args: Vec<String>,
    /// Whether this is a peer rather than tramline.
    pub peer: bool,
}

impl Target {
    /// bench_server on `runtime`.
    pub fn tramline(bench_server: PathBuf, runtime: &str) -> Self {
        Self {
            name: runtime.to_owned(),
            program: bench_server,
            args: vec!["--runtime".into(), runtime.into()],
            peer: false,
        }
    }

    /// A peer binary that takes `--workers <N> --port <P>` only.
    pub fn peer(name: &str, program: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            program,
            args: Vec::new(),
            peer: true,
        }
    }

    /// Whether it serves `workload`: every bench_server does; of the peers
    /// only those in [`H2_PEERS`](crate::build::H2_PEERS) serve h2.
    pub fn serves(&self, workload: crate::Workload) -> bool {
        !workload.h2() || !self.peer || crate::build::H2_PEERS.contains(&self.name.as_str())
    }

    /// The same target serving HTTPS with `cert` (bench_server's
    /// `--tls-cert` and `--tls-key`).
    pub fn with_tls(&self, cert: &crate::tls::CertFiles) -> Self {
        let mut target = self.clone();
        target.args.extend([
            "--tls-cert".into(),
            cert.cert.to_string_lossy().into_owned(),
            "--tls-key".into(),
            cert.key.to_string_lossy().into_owned(),
        ]);
        target
    }

    /// The full argument list for `workers` workers on a free port.
    pub fn argv(&self, workers: usize) -> Vec<String> {
        let mut argv = self.args.clone();
        argv.extend([
            "--workers".into(),
            workers.to_string(),
            "--port".into(),
            "0".into(),
        ]);
        argv
    }
}

/// A running server, killed on drop.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// The process to watch in `/proc`: the server itself, also when a
    /// wrapper (`taskset` execs it; `strace` does not) started it.
    pub pid: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    /// CPUs to pin the server to (a `taskset -c` list such as `0` or `0,1`);
    /// `None` leaves it unpinned.
    pub cpus: Option<String>,
    /// A wrapper command and its arguments, e.g. `valgrind --tool=callgrind`.
    pub wrapper: Vec<String>,
    /// How long to wait for the `listening on` line.
    pub timeout: Duration,
    /// Worker threads.
    pub workers: usize,
}

impl Server {
    /// Starts `target` and waits until it prints `listening on <addr>`.
    ///
    /// # Errors
    ///
    /// Returns an error if the process cannot start, exits, or does not
    /// announce its address in time; its stderr is in the message.
    pub fn start(target: &Target, launch: &Launch) -> io::Result<Self> {
        let mut argv: Vec<String> = Vec::new();
        if let Some(cpus) = &launch.cpus {
            argv.extend(["taskset".into(), "-c".into(), cpus.clone()]);
        }
        argv.extend(launch.wrapper.iter().cloned());
        argv.push(target.program.to_string_lossy().into_owned());
        argv.extend(target.argv(launch.workers));
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot run {}: {e}", argv[0])))?;

        let stderr = Arc::new(Mutex::new(String::new()));
        let (Some(mut err_pipe), Some(out)) = (child.stderr.take(), child.stdout.take()) else {
            return Err(io::Error::other("no pipes to the server"));
        };
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = err_pipe.read(&mut buf) {
                let mut s = sink.lock().unwrap_or_else(PoisonError::into_inner);
                // Keep the tail only: a chatty server must not grow this.
                if s.len() > 64 * 1024 {
                    let cut = s.len() - 16 * 1024;
                    let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                    s.drain(..cut);
                }
                s.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(out).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Drain the rest so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(launch.timeout) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let status = child.wait().ok();
                let why = match other {
                    Err(_) => format!("no `listening on` line within {:?}", launch.timeout),
                    _ => format!("exited ({status:?}) before listening"),
                };
                let err = stderr
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                return Err(io::Error::other(format!(
                    "{} {}: {why}\n{err}",
                    target.name,
                    argv.join(" ")
                )));
            }
        };
        let addr: SocketAddr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                io::Error::other(format!("{}: unexpected line {line:?}", target.name))
            })?;
        let mut server = Self {
            pid: child.id(),
            child,
            addr,
            stderr,
        };
        // strace forks the server; /proc must watch the server itself.
        if launch
            .wrapper
            .first()
            .is_some_and(|w| w.ends_with("strace"))
        {
            server.pid = only_child(server.pid)?;
        }
        Ok(server)
    }

    /// Sends `signal` to the server process.
    ///
    /// # Errors
    ///
    /// Returns the OS error if the signal cannot be sent.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        let pid = i32::try_from(self.pid).map_err(io::Error::other)?;
        kill(Pid::from_raw(pid), signal).map_err(io::Error::from)
    }

    /// Stops the server with SIGTERM and waits for its process (or its
    /// wrapper) to exit, killing it after `patience`.
    ///
    /// # Errors
    ///
    /// Returns the OS error of signalling or waiting.
    pub fn terminate(mut self, patience: Duration) -> io::Result<()> {
        self.signal(Signal::SIGTERM)?;
        let deadline = std::time::Instant::now() + patience;
        loop {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                return Err(io::Error::other("the server ignored SIGTERM; killed it"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The tail of what the server wrote to stderr.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            if self.pid != self.child.id() {
                let _ = self.signal(Signal::SIGKILL);
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The one child of `pid` (strace's tracee).
fn only_child(pid: u32) -> io::Result<u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))?;
    children
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::other(format!("process {pid} has no child")))
}

/// Whether `program` is an executable on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Workload;

    #[test]
    fn only_bench_server_and_the_h2_peers_serve_h2() {
        let bin = PathBuf::from("server");
        let tokio = Target::tramline(bin.clone(), "tokio");
        let axum = Target::peer("axum", bin.clone());
        let hyper = Target::peer("hyper", bin);
        assert!(tokio.serves(Workload::H2) && axum.serves(Workload::H2));
        assert!(!hyper.serves(Workload::H2));
        assert!(
            Workload::ALL
                .iter()
                .filter(|w| !w.h2())
                .all(|&w| hyper.serves(w))
        );
    }
}
