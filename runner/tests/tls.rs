//! TLS targets end to end: the engine against `serve --tls` on loopback, with
//! certificates made here by rcgen, and every bad TLS input as one clear line.

mod common;

use std::time::Duration;

use api::plan::{LoadPlan, RequestTemplate, TlsPlan, WebSocketPlan};
use common::pki::Pki;
use common::{gcannon, gcannon_run, json_of, plan, run};
use runner::engine::{Run, RunOptions};
use runner::serve::{start, start_tls, ServeConfig, ServerHandle};
use runner::tls::{server_config, ServerCert};

/// The built-in server with the PKI's server certificate.
fn tls_server(pki: &Pki) -> ServerHandle {
    let cert = ServerCert::Files {
        cert: pki.path("cert.pem"),
        key: pki.path("key.pem"),
    };
    start_tls(&cfg(), server_config(&cert).unwrap()).unwrap()
}

fn cfg() -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads: 1,
    }
}

fn plan_error(p: &LoadPlan) -> String {
    match Run::new(p, &RunOptions::default()) {
        Ok(_) => panic!("{p:?} should be refused before load"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn https_pipelined_with_a_trusted_ca() {
    let pki = Pki::new(&["localhost", "127.0.0.1"]);
    let srv = tls_server(&pki);
    let url = format!("https://{}/json", srv.local_addr());
    let r = run(&pki.trusting(&url, 4, 16));
    let c = &r.counts;
    assert!(c.responses > 100, "{c:?}");
    assert_eq!(c.status.s2xx, c.responses, "{c:?}");
    assert_eq!(c.errors.total(), 0, "{c:?}");
    assert_eq!(c.tls_handshakes, 4, "one handshake per connection: {c:?}");
    let h = r.handshake.as_ref().expect("handshake histogram");
    assert_eq!(h.len(), 4);
    // The server saw every request the client counted, decrypted.
    assert!(srv.requests() >= c.responses);
}

#[test]
fn reconnects_do_full_handshakes_or_resume() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let url = format!("https://{}/", srv.local_addr());
    let mut p = pki.trusting(&url, 2, 1);
    p.requests_per_connection = Some(1);
    let full = run(&p).counts;
    assert!(full.tls_handshakes > 4 && full.reconnects > 2, "{full:?}");
    assert_eq!(full.tls_resumed, 0, "{full:?}");
    assert_eq!(full.errors.total(), 0, "{full:?}");
    p.tls.resume = true;
    let resumed = run(&p).counts;
    assert!(resumed.tls_handshakes > 4, "{resumed:?}");
    assert!(
        resumed.tls_resumed * 2 > resumed.tls_handshakes,
        "most handshakes resume: {resumed:?}"
    );
}

#[test]
fn wss_echo_and_templates_over_tls() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let mut p = pki.trusting(&format!("wss://{}/ws", srv.local_addr()), 2, 4);
    p.websocket = Some(WebSocketPlan {
        message: "over tls".into(),
    });
    let c = run(&p).counts;
    assert_eq!(c.ws_upgrades, 2, "{c:?}");
    assert!(c.ws_frames > 10 && c.errors.total() == 0, "{c:?}");

    let mut p = pki.trusting(&format!("https://{}/", srv.local_addr()), 2, 8);
    p.templates = vec![RequestTemplate {
        name: "post.http".into(),
        text: "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".into(),
    }];
    let c = run(&p).counts;
    assert!(c.responses > 10 && c.errors.total() == 0, "{c:?}");
    assert_eq!(c.status.s2xx, c.responses);
}

#[test]
fn bad_tls_input_is_one_line_before_load() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let url = format!("https://{}/", srv.local_addr());
    // Not trusted: the CA is not in the system roots.
    let e = plan_error(&plan(&url, 1, 1, 100));
    assert!(e.contains("--cacert") && e.contains("--insecure"), "{e}");
    // Trusted CA, wrong name.
    let mut p = pki.trusting(&url, 1, 1);
    p.tls.sni = Some("other.example".into());
    let e = plan_error(&p);
    assert!(e.contains("hostname mismatch"), "{e}");
    // Skipping verification works against the same server.
    let insecure = LoadPlan {
        tls: TlsPlan {
            insecure: true,
            ..TlsPlan::default()
        },
        ..plan(&url, 1, 1, 200)
    };
    assert!(run(&insecure).counts.responses > 0);
    // A plaintext server behind an https:// URL.
    let plain = start(&cfg()).unwrap();
    let e = plan_error(&LoadPlan {
        tls: insecure.tls.clone(),
        ..plan(&format!("https://{}/", plain.local_addr()), 1, 1, 100)
    });
    assert!(e.contains("did not answer with TLS"), "{e}");
    // Files that are missing or not PEM.
    let not_pem = pki.path("garbage.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    for (file, needle) in [("/nonexistent/ca.pem", "cannot read"), (&*not_pem, "PEM")] {
        let mut p = pki.trusting(&url, 1, 1);
        p.tls.ca_file = Some(file.to_string());
        let e = plan_error(&p);
        assert!(e.contains(file) && e.contains(needle), "{e}");
    }
    // TLS settings on a plaintext URL.
    let mut p = pki.trusting(&format!("http://{}/", plain.local_addr()), 1, 1);
    p.tls.insecure = true;
    assert!(plan_error(&p).contains("https://"));
}

