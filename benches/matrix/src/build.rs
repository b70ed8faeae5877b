//! Building the servers under test with cargo, and finding their runtimes.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The repository root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.join("../..")
        .canonicalize()
        .unwrap_or_else(|_| here.join("../.."))
}

/// cargo: the one running us, if any.
///
/// Without the variables `cargo run` and `cargo test` set for this crate:
/// build scripts such as ring's rerun when `CARGO_PKG_NAME` or
/// `CARGO_MANIFEST_DIR` change, so a build inheriting ours would rebuild
/// ring (a minute on 2 cores) and the next plain `cargo build` again.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "OUT_DIR"
        {
            cmd.env_remove(&key);
        }
    }
    cmd
}

/// The workspace's target directory (honours `CARGO_TARGET_DIR`).
///
/// # Errors
///
/// Returns an error if `cargo metadata` fails.
pub fn target_dir() -> io::Result<PathBuf> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other("cargo metadata failed"));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other("cargo metadata gave no target_directory"))
}

/// Runs a cargo build whose JSON messages name the executables it made, and
/// returns `(target name, executable)` pairs. Diagnostics go to stderr.
fn build(args: &[&str]) -> io::Result<Vec<(String, PathBuf)>> {
    let out = cargo()
        .arg("build")
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "cargo build {} failed",
            args.join(" ")
        )));
    }
    let mut made = Vec::new();
    for line in out.stdout.split(|&b| b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) =
            (msg["target"]["name"].as_str(), msg["executable"].as_str())
        {
            made.push((name.to_owned(), PathBuf::from(exe)));
        }
    }
    Ok(made)
}

/// Builds `examples/bench_server.rs` (release unless `debug`) with the
/// `tls`, `fs` and `ws` features the workloads use and `uring` for the
/// io_uring runtime, and returns its path.
///
/// # Errors
///
/// Returns an error if the build fails.
pub fn bench_server(debug: bool) -> io::Result<PathBuf> {
    let mut args = vec!["--example", "bench_server", "--features", "tls,fs,ws,uring"];
    if !debug {
        args.push("--release");
    }
    build(&args)?
        .into_iter()
        .find(|(name, _)| name == "bench_server")
        .map(|(_, exe)| exe)
        .ok_or_else(|| io::Error::other("cargo built no bench_server"))
}

/// The peers and their binaries.
pub const PEERS: [(&str, &str); 4] = [
    ("axum", "axum_server"),
    ("actix", "actix_server"),
    ("hyper", "hyper_server"),
    ("may-minihttp", "may_minihttp_server"),
];

/// The peers that also serve h2c with prior knowledge on their port, and so
/// join the h2 row: axum (its `http2` feature). hyper_server is built on
/// hyper's http1 builder alone, actix_server binds HTTP/1.1 only and
/// may-minihttp speaks HTTP/1.1 only.
pub const H2_PEERS: [&str; 1] = ["axum"];

/// Builds the peers crate (its own workspace, `benches/peers`) in release,
/// into this workspace's target directory, and returns `(peer, binary)`.
///
/// # Errors
///
/// Returns an error if the build fails or a binary is missing.
pub fn peers() -> io::Result<Vec<(String, PathBuf)>> {
    let made = build_peers(&["--bins"])?;
    PEERS
        .iter()
        .map(|(peer, bin)| {
            made.iter()
                .find(|(name, _)| name == bin)
                .map(|(_, exe)| ((*peer).to_owned(), exe.clone()))
                .ok_or_else(|| io::Error::other(format!("cargo built no {bin}")))
        })
        .collect()
}

/// Builds one peer's binary (`axum`, `actix`, `hyper` or `may-minihttp`)
/// like [`peers`] does, and returns its path.
///
/// # Errors
///
/// Returns an error if there is no such peer or the build fails.
pub fn peer(name: &str) -> io::Result<PathBuf> {
    let bin = PEERS
        .iter()
        .find(|(peer, _)| *peer == name)
        .map(|(_, bin)| *bin)
        .ok_or_else(|| io::Error::other(format!("no peer {name:?}")))?;
    build_peers(&["--bin", bin])?
        .into_iter()
        .find(|(made, _)| made == bin)
        .map(|(_, exe)| exe)
        .ok_or_else(|| io::Error::other(format!("cargo built no {bin}")))
}

/// `cargo build --release` of the peers crate (its own workspace) into
/// this workspace's target directory, with `args` selecting the binaries.
fn build_peers(args: &[&str]) -> io::Result<Vec<(String, PathBuf)>> {
    let manifest = workspace_root().join("benches/peers/Cargo.toml");
    let manifest = manifest.to_string_lossy();
    let target = target_dir()?;
    let target = target.to_string_lossy();
    let mut all = vec![
        "--release",
        "--manifest-path",
        &manifest,
        "--target-dir",
        &target,
    ];
    all.extend_from_slice(args);
    build(&all)
}

/// The runtimes `bench_server` offers, read from its own error message for
/// an unknown runtime ("expected tokio, tokio-local, smol, smol-local, async-std or uring"),
/// so a runtime added there joins the matrix by name.
pub fn runtimes(bench_server: &Path) -> Vec<String> {
    const FALLBACK: [&str; 6] = [
        "tokio",
        "tokio-local",
        "smol",
        "smol-local",
        "async-std",
        "uring",
    ];
    let listed = Command::new(bench_server)
        .args(["--runtime", "?", "--workers", "1", "--port", "0"])
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|out| parse_runtimes(&String::from_utf8_lossy(&out.stderr)));
    listed.unwrap_or_else(|| FALLBACK.iter().map(|s| (*s).to_owned()).collect())
}

fn parse_runtimes(stderr: &str) -> Option<Vec<String>> {
    let list = stderr.split("expected ").nth(1)?.lines().next()?;
    let names: Vec<String> = list
        .split([',', ' '])
        .map(|s| s.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_'))
        .filter(|s| !s.is_empty() && *s != "or" && *s != "and")
        .map(str::to_owned)
        .collect();
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_runtime_list() {
        let err = "bench_server: unknown runtime \"?\"; expected tokio, tokio-local, smol, smol-local, async-std or uring\n";
        assert_eq!(
            parse_runtimes(err).unwrap(),
            [
                "tokio",
                "tokio-local",
                "smol",
                "smol-local",
                "async-std",
                "uring"
            ]
        );
        assert_eq!(parse_runtimes("nothing here"), None);
    }
}
