use api::loadtest::{LoadTest, LoadTestSpec, SeccompChoice};
use k8s_openapi::api::core::v1::{PodSpec, SeccompProfile};

use super::*;

pub(crate) fn sample(yaml_spec: &str) -> LoadTest {
    let spec: LoadTestSpec = serde_yaml::from_str(yaml_spec).unwrap();
    let mut lt = LoadTest::new("smoke", spec);
    lt.metadata.namespace = Some("perf".into());
    lt.metadata.uid = Some("uid-1".into());
    lt
}

fn pod(job: &Job) -> &PodSpec {
    job.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

#[test]
fn job_is_indexed_owned_and_never_retried() {
    let lt = sample("target: http://t/\nrunners: 3\nconnections: 30\n");
    let job = build_job(&lt, &Config::default()).unwrap();
    let s = job.spec.as_ref().unwrap();
    assert_eq!(s.completion_mode.as_deref(), Some("Indexed"));
    assert_eq!(
        (s.completions, s.parallelism, s.backoff_limit),
        (Some(3), Some(3), Some(0))
    );
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
        ("LoadTest", "smoke", "uid-1")
    );
    assert_eq!(owner.controller, Some(true));
    assert_eq!(job.metadata.namespace.as_deref(), Some("perf"));
}

#[test]
fn pod_is_hardened_and_runs_the_agent() {
    let lt = sample("target: http://t/\n");
    let job = build_job(&lt, &Config::default()).unwrap();
    let p = pod(&job);
    assert_eq!(p.service_account_name.as_deref(), Some("smoke-runner"));
    assert_eq!(p.restart_policy.as_deref(), Some("Never"));
    let psc = p.security_context.as_ref().unwrap();
    assert_eq!(
        (psc.run_as_non_root, psc.run_as_user),
        (Some(true), Some(65532))
    );
    let c = &p.containers[0];
    assert_eq!(c.command.as_ref().unwrap(), &["gcannon", "agent"]);
    assert_eq!(
        c.image.as_deref(),
        Some(crate::config::DEFAULT_RUNNER_IMAGE)
    );
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop.as_ref().unwrap(),
        &["ALL"]
    );
    let env = c.env.as_ref().unwrap();
    let get = |n: &str| env.iter().find(|e| e.name == n).unwrap();
    assert_eq!(get("GC_LOADTEST").value.as_deref(), Some("smoke"));
    let path = |n: &str| {
        get(n)
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path
            .clone()
    };
    assert_eq!(path("GC_NAMESPACE"), "metadata.namespace");
    assert_eq!(path("POD_NAME"), "metadata.name");
    assert_eq!(path("NODE_NAME"), "spec.nodeName");
}

/// The pod-level seccomp profile of a built Job.
fn pod_seccomp(job: &Job) -> SeccompProfile {
    pod(job)
        .security_context
        .as_ref()
        .unwrap()
        .seccomp_profile
        .clone()
        .unwrap()
}

#[test]
fn seccomp_follows_spec_then_operator_default() {
    let cfg = Config {
        seccomp_default: SeccompChoice::Localhost,
        ..Config::default()
    };
    let job = build_job(&sample("target: http://t/\n"), &cfg).unwrap();
    let prof = pod_seccomp(&job);
    assert_eq!(prof.type_, "Localhost");
    assert_eq!(
        prof.localhost_profile.as_deref(),
        Some("glass-cannon/io-uring.json")
    );
    let job = build_job(&sample("target: http://t/\nseccomp: Unconfined\n"), &cfg).unwrap();
    let prof = pod_seccomp(&job);
    assert_eq!(
        (prof.type_.as_str(), prof.localhost_profile),
        ("Unconfined", None)
    );
}

#[test]
fn spread_adds_hostname_anti_affinity_and_keeps_user_template() {
    let lt = sample(
        "target: http://t/\nrunner:\n  spread: true\n  image: me/gc:2\n  podLabels: {team: perf}\n  nodeSelector: {pool: load}\n  env: [{name: RUST_LOG, value: debug}, {name: GC_LOADTEST, value: evil}]\n",
    );
    let job = build_job(&lt, &Config::default()).unwrap();
    let p = pod(&job);
    let terms = p
        .affinity
        .as_ref()
        .unwrap()
        .pod_anti_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .unwrap();
    assert_eq!(terms[0].topology_key, "kubernetes.io/hostname");
    let sel = terms[0]
        .label_selector
        .as_ref()
        .unwrap()
        .match_labels
        .as_ref()
        .unwrap();
    assert_eq!(sel[LOADTEST_LABEL], "smoke");
    assert_eq!(p.containers[0].image.as_deref(), Some("me/gc:2"));
    assert_eq!(p.node_selector.as_ref().unwrap()["pool"], "load");
    let labels = job
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap();
    assert_eq!(
        (labels["team"].as_str(), labels[LOADTEST_LABEL].as_str()),
        ("perf", "smoke")
    );
    let env = p.containers[0].env.as_ref().unwrap();
    assert!(env.iter().any(|e| e.name == "RUST_LOG"));
    assert_eq!(
        env.iter().filter(|e| e.name == "GC_LOADTEST").count(),
        1,
        "user env must not shadow ours"
    );
}

