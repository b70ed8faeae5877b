//! SIGTERM and SIGINT start a graceful shutdown of every server serving
//! with signal handling on; a second signal while they shut down, or one
//! when no server is serving, does what it would without tramline
//! (terminates the process).
//!
//! One process-wide thread waits for the signals (signal-hook's self-pipe),
//! so this works the same on every runtime and with any number of servers.

use std::io;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::proto::shutdown::Signal;

/// Keeps a server's [`Signal`] triggered by SIGTERM and SIGINT until it
/// drops.
#[derive(Debug)]
pub(crate) struct Watch {
    signal: Weak<Signal>,
}

#[derive(Debug, Default)]
struct Hub {
    servers: Mutex<Vec<Weak<Signal>>>,
}

impl Hub {
    fn servers(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Signal>>> {
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Triggers `signal` on the next SIGTERM or SIGINT, until the watch drops.
///
/// # Errors
///
/// Returns the OS error if the signal handlers or their thread cannot be
/// set up.
pub(crate) fn watch(signal: &Arc<Signal>) -> io::Result<Watch> {
    let hub = HUB
        .get_or_init(start)
        .as_ref()
        .map_err(|e| io::Error::other(format!("cannot handle SIGTERM/SIGINT: {e}")))?;
    let weak = Arc::downgrade(signal);
    hub.servers().push(weak.clone());
    Ok(Watch { signal: weak })
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(Ok(hub)) = HUB.get() {
            hub.servers()
                .retain(|s| !s.ptr_eq(&self.signal) && s.strong_count() > 0);
        }
    }
}

/// The servers the signal thread triggers; started by the first [`watch`]
/// and alive for the rest of the process, as signal handlers are.
static HUB: OnceLock<Result<&'static Hub, String>> = OnceLock::new();

#[cfg(unix)]
fn start() -> Result<&'static Hub, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::iterator::Signals;

    let mut signals = Signals::new([SIGTERM, SIGINT]).map_err(|e| e.to_string())?;
    // Shared by the thread and every `watch` for the rest of the process.
    let hub: &'static Hub = Box::leak(Box::default());
    std::thread::Builder::new()
        .name("tramline-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                let live: Vec<Arc<Signal>> =
                    hub.servers().iter().filter_map(Weak::upgrade).collect();
                if live.is_empty() || live.iter().all(|s| s.is_triggered()) {
                    tracing::warn!(signal = sig, "signal while shutting down; exiting now");
                    let _ = signal_hook::low_level::emulate_default_handler(sig);
                    continue;
                }
                tracing::info!(
                    signal = sig,
                    servers = live.len(),
                    "signal received; shutting down gracefully"
                );
                for server in live {
                    server.trigger();
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(hub)
}

#[cfg(not(unix))]
fn start() -> Result<&'static Hub, String> {
    Err("signal handling is only supported on Unix".into())
}
