//! Pre-built request bytes: built once before the run, sent as-is, pipelined
//! copies laid end to end so a refill of k requests is one slice.

use super::url::Target;

/// The default GET request for a URL target.
pub fn get_request(target: &Target) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: gcannon/{}\r\nAccept: */*\r\n\r\n",
        target.path,
        target.host_header(),
        env!("CARGO_PKG_VERSION")
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
        assert!(r.starts_with("GET /a?b HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(r.ends_with("\r\n\r\n"));
        assert_eq!(pipelined(r.as_bytes(), 3).len(), 3 * r.len());
    }
}
