//! The runtime matrix: tramline's `bench_server` on every runtime (and, with
//! `--peers`, axum, actix-web, bare hyper and may-minihttp) under the same
//! workloads, each server its own pinned process, measured side by side.
//!
//! The binary (`cargo run --release -p tramline-bench -- --quick`) is a thin
//! command line over this library; the smoke test drives the same code.
//! BENCHMARKS.md at the repository root explains the method and the
//! figures.

pub mod agree;
pub mod build;
pub mod h2load;
pub mod instr;
pub mod loadgen;
pub mod matrix;
pub mod proc;
pub mod report;
pub mod server;
pub mod tls;
pub mod trickle;
pub mod workload;
pub mod wrk;

pub use matrix::{Cell, Plan, Run};
pub use server::Target;
pub use workload::{Preset, Workload};
