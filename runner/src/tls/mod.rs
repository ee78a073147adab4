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

use api::plan::{TlsField as Field, TlsPlan};
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
    #[error("{what}: {why}")]
    File {
        /// The setting and its file, as the user wrote them.
        what: String,
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
    /// The settings as given, to name them in errors the way they were written.
    pub plan: TlsPlan,
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
        let (cert_name, key_name) = (plan.name(Field::Cert), plan.name(Field::Key));
        let mut config = match (&plan.cert_file, &plan.key_file) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certs(plan, Field::Cert, cert)?, read_key(plan, key)?)
                .map_err(|e| TlsError::File {
                    what: plan.file_label(Field::Key, key),
                    why: e.to_string(),
                })?,
            (Some(_), None) => {
                return Err(TlsError::Config(format!(
                    "a client certificate ({cert_name}) needs its key ({key_name})"
                )))
            }
            (None, Some(_)) => {
                return Err(TlsError::Config(format!(
                    "a client key ({key_name}) needs its certificate ({cert_name})"
                )))
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = Resumption::disabled();
        let sni = plan.sni.as_deref().unwrap_or(host);
        let name = ServerName::try_from(sni.to_string()).map_err(|_| {
            let field = if plan.sni.is_some() {
                plan.name(Field::Sni)
            } else {
                "the URL's host"
            };
            TlsError::Config(format!("{field}: {sni:?} is not a valid server name"))
        })?;
        Ok(Self {
            config: Arc::new(config),
            name,
            plan: plan.clone(),
        })
    }

    /// One worker's client: its own session cache, so workers share nothing
    /// while the run lasts.
    pub fn for_worker(&self) -> Self {
        if !self.plan.resume {
            return self.clone();
        }
        let mut c = (*self.config).clone();
        c.resumption = Resumption::in_memory_sessions(RESUME_SESSIONS);
        Self {
            config: Arc::new(c),
            ..self.clone()
        }
    }
}

fn roots(plan: &TlsPlan) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &plan.ca_file {
        for cert in read_certs(plan, Field::Ca, path)? {
            roots.add(cert).map_err(|e| TlsError::File {
                what: plan.file_label(Field::Ca, path),
                why: e.to_string(),
            })?;
        }
        return Ok(roots);
    }
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(TlsError::Config(format!(
            "no system root certificates found (install ca-certificates, or use {} or {})",
            plan.usage(Field::Ca),
            plan.usage(Field::Insecure)
        )));
    }
    Ok(roots)
}

fn read_certs(
    plan: &TlsPlan,
    field: Field,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |why: String| TlsError::File {
        what: plan.file_label(field, path),
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

fn read_key(plan: &TlsPlan, path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |why: String| TlsError::File {
        what: plan.file_label(Field::Key, path),
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
    // The server's files are always flags (`serve --tls --cert --key`).
    let flags = TlsPlan::default();
    Ok((
        read_certs(&flags, Field::Cert, cert)?,
        read_key(&flags, key)?,
    ))
}

/// A TLS failure in one line, with what to do about it where that is known,
/// naming the settings as `plan` was written (flags or `spec.tls` fields).
pub fn describe(e: &rustls::Error, plan: &TlsPlan) -> String {
    use rustls::Error as E;
    let insecure = plan.usage(Field::Insecure);
    match e {
        E::InvalidCertificate(CertificateError::NotValidForName)
        | E::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => format!(
            "{e} (hostname mismatch: {} to verify another name, or {insecure})",
            plan.usage(Field::Sni)
        ),
        E::InvalidCertificate(CertificateError::Expired)
        | E::InvalidCertificate(CertificateError::ExpiredContext { .. }) => {
            format!("{e} ({insecure} to skip verification)")
        }
        // Another CA of the same name: the issuer matches, its signature does not.
        E::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            match &plan.ca_file {
                Some(ca) => format!(
                    "{e}: not signed by a CA of {} (the wrong CA? or {insecure})",
                    plan.file_label(Field::Ca, ca)
                ),
                None if matches!(e, E::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                    format!(
                "{e}: not signed by a trusted CA (self-signed? {} to trust its CA, or {insecure})",
                plan.usage(Field::Ca)
            )
                }
                None => e.to_string(),
            }
        }
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
