//! HTTPS: TLS on accepted connections, through rustls on `futures-io`, so
//! it runs unchanged on every runtime.
//!
//! A [`TlsConfig`] holds the server's certificate chain and private key;
//! give it to [`Server::tls`](crate::Server::tls) and every accepted
//! connection is served over TLS. The certificate can be replaced while the
//! server runs ([`TlsConfig::reload_from_pem_files`]): new handshakes use the
//! new one, open connections keep theirs.
//!
//! The crypto provider is rustls' `ring` one, chosen explicitly, so the
//! configuration does not depend on which rustls providers other crates in
//! the build enable.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use futures_lite::{AsyncRead, AsyncWrite};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A TLS connection over the runtime's stream `IO`.
///
/// Its `poll_close` sends `close_notify`, then closes `IO`'s write half.
pub(crate) type TlsStream<IO> = futures_rustls::server::TlsStream<IO>;

/// The application protocols offered in ALPN, most preferred first; the
/// accept loop picks the engine from the one agreed on.
#[cfg(feature = "http2")]
const ALPN: &[&[u8]] = &[b"h2", b"http/1.1"];
/// The application protocols offered in ALPN.
#[cfg(not(feature = "http2"))]
const ALPN: &[&[u8]] = &[b"http/1.1"];

/// How long a client may take to complete the handshake, by default.
const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS settings of a [`Server`](crate::Server): certificate chain,
/// private key, ALPN, and the handshake timeout.
///
/// Cloning is cheap, and clones share one certificate slot: a reload
/// through any clone (say, one kept by a signal handler) changes the
/// certificate every clone serves.
///
/// ALPN offers `h2` (with the `http2` feature) and `http/1.1`, in that
/// order. A client that offers ALPN with neither fails the handshake
/// (RFC 7301 §3.2); one that offers no ALPN is served HTTP/1.1.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use tramline::tls::TlsConfig;
/// use tramline::{Router, Server, routing::get};
///
/// let mut tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// tls.handshake_timeout(Duration::from_secs(5));
///
/// let app = Router::new().route("/", get(|| async { "Hello over TLS" }));
/// let mut server = Server::bind("127.0.0.1:8443")?;
/// server.tls(tls);
/// server.serve(app)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    resolver: Arc<Resolver>,
    acceptor: futures_rustls::TlsAcceptor,
    handshake_timeout: Duration,
}

