//! Unit tests for response framing: one per rule and per malformed case.

use super::*;

/// Feed `input` in one buffer; the responses and the bytes consumed.
fn feed_whole(p: &mut ResponseParser, input: &[u8]) -> Result<(Vec<Response>, usize), ParseError> {
    let mut out = Vec::new();
    let n = p.feed(input, |r| out.push(r))?;
    Ok((out, n))
}

/// Responses from `input` fed in one buffer (must consume everything).
fn parse(input: &[u8]) -> Vec<Response> {
    let mut p = ResponseParser::new();
    let (out, n) = feed_whole(&mut p, input).expect("valid stream");
    assert_eq!(n, input.len(), "stopped early");
    assert!(p.is_idle(), "left partial state");
    // Byte by byte must give the same answer: every straddle position at once.
    let mut q = ResponseParser::new();
    let mut bytewise = Vec::new();
    for b in input {
        assert_eq!(q.feed(std::slice::from_ref(b), |r| bytewise.push(r)), Ok(1));
    }
    assert_eq!(out, bytewise, "bytewise feeding differs");
    out
}

/// The error for `input`, both fed whole and byte by byte.
fn parse_err(input: &[u8]) -> ParseError {
    let whole = feed_whole(&mut ResponseParser::new(), input).expect_err("should fail");
    let mut q = ResponseParser::new();
    let bytewise = input
        .iter()
        .find_map(|b| q.feed(std::slice::from_ref(b), |_| {}).err())
        .expect("bytewise should fail");
    assert_eq!(whole, bytewise);
    whole
}

fn ok(status: u16) -> Response {
    Response {
        status,
        close: false,
    }
}

fn closing(status: u16) -> Response {
    Response {
        status,
        close: true,
    }
}

#[test]
fn content_length_body() {
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(s), vec![ok(200), ok(404)]);
}

#[test]
fn empty_and_missing_reason_phrase() {
    let s = b"HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nxHTTP/1.1 201\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(s), vec![ok(200), ok(201)]);
}

#[test]
fn bare_lf_line_endings() {
    let s = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhiHTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nab\n0\n\n";
    assert_eq!(parse(s), vec![ok(200), ok(200)]);
}

#[test]
fn header_names_case_insensitive_and_values_trimmed() {
    let s = b"HTTP/1.1 200 OK\r\ncontent-LENGTH:\t 3 \t\r\nCONNECTION:   Keep-Alive  \r\n\r\nabcHTTP/1.1 200 OK\r\nTRANSFER-encoding:  Chunked \r\n\r\n0\r\n\r\n";
    assert_eq!(parse(s), vec![ok(200), ok(200)]);
}

#[test]
fn http10_closes_unless_keep_alive() {
    let s = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(parse(s), vec![ok(200)]);
    let mut p = ResponseParser::new();
    let s = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nxJUNK";
    assert_eq!(feed_whole(&mut p, s), Ok((vec![closing(200)], s.len() - 4)));
}

#[test]
fn connection_close_token_list_stops_parsing() {
    let head = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, CLOSE\r\nContent-Length: 2\r\n\r\nok";
    let mut s = head.to_vec();
    s.extend_from_slice(b"\x81\x00not http at all");
    let mut p = ResponseParser::new();
    assert_eq!(feed_whole(&mut p, &s), Ok((vec![closing(200)], head.len())));
    assert!(p.is_idle());
    // Other tokens containing "close" are not `close`.
    let s = b"HTTP/1.1 200 OK\r\nConnection: closed, xclose\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(s), vec![ok(200)]);
}

#[test]
fn duplicate_equal_content_length_accepted() {
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nab";
    assert_eq!(parse(s), vec![ok(200), ok(200)]);
}

#[test]
fn conflicting_content_length_rejected() {
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert_eq!(
        parse_err(s),
        ParseError::Malformed("conflicting Content-Length")
    );
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabcd";
    assert_eq!(
        parse_err(s),
        ParseError::Malformed("conflicting Content-Length")
    );
}

#[test]
fn bad_content_length_rejected() {
    for v in ["+5", "5a", "0x10", "-1", "5 5", "1.0"] {
        let s = format!("HTTP/1.1 200 OK\r\nContent-Length: {v}\r\n\r\n");
        assert_eq!(
            parse_err(s.as_bytes()),
            ParseError::Malformed("non-digit in Content-Length"),
            "{v}"
        );
    }
    let s = b"HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n";
    assert_eq!(parse_err(s), ParseError::Malformed("empty Content-Length"));
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n";
    assert_eq!(
        parse_err(s),
        ParseError::Malformed("Content-Length overflow")
    );
}

