//! Headless Chromium for browser tests: start it on a URL with a fresh
//! profile, and kill it, its helper processes, and the profile on drop.
//!
//! A page reports its result back to the test server (say with
//! `fetch('/report?ok=1')`); [`Reports`] gives the test server a route that
//! records those reports and lets the test wait for one with a deadline.
//!
//! Include it from a test file with
//! `#[path = "support/chromium.rs"] mod chromium;`.
#![allow(dead_code, unreachable_pub)]

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tramline::routing::{MethodRouter, get};

/// A headless Chromium showing one URL; on drop its process group (the
/// browser and its helpers) is killed and reaped and its profile removed.
pub struct Chromium {
    child: Child,
    profile: PathBuf,
}

impl Chromium {
    /// Starts `chromium` (or `$TRAMLINE_CHROMIUM`) headless on `url` with a
    /// fresh temporary profile.
    ///
    /// # Panics
    ///
    /// Panics if Chromium cannot be started.
    pub fn open(url: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "tramline-chromium-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&profile).expect("create a chromium profile dir");
        let program = std::env::var("TRAMLINE_CHROMIUM").unwrap_or_else(|_| "chromium".into());
        let child = Command::new(&program)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that the helpers it starts (GPU,
            // network, renderers) are killed with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program}: {e}"));
        Self { child, profile }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // The group id is the browser's pid (`process_group(0)`).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A helper may still be writing for a moment after the kill.
        for _ in 0..50 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Reports a page sent to the test server, as their query strings.
#[derive(Clone, Default)]
pub struct Reports(Arc<(Mutex<Vec<String>>, Condvar)>);

impl Reports {
    pub fn new() -> Self {
        Self::default()
    }

    /// A route (mount it at `/report`) that records each request's query
    /// string and answers `204`.
    pub fn route<S: Clone + Send + Sync + 'static>(&self) -> MethodRouter<S> {
        let reports = self.clone();
        get(move |req: tramline::Request| {
            let reports = reports.clone();
            async move {
                let query = req.uri().query().unwrap_or("").to_owned();
                let (list, ready) = &*reports.0;
                list.lock().unwrap().push(query);
                ready.notify_all();
                http::StatusCode::NO_CONTENT
            }
        })
    }

    /// Waits up to `limit` for the first report, and returns it.
    ///
    /// # Panics
    ///
    /// Panics if no report arrives in time.
    pub fn wait(&self, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        let (list, ready) = &*self.0;
        let mut got = list.lock().unwrap();
        while got.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no report from the browser within {limit:?}"
            );
            got = ready.wait_timeout(got, left).unwrap().0;
        }
        got.remove(0)
    }
}
