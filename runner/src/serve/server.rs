//! One serving thread: its listener, its epoll loop, its connections and timers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::conn::{
    epoll_ctl, flush, strip_body, would_block, ConnStage, LastRequest, Pending, ServerConn,
    LAST_MAX, OUT_KEEP,
};
use super::request::{self, Parsed};
use super::routes::{self, Route};
use super::ws;
use super::Shared;

/// epoll token of the listener.
const LISTENER: u64 = u64::MAX;
/// epoll token of the shutdown eventfd.
const WAKE: u64 = u64::MAX - 1;
/// Initial read buffer per connection.
const READ_BUF: usize = 8 * 1024;
/// Unsent output above which we stop reading (back-pressure).
const OUT_HIGH: usize = 1024 * 1024;
/// How long a closing connection may linger for the peer's FIN.
const DRAIN_NS: u64 = 2_000_000_000;
/// How long accepting pauses when the process is out of descriptors.
const ACCEPT_PAUSE_NS: u64 = 100_000_000;
/// Events taken per epoll_wait.
const EVENTS: usize = 512;

/// A slab slot; `gen` tells a reused slot from its previous occupant.
struct Slot {
    gen: u32,
    conn: Option<ServerConn>,
}

/// A serving thread's whole state.
pub struct ServerWorker {
    idx: usize,
    listener: OwnedFd,
    epfd: OwnedFd,
    shared: Arc<Shared>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    timers: BinaryHeap<Reverse<(u64, u64)>>,
    served: u64,
    accepted: u64,
}

impl ServerWorker {
    /// Set up the epoll instance watching `listener` and the shutdown eventfd.
    pub fn new(idx: usize, listener: OwnedFd, shared: Arc<Shared>) -> io::Result<Self> {
        // SAFETY: epoll_create1 has no memory preconditions; checked below.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if ep < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: ep is a fresh descriptor that nothing else owns.
        let epfd = unsafe { OwnedFd::from_raw_fd(ep) };
        epoll_ctl(
            ep,
            libc::EPOLL_CTL_ADD,
            listener.as_raw_fd(),
            libc::EPOLLIN as u32,
            LISTENER,
        )?;
        epoll_ctl(
            ep,
            libc::EPOLL_CTL_ADD,
            shared.wake.as_raw_fd(),
            libc::EPOLLIN as u32,
            WAKE,
        )?;
        Ok(Self {
            idx,
            listener,
            epfd,
            shared,
            slots: Vec::new(),
            free: Vec::new(),
            timers: BinaryHeap::new(),
            served: 0,
            accepted: 0,
        })
    }

    /// Serve until the shutdown eventfd fires.
    pub fn run(mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            if let Some(left) = self.stalled() {
                // Stalled: touch nothing, only watch for shutdown.
                let mut p = libc::pollfd {
                    fd: self.shared.wake.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = left.div_ceil(1_000_000).min(i32::MAX as u64) as i32;
                // SAFETY: p is one valid pollfd that lives across the call.
                if unsafe { libc::poll(&mut p, 1, ms) } > 0 {
                    return;
                }
                continue;
            }
            let timeout = match self.timers.peek() {
                None => -1,
                Some(Reverse((at, _))) => {
                    let now = self.shared.now_ns();
                    at.saturating_sub(now)
                        .div_ceil(1_000_000)
                        .min(i32::MAX as u64) as i32
                }
            };
            // SAFETY: events has EVENTS initialised entries the kernel may fill.
            let n = unsafe {
                libc::epoll_wait(
                    self.epfd.as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS as i32,
                    timeout,
                )
            };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            for ev in &events[..n as usize] {
                // Level-triggered: events skipped during a stall are reported again.
                if self.stalled().is_some() {
                    break;
                }
                let (token, flags) = (ev.u64, ev.events);
                match token {
                    WAKE => return,
                    LISTENER => self.accept_all(),
                    t => self.on_conn_event(t, flags),
                }
            }
            if self.stalled().is_none() {
                self.fire_timers();
            }
        }
    }

