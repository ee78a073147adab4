//! `gcannon serve` end to end, with plain std `TcpStream` clients on loopback.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use runner::serve::{start, ServeConfig, ServerHandle};

fn server(threads: usize) -> ServerHandle {
    start(&ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads,
    })
    .expect("server starts")
}

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_nodelay(true).unwrap();
    BufReader::new(s)
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    trailers: Vec<String>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    r.read_line(&mut l).expect("read line");
    assert!(l.ends_with("\r\n"), "truncated line {l:?}");
    l.trim_end().to_string()
}

/// Read one response; `head` means it answers a HEAD request.
fn read_resp_for(r: &mut BufReader<TcpStream>, head: bool) -> Resp {
    let status_line = line(r);
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    assert!(status_line.starts_with("HTTP/1.1 "));
    let mut headers = Vec::new();
    loop {
        let l = line(r);
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').expect("header colon");
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
        trailers: Vec::new(),
    };
    if head || status == 204 || status == 304 || status == 101 {
        return resp;
    }
    if resp.header("transfer-encoding") == Some("chunked") {
        loop {
            let size = usize::from_str_radix(&line(r), 16).expect("chunk size");
            if size == 0 {
                break;
            }
            let start = resp.body.len();
            resp.body.resize(start + size, 0);
            r.read_exact(&mut resp.body[start..]).unwrap();
            assert_eq!(line(r), "");
        }
        loop {
            let l = line(r);
            if l.is_empty() {
                break;
            }
            resp.trailers.push(l);
        }
    } else {
        let n: usize = resp
            .header("content-length")
            .expect("content-length")
            .parse()
            .unwrap();
        resp.body.resize(n, 0);
        r.read_exact(&mut resp.body).unwrap();
    }
    resp
}

fn read_resp(r: &mut BufReader<TcpStream>) -> Resp {
    read_resp_for(r, false)
}

fn send(r: &mut BufReader<TcpStream>, bytes: &[u8]) {
    r.get_mut().write_all(bytes).unwrap();
}

fn get(r: &mut BufReader<TcpStream>, path: &str) -> Resp {
    send(
        r,
        format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes(),
    );
    read_resp(r)
}

fn assert_eof(r: &mut BufReader<TcpStream>) {
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).expect("clean close");
    assert!(rest.is_empty(), "unexpected bytes {rest:?}");
}

#[test]
fn fixed_routes() {
    let h = server(2);
    let mut c = connect(h.local_addr());
    let r = get(&mut c, "/");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"Hello, World!"[..]));
    let r = get(&mut c, "/json?x=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(v.is_object());
    assert_eq!(get(&mut c, "/nope").status, 404);
    assert_eq!(get(&mut c, "/status/418").status, 418);
    assert_eq!(get(&mut c, "/status/503").status, 503);
    let r = get(&mut c, "/status/204");
    assert_eq!((r.status, r.header("content-length")), (204, None));
    assert_eq!(get(&mut c, "/status/304").status, 304);
    assert_eq!(get(&mut c, "/status/101").status, 400);
    assert_eq!(get(&mut c, "/status/1000").status, 400);
    assert_eq!(get(&mut c, "/status/abc").status, 400);
    // Still the same keep-alive connection after all of that.
    assert_eq!(get(&mut c, "/").status, 200);
    send(
        &mut c,
        b"HEAD / HTTP/1.1\r\n\r\nHEAD /delay/1 HTTP/1.1\r\n\r\n",
    );
    let r = read_resp_for(&mut c, true);
    assert_eq!(r.header("content-length"), Some("13"));
    let r = read_resp_for(&mut c, true);
    assert_eq!(r.header("content-length"), Some("3"));
    // Had a body leaked from either HEAD answer, this would misparse.
    assert_eq!(get(&mut c, "/json").status, 200);
    h.shutdown();
}

#[test]
fn generated_bodies() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    let r = get(&mut c, "/bytes/0");
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = get(&mut c, "/bytes/1234567");
    assert_eq!(r.body.len(), 1_234_567);
    assert_eq!(get(&mut c, "/bytes/67108865").status, 400);
    let r = get(&mut c, "/chunked/2500");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 2500);
    assert_eq!(r.trailers, vec!["X-Gcannon-Trailer: done".to_string()]);
    let r = get(&mut c, "/chunked/0");
    assert_eq!(r.body.len(), 0);
    h.shutdown();
}

