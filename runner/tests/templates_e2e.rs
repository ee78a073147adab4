//! Raw request templates end to end: what `gcannon serve` actually received
//! (placeholder widths and values, framing, rotation over connections), the
//! per-template latency histograms, and `--raw` without a URL from the CLI.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use api::plan::{LoadPlan, RequestTemplate};
use api::report::Report;
use common::{gcannon, plan, run};
use runner::serve::{Recorded, ServerHandle};

/// Requests a test server keeps; far above what any test here sends.
const RECORD_LIMIT: usize = 200_000;

/// A recording server on an ephemeral loopback port.
fn recording_serve(threads: usize) -> ServerHandle {
    let cfg = runner::serve::ServeConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        threads,
    };
    runner::serve::start_recording(&cfg, RECORD_LIMIT).unwrap()
}

fn tpl(name: &str, text: &str) -> RequestTemplate {
    RequestTemplate {
        name: name.into(),
        text: text.into(),
    }
}

/// A test-sized plan sending `templates` to `srv`.
fn tpl_plan(
    srv: &ServerHandle,
    templates: Vec<RequestTemplate>,
    conns: u32,
    pipeline: u32,
    millis: u64,
) -> LoadPlan {
    LoadPlan {
        templates,
        ..plan(
            &format!("http://{}/", srv.local_addr()),
            conns,
            pipeline,
            millis,
        )
    }
}

/// One request as the server saw it, split into its parts.
struct Seen {
    conn: u64,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn parse(r: &Recorded) -> Seen {
        let end = r
            .bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head ends with CRLF CRLF");
        let head = std::str::from_utf8(&r.bytes[..end]).expect("head is UTF-8");
        let mut lines = head.split("\r\n");
        let mut parts = lines.next().unwrap().split(' ');
        let (method, target) = (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        );
        assert_eq!(parts.next(), Some("HTTP/1.1"), "{head}");
        let headers = lines
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("bad header line {l:?}"));
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Seen {
            conn: r.conn,
            method,
            target,
            headers,
            body: r.bytes[end + 4..].to_vec(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }
}

fn seen(srv: &ServerHandle) -> Vec<Seen> {
    srv.recorded().iter().map(Seen::parse).collect()
}

/// The digits after `prefix` up to the next non-digit, e.g. `value_after("/?v=42", "v=")`.
fn digits_after<'a>(s: &'a str, prefix: &str) -> &'a str {
    let at = s
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not in {s:?}"))
        + prefix.len();
    let rest = &s[at..];
    &rest[..rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len())]
}

/// Every request whose body length the server framed must agree with its `Content-Length`.
fn assert_content_length_matches(all: &[Seen]) {
    for s in all {
        let cl: usize = s
            .header("content-length")
            .map_or(0, |v| v.parse().expect("numeric Content-Length"));
        assert_eq!(
            cl,
            s.body.len(),
            "{} {}: {:?}",
            s.method,
            s.target,
            s.body_str()
        );
    }
}

#[test]
fn rand_values_are_in_range_and_zero_padded_to_the_width_of_max() {
    let srv = recording_serve(1);
    let p = tpl_plan(
        &srv,
        vec![
            tpl("small.raw", "GET /?v={RAND:10:99} HTTP/1.1\nAccept: */*\n\n"),
            tpl("wide.raw", "POST /echo HTTP/1.1\nContent-Type: application/json\n\n{\"id\":\"{RAND:1:1000}\",\"x\":1}"),
        ],
        4,
        8,
        300,
    );
    let c = run(&p).counts;
    let all = seen(&srv);
    srv.shutdown();
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
    assert_content_length_matches(&all);

    let small: Vec<&str> = all
        .iter()
        .filter(|s| s.method == "GET")
        .map(|s| digits_after(&s.target, "v="))
        .collect();
    let wide: Vec<&str> = all
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| digits_after(s.body_str(), "\"id\":\""))
        .collect();
    assert!(
        small.len() > 50 && wide.len() > 50,
        "GET {} POST {}",
        small.len(),
        wide.len()
    );
    for v in &small {
        let n: u64 = v.parse().unwrap();
        assert!(
            v.len() == 2 && (10..=99).contains(&n),
            "{{RAND:10:99}} gave {v:?}"
        );
    }
    for v in &wide {
        let n: u64 = v.parse().unwrap();
        assert!(
            v.len() == 4 && (1..=1000).contains(&n),
            "{{RAND:1:1000}} gave {v:?}"
        );
    }
    // Values below 1000 are written with leading zeros rather than shorter.
    assert!(
        wide.iter().filter(|v| v.starts_with('0')).count() * 10 >= wide.len() * 9,
        "{wide:?}"
    );
    // Random, not one value repeated: each pipelined copy draws its own.
    let distinct = |v: &[&str]| v.iter().collect::<HashSet<_>>().len();
    assert!(
        distinct(&small) > 30 && distinct(&wide) > 30,
        "{} {}",
        distinct(&small),
        distinct(&wide)
    );
    let mut per_conn: HashMap<u64, HashSet<&str>> = HashMap::new();
    for s in all.iter().filter(|s| s.method == "POST") {
        per_conn
            .entry(s.conn)
            .or_default()
            .insert(digits_after(s.body_str(), "\"id\":\""));
    }
    assert!(
        per_conn.values().all(|v| v.len() > 1),
        "a connection repeated one value: {per_conn:?}"
    );
}

