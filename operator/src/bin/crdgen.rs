//! `crdgen`: print the LoadTest CRD as YAML (`crdgen > crds/loadtest.yaml`).

fn main() {
    print!("{}", operator::crd_yaml());
}
