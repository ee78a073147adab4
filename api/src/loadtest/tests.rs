use kube::CustomResourceExt;

use super::*;

#[test]
fn crd_carries_cel_rules_list_maps_and_columns() {
    let crd = serde_json::to_string(&LoadTest::crd()).unwrap();
    assert!(
        crd.contains("self.connections >= self.runners * self.threads"),
        "{crd}"
    );
    assert!(crd.contains("(has(self.secretRef) ? 1 : 0) == 1"));
    assert!(crd.contains(r#""x-kubernetes-list-type":"atomic""#));
    assert!(crd.contains(r#""x-kubernetes-list-map-keys":["type"]"#));
    assert!(crd.contains(r#""x-kubernetes-list-type":"map""#));
    assert!(crd.contains(r#""shortNames":["lt"]"#));
    assert!(crd.contains(r#""jsonPath":".status.summary.latency.p99Text""#));
    assert!(crd.contains(DURATION_PATTERN_JSON));
}

const DURATION_PATTERN_JSON: &str =
    r#""pattern":"^([0-9]+|([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$""#;

#[test]
fn minimal_manifest_gets_plan_defaults() {
    let lt: LoadTest = serde_yaml::from_str(
        "apiVersion: glasscannon.dev/v1alpha1\nkind: LoadTest\nmetadata: {name: t}\nspec:\n  target: http://svc:8080/\n",
    )
    .unwrap();
    assert_eq!(lt.spec.runners, 1);
    assert_eq!(lt.spec.cleanup, CleanupPolicy::Delete);
    let plan = lt.spec.plan(|_| unreachable!()).unwrap();
    assert_eq!(
        plan,
        LoadPlan {
            target: "http://svc:8080/".into(),
            ..LoadPlan::default()
        }
    );
}

#[test]
fn the_cli_only_plan_fields_are_manifest_fields_too() {
    let spec: LoadTestSpec = serde_yaml::from_str(
        "target: http://svc/\ntimeout: 250ms\ncqeLatency: true\nperTemplateLatency: true\n",
    )
    .unwrap();
    let plan = spec.plan(|_| unreachable!()).unwrap();
    assert_eq!(plan.timeout.get(), std::time::Duration::from_millis(250));
    assert!(plan.cqe_latency && plan.per_template_latency);
}

#[test]
fn templates_resolve_inline_and_from_configmaps() {
    let spec: LoadTestSpec = serde_yaml::from_str(
        "templates:\n- text: \"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n\"\n- configMapRef: {name: reqs, key: post}\n",
    )
    .unwrap();
    let plan = spec.plan(|r| Ok(format!("from {r}"))).unwrap();
    assert_eq!(plan.templates[0].name, "inline[0]");
    assert_eq!(plan.templates[1].text, "from configMapRef reqs/post");
    let err = spec
        .plan(|_| Err("configmap reqs not found".into()))
        .unwrap_err();
    assert_eq!(err.to_string(), "template 1: configmap reqs not found");
}

#[test]
fn template_with_both_sources_is_rejected() {
    let spec: LoadTestSpec =
        serde_yaml::from_str("templates:\n- text: x\n  configMapRef: {name: a, key: b}\n").unwrap();
    assert_eq!(
        spec.plan(|_| Ok(String::new())),
        Err(SpecError::TemplateSource { index: 0 })
    );
}

#[test]
fn summary_comes_from_the_merged_histogram() {
    use crate::report::{Report, Summary as ReportSummary};
    let mut r = Report::default();
    for v in 1..=1000u64 {
        r.latency.record(v).unwrap();
    }
    r.counts.responses = 1000;
    r.elapsed_sec = 2.0;
    let s = MergedSummary::from_summary(&ReportSummary::from_report(&r), "h".into());
    assert_eq!(s.rps, 500.0);
    assert!(
        (989..=991).contains(&s.latency.p99_us),
        "{}",
        s.latency.p99_us
    );
    assert_eq!(s.latency.max_us, 1000);
    assert!(s.latency.p99_text.ends_with("us"), "{}", s.latency.p99_text);
    assert_eq!(s.histogram, "h");
    assert!(s.tls.is_none(), "a plaintext run has no TLS summary");

    // A TLS run: handshakes and their own latency, apart from request latency.
    let mut hs = crate::report::new_histogram();
    hs.record(3000).unwrap();
    hs.record(5000).unwrap();
    r.handshake = Some(hs);
    r.counts.tls_handshakes = 2;
    r.counts.tls_resumed = 1;
    let s = MergedSummary::from_summary(&ReportSummary::from_report(&r), String::new());
    let tls = s.tls.expect("TLS summary");
    assert_eq!((tls.handshakes, tls.resumed), (2, 1));
    assert!(
        (4990..=5010).contains(&tls.handshake_latency.max_us),
        "{tls:?}"
    );
    assert_eq!(s.latency.max_us, 1000);
}

#[test]
fn tls_files_come_from_the_secret_mount_in_a_cluster_and_from_paths_otherwise() {
    let spec = |tls: &str| -> LoadTestSpec {
        serde_yaml::from_str(&format!("target: https://svc/\ntls: {tls}\n")).unwrap()
    };
    let p = spec(
        "{secretName: gw, ca: ca.crt, cert: tls.crt, key: tls.key, sni: gw.example, resume: true}",
    )
    .plan(|_| unreachable!())
    .unwrap()
    .tls;
    assert_eq!(p.ca_file.as_deref(), Some("/etc/gcannon/tls/ca.crt"));
    assert_eq!(p.cert_file.as_deref(), Some("/etc/gcannon/tls/tls.crt"));
    assert_eq!(p.key_file.as_deref(), Some("/etc/gcannon/tls/tls.key"));
    assert_eq!(p.sni.as_deref(), Some("gw.example"));
    assert!(p.resume && !p.insecure);

    let p = spec("{ca: certs/ca.pem, insecure: false}")
        .plan(|_| unreachable!())
        .unwrap()
        .tls;
    assert_eq!(p.ca_file.as_deref(), Some("certs/ca.pem"));

    let p = spec("{insecure: true}")
        .plan(|_| unreachable!())
        .unwrap()
        .tls;
    assert!(p.insecure && p.ca_file.is_none());

    // A Secret key cannot climb out of the mount.
    let e = spec("{secretName: gw, ca: ../etc/passwd}")
        .plan(|_| unreachable!())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"spec.tls.ca: "../etc/passwd" is not a key of spec.tls.secretName (a name without '/')"#
    );
    let crd = serde_json::to_string(&LoadTest::crd()).unwrap();
    assert!(crd.contains("has(self.cert) == has(self.key)"), "{crd}");
}

#[test]
fn templates_from_a_secret_key_name_the_secret_never_the_text() {
    let spec: LoadTestSpec =
        serde_yaml::from_str("templates:\n- secretRef: {name: auth, key: get.raw}\n").unwrap();
    let plan = spec
        .plan(|r| match r {
            TemplateRef::Secret(s) => Ok(format!("read from {}", s.path())),
            TemplateRef::ConfigMap(_) => unreachable!(),
        })
        .unwrap();
    assert_eq!(plan.templates[0].name, "secret/auth/get.raw");
    assert_eq!(
        plan.templates[0].text,
        "read from /etc/gcannon/templates/auth/get.raw"
    );
    for bad in ["..", "a/b", ""] {
        let spec: LoadTestSpec = serde_yaml::from_str(&format!(
            "templates:\n- secretRef: {{name: auth, key: {bad:?}}}\n"
        ))
        .unwrap();
        let e = spec.plan(|_| unreachable!()).unwrap_err().to_string();
        assert!(e.starts_with("template 0: secretRef key"), "{e}");
    }
    let both: LoadTestSpec =
        serde_yaml::from_str("templates:\n- text: x\n  secretRef: {name: auth, key: k}\n").unwrap();
    assert_eq!(
        both.plan(|_| unreachable!()).unwrap_err().to_string(),
        "template 0: set exactly one of text, configMapRef or secretRef"
    );
}

#[test]
fn runner_result_crd_is_namespaced_with_a_status_subresource() {
    let crd = serde_json::to_value(RunnerResult::crd()).unwrap();
    assert_eq!(crd["metadata"]["name"], "runnerresults.glasscannon.dev");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    assert_eq!(
        crd["spec"]["versions"][0]["subresources"]["status"],
        serde_json::json!({})
    );
    assert_eq!(runner_result_name("smoke", 7), "smoke-7");
}

#[test]
fn an_oversized_result_coarsens_its_timeline_and_says_so() {
    use crate::report::{Second, Timeline, WireReport};
    let day: Vec<Second> = (0..86_400u64)
        .map(|i| Second {
            responses: 10_000 + i % 1000,
            p99_us: 2_000 + i % 500,
        })
        .collect();
    let full = Timeline::from_seconds(&day);
    let mut st = RunnerResultStatus {
        phase: ShardPhase::Done,
        report: Some(WireReport::default()),
        timeline: Some(full.clone()),
        ..Default::default()
    };
    let bytes = st.fit(MAX_RESULT_BYTES);
    assert!(bytes <= MAX_RESULT_BYTES, "{bytes}");
    assert_eq!(serde_json::to_vec(&st).unwrap().len(), bytes);
    let t = st.timeline.as_ref().unwrap();
    assert!(t.step_sec > 1 && t.step_sec.is_power_of_two());
    assert_eq!(
        t.total_responses(),
        full.total_responses(),
        "no response is lost"
    );
    // The finest step that fits: one step finer would not.
    let mut finer = full;
    finer.coarsen(t.step_sec / 2);
    let finer = RunnerResultStatus {
        timeline: Some(finer),
        reduced: st.reduced.clone(),
        ..st.clone()
    };
    assert!(serde_json::to_vec(&finer).unwrap().len() > MAX_RESULT_BYTES);
    assert!(
        st.reduced
            .as_deref()
            .unwrap()
            .starts_with("timeline coarsened from 1 s to "),
        "{:?}",
        st.reduced
    );
    // A small result stays as it is.
    let mut small = RunnerResultStatus {
        timeline: Some(Timeline::from_seconds(&day[..30])),
        ..Default::default()
    };
    small.fit(MAX_RESULT_BYTES);
    assert_eq!((small.timeline.unwrap().step_sec, small.reduced), (1, None));
}

#[test]
fn a_refused_result_halves_its_timeline_until_one_point_and_says_why() {
    use crate::report::{Second, Timeline};
    let seconds: Vec<Second> = (0..10u64)
        .map(|i| Second {
            responses: 100 + i,
            p99_us: 900 + i,
        })
        .collect();
    let mut st = RunnerResultStatus {
        timeline: Some(Timeline::from_seconds(&seconds)),
        ..Default::default()
    };
    let why = "etcdserver: request is too large";
    let mut steps = vec![];
    while st.reduce_after_refusal(why) {
        let t = st.timeline.as_ref().unwrap();
        steps.push((t.step_sec, t.len()));
        assert_eq!(t.total_responses(), 1045, "no response is lost");
    }
    assert_eq!(steps, [(2, 5), (4, 3), (8, 2), (16, 1)]);
    assert_eq!(
        st.reduced.as_deref(),
        Some("timeline coarsened to 16 s steps: the API server refused it at 8 s steps as too large (etcdserver: request is too large)")
    );
    assert!(
        !RunnerResultStatus::default().reduce_after_refusal(why),
        "nothing to reduce"
    );
}