#[test]
fn echo_returns_the_exact_request() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    let req =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nX-Odd:  spaced \r\nContent-Length: 5\r\n\r\nhello";
    send(&mut c, req);
    assert_eq!(read_resp(&mut c).body, req);
    let req = b"PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2;ext=1\r\nef\r\n0\r\nX-T: 1\r\n\r\n";
    send(&mut c, req);
    assert_eq!(read_resp(&mut c).body, req);
    h.shutdown();
}

#[test]
fn request_bodies_are_skipped_not_parsed() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    // A body that looks like a request must not be answered as one.
    send(
        &mut c,
        b"POST / HTTP/1.1\r\nContent-Length: 18\r\n\r\nGET /nope HTTP/1.1\r\nGET /json HTTP/1.1\r\n\r\n",
    );
    assert_eq!(read_resp(&mut c).body, b"Hello, World!");
    assert_eq!(
        read_resp(&mut c).header("content-type"),
        Some("application/json")
    );
    send(
        &mut c,
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n12\r\nGET /nope HTTP/1.1\r\n0\r\n\r\nGET /json HTTP/1.1\r\n\r\n",
    );
    assert_eq!(read_resp(&mut c).body, b"Hello, World!");
    assert_eq!(
        read_resp(&mut c).header("content-type"),
        Some("application/json")
    );
    h.shutdown();
}

#[test]
fn pipelined_requests_answered_in_order() {
    let h = server(2);
    let mut c = connect(h.local_addr());
    let paths = [
        "/",
        "/json",
        "/status/201",
        "/nope",
        "/bytes/10",
        "/chunked/1500",
    ];
    let mut batch = Vec::new();
    for i in 0..60 {
        batch.extend_from_slice(
            format!("GET {} HTTP/1.1\r\n\r\n", paths[i % paths.len()]).as_bytes(),
        );
    }
    send(&mut c, &batch);
    for i in 0..60 {
        let r = read_resp(&mut c);
        let want = match paths[i % paths.len()] {
            "/status/201" => 201,
            "/nope" => 404,
            _ => 200,
        };
        assert_eq!(r.status, want, "response {i}");
        if paths[i % paths.len()] == "/chunked/1500" {
            assert_eq!(r.body.len(), 1500);
        }
    }
    h.shutdown();
}

