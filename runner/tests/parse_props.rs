//! Property tests for the response parser: any split of a valid stream frames it
//! exactly like the whole stream (and like the generator says), and arbitrary or
//! corrupted bytes never panic.

use proptest::prelude::*;
use proptest::sample::Index;
use runner::http::parse::{ParseError, Response, ResponseParser};

/// How a generated response's body is framed.
#[derive(Clone, Debug)]
enum Body {
    Length(usize),
    /// Chunk sizes (non-zero), then trailer count.
    Chunked(Vec<usize>, usize),
    /// 204 or 304: no body whatever the headers say.
    Bodiless(u16, Option<usize>),
}

/// One generated response with its presentation choices.
#[derive(Clone, Debug)]
struct Spec {
    interim: Vec<u16>,
    status: u16,
    body: Body,
    lf_only: bool,
    upper_names: bool,
    ows: bool,
    extra_headers: usize,
    chunk_ext: bool,
    upper_hex: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    let body = prop_oneof![
        (0usize..300).prop_map(Body::Length),
        (prop::collection::vec(1usize..200, 0..5), 0usize..3)
            .prop_map(|(c, t)| Body::Chunked(c, t)),
        (
            prop::sample::select(vec![204u16, 304]),
            prop::option::of(0usize..50)
        )
            .prop_map(|(s, cl)| Body::Bodiless(s, cl)),
    ];
    (
        prop::collection::vec(prop::sample::select(vec![100u16, 102, 103]), 0..3),
        prop::sample::select(vec![200u16, 201, 404, 500]),
        body,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        0usize..4,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                interim,
                status,
                body,
                lf_only,
                upper_names,
                ows,
                extra_headers,
                chunk_ext,
                upper_hex,
            )| {
                Spec {
                    interim,
                    status,
                    body,
                    lf_only,
                    upper_names,
                    ows,
                    extra_headers,
                    chunk_ext,
                    upper_hex,
                }
            },
        )
}

/// Append `spec` rendered as bytes; `head` means the request was HEAD (no body sent).
fn render(spec: &Spec, head: bool, close: bool, out: &mut Vec<u8>) -> Response {
    let eol = if spec.lf_only { "\n" } else { "\r\n" };
    let name = |n: &str| {
        if spec.upper_names {
            n.to_ascii_uppercase()
        } else {
            n.to_string()
        }
    };
    let sp = if spec.ows { " \t" } else { "" };
    for code in &spec.interim {
        out.extend_from_slice(format!("HTTP/1.1 {code} Interim{eol}X-I: 1{eol}{eol}").as_bytes());
    }
    let status = match spec.body {
        Body::Bodiless(s, _) => s,
        _ => spec.status,
    };
    let mut h = format!("HTTP/1.1 {status} Reason Phrase{eol}");
    for i in 0..spec.extra_headers {
        h += &format!("X-Extra-{i}:{sp}value {i}{sp}{eol}");
    }
    if close {
        h += &format!("{}:{sp}keep-alive, close{eol}", name("Connection"));
    }
    match &spec.body {
        Body::Length(n) => h += &format!("{}:{sp}{n}{sp}{eol}", name("Content-Length")),
        Body::Chunked(..) => h += &format!("{}:{sp}chunked{eol}", name("Transfer-Encoding")),
        Body::Bodiless(_, Some(n)) => h += &format!("{}: {n}{eol}", name("Content-Length")),
        Body::Bodiless(_, None) => {}
    }
    h += eol;
    out.extend_from_slice(h.as_bytes());
    if !head {
        match &spec.body {
            Body::Length(n) => out.extend((0..*n).map(|i| b"HTTP/1.1\r\n"[i % 10])),
            Body::Chunked(chunks, trailers) => {
                for &c in chunks {
                    let size = if spec.upper_hex {
                        format!("{c:X}")
                    } else {
                        format!("{c:x}")
                    };
                    let ext = if spec.chunk_ext { ";a=b;c" } else { "" };
                    out.extend_from_slice(format!("{size}{ext}{eol}").as_bytes());
                    out.extend((0..c).map(|i| b"0\r\n\r\n"[i % 5]));
                    out.extend_from_slice(eol.as_bytes());
                }
                out.extend_from_slice(format!("0{eol}").as_bytes());
                for t in 0..*trailers {
                    out.extend_from_slice(format!("X-Trailer-{t}: v{eol}").as_bytes());
                }
                out.extend_from_slice(eol.as_bytes());
            }
            Body::Bodiless(..) => {}
        }
    }
    Response { status, close }
}

/// A generated stream, the responses it must yield, HEAD mode, and where
/// parsing must stop (after a close response or a 101, non-HTTP bytes follow).
type Stream = (Vec<u8>, Vec<Response>, bool, Option<usize>);

