//! One connection slot of a worker: its socket, where it is in its life, and
//! the send times of the requests it has in flight.

use std::os::fd::RawFd;

use crate::http::parse::ResponseParser;
use crate::http::template::XorShift64;
use crate::ws::frame::FrameParser;

/// Where a connection slot is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No socket; (re)connect when the clock passes `retry_at`.
    Waiting,
    /// `connect` submitted.
    Connecting,
    /// TLS handshake under way (TLS targets only).
    Handshaking,
    /// WebSocket upgrade sent, waiting for `101`.
    Upgrading,
    /// Connected and exchanging requests (or frames).
    Open,
}

/// A connection slot. Slots are allocated once; sockets come and go.
pub struct Conn {
    /// Socket, or -1.
    pub fd: RawFd,
    /// Bumped on every new socket so stale completions are dropped.
    pub generation: u16,
    /// Life-cycle state.
    pub state: State,
    /// Response framing state.
    pub parser: ResponseParser,
    /// Requests written (or being written) without a response yet.
    pub inflight: u32,
    /// Requests assigned to this connection but not yet written.
    pub ready: u32,
    /// Requests written on this socket (for `-r`).
    pub sent_on_socket: u64,
    /// Responses received on this socket (for `-r`).
    pub done_on_socket: u64,
    /// A send is in the kernel; only one at a time, so buffers stay untouched.
    pub send_pending: bool,
    /// Start and length of the bytes being sent, and how many are already out.
    pub send_ptr: usize,
    /// Total bytes of the current send.
    pub send_len: usize,
    /// Bytes of the current send already accepted by the kernel.
    pub send_off: usize,
    /// Template this socket sends (rotates on reconnect).
    pub template: usize,
    /// When to retry connecting (ns since the worker's clock base).
    pub retry_at: u64,
    /// Consecutive failed connects, for back-off.
    pub failures: u32,
    /// When the socket started connecting, then when it connected: bounds the
    /// connect and the WebSocket upgrade (bytes arriving do not extend it).
    pub last_rx: u64,
    /// Per-connection scratch for requests whose placeholders are filled per send.
    pub scratch: Vec<u8>,
    /// Random state for `{RAND:..}`.
    pub rng: XorShift64,
    /// WebSocket mode: frame parser once upgraded.
    pub frames: FrameParser,
    /// WebSocket mode: the upgrade response head gathered so far.
    pub upgrade_head: Vec<u8>,
    /// WebSocket mode: a pong owed to the server, sent before the next frames.
    pub pong: Vec<u8>,
    /// The send in flight is the pong.
    pub pong_in_flight: bool,
    times: Box<[Times]>,
    head: u32,
}

/// When a request was meant to go (open model) and when it went.
#[derive(Clone, Copy, Default)]
struct Times {
    intended: u64,
    sent: u64,
}

impl Conn {
    /// A slot able to keep `depth` requests in flight.
    pub fn new(depth: u32, template: usize, seed: u64) -> Self {
        Self {
            fd: -1,
            generation: 0,
            state: State::Waiting,
            parser: ResponseParser::new(),
            inflight: 0,
            ready: 0,
            sent_on_socket: 0,
            done_on_socket: 0,
            send_pending: false,
            send_ptr: 0,
            send_len: 0,
            send_off: 0,
            template,
            retry_at: 0,
            failures: 0,
            last_rx: 0,
            scratch: Vec::new(),
            rng: XorShift64::new(seed | 1),
            frames: FrameParser::new(),
            upgrade_head: Vec::new(),
            pong: Vec::new(),
            pong_in_flight: false,
            times: vec![Times::default(); depth.next_power_of_two() as usize].into_boxed_slice(),
            head: 0,
        }
    }

    #[inline]
    fn slot(&self, n: u32) -> usize {
        (self.head.wrapping_add(n) as usize) & (self.times.len() - 1)
    }

    /// Assign one more request to this connection, meant to go at `intended`.
    #[inline]
    pub fn assign(&mut self, intended: u64) {
        let i = self.slot(self.inflight + self.ready);
        self.times[i].intended = intended;
        self.ready += 1;
    }

    /// The `ready` requests are being written now, at `now`.
    #[inline]
    pub fn mark_sent(&mut self, now: u64) {
        for n in self.inflight..self.inflight + self.ready {
            let i = self.slot(n);
            self.times[i].sent = now;
        }
        self.inflight += self.ready;
        self.sent_on_socket += self.ready as u64;
        self.ready = 0;
    }

    /// Closed model: the next `k` requests are meant to go at `now`.
    #[inline]
    pub fn assign_now(&mut self, k: u32, now: u64) {
        for _ in 0..k {
            self.assign(now);
        }
    }

    /// The oldest request in flight got its response: its (intended, sent) times.
    #[inline]
    pub fn complete(&mut self) -> Option<(u64, u64)> {
        if self.inflight == 0 {
            return None;
        }
        let t = self.times[self.slot(0)];
        self.head = self.head.wrapping_add(1);
        self.inflight -= 1;
        self.done_on_socket += 1;
        Some((t.intended, t.sent))
    }

    /// Send time of the oldest request in flight.
    #[inline]
    pub fn oldest_sent(&self) -> Option<u64> {
        (self.inflight > 0).then(|| self.times[self.slot(0)].sent)
    }

    /// In-flight requests (oldest first) meant to go before `t`: in the open
    /// model intended times only grow, so these lead the queue.
    #[inline]
    pub fn inflight_intended_before(&self, t: u64) -> u32 {
        (0..self.inflight)
            .take_while(|&n| self.times[self.slot(n)].intended < t)
            .count() as u32
    }

    /// Intended times of requests assigned but never written (open model), oldest first.
    pub fn unsent_intended(&self) -> impl Iterator<Item = u64> + '_ {
        (self.inflight..self.inflight + self.ready).map(|n| self.times[self.slot(n)].intended)
    }

    /// Forget the socket's requests; the slot is ready for a new socket.
    pub fn reset(&mut self) {
        self.fd = -1;
        self.generation = self.generation.wrapping_add(1);
        self.state = State::Waiting;
        self.parser.reset();
        self.frames = FrameParser::new();
        self.upgrade_head.clear();
        self.pong.clear();
        self.pong_in_flight = false;
        self.inflight = 0;
        self.ready = 0;
        self.sent_on_socket = 0;
        self.done_on_socket = 0;
        self.send_pending = false;
        self.send_off = 0;
        self.send_len = 0;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_come_back_in_send_order() {
        let mut c = Conn::new(4, 0, 1);
        c.assign(10);
        c.assign(20);
        c.mark_sent(30);
        c.assign_now(2, 40);
        c.mark_sent(50);
        assert_eq!(c.inflight, 4);
        assert_eq!(c.complete(), Some((10, 30)));
        assert_eq!(c.complete(), Some((20, 30)));
        c.assign(60);
        assert_eq!(c.unsent_intended().collect::<Vec<_>>(), vec![60]);
        c.mark_sent(70);
        assert_eq!(c.complete(), Some((40, 50)));
        assert_eq!(c.complete(), Some((40, 50)));
        assert_eq!(c.complete(), Some((60, 70)));
        assert_eq!(c.complete(), None);
        assert_eq!(c.done_on_socket, 5);
    }
}
