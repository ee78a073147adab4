//! WebSocket frames: client-side encoding (masked) and an incremental,
//! non-copying parser for server frames.

use super::WsError;

/// Frame opcodes defined by RFC 6455.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// Continuation of a fragmented message.
    Continuation = 0x0,
    /// UTF-8 text message.
    Text = 0x1,
    /// Binary message.
    Binary = 0x2,
    /// Connection close.
    Close = 0x8,
    /// Ping (the peer answers with a pong).
    Ping = 0x9,
    /// Pong.
    Pong = 0xA,
}

impl Opcode {
    /// The opcode for a 4-bit value, or an error for reserved values.
    pub fn from_u8(v: u8) -> Result<Self, WsError> {
        Ok(match v {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(WsError::UnknownOpcode(other)),
        })
    }

    /// Whether this is a control opcode (close, ping, pong).
    pub fn is_control(self) -> bool {
        (self as u8) & 0x8 != 0
    }
}

/// Appends one frame to `out`: `fin` and `opcode` in the first byte, minimal
/// 7/16/64-bit length, and the payload masked with `mask` when given.
///
/// Does not allocate when `out` has room; servers (e.g. `gcannon serve`) pass `None`.
pub fn encode_frame(
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
    out: &mut Vec<u8>,
) {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    out.push(if fin { 0x80 } else { 0 } | opcode as u8);
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if len <= usize::from(u16::MAX) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i & 3]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// Appends a complete (FIN) masked client frame.
pub fn encode_client_frame(opcode: Opcode, payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    encode_frame(true, opcode, payload, Some(mask), out);
}

/// Appends the masked pong answering a ping with `payload` (at most 125 bytes).
pub fn pong_frame(payload: &[u8], mask: [u8; 4], out: &mut Vec<u8>) {
    encode_client_frame(Opcode::Pong, &payload[..payload.len().min(125)], mask, out);
}

/// Appends a masked close frame carrying `code` (big-endian) when given.
pub fn close_frame(code: Option<u16>, mask: [u8; 4], out: &mut Vec<u8>) {
    match code {
        Some(c) => encode_client_frame(Opcode::Close, &c.to_be_bytes(), mask, out),
        None => encode_client_frame(Opcode::Close, &[], mask, out),
    }
}

/// What the parser reports, in stream order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A complete data message: its opcode (text/binary) and total payload length
    /// over all its fragments. Payload bytes are skipped, never copied.
    Message {
        /// Text or Binary (the opcode of the first fragment).
        opcode: Opcode,
        /// Total payload bytes of the message.
        len: u64,
    },
    /// A complete data message that is not the echo expected (other payload,
    /// other length or other opcode; a text frame with invalid UTF-8 never
    /// equals the valid text sent). Only reported by [`FrameParser::feed_echo`].
    BadEcho,
    /// A ping with its payload (at most 125 bytes); answer with [`pong_frame`].
    Ping(&'a [u8]),
    /// A pong (payload ignored).
    Pong,
    /// The server closes; `code` when the close frame carried one.
    Close {
        /// Status code, if present.
        code: Option<u16>,
    },
}

/// Incremental parser of server-to-client frames.
///
/// Frames may straddle `feed` calls at any byte and many may share one buffer.
/// Fixed-size state only: nothing is allocated, data payloads are counted and
/// skipped, and a control payload split across buffers is kept in a 125-byte
/// array. [`FrameParser::feed`] never looks at data payloads;
/// [`FrameParser::feed_echo`] compares them, chunk by chunk, with the message
/// sent, so a wrong echo (or invalid UTF-8 in place of the text) is caught.
#[derive(Clone, Debug)]
pub struct FrameParser {
    /// Header bytes collected so far (2 + up to 8 length bytes).
    hdr: [u8; 10],
    hdr_len: usize,
    /// Whether the current frame's header is complete and its payload is due.
    in_payload: bool,
    fin: bool,
    opcode: Opcode,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// A control frame's payload gathered across buffers.
    ctrl: [u8; 125],
    ctrl_len: usize,
    /// The unfinished fragmented message: its opcode and bytes so far.
    msg: Option<(Opcode, u64)>,
    /// The current message differs from the expected echo so far.
    differs: bool,
    closed: bool,
}

impl Default for FrameParser {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameParser {
    /// A parser at the start of a frame stream.
    pub fn new() -> Self {
        Self {
            hdr: [0; 10],
            hdr_len: 0,
            in_payload: false,
            fin: false,
            opcode: Opcode::Continuation,
            remaining: 0,
            ctrl: [0; 125],
            ctrl_len: 0,
            msg: None,
            differs: false,
            closed: false,
        }
    }