#[test]
fn body_larger_than_buffers() {
    let mut p = ResponseParser::new();
    let mut out = Vec::new();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
    assert_eq!(p.feed(head, |r| out.push(r)), Ok(head.len()));
    let block = [b'z'; 4096];
    let mut left = 1_000_000;
    while left > 0 {
        let n = left.min(block.len());
        assert!(out.is_empty());
        assert_eq!(p.feed(&block[..n], |r| out.push(r)), Ok(n));
        left -= n;
    }
    assert_eq!(out, vec![ok(200)]);
    assert!(p.is_idle());
}

#[test]
fn chunked_with_extensions_hex_and_trailers() {
    let s = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        a;name=value;q=\"x;y\"\r\n0123456789\r\n\
        A \t; ext\r\n0123456789\r\n\
        1F\r\n0123456789012345678901234567890\r\n\
        00\r\nExpires: never\r\nX-Sum: 1\r\n\r\n\
        HTTP/1.1 204 No Content\r\n\r\n";
    assert_eq!(parse(s), vec![ok(200), ok(204)]);
}

#[test]
fn chunked_wins_over_content_length() {
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(s), vec![ok(200), ok(200)]);
}

#[test]
fn transfer_encoding_not_ending_in_chunked_reads_until_close() {
    let mut p = ResponseParser::new();
    let s =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 2\r\n\r\nabcdef";
    assert_eq!(feed_whole(&mut p, s), Ok((vec![], s.len())));
    assert_eq!(p.finish(), Ok(Some(closing(200))));
}

#[test]
fn bodiless_statuses_ignore_length() {
    let s = b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n\
        HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(s), vec![ok(204), ok(304), ok(200)]);
}

#[test]
fn head_responses_have_no_body() {
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n";
    let mut p = ResponseParser::new();
    p.set_head(true);
    assert_eq!(
        feed_whole(&mut p, s),
        Ok((vec![ok(200), ok(200), ok(404)], s.len()))
    );
    // The setting survives a reset (it describes the requests, not the state).
    p.reset();
    assert_eq!(
        feed_whole(&mut p, s),
        Ok((vec![ok(200), ok(200), ok(404)], s.len()))
    );
}

#[test]
fn no_length_reads_until_close() {
    let mut p = ResponseParser::new();
    let s = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody bytes HTTP/1.1 200 OK\r\n";
    assert_eq!(feed_whole(&mut p, s), Ok((vec![], s.len())));
    assert!(!p.is_idle());
    assert_eq!(feed_whole(&mut p, b"more"), Ok((vec![], 4)));
    assert_eq!(p.finish(), Ok(Some(closing(200))));
    assert!(p.is_idle());
    assert_eq!(p.finish(), Ok(None));
}

#[test]
fn interim_responses_skipped() {
    let s = b"HTTP/1.1 100 Continue\r\n\r\n\
        HTTP/1.1 102 Processing\r\n\r\n\
        HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
    assert_eq!(parse(s), vec![ok(200)]);
}

#[test]
fn switching_protocols_stops() {
    let head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 50\r\n\r\n";
    let mut s = head.to_vec();
    s.extend_from_slice(b"\x81\x05hello");
    let mut p = ResponseParser::new();
    assert_eq!(feed_whole(&mut p, &s), Ok((vec![ok(101)], head.len())));
    // Byte by byte, the stop happens on the last byte of the header section.
    let mut q = ResponseParser::new();
    let mut out = Vec::new();
    for (i, b) in s.iter().enumerate() {
        let n = q.feed(std::slice::from_ref(b), |r| out.push(r)).unwrap();
        assert_eq!(n, 1, "at {i}");
        if !out.is_empty() {
            assert_eq!(i + 1, head.len());
            break;
        }
    }
    assert_eq!(out, vec![ok(101)]);
}

#[test]
fn stray_blank_lines_between_responses_tolerated() {
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(parse(s), vec![ok(200), ok(200)]);
}

