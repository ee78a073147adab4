//! The engine against a real nginx on loopback. Skips with a notice when nginx
//! is not installed, and fails when `CI=true` (CI installs it).

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use api::plan::LoadPlan;
use common::pki::Pki;
use common::{plan, run};

struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> Option<PathBuf> {
    ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn start_nginx() -> Option<Nginx> {
    start_nginx_with("", "")
}

/// nginx with `listen_opts` after the listen address and `extra` in the server block.
fn start_nginx_with(listen_opts: &str, extra: &str) -> Option<Nginx> {
    let Some(bin) = nginx_binary() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "nginx is required when CI=true (apt-get install nginx-light)"
        );
        eprintln!("notice: nginx not installed; skipping the nginx end-to-end tests");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(dir.path().join("big"), vec![b'x'; 300_000]).unwrap();
    let conf = format!(
        r#"
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
    uwsgi_temp_path {d}; scgi_temp_path {d};
    keepalive_requests 50;
    server {{
        listen 127.0.0.1:{port}{listen_opts};
        {extra}
        location = / {{ return 200 "hello from nginx\n"; }}
        location = /missing {{ return 404; }}
        location = /big {{ root {d}; }}
        location = /empty {{ return 204; }}
    }}
}}
"#,
        d = dir.path().display()
    );
    let conf_path = dir.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let nginx = Nginx {
        child: Command::new(bin)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts"),
        port,
        _dir: dir,
    };
    // Wait (bounded) until nginx accepts connections.
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(nginx);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nginx did not start listening on port {port}");
}

#[test]
fn nginx_keep_alive_limits_pipelining_status_and_bodies() {
    let Some(n) = start_nginx() else { return };
    let base = format!("http://127.0.0.1:{}", n.port);

    // keepalive_requests 50: nginx closes with `Connection: close` every 50
    // responses; that is a reconnect, never an error.
    let c = run(&plan(&format!("{base}/"), 8, 1, 500)).counts;
    assert!(c.responses > 500, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert!(c.reconnects >= c.responses / 50 - 8, "{c:?}");
    assert_eq!(c.status.s2xx, c.responses);

    // Pipelined: the requests sent behind nginx's `Connection: close` are
    // never answered; each is a read error, and every request adds up.
    let c = run(&plan(&format!("{base}/"), 4, 8, 500)).counts;
    assert!(c.responses > 500, "{c:?}");
    assert_pipelined_losses_add_up(&c, 4, 8);

    let c = run(&plan(&format!("{base}/missing"), 2, 2, 300)).counts;
    assert!(
        c.responses > 0 && c.status.s4xx == c.responses && c.unexpected_status == c.responses,
        "{c:?}"
    );

    let c = run(&plan(&format!("{base}/empty"), 2, 2, 300)).counts;
    assert!(c.responses > 0 && c.status.s2xx == c.responses, "{c:?}");
    assert_pipelined_losses_add_up(&c, 2, 2);

    let mut p = plan(&format!("{base}/big"), 2, 1, 400);
    p.recv_buf = 512;
    let c = run(&p).counts;
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
    assert!(c.bytes_read >= c.responses * 300_000, "{c:?}");
}

/// Only read errors, at most `pipeline - 1` lost per keep-alive close, and
/// `requests` = answered + lost + in flight at the end.
fn assert_pipelined_losses_add_up(c: &api::report::Counts, conns: u64, pipeline: u64) {
    assert_eq!(
        c.errors.parse + c.errors.connect + c.errors.timeout,
        0,
        "{c:?}"
    );
    assert!(c.errors.read <= c.reconnects * (pipeline - 1), "{c:?}");
    let in_flight = c.requests - c.responses - c.errors.read;
    assert!(in_flight <= conns * pipeline, "{c:?}");
}

#[test]
fn nginx_tls_1_2_and_1_3_pipelined_reconnects_and_mtls() {
    let pki = Pki::new(&["127.0.0.1"]);
    let extra = format!(
        "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols TLSv1.2 TLSv1.3;
        ssl_client_certificate {}; ssl_verify_client optional;
        location = /mtls {{ if ($ssl_client_verify != SUCCESS) {{ return 403; }} return 200 \"client ok\\n\"; }}",
        pki.path("cert.pem"),
        pki.path("key.pem"),
        pki.path("ca.pem"),
    );
    let Some(n) = start_nginx_with(" ssl", &extra) else {
        return;
    };
    let base = format!("https://127.0.0.1:{}", n.port);
    // Pipelined: requests sent behind keepalive_requests' close are lost, as in plaintext.
    let c = run(&pki.trusting(&format!("{base}/"), 4, 8)).counts;
    assert!(c.responses > 100 && c.errors.tls == 0, "{c:?}");
    assert_pipelined_losses_add_up(&c, 4, 8);
    assert_eq!(c.status.s2xx, c.responses);

    // keepalive_requests 50 closes every 50 responses: each reconnect is a new handshake.
    let mut p = pki.trusting(&format!("{base}/"), 1, 1);
    p.duration = api::duration::HumanDuration(Duration::from_millis(1500));
    let c = run(&p).counts;
    assert!(c.responses > 50, "{c:?}");
    assert!(
        c.reconnects > 0 && c.tls_handshakes >= c.reconnects,
        "{c:?}"
    );
    assert_eq!(c.errors.total(), 0, "{c:?}");

    // Without a client certificate nginx refuses /mtls; with one it answers.
    let c = run(&pki.trusting(&format!("{base}/mtls"), 1, 1)).counts;
    assert!(c.responses > 0 && c.status.s4xx == c.responses, "{c:?}");
    let mut p: LoadPlan = pki.trusting(&format!("{base}/mtls"), 1, 1);
    p.tls.cert_file = Some(pki.path("client.pem"));
    p.tls.key_file = Some(pki.path("client-key.pem"));
    let c = run(&p).counts;
    assert!(c.responses > 0 && c.status.s2xx == c.responses, "{c:?}");
    drop(n);

    // An nginx that speaks only TLS 1.2.
    let tls12 = format!(
        "ssl_certificate {}; ssl_certificate_key {}; ssl_protocols TLSv1.2;",
        pki.path("cert.pem"),
        pki.path("key.pem"),
    );
    let n = start_nginx_with(" ssl", &tls12).expect("nginx started above");
    let url = format!("https://127.0.0.1:{}/", n.port);
    let c = run(&pki.trusting(&url, 2, 4)).counts;
    assert!(c.responses > 10 && c.errors.tls == 0, "{c:?}");
    assert_pipelined_losses_add_up(&c, 2, 4);
}
