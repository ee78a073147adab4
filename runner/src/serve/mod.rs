//! `gcannon serve`: the built-in HTTP/1.1 (and WebSocket echo) target.
//!
//! N threads, each with its own `SO_REUSEPORT` listener on the same address and
//! its own level-triggered epoll loop. Pipelined requests in one read are all
//! answered with one write; fixed routes never allocate per request.
//!
//! Routes (HTTP/1.1 keep-alive unless the request says otherwise; `HEAD` gets
//! the head only; the query string is ignored):
//!
//! | path | answer |
//! | --- | --- |
//! | `/` | `200`, `Hello, World!` |
//! | `/json` | `200`, small JSON object |
//! | `/items`, `/items/{id}` | `200`, the `/json` object, for any method: a stand-in CRUD API (nothing is stored) |
//! | `/status/{code}` | that status (200-999; 1xx is `400`); 204/304 bodiless |
//! | `/delay/{ms}` | `200` after `ms`, without blocking other connections; the pipeline behind it waits |
//! | `/bytes/{n}` | `200`, `n` bytes (at most 64 MiB) |
//! | `/chunked/{n}` | `200`, `n` bytes in 1000-byte chunks plus an `X-Gcannon-Trailer` trailer |
//! | `/echo` | `200`, body = the exact request bytes (head and raw body) |
//! | `/stall/{ms}` | every thread stops answering for `ms`, then catches up in order |
//! | `/ws` | WebSocket echo |
//! | `/stats` | `{"requests": N}`: requests served so far, not counting `/stats` |
//! | anything else | `404` |
//!
//! Malformed requests get `400` (`413`/`431` for oversize) and the connection
//! closes after a lingering half-close, so the answer is not lost to a reset.
//!
//! TLS (`serve --tls`): each connection gets a rustls server session; bytes
//! read are decrypted into the same input buffer and responses encrypted on
//! the way out, so routes and WebSocket echo work unchanged over TLS.
//!
//! WebSocket (`/ws`): fragmented messages are reassembled and echoed as one
//! unfragmented frame; pings get pongs; a close is answered with a close and
//! the TCP connection is then closed.

mod conn;
mod request;
mod routes;
mod server;
mod tls;
mod ws;

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};

/// Where and how wide to serve.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Number of serving threads (0 is treated as 1).
    pub threads: usize,
}

/// A request counter owned by one thread, on its own cache line.
#[repr(align(64))]
#[derive(Default)]
struct PaddedCounter(AtomicU64);

/// One request exactly as a recording server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Identifies the connection it arrived on; unique within one server.
    pub conn: u64,
    /// The whole request: head and body, byte for byte.
    pub bytes: Vec<u8>,
}

/// Keeps the first `limit` requests; absent unless asked for, so serving pays nothing.
struct Recorder {
    limit: usize,
    /// Set once `limit` is reached so later requests skip the lock.
    full: AtomicBool,
    items: Mutex<Vec<Recorded>>,
}

impl Recorder {
    /// Keep a copy of `bytes` unless `limit` requests are already kept.
    fn push(&self, conn: u64, bytes: &[u8]) {
        if self.full.load(Ordering::Relaxed) {
            return;
        }
        // A poisoned lock only means another serving thread panicked; keep serving.
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        if items.len() < self.limit {
            items.push(Recorded {
                conn,
                bytes: bytes.to_vec(),
            });
        }
        if items.len() >= self.limit {
            self.full.store(true, Ordering::Relaxed);
        }
    }
}

/// State every serving thread can see.
struct Shared {
    /// Per-thread count of served requests (excluding `/stats`).
    counters: Box<[PaddedCounter]>,
    /// Nanoseconds since `base` until which the whole server is stalled.
    stall_until: AtomicU64,
    /// Time origin for `stall_until` and timers.
    base: Instant,
    /// Written once at shutdown; every thread's epoll watches it.
    wake: OwnedFd,
    /// Request recording, when started with [`start_recording`].
    recorder: Option<Recorder>,
    /// Serve HTTPS with this configuration.
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    /// Nanoseconds elapsed since `base`.
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Sum of all per-thread request counters.
    fn total_requests(&self) -> u64 {
        self.counters
            .iter()
            .map(|c| c.0.load(Ordering::Relaxed))
            .sum()
    }
}

/// A running server; drop or [`ServerHandle::shutdown`] to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// Bind and start serving on background threads; returns once listening.
pub fn start(cfg: &ServeConfig) -> std::io::Result<ServerHandle> {
    start_with(cfg, None, None)
}

/// Like [`start`], serving HTTPS with `tls`.
pub fn start_tls(
    cfg: &ServeConfig,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<ServerHandle> {
    start_with(cfg, None, Some(tls))
}

/// Like [`start`], and also keep the first `limit` requests (HTTP only, not
/// WebSocket frames) for [`ServerHandle::recorded`]; for tests that check what
/// a client really sent.
pub fn start_recording(cfg: &ServeConfig, limit: usize) -> std::io::Result<ServerHandle> {
    let recorder = Recorder {
        limit,
        full: AtomicBool::new(limit == 0),
        items: Mutex::new(Vec::new()),
    };
    start_with(cfg, Some(recorder), None)
}

fn start_with(
    cfg: &ServeConfig,
    recorder: Option<Recorder>,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> std::io::Result<ServerHandle> {
    let n = cfg.threads.max(1);
    let first = bind(cfg.listen)?;
    let addr = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| std::io::Error::other("listener has no IP address"))?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(bind(addr)?);
    }
    // SAFETY: eventfd has no memory preconditions; the result is checked below.
    let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: efd is a fresh descriptor that nothing else owns.
    let wake = unsafe { OwnedFd::from_raw_fd(efd) };
    let shared = Arc::new(Shared {
        counters: (0..n).map(|_| PaddedCounter::default()).collect(),
        stall_until: AtomicU64::new(0),
        base: Instant::now(),
        wake,
        recorder,
        tls,
    });
    let mut handle = ServerHandle {
        addr,
        shared: shared.clone(),
        threads: Vec::with_capacity(n),
    };
    for (i, listener) in listeners.into_iter().enumerate() {
        let worker = server::ServerWorker::new(i, listener.into(), shared.clone())?;
        let t = std::thread::Builder::new()
            .name(format!("gcannon-serve-{i}"))
            .spawn(move || worker.run())?;
        handle.threads.push(t);
    }
    Ok(handle)
}

/// One non-blocking `SO_REUSEPORT` listener.
fn bind(addr: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    Ok(s)
}

impl ServerHandle {
    /// The bound address (the real port when port 0 was given).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests served so far by all threads, not counting `/stats`.
    pub fn requests(&self) -> u64 {
        self.shared.total_requests()
    }

    /// The requests kept so far, in arrival order per connection; empty unless
    /// started with [`start_recording`].
    pub fn recorded(&self) -> Vec<Recorded> {
        match &self.shared.recorder {
            Some(r) => r.items.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            None => Vec::new(),
        }
    }

    /// Stop every thread and join it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd.
        let _ =
            unsafe { libc::write(self.shared.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
