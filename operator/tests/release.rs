//! One version everywhere: the crate, the chart's appVersion, the image the chart
//! and the operator default to, the quick start's target, the Dockerfile and the
//! release workflow that publishes that image.

use operator::config::DEFAULT_RUNNER_IMAGE;
use serde_yaml::Value;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml::from_str(&repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn yaml_docs(path: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(&repo_file(path))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(v, |v, k| &v[*k])
        .as_str()
        .unwrap_or_else(|| panic!("{path:?} is not a string"))
}

/// `repository:tag` the chart installs by default.
fn chart_image() -> String {
    let chart = yaml("charts/glass-cannon/Chart.yaml");
    let values = yaml("charts/glass-cannon/values.yaml");
    assert_eq!(
        str_at(&values, &["image", "tag"]),
        "",
        "values.yaml image.tag must stay empty so the tag follows appVersion"
    );
    format!(
        "{}:{}",
        str_at(&values, &["image", "repository"]),
        str_at(&chart, &["appVersion"])
    )
}

#[test]
fn chart_app_version_is_the_crate_version() {
    let chart = yaml("charts/glass-cannon/Chart.yaml");
    assert_eq!(str_at(&chart, &["appVersion"]), VERSION);
    assert_eq!(chart_image(), DEFAULT_RUNNER_IMAGE);
    assert_eq!(
        DEFAULT_RUNNER_IMAGE,
        format!("ghcr.io/glass-cannon/glass-cannon:{VERSION}")
    );
}

#[test]
fn quickstart_target_runs_the_chart_image() {
    let docs = yaml_docs("examples/quickstart/target.yaml");
    let deploy = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("target.yaml has a Deployment");
    let image = str_at(
        &deploy["spec"]["template"]["spec"]["containers"][0],
        &["image"],
    );
    assert_eq!(image, chart_image());
}

#[test]
fn dockerfile_labels_default_to_the_crate_version() {
    let dockerfile = repo_file("Dockerfile");
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == format!("ARG VERSION={VERSION}")),
        "Dockerfile must default ARG VERSION to {VERSION}"
    );
}

#[test]
fn release_workflow_pushes_the_chart_image_on_version_tags() {
    let wf = yaml(".github/workflows/release.yml");
    let (repository, _) = DEFAULT_RUNNER_IMAGE.rsplit_once(':').unwrap();
    assert_eq!(str_at(&wf, &["env", "IMAGE"]), repository);
    // `on` is YAML 1.1's `true` for some parsers; serde_yaml keeps it a string key.
    let tags = &wf["on"]["push"]["tags"];
    assert_eq!(tags[0], "v*.*.*", "{tags:?}");
    let jobs = wf["jobs"].as_mapping().expect("jobs");
    let platforms: Vec<&str> = wf["jobs"]["build"]["strategy"]["matrix"]["include"]
        .as_sequence()
        .expect("build matrix")
        .iter()
        .map(|e| str_at(e, &["platform"]))
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    for (name, job) in jobs {
        let needs = match &job["needs"] {
            Value::Null => vec![],
            Value::String(s) => vec![s.as_str()],
            v => v
                .as_sequence()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect(),
        };
        for n in needs {
            assert!(jobs.contains_key(n), "job {name:?} needs unknown job {n}");
        }
    }
    // The pushed tag is the git tag without its `v`, checked against Cargo.toml and
    // Chart.yaml before anything is built.
    let check = str_at(&wf["jobs"]["version"]["steps"][1], &["run"]);
    assert!(check.contains("Cargo.toml") && check.contains("Chart.yaml"));
    let push = str_at(&wf["jobs"]["manifest"]["steps"][3], &["run"]);
    assert!(push.contains(r#"-t "$IMAGE:$VERSION""#), "{push}");
}

#[test]
fn release_signs_the_pushed_digest_keylessly_and_attaches_an_sbom() {
    let wf = yaml(".github/workflows/release.yml");
    let job = &wf["jobs"]["manifest"];
    assert_eq!(
        str_at(job, &["permissions", "id-token"]),
        "write",
        "keyless signing needs the job's OIDC token"
    );
    let steps = job["steps"].as_sequence().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    let position = |needle: &str| {
        runs.iter()
            .position(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no step runs {needle:?}"))
    };
    // Signed and attested by digest (a tag could move between push and sign), after the push.
    assert!(position("imagetools create") < position("cosign sign --yes \"$IMAGE@$DIGEST\""));
    assert!(
        position(
            "cosign attest --yes --type spdxjson --predicate sbom.spdx.json \"$IMAGE@$DIGEST\""
        ) > position("cosign sign")
    );
    assert!(uses
        .iter()
        .any(|u| u.starts_with("sigstore/cosign-installer@")));
    assert!(uses.iter().any(|u| u.starts_with("anchore/sbom-action@")));
    assert!(
        !runs.iter().any(|r| r.contains("--key")),
        "keyless: no key material"
    );
}
