//! One worker: one io_uring ring, its connections, its requests and its own
//! statistics. Nothing here is shared with other workers while the run lasts,
//! except a relaxed progress counter the main thread reads once a second.
//!
//! The loop: dispatch due requests (open model), scan for timeouts and due
//! reconnects, publish returned receive buffers, submit and wait once, drain a
//! batch of completions, handle each. Every handler is a flat match on the
//! completion's kind and the connection's state.

use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use api::report::{new_histogram, Report};
use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::config::{
    recv_buffers, switched_off, BUF_GROUP, CQE_BATCH, FIXED_FILES_ENV, LATE_NS, MAX_WAIT,
    SCAN_INTERVAL, SECOND_P99_ENV,
};
use super::conn::{Conn, State};
use super::ring::{new_ring, BufRing, RegisteredRing, RingError};
use super::snapshot::{Cause, ErrorKind, FirstError};
use super::user_data::{pack, unpack, Kind};
use super::{Clock, Shared, WorkerPlan};
use crate::http::parse::{HeadCache, ParseError, Response};
use crate::http::request::Prepared;

/// `$build` (an expression using `$t`) against connection `$i`'s socket: its
/// slot in the ring's file table, so the kernel skips the descriptor lookup and
/// reference count on every send and receive, or its descriptor when the
/// table is off (`GCANNON_FIXED_FILES=off`).
macro_rules! on_socket {
    ($worker:expr, $i:expr, |$t:ident| $build:expr) => {
        if $worker.fixed_files {
            let $t = types::Fixed($i as u32);
            $build
        } else {
            let $t = types::Fd($worker.conns[$i].fd);
            $build
        }
    };
}

mod snapshot;
mod socket;
mod stats;
mod tls;
mod ws;

pub(super) use self::tls::{first_error, TlsSide};

use self::socket::SockAddr;

/// A worker's whole state. Field order matters: the ring is dropped before the
/// buffer ring memory it points into.
pub struct Worker {
    ring: IoUring,
    bufs: BufRing,
    conns: Vec<Conn>,
    /// Sockets live in the ring's file table, slot = connection index.
    fixed_files: bool,
    /// The ring registered with this thread, so waits skip its descriptor lookup.
    registered: Option<RegisteredRing>,
    plan: WorkerPlan,
    shared: std::sync::Arc<Shared>,
    clock: Clock,
    addr: SockAddr,
    report: Report,
    second_p99: Option<stats::SecondP99>,
    cqes: Vec<(u64, i32, u32)>,
    /// The header section the server keeps sending, shared by all connections.
    heads: HeadCache,
    /// Open model: requests of the schedule handed to connections so far.
    issued: u64,
    /// Open model: round-robin cursor over connections.
    cursor: usize,
    /// Per-worker `{SEQ}` counter; values are spread over workers by stride.
    seq: u64,
    measure_start: u64,
    end: u64,
    /// When the next live snapshot is due (see `engine::snapshot`).
    next_snapshot: u64,
    /// The first fault of the measured part, published with the snapshots.
    first_error: Option<FirstError>,
    /// TLS targets only; kept out of `Conn` so the plaintext path stays as it was.
    tls: Option<Box<TlsSide>>,
}

/// Where the bytes to parse are: a provided receive buffer, or (TLS) the
/// plaintext just decrypted from one.
#[derive(Clone, Copy)]
enum Src {
    Ring(u16, usize),
    Tls,
}

/// The bytes `src` names; a function of two fields so the rest of the worker
/// stays borrowable while they are read.
#[inline]
fn bytes<'a>(bufs: &'a BufRing, tls: &'a Option<Box<TlsSide>>, src: Src) -> &'a [u8] {
    match (src, tls) {
        (Src::Ring(bid, len), _) => bufs.get(bid, len),
        (Src::Tls, Some(t)) => &t.plain,
        (Src::Tls, None) => &[],
    }
}

