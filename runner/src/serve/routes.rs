//! The served routes: which path means what, and the response bytes for each.

use super::request::parse_decimal;

/// Body of `/`.
pub const HELLO_BODY: &[u8] = b"Hello, World!";
/// Body of `/json`.
pub const JSON_BODY: &[u8] = b"{\"message\":\"Hello, World!\"}";
/// Largest `/bytes` and `/chunked` body.
pub const MAX_GEN_BODY: usize = 64 * 1024 * 1024;
/// Longest `/delay` and `/stall`, in milliseconds.
pub const MAX_DELAY_MS: u64 = 600_000;
/// Chunk size of `/chunked` bodies.
const CHUNK: usize = 1000;

/// Pre-built keep-alive response of `/`.
const HELLO_KA: &[u8] = b"HTTP/1.1 200 OK\r\nServer: gcannon\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
/// Pre-built keep-alive response of `/json`.
const JSON_KA: &[u8] = b"HTTP/1.1 200 OK\r\nServer: gcannon\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"message\":\"Hello, World!\"}";
/// Filler for `/bytes` and `/chunked` bodies.
const FILL: &[u8; CHUNK] = &[b'x'; CHUNK];

/// What a request path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/`
    Hello,
    /// `/json`
    Json,
    /// `/status/{code}`
    Status(u16),
    /// `/delay/{ms}`
    Delay(u64),
    /// `/bytes/{n}`
    Bytes(usize),
    /// `/chunked/{n}`
    Chunked(usize),
    /// `/echo`
    Echo,
    /// `/stall/{ms}`
    Stall(u64),
    /// `/ws`
    Ws,
    /// `/stats`
    Stats,
    /// Known route with an out-of-range or malformed parameter.
    BadParam,
    /// Anything else.
    NotFound,
}

impl Route {
    /// Answered from the request alone, with no effect on the connection or the
    /// server beyond the answer: such a request may be answered from its bytes.
    pub fn is_pure(self) -> bool {
        matches!(
            self,
            Route::Hello
                | Route::Json
                | Route::Status(_)
                | Route::Bytes(_)
                | Route::Chunked(_)
                | Route::Echo
                | Route::BadParam
                | Route::NotFound
        )
    }
}

/// Classify a request path (query already removed).
pub fn route(path: &[u8]) -> Route {
    match path {
        b"/" => return Route::Hello,
        // `/items[/{id}]` stands in for a CRUD API (examples/templates/crud-*.raw): any
        // method gets the `/json` answer and nothing is stored.
        b"/json" | b"/items" => return Route::Json,
        b"/echo" => return Route::Echo,
        b"/ws" => return Route::Ws,
        b"/stats" => return Route::Stats,
        _ => {}
    }
    let Some((prefix, arg)) = split_param(path) else {
        return Route::NotFound;
    };
    if prefix == b"items" {
        return Route::Json;
    }
    let n = parse_decimal(arg);
    match (prefix, n) {
        (b"status", Some(c)) if (200..=999).contains(&c) => Route::Status(c as u16),
        (b"delay", Some(ms)) if ms as u64 <= MAX_DELAY_MS => Route::Delay(ms as u64),
        (b"stall", Some(ms)) if ms as u64 <= MAX_DELAY_MS => Route::Stall(ms as u64),
        (b"bytes", Some(n)) if n <= MAX_GEN_BODY => Route::Bytes(n),
        (b"chunked", Some(n)) if n <= MAX_GEN_BODY => Route::Chunked(n),
        (b"status" | b"delay" | b"stall" | b"bytes" | b"chunked", _) => Route::BadParam,
        _ => Route::NotFound,
    }
}

/// `/{prefix}/{arg}` split into its two parts.
fn split_param(path: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = path.strip_prefix(b"/")?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    Some((&rest[..slash], &rest[slash + 1..]))
}

/// Append the response of `/`.
pub fn hello(out: &mut Vec<u8>, keep_alive: bool) {
    if keep_alive {
        out.extend_from_slice(HELLO_KA);
    } else {
        simple(out, 200, b"text/plain", HELLO_BODY, false);
    }
}

/// Append the response of `/json`.
pub fn json(out: &mut Vec<u8>, keep_alive: bool) {
    if keep_alive {
        out.extend_from_slice(JSON_KA);
    } else {
        simple(out, 200, b"application/json", JSON_BODY, false);
    }
}

