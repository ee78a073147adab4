//! WebSocket framing and handshake checked against tungstenite, an independent
//! implementation, entirely in memory (no sockets).

use std::io::{Cursor, Read, Write};

use proptest::prelude::*;
use runner::ws::frame::{close_frame, encode_client_frame, pong_frame};
use runner::ws::handshake::{
    check_upgrade_response, expected_accept, key_base64, parse_upgrade_response, upgrade_request,
};
use runner::ws::{FrameParser, Opcode, WsEvent};
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::Message;

/// An owned event, so runs can be compared.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Msg(Opcode, u64),
    Ping(Vec<u8>),
    Pong,
    Close(Option<u16>),
}

/// One step of a generated server stream.
#[derive(Clone, Debug)]
enum Step {
    /// A data message sent as these fragment lengths.
    Data {
        binary: bool,
        frags: Vec<usize>,
    },
    /// A ping between fragments of the message that follows.
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

/// A byte stream that reads from `input` and records what is written.
struct Pipe {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.output.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn parse(chunks: &[&[u8]]) -> Vec<Ev> {
    let mut p = FrameParser::new();
    let mut evs = Vec::new();
    for c in chunks {
        p.feed(c, |e| {
            evs.push(match e {
                WsEvent::Message { opcode, len } => Ev::Msg(opcode, len),
                WsEvent::Ping(b) => Ev::Ping(b.to_vec()),
                WsEvent::Pong => Ev::Pong,
                WsEvent::Close { code } => Ev::Close(code),
                WsEvent::BadEcho => unreachable!("feed never judges echoes"),
            })
        })
        .unwrap_or_else(|e| panic!("parser error: {e}"));
    }
    evs
}

/// Encodes `steps` with tungstenite (a ping/pong goes after the first fragment of
/// the next message, exercising control frames inside fragmented messages) and
/// returns the bytes and the events our parser must report.
fn server_stream(steps: &[Step], close: Option<u16>) -> (Vec<u8>, Vec<Ev>) {
    let mut out = Vec::new();
    let mut want = Vec::new();
    let mut pending: Vec<(Frame, Ev)> = Vec::new();
    for step in steps {
        match step {
            Step::Ping(p) => pending.push((Frame::ping(p.clone()), Ev::Ping(p.clone()))),
            Step::Pong(p) => pending.push((Frame::pong(p.clone()), Ev::Pong)),
            Step::Data { binary, frags } => {
                let data = if *binary { Data::Binary } else { Data::Text };
                for (i, &len) in frags.iter().enumerate() {
                    let op = if i == 0 { data } else { Data::Continue };
                    let last = i + 1 == frags.len();
                    Frame::message(vec![b'x'; len], OpCode::Data(op), last)
                        .format(&mut out)
                        .unwrap();
                    if last {
                        let op = if *binary {
                            Opcode::Binary
                        } else {
                            Opcode::Text
                        };
                        want.push(Ev::Msg(op, frags.iter().map(|&l| l as u64).sum()));
                    }
                    if i == 0 {
                        for (f, e) in pending.drain(..) {
                            f.format(&mut out).unwrap();
                            want.push(e);
                        }
                    }
                }
            }
        }
    }
    for (f, e) in pending {
        f.format(&mut out).unwrap();
        want.push(e);
    }
    if let Some(code) = close {
        let reason = "bye".into();
        Frame::close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason,
        }))
        .format(&mut out)
        .unwrap();
        want.push(Ev::Close(Some(code)));
    }
    (out, want)
}

fn frag_len() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0usize..130, 2 => 126usize..2000, 1 => 65_530usize..70_000]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<bool>(), prop::collection::vec(frag_len(), 1..4))
            .prop_map(|(binary, frags)| Step::Data { binary, frags }),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Step::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Step::Pong),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_split_gives_the_same_events(
        steps in prop::collection::vec(step(), 1..8),
        close in prop::option::of(1000u16..1012),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (bytes, want) = server_stream(&steps, close);
        prop_assert_eq!(&parse(&[&bytes]), &want);
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        at.push(0);
        at.push(bytes.len());
        at.sort_unstable();
        let chunks: Vec<&[u8]> = at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect();
        prop_assert_eq!(parse(&chunks), want);
    }

    #[test]
    fn tungstenite_reads_our_client_frames(
        payload in prop::collection::vec(any::<u8>(), 0..70_000),
        ping in prop::collection::vec(any::<u8>(), 0..=125),
        mask in any::<[u8; 4]>(),
    ) {
        let mut bytes = Vec::new();
        encode_client_frame(Opcode::Binary, &payload, mask, &mut bytes);
        pong_frame(&ping, mask, &mut bytes);
        close_frame(Some(1000), mask, &mut bytes);
        let pipe = Pipe { input: Cursor::new(bytes), output: Vec::new() };
        let mut ws = tungstenite::WebSocket::from_raw_socket(
            pipe,
            tungstenite::protocol::Role::Server,
            None,
        );
        prop_assert_eq!(ws.read().unwrap(), Message::Binary(payload.into()));
        prop_assert_eq!(ws.read().unwrap(), Message::Pong(ping.into()));
        match ws.read().unwrap() {
            Message::Close(Some(f)) => prop_assert_eq!(u16::from(f.code), 1000),
            other => prop_assert!(false, "expected close, got {:?}", other),
        }
    }

    #[test]
    fn accept_key_matches_tungstenite(key in any::<[u8; 16]>()) {
        let b64 = key_base64(&key);
        prop_assert_eq!(
            expected_accept(&b64),
            tungstenite::handshake::derive_accept_key(b64.as_bytes())
        );
    }
}

#[test]
fn handshake_and_echo_against_tungstenite_server() {
    let key = *b"0123456789abcdef";
    let pipe = Pipe {
        input: Cursor::new(upgrade_request("127.0.0.1:9", "/ws", &key)),
        output: Vec::new(),
    };
    let mut ws = tungstenite::accept(pipe).expect("tungstenite accepts our upgrade request");
    // A client sends frames only after the 101 (tungstenite rejects earlier ones).
    let mut frame = Vec::new();
    encode_client_frame(Opcode::Text, b"hello", [1, 2, 3, 4], &mut frame);
    ws.get_mut().input = Cursor::new(frame);
    let msg = ws.read().unwrap();
    assert_eq!(msg, Message::Text("hello".into()));
    ws.send(msg).unwrap();
    ws.send(Message::Ping(vec![7, 8].into())).unwrap();

    let out = std::mem::take(&mut ws.get_mut().output);
    let head_len = parse_upgrade_response(&out)
        .unwrap()
        .expect("complete head");
    check_upgrade_response(&out[..head_len], &expected_accept(key_base64(&key))).unwrap();
    assert_eq!(
        parse(&[&out[head_len..]]),
        [Ev::Msg(Opcode::Text, 5), Ev::Ping(vec![7, 8])]
    );
    // A different key's accept value is refused.
    assert!(check_upgrade_response(
        &out[..head_len],
        &expected_accept("AAAAAAAAAAAAAAAAAAAAAA==")
    )
    .is_err());
}