#[test]
fn repeated_requests_are_answered_alike_and_any_change_is_parsed_again() {
    // The server answers a request identical to the connection's previous one
    // without parsing it; every request below differs from its predecessor in a
    // way that changes the answer, so a stale reuse shows as a wrong response.
    let h = server(1);
    let mut c = connect(h.local_addr());
    let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".as_slice();
    let batch = [
        get,
        get,
        get,
        b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n",
        get,
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n",
        b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /status/503 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /json HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        get,
    ]
    .concat();
    send(&mut c, &batch);
    let hello = read_resp(&mut c);
    assert_eq!(hello.status, 200);
    assert!(!hello.body.is_empty());
    for _ in 0..2 {
        let r = read_resp(&mut c);
        assert_eq!((r.status, &r.body), (200, &hello.body));
    }
    let head = read_resp_for(&mut c, true);
    assert_eq!((head.status, head.body.len()), (200, 0));
    for _ in 0..2 {
        let r = read_resp(&mut c);
        assert_eq!((r.status, &r.body), (200, &hello.body));
    }
    for _ in 0..2 {
        let r = read_resp(&mut c);
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(read_resp(&mut c).status, 503);
    let last = read_resp(&mut c);
    assert_eq!(last.header("connection"), Some("close"));
    // The request after the closing one is never answered.
    assert_eof(&mut c);
    assert_eq!(h.requests(), 10);
    h.shutdown();
}

#[test]
fn request_split_byte_by_byte() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    let req =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /json HTTP/1.1\r\n\r\n";
    for b in req {
        send(&mut c, &[*b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(read_resp(&mut c).body, &req[..req.len() - 22]);
    assert_eq!(
        read_resp(&mut c).header("content-type"),
        Some("application/json")
    );
    h.shutdown();
}

#[test]
fn connection_close_and_http10() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    // Requests after the closing one are never answered.
    send(
        &mut c,
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /json HTTP/1.1\r\n\r\n",
    );
    let r = read_resp(&mut c);
    assert_eq!((r.status, r.header("connection")), (200, Some("close")));
    assert_eof(&mut c);

    let mut c = connect(h.local_addr());
    send(&mut c, b"GET /json HTTP/1.0\r\n\r\n");
    assert_eq!(read_resp(&mut c).status, 200);
    assert_eof(&mut c);

    let mut c = connect(h.local_addr());
    send(&mut c, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(read_resp(&mut c).status, 200);
    assert_eq!(get(&mut c, "/").status, 200);
    h.shutdown();
}

#[test]
fn malformed_request_gets_400_and_close() {
    let h = server(1);
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
    ] {
        let mut c = connect(h.local_addr());
        send(&mut c, b"GET / HTTP/1.1\r\n\r\n");
        send(&mut c, bad);
        assert_eq!(read_resp(&mut c).status, 200);
        let r = read_resp(&mut c);
        assert_eq!(r.status, 400, "for {:?}", String::from_utf8_lossy(bad));
        assert_eq!(r.header("connection"), Some("close"));
        assert_eof(&mut c);
    }
    h.shutdown();
}

#[test]
fn delay_blocks_only_its_own_pipeline() {
    let h = server(1);
    let mut slow = connect(h.local_addr());
    send(
        &mut slow,
        b"GET /delay/600000 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    );
    // Same thread, other connection: answered while `slow` waits.
    let mut other = connect(h.local_addr());
    assert_eq!(get(&mut other, "/json").status, 200);
    slow.get_ref().set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let e = slow.get_ref().peek(&mut b).unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::WouldBlock,
        "nothing answered behind the delay"
    );

    // Order kept: the delayed response comes first, then the one behind it.
    let mut c = connect(h.local_addr());
    send(
        &mut c,
        b"GET /delay/30 HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\n\r\n",
    );
    let r = read_resp(&mut c);
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("text/plain"))
    );
    assert_eq!(
        read_resp(&mut c).header("content-type"),
        Some("application/json")
    );
    // Shutdown is prompt even with a connection waiting on a long delay.
    h.shutdown();
}

#[test]
fn stall_answers_everything_afterwards_in_order() {
    let h = server(2);
    let mut a = connect(h.local_addr());
    let mut b = connect(h.local_addr());
    send(
        &mut a,
        b"GET /stall/100 HTTP/1.1\r\n\r\nGET /json HTTP/1.1\r\n\r\n",
    );
    send(&mut b, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(read_resp(&mut a).status, 200);
    assert_eq!(
        read_resp(&mut a).header("content-type"),
        Some("application/json")
    );
    assert_eq!(read_resp(&mut b).body, b"Hello, World!");
    assert_eq!(get(&mut b, "/").status, 200);
    h.shutdown();
}

#[test]
fn stats_counts_requests_but_not_itself() {
    let h = server(2);
    let addr = h.local_addr();
    let mut sent = 0;
    for _ in 0..3 {
        let mut c = connect(addr);
        for p in ["/", "/json", "/nope", "/status/500"] {
            get(&mut c, p);
            sent += 1;
        }
    }
    let mut c = connect(addr);
    let r = get(&mut c, "/stats");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["requests"], sent);
    let r = get(&mut c, "/stats");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["requests"], sent);
    assert_eq!(h.requests(), sent);
    h.shutdown();
}

#[test]
fn ipv6_loopback() {
    let Ok(h) = start(&ServeConfig {
        listen: "[::1]:0".parse().unwrap(),
        threads: 2,
    }) else {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    };
    assert!(h.local_addr().is_ipv6());
    assert_ne!(h.local_addr().port(), 0);
    let mut c = connect(h.local_addr());
    assert_eq!(get(&mut c, "/").status, 200);
    h.shutdown();
}

#[test]
fn shutdown_returns_with_open_connections() {
    let h = server(3);
    let idle = connect(h.local_addr());
    let mut half = connect(h.local_addr());
    send(&mut half, b"GET / HTT");
    h.shutdown();
    drop((idle, half));
}