impl TlsConfig {
    /// Creates a configuration from a PEM certificate chain (the server's
    /// own certificate first, then any intermediates) and a PEM private key
    /// (PKCS#8, PKCS#1 RSA or SEC1 EC).
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::tls::TlsConfig;
    ///
    /// let err = TlsConfig::from_pem(b"", b"").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    /// assert!(err.to_string().contains("no certificate"));
    /// ```
    ///
    /// # Errors
    ///
    /// Returns [`io::ErrorKind::InvalidData`] with a message that says what
    /// is wrong: no certificate in `cert_chain_pem`, no private key in
    /// `key_pem`, malformed PEM, a key type rustls cannot sign with, or a
    /// key that does not belong to the first certificate.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = certified_key(
            &provider,
            cert_chain_pem,
            key_pem,
            "the certificate PEM",
            "the key PEM",
        )?;
        Self::new(provider, key)
    }

    /// Creates a configuration from a PEM certificate chain file and a PEM
    /// private key file, as [`TlsConfig::from_pem`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use tramline::tls::TlsConfig;
    ///
    /// let err = TlsConfig::from_pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem")
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// assert!(err.to_string().contains("/nonexistent/cert.pem"));
    /// ```
    ///
    /// # Errors
    ///
    /// Returns the OS error of reading either file (its kind kept, such as
    /// [`io::ErrorKind::NotFound`], the path in the message), or the errors
    /// of [`TlsConfig::from_pem`] with the file named.
    pub fn from_pem_files(
        cert_chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> io::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = certified_key_from_files(&provider, cert_chain_path.as_ref(), key_path.as_ref())?;
        Self::new(provider, key)
    }

    fn new(provider: Arc<CryptoProvider>, key: Arc<CertifiedKey>) -> io::Result<Self> {
        let resolver = Arc::new(Resolver {
            provider: provider.clone(),
            current: RwLock::new(key),
        });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Self {
            resolver,
            acceptor: Arc::new(config).into(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        })
    }

    /// Sets how long a client may take from connecting to completing the
    /// TLS handshake (default 10 s); past it the connection is closed.
    ///
    /// This also bounds a client that connects and sends nothing, and one
    /// that sends plain HTTP to the TLS port stalls no longer than it takes
    /// rustls to reject the bytes.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let mut tls = tramline::tls::TlsConfig::from_pem_files("cert.pem", "key.pem")?;
    /// tls.handshake_timeout(Duration::from_secs(3));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn handshake_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Replaces the certificate and key with new PEM ones, without a
    /// restart.
    ///
    /// Handshakes that start afterwards use the new certificate; open
    /// connections keep the one they were made with. On error the old
    /// certificate stays in use.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let tls = tramline::tls::TlsConfig::from_pem_files("cert.pem", "key.pem")?;
    /// let (cert, key) = (std::fs::read("new-cert.pem")?, std::fs::read("new-key.pem")?);
    /// tls.reload_from_pem(&cert, &key)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`TlsConfig::from_pem`].
    pub fn reload_from_pem(&self, cert_chain_pem: &[u8], key_pem: &[u8]) -> io::Result<()> {
        let key = certified_key(
            &self.resolver.provider,
            cert_chain_pem,
            key_pem,
            "the certificate PEM",
            "the key PEM",
        )?;
        self.resolver.replace(key);
        Ok(())
    }

    /// Replaces the certificate and key with the ones in these PEM files,
    /// as [`TlsConfig::reload_from_pem`] does: for a certificate renewed on
    /// disk (certbot, an ACME client) while the server runs.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # let tls = tramline::tls::TlsConfig::from_pem_files("cert.pem", "key.pem")?;
    /// // For example from a task woken by SIGHUP or by a timer.
    /// if let Err(e) = tls.reload_from_pem_files("cert.pem", "key.pem") {
    ///     eprintln!("certificate not reloaded, the old one stays: {e}");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`TlsConfig::from_pem_files`]; the old certificate
    /// stays in use.
    pub fn reload_from_pem_files(
        &self,
        cert_chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> io::Result<()> {
        let key = certified_key_from_files(
            &self.resolver.provider,
            cert_chain_path.as_ref(),
            key_path.as_ref(),
        )?;
        self.resolver.replace(key);
        Ok(())
    }

    /// Runs the server side of the handshake on `io`.
    ///
    /// No timeout here: the accept loop races this with the runtime's timer
    /// for [`TlsConfig::handshake_timeout_value`].
    pub(crate) async fn accept<IO>(&self, io: IO) -> io::Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.acceptor.accept(io).await
    }

    /// The handshake timeout set with [`TlsConfig::handshake_timeout`].
    pub(crate) fn handshake_timeout_value(&self) -> Duration {
        self.handshake_timeout
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let alpn: Vec<_> = ALPN.iter().map(|p| String::from_utf8_lossy(p)).collect();
        f.debug_struct("TlsConfig")
            .field("certificates", &self.resolver.current().cert.len())
            .field("alpn", &alpn)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// Hands every handshake the current certificate; a reload swaps it.
struct Resolver {
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Resolver {
    fn current(&self) -> Arc<CertifiedKey> {
        // A panic while holding the lock cannot leave a half-written Arc.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = key;
        tracing::info!("TLS certificate reloaded");
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver").finish_non_exhaustive()
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

fn read_file(path: &Path, what: &str) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot read the TLS {what} {}: {e}", path.display()),
        )
    })
}

fn certified_key_from_files(
    provider: &CryptoProvider,
    cert_path: &Path,
    key_path: &Path,
) -> io::Result<Arc<CertifiedKey>> {
    let cert = read_file(cert_path, "certificate file")?;
    let key = read_file(key_path, "private key file")?;
    certified_key(
        provider,
        &cert,
        &key,
        &cert_path.display().to_string(),
        &key_path.display().to_string(),
    )
}

