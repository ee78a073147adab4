//! The pure Job builder: a LoadTest and the operator's config in, the runners' Indexed Job out.

use std::collections::BTreeMap;

use api::contract::{
    AGENT_COMMAND, ENV_LOADTEST, ENV_METRICS_LISTEN, ENV_NAMESPACE, ENV_NODE, ENV_POD,
    OPERATOR_NAME, RUNNER_NAME,
};
use api::loadtest::{LoadTest, LoadTestSpec, SeccompChoice, SECRET_TEMPLATES_MOUNT, TLS_MOUNT};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    KeyToPath, ObjectFieldSelector, PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec,
    PodTemplateSpec, SeccompProfile, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::config::Config;
use crate::error::Error;

pub use api::contract::LOADTEST_LABEL;
/// The uid runner containers run as (distroless `nonroot`).
pub const RUNNER_UID: i64 = 65532;
/// Name of the runner container.
pub const CONTAINER_NAME: &str = "runner";
/// Named container port of the runners' `/metrics` (a PodMonitor selects it by name).
pub const METRICS_PORT_NAME: &str = "metrics";
/// The port the runners serve `/metrics` on.
pub const METRICS_PORT: i32 = 9464;
/// Volume of the TLS Secret (`spec.tls.secretName`).
const TLS_VOLUME: &str = "tls";
/// Volumes of `secretRef` templates: `tpl-secret-<i>`, one per Secret.
const TEMPLATE_VOLUME: &str = "tpl-secret";

/// The Job's name for a LoadTest: its own name, so `kubectl get job` matches `kubectl get lt`.
pub fn job_name(lt: &LoadTest) -> String {
    job_name_of(&lt.name_any())
}

/// The Job name of the LoadTest named `loadtest`; its pods are `<job>-<index>-<suffix>`.
pub fn job_name_of(loadtest: &str) -> String {
    loadtest.to_string()
}

/// Labels on runner pods and the Job.
pub fn runner_labels(lt: &LoadTest) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), RUNNER_NAME.into()),
        ("app.kubernetes.io/managed-by".into(), OPERATOR_NAME.into()),
        (LOADTEST_LABEL.into(), lt.name_any()),
    ])
}

/// The controller reference to `lt` and its namespace, which every object made for it carries.
pub fn owner_and_namespace(lt: &LoadTest) -> Result<(OwnerReference, String), Error> {
    let owner = lt
        .controller_owner_ref(&())
        .ok_or(Error::MissingField("metadata.uid"))?;
    let namespace = lt
        .namespace()
        .ok_or(Error::MissingField("metadata.namespace"))?;
    Ok((owner, namespace))
}

/// Build the Indexed Job that runs `spec.runners` agents for this LoadTest.
pub fn build_job(lt: &LoadTest, cfg: &Config) -> Result<Job, Error> {
    let (owner, namespace) = owner_and_namespace(lt)?;
    let spec = &lt.spec;
    let runners = i32::try_from(spec.runners).unwrap_or(i32::MAX);
    let labels = runner_labels(lt);
    let mut pod_labels = spec.runner.pod_labels.clone();
    pod_labels.extend(labels.clone());

    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(lt)),
            namespace: Some(namespace),
            labels: Some(labels.clone()),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(runners),
            parallelism: Some(runners),
            // A load test never silently re-runs: one failed pod fails the test.
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: (!spec.runner.pod_annotations.is_empty())
                        .then(|| spec.runner.pod_annotations.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec(lt, cfg, &labels)),
            },
            ..JobSpec::default()
        }),
        status: None,
    })
}

fn pod_spec(lt: &LoadTest, cfg: &Config, labels: &BTreeMap<String, String>) -> PodSpec {
    let spec = &lt.spec;
    let seccomp = spec.seccomp.unwrap_or(cfg.seccomp_default);
    PodSpec {
        restart_policy: Some("Never".into()),
        // Made by the operator for this LoadTest alone (see `rbac.rs`).
        service_account_name: Some(crate::rbac::runner_rbac_name(lt)),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(!spec.privileged),
            run_as_user: Some(RUNNER_UID),
            run_as_group: Some(RUNNER_UID),
            seccomp_profile: Some(seccomp_profile(seccomp, cfg)),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(lt, cfg)],
        volumes: Some(volumes(spec)),
        node_selector: (!spec.runner.node_selector.is_empty())
            .then(|| spec.runner.node_selector.clone()),
        tolerations: (!spec.runner.tolerations.is_empty()).then(|| spec.runner.tolerations.clone()),
        affinity: affinity(lt, labels),
        ..PodSpec::default()
    }
}

/// The pod seccomp profile for a choice.
pub fn seccomp_profile(choice: SeccompChoice, cfg: &Config) -> SeccompProfile {
    match choice {
        SeccompChoice::Localhost => SeccompProfile {
            type_: "Localhost".into(),
            localhost_profile: Some(cfg.seccomp_localhost_profile.clone()),
        },
        SeccompChoice::RuntimeDefault => SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        },
        SeccompChoice::Unconfined => SeccompProfile {
            type_: "Unconfined".into(),
            localhost_profile: None,
        },
    }
}

