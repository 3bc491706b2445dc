//! TLS for the TLS listeners: the server certificate (loaded, or generated on first start) and
//! the rustls configuration built from `--tls-min` and `--ciphers`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;

use crate::config::{TlsSettings, TlsVersion};

/// Why TLS could not be set up; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no certificate in PEM format")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no private key in PEM format")]
    NoKey { path: PathBuf },
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("unknown cipher suite {0}; known: {1}")]
    UnknownCipher(String, String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A ready TLS acceptor and what the startup report says about its certificate.
pub struct TlsSetup {
    /// Accepts TLS connections with the server certificate.
    pub acceptor: TlsAcceptor,
    /// Where the certificate is.
    pub cert_path: PathBuf,
    /// SHA-256 of the certificate, so users can pin it.
    pub fingerprint: String,
    /// The certificate was generated just now.
    pub generated: bool,
    /// The certificate the acceptor serves, which [`TlsSetup::reload`] replaces.
    certificate: Arc<CurrentCertificate>,
}

/// The certificate and key every handshake gets, replaced in place on a reload, so the
/// acceptor (and every listener holding a clone of it) serves the new one from the next
/// handshake on, and handshakes in progress finish with the old one.
#[derive(Debug)]
struct CurrentCertificate {
    /// The certified key and a digest of the PEM files it was read from.
    current: std::sync::RwLock<(Arc<CertifiedKey>, [u8; 32])>,
}

impl CurrentCertificate {
    fn get(&self) -> (Arc<CertifiedKey>, [u8; 32]) {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, certified: Arc<CertifiedKey>, digest: [u8; 32]) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (certified, digest);
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get().0)
    }
}

/// A certificate and key read from their files.
struct Loaded {
    certified: Arc<CertifiedKey>,
    fingerprint: String,
    /// SHA-256 of the certificate's and the key's files, to tell a changed file.
    digest: [u8; 32],
}

/// Where the certificate and key are read from: `--cert`/`--key`, else `<app>/cert.pem`
/// holding both.
fn certificate_paths(settings: &TlsSettings, app_dir: &Path) -> (PathBuf, PathBuf) {
    match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        _ => {
            let path = app_dir.join("cert.pem");
            (path.clone(), path)
        }
    }
}

/// Reads and checks the certificate chain and its key.
fn load(
    cert_path: &Path,
    key_path: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Loaded, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.into(),
            source,
        })
    };
    let cert_pem = read(cert_path)?;
    let key_pem = if key_path == cert_path {
        cert_pem.clone()
    } else {
        read(key_path)?
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    let Some(first) = certs.first() else {
        return Err(TlsError::NoCertificate {
            path: cert_path.to_owned(),
        });
    };
    let fingerprint = Sha256::digest(first.as_ref())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
        path: key_path.to_owned(),
    })?;
    let certified = CertifiedKey::from_der(certs, key, provider)?;
    let mut digest = Sha256::new();
    digest.update(&cert_pem);
    digest.update(&key_pem);
    Ok(Loaded {
        certified: Arc::new(certified),
        fingerprint,
        digest: digest.finalize().into(),
    })
}

/// Loads the certificate (`--cert`/`--key`, else `<app>/cert.pem`, generated if missing) and
/// builds the rustls server configuration.
pub fn setup(settings: &TlsSettings, app_dir: &Path) -> Result<TlsSetup, TlsError> {
    let (cert_path, key_path) = certificate_paths(settings, app_dir);
    let generated = settings.cert.is_none() && !cert_path.exists();
    if generated {
        generate(&cert_path, &settings.names)?;
    }
    let mut provider = rustls::crypto::ring::default_provider();
    let loaded = load(&cert_path, &key_path, &provider)?;
    if !settings.ciphers.is_empty() {
        let known: Vec<String> = provider
            .cipher_suites
            .iter()
            .filter_map(|s| s.suite().as_str())
            .map(str::to_owned)
            .collect();
        if let Some(unknown) = settings.ciphers.iter().find(|c| !known.contains(c)) {
            return Err(TlsError::UnknownCipher(unknown.clone(), known.join(",")));
        }
        provider.cipher_suites.retain(|s| {
            s.suite()
                .as_str()
                .is_some_and(|n| settings.ciphers.iter().any(|c| c == n))
        });
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let certificate = Arc::new(CurrentCertificate {
        current: std::sync::RwLock::new((loaded.certified, loaded.digest)),
    });
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_cert_resolver(certificate.clone());
    Ok(TlsSetup {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        cert_path,
        fingerprint: loaded.fingerprint,
        generated,
        certificate,
    })
}

impl TlsSetup {
    /// Reads the certificate and key files again (from `settings`, which a reload may have
    /// changed) and serves them from the next handshake on if they differ from the ones in
    /// use: the new certificate's fingerprint, or `None` when nothing changed. A file that
    /// cannot be read or used is an error, and the certificate in use stays.
    pub fn reload(
        &self,
        settings: &TlsSettings,
        app_dir: &Path,
    ) -> Result<Option<String>, TlsError> {
        let (cert_path, key_path) = certificate_paths(settings, app_dir);
        let provider = rustls::crypto::ring::default_provider();
        let loaded = load(&cert_path, &key_path, &provider)?;
        if loaded.digest == self.certificate.get().1 {
            return Ok(None);
        }
        self.certificate.set(loaded.certified, loaded.digest);
        Ok(Some(loaded.fingerprint))
    }
}

/// Writes a self-signed ECDSA P-256 certificate and its key into `path` (mode 0600), and the
/// certificate alone beside it as `cert.crt`, for clients to trust (`cafile=`).
fn generate(path: &Path, names: &[String]) -> Result<(), TlsError> {
    let names = if names.is_empty() {
        default_names()
    } else {
        names.to_vec()
    };
    let certified = rcgen::generate_simple_self_signed(names)?;
    let pem = format!(
        "{}{}",
        certified.signing_key.serialize_pem(),
        certified.cert.pem()
    );
    let write_error = |source| TlsError::Write {
        path: path.into(),
        source,
    };
    let mut file = secret_file(path).map_err(write_error)?;
    file.write_all(pem.as_bytes()).map_err(write_error)?;
    let crt = path.with_extension("crt");
    std::fs::write(&crt, certified.cert.pem())
        .map_err(|source| TlsError::Write { path: crt, source })?;
    Ok(())
}

/// Creates a file only its owner can read.
fn secret_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// This machine's host name, `localhost` and the loopback addresses.
fn default_names() -> Vec<String> {
    let host = std::fs::read_to_string("/etc/hostname")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !host.is_empty() && host != "localhost" {
        names.insert(0, host);
    }
    names
}
