//! Prints the WiberCluster CRD as YAML; `crds/wibercluster.yaml` is this output.

fn main() {
    print!("{}", wiber_operator::crd::crd_yaml());
}