impl Worker {
    /// Set up the ring, buffers and connection slots; nothing is sent yet.
    pub fn new(
        plan: WorkerPlan,
        shared: std::sync::Arc<Shared>,
        clock: Clock,
    ) -> Result<Self, super::EngineError> {
        let ring = new_ring().map_err(super::EngineError::Ring)?;
        let bufs = BufRing::register(&ring, recv_buffers(plan.connections), plan.recv_buf)
            .map_err(super::EngineError::Ring)?;
        // Worker::new runs on the worker's own thread, the one that will enter.
        let registered = RegisteredRing::register(&ring);
        let fixed_files = !switched_off(FIXED_FILES_ENV);
        if fixed_files {
            ring.submitter()
                .register_files_sparse(plan.connections)
                .map_err(|e| {
                    super::EngineError::Ring(RingError(format!(
                        "cannot register the socket table: {e} (needs Linux 5.19+)"
                    )))
                })?;
        }
        let templates = plan.requests.len();
        let conns = (0..plan.connections)
            .map(|i| {
                let seed = (plan.index as u64) << 32 ^ i as u64 ^ 0x9e37_79b9_7f4a_7c15;
                let mut c = Conn::new(
                    plan.pipeline,
                    (plan.first_conn as usize + i as usize) % templates,
                    seed,
                );
                if plan.requests.iter().any(|r| r.fill.is_some()) {
                    let widest = plan
                        .requests
                        .iter()
                        .map(|r| r.single.len())
                        .max()
                        .unwrap_or(0);
                    c.scratch = vec![0; widest * plan.pipeline as usize];
                }
                c
            })
            .collect();
        let measure_start = plan.warmup.as_nanos() as u64;
        let end = measure_start + plan.duration.as_nanos() as u64;
        let per_template = if plan.per_template_latency {
            templates
        } else {
            0
        };
        let report = Report {
            uncorrected: plan.schedule.as_ref().map(|_| new_histogram()),
            per_template: (0..per_template).map(|_| new_histogram()).collect(),
            ..Report::default()
        };
        // Every mode keeps each second's p99: the TUI, the timeline and
        // noise-aware baseline comparisons read it (bench/second_p99.sh turns
        // it off to show what it costs).
        let second_p99 = (!switched_off(SECOND_P99_ENV)).then(stats::SecondP99::new);
        let tls = plan.tls.as_ref().map(|setup| {
            Box::new(TlsSide::new(
                setup.clone(),
                plan.connections as usize,
                plan.recv_buf,
            ))
        });
        Ok(Self {
            tls,
            addr: SockAddr::new(plan.addr),
            ring,
            bufs,
            conns,
            fixed_files,
            registered,
            shared,
            clock,
            report,
            second_p99,
            cqes: Vec::with_capacity(CQE_BATCH),
            heads: HeadCache::default(),
            issued: 0,
            cursor: 0,
            seq: 0,
            measure_start,
            end,
            next_snapshot: measure_start + super::snapshot::SNAPSHOT_NS,
            first_error: None,
            plan,
        })
    }

    /// Run until the planned end or a stop request; return what was measured.
    pub fn run(mut self) -> Result<Report, super::EngineError> {
        let now = self.clock.now();
        for i in 0..self.conns.len() {
            self.open(i, now);
        }
        let mut next_scan = now;
        loop {
            let now = self.clock.now();
            if now >= self.end || self.shared.stop.load(Relaxed) {
                break;
            }
            let mut wake = self.end.min(now + MAX_WAIT.as_nanos() as u64);
            if self.plan.schedule.is_some() {
                wake = wake.min(self.dispatch(now));
            }
            if now >= next_scan {
                self.scan(now);
                next_scan = now + SCAN_INTERVAL.as_nanos() as u64;
            }
            wake = wake.min(next_scan);
            self.bufs.publish();
            self.submit_and_wait(wake.saturating_sub(now))?;
            self.drain();
            self.publish_progress();
            self.maybe_snapshot(now);
        }
        Ok(self.finish())
    }

    /// Open model: hand every request that is due to a connection with room.
    /// Returns when the next request is due.
    fn dispatch(&mut self, now: u64) -> u64 {
        let n = self.conns.len();
        while let Some(due) = self
            .plan
            .schedule
            .as_ref()
            .and_then(|s| s.due_ns(self.issued))
        {
            if due > now {
                return due;
            }
            // Find a connection with room; one full lap without one means the
            // server or the connections cannot keep up: leave the rest queued.
            let mut found = None;
            for step in 0..n {
                let i = (self.cursor + step) % n;
                let c = &self.conns[i];
                if c.state == State::Open
                    && c.inflight + c.ready < self.plan.pipeline
                    && self.budget_left(c) > 0
                {
                    found = Some(i);
                    break;
                }
            }
            let Some(i) = found else {
                return now + MAX_WAIT.as_nanos() as u64;
            };
            self.cursor = (i + 1) % n;
            self.conns[i].assign(due);
            self.issued += 1;
            self.flush(i, now);
        }
        self.end
    }

