//! Target URLs: `http[s]://host[:port][/path][?query]` (and `ws[s]://`),
//! resolved once at start.

use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `http://` or `https://` target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host as written (IPv6 without brackets).
    pub host: String,
    /// TCP port (80, or 443 with TLS, when absent).
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
    /// `https://` or `wss://`: talk TLS.
    pub tls: bool,
}

/// Why a target URL was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// Not of the form `http://host[:port]/path`.
    #[error("invalid URL {0:?}: {1}")]
    Invalid(String, &'static str),
    /// The host did not resolve.
    #[error("cannot resolve host {0:?}: {1}")]
    Resolve(String, String),
}

impl Target {
    /// Parse a URL given on the command line or in a manifest.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |why| UrlError::Invalid(url.to_string(), why);
        let lower = url.to_ascii_lowercase();
        let tls = lower.starts_with("https://") || lower.starts_with("wss://");
        let rest = if tls || lower.starts_with("http://") || lower.starts_with("ws://") {
            &url[url.find("://").map(|i| i + 3).unwrap_or(0)..]
        } else if lower.contains("://") {
            return Err(bad(
                "only http://, https://, ws:// and wss:// are supported",
            ));
        } else {
            return Err(bad("expected http://host[:port]/path"));
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(bad("user info (user@host) is not supported"));
        }
        if path.contains('#') {
            return Err(bad("fragments (#...) are never sent to a server"));
        }
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("the path contains spaces or control characters"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) =
            split_host_port(authority, default_port).ok_or_else(|| bad("bad host or port"))?;
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        Ok(Self {
            host,
            port,
            path,
            tls,
        })
    }

    /// The `Host` header value: port included unless it is the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == if self.tls { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Resolve the host once; prefers the first address the resolver returns.
    pub fn resolve(&self) -> Result<SocketAddr, UrlError> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| UrlError::Resolve(self.host.clone(), e.to_string()))?
            .next()
            .ok_or_else(|| UrlError::Resolve(self.host.clone(), "no addresses".into()))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.host_header(), self.path)
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        host.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match &rest[end + 1..] {
            "" => default_port,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        return Some((host.to_string(), port));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (authority, default_port),
    };
    if port == 0
        || host.contains(':')
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return None;
    }
    Some((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_paths() {
        let t = Target::parse("http://127.0.0.1:8080/json?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/json?x=1")
        );
        let t = Target::parse("http://example.com").unwrap();
        assert_eq!(
            (t.port, t.path.as_str(), t.host_header().as_str()),
            (80, "/", "example.com")
        );
        let t = Target::parse("http://[::1]:9000/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.host_header().as_str()),
            ("::1", "[::1]:9000")
        );
        let t = Target::parse("http://h:81?q").unwrap();
        assert_eq!(t.path, "/?q");
    }

    #[test]
    fn tls_schemes_default_to_443() {
        let t = Target::parse("https://x/").unwrap();
        assert!(t.tls);
        assert_eq!((t.port, t.host_header()), (443, "x".to_string()));
        let t = Target::parse("wss://x:8443/chat").unwrap();
        assert!(t.tls);
        assert_eq!((t.port, t.host_header()), (8443, "x:8443".to_string()));
        assert!(!Target::parse("http://x/").unwrap().tls);
    }

    #[test]
    fn rejects_what_cannot_be_sent() {
        for bad in [
            "",
            "localhost:8080",
            "ftp://x/",
            "http://",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://[::1/",
            "http://a b/",
            "http://u@h/",
            "http://h/a b",
            "http://h/#frag",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(UrlError::Invalid(..))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn unresolvable_hosts_are_an_error() {
        let t = Target::parse("http://no-such-host.invalid/").unwrap();
        assert!(matches!(t.resolve(), Err(UrlError::Resolve(..))));
    }
}