#[test]
fn seq_values_are_unique_across_threads_connections_and_pipelined_copies() {
    let srv = recording_serve(2);
    // `/delay` holds each pipeline back, so the run stays far below the
    // 9000 values that fit in four digits.
    let mut p = tpl_plan(&srv, vec![tpl("put.raw", "PUT /delay/10 HTTP/1.1\nContent-Type: application/json\n\n{\"id\":{SEQ:1000},\"n\":\"x\"}")], 6, 4, 300);
    p.threads = 3;
    let c = run(&p).counts;
    let all = seen(&srv);
    srv.shutdown();
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
    assert_content_length_matches(&all);
    assert!(
        all.len() >= 6 * 4,
        "every connection sent its first pipeline: {}",
        all.len()
    );
    assert!(all.len() < 9000, "too many for 4 digits: {}", all.len());
    let values: Vec<&str> = all
        .iter()
        .map(|s| digits_after(s.body_str(), "\"id\":"))
        .collect();
    for v in &values {
        let n: u64 = v.parse().unwrap();
        assert!(v.len() == 4 && n >= 1000, "{{SEQ:1000}} gave {v:?}");
    }
    let unique: HashSet<&str> = values.iter().copied().collect();
    assert_eq!(unique.len(), values.len(), "duplicate SEQ values");
    // Each worker draws its own progression (stride 3), so all three appear.
    let workers: HashSet<u64> = values
        .iter()
        .map(|v| (v.parse::<u64>().unwrap() - 1000) % 3)
        .collect();
    assert_eq!(workers.len(), 3, "{values:?}");
    assert!(all.iter().map(|s| s.conn).collect::<HashSet<_>>().len() >= 6);
}

/// Count of requests per path among those recorded.
fn paths(all: &[Seen]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for s in all {
        *m.entry(s.target.clone()).or_default() += 1;
    }
    m
}

fn ab() -> Vec<RequestTemplate> {
    vec![
        tpl("a.raw", "GET /?tpl=a HTTP/1.1\n\n"),
        tpl("b.raw", "GET /?tpl=b HTTP/1.1\n\n"),
    ]
}

#[test]
fn connections_rotate_templates_on_reconnect() {
    // One connection would send only `a` without rotation; with three, two of
    // them would start (and stay) on `a`, so `a` would be about twice `b`.
    for conns in [1u32, 3] {
        let srv = recording_serve(1);
        let mut p = tpl_plan(&srv, ab(), conns, 1, 300);
        p.requests_per_connection = Some(1);
        let c = run(&p).counts;
        let all = seen(&srv);
        srv.shutdown();
        assert!(c.responses > 20 && c.reconnects > 20, "{c:?}");
        let per_path = paths(&all);
        let (a, b) = (
            per_path.get("/?tpl=a").copied().unwrap_or(0),
            per_path.get("/?tpl=b").copied().unwrap_or(0),
        );
        assert_eq!(a + b, all.len(), "{per_path:?}");
        // Every connection alternates a, b, a, ...: the totals differ by at most one per connection.
        assert!(
            a > 10 && b > 10 && a.abs_diff(b) <= conns as usize,
            "{conns} connections: a={a} b={b}"
        );
        let mut per_conn: HashMap<u64, usize> = HashMap::new();
        all.iter()
            .for_each(|s| *per_conn.entry(s.conn).or_default() += 1);
        assert!(
            per_conn.values().all(|&n| n == 1),
            "-r 1 sends one request per connection"
        );
    }
}

#[test]
fn without_reconnects_connection_i_keeps_template_i_mod_n() {
    for (conns, threads) in [(2u32, 1u32), (4, 2)] {
        let srv = recording_serve(1);
        let mut p = tpl_plan(&srv, ab(), conns, 2, 250);
        p.threads = threads;
        let c = run(&p).counts;
        let all = seen(&srv);
        srv.shutdown();
        assert!(c.responses > 0 && c.reconnects == 0, "{c:?}");
        let mut per_conn: HashMap<u64, HashSet<&str>> = HashMap::new();
        all.iter().for_each(|s| {
            per_conn
                .entry(s.conn)
                .or_default()
                .insert(s.target.as_str());
        });
        assert_eq!(per_conn.len(), conns as usize, "{per_conn:?}");
        assert!(
            per_conn.values().all(|t| t.len() == 1),
            "a connection switched templates: {per_conn:?}"
        );
        // Half of the connections on each template, as i % 2 assigns them.
        let on_a = per_conn.values().filter(|t| t.contains("/?tpl=a")).count();
        assert_eq!(on_a * 2, conns as usize, "{per_conn:?}");
    }
}

