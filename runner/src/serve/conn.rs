//! One connection's state and the socket calls on it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::routes::Route;
use super::ws::WsState;

/// Buffer capacity kept once a buffer empties; larger ones are released.
pub const OUT_KEEP: usize = 256 * 1024;

/// A response held back by `/delay` or `/stall`, blocking the pipeline behind it.
pub struct Pending {
    /// When to answer, in nanoseconds since the server's base instant.
    pub deadline: u64,
    /// Keep the connection open after answering.
    pub keep_alive: bool,
    /// Answer a `HEAD`: head only.
    pub head_only: bool,
}

/// Where a connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ConnStage {
    /// Serving requests.
    Open,
    /// Write what is buffered, then half-close.
    CloseAfterFlush,
    /// Half-closed; discarding input until the peer's FIN or the deadline.
    Draining(u64),
}

/// One accepted connection.
pub struct ServerConn {
    /// The socket; closed on drop.
    pub fd: OwnedFd,
    /// Received bytes; unconsumed input starts at `rpos`.
    pub inbuf: Vec<u8>,
    /// Start of unconsumed input in `inbuf`.
    pub rpos: usize,
    /// Responses not yet written; unsent output starts at `wpos`.
    pub out: Vec<u8>,
    /// Start of unsent output in `out`.
    pub wpos: usize,
    /// A delayed answer holding back the pipeline.
    pub pending: Option<Pending>,
    /// WebSocket state once upgraded.
    pub ws: Option<Box<WsState>>,
    /// Open or closing.
    pub stage: ConnStage,
    /// The peer has shut down its sending side.
    pub peer_eof: bool,
    /// epoll events currently registered.
    pub interest: u32,
    /// Thread index and accept count: names the connection in recordings.
    pub id: u64,
    /// TLS session (`serve --tls`); `inbuf` and `out` then hold plaintext.
    pub tls: Option<Box<rustls::ServerConnection>>,
    /// The last request answered without side effects, byte for byte.
    pub last: Option<Box<LastRequest>>,
}

/// A request and its answer, kept because a pipelining client repeats one
/// request: comparing its bytes replaces parsing it (the client's header cache,
/// mirrored). Parsing depends on nothing but these bytes, so a match answers alike.
pub struct LastRequest {
    /// The whole request: head and body.
    pub bytes: Vec<u8>,
    /// Which route answers it.
    pub route: Route,
    /// The connection stays open after the answer.
    pub keep_alive: bool,
    /// A `HEAD`: the answer's head only.
    pub head_only: bool,
}

/// Largest request kept as [`LastRequest`]: bounds the memory and the comparison.
pub const LAST_MAX: usize = 1024;

/// Write as much buffered output as the socket takes; false on a dead peer.
pub fn flush(c: &mut ServerConn) -> bool {
    if c.tls.is_some() {
        return super::tls::flush(c);
    }
    while c.wpos < c.out.len() {
        let rest = &c.out[c.wpos..];
        // SAFETY: sends from a live slice of the given length.
        let n = unsafe {
            libc::send(
                c.fd.as_raw_fd(),
                rest.as_ptr().cast(),
                rest.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            return would_block();
        }
        c.wpos += n as usize;
    }
    c.out.clear();
    c.wpos = 0;
    if c.out.capacity() > OUT_KEEP {
        c.out = Vec::new();
    }
    true
}

/// Drop the body of the response starting at `start` (a HEAD answer keeps only the head).
pub fn strip_body(out: &mut Vec<u8>, start: usize) {
    if let Some(end) = out[start..].windows(4).position(|w| w == b"\r\n\r\n") {
        out.truncate(start + end + 4);
    }
}

/// The last error was EAGAIN (or EINTR): try again later.
pub fn would_block() -> bool {
    matches!(
        io::Error::last_os_error().kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

pub fn epoll_ctl(ep: RawFd, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: ev is a valid epoll_event for the duration of the call.
    if unsafe { libc::epoll_ctl(ep, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