    /// Requests this socket may still be given before `-r` closes it.
    #[inline]
    fn budget_left(&self, c: &Conn) -> u64 {
        match self.plan.requests_per_connection {
            Some(n) => n.saturating_sub(c.sent_on_socket + c.ready as u64),
            None => u64::MAX,
        }
    }

    /// Closed model: top the connection up to the pipeline depth.
    #[inline]
    fn refill(&mut self, i: usize, now: u64) {
        let c = &self.conns[i];
        // Closed model: a request is due once the connection can carry it, so a
        // TLS handshake or WebSocket upgrade is never part of its latency.
        if self.plan.schedule.is_some() || c.state != State::Open {
            return;
        }
        let room = (self.plan.pipeline - c.inflight - c.ready) as u64;
        let k = room.min(self.budget_left(c)) as u32;
        self.conns[i].assign_now(k, now);
        self.flush(i, now);
    }

    /// Write the connection's ready requests in one send, unless one is in flight.
    fn flush(&mut self, i: usize, now: u64) {
        let c = &mut self.conns[i];
        if c.send_pending || c.state != State::Open {
            return;
        }
        if !c.pong.is_empty() {
            self.send_pong(i);
            return;
        }
        if c.ready == 0 {
            return;
        }
        let req: &Prepared = &self.plan.requests[c.template];
        let k = c.ready as usize;
        let len = req.single.len();
        let ptr = match &req.fill {
            None => req.pipelined.as_ptr(),
            Some(fill) => {
                for copy in 0..k {
                    let out = &mut c.scratch[copy * len..(copy + 1) * len];
                    out.copy_from_slice(&req.single);
                    let value = fill.next_value(
                        &mut c.rng,
                        &mut self.seq,
                        self.plan.seq_stride,
                        self.plan.seq_offset,
                    );
                    fill.write(&mut out[fill.range()], value);
                }
                c.scratch.as_ptr()
            }
        };
        // A request belongs to the window it was meant for (see
        // `oldest_measured`), so the warm-up's backlog is not measured load.
        let open_model = self.plan.schedule.is_some();
        for t in c.unsent_intended().filter(|&t| t >= self.measure_start) {
            self.report.counts.requests += 1;
            self.report.counts.late += (open_model && now > t + LATE_NS) as u64;
        }
        c.mark_sent(now);
        self.start_send(i, ptr, k * len);
    }

    /// Send `len` bytes at `ptr`: pre-built requests, scratch, upgrade or pong.
    fn start_send(&mut self, i: usize, ptr: *const u8, len: usize) {
        if self.tls.is_some() {
            // SAFETY: ptr/len name the plan's pre-built bytes or this slot's scratch or
            // pong buffer; all are alive and left unchanged while rustls copies them.
            let plain = unsafe { std::slice::from_raw_parts(ptr, len) };
            return self.tls_send(i, plain);
        }
        let c = &mut self.conns[i];
        c.send_pending = true;
        c.send_ptr = ptr as usize;
        c.send_len = len;
        c.send_off = 0;
        self.push_send(i);
    }

