//! `crds/` holds generated YAML; this fails when the Rust types changed without regenerating it.

#[test]
fn checked_in_crd_matches_the_rust_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/wibercluster.yaml");
    let checked_in = std::fs::read_to_string(path).expect("crds/wibercluster.yaml exists");
    assert!(
        checked_in == wiber_operator::crd::crd_yaml(),
        "crds/wibercluster.yaml is out of date: run `cargo run -p wiber-operator --bin crdgen > crds/wibercluster.yaml`"
    );
}

#[test]
fn crd_carries_the_cel_rules_and_printer_columns() {
    let yaml = wiber_operator::crd::crd_yaml();
    for needle in [
        "self.minReplicas <= self.maxReplicas",
        "has(self.strimziCluster) != has(self.bootstrapServers)",
        "self.metadata.name.size() <= 40",
        "shortNames:\n    - wc",
        "name: Lag",
        "subresources:\n      status: {}",
    ] {
        assert!(yaml.contains(needle), "missing {needle:?}");
    }
}
