//! TLS for the admission port: rustls (TLS 1.2 and 1.3), a certificate chain from PEM files, ALPN for
//! HTTP/2 and HTTP/1.1, and a certificate resolver whose key pair can be swapped while connections are
//! being served, so a renewed Secret takes effect without a restart.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
// PEM parsing is rustls-pki-types' own (re-exported by rustls), which replaced the unmaintained
// rustls-pemfile (RUSTSEC-2025-0134).
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate; give the serving certificate (and its chain) in PEM")]
    NoCertificate { path: String },
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoKey { path: String },
    #[error("{path}: {source}")]
    Pem { path: String, source: pem::Error },
    #[error("the private key does not fit the certificate, or is of an unsupported type: {0}")]
    Key(#[source] rustls::Error),
    #[error("the CA certificate is not usable: {0}")]
    Ca(#[source] rustls::Error),
    #[error("cannot configure TLS: {0}")]
    Config(#[source] rustls::Error),
}

/// Load a certificate chain and its key from PEM files.
pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.display().to_string(),
            source,
        })
    };
    from_pem(
        &read(cert_path)?,
        &read(key_path)?,
        &cert_path.display().to_string(),
        &key_path.display().to_string(),
    )
}

/// Build a certified key from PEM bytes.
pub fn from_pem(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: cert_name.into(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_name.into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: key_name.into(),
        },
        source => TlsError::Pem {
            path: key_name.into(),
            source,
        },
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let ck = CertifiedKey::from_der(certs, key, &provider).map_err(TlsError::Key)?;
    Ok(Arc::new(ck))
}

/// The serving key pair, replaceable at run time.
#[derive(Debug)]
pub struct Certificate {
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificate {
    pub fn new(key: Arc<CertifiedKey>) -> Arc<Self> {
        Arc::new(Certificate {
            current: RwLock::new(key),
        })
    }

    pub fn replace(&self, key: Arc<CertifiedKey>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = key;
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// The rustls server configuration: TLS 1.2 and 1.3, ALPN h2 and http/1.1 (kube-apiserver pins
/// http/1.1; other clients may use HTTP/2).
pub fn server_config(cert: Arc<Certificate>) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration trusting only the PEM CA certificates in `ca_pem`, offering `alpn`. For the
/// tests and the load tools that talk to the webhook the way kube-apiserver does (with its caBundle).
pub fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let c = c.map_err(|source| TlsError::Pem {
            path: "CA".into(),
            source,
        })?;
        roots.add(c).map_err(TlsError::Ca)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_files_without_pem_with_the_reason() {
        let e = from_pem(b"not pem", b"x", "tls.crt", "tls.key").unwrap_err();
        assert_eq!(
            e.to_string(),
            "tls.crt holds no PEM certificate; give the serving certificate (and its chain) in PEM"
        );
        let e = load(
            Path::new("/nonexistent/tls.crt"),
            Path::new("/nonexistent/tls.key"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read /nonexistent/tls.crt")
        );
    }

    #[test]
    fn a_file_without_a_key_and_a_broken_pem_section_say_which() {
        let cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let e = from_pem(cert.as_bytes(), b"no key here", "tls.crt", "tls.key").unwrap_err();
        assert_eq!(
            e.to_string(),
            "tls.key holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"
        );
        let e = from_pem(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n",
            b"",
            "tls.crt",
            "tls.key",
        )
        .unwrap_err();
        assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
        assert!(e.to_string().starts_with("tls.crt: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
