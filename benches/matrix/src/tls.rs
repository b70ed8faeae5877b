//! The certificate the TLS workload's servers present: made with rcgen
//! when the matrix starts, so no key is checked in.

use std::io;
use std::path::{Path, PathBuf};

/// A certificate and its private key as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate chain (one self-signed certificate).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// Writes a self-signed ECDSA P-256 certificate for `localhost` and
/// 127.0.0.1 into `dir`: the key type most HTTPS sites serve today. wrk does
/// not verify certificates, so no CA is needed.
///
/// # Errors
///
/// Returns an error if the certificate cannot be made or written.
pub fn generate(dir: &Path) -> io::Result<CertFiles> {
    std::fs::create_dir_all(dir)?;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .map_err(io::Error::other)?;
    let files = CertFiles {
        cert: dir.join(format!("tls-cert-{}.pem", std::process::id())),
        key: dir.join(format!("tls-key-{}.pem", std::process::id())),
    };
    std::fs::write(&files.cert, made.cert.pem())?;
    std::fs::write(&files.key, made.signing_key.serialize_pem())?;
    Ok(files)
}
