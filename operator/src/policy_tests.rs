use super::*;

const OWN: &str = "ghcr.io/glass-cannon/glass-cannon:0.1.0";

fn spec(yaml: &str) -> LoadTestSpec {
    serde_yaml::from_str(yaml).unwrap()
}

/// The rules `yaml` breaks under `policy`.
fn rules(yaml: &str, policy: &Policy) -> Vec<Rule> {
    check(&spec(yaml), policy, OWN)
        .into_iter()
        .map(|v| v.rule)
        .collect()
}

fn broken(yaml: &str) -> Vec<Rule> {
    rules(yaml, &Policy::default())
}

#[test]
fn a_plain_loadtest_passes_the_default_policy() {
    assert_eq!(broken("target: http://target.default.svc:8080/\n"), []);
    assert_eq!(
        broken("target: http://10.0.0.7/\nrunners: 4\nconnections: 64\nseccomp: Localhost\nrunner: {nodeSelector: {pool: load}}\n"),
        []
    );
}

#[test]
fn privileged_is_forbidden_unless_allowed() {
    assert_eq!(
        broken("target: http://t/\nprivileged: true\n"),
        [Rule::Privileged]
    );
    let p = Policy {
        allow_privileged: true,
        ..Policy::default()
    };
    assert_eq!(rules("target: http://t/\nprivileged: true\n", &p), []);
}

#[test]
fn seccomp_only_from_the_allowed_choices() {
    assert_eq!(
        broken("target: http://t/\nseccomp: Unconfined\n"),
        [Rule::Seccomp]
    );
    assert_eq!(broken("target: http://t/\nseccomp: RuntimeDefault\n"), []);
    let p = Policy {
        seccomp: vec![SeccompChoice::Localhost],
        ..Policy::default()
    };
    assert_eq!(
        rules("target: http://t/\nseccomp: RuntimeDefault\n", &p),
        [Rule::Seccomp]
    );
    // Unset takes the admin's own default, whatever it is.
    assert_eq!(rules("target: http://t/\n", &p), []);
}

#[test]
fn images_the_operators_own_or_allowed_patterns() {
    assert_eq!(
        broken(&format!("target: http://t/\nrunner: {{image: {OWN}}}\n")),
        []
    );
    assert_eq!(
        broken("target: http://t/\nrunner: {image: evil/steal:1}\n"),
        [Rule::Image]
    );
    let p = Policy {
        images: vec!["registry.corp/perf/*".into()],
        ..Policy::default()
    };
    assert_eq!(
        rules(
            "target: http://t/\nrunner: {image: registry.corp/perf/gc:2}\n",
            &p
        ),
        []
    );
    assert_eq!(
        rules(
            "target: http://t/\nrunner: {image: registry.corp/other:2}\n",
            &p
        ),
        [Rule::Image]
    );
}

#[test]
fn secret_key_refs_in_env_are_forbidden_by_default() {
    let yaml = "target: http://t/\nrunner:\n  env:\n  - {name: TOKEN, valueFrom: {secretKeyRef: {name: db, key: password}}}\n  - {name: PLAIN, value: x}\n";
    let v = check(&spec(yaml), &Policy::default(), OWN);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].rule, Rule::SecretEnv);
    assert!(
        v[0].to_string().starts_with("policy.allowSecretEnv: "),
        "{}",
        v[0]
    );
    assert!(v[0].to_string().contains("TOKEN"));
    let p = Policy {
        allow_secret_env: true,
        ..Policy::default()
    };
    assert_eq!(rules(yaml, &p), []);
    assert_eq!(broken("target: http://t/\nrunner: {env: [{name: A, valueFrom: {configMapKeyRef: {name: c, key: k}}}]}\n"), []);
}

