//! The workloads: what each sends, over how many connections, and with
//! which load generator.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::loadgen::Request;

/// One row group of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// `GET /plaintext`, keep-alive.
    Plaintext,
    /// `GET /plaintext` over HTTPS, keep-alive: the cost of TLS (wrk only;
    /// the peers are not run).
    PlaintextTls,
    /// `GET /plaintext` pipelined 16 deep (TechEmpower's plaintext test).
    Pipelined,
    /// `GET /json`.
    Json,
    /// `GET /api/v1/resource39/12345`: a path parameter among the 40 filler
    /// routes.
    Param,
    /// `GET /async` (a 2 ms timer) at 256 connections.
    Async,
    /// `GET /fib`.
    Fib,
    /// 99% `GET /plaintext` and 1% `GET /cpu` (about 5 ms of CPU); the p99
    /// reported is the short requests'.
    CpuMix,
    /// `POST /echo` with 1 MiB.
    Upload,
    /// Idle keep-alive connections: resident memory per connection.
    Idle,
    /// `GET /plaintext` over HTTP/2 (h2c, prior knowledge), 16 concurrent
    /// streams per connection, driven by h2load.
    H2,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Self; 11] = [
        Self::Plaintext,
        Self::PlaintextTls,
        Self::Pipelined,
        Self::Json,
        Self::Param,
        Self::Async,
        Self::Fib,
        Self::CpuMix,
        Self::Upload,
        Self::Idle,
        Self::H2,
    ];

    /// The name used on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::PlaintextTls => "plaintext-tls",
            Self::Pipelined => "pipelined",
            Self::Json => "json",
            Self::Param => "param",
            Self::Async => "async",
            Self::Fib => "fib",
            Self::CpuMix => "cpu-mix",
            Self::Upload => "upload",
            Self::Idle => "idle",
            Self::H2 => "h2",
        }
    }

    /// The path of the usual request.
    pub fn path(self) -> &'static str {
        match self {
            Self::Plaintext
            | Self::PlaintextTls
            | Self::Pipelined
            | Self::CpuMix
            | Self::Idle
            | Self::H2 => "/plaintext",
            Self::Json => "/json",
            Self::Param => "/api/v1/resource39/12345",
            Self::Async => "/async",
            Self::Fib => "/fib",
            Self::Upload => "/echo",
        }
    }

    /// The usual request.
    pub fn request(self) -> Request {
        match self {
            Self::Upload => Request::post(self.path(), &vec![b'x'; UPLOAD_BYTES]),
            _ => Request::get(self.path()),
        }
    }

    /// The rare request and its period, for cpu-mix.
    pub fn rare(self) -> Option<(Request, u64)> {
        (self == Self::CpuMix).then(|| (Request::get("/cpu"), 100))
    }

    /// Requests per pipelined batch.
    pub fn depth(self) -> usize {
        if self == Self::Pipelined { 16 } else { 1 }
    }

    /// HTTP/2: concurrent streams per connection (h2load's `-m`); 16, as
    /// deep as the pipelined workload, and as the issue's `h2load -c 64
    /// -m 16`.
    pub fn streams(self) -> usize {
        if self == Self::H2 { 16 } else { 1 }
    }

    /// Whether it speaks HTTP/2, which only h2load drives.
    pub fn h2(self) -> bool {
        self == Self::H2
    }

    /// Connections at the given preset.
    pub fn connections(self, preset: Preset) -> usize {
        let full = match self {
            Self::Plaintext
            | Self::PlaintextTls
            | Self::Pipelined
            | Self::Json
            | Self::Param
            | Self::Fib
            | Self::H2 => 64,
            Self::Async => 256,
            Self::CpuMix => 32,
            Self::Upload => 8,
            Self::Idle => 1000,
        };
        match preset {
            Preset::Smoke => match self {
                Self::Async => 16,
                Self::Idle => 20,
                Self::Upload => 2,
                _ => 4,
            },
            Preset::Quick | Preset::Full => full,
        }
    }

    /// Whether it is served over TLS (bench_server's `--tls-cert`).
    pub fn tls(self) -> bool {
        self == Self::PlaintextTls
    }

    /// Whether only wrk can run it: the built-in generator speaks no TLS.
    pub fn needs_wrk(self) -> bool {
        self.tls()
    }

    /// Whether wrk can run it. cpu-mix needs latency per route and idle
    /// needs connections that stop after one request: the built-in
    /// generator runs those always; h2 is h2load's.
    pub fn wrk_capable(self) -> bool {
        !matches!(self, Self::CpuMix | Self::Idle | Self::H2)
    }

    /// The Lua that makes wrk send this workload's requests.
    pub fn wrk_script(self) -> String {
        match self {
            Self::Pipelined => crate::wrk::PIPELINE_LUA.to_owned(),
            Self::Upload => format!(
                "wrk.method = \"POST\"\nwrk.body = string.rep(\"x\", {UPLOAD_BYTES})\nwrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n"
            ),
            _ => String::new(),
        }
    }
}

/// The upload workload's body: 1 MiB.
pub const UPLOAD_BYTES: usize = 1 << 20;

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|w| w.name()).collect();
                format!(
                    "unknown workload {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// How long and how often each cell is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// CI: 200 ms per cell, one run, few connections, no warm-up.
    Smoke,
    /// Under 10 minutes on 2 cores: 1 s warm-up, 3 runs of 2 s.
    Quick,
    /// The default: 2 s warm-up, 5 runs of 5 s.
    Full,
}

/// The timing of a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Warm-up before the first run (zero: none).
    pub warmup: Duration,
    /// Measured runs per cell.
    pub runs: usize,
    /// Length of one run.
    pub duration: Duration,
}

impl Preset {
    /// Its timing.
    pub fn timing(self) -> Timing {
        match self {
            Self::Smoke => Timing {
                warmup: Duration::ZERO,
                runs: 1,
                duration: Duration::from_millis(200),
            },
            Self::Quick => Timing {
                warmup: Duration::from_secs(1),
                runs: 3,
                duration: Duration::from_secs(2),
            },
            Self::Full => Timing {
                warmup: Duration::from_secs(2),
                runs: 5,
                duration: Duration::from_secs(5),
            },
        }
    }
}
