//! Test certificates, made at test time with rcgen: a CA, and leaf
//! certificates for `localhost` that it signs, written into a temporary
//! directory for curl, openssl and the server to read.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// A temporary directory holding a CA's certificate (`ca.pem`) and the
/// leaves it signed; removed on drop.
pub struct TestCa {
    dir: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its key, as PEM text and as files.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl TestCa {
    /// Makes a CA in a fresh directory named after `name` and the process.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tramline-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "tramline test CA");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(dir.join("ca.pem"), cert.pem()).unwrap();
        Self {
            dir,
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate's file, for `curl --cacert` and `openssl -CAfile`.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Signs a certificate for `localhost` and 127.0.0.1 whose common name
    /// is `cn`, and writes it to `<cn>.cert.pem` and `<cn>.key.pem`.
    pub fn leaf(&self, cn: &str) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let file = cn.replace(' ', "-");
        let leaf = Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_path: self.dir.join(format!("{file}.cert.pem")),
            key_path: self.dir.join(format!("{file}.key.pem")),
        };
        std::fs::write(&leaf.cert_path, &leaf.cert_pem).unwrap();
        std::fs::write(&leaf.key_path, &leaf.key_pem).unwrap();
        leaf
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