#[test]
fn tolerations_only_for_allowed_keys_and_never_every_taint() {
    let tol = |t: &str| format!("target: http://t/\nrunner: {{tolerations: [{t}]}}\n");
    assert_eq!(
        broken(&tol("{key: dedicated, operator: Equal, value: load}")),
        [Rule::Tolerations]
    );
    let p = Policy {
        toleration_keys: vec!["dedicated".into(), "*".into()],
        ..Policy::default()
    };
    assert_eq!(
        rules(&tol("{key: dedicated, operator: Equal, value: load}"), &p),
        []
    );
    // An empty key with Exists tolerates every taint: refused even under "*".
    assert_eq!(rules(&tol("{operator: Exists}"), &p), [Rule::Tolerations]);
}

#[test]
fn node_selector_and_annotation_keys_from_allow_lists() {
    let p = Policy {
        node_selector_keys: vec!["pool".into()],
        pod_annotation_keys: vec!["prometheus.io/*".into()],
        ..Policy::default()
    };
    assert_eq!(
        rules(
            "target: http://t/\nrunner: {nodeSelector: {pool: load}}\n",
            &p
        ),
        []
    );
    assert_eq!(
        rules("target: http://t/\nrunner: {nodeSelector: {node-role.kubernetes.io/control-plane: ''}}\n", &p),
        [Rule::NodeSelector]
    );
    assert_eq!(
        rules(
            "target: http://t/\nrunner: {podAnnotations: {prometheus.io/scrape: 'true'}}\n",
            &p
        ),
        []
    );
    assert_eq!(
        rules("target: http://t/\nrunner: {podAnnotations: {container.apparmor.security.beta.kubernetes.io/runner: unconfined}}\n", &p),
        [Rule::PodAnnotations]
    );
    // Default: no annotations at all.
    assert_eq!(
        broken("target: http://t/\nrunner: {podAnnotations: {sidecar.istio.io/inject: 'false'}}\n"),
        [Rule::PodAnnotations]
    );
}

#[test]
fn targets_deny_metadata_link_local_and_the_api_server_by_default() {
    for bad in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]:8080/",
        "https://kubernetes.default.svc/api",
        "http://KUBERNETES.default.svc.cluster.local./",
        "http://user:pw@kubernetes:443/",
        "http://metadata.google.internal/",
    ] {
        assert_eq!(broken(&format!("target: {bad}\n")), [Rule::Target], "{bad}");
    }
    let mut p = Policy::default();
    p.deny_api_server(Some("10.96.0.1"));
    assert_eq!(
        rules("target: https://10.96.0.1:443/\n", &p),
        [Rule::Target]
    );
    assert_eq!(rules("target: http://10.96.0.2/\n", &p), []);
    // A template's Host header is a target too.
    let tpl = "templates:\n- text: \"GET / HTTP/1.1\\r\\nHost: 169.254.169.254\\r\\n\\r\\n\"\n";
    let v = check(&spec(tpl), &Policy::default(), OWN);
    assert_eq!(v.iter().map(|v| v.rule).collect::<Vec<_>>(), [Rule::Target]);
    assert!(
        v[0].detail.starts_with("spec.templates[0] Host"),
        "{}",
        v[0]
    );
}

#[test]
fn target_allow_lists_confine_addresses_and_names() {
    let p = Policy {
        targets: TargetPolicy {
            allow_cidrs: vec!["10.0.0.0/8".parse().unwrap()],
            allow_hosts: vec!["*.perf.svc.cluster.local".into()],
            ..TargetPolicy::default()
        },
        ..Policy::default()
    };
    assert_eq!(rules("target: http://10.1.2.3/\n", &p), []);
    assert_eq!(rules("target: http://192.168.1.1/\n", &p), [Rule::Target]);
    assert_eq!(
        rules("target: http://shop.perf.svc.cluster.local:8080/\n", &p),
        []
    );
    assert_eq!(
        rules("target: http://shop.prod.svc.cluster.local/\n", &p),
        [Rule::Target]
    );
    let names_only = Policy {
        targets: TargetPolicy {
            allow_hosts: vec!["shop".into()],
            ..TargetPolicy::default()
        },
        ..Policy::default()
    };
    assert_eq!(
        rules("target: http://10.1.2.3/\n", &names_only),
        [Rule::Target]
    );
}

