//! The runtimes tramline serves on, and the trait that abstracts them.
//!
//! Each runtime is an adapter crate enabled by a Cargo feature of the same
//! name; features are additive, so enabling several keeps each usable by
//! type. [`DefaultRuntime`] picks one by this precedence: `tokio`, then
//! `smol`, then `async-std`.

pub use tramline_rt::{Listener, Runtime};

#[cfg(feature = "async-std")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-std")))]
pub use tramline_async_std::AsyncStd;
#[cfg(feature = "smol")]
#[cfg_attr(docsrs, doc(cfg(feature = "smol")))]
pub use tramline_smol::Smol;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use tramline_tokio::{Tokio, TokioLocal};

/// The runtime [`crate::Server::bind`] uses: the first enabled of `tokio`,
/// `smol`, `async-std`.
#[cfg(feature = "tokio")]
pub type DefaultRuntime = Tokio;
/// The runtime [`crate::Server::bind`] uses: the first enabled of `tokio`,
/// `smol`, `async-std`.
#[cfg(all(not(feature = "tokio"), feature = "smol"))]
pub type DefaultRuntime = Smol;
/// The runtime [`crate::Server::bind`] uses: the first enabled of `tokio`,
/// `smol`, `async-std`.
#[cfg(all(not(feature = "tokio"), not(feature = "smol"), feature = "async-std"))]
pub type DefaultRuntime = AsyncStd;