/// Append a response with status `status` and a fixed body.
pub fn simple(out: &mut Vec<u8>, status: u16, ctype: &[u8], body: &[u8], keep_alive: bool) {
    head(out, status, keep_alive);
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(ctype);
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_num(out, body.len());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// Append the response of `/status/{code}`: no body for 204 and 304.
pub fn status(out: &mut Vec<u8>, code: u16, keep_alive: bool) {
    if code == 204 || code == 304 {
        head(out, code, keep_alive);
        out.extend_from_slice(b"\r\n");
    } else {
        simple(out, code, b"text/plain", b"", keep_alive);
    }
}

/// Append `/bytes/{n}`: `n` filler bytes.
pub fn bytes(out: &mut Vec<u8>, n: usize, keep_alive: bool) {
    head(out, 200, keep_alive);
    out.extend_from_slice(b"Content-Type: application/octet-stream\r\nContent-Length: ");
    push_num(out, n);
    out.extend_from_slice(b"\r\n\r\n");
    out.reserve(n);
    let mut left = n;
    while left > 0 {
        let k = left.min(CHUNK);
        out.extend_from_slice(&FILL[..k]);
        left -= k;
    }
}

/// Append `/chunked/{n}`: `n` bytes in 1000-byte chunks, then a trailer.
pub fn chunked(out: &mut Vec<u8>, n: usize, keep_alive: bool) {
    head(out, 200, keep_alive);
    out.extend_from_slice(b"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nTrailer: X-Gcannon-Trailer\r\n\r\n");
    out.reserve(n + n / CHUNK * 8 + 64);
    let mut left = n;
    while left > 0 {
        let k = left.min(CHUNK);
        push_hex(out, k);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&FILL[..k]);
        out.extend_from_slice(b"\r\n");
        left -= k;
    }
    out.extend_from_slice(b"0\r\nX-Gcannon-Trailer: done\r\n\r\n");
}

/// Append `/stats`.
pub fn stats(out: &mut Vec<u8>, requests: u64, keep_alive: bool) {
    let mut body = [0u8; 48];
    let mut len = 0;
    for part in [
        b"{\"requests\": ".as_slice(),
        num(requests as usize).as_bytes(),
        b"}",
    ] {
        body[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    simple(out, 200, b"application/json", &body[..len], keep_alive);
}

/// Append the `101` that accepts a WebSocket upgrade.
pub fn ws_accept(out: &mut Vec<u8>, key: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.extend_from_slice(crate::ws::handshake::expected_accept(key).as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

/// Status line, `Server` and, when closing, `Connection: close`.
fn head(out: &mut Vec<u8>, status: u16, keep_alive: bool) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_num(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status));
    out.extend_from_slice(b"\r\nServer: gcannon\r\n");
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    }
}

/// The reason phrase; any phrase is legal, common ones are nicer to read.
fn reason(status: u16) -> &'static [u8] {
    match status {
        101 => b"Switching Protocols",
        200 => b"OK",
        201 => b"Created",
        202 => b"Accepted",
        204 => b"No Content",
        301 => b"Moved Permanently",
        302 => b"Found",
        304 => b"Not Modified",
        400 => b"Bad Request",
        401 => b"Unauthorized",
        403 => b"Forbidden",
        404 => b"Not Found",
        413 => b"Content Too Large",
        429 => b"Too Many Requests",
        431 => b"Request Header Fields Too Large",
        500 => b"Internal Server Error",
        502 => b"Bad Gateway",
        503 => b"Service Unavailable",
        504 => b"Gateway Timeout",
        _ => b"Status",
    }
}

/// Decimal digits of `n` without allocating.
struct Num {
    buf: [u8; 20],
    start: usize,
}

impl Num {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn num(mut n: usize) -> Num {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Num { buf, start: i }
}

/// Append `n` in decimal.
fn push_num(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(num(n).as_bytes());
}

/// Append `n` in lowercase hex.
fn push_hex(out: &mut Vec<u8>, n: usize) {
    let digits = (usize::BITS - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(b"0123456789abcdef"[(n >> (i * 4)) & 0xf]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_classify() {
        assert_eq!(route(b"/"), Route::Hello);
        assert_eq!(route(b"/status/418"), Route::Status(418));
        assert_eq!(route(b"/status/100"), Route::BadParam);
        assert_eq!(route(b"/status/1000"), Route::BadParam);
        assert_eq!(route(b"/bytes/67108865"), Route::BadParam);
        assert_eq!(route(b"/delay/5"), Route::Delay(5));
        assert_eq!(route(b"/nope/5"), Route::NotFound);
        assert_eq!(route(b"/items"), Route::Json);
        assert_eq!(route(b"/items/4711"), Route::Json);
        assert_eq!(route(b"/itemsx"), Route::NotFound);
        assert_eq!(route(b"/jsonx"), Route::NotFound);
    }

    #[test]
    fn prebuilt_matches_generic() {
        let mut a = Vec::new();
        simple(&mut a, 200, b"text/plain", HELLO_BODY, true);
        assert_eq!(a, HELLO_KA);
        let mut b = Vec::new();
        simple(&mut b, 200, b"application/json", JSON_BODY, true);
        assert_eq!(b, JSON_KA);
    }

    #[test]
    fn hex_and_decimal() {
        let mut v = Vec::new();
        push_hex(&mut v, 1000);
        push_num(&mut v, 0);
        push_hex(&mut v, 0);
        assert_eq!(v, b"3e800");
    }
}
