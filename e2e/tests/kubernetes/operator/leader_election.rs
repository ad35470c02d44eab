//! Two operators under exactly `operator/rbac.yaml`: one leads through the Lease, the standby
//! takes over when the leader dies, and a missing Secret is a condition, not a crash.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams};
use kube::{Client, ResourceExt};
use serde::Deserialize;
use serde_json::{Value, json};
use wiber_e2e::kafka::create_topic;
use wiber_e2e::kube::{
    WITHIN, apply, apply_wibercluster, client, create_mongo_secret, delete_namespace, install_crd,
    namespace_with_mongo_secret, service_account_kubeconfig, spawn_operator_as,
};
use wiber_e2e::metrics;
use wiber_e2e::process::{Process, free_port};
use wiber_e2e::wait::eventually;
use wiber_e2e::{kafka_bootstrap, repo, unique_name};
use wiber_operator::crd::WiberCluster;

/// The API of an RBAC kind: Roles and RoleBindings in `ns`, the cluster-wide kinds everywhere.
fn rbac_api(client: &Client, ns: &str, kind: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("rbac.authorization.k8s.io", "v1", kind);
    let resource = ApiResource::from_gvk(&gvk);
    if kind.starts_with("Cluster") {
        Api::all_with(client.clone(), &resource)
    } else {
        Api::namespaced_with(client.clone(), ns, &resource)
    }
}

/// The ClusterRole of rbac.yaml under a name of the test's own: `wiber-operator` is the operator
/// chart's, which the real node's tests install with Helm (it refuses an object it did not make).
fn cluster_role(ns: &str) -> String {
    format!("wiber-operator-{ns}")
}

/// Applies operator/rbac.yaml and binds it to a new ServiceAccount in `ns`; returns a kubeconfig
/// file that authenticates as that ServiceAccount, so the operator runs with exactly that RBAC.
async fn least_privilege_kubeconfig(client: &Client, ns: &str) -> std::path::PathBuf {
    let rbac = std::fs::read_to_string(repo().join("operator/rbac.yaml")).unwrap();
    for document in yaml_serde::Deserializer::from_str(&rbac) {
        let mut value = Value::deserialize(document).expect("rbac.yaml parses");
        let kind = value["kind"].as_str().unwrap().to_owned();
        if kind == "ClusterRole" {
            value["metadata"]["name"] = json!(cluster_role(ns));
        }
        let object: DynamicObject = serde_json::from_value(value.clone()).unwrap();
        apply(&rbac_api(client, ns, &kind), &object.name_any(), &value)
            .await
            .unwrap_or_else(|e| panic!("applying {kind} from rbac.yaml: {e}"));
    }
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "wiber-operator"}})).unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    accounts.create(&PostParams::default(), &sa).await.unwrap();
    let subject = json!([{"kind": "ServiceAccount", "name": "wiber-operator", "namespace": ns}]);
    let bindings = [
        (
            "ClusterRoleBinding",
            cluster_role(ns),
            "ClusterRole",
            cluster_role(ns),
        ),
        (
            "RoleBinding",
            "wiber-operator-leader-election".to_owned(),
            "Role",
            "wiber-operator-leader-election".to_owned(),
        ),
    ];
    for (kind, name, role_kind, role) in bindings {
        let binding = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": subject,
        });
        apply(&rbac_api(client, ns, kind), &name, &binding)
            .await
            .unwrap();
    }
    service_account_kubeconfig(client, ns, "wiber-operator").await
}

/// A metric of the operator serving on `port`, summed over its series; `None` when it has none or
/// does not answer.
async fn metric(port: u16, name: &str) -> Option<f64> {
    let url = format!("http://127.0.0.1:{port}");
    metrics::metric(&reqwest::Client::new(), &url, name, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_least_privilege_operators_share_one_lease_and_a_missing_secret_is_a_condition() {
    let client = client().await;
    install_crd(&client).await;
    let ns = namespace_with_mongo_secret(&client, "wiber-op").await;
    let kubeconfig = least_privilege_kubeconfig(&client, &ns).await;
    let bootstrap = kafka_bootstrap();
    let topic = unique_name("wiber-op-lease");
    create_topic(&bootstrap, &topic, 3).await;

    let ports = [free_port(), free_port()];
    let mut operators = [
        spawn_operator_as(&ns, ports[0], &kubeconfig, "operator-a"),
        spawn_operator_as(&ns, ports[1], &kubeconfig, "operator-b"),
    ];
    let leases: Api<Lease> = Api::namespaced(client.clone(), &ns);
    let holder = eventually("a leader", WITHIN, || async {
        leases
            .get_opt("wiber-operator")
            .await
            .ok()??
            .spec?
            .holder_identity
    })
    .await;
    let leader = usize::from(!holder.starts_with("operator-a"));
    eventually("leader metric on the leader only", WITHIN, || async {
        let lead = metric(ports[leader], "wiber_operator_leader").await? == 1.0;
        let standby = metric(ports[1 - leader], "wiber_operator_leader").await? == 0.0;
        (lead && standby).then_some(())
    })
    .await;

    // A Secret that does not exist is reported, not fatal.
    let clusters: Api<WiberCluster> = Api::namespaced(client.clone(), &ns);
    apply_wibercluster(
        &clusters,
        "chat",
        json!({
            "kafka": {"bootstrapServers": bootstrap, "topic": {"name": topic}},
            "mongodb": {"connectionSecret": {"name": "not-there"}},
            "api": {"auth": {"mode": "None"}},
            "consumers": {"lagPollSeconds": 1},
        }),
    )
    .await
    .unwrap();
    let mongo_condition = |wc: &WiberCluster| {
        wc.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == "MongoReady")
            .map(|c| (c.status.clone(), c.reason.clone()))
    };
    eventually("MongoReady False: SecretMissing", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (mongo_condition(&wc)? == ("False".to_owned(), "SecretMissing".to_owned())).then_some(())
    })
    .await;
    assert!(
        operators.iter_mut().all(Process::is_running),
        "an operator crashed"
    );
    eventually("the leader to count its reconciles", WITHIN, || async {
        (metric(ports[leader], "wiber_operator_reconciles_total").await? >= 1.0).then_some(())
    })
    .await;
    // Both result series exist at 0 from the start (for dashboards and alerts): the standby's stay 0.
    assert_eq!(
        metric(ports[1 - leader], "wiber_operator_reconciles_total").await,
        Some(0.0),
        "the standby reconciled"
    );

    // The leader dies without releasing the lease: the standby takes over after it expires and
    // sees the Secret once it exists.
    operators[leader].kill();
    create_mongo_secret(&client, &ns, "not-there").await;
    eventually("the standby to take the lease", WITHIN, || async {
        let holder = leases
            .get_opt("wiber-operator")
            .await
            .ok()??
            .spec?
            .holder_identity?;
        (!holder.starts_with(if leader == 0 {
            "operator-a"
        } else {
            "operator-b"
        }))
        .then_some(())
    })
    .await;
    eventually("MongoReady True after takeover", WITHIN, || async {
        let wc = clusters.get("chat").await.ok()?;
        (mongo_condition(&wc)?.0 == "True").then_some(())
    })
    .await;
    let _ = std::fs::remove_file(&kubeconfig);
    for kind in ["ClusterRoleBinding", "ClusterRole"] {
        let _ = rbac_api(&client, &ns, kind)
            .delete(&cluster_role(&ns), &DeleteParams::default())
            .await;
    }
    delete_namespace(&client, &ns).await;
}
