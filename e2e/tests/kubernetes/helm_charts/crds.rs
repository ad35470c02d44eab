//! The operator chart's CRD as a template (`crds.enabled`, `crds.keep`): it renders the generated
//! CRD unchanged, and a real `helm upgrade` on the local control plane updates a CRD that gained a
//! field, which `helm uninstall` then keeps. The release under test owns a copy of the CRD in a
//! group of its own, so the WiberClusters of the tests running beside it never see a changed schema.

use std::path::{Path, PathBuf};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};
use wiber_e2e::kube::{WITHIN, client, create_namespace, delete_namespace, wait_established};
use wiber_e2e::wait::eventually;
use wiber_e2e::{repo, unique_name};

use super::{chart, copy_dir, find, helm_run, numbers_as_floats, template, yaml_file};

const CRD_FILE: &str = "files/crds/wibercluster.yaml";

#[test]
fn the_crd_renders_unchanged_with_the_release_labels_and_is_kept_on_uninstall_by_default() {
    let docs = template("wiber-operator", "ops", "wiber-system", &[]);
    let crd = find(&docs, "CustomResourceDefinition");
    let generated = &yaml_file(&repo().join("crds/wibercluster.yaml"))[0];
    assert_eq!(
        numbers_as_floats(&crd["spec"]),
        numbers_as_floats(&generated["spec"]),
        "the template changes the CRD"
    );
    assert_eq!(crd["metadata"]["name"], "wiberclusters.wiber.io");
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(
        crd["metadata"]["labels"]["app.kubernetes.io/instance"],
        "ops"
    );

    let docs = template("wiber-operator", "ops", "x", &["--set", "crds.keep=false"]);
    let crd = find(&docs, "CustomResourceDefinition");
    assert!(
        crd["metadata"]["annotations"]
            .get("helm.sh/resource-policy")
            .is_none(),
        "{crd}"
    );
    let docs = template(
        "wiber-operator",
        "ops",
        "x",
        &["--set", "crds.enabled=false"],
    );
    assert!(docs.iter().all(|d| d["kind"] != "CustomResourceDefinition"));
}

/// The operator chart with its CRD moved to `group`, without the `spec.<dropped>` field when given.
fn chart_in_group(group: &str, dropped: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name("wiber-operator-chart"));
    copy_dir(Path::new(&chart("wiber-operator")), &dir);
    let mut crd = yaml_file(&dir.join(CRD_FILE)).remove(0);
    crd["metadata"]["name"] = json!(format!("wiberclusters.{group}"));
    crd["spec"]["group"] = json!(group);
    if let Some(field) = dropped {
        let spec =
            &mut crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let removed = spec["properties"]
            .as_object_mut()
            .expect("spec properties")
            .remove(field);
        assert!(removed.is_some(), "the CRD has no spec.{field}");
    }
    std::fs::write(
        dir.join(CRD_FILE),
        yaml_serde::to_string(&crd).expect("CRD as YAML"),
    )
    .expect("write the CRD");
    dir
}

fn spec_fields(crd: &CustomResourceDefinition) -> Vec<String> {
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .expect("served schema");
    let spec = &schema.properties.as_ref().expect("properties")["spec"];
    spec.properties
        .as_ref()
        .expect("spec properties")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_upgrade_updates_a_crd_that_gained_a_field_and_uninstall_keeps_it() {
    let client = client().await;
    let ns = create_namespace(&client, "wiber-crd").await;
    let group = format!("{}.wiber.io", unique_name("upgrade"));
    let name = format!("wiberclusters.{group}");
    let release = format!("crd-{}", &unique_name("x")[2..14]);
    let (old, new) = (
        chart_in_group(&group, Some("telemetry")),
        chart_in_group(&group, None),
    );
    let install = |verb: &str, chart: &Path| {
        helm_run(&[
            verb,
            &release,
            chart.to_str().expect("utf-8 path"),
            "--namespace",
            &ns,
            "--set",
            "rbac.create=false",
            "--set",
            &format!("watchNamespace={ns}"),
            // Pending, as on a cluster of kwok nodes only: never running on the real node.
            "--set",
            "nodeSelector.type=kwok",
        ])
        .success(&format!("helm {verb} of the operator chart"));
    };

    install("install", &old);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_established(&crds, &name).await;
    let before = crds.get(&name).await.expect("the release's CRD");
    assert!(!spec_fields(&before).contains(&"telemetry".to_owned()));
    assert_eq!(
        before.metadata.annotations.as_ref().unwrap()["meta.helm.sh/release-name"],
        release,
        "the release owns its CRD"
    );

    install("upgrade", &new);
    eventually(
        "the upgraded CRD to serve spec.telemetry",
        WITHIN,
        || async {
            let crd = crds.get(&name).await.ok()?;
            spec_fields(&crd)
                .contains(&"telemetry".to_owned())
                .then_some(())
        },
    )
    .await;
    // The new field is accepted and kept, not pruned as an unknown one.
    let resource =
        ApiResource::from_gvk(&GroupVersionKind::gvk(&group, "v1alpha1", "WiberCluster"));
    let clusters: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{group}/v1alpha1"),
        "kind": "WiberCluster",
        "metadata": {"name": "chat"},
        "spec": {
            "kafka": {"bootstrapServers": "kafka:9092"},
            "mongodb": {"connectionSecret": {"name": "mongo"}},
            "api": {"auth": {"mode": "None"}},
            "telemetry": {"otlpEndpoint": "http://collector:4318"},
        },
    }))
    .expect("a WiberCluster");
    let created = clusters
        .create(&PostParams::default(), &object)
        .await
        .expect("a WiberCluster with spec.telemetry");
    assert_eq!(
        created.data["spec"]["telemetry"]["otlpEndpoint"],
        Value::from("http://collector:4318")
    );

    helm_run(&["uninstall", &release, "--namespace", &ns, "--wait"])
        .success("helm uninstall of the operator chart");
    let kept = crds
        .get(&name)
        .await
        .expect("the CRD stays after uninstall");
    assert!(kept.metadata.deletion_timestamp.is_none());
    clusters
        .get("chat")
        .await
        .expect("its WiberClusters stay with it");

    crds.delete(&name, &DeleteParams::default())
        .await
        .expect("delete the test's CRD");
    delete_namespace(&client, &ns).await;
    let _ = std::fs::remove_dir_all(old);
    let _ = std::fs::remove_dir_all(new);
}
