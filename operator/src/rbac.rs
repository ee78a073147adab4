//! The pure runner-RBAC builders: a LoadTest in, the ServiceAccount its runner
//! pods run as and the namespace-scoped Role and RoleBinding that let exactly
//! those pods read this LoadTest (and the ConfigMaps it names) and patch the
//! status of its RunnerResults, out. All three are owned by the LoadTest, so they are
//! garbage-collected with it, and a runner token can touch no other LoadTest.

use std::collections::BTreeSet;

use api::loadtest::LoadTest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;

use crate::error::Error;
use crate::job::runner_labels;

/// Name of the LoadTest's runner ServiceAccount, Role and RoleBinding.
pub fn runner_rbac_name(lt: &LoadTest) -> String {
    format!("{}-runner", lt.name_any())
}

/// Metadata of one of the three objects: named, namespaced, labelled, owned by the LoadTest.
fn meta(lt: &LoadTest) -> Result<ObjectMeta, Error> {
    let (owner, namespace) = crate::job::owner_and_namespace(lt)?;
    Ok(ObjectMeta {
        name: Some(runner_rbac_name(lt)),
        namespace: Some(namespace),
        labels: Some(runner_labels(lt)),
        owner_references: Some(vec![owner]),
        ..ObjectMeta::default()
    })
}

/// The ServiceAccount runner pods run as.
pub fn service_account(lt: &LoadTest) -> Result<ServiceAccount, Error> {
    Ok(ServiceAccount {
        metadata: meta(lt)?,
        automount_service_account_token: Some(true),
        ..ServiceAccount::default()
    })
}

fn rule(group: &str, resource: &str, verb: &str, names: Vec<String>) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(vec![resource.into()]),
        verbs: vec![verb.into()],
        resource_names: Some(names),
        non_resource_urls: None,
    }
}

/// What the agent calls, on this LoadTest only: `get` it (the plan, then polling
/// for `startAt`), `patch` the status of its RunnerResults (`<loadtest>-<index>`,
/// created by the operator: a runner never writes the LoadTest), and `get` the
/// ConfigMaps its templates name. The operator holds every one of these verbs
/// itself, which is what lets it grant them without `escalate` or `bind`.
pub fn role(lt: &LoadTest) -> Result<Role, Error> {
    let mut rules = vec![
        rule("glasscannon.dev", "loadtests", "get", vec![lt.name_any()]),
        rule(
            "glasscannon.dev",
            "runnerresults/status",
            "patch",
            crate::results::runner_result_names(lt),
        ),
    ];
    let config_maps: BTreeSet<String> = lt
        .spec
        .templates
        .iter()
        .filter_map(|t| Some(t.config_map_ref.as_ref()?.name.clone()))
        .collect();
    if !config_maps.is_empty() {
        rules.push(rule(
            "",
            "configmaps",
            "get",
            config_maps.into_iter().collect(),
        ));
    }
    Ok(Role {
        metadata: meta(lt)?,
        rules: Some(rules),
    })
}

/// Binds [`role`] to [`service_account`], both in the LoadTest's namespace.
pub fn role_binding(lt: &LoadTest) -> Result<RoleBinding, Error> {
    let metadata = meta(lt)?;
    Ok(RoleBinding {
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: runner_rbac_name(lt),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: runner_rbac_name(lt),
            namespace: metadata.namespace.clone(),
            api_group: None,
        }]),
        metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::sample;

    #[test]
    fn all_three_are_named_for_the_loadtest_and_owned_by_it() {
        let lt = sample("target: http://t/\n");
        let metas = [
            service_account(&lt).unwrap().metadata,
            role(&lt).unwrap().metadata,
            role_binding(&lt).unwrap().metadata,
        ];
        for m in metas {
            assert_eq!(m.name.as_deref(), Some("smoke-runner"));
            assert_eq!(m.namespace.as_deref(), Some("perf"));
            let owner = &m.owner_references.unwrap()[0];
            assert_eq!(
                (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
                ("LoadTest", "smoke", "uid-1")
            );
            assert_eq!(owner.controller, Some(true));
            assert_eq!(m.labels.unwrap()["glasscannon.dev/loadtest"], "smoke");
        }
    }

    #[test]
    fn role_reaches_only_this_loadtest() {
        let rules = role(&sample("target: http://t/\n")).unwrap().rules.unwrap();
        let flat: Vec<(String, String, Vec<String>, Vec<String>)> = rules
            .into_iter()
            .map(|r| {
                (
                    r.api_groups.unwrap().join(","),
                    r.resources.unwrap().join(","),
                    r.verbs,
                    r.resource_names.unwrap(),
                )
            })
            .collect();
        let smoke = vec!["smoke".to_string()];
        let results = vec!["smoke-0".to_string()];
        assert_eq!(
            flat,
            [
                (
                    "glasscannon.dev".into(),
                    "loadtests".into(),
                    vec!["get".into()],
                    smoke
                ),
                (
                    "glasscannon.dev".into(),
                    "runnerresults/status".into(),
                    vec!["patch".into()],
                    results
                ),
            ]
        );
    }

    #[test]
    fn role_reads_only_the_config_maps_the_templates_name() {
        let lt = sample(
            "target: http://t/\ntemplates:\n- configMapRef: {name: reqs, key: a}\n- configMapRef: {name: reqs, key: b}\n- configMapRef: {name: auth, key: c}\n- text: \"GET / HTTP/1.1\\r\\n\\r\\n\"\n",
        );
        let rules = role(&lt).unwrap().rules.unwrap();
        let cm = rules
            .iter()
            .find(|r| r.resources.as_deref() == Some(&["configmaps".to_string()]))
            .expect("a configmaps rule");
        assert_eq!(cm.verbs, ["get"]);
        assert_eq!(cm.resource_names.as_deref().unwrap(), ["auth", "reqs"]);
        assert_eq!(cm.api_groups.as_deref().unwrap(), [""]);
    }

    #[test]
    fn binding_ties_the_role_to_the_service_account_in_the_namespace() {
        let b = role_binding(&sample("target: http://t/\n")).unwrap();
        assert_eq!(
            (b.role_ref.kind.as_str(), b.role_ref.name.as_str()),
            ("Role", "smoke-runner")
        );
        let s = &b.subjects.unwrap()[0];
        assert_eq!(
            (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()),
            ("ServiceAccount", "smoke-runner", Some("perf"))
        );
    }

    #[test]
    fn a_loadtest_without_uid_or_namespace_is_an_error_not_a_panic() {
        let mut lt = sample("target: http://t/\n");
        lt.metadata.uid = None;
        assert!(matches!(
            role(&lt),
            Err(Error::MissingField("metadata.uid"))
        ));
        let mut lt = sample("target: http://t/\n");
        lt.metadata.namespace = None;
        assert!(matches!(
            service_account(&lt),
            Err(Error::MissingField("metadata.namespace"))
        ));
    }
}
