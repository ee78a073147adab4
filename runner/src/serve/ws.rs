//! WebSocket echo (RFC 6455) on an upgraded connection.
//!
//! Fragmented messages are reassembled and echoed as one unfragmented frame;
//! control frames may arrive between fragments and are answered at once.

use crate::ws::frame::{encode_frame, Opcode};

/// Largest message we reassemble or echo; beyond it we close with 1009.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;
/// Per-connection reassembly state.
#[derive(Debug, Default)]
pub struct WsState {
    /// Opcode of the message being reassembled, 0 when none.
    opcode: u8,
    /// Payload gathered so far.
    message: Vec<u8>,
}

/// Result of consuming frames from the read buffer.
#[derive(Debug, PartialEq, Eq)]
pub struct Echoed {
    /// Bytes consumed from the front of the buffer.
    pub consumed: usize,
    /// Data frames (or whole messages) echoed.
    pub echoed: u64,
    /// The connection must close once `out` is written.
    pub close: bool,
}

/// Consume every complete frame at the front of `buf`, appending replies to `out`.
pub fn process(state: &mut WsState, buf: &mut [u8], out: &mut Vec<u8>) -> Echoed {
    let mut p = Echoed {
        consumed: 0,
        echoed: 0,
        close: false,
    };
    while !p.close {
        let frame = &mut buf[p.consumed..];
        let Some((hdr, len)) = frame_header(frame) else {
            break;
        };
        let Some(len) = len else {
            close_with(out, 1009);
            p.close = true;
            break;
        };
        let (b0, b1) = (frame[0], frame[1]);
        if frame.len() - hdr < len {
            break;
        }
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0f;
        let payload_start = hdr;
        if b1 & 0x80 != 0 {
            let key = [
                frame[hdr - 4],
                frame[hdr - 3],
                frame[hdr - 2],
                frame[hdr - 1],
            ];
            for (i, b) in frame[payload_start..payload_start + len]
                .iter_mut()
                .enumerate()
            {
                *b ^= key[i & 3];
            }
        }
        let payload = &frame[payload_start..payload_start + len];
        p.consumed += hdr + len;
        if b0 & 0x70 != 0 {
            close_with(out, 1002);
            p.close = true;
            break;
        }
        match opcode {
            1 | 2 if state.opcode != 0 => {
                close_with(out, 1002);
                p.close = true;
            }
            1 | 2 if fin => {
                write_frame(out, data_opcode(opcode), payload);
                p.echoed += 1;
            }
            1 | 2 => {
                state.opcode = opcode;
                state.message.clear();
                state.message.extend_from_slice(payload);
            }
            0 if state.opcode == 0 => {
                close_with(out, 1002);
                p.close = true;
            }
            0 => {
                if state.message.len() + payload.len() > MAX_MESSAGE {
                    close_with(out, 1009);
                    p.close = true;
                    continue;
                }
                state.message.extend_from_slice(payload);
                if fin {
                    write_frame(out, data_opcode(state.opcode), &state.message);
                    state.opcode = 0;
                    state.message = Vec::new();
                    p.echoed += 1;
                }
            }
            8 => {
                // Echo the status code (not the reason) back, then close.
                let code = if payload.len() >= 2 {
                    &payload[..2]
                } else {
                    &[][..]
                };
                write_frame(out, Opcode::Close, code);
                p.close = true;
            }
            9 if fin && len <= 125 => write_frame(out, Opcode::Pong, payload),
            10 if fin && len <= 125 => {}
            _ => {
                close_with(out, 1002);
                p.close = true;
            }
        }
    }
    p
}

/// Header length and payload length of the frame at the front of `buf`:
/// `None` while the header is incomplete, `Some((_, None))` when too large.
fn frame_header(buf: &[u8]) -> Option<(usize, Option<usize>)> {
    if buf.len() < 2 {
        return None;
    }
    let masked = buf[1] & 0x80 != 0;
    let (ext, len) = match buf[1] & 0x7f {
        126 => (
            2,
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
        ),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (8, u64::from_be_bytes(b))
        }
        n => (0, u64::from(n)),
    };
    let hdr = 2 + ext + if masked { 4 } else { 0 };
    if buf.len() < hdr {
        return None;
    }
    let len = usize::try_from(len).ok().filter(|&l| l <= MAX_MESSAGE);
    Some((hdr, len))
}

/// Append one unmasked, final server frame.
fn write_frame(out: &mut Vec<u8>, opcode: Opcode, payload: &[u8]) {
    encode_frame(true, opcode, payload, None, out);
}

/// The opcode a reassembled or single-frame message is echoed with.
fn data_opcode(opcode: u8) -> Opcode {
    if opcode == 1 {
        Opcode::Text
    } else {
        Opcode::Binary
    }
}

/// Append a close frame carrying `code`.
fn close_with(out: &mut Vec<u8>, code: u16) {
    write_frame(out, Opcode::Close, &code.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_text_is_echoed_unmasked() {
        let key = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | 5];
        frame.extend_from_slice(&key);
        frame.extend(b"hello".iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
        frame.push(0x81); // start of an incomplete next frame
        let mut st = WsState::default();
        let mut out = Vec::new();
        let p = process(&mut st, &mut frame, &mut out);
        assert_eq!(p.consumed, frame.len() - 1);
        assert_eq!(p.echoed, 1);
        assert_eq!(out, b"\x81\x05hello");
    }
}