#[test]
fn obsolete_line_folding() {
    let s = b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 0\r\n\r\n";
    let mut p = ResponseParser::new();
    assert_eq!(feed_whole(&mut p, s), Ok((vec![closing(200)], s.len())));
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\n";
    assert_eq!(parse_err(s), ParseError::Malformed("folded Content-Length"));
}

#[test]
fn garbage_instead_of_status_line() {
    assert_eq!(
        parse_err(b"<html>hello</html>\r\n\r\n"),
        ParseError::Malformed("expected an HTTP status line")
    );
    // Detected at once, without waiting for a line end.
    let mut p = ResponseParser::new();
    assert!(p.feed(b"HTTX", |_| {}).is_err());
    assert_eq!(
        parse_err(b"HTTP/2 200 OK\r\n\r\n"),
        ParseError::Malformed("unsupported HTTP version")
    );
    assert_eq!(
        parse_err(b"HTTP/1.1\r\n\r\n"),
        ParseError::Malformed("expected a space after the HTTP version")
    );
}

#[test]
fn status_not_three_digits() {
    for line in [
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 OK",
        "HTTP/1.1 2x0 OK",
        "HTTP/1.1 ",
        "HTTP/1.1 200OK",
    ] {
        let s = format!("{line}\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            parse_err(s.as_bytes()),
            ParseError::Malformed("status code is not 3 digits"),
            "{line}"
        );
    }
}

#[test]
fn header_line_without_colon() {
    let s = b"HTTP/1.1 200 OK\r\nContent-Length 5\r\n\r\nhello";
    assert_eq!(
        parse_err(s),
        ParseError::Malformed("header line without colon")
    );
    let s = b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello";
    assert_eq!(
        parse_err(s),
        ParseError::Malformed("whitespace before colon in header")
    );
    let s = b"HTTP/1.1 200 OK\r\n: 5\r\n\r\nhello";
    assert_eq!(parse_err(s), ParseError::Malformed("empty header name"));
}

#[test]
fn oversize_header_section() {
    let mut s = b"HTTP/1.1 200 OK\r\n".to_vec();
    while s.len() <= MAX_HEAD {
        s.extend_from_slice(b"X-Filler: 0123456789012345678901234567890123456789\r\n");
    }
    s.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let err = ParseError::Malformed("header section too large");
    assert_eq!(parse_err(&s), err);
    // Fed in 4 KiB buffers the fragment path must reject it too.
    let mut p = ResponseParser::new();
    let got = s.chunks(4096).find_map(|c| p.feed(c, |_| {}).err());
    assert_eq!(got, Some(err));
    // Just under the limit is fine.
    let mut s = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
    s.resize(MAX_HEAD - 4, b'a');
    s.extend_from_slice(b"\r\n\r\n");
    assert_eq!(s.len(), MAX_HEAD);
    let mut p = ResponseParser::new();
    let mut out = Vec::new();
    for c in s.chunks(1000) {
        p.feed(c, |r| out.push(r)).unwrap();
    }
    assert_eq!(out, vec![]);
    assert_eq!(p.finish(), Ok(Some(closing(200))));
}

#[test]
fn bad_chunk_size() {
    let pre = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        "xyz\r\n", "\r\n", ";ext\r\n", "5 x\r\n", "5\rx", "-1\r\n", "5@\r\n",
    ] {
        let s = format!("{pre}{body}");
        assert!(
            matches!(parse_err(s.as_bytes()), ParseError::Malformed(_)),
            "{body:?}"
        );
    }
    let s = format!("{pre}10000000000000000\r\n");
    assert_eq!(
        parse_err(s.as_bytes()),
        ParseError::Malformed("chunk size overflow")
    );
    // The largest size still parses.
    let mut p = ResponseParser::new();
    let s = format!("{pre}FFFFFFFFFFFFFFFF\r\nabc");
    assert!(p.feed(s.as_bytes(), |_| {}).is_ok());
}

#[test]
fn missing_crlf_after_chunk_data() {
    let pre = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        "3\r\nabcd\r\n0\r\n\r\n",
        "3\r\nabc\rX0\r\n\r\n",
        "3\r\nabc\r\r\n",
    ] {
        let s = format!("{pre}{body}");
        assert_eq!(
            parse_err(s.as_bytes()),
            ParseError::Malformed("missing CRLF after chunk data"),
            "{body:?}"
        );
    }
}

