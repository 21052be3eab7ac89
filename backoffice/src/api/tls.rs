//! TLS for the API: the server's rustls configuration from PEM files, and the self-signed
//! development certificate (`--dev-tls`), kept next to the ledger so clients can pin it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::ApiError;

/// File name of the development certificate, next to the ledger.
pub const DEV_CERT_FILE: &str = "backoffice-dev-cert.pem";
/// File name of its private key (mode 0600).
pub const DEV_KEY_FILE: &str = "backoffice-dev-key.pem";

/// Where the server's certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files: a certificate chain (leaf first) and its private key.
    Pem {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// The development certificate in `dir` (generated on first use): self-signed for
    /// `localhost`, `127.0.0.1` and `::1`.
    Dev {
        /// The directory (the ledger's).
        dir: PathBuf,
    },
}

/// The dev certificate and key paths in `dir`.
pub fn dev_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(DEV_CERT_FILE), dir.join(DEV_KEY_FILE))
}

/// Generates the self-signed development certificate in `dir` unless it is already there;
/// returns the certificate's path (what clients pin).
pub fn ensure_dev_certificate(dir: &Path) -> Result<PathBuf, ApiError> {
    let (cert_path, key_path) = dev_paths(dir);
    if cert_path.is_file() && key_path.is_file() {
        return Ok(cert_path);
    }
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let certified = rcgen::generate_simple_self_signed(names)
        .map_err(|e| ApiError::Tls(format!("cannot generate the development certificate: {e}")))?;
    fs::create_dir_all(dir).map_err(|e| io_error("create", dir, &e))?;
    write_private(&key_path, certified.key_pair.serialize_pem().as_bytes())?;
    fs::write(&cert_path, certified.cert.pem()).map_err(|e| io_error("write", &cert_path, &e))?;
    Ok(cert_path)
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> ApiError {
    ApiError::Tls(format!("cannot {what} {}: {e}", path.display()))
}

/// Writes a private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ApiError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| io_error("create", path, &e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error("write", path, &e))
}

/// Reads every certificate of a PEM file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, ApiError> {
    let pem = fs::read(path).map_err(|e| io_error("read", path, &e))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ApiError::Tls(format!(
                "{} is not a PEM certificate file ({e}); pass the server certificate (BEGIN CERTIFICATE)",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(ApiError::Tls(format!(
            "{} holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ApiError> {
    let pem = fs::read(path).map_err(|e| io_error("read", path, &e))?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        ApiError::Tls(format!(
            "{} holds no usable private key ({e}); pass a PEM key (PKCS#8, RSA or EC)",
            path.display()
        ))
    })
}

/// The server's rustls configuration (TLS 1.2 and 1.3, ring, HTTP/1.1 by ALPN).
pub fn server_config(source: &TlsSource) -> Result<Arc<rustls::ServerConfig>, ApiError> {
    let (cert, key) = match source {
        TlsSource::Pem { cert, key } => (cert.clone(), key.clone()),
        TlsSource::Dev { dir } => {
            ensure_dev_certificate(dir)?;
            dev_paths(dir)
        }
    };
    let chain = read_certificates(&cert)?;
    let key = read_key(&key)?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ApiError::Tls(format!("TLS setup: {e}")))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| {
                ApiError::Tls(format!(
                    "the certificate and key do not form a usable pair ({e}); check that {} is the key of {}",
                    match source {
                        TlsSource::Pem { key, .. } => key.display().to_string(),
                        TlsSource::Dev { dir } => dev_paths(dir).1.display().to_string(),
                    },
                    cert.display()
                ))
            })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
