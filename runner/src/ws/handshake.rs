//! The HTTP/1.1 Upgrade handshake that turns a connection into a WebSocket.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use super::WsError;

/// The GUID RFC 6455 appends to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest upgrade response head accepted before giving up on the server.
pub const MAX_HEAD: usize = 16 * 1024;

/// The client's upgrade request for `path` (empty means `/`) on `host`.
pub fn upgrade_request(host: &str, path: &str, key: &[u8; 16]) -> Vec<u8> {
    let path = if path.is_empty() { "/" } else { path };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        STANDARD.encode(key)
    )
    .into_bytes()
}

/// The `Sec-WebSocket-Key` value (base64) for raw key bytes.
pub fn key_base64(key: &[u8; 16]) -> String {
    STANDARD.encode(key)
}

/// The `Sec-WebSocket-Accept` value a server must answer to `key_b64` (the
/// client's `Sec-WebSocket-Key` as sent); `gcannon serve` answers with it too.
pub fn expected_accept(key_b64: impl AsRef<[u8]>) -> String {
    let mut h = Sha1::new();
    h.update(key_b64.as_ref());
    h.update(GUID.as_bytes());
    STANDARD.encode(h.finalize())
}

/// Length of the response head (through `\r\n\r\n`) once complete, `None` while
/// more bytes are needed; an error when it exceeds [`MAX_HEAD`].
pub fn parse_upgrade_response(buf: &[u8]) -> Result<Option<usize>, WsError> {
    match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) if i + 4 <= MAX_HEAD => Ok(Some(i + 4)),
        Some(_) => Err(WsError::HeadTooLarge(MAX_HEAD)),
        None if buf.len() >= MAX_HEAD => Err(WsError::HeadTooLarge(MAX_HEAD)),
        None => Ok(None),
    }
}

/// Checks a complete upgrade response head: status 101, `Upgrade: websocket`,
/// `Connection: Upgrade` and the expected `Sec-WebSocket-Accept`.
pub fn check_upgrade_response(head: &[u8], expected_accept: &str) -> Result<(), WsError> {
    let head = std::str::from_utf8(head).map_err(|_| WsError::BadResponse("head is not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        return Err(WsError::BadResponse("no status line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(WsError::BadResponse("status line is not HTTP/1.x"));
    }
    let code: u16 = match code.parse() {
        Ok(c) if code.len() == 3 => c,
        _ => return Err(WsError::BadResponse("status code is not three digits")),
    };
    if code != 101 {
        return Err(WsError::NotSwitching(code));
    }
    let (mut upgrade, mut connection, mut accept) = (false, false, None);
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(WsError::BadResponse("header line without ':'"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("upgrade") {
            upgrade |= has_token(value, "websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            connection |= has_token(value, "upgrade");
        } else if name.eq_ignore_ascii_case("sec-websocket-accept") {
            accept = Some(value);
        }
    }
    if !upgrade {
        return Err(WsError::MissingUpgrade);
    }
    if !connection {
        return Err(WsError::MissingConnectionUpgrade);
    }
    match accept {
        Some(a) if a == expected_accept => Ok(()),
        got => Err(WsError::BadAccept {
            expected: expected_accept.to_owned(),
            got: got.unwrap_or("").to_owned(),
        }),
    }
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
fn has_token(value: &str, token: &str) -> bool {
    value
        .split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    #[test]
    fn rfc_example_accept() {
        assert_eq!(expected_accept(RFC_KEY), RFC_ACCEPT);
    }

    #[test]
    fn request_has_all_headers() {
        let key = *b"the sample nonce";
        assert_eq!(key_base64(&key), RFC_KEY);
        let req = String::from_utf8(upgrade_request("h:1", "/chat", &key)).unwrap();
        assert_eq!(
            req,
            "GET /chat HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        assert!(upgrade_request("h", "", &key).starts_with(b"GET / HTTP/1.1\r\n"));
    }

    fn response(status: &str, headers: &str) -> String {
        format!("HTTP/1.1 {status}\r\n{headers}\r\n")
    }

    #[test]
    fn accepts_a_good_response_case_insensitively() {
        let r = response(
            "101 Switching Protocols",
            "upgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\nSEC-WEBSOCKET-ACCEPT: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n",
        );
        assert_eq!(check_upgrade_response(r.as_bytes(), RFC_ACCEPT), Ok(()));
    }

    #[test]
    fn rejects_bad_responses() {
        let good_h = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";
        let check = |s: &str| check_upgrade_response(s.as_bytes(), RFC_ACCEPT);
        assert_eq!(
            check(&response("200 OK", good_h)),
            Err(WsError::NotSwitching(200))
        );
        assert_eq!(
            check(&response(
                "101 x",
                "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            )),
            Err(WsError::MissingUpgrade)
        );
        assert_eq!(
            check(&response(
                "101 x",
                "Upgrade: websocket\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            )),
            Err(WsError::MissingConnectionUpgrade)
        );
        assert_eq!(
            check(&response(
                "101 x",
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n"
            )),
            Err(WsError::BadAccept {
                expected: RFC_ACCEPT.into(),
                got: "nope".into()
            })
        );
        assert!(matches!(
            check(&response(
                "101 x",
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            )),
            Err(WsError::BadAccept { .. })
        ));
        assert!(matches!(
            check("garbage\r\n\r\n"),
            Err(WsError::BadResponse(_))
        ));
        assert!(matches!(
            check("HTTP/1.1 1x1 A\r\n\r\n"),
            Err(WsError::BadResponse(_))
        ));
    }

    #[test]
    fn head_length_found_incrementally() {
        let r = response("101 Switching Protocols", "Upgrade: websocket\r\n");
        let mut full = r.clone().into_bytes();
        full.extend_from_slice(b"\x81\x02hi");
        for cut in 0..r.len() {
            assert_eq!(parse_upgrade_response(&full[..cut]), Ok(None));
        }
        assert_eq!(parse_upgrade_response(&full), Ok(Some(r.len())));
        assert_eq!(
            parse_upgrade_response(&vec![b'a'; MAX_HEAD]),
            Err(WsError::HeadTooLarge(MAX_HEAD))
        );
    }
}