fn stream() -> impl Strategy<Value = Stream> {
    (prop::collection::vec(spec(), 1..8), 0u8..4, any::<bool>()).prop_map(
        |(specs, ending, head)| {
            let mut bytes = Vec::new();
            let mut want = Vec::new();
            let last = specs.len() - 1;
            for (i, s) in specs.iter().enumerate() {
                // Ending 1: the last response says Connection: close.
                want.push(render(s, head, i == last && ending == 1, &mut bytes));
            }
            let mut stop = None;
            if ending == 1 {
                stop = Some(bytes.len());
                bytes.extend_from_slice(b"\0not http\r\n\r\n");
            }
            if ending == 2 && !head {
                // Ending 2: a body delimited by the connection closing.
                bytes.extend_from_slice(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil close\r\n");
                want.push(Response {
                    status: 200,
                    close: true,
                });
            }
            if ending == 3 {
                // Ending 3: a protocol switch, then WebSocket frames.
                bytes.extend_from_slice(
                    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\
                      Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
                );
                stop = Some(bytes.len());
                bytes.extend_from_slice(b"\x81\x05hello");
                want.push(Response {
                    status: 101,
                    close: false,
                });
            }
            (bytes, want, head, stop)
        },
    )
}

/// What one connection's worth of feeding produced.
#[derive(Debug, PartialEq)]
struct Outcome {
    responses: Vec<Response>,
    /// Where parsing stopped (close / 101), as an offset into the stream.
    stopped_at: Option<usize>,
    /// Whether a feed or finish failed.
    failed: bool,
}

/// Feed `bytes` cut at `cuts`, then finish unless stopped or failed.
fn run(bytes: &[u8], cuts: &[usize], head: bool) -> Outcome {
    let mut p = ResponseParser::new();
    p.set_head(head);
    let mut responses = Vec::new();
    let mut start = 0;
    let ends = cuts.iter().copied().chain(std::iter::once(bytes.len()));
    for end in ends {
        let piece = &bytes[start..end];
        match p.feed(piece, |r| responses.push(r)) {
            Ok(n) if p.is_stopped() => {
                return Outcome {
                    responses,
                    stopped_at: Some(start + n),
                    failed: false,
                };
            }
            Ok(n) => assert_eq!(n, piece.len(), "consumed less without stopping"),
            Err(_) => {
                return Outcome {
                    responses,
                    stopped_at: None,
                    failed: true,
                };
            }
        }
        start = end;
    }
    let failed = match p.finish() {
        Ok(Some(r)) => {
            responses.push(r);
            false
        }
        Ok(None) => false,
        Err(e) => {
            assert_eq!(e, ParseError::Truncated);
            true
        }
    };
    Outcome {
        responses,
        stopped_at: None,
        failed,
    }
}

/// Sorted, distinct cut positions strictly inside `0..=len`.
fn cuts_for(len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_split_frames_like_the_whole(
        (bytes, want, head, stop) in stream(),
        picks in prop::collection::vec(any::<Index>(), 0..40),
    ) {
        let whole = run(&bytes, &[], head);
        prop_assert!(!whole.failed, "valid stream rejected: {whole:?}");
        prop_assert_eq!(&whole.responses, &want);
        prop_assert_eq!(whole.stopped_at, stop);
        let split = run(&bytes, &cuts_for(bytes.len(), &picks), head);
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn byte_by_byte_frames_like_the_whole((bytes, want, head, stop) in stream()) {
        let cuts: Vec<usize> = (1..bytes.len()).collect();
        let split = run(&bytes, &cuts, head);
        prop_assert_eq!(&split.responses, &want);
        prop_assert_eq!(split.stopped_at, stop);
        prop_assert!(!split.failed);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..2000),
        picks in prop::collection::vec(any::<Index>(), 0..20),
        head in any::<bool>(),
    ) {
        run(&bytes, &cuts_for(bytes.len(), &picks), head);
        let mut with_prefix = b"HTTP/1.1 200 OK\r\n".to_vec();
        with_prefix.extend_from_slice(&bytes);
        run(&with_prefix, &cuts_for(with_prefix.len(), &picks), head);
    }

    #[test]
    fn corrupted_streams_fail_or_frame_consistently(
        (bytes, _want, head, _stop) in stream(),
        flips in prop::collection::vec((any::<Index>(), any::<u8>()), 1..4),
        picks in prop::collection::vec(any::<Index>(), 0..20),
    ) {
        let mut bytes = bytes;
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let whole = run(&bytes, &[], head);
        let split = run(&bytes, &cuts_for(bytes.len(), &picks), head);
        prop_assert_eq!(split, whole);
    }
}
