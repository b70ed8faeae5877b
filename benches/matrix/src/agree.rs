//! Whether the built-in load generator and wrk measure the same thing:
//! plaintext on one server, the two alternating, medians compared.

use std::io;
use std::path::Path;
use std::time::Duration;

use crate::loadgen::{self, Load};
use crate::matrix::Stat;
use crate::server::Server;
use crate::workload::Workload;
use crate::wrk::{self, WrkLoad};

/// Both generators' plaintext rates, alternated.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Agreement {
    /// wrk's req/s per round.
    pub wrk: Vec<f64>,
    /// The built-in generator's req/s per round.
    pub builtin: Vec<f64>,
}

impl Agreement {
    /// The median over rounds of built-in ÷ wrk, each round's two runs
    /// back to back, so a busy spell on the machine cancels within a round.
    pub fn ratio(&self) -> f64 {
        Stat::of(self.builtin.iter().zip(&self.wrk).map(|(b, w)| b / w)).median
    }
}

/// Measures plaintext on `server` with wrk and the built-in generator in
/// turn, `rounds` times each (after one warm-up each), `duration` per run
/// (whole seconds: wrk's granularity).
///
/// # Errors
///
/// Returns an error if either generator fails or sees a non-2xx response.
pub fn plaintext(
    server: &Server,
    connections: usize,
    rounds: usize,
    duration: Duration,
    load_cpus: &[usize],
    scratch: &Path,
) -> io::Result<Agreement> {
    let duration = Duration::from_secs(duration.as_secs().max(1));
    let with_wrk = || -> io::Result<f64> {
        let out = wrk::run(
            &WrkLoad {
                addr: server.addr,
                path: Workload::Plaintext.path(),
                connections,
                duration,
                script: "",
                cpus: load_cpus,
                tls: false,
            },
            scratch,
        )?;
        if out.non_2xx + out.errors > 0 {
            return Err(io::Error::other("wrk saw errors"));
        }
        Ok(out.requests as f64 / out.elapsed.as_secs_f64())
    };
    let builtin = || -> io::Result<f64> {
        let out = loadgen::run(&Load {
            addr: server.addr,
            connections,
            depth: 1,
            duration,
            request: Workload::Plaintext.request(),
            rare: None,
            cpus: load_cpus.to_vec(),
        })?;
        if out.non_2xx + out.errors > 0 {
            return Err(io::Error::other("the built-in generator saw errors"));
        }
        Ok(out.rate())
    };
    with_wrk()?;
    builtin()?;
    let mut agreement = Agreement {
        wrk: Vec::new(),
        builtin: Vec::new(),
    };
    for round in 0..rounds {
        // Alternate which goes first, so drift hits both alike.
        if round % 2 == 0 {
            agreement.wrk.push(with_wrk()?);
            agreement.builtin.push(builtin()?);
        } else {
            agreement.builtin.push(builtin()?);
            agreement.wrk.push(with_wrk()?);
        }
    }
    Ok(agreement)
}
