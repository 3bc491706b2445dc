//! How the bridge reaches an IRC server: plain TCP, or TLS that verifies the server against the
//! system's roots (plus `--irc-ca`), or, with `--irc-insecure`, TLS that verifies nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Why TLS to IRC servers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IrcTlsError {
    #[error("cannot read --irc-ca {path}: {source}")]
    ReadCa {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--irc-ca {0} holds no certificate in PEM format")]
    NoCa(PathBuf),
    #[error("no trusted certificates: the system has none and --irc-ca gives none")]
    NoRoots,
    #[error("TLS setup for IRC failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A byte stream to an IRC server, plain or TLS.
pub trait IrcStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> IrcStream for T {}

/// Builds the TLS client configuration all networks with a `+port` share.
pub fn connector(ca_file: Option<&Path>, insecure: bool) -> Result<TlsConnector, IrcTlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::warn!(%error, "while loading the system's CA certificates");
        }
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|source| IrcTlsError::ReadCa {
                path: path.to_path_buf(),
                source,
            })?;
            let extra: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .filter_map(Result::ok)
                .collect();
            if extra.is_empty() {
                return Err(IrcTlsError::NoCa(path.to_path_buf()));
            }
            roots.add_parsable_certificates(extra);
        }
        if roots.is_empty() {
            return Err(IrcTlsError::NoRoots);
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Connects to `host:port`, with TLS when a connector is given.
pub async fn connect(
    host: &str,
    port: u16,
    tls: Option<&TlsConnector>,
) -> std::io::Result<Box<dyn IrcStream>> {
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    Ok(Box::new(tls.connect(name, tcp).await?))
}

/// `--irc-insecure`: accepts any certificate for any name. Signatures are still checked, so
/// the connection is encrypted to whoever holds the key, but that may be anyone.
#[derive(Debug)]
struct AcceptAnything(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