fn per_template_report(srv: &ServerHandle, flag: bool) -> Report {
    let mut p = tpl_plan(srv, ab(), 4, 2, 300);
    p.per_template_latency = flag;
    run(&p)
}

#[test]
fn per_template_histograms_add_up_to_the_total() {
    let srv = recording_serve(1);
    let with = per_template_report(&srv, true);
    let without = per_template_report(&srv, false);
    srv.shutdown();
    assert_eq!(with.per_template.len(), 2);
    let sum: u64 = with.per_template.iter().map(|h| h.len()).sum();
    assert!(with.counts.responses > 0);
    assert_eq!(sum, with.counts.responses);
    assert_eq!(sum, with.latency.len());
    assert!(
        with.per_template.iter().all(|h| !h.is_empty()),
        "both templates answered"
    );
    assert!(
        without.per_template.is_empty(),
        "no per-template histograms without the flag"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn per_tpl_latency_from_the_cli_in_text_and_json() {
    let srv = recording_serve(1);
    let dir = tempfile::tempdir().unwrap();
    let raws = format!(
        "{},{}",
        write(dir.path(), "first.raw", "GET /?tpl=a HTTP/1.1\n\n"),
        write(dir.path(), "second.raw", "GET /json HTTP/1.1\n\n")
    );
    let url = format!("http://{}/", srv.local_addr());
    let common = [
        url.as_str(),
        "-c",
        "4",
        "-d",
        "300ms",
        "--warmup",
        "0s",
        "--raw",
        raws.as_str(),
        "--per-tpl-latency",
    ];
    let text = gcannon(&common);
    let json = gcannon(&[&common[..], &["--json"]].concat());
    srv.shutdown();

    assert_eq!(
        text.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let out = String::from_utf8_lossy(&text.stdout);
    for part in ["[0]", "[1]", "first.raw", "second.raw"] {
        assert!(out.contains(part), "missing {part:?} in\n{out}");
    }

    assert_eq!(
        json.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON object");
    let per = v["per_template_latency_us"]
        .as_array()
        .expect("per_template_latency_us array");
    assert_eq!(per.len(), 2, "{v}");
    let sum: u64 = per.iter().map(|l| l["samples"].as_u64().unwrap()).sum();
    assert_eq!(sum, v["responses"].as_u64().unwrap(), "{v}");
    assert_eq!(sum, v["latency_us"]["samples"].as_u64().unwrap(), "{v}");
    assert!(
        per[0]["template"].as_str().unwrap().ends_with(".raw"),
        "each entry names its template: {v}"
    );
}

#[test]
fn raw_without_url_targets_the_templates_host() {
    let srv = recording_serve(1);
    let dir = tempfile::tempdir().unwrap();
    let host = srv.local_addr().to_string();
    let raw = write(
        dir.path(),
        "hosted.raw",
        &format!("GET /?from=host HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    );
    let out = gcannon(&["--raw", &raw, "-c", "2", "-d", "300ms", "--json"]);
    let all = seen(&srv);
    srv.shutdown();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["responses"].as_u64().unwrap() > 0, "{v}");
    assert!(
        !all.is_empty()
            && all
                .iter()
                .all(|s| s.target == "/?from=host" && s.header("host") == Some(host.as_str()))
    );

    let bare = write(dir.path(), "bare.raw", "GET / HTTP/1.1\nAccept: */*\n\n");
    let out = gcannon(&["--raw", &bare, "-c", "2", "-d", "300ms"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bare.raw") && err.contains("no Host header"),
        "names the file and the missing Host: {err}"
    );
    assert!(
        out.stdout.is_empty(),
        "no load was reported: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Every template needs its Host when there is no URL, not just the first.
    let out = gcannon(&["--raw", &format!("{raw},{bare}"), "-c", "2", "-d", "300ms"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bare.raw"), "{err}");
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/templates")
}

#[test]
fn example_templates_compile_and_run_against_serve() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "raw"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    let templates = runner::http::template::load(&files).unwrap();
    for t in &templates {
        let c = runner::http::template::compile(t, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.host().is_some(), "{} carries Host", t.name);
    }
    let srv = recording_serve(1);
    let mut p = tpl_plan(&srv, templates, files.len() as u32, 2, 300);
    p.requests_per_connection = Some(3);
    let c = run(&p).counts;
    let all = seen(&srv);
    srv.shutdown();
    assert!(c.responses > 0 && c.errors.total() == 0, "{c:?}");
    // The CRUD mix passes with the default expected status: serve answers /items.
    assert_eq!(c.unexpected_status, 0, "{c:?}");
    assert_content_length_matches(&all);
    let methods: HashSet<&str> = all.iter().map(|s| s.method.as_str()).collect();
    for m in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(m), "{m} missing from {methods:?}");
    }
    // JSON bodies stay valid JSON after substitution.
    for s in all.iter().filter(|s| !s.body.is_empty()) {
        serde_json::from_slice::<serde_json::Value>(&s.body)
            .unwrap_or_else(|e| panic!("{}: {e}: {}", s.target, s.body_str()));
    }
}
