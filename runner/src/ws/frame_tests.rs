use super::*;

/// An owned copy of an event, so tests can collect them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Msg(Opcode, u64),
    Ping(Vec<u8>),
    Pong,
    Close(Option<u16>),
}

fn own(e: WsEvent<'_>) -> Ev {
    match e {
        WsEvent::Message { opcode, len } => Ev::Msg(opcode, len),
        WsEvent::Ping(p) => Ev::Ping(p.to_vec()),
        WsEvent::Pong => Ev::Pong,
        WsEvent::Close { code } => Ev::Close(code),
        WsEvent::BadEcho => unreachable!("feed never judges echoes"),
    }
}

fn parse_chunks(chunks: &[&[u8]]) -> Result<Vec<Ev>, WsError> {
    let mut p = FrameParser::new();
    let mut evs = Vec::new();
    for c in chunks {
        p.feed(c, |e| evs.push(own(e)))?;
    }
    Ok(evs)
}

fn server(fin: bool, op: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode_frame(fin, op, payload, None, &mut v);
    v
}

#[test]
fn rfc_masked_hello() {
    let mut out = Vec::new();
    encode_client_frame(Opcode::Text, b"Hello", [0x37, 0xfa, 0x21, 0x3d], &mut out);
    assert_eq!(
        out,
        [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
}

#[test]
fn rfc_unmasked_and_fragmented_hello() {
    assert_eq!(
        server(true, Opcode::Text, b"Hello"),
        [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
    let mut s = server(false, Opcode::Text, b"Hel");
    s.extend(server(true, Opcode::Continuation, b"lo"));
    assert_eq!(s, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(parse_chunks(&[&s]).unwrap(), [Ev::Msg(Opcode::Text, 5)]);
}

#[test]
fn rfc_length_encodings() {
    // 256 bytes binary: 16-bit length (RFC 6455 5.7).
    let f = server(true, Opcode::Binary, &[0u8; 256]);
    assert_eq!(&f[..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(f.len(), 4 + 256);
    // 64 KiB binary: 64-bit length.
    let f = server(true, Opcode::Binary, &[0u8; 65536]);
    assert_eq!(&f[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    // 125 and 126 are the 7-bit / 16-bit boundary; masked client lengths too.
    let mut out = Vec::new();
    encode_client_frame(Opcode::Text, &[b'a'; 125], [1, 2, 3, 4], &mut out);
    assert_eq!(&out[..2], [0x81, 0x80 | 125]);
    out.clear();
    encode_client_frame(Opcode::Text, &[b'a'; 126], [1, 2, 3, 4], &mut out);
    assert_eq!(&out[..8], [0x81, 0xFE, 0, 126, 1, 2, 3, 4]);
    assert_eq!(out.len(), 8 + 126);
    assert_eq!(out[8], b'a' ^ 1);
    assert_eq!(out[9], b'a' ^ 2);
    assert_eq!(out[12], b'a' ^ 1);
    let n = 70_000usize;
    let payload = vec![7u8; n];
    for (frame, header) in [
        (server(true, Opcode::Binary, &[1u8; 126]), 4u64),
        (server(true, Opcode::Binary, &payload), 10),
    ] {
        let len = frame.len() as u64 - header;
        assert_eq!(
            parse_chunks(&[&frame]).unwrap(),
            [Ev::Msg(Opcode::Binary, len)]
        );
    }
}

#[test]
fn control_frames_encode() {
    let mut out = Vec::new();
    pong_frame(b"Hello", [0x37, 0xfa, 0x21, 0x3d], &mut out);
    assert_eq!(
        out,
        [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    );
    out.clear();
    close_frame(Some(1000), [0, 0, 0, 0], &mut out);
    assert_eq!(out, [0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]);
    out.clear();
    close_frame(None, [9, 9, 9, 9], &mut out);
    assert_eq!(out, [0x88, 0x80, 9, 9, 9, 9]);
}

#[test]
fn ping_in_the_middle_of_a_fragmented_message() {
    let mut s = server(false, Opcode::Binary, &[1; 10]);
    s.extend(server(true, Opcode::Ping, b"are you there"));
    s.extend(server(false, Opcode::Continuation, &[2; 300]));
    s.extend(server(true, Opcode::Pong, b"x"));
    s.extend(server(true, Opcode::Continuation, &[]));
    s.extend(server(true, Opcode::Text, b"next"));
    s.extend(server(true, Opcode::Ping, b""));
    s.extend(server(true, Opcode::Close, &[0x03, 0xE9, b'b', b'y', b'e']));
    let want = vec![
        Ev::Ping(b"are you there".to_vec()),
        Ev::Pong,
        Ev::Msg(Opcode::Binary, 310),
        Ev::Msg(Opcode::Text, 4),
        Ev::Ping(vec![]),
        Ev::Close(Some(1001)),
    ];
    assert_eq!(parse_chunks(&[&s]).unwrap(), want);
    // Every split point into two buffers, and byte-at-a-time, give the same events.
    for cut in 0..=s.len() {
        assert_eq!(
            parse_chunks(&[&s[..cut], &s[cut..]]).unwrap(),
            want,
            "cut at {cut}"
        );
    }
    let bytes: Vec<&[u8]> = s.chunks(1).collect();
    assert_eq!(parse_chunks(&bytes).unwrap(), want);
}

#[test]
fn close_stops_consumption() {
    let mut s = server(true, Opcode::Close, &[]);
    let close_len = s.len();
    s.extend(server(true, Opcode::Text, b"after"));
    let mut p = FrameParser::new();
    let mut evs = Vec::new();
    assert_eq!(p.feed(&s, |e| evs.push(own(e))), Ok(close_len));
    assert_eq!(evs, [Ev::Close(None)]);
    assert!(p.is_closed());
    assert_eq!(p.feed(b"\x81\x01a", |e| evs.push(own(e))), Ok(0));
    assert_eq!(evs.len(), 1);
}

#[test]
fn feed_consumes_everything_otherwise() {
    let s = server(true, Opcode::Text, &[b'z'; 1000]);
    let mut p = FrameParser::new();
    let mut n = 0;
    assert_eq!(p.feed(&s[..500], |_| n += 1), Ok(500));
    assert_eq!(n, 0);
    assert_eq!(p.feed(&s[500..], |_| n += 1), Ok(s.len() - 500));
    assert_eq!(n, 1);
}

#[test]
fn protocol_errors() {
    let mut big_ping = vec![0x89, 126, 0, 126];
    big_ping.extend([0; 126]);
    let cases: Vec<(Vec<u8>, WsError)> = vec![
        (vec![0xC1, 0x00], WsError::ReservedBits(0x40)),
        (vec![0x91, 0x00], WsError::ReservedBits(0x10)),
        (vec![0x83, 0x00], WsError::UnknownOpcode(3)),
        (vec![0x8B, 0x00], WsError::UnknownOpcode(0xB)),
        (vec![0x09, 0x00], WsError::ControlFragmented(9)),
        (big_ping, WsError::ControlTooLong(126)),
        (
            vec![0x81, 0x81, 1, 2, 3, 4, b'a'],
            WsError::MaskedServerFrame,
        ),
        (vec![0x80, 0x00], WsError::ContinuationWithoutStart),
        (vec![0x01, 0x01, b'a', 0x81, 0x00], WsError::Interleaved),
        (vec![0x01, 0x00, 0x02, 0x00], WsError::Interleaved),
        (vec![0x88, 0x01, 0x03], WsError::CloseBadPayload),
        (
            vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0],
            WsError::LengthTooLarge,
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(parse_chunks(&[&bytes]), Err(want.clone()), "{bytes:02x?}");
        let split: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(parse_chunks(&split), Err(want), "{bytes:02x?} byte by byte");
    }
}

#[test]
fn opcode_roundtrip() {
    for op in [
        Opcode::Continuation,
        Opcode::Text,
        Opcode::Binary,
        Opcode::Close,
        Opcode::Ping,
        Opcode::Pong,
    ] {
        assert_eq!(Opcode::from_u8(op as u8), Ok(op));
    }
    assert!(Opcode::Ping.is_control() && !Opcode::Binary.is_control());
}

#[test]
fn feed_echo_catches_a_wrong_echo_in_any_split() {
    let sent = b"hello world";
    let frame = |op: u8, payload: &[u8]| {
        let mut f = vec![0x80 | op, payload.len() as u8];
        f.extend_from_slice(payload);
        f
    };
    let cases: [(Vec<u8>, bool); 6] = [
        (frame(0x1, sent), true),
        (frame(0x1, b"hello w0rld"), false),
        (frame(0x1, b"hello"), false),
        (frame(0x1, b"hello world!"), false),
        (frame(0x2, sent), false),
        // Invalid UTF-8 in a text frame is never the text that was sent.
        (frame(0x1, b"hello \xff\xfeld"), false),
    ];
    for (bytes, good) in cases {
        for split in 0..bytes.len() {
            let mut p = FrameParser::new();
            let mut events = Vec::new();
            for chunk in [&bytes[..split], &bytes[split..]] {
                p.feed_echo(chunk, Some((Opcode::Text, sent)), |e| {
                    events.push(matches!(e, WsEvent::Message { .. }))
                })
                .unwrap();
            }
            assert_eq!(events, vec![good], "{bytes:?} split at {split}");
        }
    }
    // Fragmented: "hello " + "world" as text then continuation.
    let mut p = FrameParser::new();
    let mut events = Vec::new();
    let mut bytes = vec![0x01, 6];
    bytes.extend_from_slice(b"hello ");
    bytes.extend_from_slice(&[0x80, 5]);
    bytes.extend_from_slice(b"world");
    p.feed_echo(&bytes, Some((Opcode::Text, sent)), |e| {
        events.push(matches!(e, WsEvent::Message { .. }))
    })
    .unwrap();
    assert_eq!(events, vec![true]);
}
