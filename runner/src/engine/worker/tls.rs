//! TLS on the same worker: ciphertext arrives in the provided-buffer ring like
//! any bytes and is decrypted here in user space with rustls; requests are
//! encrypted once per send batch, so pipelined requests share records. The
//! plaintext path only pays one `Option` check per receive and per send.
//!
//! Per connection slot: a rustls client (replaced on every new socket, so a
//! handshake per socket; sessions resume only with `--tls-resume`) and one
//! ciphertext buffer that is never touched while a send from it is in flight.

use std::io::{Read, Write};

use std::sync::OnceLock;

use api::report::new_histogram;
use hdrhistogram::Histogram;
use rustls::ClientConnection;

use super::{Cause, Consumed, ErrorKind, Src, Worker};
use crate::engine::conn::State;
use crate::tls::{describe, ClientSetup};

/// The first TLS failure of the process, printed after the run.
static FIRST_ERROR: OnceLock<String> = OnceLock::new();

/// The reason of the first TLS failure counted in this process, if any.
pub fn first_error() -> Option<&'static str> {
    FIRST_ERROR.get().map(String::as_str)
}

/// A worker's TLS state, one entry per connection slot.
pub(in crate::engine) struct TlsSide {
    setup: ClientSetup,
    conns: Vec<Option<ClientConnection>>,
    /// Ciphertext being sent, per slot.
    out: Vec<Vec<u8>>,
    /// When each slot's handshake started (TCP connected).
    started: Vec<u64>,
    /// Plaintext decrypted from one receive, handed to the HTTP or frame parser.
    pub(super) plain: Vec<u8>,
    pub(super) handshake: Histogram<u64>,
}

impl TlsSide {
    /// TLS state for `slots` connections.
    pub(in crate::engine) fn new(setup: ClientSetup, slots: usize, recv_buf: usize) -> Self {
        Self {
            setup,
            conns: (0..slots).map(|_| None).collect(),
            out: (0..slots).map(|_| Vec::new()).collect(),
            started: vec![0; slots],
            plain: Vec::with_capacity(recv_buf.max(16 * 1024)),
            handshake: new_histogram(),
        }
    }
}

impl Worker {
    /// TCP is up: start the handshake by sending the ClientHello.
    pub(super) fn tls_start(&mut self, i: usize, now: u64) {
        let t = self.tls.as_mut().expect("TLS mode");
        match ClientConnection::new(t.setup.config.clone(), t.setup.name.clone()) {
            Ok(c) => t.conns[i] = Some(c),
            Err(e) => {
                let why = describe(&e, &t.setup.plan);
                return self.tls_failed(i, now, why);
            }
        }
        t.started[i] = now;
        self.conns[i].state = State::Handshaking;
        self.tls_pump(i);
    }

    /// Encrypt `plain` for slot `i` and send it (now, or after the send in flight).
    pub(super) fn tls_send(&mut self, i: usize, plain: &[u8]) {
        let t = self.tls.as_mut().expect("TLS mode");
        if let Some(c) = t.conns[i].as_mut() {
            // The writer takes everything: rustls only limits buffered plaintext
            // before the handshake ends, and we write only after it.
            let _ = c.writer().write_all(plain);
        }
        self.tls_pump(i);
    }

    /// Send whatever ciphertext rustls has ready, unless a send is in flight.
    pub(super) fn tls_pump(&mut self, i: usize) {
        let t = self.tls.as_mut().expect("TLS mode");
        let c = &mut self.conns[i];
        let (Some(conn), false) = (t.conns[i].as_mut(), c.send_pending) else {
            return;
        };
        if !conn.wants_write() {
            return;
        }
        let out = &mut t.out[i];
        out.clear();
        while conn.wants_write() {
            if conn.write_tls(out).is_err() {
                break;
            }
        }
        c.send_pending = true;
        c.send_ptr = out.as_ptr() as usize;
        c.send_len = out.len();
        c.send_off = 0;
        self.push_send(i);
    }

    /// Decrypt one receive and hand the plaintext to the connection's protocol.
    pub(super) fn consume_tls(&mut self, i: usize, bid: u16, len: usize, now: u64) -> Consumed {
        let t = self.tls.as_mut().expect("TLS mode");
        let mut wire = self.bufs.get(bid, len);
        let Some(conn) = t.conns[i].as_mut() else {
            return Consumed::Reconnect;
        };
        t.plain.clear();
        let mut failure = None;
        while !wire.is_empty() {
            if let Err(e) = conn.read_tls(&mut wire) {
                failure = Some(e.to_string());
                break;
            }
            if let Err(e) = conn.process_new_packets() {
                failure = Some(describe(&e, &t.setup.plan));
                break;
            }
            if let Err(e) = conn.reader().read_to_end(&mut t.plain) {
                if e.kind() != std::io::ErrorKind::WouldBlock {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(why) = failure {
            // Tell the server why (the alert rustls queued), then give up the socket.
            self.tls_pump(i);
            self.tls_failed(i, now, why);
            return Consumed::Fine;
        }
        let handshaking = conn.is_handshaking();
        if self.conns[i].state == State::Handshaking && !handshaking {
            self.tls_established(i, now);
        }
        let has_plain = !self.tls.as_ref().expect("TLS mode").plain.is_empty();
        let outcome = if has_plain {
            self.consume_src(i, Src::Tls, now)
        } else {
            Consumed::Fine
        };
        self.tls_pump(i);
        outcome
    }

    /// The handshake finished: account it, then upgrade (WebSocket) or start sending.
    fn tls_established(&mut self, i: usize, now: u64) {
        let t = self.tls.as_mut().expect("TLS mode");
        // Counted in warm-up too, like upgrades: connections are set up at the start.
        self.report.counts.tls_handshakes += 1;
        let resumed = t.conns[i]
            .as_ref()
            .and_then(|c| c.handshake_kind())
            .is_some_and(|k| k == rustls::HandshakeKind::Resumed);
        self.report.counts.tls_resumed += resumed as u64;
        t.handshake
            .saturating_record((now.saturating_sub(t.started[i]) / 1000).max(1));
        if self.plan.ws.is_some() {
            self.send_upgrade(i);
            return;
        }
        self.conns[i].state = State::Open;
        self.refill(i, now);
        self.flush(i, now);
    }

    /// A TLS failure: count it, keep the first reason, back off and reconnect.
    pub(super) fn tls_failed(&mut self, i: usize, now: u64, why: String) {
        let measured = now >= self.measure_start;
        if measured {
            self.report.counts.errors.tls += 1;
        }
        let _ = FIRST_ERROR.set(why);
        // The process's first TLS reason stands for this worker's in the live view.
        let cause = Cause::Text(first_error().unwrap_or("TLS failure"));
        self.note_error(ErrorKind::Tls, cause, measured);
        self.retry_later(i, now);
    }
}
