//! TLS for `https://` and `wss://` targets: the rustls client configuration
//! built once from the plan, the one-line reasons shown for TLS failures, a
//! handshake probe run before any load, and the built-in server's certificate.
//!
//! Crypto provider: `ring`. It builds with nothing but a C compiler, which
//! Debian's toolchain and the runner image have; `aws-lc-rs` would need
//! cmake, NASM and bindgen in CI and in the image.

mod probe;
mod server;
mod verify;

use std::sync::Arc;

use api::plan::TlsPlan;
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};

pub use probe::probe;
pub use server::{server_config, ServerCert};

/// Sessions each worker keeps for resumption (`--tls-resume`).
const RESUME_SESSIONS: usize = 1024;

/// Why the TLS settings cannot be used; shown as one line before any load.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or parsed.
    #[error("{what} {path}: {why}")]
    File {
        /// Which setting named the file.
        what: &'static str,
        /// The path as given.
        path: String,
        /// What went wrong.
        why: String,
    },
    /// The settings do not fit together or rustls refused them.
    #[error("TLS settings: {0}")]
    Config(String),
    /// The server's TLS handshake failed in the probe before the load.
    #[error("TLS handshake with {0} failed: {1}")]
    Handshake(String, String),
}

/// The client side of a TLS target: configuration and the name to verify.
#[derive(Clone)]
pub struct ClientSetup {
    /// Shared configuration; each worker takes its own copy (own session cache).
    pub config: Arc<ClientConfig>,
    /// Sent in SNI (unless an IP address) and verified against the certificate.
    pub name: ServerName<'static>,
    /// Sessions are resumed on reconnect.
    pub resume: bool,
}

impl ClientSetup {
    /// Build the client configuration for `host` (the URL's host) from the plan.
    pub fn new(plan: &TlsPlan, host: &str) -> Result<Self, TlsError> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = if plan.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verify::NoVerify(provider)))
        } else {
            builder.with_root_certificates(roots(plan)?)
        };
        let mut config = match (&plan.cert_file, &plan.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs("client certificate", cert)?, read_key(key)?)
                .map_err(|e| TlsError::File {
                    what: "client key",
                    path: key.clone(),
                    why: e.to_string(),
                })?,
            (Some(_), None) => return Err(TlsError::Config(
                "a client certificate (--cert, tls.certFile) needs its key (--key, tls.keyFile)"
                    .into(),
            )),
            (None, Some(_)) => return Err(TlsError::Config(
                "a client key (--key, tls.keyFile) needs its certificate (--cert, tls.certFile)"
                    .into(),
            )),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = Resumption::disabled();
        let sni = plan.sni.as_deref().unwrap_or(host);
        let name = ServerName::try_from(sni.to_string())
            .map_err(|_| TlsError::Config(format!("{sni:?} is not a valid server name")))?;
        Ok(Self {
            config: Arc::new(config),
            name,
            resume: plan.resume,
        })
    }

    /// One worker's configuration: its own session cache, so workers share
    /// nothing while the run lasts.
    pub fn for_worker(&self) -> Arc<ClientConfig> {
        if !self.resume {
            return self.config.clone();
        }
        let mut c = (*self.config).clone();
        c.resumption = Resumption::in_memory_sessions(RESUME_SESSIONS);
        Arc::new(c)
    }
}

fn roots(plan: &TlsPlan) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &plan.ca_file {
        for cert in read_certs("CA file", path)? {
            roots.add(cert).map_err(|e| TlsError::File {
                what: "CA file",
                path: path.clone(),
                why: e.to_string(),
            })?;
        }
        return Ok(roots);
    }
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(TlsError::Config(
            "no system root certificates found (install ca-certificates, or use --cacert FILE or --insecure)".into(),
        ));
    }
    Ok(roots)
}

fn read_certs(what: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |why: String| TlsError::File {
        what,
        path: path.to_string(),
        why,
    };
    std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(err(
            "no PEM certificate (BEGIN CERTIFICATE) in the file".into()
        ));
    }
    Ok(certs)
}

fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |why: String| TlsError::File {
        what: "key file",
        path: path.to_string(),
        why,
    };
    std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    PrivateKeyDer::from_pem_file(path).map_err(|e| err(format!("no PEM private key: {e}")))
}

/// Certificates and keys for the built-in server (`serve --tls --cert --key`).
pub(crate) fn read_cert_and_key(
    cert: &str,
    key: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    Ok((read_certs("certificate", cert)?, read_key(key)?))
}

/// A TLS failure in one line, with what to do about it where that is known.
pub fn describe(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(CertificateError::NotValidForName)
        | E::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "{e} (hostname mismatch: --sni NAME to verify another name, or --insecure)"
        ),
        E::InvalidCertificate(CertificateError::Expired)
        | E::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            format!("{e} (--insecure to skip verification)")
        }
        E::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "{e}: not signed by a trusted CA (self-signed? --cacert FILE to trust its CA, or --insecure)"
        ),
        E::InvalidMessage(_) => format!(
            "the server did not answer with TLS ({e}); a plaintext server on an https:// URL?"
        ),
        _ => e.to_string(),
    }
}

/// The process-wide crypto provider, installed once so rustls never has to guess.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}
