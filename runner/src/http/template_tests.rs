use super::*;
use proptest::prelude::*;

fn tpl(text: &str) -> RequestTemplate {
    RequestTemplate {
        name: "t.raw".into(),
        text: text.into(),
    }
}

fn ok(text: &str) -> Template {
    compile(&tpl(text), None).unwrap_or_else(|e| panic!("{e}"))
}

fn err_msg(text: &str) -> String {
    compile(&tpl(text), None).unwrap_err().to_string()
}

/// The bytes with the slot filled, as the engine would send them.
fn filled(t: &Template, value: u64) -> String {
    let mut b = t.bytes.clone();
    let p = t.placeholder.unwrap();
    p.write(&mut b[p.range()], value);
    String::from_utf8(b).unwrap()
}

#[test]
fn lf_and_crlf_give_the_same_crlf_bytes() {
    let lf = ok("GET /a HTTP/1.1\nHost: x\n\n");
    let crlf = ok("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(lf.bytes, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(lf, crlf);
    assert_eq!(lf.host(), Some("x"));
    assert!(!lf.head);
    assert!(lf.placeholder.is_none());
}

#[test]
fn missing_final_blank_line_is_tolerated() {
    assert_eq!(
        ok("GET / HTTP/1.1\nHost: x").bytes,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    );
}

#[test]
fn body_is_kept_byte_exact_and_content_length_added() {
    let t = ok("POST /p HTTP/1.1\nHost: x\n\nline1\nline2\r\n");
    assert_eq!(
        t.bytes,
        b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\nline1\nline2\r\n"
    );
}

#[test]
fn matching_content_length_is_kept() {
    let t = ok("POST /p HTTP/1.1\nContent-Length: 3\n\nabc");
    assert_eq!(t.bytes, b"POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(t.host(), None);
}

#[test]
fn head_method_is_flagged() {
    assert!(ok("HEAD / HTTP/1.1\nHost: x\n\n").head);
}

#[test]
fn default_host_added_only_when_missing() {
    let t = compile(&tpl("GET / HTTP/1.1\n\n"), Some("h:8080")).unwrap();
    assert_eq!(t.bytes, b"GET / HTTP/1.1\r\nHost: h:8080\r\n\r\n");
    assert_eq!(t.host(), Some("h:8080"));
    let t = compile(&tpl("GET / HTTP/1.1\nhost: mine\n\n"), Some("h")).unwrap();
    assert_eq!(t.bytes, b"GET / HTTP/1.1\r\nhost: mine\r\n\r\n");
    assert_eq!(t.host(), Some("mine"));
}

#[test]
fn rand_in_target_is_zero_padded_to_max_width() {
    let t = ok("GET /item/{RAND:1:1000} HTTP/1.1\nHost: x\n\n");
    let p = t.placeholder.unwrap();
    assert_eq!(p.kind, PlaceholderKind::Rand { min: 1, max: 1000 });
    assert_eq!(p.width, 4);
    assert_eq!(&t.bytes[p.range()], b"0000");
    assert_eq!(filled(&t, 7), "GET /item/0007 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        filled(&t, 1000),
        "GET /item/1000 HTTP/1.1\r\nHost: x\r\n\r\n"
    );
}

#[test]
fn seq_width_is_digits_of_start() {
    let t = ok("GET / HTTP/1.1\nX-Id: {SEQ:100000}\n\n");
    let p = t.placeholder.unwrap();
    assert_eq!(p.kind, PlaceholderKind::Seq { start: 100000 });
    assert_eq!(p.width, 6);
    assert_eq!(filled(&t, 123456), "GET / HTTP/1.1\r\nX-Id: 123456\r\n\r\n");
    // Past the width the value wraps to its low digits (documented).
    assert_eq!(
        filled(&t, 1_000_042),
        "GET / HTTP/1.1\r\nX-Id: 000042\r\n\r\n"
    );
}

#[test]
fn placeholder_in_body_counts_its_width_in_content_length() {
    // `{RAND:1:99}` is 11 bytes of text but 2 bytes on the wire.
    let t = ok("POST / HTTP/1.1\nHost: x\n\n{\"id\":{RAND:1:99}}");
    assert_eq!(
        filled(&t, 5),
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n{\"id\":05}"
    );
    // A Content-Length that matches the text before substitution is wrong.
    let e = err_msg("POST / HTTP/1.1\nContent-Length: 18\n\n{\"id\":{RAND:1:99}}");
    assert!(e.starts_with("t.raw:2: "), "{e}");
    assert!(e.contains("expected Content-Length: 9"), "{e}");
    ok("POST / HTTP/1.1\nContent-Length: 9\n\n{\"id\":{RAND:1:99}}");
}

#[test]
fn offset_accounts_for_added_headers_and_crlf() {
    let t = compile(&tpl("POST / HTTP/1.1\nA: b\n\nbody={SEQ:10}"), Some("h")).unwrap();
    assert_eq!(
        filled(&t, 42),
        "POST / HTTP/1.1\r\nA: b\r\nHost: h\r\nContent-Length: 7\r\n\r\nbody=42"
    );
}

#[test]
fn header_and_request_line_errors_never_quote_the_line() {
    for (text, want) in [
        (
            "GET / HTTP/1.1\nAuthorization Bearer s3cr3t-token\n\n",
            "t.raw:2: malformed header",
        ),
        (
            "GET / HTTP/1.1\nX-Api Key s3cr3t-token: 1\n\n",
            "t.raw:2: malformed header",
        ),
        (
            "GET /a?key=s3cr3t HTTP/1.1 x\n\n",
            "t.raw:1: request line is not",
        ),
    ] {
        let e = err_msg(text);
        assert!(e.starts_with(want), "{e}");
        assert!(!e.contains("s3cr3t") && !e.contains("Bearer"), "{e}");
    }
}

#[test]
fn errors_name_file_and_line() {
    let cases: &[(&str, &str)] = &[
        ("", "t.raw:1: no request line"),
        ("\n\n", "t.raw:2: no request line"),
        ("GET /\nHost: x\n\n", "t.raw:1: request line"),
        (
            "GET / HTTP/1.0\n\n",
            "t.raw:1: version \"HTTP/1.0\" is not HTTP/1.1",
        ),
        ("G(T / HTTP/1.1\n\n", "t.raw:1: bad method"),
        (
            "GET / HTTP/1.1\nHost x\n\n",
            "t.raw:2: malformed header line",
        ),
        (
            "GET / HTTP/1.1\nContent-Length: 5\n\nabc",
            "t.raw:2: Content-Length is 5 but the body is 3 bytes",
        ),
        (
            "GET / HTTP/1.1\nContent-Length: x\n\n",
            "t.raw:2: Content-Length \"x\" is not a number",
        ),
        (
            "GET / HTTP/1.1\nContent-Length: 0\nContent-Length: 0\n\n",
            "t.raw:3: duplicate Content-Length",
        ),
        (
            "GET / HTTP/1.1\nA: 1\nB: {RAND:1:5\n\n",
            "t.raw:3: unterminated {RAND: placeholder",
        ),
        (
            "GET /{SEQ:1 HTTP/1.1\n\n",
            "t.raw:1: unterminated {SEQ: placeholder",
        ),
        (
            "GET /{RAND:a:5} HTTP/1.1\n\n",
            "t.raw:1: malformed number \"a\"",
        ),
        ("GET /{RAND:5} HTTP/1.1\n\n", "t.raw:1: malformed {RAND:5}"),
        (
            "GET /{RAND:1:} HTTP/1.1\n\n",
            "t.raw:1: malformed number \"\"",
        ),
        (
            "GET /{SEQ:-1} HTTP/1.1\n\n",
            "t.raw:1: malformed number \"-1\"",
        ),
        (
            "GET /{SEQ:99999999999999999999999} HTTP/1.1\n\n",
            "t.raw:1: number 99999999999999999999999",
        ),
        (
            "GET /{RAND:9:1} HTTP/1.1\n\n",
            "t.raw:1: {RAND:9:1}: min 9 is greater than max 1",
        ),
        (
            "GET /{SEQ:1} HTTP/1.1\nA: b\n\nx={RAND:1:2}",
            "t.raw:4: a second placeholder (the first is on line 1)",
        ),
    ];
    for (text, want) in cases {
        let e = err_msg(text);
        assert!(
            e.starts_with(want),
            "for {text:?}: got {e:?}, want prefix {want:?}"
        );
        assert!(!e.contains('\n'), "message must be one line: {e:?}");
    }
}

#[test]
fn other_braces_are_not_placeholders() {
    let t = ok("POST / HTTP/1.1\n\n{\"a\":{\"RAND\":1}}");
    assert!(t.placeholder.is_none());
}

#[test]
fn load_reads_files_and_names_unreadable_ones() {
    let dir = std::env::temp_dir().join(format!("gc-tpl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.raw");
    std::fs::write(&good, "GET / HTTP/1.1\nHost: x\n\n").unwrap();
    let got = load(std::slice::from_ref(&good)).unwrap();
    assert_eq!(got[0].name, good.display().to_string());
    assert_eq!(got[0].text, "GET / HTTP/1.1\nHost: x\n\n");

    let missing = dir.join("missing.raw");
    let e = load(&[good.clone(), missing.clone()])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read template", missing.display())),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn more_than_64_templates_is_an_error() {
    let paths = vec![PathBuf::from("x.raw"); 65];
    assert!(matches!(
        load(&paths),
        Err(TemplateError::TooMany { count: 65 })
    ));
    let tpls = vec![tpl("GET / HTTP/1.1\n\n"); 65];
    let e = compile_all(&tpls, None).unwrap_err().to_string();
    assert!(e.contains("65 request templates given, at most 64"), "{e}");
    assert_eq!(compile_all(&tpls[..64], None).unwrap().len(), 64);
}

#[test]
fn write_fills_exactly_width_bytes() {
    let p = Placeholder {
        kind: PlaceholderKind::Rand { min: 0, max: 999 },
        offset: 0,
        width: 3,
    };
    let mut buf = *b"[xxxxx]";
    p.write(&mut buf[1..], 7);
    assert_eq!(&buf, b"[007xx]");
    p.write(&mut buf[1..], 999);
    assert_eq!(&buf, b"[999xx]");
    let p20 = Placeholder { width: 20, ..p };
    let mut big = [0u8; 20];
    p20.write(&mut big, u64::MAX);
    assert_eq!(&big, b"18446744073709551615");
}

#[test]
fn seq_values_are_disjoint_across_senders() {
    // 2 runners x 3 workers, 50 values each: all distinct.
    let (w_per, r_count) = (3u64, 2u64);
    let mut seen = std::collections::HashSet::new();
    for r in 0..r_count {
        for w in 0..w_per {
            for k in 0..50 {
                assert!(seen.insert(seq_value(1000, k, w_per * r_count, r * w_per + w)));
            }
        }
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(*seen.iter().min().unwrap(), 1000);
    assert_eq!(*seen.iter().max().unwrap(), 1299);
}

#[test]
fn xorshift_zero_seed_is_replaced() {
    let mut r = XorShift64::new(0);
    assert_ne!(r.next_u64(), 0);
    assert_eq!(XorShift64::new(5).next_in(3, 3), 3);
    let mut full = XorShift64::new(9);
    let a = full.next_in(0, u64::MAX);
    let b = full.next_in(0, u64::MAX);
    assert_ne!(a, b);
}

proptest! {
    #[test]
    fn rand_stays_in_range(seed in any::<u64>(), min in any::<u64>(), span in 0u64..1_000_000) {
        let max = min.saturating_add(span);
        let mut r = XorShift64::new(seed);
        for _ in 0..64 {
            let v = r.next_in(min, max);
            prop_assert!(v >= min && v <= max);
        }
    }

    #[test]
    fn rand_hits_both_ends_of_a_small_range(seed in 1u64..u64::MAX) {
        let mut r = XorShift64::new(seed);
        let mut hit = [false; 5];
        for _ in 0..2000 {
            hit[(r.next_in(10, 14) - 10) as usize] = true;
        }
        prop_assert!(hit.iter().all(|&h| h));
    }

    #[test]
    fn write_matches_zero_padded_format(value in any::<u64>(), width in 1usize..=20) {
        let p = Placeholder { kind: PlaceholderKind::Seq { start: 0 }, offset: 0, width };
        let mut buf = [b'x'; 24];
        p.write(&mut buf, value);
        let full = format!("{value:020}");
        prop_assert_eq!(&buf[..width], &full.as_bytes()[20 - width..]);
        prop_assert!(buf[width..].iter().all(|&b| b == b'x'));
    }
}

#[test]
fn each_pipelined_copy_gets_the_senders_next_value() {
    // As the engine fills a send: copy the request, write the next value in its slot.
    let t = ok("GET /u/{SEQ:10} HTTP/1.1\nHost: x\n\n");
    let p = t.placeholder.unwrap();
    let (mut rng, mut seq) = (XorShift64::new(1), 0);
    let mut out = Vec::new();
    for _ in 0..3 {
        let mut copy = t.bytes.clone();
        p.write(&mut copy[p.range()], p.next_value(&mut rng, &mut seq, 2, 1));
        out.extend(copy);
    }
    let want: String = ["11", "13", "15"]
        .iter()
        .map(|v| format!("GET /u/{v} HTTP/1.1\r\nHost: x\r\n\r\n"))
        .collect();
    assert_eq!(String::from_utf8(out).unwrap(), want);
    assert_eq!(seq, 3, "each SEQ value advances the sender's counter");
    // Past the slot's width the values start again from `start`, never below it.
    let t = ok("GET /u/{SEQ:98} HTTP/1.1\n\n");
    let p = t.placeholder.unwrap();
    let mut seq = 0;
    let v: Vec<u64> = (0..3)
        .map(|_| p.next_value(&mut rng, &mut seq, 1, 0))
        .collect();
    assert_eq!(v, [98, 99, 98]);
}

#[test]
fn next_value_draws_rand_in_range() {
    let t = ok("GET /{RAND:5:9} HTTP/1.1\n\n");
    let p = t.placeholder.unwrap();
    let (mut rng, mut seq) = (XorShift64::new(42), 0);
    let v: Vec<u64> = (0..100)
        .map(|_| p.next_value(&mut rng, &mut seq, 1, 0))
        .collect();
    assert!(v.iter().all(|v| (5..=9).contains(v)), "{v:?}");
    assert!((5..=9).all(|x| v.contains(&x)), "every value drawn: {v:?}");
    assert_eq!(seq, 0, "RAND draws leave the SEQ counter alone");
}

#[test]
fn seq_values_cycle_within_their_width_and_repeats_are_counted() {
    use super::{seq_repeats, seq_span, seq_value_in};
    // {SEQ:90}: two digits, so 90..=99 are the ten distinct values.
    let span = seq_span(90, 2);
    assert_eq!(span, 10);
    // Two senders (stride 2, offsets 0 and 1) together cover 90..=99, then repeat.
    let mut seen = Vec::new();
    for k in 0..8 {
        for offset in 0..2 {
            seen.push(seq_value_in(90, span, k, 2, offset));
        }
    }
    assert!(seen.iter().all(|v| (90..=99).contains(v)), "{seen:?}");
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    // 8 values each: 5 fresh, 3 repeats per sender.
    assert_eq!(seq_repeats(8, span, 2, 0), 3);
    assert_eq!(seq_repeats(8, span, 2, 1), 3);
    assert_eq!(seq_repeats(4, span, 2, 1), 0);
    assert_eq!(seq_repeats(5, 1_000_000, 1, 0), 0);
}