    /// Whether a close frame was seen; later bytes are ignored.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Parses `buf`, calling `on` for each event; returns the bytes consumed.
    ///
    /// That is `buf.len()` unless a close frame ends the stream inside `buf`:
    /// then it is the offset just past the close frame, and later calls
    /// consume nothing. After an error the connection must be dropped.
    pub fn feed(&mut self, buf: &[u8], on: impl FnMut(WsEvent<'_>)) -> Result<usize, WsError> {
        self.feed_echo(buf, None, on)
    }

    /// [`FrameParser::feed`], reporting each data message that is not exactly
    /// `expected` (opcode and payload) as [`WsEvent::BadEcho`].
    pub fn feed_echo(
        &mut self,
        buf: &[u8],
        expected: Option<(Opcode, &[u8])>,
        mut on: impl FnMut(WsEvent<'_>),
    ) -> Result<usize, WsError> {
        let mut i = 0;
        while i < buf.len() && !self.closed {
            if !self.in_payload {
                if self.hdr_len < 2 {
                    self.hdr[self.hdr_len] = buf[i];
                    self.hdr_len += 1;
                    i += 1;
                    if self.hdr_len < 2 {
                        continue;
                    }
                    self.check_first_two()?;
                }
                let need = match self.hdr[1] & 0x7f {
                    126 => 4,
                    127 => 10,
                    _ => 2,
                };
                let take = (need - self.hdr_len).min(buf.len() - i);
                self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&buf[i..i + take]);
                self.hdr_len += take;
                i += take;
                if self.hdr_len == need {
                    self.begin_payload(need)?;
                    if self.remaining == 0 {
                        self.finish_frame_echo(&[], expected, &mut on)?;
                    }
                }
                continue;
            }
            // Bounded by buf.len(), so the cast back to usize cannot truncate.
            let take = self.remaining.min((buf.len() - i) as u64) as usize;
            let chunk = &buf[i..i + take];
            i += take;
            self.remaining -= take as u64;
            if self.opcode.is_control() {
                if self.remaining == 0 && self.ctrl_len == 0 {
                    self.finish_frame(chunk, &mut on)?; // whole payload in this buffer: no copy
                    continue;
                }
                self.ctrl[self.ctrl_len..self.ctrl_len + take].copy_from_slice(chunk);
                self.ctrl_len += take;
                if self.remaining == 0 {
                    let ctrl = self.ctrl;
                    let n = self.ctrl_len;
                    self.finish_frame(&ctrl[..n], &mut on)?;
                }
            } else {
                if let (Some((_, want)), Some((_, total))) = (expected, self.msg) {
                    // Offset of `chunk` in the whole message.
                    let at = total - self.remaining - take as u64;
                    let want = usize::try_from(at)
                        .ok()
                        .and_then(|a| want.get(a..a.checked_add(take)?));
                    self.differs |= want != Some(chunk);
                }
                if self.remaining == 0 {
                    self.finish_frame_echo(&[], expected, &mut on)?;
                }
            }
        }
        Ok(i)
    }

    /// Validates FIN/RSV/opcode/MASK as soon as the first two bytes are in.
    fn check_first_two(&mut self) -> Result<(), WsError> {
        let (b0, b1) = (self.hdr[0], self.hdr[1]);
        if b0 & 0x70 != 0 {
            return Err(WsError::ReservedBits(b0 & 0x70));
        }
        let opcode = Opcode::from_u8(b0 & 0x0f)?;
        let fin = b0 & 0x80 != 0;
        if b1 & 0x80 != 0 {
            return Err(WsError::MaskedServerFrame);
        }
        if opcode.is_control() {
            if !fin {
                return Err(WsError::ControlFragmented(opcode as u8));
            }
        } else {
            match (opcode, self.msg.is_some()) {
                (Opcode::Continuation, false) => return Err(WsError::ContinuationWithoutStart),
                (Opcode::Text | Opcode::Binary, true) => return Err(WsError::Interleaved),
                _ => {}
            }
        }
        self.fin = fin;
        self.opcode = opcode;
        Ok(())
    }

    /// Decodes the payload length once the header is complete.
    fn begin_payload(&mut self, hdr_len: usize) -> Result<(), WsError> {
        let len = match hdr_len {
            4 => u64::from(u16::from_be_bytes([self.hdr[2], self.hdr[3]])),
            10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&self.hdr[2..10]);
                u64::from_be_bytes(b)
            }
            _ => u64::from(self.hdr[1] & 0x7f),
        };
        if len >> 63 != 0 {
            return Err(WsError::LengthTooLarge);
        }
        if self.opcode.is_control() && len > 125 {
            return Err(WsError::ControlTooLong(len));
        }
        match self.opcode {
            Opcode::Continuation => {
                if let Some((_, total)) = &mut self.msg {
                    *total += len;
                }
            }
            Opcode::Text | Opcode::Binary => {
                self.msg = Some((self.opcode, len));
                self.differs = false;
            }
            _ => {}
        }
        self.remaining = len;
        self.in_payload = true;
        self.ctrl_len = 0;
        Ok(())
    }

    /// Reports the frame whose payload just ended and resets for the next header.
    fn finish_frame(
        &mut self,
        payload: &[u8],
        on: &mut impl FnMut(WsEvent<'_>),
    ) -> Result<(), WsError> {
        self.finish_frame_echo(payload, None, on)
    }

    /// [`FrameParser::finish_frame`], judging a finished message against `expected`.
    fn finish_frame_echo(
        &mut self,
        payload: &[u8],
        expected: Option<(Opcode, &[u8])>,
        on: &mut impl FnMut(WsEvent<'_>),
    ) -> Result<(), WsError> {
        self.in_payload = false;
        self.hdr_len = 0;
        self.ctrl_len = 0;
        match self.opcode {
            Opcode::Ping => on(WsEvent::Ping(payload)),
            Opcode::Pong => on(WsEvent::Pong),
            Opcode::Close => {
                let code = match payload {
                    [] => None,
                    [_] => return Err(WsError::CloseBadPayload),
                    [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
                };
                self.closed = true;
                on(WsEvent::Close { code });
            }
            _ if self.fin => {
                if let Some((opcode, len)) = self.msg.take() {
                    let bad = expected.is_some_and(|(op, want)| {
                        self.differs || op != opcode || want.len() as u64 != len
                    });
                    if bad {
                        on(WsEvent::BadEcho);
                    } else {
                        on(WsEvent::Message { opcode, len });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
