//! The charts as they are published: `helm package` (what an OCI push uploads), their READMEs
//! generated from the values' comments, and Artifact Hub's annotations in step with the images, the
//! CRD and the API server's validation.

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::Value;
use wiber_e2e::kube::{client, install_crd};
use wiber_e2e::{repo, required_env, unique_name};
use wiber_operator::crd::DEFAULT_IMAGE;

use super::{chart, copy_dir, documents, helm_run, numbers_as_floats, yaml_file};
use crate::KUBE_VERSION;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn scratch(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_name(prefix));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn files_in(package: &Path) -> Vec<String> {
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(package)
        .output()
        .expect("tar");
    assert!(
        out.status.success(),
        "{} is not a gzip tar",
        package.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn both_charts_package_with_readme_schema_and_crd_and_install_from_the_package() {
    let dist = scratch("wiber-charts");
    for name in ["wiber-operator", "wiber"] {
        let out = helm_run(&[
            "package",
            &chart(name),
            "--destination",
            dist.to_str().expect("utf-8 path"),
        ])
        .success("helm package");
        let package = dist.join(format!("{name}-{VERSION}.tgz"));
        assert!(package.exists(), "{out}");
        let files = files_in(&package);
        for file in [
            "Chart.yaml",
            "values.yaml",
            "values.schema.json",
            "README.md",
        ] {
            let path = format!("{name}/{file}");
            assert!(
                files.contains(&path),
                "{name}: the package lacks {file}: {files:?}"
            );
        }
        assert!(
            files.iter().all(|f| !f.ends_with(".gotmpl")),
            "{name}: the README template is packaged"
        );
        let shown = helm_run(&["show", "chart", package.to_str().expect("utf-8 path")])
            .success("helm show chart");
        let meta = &documents(&shown)[0];
        assert_eq!(meta["version"], VERSION, "{name}");
        assert_eq!(meta["name"], name);
    }
    // What users install: the package renders the CRD the operator is built for.
    let package = dist.join(format!("wiber-operator-{VERSION}.tgz"));
    let rendered = helm_run(&[
        "template",
        "ops",
        package.to_str().expect("utf-8 path"),
        "--kube-version",
        KUBE_VERSION,
    ])
    .success("helm template of the package");
    let docs = documents(&rendered);
    let crd = docs
        .iter()
        .find(|d| d["kind"] == "CustomResourceDefinition")
        .expect("the package renders the CRD");
    let generated = &yaml_file(&repo().join("crds/wibercluster.yaml"))[0];
    assert_eq!(
        numbers_as_floats(&crd["spec"]),
        numbers_as_floats(&generated["spec"])
    );
    let _ = std::fs::remove_dir_all(dist);
}

#[test]
fn chart_readmes_are_generated_from_the_values_comments() {
    let copy = scratch("wiber-chart-docs");
    copy_dir(&repo().join("charts"), &copy);
    let out = Command::new(required_env("WIBER_HELM_DOCS_BIN"))
        .arg("--chart-search-root")
        .arg(&copy)
        .args(["--template-files", "README.md.gotmpl"])
        .args(["--sort-values-order", "file", "--log-level", "warning"])
        .output()
        .expect("helm-docs");
    assert!(
        out.status.success(),
        "helm-docs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["wiber-operator", "wiber"] {
        let committed = std::fs::read_to_string(repo().join("charts").join(name).join("README.md"))
            .expect("the committed README");
        let generated = std::fs::read_to_string(copy.join(name).join("README.md"))
            .expect("the generated README");
        assert!(
            committed == generated,
            "charts/{name}/README.md is stale: run `make chart-docs`"
        );
        assert!(
            committed.contains("| Key | Type | Default | Description |"),
            "{name}: no values table"
        );
    }
    let _ = std::fs::remove_dir_all(copy);
}

/// An annotation of a chart's Chart.yaml, itself a YAML list.
fn annotation(chart_name: &str, key: &str) -> Vec<Value> {
    let meta = &yaml_file(&repo().join("charts").join(chart_name).join("Chart.yaml"))[0];
    let text = meta["annotations"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{chart_name} has no {key} annotation"));
    let list = &documents(text)[0];
    list.as_array()
        .unwrap_or_else(|| panic!("{chart_name} {key} is not a list"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artifact_hub_annotations_name_the_images_the_crd_and_an_example_the_server_accepts() {
    let images = |chart_name| -> Vec<String> {
        annotation(chart_name, "artifacthub.io/images")
            .iter()
            .map(|i| i["image"].as_str().expect("image").to_owned())
            .collect()
    };
    assert_eq!(
        images("wiber-operator"),
        [
            format!("{DEFAULT_IMAGE}-operator:{VERSION}"),
            format!("{DEFAULT_IMAGE}:{VERSION}")
        ]
    );
    assert_eq!(images("wiber"), [format!("{DEFAULT_IMAGE}:{VERSION}")]);
    for chart_name in ["wiber-operator", "wiber"] {
        let meta = &yaml_file(&repo().join("charts").join(chart_name).join("Chart.yaml"))[0];
        assert_eq!(meta["annotations"]["artifacthub.io/license"], "Apache-2.0");
    }

    let generated = &yaml_file(&repo().join("crds/wibercluster.yaml"))[0];
    let crds = annotation("wiber-operator", "artifacthub.io/crds");
    assert_eq!(crds.len(), 1);
    assert_eq!(crds[0]["name"], generated["metadata"]["name"]);
    assert_eq!(crds[0]["kind"], generated["spec"]["names"]["kind"]);
    assert_eq!(crds[0]["version"], generated["spec"]["versions"][0]["name"]);

    // The example is a WiberCluster the real API server accepts (a dry run: nothing is created).
    let client = client().await;
    install_crd(&client).await;
    let example = annotation("wiber-operator", "artifacthub.io/crdsExamples").remove(0);
    let object: DynamicObject = serde_json::from_value(example).expect("a WiberCluster");
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(
        "wiber.io",
        "v1alpha1",
        "WiberCluster",
    ));
    let api: Api<DynamicObject> = Api::namespaced_with(client, "default", &resource);
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    api.create(&params, &object)
        .await
        .expect("the API server accepts the Artifact Hub example");
}
