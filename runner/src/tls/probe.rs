//! One blocking TLS handshake before any load, so that a certificate the
//! client will refuse, a TLS alert or a plaintext server is one clear line
//! instead of a run full of counted errors.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use rustls::ClientConnection;

use super::{describe, ClientSetup, TlsError};

/// Longest the probe waits for connect and each read.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Handshake once with `addr`. A server that does not accept TCP connections
/// is not judged here: the run counts connect errors as it always does.
pub fn probe(setup: &ClientSetup, addr: SocketAddr) -> Result<(), TlsError> {
    let Ok(mut sock) = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return Ok(());
    };
    let _ = sock.set_read_timeout(Some(PROBE_TIMEOUT));
    let _ = sock.set_write_timeout(Some(PROBE_TIMEOUT));
    let fail = |why: String| Err(TlsError::Handshake(addr.to_string(), why));
    let mut conn = match ClientConnection::new(setup.config.clone(), setup.name.clone()) {
        Ok(c) => c,
        Err(e) => return fail(describe(&e, &setup.plan)),
    };
    while conn.is_handshaking() {
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return fail("the server closed the connection during the handshake".into())
            }
            Ok(_) => {}
            Err(e) => {
                let why = match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                    Some(tls) => describe(tls, &setup.plan),
                    None if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        "the server closed the connection during the handshake".into()
                    }
                    None if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                    {
                        format!(
                            "handshake timeout: no TLS answer within {PROBE_TIMEOUT:?} (a server that accepts TCP but does not speak TLS?)"
                        )
                    }
                    None => e.to_string(),
                };
                return fail(why);
            }
        }
    }
    // Say goodbye properly; the server's answer does not matter.
    conn.send_close_notify();
    let _ = conn.write_tls(&mut sock);
    let _ = sock.flush();
    let _ = sock.read(&mut [0u8; 1]);
    Ok(())
}
