//! `crdgen`: print the LoadTest CRD as YAML (`crdgen > crds/loadtest.yaml`), or
//! with `runnerresult` the RunnerResult CRD (`crdgen runnerresult > crds/runnerresult.yaml`).

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => print!("{}", operator::crd_yaml()),
        Some("runnerresult") => print!("{}", operator::runner_result_crd_yaml()),
        Some(other) => {
            eprintln!("crdgen: unknown CRD {other:?} (none for LoadTest, or runnerresult)");
            std::process::exit(2);
        }
    }
}
