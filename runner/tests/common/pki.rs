//! Certificates for the TLS tests, made with rcgen.

use api::plan::{LoadPlan, TlsPlan};

use super::plan;

/// A CA, a server certificate it signed for `names` and a client certificate
/// (mTLS), written as PEM files: ca.pem, cert.pem, key.pem, client.pem, client-key.pem.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn new(names: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        // Distinct names, or OpenSSL (nginx) takes a leaf for self-signed.
        ca_params.distinguished_name = dn("gcannon test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut leaf = rcgen::CertificateParams::new(names).unwrap();
        leaf.distinguished_name = dn("gcannon test server");
        let leaf = leaf.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), key.serialize_pem()).unwrap();
        let client_key = rcgen::KeyPair::generate().unwrap();
        let mut client = rcgen::CertificateParams::new(vec!["gcannon-client".to_string()]).unwrap();
        client.distinguished_name = dn("gcannon test client");
        let client = client.signed_by(&client_key, &issuer).unwrap();
        std::fs::write(dir.path().join("client.pem"), client.pem()).unwrap();
        let client_key_pem = client_key.serialize_pem();
        std::fs::write(dir.path().join("client-key.pem"), client_key_pem).unwrap();
        Self { dir }
    }

    /// Absolute path of one of the files.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A test plan against `url` that trusts this CA.
    pub fn trusting(&self, url: &str, connections: u32, pipeline: u32) -> LoadPlan {
        LoadPlan {
            tls: TlsPlan {
                ca_file: Some(self.path("ca.pem")),
                ..TlsPlan::default()
            },
            ..plan(url, connections, pipeline, 400)
        }
    }
}

fn dn(common_name: &str) -> rcgen::DistinguishedName {
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, common_name);
    dn
}
