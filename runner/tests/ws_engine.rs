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

/// tungstenite echo server: ping, then the echo in two fragments.
fn tungstenite_server(
    stop: Arc<AtomicBool>,
    pongs: Arc<std::sync::atomic::AtomicU64>,
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
                            let bytes = t.as_bytes().to_vec();
                            let half = bytes.len() / 2;
                            let steps = [
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
                            ];
                            for m in steps {
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
fn a_server_that_refuses_the_upgrade_is_a_parse_error() {
    let srv = serve();
    // `/` answers 200, not 101.
    let c = run(&ws_plan(&format!("http://{}/", srv.local_addr()), 2, 1)).counts;
    srv.shutdown();
    assert_eq!(c.ws_upgrades, 0);
    assert!(c.errors.parse > 0, "{c:?}");
}
