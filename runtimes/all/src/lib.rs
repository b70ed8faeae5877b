//! The runtimes tramline serves on, one Cargo feature each.
//!
//! This crate is the only place where tramline's features meet the runtime
//! adapters, so the framework itself never names a runtime. Features are
//! additive: with several enabled, each adapter stays usable by type, and
//! [`DefaultRuntime`] is the first enabled of `tokio`, `smol`, `async-std`,
//! `uring`.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use tramline_rt::{Listener, Runtime};

#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub use tramline_async_std::AsyncStd;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub use tramline_smol::{Smol, SmolLocal};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tramline_tokio::{Tokio, TokioLocal};
#[cfg(feature = "uring")]
#[cfg_attr(docsrs, doc(cfg(feature = "uring")))]
pub use tramline_uring::Uring;

/// The runtime `Server::bind` serves on: the first enabled of `tokio`,
/// `smol`, `async-std`, `uring`.
#[cfg(feature = "tokio")]
pub type DefaultRuntime = Tokio;
/// The runtime `Server::bind` serves on: the first enabled of `tokio`,
/// `smol`, `async-std`, `uring`.
#[cfg(all(not(feature = "tokio"), feature = "smol"))]
pub type DefaultRuntime = Smol;
/// The runtime `Server::bind` serves on: the first enabled of `tokio`,
/// `smol`, `async-std`, `uring`.
#[cfg(all(not(feature = "tokio"), not(feature = "smol"), feature = "async-std"))]
pub type DefaultRuntime = AsyncStd;
/// The runtime `Server::bind` serves on: the first enabled of `tokio`,
/// `smol`, `async-std`, `uring`.
#[cfg(all(
    not(feature = "tokio"),
    not(feature = "smol"),
    not(feature = "async-std"),
    feature = "uring"
))]
pub type DefaultRuntime = Uring;