#[test]
fn expired_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2001, 1, 1);
    params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let (cert_path, key_path) = (
        write("c.pem", cert.pem()),
        write("k.pem", key.serialize_pem()),
    );
    let files = ServerCert::Files {
        cert: cert_path.clone(),
        key: key_path,
    };
    let srv = start_tls(&cfg(), server_config(&files).unwrap()).unwrap();
    let e = plan_error(&LoadPlan {
        tls: TlsPlan {
            ca_file: Some(cert_path),
            ..TlsPlan::default()
        },
        ..plan(&format!("https://{}/", srv.local_addr()), 1, 1, 100)
    });
    assert!(e.to_lowercase().contains("expired"), "{e}");
}

#[test]
fn cli_demo_tls_and_insecure_banner() {
    let out = gcannon(&["demo", "--tls", "-d", "500ms", "-c", "4", "-p", "4"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("INSECURE"), "{text}");
    assert!(text.contains("TLS handshakes: 4"), "{text}");
    assert!(text.contains("Handshake"), "{text}");

    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let url = format!("https://{}/", srv.local_addr());
    let ca = pki.path("ca.pem");
    let v = json_of(&gcannon(&[
        &url, "-c", "2", "-d", "300ms", "--cacert", &ca, "--json",
    ]));
    assert_eq!(v["tls_handshakes"], 2);
    assert_eq!(v["handshake_latency_us"]["samples"], 2);
    assert_eq!(v["errors"]["tls"], 0);
    assert!(v["responses"].as_u64().unwrap() > 0);
    let bad = gcannon(&[&url, "-c", "1", "-d", "300ms"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--cacert"), "{err}");
}

#[test]
fn gcannon_run_reads_the_manifest_tls_fields_as_files() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let manifest = |tls: &str| {
        format!(
            "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata: {{name: t}}\nspec:\n  target: https://{}/\n  connections: 2\n  duration: 300ms\n  warmup: 0s\n  tls: {tls}\n",
            srv.local_addr()
        )
    };
    let v = json_of(&gcannon_run(
        &manifest(&format!("{{ca: {}}}", pki.path("ca.pem"))),
        &["--json"],
    ));
    assert_eq!(v["tls_handshakes"], 2, "{v}");
    assert_eq!(v["errors"]["tls"], 0, "{v}");
    assert!(v["responses"].as_u64().unwrap() > 0, "{v}");

    // Without the CA the server is not trusted: one line, before load.
    let out = gcannon_run(&manifest("{resume: true}"), &["--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A Secret exists only in a cluster.
    let out = gcannon_run(&manifest("{secretName: gw, ca: ca.crt}"), &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("spec.tls.secretName gw needs a cluster"),
        "{err}"
    );
}

/// Forward `client` to `upstream`, holding the server's first bytes (its
/// ServerHello) back for `delay`.
fn forward(client: std::net::TcpStream, upstream: std::net::SocketAddr, delay: Duration) {
    let Ok(server) = std::net::TcpStream::connect(upstream) else {
        return;
    };
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    std::thread::spawn(move || std::io::copy(&mut c_read, &mut s_write));
    let (mut s_read, mut c_write) = (server, client);
    std::thread::spawn(move || {
        let mut first = [0u8; 1];
        if std::io::Read::read_exact(&mut s_read, &mut first).is_ok() {
            std::thread::sleep(delay);
            let _ = std::io::Write::write_all(&mut c_write, &first);
            let _ = std::io::copy(&mut s_read, &mut c_write);
        }
    });
}

/// A loopback proxy to `upstream` that holds the server's first bytes back
/// for `delay`, so every handshake takes at least that long.
fn slow_handshake_proxy(upstream: std::net::SocketAddr, delay: Duration) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            forward(client, upstream, delay);
        }
    });
    addr
}

#[test]
fn handshake_time_is_not_request_latency() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let delay = Duration::from_millis(400);
    let proxy = slow_handshake_proxy(srv.local_addr(), delay);
    let mut p = pki.trusting(&format!("https://{proxy}/"), 1, 1);
    p.duration = api::duration::HumanDuration(Duration::from_millis(1500));
    p.warmup = api::duration::HumanDuration(Duration::ZERO);
    p.requests_per_connection = Some(50);
    let r = run(&p);
    let c = &r.counts;
    assert!(c.tls_handshakes >= 2 && c.responses >= 50, "{c:?}");
    let h = r.handshake.as_ref().unwrap();
    assert!(
        h.min() >= delay.as_micros() as u64,
        "every handshake waited: {}",
        h.min()
    );
    // Each request is sent after its connection's handshake, so none waited for one.
    assert!(
        r.latency.max() < delay.as_micros() as u64,
        "a request's latency included a handshake: max {} us",
        r.latency.max()
    );
}