/// A masked client frame.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut f = vec![if fin { 0x80 } else { 0 } | opcode];
    if payload.len() < 126 {
        f.push(0x80 | payload.len() as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// An unmasked server frame: (fin, opcode, payload).
fn server_frame(r: &mut BufReader<TcpStream>) -> (bool, u8, Vec<u8>) {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are unmasked");
    let len = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).unwrap();
    (h[0] & 0x80 != 0, h[0] & 0x0f, payload)
}

#[test]
fn websocket_raw_fragments_ping_and_close() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    send(
        &mut c,
        b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let r = read_resp(&mut c);
    assert_eq!(r.status, 101);
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    let mut frames = client_frame(false, 1, b"Hel");
    frames.extend(client_frame(true, 9, b"p")); // a ping between fragments
    frames.extend(client_frame(false, 0, b"lo, "));
    frames.extend(client_frame(true, 0, b"ws"));
    let big = vec![7u8; 300];
    frames.extend(client_frame(true, 2, &big));
    send(&mut c, &frames);
    assert_eq!(server_frame(&mut c), (true, 10, b"p".to_vec()));
    assert_eq!(server_frame(&mut c), (true, 1, b"Hello, ws".to_vec()));
    assert_eq!(server_frame(&mut c), (true, 2, big));
    send(&mut c, &client_frame(true, 8, &1000u16.to_be_bytes()));
    assert_eq!(
        server_frame(&mut c),
        (true, 8, 1000u16.to_be_bytes().to_vec())
    );
    assert_eof(&mut c);
    // The upgrade counts as a request; frames do not.
    assert_eq!(h.requests(), 1);
    h.shutdown();
}

#[test]
fn websocket_with_tungstenite_client() {
    use tungstenite::Message;
    let h = server(2);
    let stream = TcpStream::connect(h.local_addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let url = format!("ws://{}/ws", h.local_addr());
    let (mut ws, resp) = tungstenite::client(url.as_str(), stream).expect("handshake");
    assert_eq!(resp.status(), 101);
    ws.send(Message::Text("hello".into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("hello".into()));
    let blob: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
    ws.send(Message::Binary(blob.clone().into())).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Binary(blob.into()));
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .unwrap();
    assert_eq!(
        ws.read().unwrap(),
        Message::Pong(b"are you there".to_vec().into())
    );
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(Message::Close(_)) => continue,
            Ok(m) => panic!("unexpected {m:?}"),
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("unclean close: {e}"),
        }
    }
    h.shutdown();
}

#[test]
fn ws_path_without_upgrade_is_400() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    assert_eq!(get(&mut c, "/ws").status, 400);
    assert_eof(&mut c);
    h.shutdown();
}

#[test]
fn large_pipelined_responses_survive_back_pressure() {
    let h = server(1);
    let mut c = connect(h.local_addr());
    // ~8 MB of responses requested before reading any: the server must pause and resume.
    let mut batch = Vec::new();
    for i in 0..40 {
        let path = if i % 2 == 0 {
            "/bytes/200000"
        } else {
            "/chunked/3000"
        };
        batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
    }
    batch.extend_from_slice(b"GET /json HTTP/1.1\r\n\r\n");
    send(&mut c, &batch);
    for i in 0..40 {
        let r = read_resp(&mut c);
        assert_eq!(
            r.body.len(),
            if i % 2 == 0 { 200_000 } else { 3000 },
            "response {i}"
        );
    }
    assert_eq!(
        read_resp(&mut c).header("content-type"),
        Some("application/json")
    );
    assert_eq!(h.requests(), 41);
    h.shutdown();
}

#[test]
fn recording_keeps_exact_requests_up_to_the_limit() {
    let h = runner::serve::start_recording(
        &ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            threads: 1,
        },
        2,
    )
    .unwrap();
    let mut c = connect(h.local_addr());
    let a = b"POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi";
    let b = b"GET /json HTTP/1.1\r\nX-A: 1\r\n\r\n";
    send(&mut c, a);
    send(&mut c, b);
    send(&mut c, b"GET / HTTP/1.1\r\n\r\n");
    for _ in 0..3 {
        read_resp(&mut c);
    }
    let rec = h.recorded();
    assert_eq!(rec.len(), 2);
    assert_eq!(
        (rec[0].bytes.as_slice(), rec[1].bytes.as_slice()),
        (&a[..], &b[..])
    );
    assert_eq!(rec[0].conn, rec[1].conn);
    h.shutdown();
}