    /// Remaining stall in nanoseconds, if the server is stalled now.
    fn stalled(&self) -> Option<u64> {
        let until = self.shared.stall_until.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let now = self.shared.now_ns();
        if now < until {
            return Some(until - now);
        }
        // Over: clear it so later events skip the clock read (a newer stall wins the race).
        let _ = self.shared.stall_until.compare_exchange(
            until,
            0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        None
    }

    fn publish(&self) {
        self.shared.counters[self.idx]
            .0
            .store(self.served, Ordering::Relaxed);
    }

    fn accept_all(&mut self) {
        loop {
            // SAFETY: null address pointers are allowed; flags make the socket non-blocking.
            let fd = unsafe {
                libc::accept4(
                    self.listener.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                let err = io::Error::last_os_error().raw_os_error();
                if matches!(
                    err,
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
                ) {
                    // Out of descriptors: a level-triggered listener would spin; pause it.
                    self.set_listener(0);
                    let at = self.shared.now_ns() + ACCEPT_PAUSE_NS;
                    self.timers.push(Reverse((at, LISTENER)));
                }
                return;
            }
            // SAFETY: accept4 returned a fresh descriptor that we now own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let one: libc::c_int = 1;
            // SAFETY: passes a live c_int of the size given.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            let idx = match self.free.pop() {
                Some(i) => i as usize,
                None => {
                    self.slots.push(Slot { gen: 0, conn: None });
                    self.slots.len() - 1
                }
            };
            let slot = &mut self.slots[idx];
            slot.gen = slot.gen.wrapping_add(1);
            let token = (u64::from(slot.gen) << 32) | idx as u64;
            let interest = libc::EPOLLIN as u32;
            if epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                interest,
                token,
            )
            .is_err()
            {
                self.free.push(idx as u32);
                continue;
            }
            let tls = match &self.shared.tls {
                Some(cfg) => match rustls::ServerConnection::new(cfg.clone()) {
                    Ok(s) => Some(Box::new(s)),
                    Err(_) => continue,
                },
                None => None,
            };
            slot.conn = Some(ServerConn {
                tls,
                fd,
                inbuf: Vec::with_capacity(READ_BUF),
                rpos: 0,
                out: Vec::new(),
                wpos: 0,
                pending: None,
                ws: None,
                stage: ConnStage::Open,
                peer_eof: false,
                interest,
                id: (self.idx as u64) << 48 | self.accepted,
                last: None,
            });
            self.accepted += 1;
        }
    }

