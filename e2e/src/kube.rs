//! Helpers for tests against the local Kubernetes control plane that `make test` starts
//! (`dev/cluster.sh`): the admin client from `KUBECONFIG`, the WiberCluster CRD, server-side apply,
//! a kubeconfig that authenticates as a ServiceAccount, helm run with a deadline, and the operator
//! binary.

use std::fmt::Debug;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config, CustomResourceExt, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use wiber_operator::crd::WiberCluster;

use crate::command::{Output, run};
use crate::process::{Process, binary};
use crate::wait::eventually;
use crate::{assert_reachable, required_env, unique_name};

/// The field manager of everything the tests apply.
pub const MANAGER: &str = "wiber-e2e";
/// How long the control plane, kwok and the operator get to reach a state a test waits for.
pub const WITHIN: Duration = Duration::from_secs(90);
/// Tolerations (JSON, as `helm --set-json` takes them) of kwok's fake nodes, which are tainted so
/// that real workloads never land there by accident. A toleration alone lets a pod land on the real
/// node too, where it would really run: tests pin their pods to kwok with `type: kwok` as well.
pub const KWOK_TOLERATIONS: &str =
    r#"[{"key":"kwok.x-k8s.io/node","operator":"Equal","value":"fake","effect":"NoSchedule"}]"#;

/// A client for the cluster in `KUBECONFIG`, failing at once when the variable is missing or the
/// apiserver does not accept connections.
pub async fn client() -> Client {
    let path = required_env("KUBECONFIG");
    let kubeconfig = Kubeconfig::read_from(&path)
        .unwrap_or_else(|e| panic!("KUBECONFIG: cannot read {path}: {e}"));
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("KUBECONFIG: {path} is not usable: {e}"));
    let url = &config.cluster_url;
    let address = format!(
        "{}:{}",
        url.host().expect("the kubeconfig's server has a host"),
        url.port_u16().unwrap_or(443)
    );
    assert_reachable("The Kubernetes apiserver", "KUBECONFIG", &address);
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    Client::try_from(config).expect("kube client")
}

/// Applies the generated CRD (idempotent) and waits until it is established.
pub async fn install_crd(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = WiberCluster::crd();
    apply(&crds, &crd.name_any(), &crd)
        .await
        .expect("apply CRD");
    wait_established(&crds, &crd.name_any()).await;
}

/// Waits until the CRD `name` is established (its resources can be served).
pub async fn wait_established(crds: &Api<CustomResourceDefinition>, name: &str) {
    eventually("CRD established", WITHIN, || async {
        let crd = crds.get(name).await.ok()?;
        crd.status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
            .then_some(())
    })
    .await;
}

/// A kubeconfig file (in the temp dir) that authenticates as the existing ServiceAccount
/// `account` of `ns` with a one-hour token, against the cluster of `KUBECONFIG`: whatever runs
/// with it has exactly that account's RBAC.
pub async fn service_account_kubeconfig(client: &Client, ns: &str, account: &str) -> PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let token = accounts
        .create_token_request(
            account,
            &PostParams::default(),
            &TokenRequest {
                spec: TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("token for the ServiceAccount {ns}/{account}: {e}"))
        .status
        .expect("a token request's status")
        .token;

    let admin = kube::config::Kubeconfig::read_from(required_env("KUBECONFIG")).unwrap();
    let cluster = admin.clusters[0].cluster.clone().unwrap();
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": {
            "server": cluster.server,
            "certificate-authority": cluster.certificate_authority,
            "certificate-authority-data": cluster.certificate_authority_data,
        }}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "local", "user": account}}],
        "current-context": account,
    });
    let path = std::env::temp_dir().join(format!("{}.kubeconfig", unique_name(account)));
    fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path
}

/// Runs kubectl (`WIBER_KUBECTL_BIN`, else the one on PATH) with the admin `KUBECONFIG`; its
/// stdout, failing the test when it fails.
pub fn kubectl(args: &[&str]) -> String {
    let bin = std::env::var("WIBER_KUBECTL_BIN").unwrap_or_else(|_| "kubectl".to_owned());
    // A cache of its own: kubectl caches API discovery for minutes, and a cache filled before a
    // test's CRD (or its category) existed would hide it.
    let cache = std::env::temp_dir().join(unique_name("wiber-e2e-kubectl"));
    let mut command = Command::new(bin);
    command
        .arg("--kubeconfig")
        .arg(required_env("KUBECONFIG"))
        .arg("--cache-dir")
        .arg(&cache)
        .args(args);
    let what = format!("kubectl {}", args.join(" "));
    let out = run(&what, &mut command, Duration::from_secs(30)).success(&what);
    let _ = fs::remove_dir_all(&cache);
    out
}

