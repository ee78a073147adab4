//! WebSocket echo mode end to end: against `gcannon serve`'s `/ws`, and against
//! an independent tungstenite echo server that pings before every echo and
//! sends each echo as two fragments.

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api::plan::WebSocketPlan;
use common::{plan, run, serve};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::Message;

fn ws_plan(url: &str, connections: u32, pipeline: u32) -> api::plan::LoadPlan {
    let mut p = plan(url, connections, pipeline, 400);
    p.websocket = Some(WebSocketPlan {
        message: "hello".into(),
    });
    p
}

#[test]
fn echo_against_the_built_in_server() {
    let srv = serve();
    let r = run(&ws_plan(&format!("http://{}/ws", srv.local_addr()), 4, 8));
    srv.shutdown();
    let c = r.counts;
    assert_eq!(c.ws_upgrades, 4, "{c:?}");
    assert!(c.ws_frames > 100, "{c:?}");
    assert_eq!(c.ws_frames, c.responses);
    assert!(c.requests - c.responses <= 4 * 8, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert_eq!(r.latency.len(), c.ws_frames);
}

/// What the scripted server answers to one text message.
type Reply = fn(&[u8]) -> Vec<Message>;

/// tungstenite echo server: ping, then the echo in two fragments.
fn tungstenite_server(
    stop: Arc<AtomicBool>,
    pongs: Arc<std::sync::atomic::AtomicU64>,
) -> std::net::SocketAddr {
    scripted_server(stop, pongs, |bytes| {
        let half = bytes.len() / 2;
        vec![
            Message::Ping(vec![1, 2, 3].into()),
            Message::Frame(Frame::message(
                bytes[..half].to_vec(),
                OpCode::Data(Data::Text),
                false,
            )),
            Message::Frame(Frame::message(
                bytes[half..].to_vec(),
                OpCode::Data(Data::Continue),
                true,
            )),
        ]
    })
}

/// A tungstenite server answering each text message with `reply`.
fn scripted_server(
    stop: Arc<AtomicBool>,
    pongs: Arc<std::sync::atomic::AtomicU64>,
    reply: Reply,
) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let (stop, pongs) = (stop.clone(), pongs.clone());
            std::thread::spawn(move || {
                let Ok(mut ws) = tungstenite::accept(stream) else {
                    return;
                };
                while !stop.load(Ordering::Relaxed) {
                    match ws.read() {
                        Ok(Message::Text(t)) => {
                            for m in reply(t.as_bytes()) {
                                if ws.send(m).is_err() {
                                    return;
                                }
                            }
                        }
                        Ok(Message::Pong(p)) if p[..] == [1, 2, 3] => {
                            pongs.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(tungstenite::Error::Io(e))
                            if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                }
            });
        }
    });
    addr
}

/// Run 400 ms of echo load against a server answering with `reply`.
fn against(reply: Reply, pipeline: u32) -> api::report::Counts {
    let stop = Arc::new(AtomicBool::new(false));
    let pongs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let addr = scripted_server(stop.clone(), pongs, reply);
    let c = run(&ws_plan(&format!("http://{addr}/"), 2, pipeline)).counts;
    stop.store(true, Ordering::Relaxed);
    c
}

#[test]
fn a_wrong_echo_is_an_error_not_a_frame() {
    let replies: [Reply; 3] = [
        |_| vec![Message::Text("HELLO".into())],
        |_| vec![Message::Binary(b"hello".to_vec().into())],
        // Not valid UTF-8, in a text frame.
        |_| {
            vec![Message::Frame(Frame::message(
                b"hel\xff\xfe".to_vec(),
                OpCode::Data(Data::Text),
                true,
            ))]
        },
    ];
    for reply in replies {
        let c = against(reply, 1);
        assert_eq!(c.ws_upgrades, 2, "{c:?}");
        assert_eq!(c.ws_frames, 0, "{c:?}");
        assert_eq!(c.responses, 0, "{c:?}");
        assert!(c.errors.parse > 10, "{c:?}");
    }
}

#[test]
fn frames_lost_to_a_close_frame_are_counted() {
    // Close at the first message while four are in flight on each connection.
    let c = against(|_| vec![Message::Close(None)], 4);
    assert_eq!(c.responses, 0, "{c:?}");
    assert!(c.requests > 0, "{c:?}");
    // Every frame sent was lost to a close, except those still in flight at the end.
    assert!(c.errors.read + 2 * 4 >= c.requests, "{c:?}");
    assert!(c.errors.read > 0, "{c:?}");
}

#[test]
fn fragmented_echoes_and_pings_from_an_independent_server() {
    let stop = Arc::new(AtomicBool::new(false));
    let pongs = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let addr = tungstenite_server(stop.clone(), pongs.clone());
    let r = run(&ws_plan(&format!("http://{addr}/"), 2, 1));
    stop.store(true, Ordering::Relaxed);
    let c = r.counts;
    assert_eq!(c.ws_upgrades, 2, "{c:?}");
    assert!(c.ws_frames > 10, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert!(
        pongs.load(Ordering::Relaxed) > 0,
        "pings were answered with the ping's payload"
    );
}

#[test]
fn a_refused_upgrade_is_counted_by_its_status() {
    let srv = serve();
    // `/` answers 200, not 101.
    let c = run(&ws_plan(&format!("http://{}/", srv.local_addr()), 2, 1)).counts;
    srv.shutdown();
    assert_eq!(c.ws_upgrades, 0);
    assert!(c.status.s2xx > 0, "{c:?}");
    assert_eq!(c.unexpected_status, c.status.s2xx, "{c:?}");
    assert_eq!(c.errors.parse, 0, "{c:?}");
}
