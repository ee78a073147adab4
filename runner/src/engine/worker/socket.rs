//! A connection slot's socket life: open and connect, close, reconnect with
//! back-off, and the periodic scan that times out silent connections.

use std::net::SocketAddr;

use io_uring::{opcode, types};

use super::{Cause, ErrorKind, Worker};
use crate::engine::config::{RETRY_MAX, RETRY_MIN};
use crate::engine::conn::State;
use crate::engine::user_data::{pack, Kind};

/// The target address in the form `connect(2)` takes, kept at a stable address.
pub(super) struct SockAddr {
    storage: Box<libc::sockaddr_storage>,
    len: libc::socklen_t,
    family: libc::c_int,
}

impl Worker {
    /// Start a new socket in slot `i` and connect it.
    pub(super) fn open(&mut self, i: usize, now: u64) {
        // SAFETY: plain socket(2) call; the result is checked.
        let fd =
            unsafe { libc::socket(self.addr.family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            self.connect_failed(i, now, Cause::Os(errno));
            return;
        }
        let one: libc::c_int = 1;
        // SAFETY: valid fd and a pointer to a live c_int of the given size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                4,
            );
        }
        if self.fixed_files {
            // One register call per connect buys every later send and receive
            // on this socket a lookup without reference counting. The socket
            // replaced in the slot (already shut down and closed) goes with it.
            if let Err(e) = self.ring.submitter().register_files_update(i as u32, &[fd]) {
                // SAFETY: we own this fresh fd and nothing else refers to it.
                unsafe { libc::close(fd) };
                self.connect_failed(i, now, Cause::Os(e.raw_os_error().unwrap_or(0)));
                return;
            }
        }
        let c = &mut self.conns[i];
        c.fd = fd;
        c.state = State::Connecting;
        c.last_rx = now;
        c.parser.set_head(self.plan.requests[c.template].head);
        let (addr, len) = (
            (&*self.addr.storage as *const libc::sockaddr_storage).cast(),
            self.addr.len,
        );
        let sqe = on_socket!(self, i, |s| opcode::Connect::new(s, addr, len).build())
            .user_data(pack(Kind::Connect, self.conns[i].generation, i as u32));
        self.push(sqe);
    }

    /// Close slot `i`'s socket (if any) and forget its requests. In the open
    /// model, requests handed to it but never written count as unsent.
    pub(super) fn close(&mut self, i: usize) {
        if self.plan.schedule.is_some() {
            let ms = self.measure_start;
            self.report.counts.unsent +=
                self.conns[i].unsent_intended().filter(|&t| t >= ms).count() as u64;
        }
        let c = &mut self.conns[i];
        if c.fd >= 0 {
            // SAFETY: we own this fd. shutdown wakes the armed multishot receive so
            // the kernel drops its reference; its completion is then stale and ignored.
            unsafe {
                libc::shutdown(c.fd, libc::SHUT_RDWR);
                libc::close(c.fd);
            }
        }
        c.reset();
    }

    /// Close and connect again at once, rotating to the next template.
    pub(super) fn reconnect(&mut self, i: usize, now: u64) {
        self.close(i);
        let templates = self.plan.requests.len();
        let c = &mut self.conns[i];
        c.template = (c.template + 1) % templates;
        if now >= self.measure_start {
            self.report.counts.reconnects += 1;
        }
        self.open(i, now);
    }

    pub(super) fn connect_failed(&mut self, i: usize, now: u64, cause: Cause) {
        if now >= self.measure_start {
            self.report.counts.errors.connect += 1;
        }
        self.note_error(ErrorKind::Connect, cause, now >= self.measure_start);
        self.retry_later(i, now);
    }

    /// Close slot `i` and connect again after a back-off that grows with failures.
    pub(super) fn retry_later(&mut self, i: usize, now: u64) {
        self.close(i);
        let c = &mut self.conns[i];
        c.failures = (c.failures + 1).min(16);
        let backoff = (RETRY_MIN.as_nanos() as u64) << (c.failures - 1).min(8);
        c.retry_at = now + backoff.min(RETRY_MAX.as_nanos() as u64);
    }

    /// Reconnect slots whose back-off has passed; time out silent connections.
    pub(super) fn scan(&mut self, now: u64) {
        let timeout = self.plan.timeout.as_nanos() as u64;
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            match c.state {
                State::Waiting if now >= c.retry_at => self.open(i, now),
                State::Connecting if now.saturating_sub(c.last_rx) > timeout => {
                    self.connect_failed(i, now, Cause::Text("not connected within the timeout"))
                }
                State::Handshaking if now.saturating_sub(c.last_rx) > timeout => {
                    // TCP is up, so this is the TLS server's silence, not a connect error.
                    let why = format!(
                        "handshake timeout: no TLS answer within {:?} (a server that accepts TCP but does not speak TLS?)",
                        self.plan.timeout
                    );
                    self.tls_failed(i, now, why)
                }
                State::Upgrading if now.saturating_sub(c.last_rx) > timeout => self.connect_failed(
                    i,
                    now,
                    Cause::Text("no WebSocket upgrade within the timeout"),
                ),
                State::Open => {
                    // The whole life of the oldest request, not the silence since
                    // the last byte: a server dripping a byte at a time (or
                    // endless `1xx` interim responses) must not hold it forever.
                    let stalled = c
                        .oldest_sent()
                        .is_some_and(|t| now.saturating_sub(t) > timeout);
                    if stalled {
                        let lost = self.lost_in_flight(i);
                        self.report.counts.errors.timeout += lost;
                        self.note_error(
                            ErrorKind::Timeout,
                            Cause::Text("no response within the timeout"),
                            lost > 0,
                        );
                        self.reconnect(i, now);
                    }
                }
                _ => {}
            }
        }
    }
}

impl SockAddr {
    pub(super) fn new(addr: SocketAddr) -> Self {
        // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
        let mut storage: Box<libc::sockaddr_storage> = Box::new(unsafe { std::mem::zeroed() });
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
                unsafe {
                    std::ptr::write((&mut *storage as *mut libc::sockaddr_storage).cast(), sin)
                };
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
                unsafe {
                    std::ptr::write((&mut *storage as *mut libc::sockaddr_storage).cast(), sin6)
                };
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        let family = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        Self {
            storage,
            len: len as libc::socklen_t,
            family,
        }
    }
}
