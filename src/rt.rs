//! The runtimes tramline serves on, and the trait that abstracts them.
#![doc = include_str!("../docs/runtimes.md")]

pub use tramline_runtimes::*;