/// A loopback listener that forwards its first connection to `upstream` (the
/// probe before load) and holds every later one open without a byte: a server
/// that accepts TCP and never answers the ClientHello.
fn silent_after_first(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (n, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            if n == 0 {
                forward(client, upstream, Duration::ZERO);
            } else {
                held.push(client);
            }
        }
    });
    addr
}

#[test]
fn a_handshake_timeout_counts_as_tls_with_its_reason() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let url = format!("https://{}/", silent_after_first(srv.local_addr()));
    let ca = pki.path("ca.pem");
    let args = [
        url.as_str(),
        "-c",
        "2",
        "-d",
        "1500ms",
        "--timeout",
        "300ms",
        "--cacert",
        &ca,
    ];
    // Nothing was answered, so the run fails, saying why and keeping its counts.
    let out = gcannon(&[&args[..], &["--json"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("TLS failures (first: handshake timeout: no TLS answer within 300ms"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = &v["errors"];
    assert!(errors["tls"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(errors["connect"], 0, "TCP connected every time: {v}");
    assert_eq!(v["tls_handshakes"], 0, "{v}");
    let first = v["first_tls_error"].as_str().unwrap_or_default();
    assert!(first.starts_with("handshake timeout"), "{v}");

    // The proxy passes only its first connection: a new one for the next probe.
    let url = format!("https://{}/", silent_after_first(srv.local_addr()));
    let out = gcannon(&[&[url.as_str()], &args[1..]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("First TLS error: handshake timeout: no TLS answer within 300ms"),
        "{text}"
    );
}

#[test]
fn a_server_silent_from_the_start_is_one_line_before_load() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let mut p = plan(&url, 1, 1, 300);
    p.tls.insecure = true;
    let e = plan_error(&p);
    assert!(
        e.contains("handshake timeout: no TLS answer within 2s"),
        "{e}"
    );
    drop(listener);
}

#[test]
fn manifest_errors_name_the_spec_tls_fields() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    let dir = tempfile::tempdir().unwrap();
    let manifest = |tls: &str| {
        format!(
            "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata: {{name: t}}\nspec:\n  target: https://{}/\n  connections: 1\n  duration: 300ms\n  warmup: 0s\n  tls: {tls}\n",
            srv.local_addr()
        )
    };
    let one_line = |tls: &str| {
        let out = gcannon_run(&manifest(tls), &[]);
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(!err.contains("--"), "a flag named for a manifest: {err}");
        err
    };
    // Untrusted: the hint names the fields to set.
    let err = one_line("{resume: true}");
    assert!(
        err.contains("spec.tls.ca to trust its CA, or spec.tls.insecure: true"),
        "{err}"
    );
    // The wrong CA (another PKI's) is named with its file.
    let other = Pki::new(&["127.0.0.1"]);
    let err = one_line(&format!("{{ca: {}}}", other.path("ca.pem")));
    assert!(
        err.contains(&format!(
            "not signed by a CA of spec.tls.ca {}",
            other.path("ca.pem")
        )),
        "{err}"
    );
    // A hostname mismatch names spec.tls.sni.
    let err = one_line(&format!(
        "{{ca: {}, sni: other.example}}",
        pki.path("ca.pem")
    ));
    assert!(err.contains("hostname mismatch: spec.tls.sni"), "{err}");
    // A missing file.
    let missing = dir.path().join("nope.pem").display().to_string();
    let err = one_line(&format!("{{ca: {missing}}}"));
    assert!(
        err.contains(&format!("spec.tls.ca {missing}: cannot read")),
        "{err}"
    );
    // TLS settings on a plaintext target.
    let plain = manifest("{insecure: true}").replace("https://", "http://");
    let out = gcannon_run(&plain, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("spec.tls need an https:// or wss:// URL"),
        "{err}"
    );
}

#[test]
fn gcannon_run_reads_certificate_paths_relative_to_the_manifest() {
    let pki = Pki::new(&["127.0.0.1"]);
    let srv = tls_server(&pki);
    // The manifest and its CA in one directory, run from another.
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(pki.path("ca.pem"), certs.join("ca.pem")).unwrap();
    let path = dir.path().join("lt.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata: {{name: t}}\nspec:\n  target: https://{}/\n  connections: 2\n  duration: 300ms\n  warmup: 0s\n  tls: {{ca: certs/ca.pem}}\n",
            srv.local_addr()
        ),
    )
    .unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gcannon"))
        .arg("run")
        .arg(&path)
        .arg("--json")
        .current_dir(elsewhere.path())
        .env("GCANNON_HISTORY", elsewhere.path().join("h.json"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["tls_handshakes"], 2, "{v}");
    assert_eq!(v["errors"]["tls"], 0, "{v}");
}
