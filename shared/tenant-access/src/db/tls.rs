//! TLS to the database: only the CAs of `DB_CA_BUNDLE`, host names
//! verified, no fallback.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The CA bundle could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The file could not be read or holds no PEM certificate.
    #[error("DB_CA_BUNDLE {path}: {reason}")]
    Bundle {
        /// The bundle path.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A rustls client configuration that trusts only the CAs in the PEM file at
/// `path` and verifies host names.
///
/// ```no_run
/// let tls = tenant_access::db::tls_config("/opt/rds/global-bundle.pem".as_ref()).unwrap();
/// ```
pub fn tls_config(path: &Path) -> Result<rustls::ClientConfig, TlsSetupError> {
    let fail = |reason: String| TlsSetupError::Bundle {
        path: path.display().to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| fail(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| fail(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("a certificate is not a valid CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(fail("holds no certificate".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_bundle_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("tenant-access-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = tls_config(&empty).unwrap_err();
        assert!(err.to_string().contains("DB_CA_BUNDLE"), "{err}");
        assert!(tls_config(&dir.join("missing.pem")).is_err());
    }
}
