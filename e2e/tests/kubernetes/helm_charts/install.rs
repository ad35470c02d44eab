//! A real `helm install` of both charts into the local kube-apiserver (kwok runs the Pods), with the
//! real operator binary authenticated as the operator chart's ServiceAccount, and `helm uninstall`.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;
use wiber_e2e::kube::{
    KWOK_TOLERATIONS, client, create_mongo_secret, create_namespace, delete_namespace, install_crd,
    service_account_kubeconfig,
};
use wiber_e2e::process::{Process, binary, free_port};
use wiber_e2e::wait::eventually;
use wiber_e2e::{required_env, unique_name};
use wiber_operator::crd::DEFAULT_IMAGE;

use super::{chart, helm_run, wiberclusters};

/// How long the installed charts, kwok and the operator get to reach a state the test waits for.
const INSTALLED_WITHIN: Duration = Duration::from_secs(120);

/// The Ready condition of a Pod.
fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_chart_installs_and_its_rbac_runs_the_operator() {
    let client = client().await;
    required_env("WIBER_HELM_BIN");
    let ns = create_namespace(&client, "wiber-helm").await;
    // Release names are unique, so the cluster-scoped RBAC of parallel runs never collides.
    let release = format!("op-{}", &unique_name("x")[2..14]);
    let full = format!("{release}-wiber-operator");
    let operator_chart = chart("wiber-operator");
    let toleration = format!("tolerations={KWOK_TOLERATIONS}");

    // The CRD is cluster-wide and shared by the tests running beside this one, so it comes from
    // install_crd, not from a release of its own; crds.rs tests the chart's CRD on a group of its own.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    install_crd(&client).await;
    // --wait: helm waits for the Deployment's two Pods to be Ready, which kwok makes happen.
    helm_run(&[
        "install",
        &release,
        &operator_chart,
        "--namespace",
        &ns,
        "--set",
        "crds.enabled=false",
        "--set",
        &format!("watchNamespace={ns}"),
        "--set",
        "nodeSelector.type=kwok",
        "--set-json",
        &toleration,
        "--wait",
        "--timeout",
        "120s",
    ])
    .success("helm install of the operator chart");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let operator = deployments
        .get(&full)
        .await
        .expect("the operator Deployment");
    assert_eq!(
        operator.status.as_ref().and_then(|s| s.ready_replicas),
        Some(2)
    );
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let selector =
        format!("app.kubernetes.io/instance={release},app.kubernetes.io/name=wiber-operator");
    let operator_pods = pods
        .list(&kube::api::ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items;
    assert_eq!(operator_pods.len(), 2);
    for pod in &operator_pods {
        assert_eq!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Running")
        );
        assert!(pod_ready(pod), "operator pod not Ready: {:?}", pod.status);
    }

    // kwok never runs the image: run the real binary here, with the environment the chart gives
    // its container (the downward API filled in as for the first Pod) and the chart's
    // ServiceAccount's token, so the chart's RBAC is what it runs with.
    let kubeconfig = service_account_kubeconfig(&client, &ns, &full).await;
    let pod_name = operator_pods[0].metadata.name.clone().unwrap();
    let port = free_port();
    let container = &operator
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0];
    let mut env: Vec<(String, String)> = Vec::new();
    for var in container.env.as_ref().unwrap() {
        let value = match (&var.value, &var.value_from) {
            (Some(v), _) => v.clone(),
            (None, Some(from)) => match from.field_ref.as_ref().unwrap().field_path.as_str() {
                "metadata.namespace" => ns.clone(),
                "metadata.name" => pod_name.clone(),
                other => panic!("unexpected downward API field {other}"),
            },
            (None, None) => String::new(),
        };
        env.push((var.name.clone(), value));
    }
    for (name, value) in [
        ("OPERATOR_HOST", "127.0.0.1".to_owned()),
        ("OPERATOR_PORT", port.to_string()),
        ("KUBECONFIG", kubeconfig.display().to_string()),
    ] {
        env.retain(|(n, _)| n != name);
        env.push((name.to_owned(), value));
    }
    let mut process = Process::spawn(binary("wiber-operator"), &[], &env, "helm-operator");

    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    eventually(
        "the operator to take the chart's Lease",
        INSTALLED_WITHIN,
        || async {
            let holder = leases.get_opt(&full).await.ok()??.spec?.holder_identity?;
            holder.starts_with(&pod_name).then_some(())
        },
    )
    .await;

    // A Wiber instance from the wiber chart: plain bootstrap servers (the operator applies the
    // Deployments whether or not Kafka answers) and a connection Secret.
    create_mongo_secret(&client, &ns, "mongo").await;
    let wiber_chart = chart("wiber");
    let wiber_toleration = format!("cluster.scheduling.tolerations={KWOK_TOLERATIONS}");
    helm_run(&[
        "install",
        "chat",
        &wiber_chart,
        "--namespace",
        &ns,
        "--set",
        "cluster.kafka.bootstrapServers=kafka.invalid:9092",
        "--set",
        "cluster.mongodb.connectionSecret.name=mongo",
        "--set",
        "cluster.api.replicas=1",
        "--set",
        "cluster.api.auth.issuer=https://idp.example",
        "--set",
        "cluster.api.auth.jwksUrl=https://idp.example/.well-known/jwks.json",
        "--set-json",
        &wiber_toleration,
        "--set",
        "cluster.scheduling.nodeSelector.type=kwok",
    ])
    .success("helm install of the wiber chart");
    eventually(
        "the operator to create ready api and consumer Deployments",
        INSTALLED_WITHIN,
        || async {
            let api = deployments.get_opt("chat-api").await.ok()??;
            let consumer = deployments.get_opt("chat-consumer").await.ok()??;
            let image = api.spec.as_ref()?.template.spec.as_ref()?.containers[0]
                .image
                .clone()?;
            assert_eq!(
                image,
                format!("{DEFAULT_IMAGE}:{}", env!("CARGO_PKG_VERSION"))
            );
            let ready = |d: &Deployment| d.status.as_ref()?.ready_replicas;
            (ready(&api)? >= 1 && ready(&consumer)? >= 1).then_some(())
        },
    )
    .await;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services.get("chat-api").await.expect("the API Service");
    // Reading the Secret and writing the status are allowed too.
    eventually(
        "MongoReady True in the WiberCluster's status",
        INSTALLED_WITHIN,
        || async {
            let wc = wiberclusters(&client, &ns).get("chat").await.ok()?;
            let conditions = wc.data["status"]["conditions"].as_array()?.clone();
            conditions
                .iter()
                .any(|c| c["type"] == "MongoReady" && c["status"] == "True")
                .then_some(())
        },
    )
    .await;
    assert!(
        process.is_running(),
        "the operator exited: {}",
        process.log_text()
    );
    assert!(
        !process.log_text().contains("forbidden"),
        "the chart's RBAC denied the operator something: {}",
        process.log.display()
    );

    // Uninstalling the wiber chart deletes the WiberCluster, and with it everything the operator made.
    helm_run(&[
        "uninstall",
        "chat",
        "--namespace",
        &ns,
        "--wait",
        "--timeout",
        "120s",
    ])
    .success("helm uninstall of the wiber chart");
    eventually(
        "the WiberCluster's objects to be gone",
        INSTALLED_WITHIN,
        || async {
            let gone = wiberclusters(&client, &ns)
                .get_opt("chat")
                .await
                .ok()?
                .is_none()
                && deployments.get_opt("chat-api").await.ok()?.is_none()
                && deployments.get_opt("chat-consumer").await.ok()?.is_none()
                && services.get_opt("chat-api").await.ok()?.is_none();
            gone.then_some(())
        },
    )
    .await;
    process.terminate(Duration::from_secs(30));
    let _ = std::fs::remove_file(&kubeconfig);

    helm_run(&[
        "uninstall",
        &release,
        "--namespace",
        &ns,
        "--wait",
        "--timeout",
        "120s",
    ])
    .success("helm uninstall of the operator chart");
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let roles: Api<Role> = Api::namespaced(client.clone(), &ns);
    let role_bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    let cluster_role_bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let election = format!("{full}-leader-election");
    eventually(
        "the operator chart's objects to be gone",
        INSTALLED_WITHIN,
        || async {
            let gone = deployments.get_opt(&full).await.ok()?.is_none()
                && accounts.get_opt(&full).await.ok()?.is_none()
                && services
                    .get_opt(&format!("{full}-metrics"))
                    .await
                    .ok()?
                    .is_none()
                && roles.get_opt(&election).await.ok()?.is_none()
                && role_bindings.get_opt(&election).await.ok()?.is_none()
                && cluster_roles.get_opt(&full).await.ok()?.is_none()
                && cluster_roles
                    .get_opt(&format!("{full}-view"))
                    .await
                    .ok()?
                    .is_none()
                && cluster_role_bindings.get_opt(&full).await.ok()?.is_none()
                && pods
                    .list(&kube::api::ListParams::default().labels(&selector))
                    .await
                    .ok()?
                    .items
                    .is_empty();
            gone.then_some(())
        },
    )
    .await;
    // The release did not own the CRD: other WiberClusters keep it.
    crds.get("wiberclusters.wiber.io")
        .await
        .expect("the CRD stays after uninstall");
    delete_namespace(&client, &ns).await;
}