    fn push_send(&mut self, i: usize) {
        let c = &self.conns[i];
        let ptr = (c.send_ptr + c.send_off) as *const u8;
        let len = (c.send_len - c.send_off) as u32;
        let sqe = on_socket!(self, i, |s| opcode::Send::new(s, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build())
        .user_data(pack(Kind::Send, c.generation, i as u32));
        self.push(sqe);
    }

    /// Queue one SQE, submitting first when the queue is full.
    #[inline]
    fn push(&mut self, sqe: squeue::Entry) {
        loop {
            // SAFETY: every pointer in our SQEs (send buffers, sockaddr) stays valid
            // until its completion: they live in self and are never moved or freed mid-run.
            if unsafe { self.ring.submission().push(&sqe) }.is_ok() {
                return;
            }
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EBUSY) {
                    return;
                }
                self.drain();
            }
        }
    }

    fn submit_and_wait(&mut self, wait_ns: u64) -> Result<(), super::EngineError> {
        let ts = types::Timespec::from(Duration::from_nanos(wait_ns.max(1)));
        let args = types::SubmitArgs::new().timespec(&ts);
        let entered = match &self.registered {
            Some(r) => {
                let queued = self.ring.submission().len() as u32;
                r.submit_and_wait(queued, &ts)
            }
            None => self.ring.submitter().submit_with_args(1, &args).map(drop),
        };
        match entered {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(super::EngineError::Io(format!(
                "io_uring_enter failed: {e}"
            ))),
        }
    }

    /// Copy a batch of completions out of the ring, then handle each.
    /// A handler may find the submission queue full with the completion queue
    /// overflowing and drain again from inside `push`; the batch being handled is
    /// taken out of `self` so that nested drain works on its own buffer.
    fn drain(&mut self) {
        let mut batch = std::mem::take(&mut self.cqes);
        loop {
            batch.clear();
            batch.extend(
                self.ring
                    .completion()
                    .take(CQE_BATCH)
                    .map(|cqe| (cqe.user_data(), cqe.result(), cqe.flags())),
            );
            let now = self.clock.now();
            for &(ud, res, flags) in &batch {
                self.handle(ud, res, flags, now);
            }
            if batch.len() < CQE_BATCH {
                break;
            }
        }
        self.cqes = batch;
    }

    fn handle(&mut self, ud: u64, res: i32, flags: u32, now: u64) {
        let Some((kind, gen, idx)) = unpack(ud) else {
            return;
        };
        let i = idx as usize;
        let bid = cqueue::buffer_select(flags);
        if self.conns.get(i).is_none_or(|c| c.generation != gen) {
            // A completion for a socket already closed: only its buffer matters.
            if let Some(b) = bid {
                self.bufs.push(b);
            }
            return;
        }
        match kind {
            Kind::Connect => self.on_connect(i, res, now),
            Kind::Send => self.on_send(i, res, now),
            Kind::Recv => self.on_recv(i, res, bid, cqueue::more(flags), now),
        }
    }

    fn on_connect(&mut self, i: usize, res: i32, now: u64) {
        if res < 0 {
            self.connect_failed(i, now, Cause::Os(-res));
            return;
        }
        let c = &mut self.conns[i];
        c.failures = 0;
        c.last_rx = now;
        self.arm_recv(i);
        if self.tls.is_some() {
            self.tls_start(i, now);
            return;
        }
        if self.plan.ws.is_some() {
            self.send_upgrade(i);
            return;
        }
        self.conns[i].state = State::Open;
        self.refill(i, now);
    }

    fn arm_recv(&mut self, i: usize) {
        let sqe = on_socket!(self, i, |s| opcode::RecvMulti::new(s, BUF_GROUP).build())
            .user_data(pack(Kind::Recv, self.conns[i].generation, i as u32));
        self.push(sqe);
    }

    fn on_send(&mut self, i: usize, res: i32, now: u64) {
        if res < 0 {
            self.count_socket_fault(i, now, Cause::Os(-res));
            self.reconnect(i, now);
            return;
        }
        let c = &mut self.conns[i];
        c.send_off += res as usize;
        if c.send_off < c.send_len {
            self.push_send(i);
            return;
        }
        c.send_pending = false;
        if std::mem::take(&mut c.pong_in_flight) {
            c.pong.clear();
        }
        if self.tls.is_some() {
            self.tls_pump(i);
        }
        self.refill(i, now);
        self.flush(i, now);
    }

    fn on_recv(&mut self, i: usize, res: i32, bid: Option<u16>, more: bool, now: u64) {
        if res > 0 {
            let Some(b) = bid else { return };
            let outcome = self.consume(i, b, res as usize, now);
            self.bufs.push(b);
            match outcome {
                Consumed::Fine if !more => self.arm_recv(i),
                Consumed::Fine => {}
                Consumed::Reconnect => self.reconnect(i, now),
            }
            return;
        }
        if let Some(b) = bid {
            self.bufs.push(b);
        }
        if res == -libc::ENOBUFS {
            // Every buffer was in use; they are being returned now, so listen again.
            self.bufs.publish();
            self.arm_recv(i);
            return;
        }
        if self.conns[i].state == State::Handshaking {
            let why = if res == 0 {
                "the server closed the connection during the TLS handshake".to_string()
            } else {
                let e = std::io::Error::from_raw_os_error(-res);
                format!("the connection failed during the TLS handshake: {e}")
            };
            self.tls_failed(i, now, why);
            return;
        }
        if res == 0 {
            // The server closed. A close-delimited body ends here; anything else
            // outstanding was lost.
            match self.conns[i].parser.finish() {
                Ok(Some(resp)) => {
                    self.completed(i, resp, now);
                    // Pipelined behind a close-delimited body: never answered.
                    self.report.counts.errors.read += self.lost_in_flight(i);
                }
                Ok(None) if self.conns[i].inflight == 0 => {}
                Ok(None) | Err(_) => self.count_socket_fault(
                    i,
                    now,
                    Cause::Text("the server closed the connection mid-response"),
                ),
            }
        } else {
            self.count_socket_fault(i, now, Cause::Os(-res));
        }
        self.reconnect(i, now);
    }

    /// Account received bytes and hand them to the connection's protocol.
    fn consume(&mut self, i: usize, bid: u16, len: usize, cqe_now: u64) -> Consumed {
        if cqe_now >= self.measure_start {
            self.report.counts.bytes_read += len as u64;
        }
        if self.tls.is_some() {
            return self.consume_tls(i, bid, len, cqe_now);
        }
        self.consume_src(i, Src::Ring(bid, len), cqe_now)
    }

    /// Hand plaintext to the connection's protocol.
    fn consume_src(&mut self, i: usize, src: Src, cqe_now: u64) -> Consumed {
        match (self.plan.ws.is_some(), self.conns[i].state) {
            (true, State::Upgrading) => self.consume_upgrade(i, src, cqe_now),
            (true, _) => self.consume_frames(i, src, cqe_now),
            (false, _) => self.consume_http(i, src, cqe_now),
        }
    }

    /// Frame HTTP responses and account each one.
    fn consume_http(&mut self, i: usize, src: Src, cqe_now: u64) -> Consumed {
        let measuring = cqe_now >= self.measure_start;
        let data = bytes(&self.bufs, &self.tls, src);
        let c = &mut self.conns[i];
        let mut done = 0u32;
        let mut close = false;
        let mut unexpected = false;
        let expected = self.plan.expected_status;
        let counts = &mut self.report.counts;
        let inflight = c.inflight;
        // Answers to the warm-up's requests belong to it (see `oldest_measured`).
        let warm = c.inflight_intended_before(self.measure_start);
        let result = c.parser.feed_cached(data, &mut self.heads, |r: Response| {
            if done == inflight {
                unexpected = true;
                return;
            }
            let measured = done >= warm;
            done += 1;
            close |= r.close;
            if measured {
                counts.status.record(r.status);
                counts.unexpected_status += (r.status != expected) as u64;
            }
        });
        let now = if self.plan.cqe_latency || done == 0 {
            cqe_now
        } else {
            self.clock.now()
        };
        self.record_latencies(i, done, now);
        match result {
            Err(ParseError::Malformed(why)) => return self.protocol_error(i, measuring, why),
            Err(ParseError::Truncated) => {
                return self.protocol_error(i, measuring, "connection closed mid-response");
            }
            // A response nobody asked for: the stream can no longer be trusted.
            Ok(_) if unexpected => {
                return self.protocol_error(i, measuring, "a response nobody asked for")
            }
            Ok(_) => {}
        }
        self.after_responses(i, close, now)
    }

    /// Close after `Connection: close` or a spent `-r` budget, else top up.
    fn after_responses(&mut self, i: usize, close: bool, now: u64) -> Consumed {
        let c = &self.conns[i];
        let budget_spent = self
            .plan
            .requests_per_connection
            .is_some_and(|n| c.done_on_socket >= n);
        if close || budget_spent {
            if close {
                // Pipelined behind the server's `Connection: close` (or close
                // frame): never answered, counted rather than dropped.
                let lost = self.lost_in_flight(i);
                self.report.counts.errors.read += lost;
                self.note_error(
                    ErrorKind::Read,
                    Cause::Text("requests in flight when the server closed the connection"),
                    lost > 0,
                );
            }
            return Consumed::Reconnect;
        }
        self.refill(i, now);
        self.flush(i, now);
        Consumed::Fine
    }

    /// Close every socket and hand back the report.
    fn finish(mut self) -> Report {
        let now = self.clock.now().min(self.end);
        if let Some(schedule) = self.plan.schedule.as_ref() {
            // Requests due in the measured window but never handed to a
            // connection because none had room; those queued on a connection
            // are counted as it closes below.
            let first_measured = schedule.count_due_before(self.measure_start);
            let due = schedule.count_due_before(now);
            self.report.counts.unsent += due.saturating_sub(self.issued.max(first_measured));
        }
        for i in 0..self.conns.len() {
            self.close(i);
        }
        self.count_seq_repeats();
        if let Some(t) = self.tls.take() {
            self.report.handshake = Some(t.handshake);
        }
        let len = self.report.timeline.len();
        if len > 0 {
            self.roll_second(len - 1);
        }
        self.publish_progress();
        self.report.elapsed_sec = now.saturating_sub(self.measure_start) as f64 / 1e9;
        self.final_snapshot(now);
        self.report
    }
}

enum Consumed {
    Fine,
    Reconnect,
}
