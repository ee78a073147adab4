//! Pre-built request bytes: built once before the run, sent as-is, pipelined
//! copies laid end to end so a refill of k requests is one slice.

use super::template::{Placeholder, Template};
use super::url::Target;

/// The default GET request for a URL target: the original's, byte for byte.
/// Only `Host`: every byte here is copied, sent and parsed once per request,
/// and at pipeline 16 the extra `User-Agent`/`Accept` lines more than doubled
/// the bytes per send (`--raw` adds any header a target needs).
pub fn get_request(target: &Target) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\n\r\n",
        target.path,
        target.host_header()
    )
    .into_bytes()
}

/// `depth` copies of `request` back to back.
pub fn pipelined(request: &[u8], depth: u32) -> Vec<u8> {
    request.repeat(depth as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_request_is_well_formed_http11() {
        let t = Target::parse("http://127.0.0.1:8080/a?b").unwrap();
        let r = String::from_utf8(get_request(&t)).unwrap();
        assert_eq!(r, "GET /a?b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
        assert_eq!(pipelined(r.as_bytes(), 3).len(), 3 * r.len());
    }
}

/// One request as a worker sends it: its bytes alone and `depth` times over.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// One copy.
    pub single: Vec<u8>,
    /// `depth` copies back to back; a refill of k is `pipelined[..k * single.len()]`.
    pub pipelined: Vec<u8>,
    /// A HEAD request: responses carry no body.
    pub head: bool,
    /// A placeholder filled per request at send time.
    pub fill: Option<Placeholder>,
}

impl Prepared {
    /// Pre-build `bytes` for a pipeline of `depth`.
    pub fn new(bytes: Vec<u8>, depth: u32, head: bool, fill: Option<Placeholder>) -> Self {
        Self {
            pipelined: pipelined(&bytes, depth),
            single: bytes,
            head,
            fill,
        }
    }

    /// From a compiled raw template.
    pub fn from_template(t: &Template, depth: u32) -> Self {
        Self::new(t.bytes.clone(), depth, t.head, t.placeholder)
    }
}