    /// Set the listener's epoll interest (0 pauses accepting).
    fn set_listener(&self, events: u32) {
        let _ = epoll_ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_MOD,
            self.listener.as_raw_fd(),
            events,
            LISTENER,
        );
    }

    /// The connection behind `token`, if it is still the same one.
    fn take(&mut self, token: u64) -> Option<(usize, ServerConn)> {
        let idx = (token & 0xffff_ffff) as usize;
        let slot = self.slots.get_mut(idx)?;
        if u64::from(slot.gen) != token >> 32 {
            return None;
        }
        slot.conn.take().map(|c| (idx, c))
    }

    /// Put a connection back, or free its slot (closing it) when `keep` is false.
    fn put(&mut self, idx: usize, conn: ServerConn, keep: bool) {
        if keep {
            self.slots[idx].conn = Some(conn);
        } else {
            drop(conn);
            self.free.push(idx as u32);
        }
    }

    fn on_conn_event(&mut self, token: u64, flags: u32) {
        let Some((idx, mut c)) = self.take(token) else {
            return;
        };
        let mut keep = flags & (libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0;
        if keep && flags & libc::EPOLLIN as u32 != 0 {
            keep = self.read(&mut c);
        }
        if keep {
            keep = self.progress(&mut c, token);
        }
        self.put(idx, c, keep);
    }

    /// Read once and serve what arrived; false when the connection must close.
    fn read(&mut self, c: &mut ServerConn) -> bool {
        if let ConnStage::Draining(_) = c.stage {
            let mut scratch = [0u8; 4096];
            // SAFETY: reads at most scratch.len() bytes into a live stack buffer.
            let n = unsafe { libc::recv(c.fd.as_raw_fd(), scratch.as_mut_ptr().cast(), 4096, 0) };
            return n < 0 && would_block();
        }
        if c.tls.is_some() {
            if !super::tls::read(c) {
                return false;
            }
            self.serve_input(c);
            return true;
        }
        if c.inbuf.capacity() - c.inbuf.len() < READ_BUF / 4 {
            c.inbuf.reserve(c.inbuf.capacity().max(READ_BUF));
        }
        let spare = c.inbuf.spare_capacity_mut();
        // SAFETY: the kernel writes at most spare.len() bytes into the spare capacity.
        let n = unsafe { libc::recv(c.fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len(), 0) };
        if n < 0 {
            return would_block();
        }
        if n == 0 {
            c.peer_eof = true;
            return true;
        }
        // SAFETY: recv initialised the first n bytes of the spare capacity.
        unsafe { c.inbuf.set_len(c.inbuf.len() + n as usize) };
        self.serve_input(c);
        true
    }

    /// Answer every complete request (or WebSocket frame) buffered on `c`.
    fn serve_input(&mut self, c: &mut ServerConn) {
        let conn_id = c.id;
        while c.pending.is_none() && c.stage == ConnStage::Open && c.out.len() - c.wpos < OUT_HIGH {
            let ServerConn {
                inbuf,
                rpos,
                out,
                last,
                ..
            } = c;
            let buf = &mut inbuf[*rpos..];
            if buf.is_empty() {
                break;
            }
            if let Some(state) = c.ws.as_mut() {
                let p = ws::process(state, buf, out);
                *rpos += p.consumed;
                if p.close {
                    c.stage = ConnStage::CloseAfterFlush;
                }
                break;
            }
            let repeat = last.as_deref().filter(|l| buf.starts_with(&l.bytes));
            let (len, route, keep_alive, head_only, ws_key) = match repeat {
                Some(l) => (l.bytes.len(), l.route, l.keep_alive, l.head_only, None),
                None => match request::parse(buf) {
                    Parsed::Partial => break,
                    Parsed::Invalid(status) => {
                        routes::simple(out, status, b"text/plain", b"bad request\n", false);
                        c.stage = ConnStage::CloseAfterFlush;
                        break;
                    }
                    Parsed::Complete(req) => {
                        let route = routes::route(req.path);
                        let head_only = req.method == b"HEAD";
                        if route.is_pure() && req.len <= LAST_MAX {
                            let l = last.get_or_insert_with(|| {
                                Box::new(LastRequest {
                                    bytes: Vec::with_capacity(req.len),
                                    route,
                                    keep_alive: req.keep_alive,
                                    head_only,
                                })
                            });
                            l.bytes.clear();
                            l.bytes.extend_from_slice(&buf[..req.len]);
                            (l.route, l.keep_alive, l.head_only) =
                                (route, req.keep_alive, head_only);
                        }
                        let ws_key = req.ws_key.filter(|_| req.ws_upgrade);
                        (req.len, route, req.keep_alive, head_only, ws_key)
                    }
                },
            };
            if let Some(rec) = &self.shared.recorder {
                rec.push(conn_id, &buf[..len]);
            }
            let start = out.len();
            if route != Route::Stats {
                self.served += 1;
            }
            match route {
                Route::Hello => routes::hello(out, keep_alive),
                Route::Json => routes::json(out, keep_alive),
                Route::Status(code) => routes::status(out, code, keep_alive),
                Route::Bytes(n) => routes::bytes(out, n, keep_alive),
                Route::Chunked(n) => routes::chunked(out, n, keep_alive),
                Route::Echo => {
                    let raw = &inbuf[*rpos..*rpos + len];
                    routes::simple(out, 200, b"application/octet-stream", raw, keep_alive);
                }
                Route::Delay(ms) | Route::Stall(ms) => {
                    let deadline = self.shared.now_ns() + ms * 1_000_000;
                    if matches!(route, Route::Stall(_)) {
                        self.shared
                            .stall_until
                            .fetch_max(deadline, Ordering::Relaxed);
                    }
                    c.pending = Some(Pending {
                        deadline,
                        keep_alive,
                        head_only,
                    });
                }
                Route::Ws => match ws_key {
                    Some(key) => {
                        routes::ws_accept(out, key);
                        c.ws = Some(Box::default());
                    }
                    None => {
                        routes::simple(out, 400, b"text/plain", b"not a websocket upgrade\n", false)
                    }
                },
                Route::Stats => {
                    self.publish();
                    let total = self.shared.total_requests();
                    routes::stats(out, total, keep_alive);
                }
                Route::BadParam => {
                    routes::simple(out, 400, b"text/plain", b"bad parameter\n", keep_alive)
                }
                Route::NotFound => {
                    routes::simple(out, 404, b"text/plain", b"not found\n", keep_alive)
                }
            }
            if head_only {
                strip_body(out, start);
            }
            if route == Route::Ws && c.ws.is_none() || !keep_alive && c.pending.is_none() {
                c.stage = ConnStage::CloseAfterFlush;
            }
            *rpos += len;
        }
        if c.rpos == c.inbuf.len() {
            c.inbuf.clear();
            c.rpos = 0;
            if c.inbuf.capacity() > OUT_KEEP {
                c.inbuf = Vec::with_capacity(READ_BUF);
            }
        } else if c.rpos > 0 {
            c.inbuf.copy_within(c.rpos.., 0);
            c.inbuf.truncate(c.inbuf.len() - c.rpos);
            c.rpos = 0;
        }
    }

    /// Flush, advance closing states and set epoll interest; false to close now.
    fn progress(&mut self, c: &mut ServerConn, token: u64) -> bool {
        loop {
            // Count before answering so a client never sees a response /stats misses.
            self.publish();
            if !flush(c) {
                return false;
            }
            if c.wpos != c.out.len() || super::tls::wants_write(c) {
                break;
            }
            match c.stage {
                ConnStage::CloseAfterFlush => {
                    // Half-close and drain so unread input cannot turn our close into a reset.
                    // SAFETY: shutdown on a descriptor we own.
                    unsafe { libc::shutdown(c.fd.as_raw_fd(), libc::SHUT_WR) };
                    if c.peer_eof {
                        return false;
                    }
                    let at = self.shared.now_ns() + DRAIN_NS;
                    c.stage = ConnStage::Draining(at);
                    self.timers.push(Reverse((at, token)));
                    break;
                }
                ConnStage::Draining(_) => break,
                ConnStage::Open if c.peer_eof && c.pending.is_none() => return false,
                ConnStage::Open => {
                    // Output drained below the mark: serve input held back by back-pressure.
                    let before = (c.rpos, c.inbuf.len(), c.out.len());
                    if c.pending.is_none() && !c.inbuf.is_empty() {
                        self.serve_input(c);
                    }
                    if (c.rpos, c.inbuf.len(), c.out.len()) == before {
                        break;
                    }
                }
            }
        }
        if let Some(p) = &c.pending {
            self.timers.push(Reverse((p.deadline, token)));
        }
        let out_left = c.out.len() - c.wpos;
        let mut want = 0u32;
        let reading = match c.stage {
            ConnStage::Draining(_) => true,
            ConnStage::Open => !c.peer_eof && c.pending.is_none() && out_left < OUT_HIGH,
            ConnStage::CloseAfterFlush => false,
        };
        if reading {
            want |= libc::EPOLLIN as u32;
        }
        if out_left > 0 || super::tls::wants_write(c) {
            want |= libc::EPOLLOUT as u32;
        }
        if want != c.interest {
            c.interest = want;
            if epoll_ctl(
                self.epfd.as_raw_fd(),
                libc::EPOLL_CTL_MOD,
                c.fd.as_raw_fd(),
                want,
                token,
            )
            .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Answer due delayed responses and close connections whose drain expired.
    fn fire_timers(&mut self) {
        let now = self.shared.now_ns();
        while let Some(&Reverse((at, token))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if token == LISTENER {
                self.set_listener(libc::EPOLLIN as u32);
                continue;
            }
            let Some((idx, mut c)) = self.take(token) else {
                continue;
            };
            let keep = match (&c.pending, c.stage) {
                (Some(p), _) if p.deadline <= now => {
                    let (keep_alive, head_only) = (p.keep_alive, p.head_only);
                    c.pending = None;
                    let start = c.out.len();
                    routes::simple(&mut c.out, 200, b"text/plain", b"OK\n", keep_alive);
                    if head_only {
                        strip_body(&mut c.out, start);
                    }
                    if !keep_alive {
                        c.stage = ConnStage::CloseAfterFlush;
                    }
                    self.serve_input(&mut c);
                    self.progress(&mut c, token)
                }
                (_, ConnStage::Draining(d)) => d > now,
                _ => true,
            };
            self.put(idx, c, keep);
        }
    }
}