/// Parses and checks a certificate chain and its key; `cert_name` and
/// `key_name` say where they came from in error messages.
fn certified_key(
    provider: &CryptoProvider,
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> io::Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("malformed PEM in {cert_name}: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(format!(
            "no certificate in {cert_name} (expected a `BEGIN CERTIFICATE` block)"
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => invalid(format!(
            "no private key in {key_name} (expected a `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)"
        )),
        e => invalid(format!("malformed PEM in {key_name}: {e}")),
    })?;
    let signer = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| invalid(format!("unusable private key in {key_name}: {e}")))?;
    let certified = CertifiedKey::new(chain, signer);
    match certified.keys_match() {
        // Unknown: the key type cannot report its public key, so there is
        // nothing to compare; the handshake will tell.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(invalid(format!(
                "the private key in {key_name} does not match the certificate in {cert_name} (the first certificate must be the server's own)"
            )));
        }
        Err(e) => {
            return Err(invalid(format!("unusable certificate in {cert_name}: {e}")));
        }
    }
    Ok(Arc::new(certified))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn message(r: io::Result<TlsConfig>) -> (io::ErrorKind, String) {
        let e = r.unwrap_err();
        (e.kind(), e.to_string())
    }

    #[test]
    fn loads_a_matching_pair() {
        let (cert, key) = leaf("a");
        let tls = TlsConfig::from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(tls.handshake_timeout_value(), DEFAULT_HANDSHAKE_TIMEOUT);
        let debug = format!("{tls:?}");
        assert!(
            debug.contains("certificates: 1") && debug.contains("http/1.1"),
            "{debug}"
        );
    }

    #[test]
    fn says_what_is_missing_or_wrong() {
        let (cert, key) = leaf("a");
        let (_, other_key) = leaf("b");
        let (kind, msg) = message(TlsConfig::from_pem(key.as_bytes(), key.as_bytes()));
        assert_eq!(kind, io::ErrorKind::InvalidData);
        assert!(
            msg.contains("no certificate in the certificate PEM"),
            "{msg}"
        );
        let (kind, msg) = message(TlsConfig::from_pem(cert.as_bytes(), cert.as_bytes()));
        assert_eq!(kind, io::ErrorKind::InvalidData);
        assert!(msg.contains("no private key in the key PEM"), "{msg}");
        let (kind, msg) = message(TlsConfig::from_pem(cert.as_bytes(), other_key.as_bytes()));
        assert_eq!(kind, io::ErrorKind::InvalidData);
        assert!(msg.contains("does not match the certificate"), "{msg}");
        let broken = cert.replace('M', "!");
        let (kind, msg) = message(TlsConfig::from_pem(broken.as_bytes(), key.as_bytes()));
        assert_eq!(kind, io::ErrorKind::InvalidData);
        assert!(
            msg.contains("malformed PEM in the certificate PEM"),
            "{msg}"
        );
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("tramline-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = leaf("a");
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, &cert).unwrap();
        std::fs::write(&key_path, &key).unwrap();
        let tls = TlsConfig::from_pem_files(&cert_path, &key_path).unwrap();

        let missing = dir.join("missing.pem");
        let (kind, msg) = message(TlsConfig::from_pem_files(&missing, &key_path));
        assert_eq!(kind, io::ErrorKind::NotFound);
        assert!(
            msg.contains("certificate file") && msg.contains("missing.pem"),
            "{msg}"
        );
        let (kind, msg) = message(TlsConfig::from_pem_files(&cert_path, &missing));
        assert_eq!(kind, io::ErrorKind::NotFound);
        assert!(
            msg.contains("private key file") && msg.contains("missing.pem"),
            "{msg}"
        );
        let (_, msg) = message(TlsConfig::from_pem_files(&key_path, &key_path));
        assert!(
            msg.contains(&format!("no certificate in {}", key_path.display())),
            "{msg}"
        );

        // A failed reload keeps the old certificate.
        let before = tls.resolver.current();
        assert!(tls.reload_from_pem_files(&missing, &key_path).is_err());
        assert!(
            tls.reload_from_pem(cert.as_bytes(), leaf("c").1.as_bytes())
                .is_err()
        );
        assert!(Arc::ptr_eq(&before, &tls.resolver.current()));
        // A good one through a clone changes what every clone serves.
        let (cert_b, key_b) = leaf("b");
        tls.clone()
            .reload_from_pem(cert_b.as_bytes(), key_b.as_bytes())
            .unwrap();
        assert!(!Arc::ptr_eq(&before, &tls.resolver.current()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