/// Runs helm (`WIBER_HELM_BIN`) with `args` and a deadline, with throw-away helm directories;
/// commands that talk to the cluster get `--kubeconfig` from `KUBECONFIG`.
pub fn helm(args: &[&str], within: Duration) -> Output {
    let home = std::env::temp_dir().join(unique_name("wiber-e2e-helm"));
    let mut command = Command::new(required_env("WIBER_HELM_BIN"));
    command
        .args(args)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    if let Ok(kubeconfig) = std::env::var("KUBECONFIG") {
        command.arg("--kubeconfig").arg(kubeconfig);
    }
    let output = run(&format!("helm {}", args.join(" ")), &mut command, within);
    let _ = fs::remove_dir_all(&home);
    output
}

/// Server-side apply of `object` as `name`, by the tests' field manager, taking over any field.
pub async fn apply<K>(
    api: &Api<K>,
    name: &str,
    object: &(impl Serialize + Debug),
) -> kube::Result<K>
where
    K: Clone + DeserializeOwned + Debug,
{
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
}

/// Applies the WiberCluster `name` with `spec`, its pods on kwok's nodes only (never the real
/// node: these tests' Kafka and store addresses are not meant for pods); the API server's answer.
pub async fn apply_wibercluster(
    api: &Api<WiberCluster>,
    name: &str,
    spec: Value,
) -> kube::Result<WiberCluster> {
    let mut spec = spec;
    let tolerations: Value = serde_json::from_str(KWOK_TOLERATIONS).expect("tolerations JSON");
    spec["scheduling"] = json!({ "nodeSelector": {"type": "kwok"}, "tolerations": tolerations });
    let object = json!({
        "apiVersion": "wiber.io/v1alpha1",
        "kind": "WiberCluster",
        "metadata": {"name": name},
        "spec": spec,
    });
    apply(api, name, &object).await
}

/// A fresh namespace `<prefix>-<unique>`.
pub async fn create_namespace(client: &Client, prefix: &str) -> String {
    let name = unique_name(prefix);
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    name
}

/// Deletes the namespace; the namespace controller removes what is left in it.
pub async fn delete_namespace(client: &Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("delete namespace {name}: {e}"));
}

/// A Secret `name` in `ns` shaped as the MongoDB operator writes a connection Secret (key
/// `connectionString.standard`); nothing ever dials the address.
pub async fn create_mongo_secret(client: &Client, ns: &str, name: &str) {
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": {"connectionString.standard": "mongodb://mongo.invalid:27017/"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap_or_else(|e| panic!("secret {ns}/{name}: {e}"));
}

/// A fresh namespace `<prefix>-<unique>` holding the Secret `mongo` a WiberCluster's
/// `mongodb.connectionSecret` names.
pub async fn namespace_with_mongo_secret(client: &Client, prefix: &str) -> String {
    let name = create_namespace(client, prefix).await;
    create_mongo_secret(client, &name, "mongo").await;
    name
}

/// The real operator binary with the admin kubeconfig, leading through a Lease in `ns` and watching
/// only `ns`, so tests running at the same time never touch each other's WiberClusters. Health and
/// metrics on 127.0.0.1:`port`.
pub fn spawn_operator(ns: &str, port: u16) -> Process {
    spawn_operator_as(ns, port, Path::new(&required_env("KUBECONFIG")), "operator")
}

/// The same with another kubeconfig (e.g. a ServiceAccount's token) and pod name, which is also
/// its leader-election identity.
pub fn spawn_operator_as(ns: &str, port: u16, kubeconfig: &Path, pod: &str) -> Process {
    spawn_operator_watching(ns, &[ns], port, kubeconfig, pod)
}

/// An operator whose Lease is in `ns` and which reconciles the WiberClusters of `watched`.
pub fn spawn_operator_watching(
    ns: &str,
    watched: &[&str],
    port: u16,
    kubeconfig: &Path,
    pod: &str,
) -> Process {
    let env: Vec<(String, String)> = [
        ("KUBECONFIG", kubeconfig.display().to_string()),
        ("OPERATOR_HOST", "127.0.0.1".into()),
        ("OPERATOR_PORT", port.to_string()),
        ("POD_NAMESPACE", ns.into()),
        ("POD_NAME", pod.into()),
        ("WATCH_NAMESPACE", watched.join(",")),
        ("LEASE_DURATION_SECONDS", "5".into()),
        ("RUST_LOG", "info,kube=warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Process::spawn(binary("wiber-operator"), &[], &env, pod)
}
