//! TLS client settings of a plan, and how to name each one in an error the
//! way the user wrote it: a flag (`--cacert`) on the command line, a field
//! (`spec.tls.ca`) in a manifest, a key of a Secret in a cluster.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// TLS client settings for `https://` and `wss://` targets. File paths are
/// read by the runner that uses them (in a pod: files of a mounted Secret).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TlsPlan {
    /// Skip server certificate verification.
    pub insecure: bool,
    /// PEM file of CA certificates to trust instead of the system roots.
    pub ca_file: Option<String>,
    /// PEM client certificate chain (mTLS); needs `key_file`.
    pub cert_file: Option<String>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<String>,
    /// Server name sent in SNI and verified; the URL's host when unset.
    pub sni: Option<String>,
    /// Resume TLS sessions on reconnect instead of full handshakes.
    pub resume: bool,
    /// Where the settings were written, so errors name them as written.
    pub origin: TlsOrigin,
}

/// Where a plan's TLS settings came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TlsOrigin {
    /// Command-line flags (`--cacert FILE`, ...).
    #[default]
    Flags,
    /// A manifest's `spec.tls`, file paths as written there.
    Manifest,
    /// A LoadTest's `spec.tls` whose files are keys of this Secret.
    Secret(String),
}

/// One TLS setting, for naming it in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsField {
    /// Skip verification.
    Insecure,
    /// CA certificates.
    Ca,
    /// Client certificate.
    Cert,
    /// Client key.
    Key,
    /// Server name.
    Sni,
    /// Session resumption.
    Resume,
}

impl TlsPlan {
    /// Any TLS setting is given (the origin alone is not a setting).
    pub fn is_set(&self) -> bool {
        *self
            != Self {
                origin: self.origin.clone(),
                ..Self::default()
            }
    }

    /// The setting's name as the user wrote it: `--cacert` or `spec.tls.ca`.
    pub fn name(&self, field: TlsField) -> &'static str {
        use TlsField as F;
        match (&self.origin, field) {
            (TlsOrigin::Flags, F::Insecure) => "--insecure",
            (TlsOrigin::Flags, F::Ca) => "--cacert",
            (TlsOrigin::Flags, F::Cert) => "--cert",
            (TlsOrigin::Flags, F::Key) => "--key",
            (TlsOrigin::Flags, F::Sni) => "--sni",
            (TlsOrigin::Flags, F::Resume) => "--tls-resume",
            (_, F::Insecure) => "spec.tls.insecure",
            (_, F::Ca) => "spec.tls.ca",
            (_, F::Cert) => "spec.tls.cert",
            (_, F::Key) => "spec.tls.key",
            (_, F::Sni) => "spec.tls.sni",
            (_, F::Resume) => "spec.tls.resume",
        }
    }

    /// How to use the setting, for "what to do" hints: `--cacert FILE`,
    /// `spec.tls.insecure: true`.
    pub fn usage(&self, field: TlsField) -> String {
        let name = self.name(field);
        match (&self.origin, field) {
            (TlsOrigin::Flags, TlsField::Ca | TlsField::Cert | TlsField::Key) => {
                format!("{name} FILE")
            }
            (TlsOrigin::Flags, TlsField::Sni) => format!("{name} NAME"),
            (TlsOrigin::Flags, _) => name.into(),
            (_, TlsField::Insecure | TlsField::Resume) => format!("{name}: true"),
            _ => name.into(),
        }
    }

    /// A certificate or key file named for errors: `--cacert ca.pem`,
    /// `spec.tls.ca ca.pem`, `spec.tls.ca (key ca.crt of Secret gw-tls)`.
    pub fn file_label(&self, field: TlsField, path: &str) -> String {
        let name = self.name(field);
        match &self.origin {
            TlsOrigin::Secret(secret) => {
                let key = path.rsplit('/').next().unwrap_or(path);
                format!("{name} (key {key} of Secret {secret})")
            }
            _ => format!("{name} {path}"),
        }
    }

    /// Relative file paths of a manifest resolved against its directory, as
    /// `kubectl` and compose files do, so the cwd does not matter.
    pub fn resolve_paths(&mut self, dir: &Path) {
        if self.origin != TlsOrigin::Manifest {
            return;
        }
        for file in [&mut self.ca_file, &mut self.cert_file, &mut self.key_file]
            .into_iter()
            .flatten()
        {
            if Path::new(file.as_str()).is_relative() {
                *file = dir.join(&*file).to_string_lossy().into_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_where_the_settings_were_written() {
        let mut p = TlsPlan::default();
        assert_eq!(p.usage(TlsField::Ca), "--cacert FILE");
        assert_eq!(p.file_label(TlsField::Key, "k.pem"), "--key k.pem");
        p.origin = TlsOrigin::Manifest;
        assert_eq!(p.usage(TlsField::Insecure), "spec.tls.insecure: true");
        assert_eq!(p.file_label(TlsField::Ca, "ca.pem"), "spec.tls.ca ca.pem");
        p.origin = TlsOrigin::Secret("gw-tls".into());
        assert_eq!(
            p.file_label(TlsField::Ca, "/etc/gcannon/tls/ca.crt"),
            "spec.tls.ca (key ca.crt of Secret gw-tls)"
        );
        assert!(!p.is_set(), "an origin alone is no setting");
    }

    #[test]
    fn manifest_paths_resolve_against_the_manifest_directory() {
        let mut p = TlsPlan {
            ca_file: Some("certs/ca.pem".into()),
            cert_file: Some("/abs/c.pem".into()),
            key_file: None,
            origin: TlsOrigin::Manifest,
            ..TlsPlan::default()
        };
        p.resolve_paths(Path::new("/srv/tests"));
        assert_eq!(p.ca_file.as_deref(), Some("/srv/tests/certs/ca.pem"));
        assert_eq!(p.cert_file.as_deref(), Some("/abs/c.pem"));
        // Flags are relative to the cwd, as every command-line tool's are.
        let mut flags = TlsPlan {
            ca_file: Some("ca.pem".into()),
            ..TlsPlan::default()
        };
        flags.resolve_paths(Path::new("/srv"));
        assert_eq!(flags.ca_file.as_deref(), Some("ca.pem"));
    }
}
