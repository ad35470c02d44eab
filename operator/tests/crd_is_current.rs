//! `crds/` holds generated YAML; this fails when the Rust types changed without regenerating it.

/// Fails, saying how to regenerate it, when the file at `path` (from the repository's root) is not
/// `generated`.
fn assert_checked_in(path: &str, generated: String, regenerate: &str) {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    let checked_in = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(
        checked_in == generated,
        "{path} is out of date: run `{regenerate}`"
    );
}

#[test]
fn checked_in_crd_matches_the_rust_types() {
    assert_checked_in(
        "crds/wibercluster.yaml",
        wiber_operator::crd::crd_yaml(),
        "cargo run -p wiber-operator --bin crdgen > crds/wibercluster.yaml",
    );
}

#[test]
fn checked_in_reference_page_matches_the_crd() {
    assert_checked_in(
        "docs/reference/wibercluster.md",
        wiber_operator::crd::reference_markdown(),
        "make crds",
    );
}

#[test]
fn reference_page_names_every_spec_field_and_rule() {
    let page = wiber_operator::crd::reference_markdown();
    for needle in [
        "## `spec.kafka.topic`",
        "| `bootstrapServers` | string |",
        "`self.minReplicas <= self.maxReplicas` (consumers.minReplicas must not exceed consumers.maxReplicas)",
        "| `resources` | Kubernetes `ResourceRequirements` |",
        "## `status.consumers`",
    ] {
        assert!(page.contains(needle), "missing {needle:?}");
    }
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

/// The conventions platform engineers' tools rely on, read from the generated CRD itself.
#[test]
fn crd_follows_the_kubernetes_api_conventions() {
    use kube::CustomResourceExt;
    let crd = serde_json::to_value(wiber_operator::crd::WiberCluster::crd()).unwrap();
    assert_eq!(
        crd["spec"]["names"]["categories"],
        serde_json::json!(["wiber"])
    );
    let version = &crd["spec"]["versions"][0];
    let wide: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["priority"] == 1)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(wide, ["URL", "DeadLetters", "Reason", "Message"]);
    let schema = &version["schema"]["openAPIV3Schema"]["properties"];
    let conditions = &schema["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(
        conditions["x-kubernetes-list-map-keys"],
        serde_json::json!(["type"])
    );
    let topic = &schema["spec"]["properties"]["kafka"]["properties"]["topic"]["properties"];
    assert_eq!(
        topic["partitions"]["x-kubernetes-validations"][0]["rule"],
        "self >= oldSelf"
    );
    assert_eq!(topic["deletionPolicy"]["default"], "Retain");
    assert_eq!(
        topic["deletionPolicy"]["enum"],
        serde_json::json!(["Retain", "Delete"])
    );
}