#[test]
fn caps_on_runners_connections_rate_and_duration() {
    let p = Policy {
        max: Limits {
            runners: 4,
            connections: 100,
            rate: 1000,
            duration: Some(HumanDuration::parse("1m").unwrap()),
        },
        ..Policy::default()
    };
    assert_eq!(rules("target: http://t/\nrunners: 4\nconnections: 100\nrate: 1000\nduration: 50s\nwarmup: 10s\n", &p), []);
    assert_eq!(
        rules("target: http://t/\nrunners: 5\nconnections: 5\n", &p),
        [Rule::MaxRunners]
    );
    assert_eq!(
        rules("target: http://t/\nconnections: 101\n", &p),
        [Rule::MaxConnections]
    );
    assert_eq!(
        rules("target: http://t/\nrate: 1001\n", &p),
        [Rule::MaxRate]
    );
    assert_eq!(
        rules("target: http://t/\nstages: [{duration: 10s, target: 500}, {duration: 10s, target: 2000}]\n", &p),
        [Rule::MaxRate]
    );
    // Warm-up counts, and stages replace duration.
    assert_eq!(
        rules("target: http://t/\nduration: 55s\nwarmup: 10s\n", &p),
        [Rule::MaxDuration]
    );
    assert_eq!(
        rules("target: http://t/\nwarmup: 0s\nstages: [{duration: 40s, target: 10}, {duration: 40s, target: 10}]\n", &p),
        [Rule::MaxDuration]
    );
    let none = Policy {
        max: Limits::default(),
        ..Policy::default()
    };
    assert_eq!(
        rules(
            "target: http://t/\nrunners: 1000\nconnections: 100000\nduration: 100h\n",
            &none
        ),
        []
    );
}

#[test]
fn every_broken_rule_is_reported_in_order() {
    let v = broken("target: http://169.254.169.254/\nprivileged: true\nseccomp: Unconfined\nrunners: 101\nconnections: 101\n");
    assert_eq!(
        v,
        [
            Rule::Privileged,
            Rule::Seccomp,
            Rule::Target,
            Rule::MaxRunners
        ]
    );
}

#[test]
fn policy_json_reads_the_chart_values_and_refuses_typos() {
    let p = Policy::from_json(
        r#"{"allowPrivileged": true, "targets": {"denyCIDRs": ["100.64.0.0/10"], "denyAPIServer": true}, "max": {"duration": "", "runners": 0}}"#,
        Some("10.96.0.1"),
    )
    .unwrap();
    assert!(p.allow_privileged);
    assert_eq!(
        p.targets.deny_cidrs,
        [
            "100.64.0.0/10".parse::<IpNet>().unwrap(),
            "10.96.0.1/32".parse().unwrap()
        ]
    );
    assert_eq!((p.max.duration, p.max.runners), (None, 0));
    assert_eq!(p.seccomp, Policy::default().seccomp);
    let e = Policy::from_json(r#"{"allowPrivilege": true}"#, None).unwrap_err();
    assert!(e.contains("allowPrivilege"), "{e}");
    let e = Policy::from_json(r#"{"targets": {"denyCIDRs": ["10.0.0.0/33"]}}"#, None).unwrap_err();
    assert!(e.contains("invalid"), "{e}");
}

#[test]
fn globs_match_whole_strings() {
    let g = |p: &str, s: &str| any_glob(&[p.to_string()], s);
    assert!(g("*", "") && g("*", "anything"));
    assert!(g("a*c", "abbbc") && g("a*c", "ac"));
    assert!(!g("a*c", "abcd") && !g("abc", "abcd") && !g("", "a"));
    assert!(g("*.svc.cluster.local", "x.ns.svc.cluster.local"));
}
