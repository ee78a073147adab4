//! The built-in server's TLS: a certificate given as files, or a self-signed
//! one generated at start for `localhost`, `127.0.0.1` and `::1`.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

use super::{provider, read_cert_and_key, TlsError};

/// Where the server's certificate comes from.
#[derive(Clone, Debug)]
pub enum ServerCert {
    /// Generated at start, self-signed.
    SelfSigned,
    /// PEM certificate chain and key files.
    Files {
        /// Certificate chain file.
        cert: String,
        /// Private key file.
        key: String,
    },
}

/// Names the self-signed certificate is valid for.
pub const SELF_SIGNED_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The server configuration (TLS 1.2 and 1.3, ALPN `http/1.1`).
pub fn server_config(cert: &ServerCert) -> Result<Arc<ServerConfig>, TlsError> {
    let (chain, key) = match cert {
        ServerCert::Files { cert, key } => read_cert_and_key(cert, key)?,
        ServerCert::SelfSigned => {
            let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|s| s.to_string()).collect();
            let ck = rcgen::generate_simple_self_signed(names)
                .map_err(|e| TlsError::Config(format!("cannot generate a certificate: {e}")))?;
            let key =
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
            (vec![CertificateDer::from(ck.cert.der().to_vec())], key)
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(format!("certificate and key do not fit: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