fn container(lt: &LoadTest, cfg: &Config) -> Container {
    let spec = &lt.spec;
    let field = |path: &str| EnvVarSource {
        field_ref: Some(ObjectFieldSelector {
            field_path: path.into(),
            api_version: None,
        }),
        ..EnvVarSource::default()
    };
    let mut env = vec![
        EnvVar {
            name: ENV_LOADTEST.into(),
            value: Some(lt.name_any()),
            value_from: None,
        },
        EnvVar {
            name: ENV_NAMESPACE.into(),
            value: None,
            value_from: Some(field("metadata.namespace")),
        },
        EnvVar {
            name: ENV_POD.into(),
            value: None,
            value_from: Some(field("metadata.name")),
        },
        EnvVar {
            name: ENV_NODE.into(),
            value: None,
            value_from: Some(field("spec.nodeName")),
        },
        EnvVar {
            name: ENV_METRICS_LISTEN.into(),
            value: Some(format!("0.0.0.0:{METRICS_PORT}")),
            value_from: None,
        },
    ];
    // Our variables come first and user ones may not shadow them.
    env.extend(
        spec.runner
            .env
            .iter()
            .filter(|e| !env.iter().any(|o| o.name == e.name))
            .cloned()
            .collect::<Vec<_>>(),
    );
    Container {
        name: CONTAINER_NAME.into(),
        image: Some(
            spec.runner
                .image
                .clone()
                .unwrap_or_else(|| cfg.runner_image.clone()),
        ),
        image_pull_policy: spec.runner.image_pull_policy.map(|p| p.as_str().into()),
        command: Some(AGENT_COMMAND.iter().map(|&s| s.into()).collect()),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some(METRICS_PORT_NAME.into()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        resources: spec.runner.resources.clone(),
        security_context: Some(container_security(spec.privileged)),
        volume_mounts: Some(volume_mounts(spec)),
        ..Container::default()
    }
}

/// Read-only root filesystem: the agent may still need a scratch /tmp. A TLS
/// Secret and template Secrets are mounted by the kubelet, so the runner's
/// account reads no Secret.
fn volumes(spec: &LoadTestSpec) -> Vec<Volume> {
    let mut v = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }];
    for (i, (secret, keys)) in template_secrets(spec).into_iter().enumerate() {
        v.push(Volume {
            name: format!("{TEMPLATE_VOLUME}-{i}"),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.into()),
                items: Some(
                    keys.into_iter()
                        .map(|k| KeyToPath {
                            key: k.into(),
                            path: k.into(),
                            ..KeyToPath::default()
                        })
                        .collect(),
                ),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    if let Some(name) = tls_secret(spec) {
        v.push(Volume {
            name: TLS_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(name.into()),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        });
    }
    v
}

fn volume_mounts(spec: &LoadTestSpec) -> Vec<VolumeMount> {
    let mut m = vec![VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..VolumeMount::default()
    }];
    for (i, (secret, _)) in template_secrets(spec).into_iter().enumerate() {
        m.push(VolumeMount {
            name: format!("{TEMPLATE_VOLUME}-{i}"),
            mount_path: format!("{SECRET_TEMPLATES_MOUNT}/{secret}"),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    if tls_secret(spec).is_some() {
        m.push(VolumeMount {
            name: TLS_VOLUME.into(),
            mount_path: TLS_MOUNT.into(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    m
}

/// Each Secret named by a `secretRef` template, with the keys used: mounted as
/// `<SECRET_TEMPLATES_MOUNT>/<secret>/<key>`, only those keys.
fn template_secrets(spec: &LoadTestSpec) -> BTreeMap<&str, std::collections::BTreeSet<&str>> {
    let mut out: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
    for r in spec.templates.iter().filter_map(|t| t.secret_ref.as_ref()) {
        out.entry(r.name.as_str())
            .or_default()
            .insert(r.key.as_str());
    }
    out
}

fn tls_secret(spec: &LoadTestSpec) -> Option<&str> {
    spec.tls.as_ref()?.secret_name.as_deref()
}

fn container_security(privileged: bool) -> SecurityContext {
    if privileged {
        // The API server rejects privileged together with allowPrivilegeEscalation: false.
        return SecurityContext {
            privileged: Some(true),
            read_only_root_filesystem: Some(true),
            ..SecurityContext::default()
        };
    }
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(RUNNER_UID),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}

fn affinity(lt: &LoadTest, labels: &BTreeMap<String, String>) -> Option<Affinity> {
    let mut affinity = lt.spec.runner.affinity.clone();
    if lt.spec.runner.spread {
        let term = PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    LOADTEST_LABEL.to_string(),
                    labels[LOADTEST_LABEL].clone(),
                )])),
                match_expressions: None,
            }),
            topology_key: "kubernetes.io/hostname".into(),
            ..PodAffinityTerm::default()
        };
        let a = affinity.get_or_insert_with(Affinity::default);
        let anti = a
            .pod_anti_affinity
            .get_or_insert_with(PodAntiAffinity::default);
        anti.required_during_scheduling_ignored_during_execution
            .get_or_insert_with(Vec::new)
            .push(term);
    }
    affinity
}

#[cfg(test)]
#[path = "job_tests.rs"]
pub(crate) mod tests;
