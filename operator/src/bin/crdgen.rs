//! Prints the WiberCluster CRD as YAML (`crds/wibercluster.yaml` is this output), or with
//! `--reference` the book's WiberCluster reference page (`docs/reference/wibercluster.md`).

fn main() {
    match std::env::args().nth(1).as_deref() {
        None => print!("{}", wiber_operator::crd::crd_yaml()),
        Some("--reference") => print!("{}", wiber_operator::crd::reference_markdown()),
        Some(other) => {
            eprintln!("crdgen: unknown argument {other}; usage: crdgen [--reference]");
            std::process::exit(2);
        }
    }
}