#[test]
fn privileged_is_an_explicit_opt_in() {
    let job = build_job(
        &sample("target: http://t/\nprivileged: true\n"),
        &Config::default(),
    )
    .unwrap();
    let sc = pod(&job).containers[0].security_context.clone().unwrap();
    assert_eq!(
        (sc.privileged, sc.allow_privilege_escalation),
        (Some(true), None)
    );
}

#[test]
fn missing_uid_is_an_error_not_a_panic() {
    let mut lt = sample("target: http://t/\n");
    lt.metadata.uid = None;
    assert!(matches!(
        build_job(&lt, &Config::default()),
        Err(Error::MissingField(_))
    ));
}

#[test]
fn runners_always_serve_metrics_on_the_named_port() {
    let lt = sample("target: http://t/\nrunner:\n  env:\n    - name: GC_METRICS_LISTEN\n      value: 127.0.0.1:1\n");
    let job = build_job(&lt, &Config::default()).unwrap();
    let c = &pod(&job).containers[0];
    let port = &c.ports.as_ref().unwrap()[0];
    assert_eq!(
        (
            port.name.as_deref(),
            port.container_port,
            port.protocol.as_deref()
        ),
        (Some(METRICS_PORT_NAME), METRICS_PORT, Some("TCP"))
    );
    // The agent listens where the port says, and a user's env cannot move it.
    let listen: Vec<_> = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .filter(|e| e.name == "GC_METRICS_LISTEN")
        .collect();
    assert_eq!(listen.len(), 1);
    assert_eq!(
        listen[0].value.as_deref(),
        Some(format!("0.0.0.0:{METRICS_PORT}").as_str())
    );
}

#[test]
fn tls_secret_is_mounted_read_only_where_the_plan_reads_it() {
    let lt = sample(
        "target: https://gw/\ntls: {secretName: gw-tls, ca: ca.crt, cert: tls.crt, key: tls.key}\n",
    );
    let job = build_job(&lt, &Config::default()).unwrap();
    let p = pod(&job);
    let vol = p
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "tls")
        .unwrap();
    assert_eq!(
        vol.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("gw-tls")
    );
    let mount = p.containers[0]
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "tls")
        .unwrap();
    assert_eq!(mount.read_only, Some(true));
    let plan = lt.spec.plan(|_| unreachable!()).unwrap();
    for f in [plan.tls.ca_file, plan.tls.cert_file, plan.tls.key_file] {
        let f = f.unwrap();
        assert!(f.starts_with(&format!("{}/", mount.mount_path)), "{f}");
    }

    // No Secret, no volume: plaintext and `insecure` tests mount nothing new.
    for spec in [
        "target: http://t/\n",
        "target: https://t/\ntls: {insecure: true}\n",
    ] {
        let job = build_job(&sample(spec), &Config::default()).unwrap();
        let names: Vec<_> = pod(&job)
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| v.name.clone())
            .collect();
        assert_eq!(names, ["tmp"]);
        assert_eq!(
            pod(&job).containers[0]
                .volume_mounts
                .as_ref()
                .unwrap()
                .len(),
            1
        );
    }
}

#[test]
fn secret_templates_are_mounted_read_only_key_by_key_where_the_agent_reads_them() {
    let lt = sample(
        "templates:\n- secretRef: {name: auth, key: get.raw}\n- secretRef: {name: auth, key: post.raw}\n- secretRef: {name: other, key: x}\n- text: \"GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n\"\n",
    );
    let job = build_job(&lt, &Config::default()).unwrap();
    let p = pod(&job);
    let secrets: Vec<(String, Vec<String>)> = p
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .filter_map(|v| {
            let s = v.secret.as_ref()?;
            let keys = s
                .items
                .as_ref()?
                .iter()
                .map(|i| format!("{}={}", i.key, i.path));
            Some((s.secret_name.clone()?, keys.collect()))
        })
        .collect();
    assert_eq!(
        secrets,
        [
            (
                "auth".into(),
                vec!["get.raw=get.raw".into(), "post.raw=post.raw".into()]
            ),
            ("other".into(), vec!["x=x".into()])
        ]
    );
    let mounts = p.containers[0].volume_mounts.as_ref().unwrap();
    // Every secretRef file the agent reads lies under a read-only mount of its Secret.
    for t in &lt.spec.templates {
        let Some(r) = &t.secret_ref else { continue };
        let m = mounts
            .iter()
            .find(|m| r.path().starts_with(&format!("{}/", m.mount_path)))
            .unwrap_or_else(|| panic!("{} is under no mount", r.path()));
        assert_eq!(m.read_only, Some(true));
        let vol = p
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == m.name)
            .unwrap();
        assert_eq!(
            vol.secret.as_ref().unwrap().secret_name.as_ref(),
            Some(&r.name)
        );
        assert_eq!(r.path(), format!("{}/{}", m.mount_path, r.key));
    }
    // The runner's Role still reads no Secret.
    let role = crate::rbac::role(&lt).unwrap();
    assert!(role.rules.unwrap().iter().all(|r| !r
        .resources
        .as_ref()
        .unwrap()
        .contains(&"secrets".to_string())));
}
