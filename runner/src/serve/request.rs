//! Framing of one HTTP/1.x request at the front of a connection's read buffer.

/// Largest request head we buffer before answering 431.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body we accept (Content-Length or chunked total).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Headers parsed per request; more is a malformed request.
const MAX_HEADERS: usize = 64;

/// A complete request at the front of the buffer.
#[derive(Debug)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, ...
    pub method: &'a [u8],
    /// Request target without the query string.
    pub path: &'a [u8],
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// `Upgrade: websocket` with `Connection: upgrade` was asked for.
    pub ws_upgrade: bool,
    /// `Sec-WebSocket-Key`, when present.
    pub ws_key: Option<&'a [u8]>,
    /// Bytes of head plus body: the whole request.
    pub len: usize,
}

/// What the front of the buffer holds.
#[derive(Debug)]
pub enum Parsed<'a> {
    /// One whole request.
    Complete(Request<'a>),
    /// Not all of it has arrived yet.
    Partial,
    /// Cannot be a valid request: answer with this status and close.
    Invalid(u16),
}

/// Frame the first request in `buf`.
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    // Uninitialised header slots: zeroing 64 of them per request costs more than parsing.
    let mut headers =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Parsed::Invalid(431),
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Invalid(431),
        Err(_) => return Parsed::Invalid(400),
    };
    let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version) else {
        return Parsed::Invalid(400);
    };
    let mut keep_alive = version == 1;
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut conn_upgrade = false;
    let mut upgrade_ws = false;
    let mut ws_key = None;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"content-length") {
            let Some(n) = parse_decimal(h.value) else {
                return Parsed::Invalid(400);
            };
            if content_length.is_some_and(|c| c != n) {
                return Parsed::Invalid(400);
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only a final `chunked` frames a request body; anything else is unframeable.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            if !trim(last).eq_ignore_ascii_case(b"chunked") {
                return Parsed::Invalid(400);
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in h.value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    keep_alive = true;
                } else if token.eq_ignore_ascii_case(b"upgrade") {
                    conn_upgrade = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade_ws = h
                .value
                .split(|&b| b == b',')
                .any(|t| trim(t).eq_ignore_ascii_case(b"websocket"));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-key") {
            ws_key = Some(trim(h.value));
        }
    }
    // Both framings at once is a smuggling vector: refuse it.
    if chunked && content_length.is_some() {
        return Parsed::Invalid(400);
    }
    let body_len = if chunked {
        match chunked_len(&buf[head_len..]) {
            Ok(Some(n)) => n,
            Ok(None) => return Parsed::Partial,
            Err(status) => return Parsed::Invalid(status),
        }
    } else {
        match content_length {
            Some(n) if n > MAX_BODY => return Parsed::Invalid(413),
            Some(n) if buf.len() - head_len < n => return Parsed::Partial,
            Some(n) => n,
            None => 0,
        }
    };
    let path = target.as_bytes();
    let path = match path.iter().position(|&b| b == b'?') {
        Some(q) => &path[..q],
        None => path,
    };
    Parsed::Complete(Request {
        method: method.as_bytes(),
        path,
        keep_alive,
        ws_upgrade: upgrade_ws && conn_upgrade,
        ws_key,
        len: head_len + body_len,
    })
}

/// Raw length of a chunked body (chunks, last chunk and trailers) at the front
/// of `buf`; `Ok(None)` while incomplete, `Err(status)` when malformed.
fn chunked_len(buf: &[u8]) -> Result<Option<usize>, u16> {
    let mut pos = 0;
    let mut total = 0usize;
    loop {
        let (consumed, size) = match httparse::parse_chunk_size(&buf[pos..]) {
            Ok(httparse::Status::Complete(x)) => x,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(400),
        };
        pos += consumed;
        if size == 0 {
            break;
        }
        let size = usize::try_from(size).map_err(|_| 413u16)?;
        total = total.saturating_add(size);
        if total > MAX_BODY {
            return Err(413);
        }
        if buf.len() < pos + size + 2 {
            return Ok(None);
        }
        if &buf[pos + size..pos + size + 2] != b"\r\n" {
            return Err(400);
        }
        pos += size + 2;
    }
    // Trailer section: header lines until an empty line.
    loop {
        let rest = &buf[pos..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > MAX_HEAD {
                return Err(431);
            }
            return Ok(None);
        };
        pos += nl + 1;
        if nl == 0 || (nl == 1 && rest[0] == b'\r') {
            return Ok(Some(pos));
        }
    }
}

/// A non-negative decimal with no sign or junk, or `None`.
pub fn parse_decimal(s: &[u8]) -> Option<usize> {
    let s = trim(s);
    if s.is_empty() || s.len() > 18 {
        return None;
    }
    s.iter().try_fold(0usize, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + usize::from(b - b'0'))
    })
}

/// `s` without leading and trailing spaces and tabs.
fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_body_is_framed_with_trailers() {
        let req = b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET";
        let Parsed::Complete(r) = parse(req) else {
            panic!("not complete")
        };
        assert_eq!(r.len, req.len() - 3);
        assert!(matches!(parse(&req[..req.len() - 6]), Parsed::Partial));
    }

    #[test]
    fn conflicting_framing_is_invalid() {
        let req = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(req), Parsed::Invalid(400)));
        let req = b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n";
        assert!(matches!(parse(req), Parsed::Invalid(400)));
    }

    #[test]
    fn http10_closes_unless_keep_alive() {
        let Parsed::Complete(r) = parse(b"GET / HTTP/1.0\r\n\r\n") else {
            panic!()
        };
        assert!(!r.keep_alive);
        let Parsed::Complete(r) = parse(b"GET /x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        else {
            panic!()
        };
        assert!(r.keep_alive);
        assert_eq!(r.path, b"/x");
    }
}
