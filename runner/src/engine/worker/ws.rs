//! WebSocket echo mode on top of the same worker: upgrade each connection, then
//! pipelined masked frames go out as pre-built bytes and echoed messages come
//! back through the frame parser. Pings are answered before the next frames.

use super::{bytes, Cause, Consumed, ErrorKind, Src, Worker};
use crate::engine::conn::State;
use crate::ws::frame::{pong_frame, Opcode, WsEvent};
use crate::ws::handshake::{check_upgrade_response, parse_upgrade_response, MAX_HEAD};
use crate::ws::WsError;

/// Mask for the client's control frames; data frames carry the pre-built mask.
const PONG_MASK: [u8; 4] = [0x1d, 0x2c, 0x3b, 0x4a];

impl Worker {
    /// Send the pre-built upgrade request; the socket is `Upgrading` until `101`.
    pub(super) fn send_upgrade(&mut self, i: usize) {
        let ws = self.plan.ws.as_ref().expect("WebSocket mode");
        let (ptr, len) = (ws.upgrade.as_ptr(), ws.upgrade.len());
        self.conns[i].state = State::Upgrading;
        self.start_send(i, ptr, len);
    }

    /// Send the owed pong on its own; frames follow when it completes.
    pub(super) fn send_pong(&mut self, i: usize) {
        let c = &mut self.conns[i];
        c.pong_in_flight = true;
        let (ptr, len) = (c.pong.as_ptr(), c.pong.len());
        self.start_send(i, ptr, len);
    }

    /// Gather the upgrade response head; on a valid `101` the socket is open.
    pub(super) fn consume_upgrade(&mut self, i: usize, src: Src, now: u64) -> Consumed {
        let measuring = now >= self.measure_start;
        let data = bytes(&self.bufs, &self.tls, src);
        let len = data.len();
        let c = &mut self.conns[i];
        c.upgrade_head
            .extend_from_slice(&data[..len.min(MAX_HEAD + 4)]);
        let accept = &self.plan.ws.as_ref().expect("WebSocket mode").accept;
        let head_len = match parse_upgrade_response(&c.upgrade_head) {
            Ok(None) => return Consumed::Fine,
            Ok(Some(n)) => n,
            Err(_) => {
                return self.protocol_error(i, measuring, "malformed WebSocket upgrade response")
            }
        };
        match check_upgrade_response(&c.upgrade_head[..head_len], accept) {
            Ok(()) => {}
            Err(WsError::NotSwitching(code)) => {
                // Refused: its status is what the user needs to see (a 403,
                // a 404 at the wrong path), not a parse error.
                if measuring {
                    self.report.counts.status.record(code);
                    self.report.counts.unexpected_status += 1;
                }
                return Consumed::Reconnect;
            }
            Err(_) => return self.protocol_error(i, measuring, "bad WebSocket upgrade response"),
        }
        if head_len < c.upgrade_head.len() {
            // The server talked before we sent a frame: nothing asked for it.
            return self.protocol_error(i, measuring, "data before the first frame");
        }
        c.upgrade_head.clear();
        c.state = State::Open;
        // Counted in warm-up too: connections upgrade at the start, and a report of
        // frames echoed over zero upgraded connections would be absurd.
        self.report.counts.ws_upgrades += 1;
        self.refill(i, now);
        self.flush(i, now);
        Consumed::Fine
    }

    /// Count echoed messages, answer pings, stop at a close frame.
    pub(super) fn consume_frames(&mut self, i: usize, src: Src, cqe_now: u64) -> Consumed {
        let measuring = cqe_now >= self.measure_start;
        let data = bytes(&self.bufs, &self.tls, src);
        let c = &mut self.conns[i];
        let inflight = c.inflight;
        let (mut done, mut close, mut unexpected) = (0u32, false, false);
        // Bit j set: the j-th message of this batch was a wrong echo
        // (inflight <= MAX_PIPELINE = 64, so a u64 holds the batch).
        let mut bad = 0u64;
        let pong = &mut c.pong;
        let expected = Some((Opcode::Text, self.plan.ws_message()));
        let result = c.frames.feed_echo(data, expected, |ev| match ev {
            WsEvent::Message { .. } | WsEvent::BadEcho if done == inflight => unexpected = true,
            WsEvent::Message { .. } => done += 1,
            WsEvent::BadEcho => {
                bad |= 1 << done;
                done += 1;
            }
            WsEvent::Ping(payload) => {
                pong.clear();
                pong_frame(payload, PONG_MASK, pong);
            }
            WsEvent::Pong => {}
            WsEvent::Close { .. } => close = true,
        });
        let now = if self.plan.cqe_latency || done == 0 {
            cqe_now
        } else {
            self.clock.now()
        };
        for j in 0..done {
            let measured = self.oldest_measured(i);
            if bad & (1 << j) != 0 {
                // A wrong echo answers its request but is no good response.
                self.conns[i].complete();
                self.report.counts.errors.parse += u64::from(measured);
                self.note_error(
                    ErrorKind::Parse,
                    Cause::Text("the echo differs from the message sent"),
                    measured,
                );
            } else {
                self.record_latencies(i, 1, now);
                self.report.counts.ws_frames += u64::from(measured);
            }
        }
        if result.is_err() {
            return self.protocol_error(i, measuring, "malformed WebSocket frame");
        }
        if unexpected {
            return self.protocol_error(i, measuring, "a frame nobody asked for");
        }
        // Frames still in flight at a close frame are counted as lost there.
        self.after_responses(i, close, now)
    }
}
