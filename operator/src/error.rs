//! Everything that can go wrong in a reconcile.

/// A reconcile failure; the controller retries after a back-off.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API refused or failed a request.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// The object lacks a field the API server always sets.
    #[error("LoadTest is missing {0}")]
    MissingField(&'static str),
    /// The operator's environment is invalid.
    #[error("configuration: {0}")]
    Config(String),
}

/// Reconcile result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
