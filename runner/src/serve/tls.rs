//! `serve --tls`: decrypt what a connection reads into its input buffer and
//! encrypt its output on the way to the socket.

use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

use super::conn::{ServerConn, OUT_KEEP};

/// Plaintext the server reads per receive at most.
const READ_CHUNK: usize = 16 * 1024;

/// rustls writes ciphertext straight to the non-blocking socket.
struct Sock(RawFd);

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: sends from a live slice of the given length.
        let n = unsafe { libc::send(self.0, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Ciphertext is waiting for the socket (handshake messages, alerts, records).
pub fn wants_write(c: &ServerConn) -> bool {
    c.tls.as_ref().is_some_and(|t| t.wants_write())
}

/// Read once and decrypt into `inbuf`; false when the connection must close.
pub fn read(c: &mut ServerConn) -> bool {
    let Some(t) = c.tls.as_mut() else {
        return false;
    };
    let mut wire = [0u8; READ_CHUNK];
    // SAFETY: reads at most wire.len() bytes into a live stack buffer.
    let n = unsafe { libc::recv(c.fd.as_raw_fd(), wire.as_mut_ptr().cast(), wire.len(), 0) };
    if n < 0 {
        return super::conn::would_block();
    }
    if n == 0 {
        c.peer_eof = true;
        return true;
    }
    let mut rest = &wire[..n as usize];
    while !rest.is_empty() {
        if t.read_tls(&mut rest).is_err() {
            return false;
        }
        if t.process_new_packets().is_err() {
            // Send the alert rustls queued, then close.
            let _ = t.write_tls(&mut Sock(c.fd.as_raw_fd()));
            return false;
        }
        match t.reader().read_to_end(&mut c.inbuf) {
            Ok(_) => c.peer_eof = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return false,
        }
    }
    true
}

/// Encrypt buffered output and write what the socket takes; false on a dead peer.
pub fn flush(c: &mut ServerConn) -> bool {
    let Some(t) = c.tls.as_mut() else {
        return false;
    };
    let mut sock = Sock(c.fd.as_raw_fd());
    loop {
        if c.wpos < c.out.len() {
            match t.writer().write(&c.out[c.wpos..]) {
                Ok(n) => c.wpos += n,
                Err(_) => return false,
            }
        }
        if !t.wants_write() {
            break;
        }
        match t.write_tls(&mut sock) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return true
            }
            Err(_) => return false,
        }
    }
    c.out.clear();
    c.wpos = 0;
    if c.out.capacity() > OUT_KEEP {
        c.out = Vec::new();
    }
    true
}
