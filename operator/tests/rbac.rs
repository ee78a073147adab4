//! RBAC only lets the operator create a Role, and bind it, when it holds every
//! permission the Role grants. Check the chart's ClusterRole against what
//! `rbac::role` actually builds, for a LoadTest with ConfigMap templates.

use std::collections::BTreeSet;

use api::loadtest::LoadTest;
use operator::rbac;

/// (apiGroup, resource, verb) the chart's operator ClusterRole grants.
fn cluster_role_grants() -> BTreeSet<(String, String, String)> {
    let path = format!(
        "{}/../charts/glass-cannon/templates/clusterrole.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    // The rules are plain YAML; only the metadata is templated.
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("{{"))
        .collect::<Vec<_>>()
        .join("\n");
    let first = text.split("\n---").next().unwrap();
    let role: serde_yaml::Value = serde_yaml::from_str(first).unwrap();
    assert_eq!(role["kind"], "ClusterRole");
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_sequence().unwrap() {
        assert!(rule.get("resourceNames").is_none(), "{rule:?}");
        let strs = |k: &str| -> Vec<String> {
            rule[k]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        for g in strs("apiGroups") {
            for r in strs("resources") {
                for v in strs("verbs") {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

#[test]
fn the_operator_holds_every_permission_it_grants_runners() {
    let yaml = "target: http://t/\ntemplates:\n- configMapRef: {name: reqs, key: a}\n";
    let mut lt = LoadTest::new("smoke", serde_yaml::from_str(yaml).unwrap());
    lt.metadata.namespace = Some("perf".into());
    lt.metadata.uid = Some("uid".into());
    let held = cluster_role_grants();
    let rules = rbac::role(&lt).unwrap().rules.unwrap();
    assert_eq!(
        rules.len(),
        3,
        "loadtests, runnerresults/status, configmaps"
    );
    for rule in rules {
        for g in rule.api_groups.unwrap() {
            for r in rule.resources.clone().unwrap() {
                for v in &rule.verbs {
                    let need = (g.clone(), r.clone(), v.clone());
                    assert!(held.contains(&need), "the operator cannot grant {need:?}");
                }
            }
        }
    }
    // And it may create the objects (get: to recognise its own after a restart).
    for (g, r) in [
        ("glasscannon.dev", "runnerresults"),
        ("", "serviceaccounts"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
    ] {
        for v in ["create", "get"] {
            assert!(
                held.contains(&(g.into(), r.into(), v.into())),
                "{g}/{r} {v}"
            );
        }
    }
    // It watches every runner's result to merge each once.
    for v in ["list", "watch"] {
        let need = ("glasscannon.dev".into(), "runnerresults".into(), v.into());
        assert!(held.contains(&need), "{need:?}");
    }
}
