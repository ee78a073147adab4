//! Incremental, zero-copy HTTP/1.1 response framing. (being written)

/// One complete final response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The server will close the connection after this response.
    pub close: bool,
}

/// Why a response stream was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Not a valid HTTP/1.1 response.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// The connection ended in the middle of a response.
    #[error("connection closed mid-response")]
    Truncated,
}

/// Per-connection response parser state.
#[derive(Debug, Default)]
pub struct ResponseParser {}

impl ResponseParser {
    /// A parser for a fresh connection.
    pub fn new() -> Self {
        Self::default()
    }
}