#[test]
fn finish_reports_truncation() {
    let cases: [&[u8]; 6] = [
        b"HTTP/1.",
        b"HTTP/1.1 200 OK\r\nContent-Le",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ];
    for (i, s) in cases.iter().enumerate() {
        let mut p = ResponseParser::new();
        let n = p.feed(s, |_| {}).unwrap();
        assert_eq!(n, s.len());
        let want = if i == 5 {
            Ok(None)
        } else {
            Err(ParseError::Truncated)
        };
        assert_eq!(p.finish(), want, "case {i}");
        // finish leaves a fresh parser behind.
        assert!(p.is_idle());
    }
    assert_eq!(ResponseParser::new().finish(), Ok(None));
}

#[test]
fn reset_recovers_after_error() {
    let mut p = ResponseParser::new();
    assert!(p.feed(b"HTTP/1.1 200 OK\r\nbad\r\n\r\n", |_| {}).is_err());
    p.reset();
    assert!(p.is_idle());
    let s = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(feed_whole(&mut p, s), Ok((vec![ok(200)], s.len())));
    // A reset in the middle of a header fragment forgets it.
    let partial = b"HTTP/1.1 500 Oops\r\nX: y";
    assert_eq!(p.feed(partial, |_| {}), Ok(partial.len()));
    assert!(!p.is_idle());
    p.reset();
    assert_eq!(feed_whole(&mut p, s), Ok((vec![ok(200)], s.len())));
}

#[test]
fn ten_thousand_pipelined_in_one_buffer() {
    let one = b"HTTP/1.1 200 OK\r\nServer: gc\r\nContent-Length: 2\r\n\r\nok";
    let buf = one.repeat(10_000);
    let mut p = ResponseParser::new();
    let mut count = 0;
    let n = p
        .feed(&buf, |r| {
            assert_eq!(r, ok(200));
            count += 1;
        })
        .unwrap();
    assert_eq!((count, n), (10_000, buf.len()));
    assert!(p.is_idle());
}

#[test]
fn stop_on_buffer_end_is_remembered() {
    let mut p = ResponseParser::new();
    let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    assert_eq!(feed_whole(&mut p, head), Ok((vec![ok(101)], head.len())));
    assert!(p.is_stopped());
    // The next buffer holds WebSocket frames: nothing of it is consumed.
    assert_eq!(feed_whole(&mut p, b"\x81\x05hello"), Ok((vec![], 0)));
    assert_eq!(p.finish(), Ok(None));
    assert!(!p.is_stopped());
    let s = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    assert_eq!(feed_whole(&mut p, s), Ok((vec![closing(200)], s.len())));
    assert!(p.is_stopped());
    p.reset();
    assert!(!p.is_stopped());
    assert_eq!(feed_whole(&mut p, s), Ok((vec![closing(200)], s.len())));
}

/// A worker's shared head cache must never change what a stream means: equal
/// heads are recognised, and any byte of difference (status, length, framing,
/// a head cut short) falls back to parsing.
#[test]
fn head_cache_gives_the_same_responses_as_parsing() {
    let a = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".as_slice();
    let longer = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhey".as_slice();
    let status = b"HTTP/1.1 503 OK\r\nContent-Length: 2\r\n\r\nno".as_slice();
    let chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n".as_slice();
    let closing_head =
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi".as_slice();
    let stream: Vec<u8> = [a, a, longer, a, status, chunked, a, closing_head].concat();
    let expected = parse(&stream);
    assert_eq!(expected.len(), 8);
    assert_eq!(expected[4], ok(503));
    assert_eq!(expected[7], closing(200));

    let mut cache = HeadCache::default();
    let mut got = Vec::new();
    // Two connections sharing the cache, each fed the stream in buffers that
    // split heads at different places (a cut head must not match the cache).
    for split in [1usize, 7, 40, stream.len()] {
        let mut p = ResponseParser::new();
        got.clear();
        for piece in stream.chunks(split) {
            p.feed_cached(piece, &mut cache, |r| got.push(r))
                .expect("valid stream");
        }
        assert_eq!(got, expected, "buffers of {split} bytes");
    }
    // A malformed head right after a cached one is still refused.
    let mut p = ResponseParser::new();
    let bad: Vec<u8> = [
        a,
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n".as_slice(),
    ]
    .concat();
    assert!(p.feed_cached(&bad, &mut cache, |_| {}).is_err());
}
