//! The API pods' authentication and TLS settings, and the API's Ingress and URL, checked without
//! a cluster.

use super::tests::{cluster, hash, inputs, plain, pod, secret_volume};
use super::*;
use crate::api_access::{JWKS_DIR, TLS_DIR};

fn with_api(api: serde_json::Value) -> WiberCluster {
    cluster(json!({
        "kafka": { "bootstrapServers": "kafka:9092" },
        "mongodb": { "connectionSecret": { "name": "mongo" } },
        "api": api,
    }))
}

fn config(wc: &WiberCluster) -> BTreeMap<String, String> {
    desired(wc, &inputs(1)).config.data.unwrap()
}

fn mount_dirs(d: &Deployment) -> Vec<String> {
    pod(d).containers[0]
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            assert_eq!(
                m.sub_path, None,
                "a subPath mount never sees a Secret's update"
            );
            m.mount_path.clone()
        })
        .collect()
}

#[test]
fn jwt_with_a_jwks_secret_reaches_the_api_pods_only() {
    let wc = with_api(json!({"auth": {
        "issuer": "https://idp.example", "audience": "wiber",
        "jwksSecret": {"name": "idp-jwks"}, "adminScope": "chat:admin",
    }}));
    let c = config(&wc);
    for (var, value) in [
        ("AUTH_MODE", "jwt"),
        ("AUTH_ISSUER", "https://idp.example"),
        ("AUTH_AUDIENCE", "wiber"),
        ("AUTH_JWKS_FILE", "/etc/wiber/auth/jwks.json"),
        ("AUTH_USER_CLAIM", "sub"),
        ("AUTH_ADMIN_SCOPE", "chat:admin"),
        ("AUTH_LEEWAY_SECONDS", "30"),
    ] {
        assert_eq!(c.get(var).map(String::as_str), Some(value), "{var}");
    }
    assert!(!c.contains_key("AUTH_JWKS_URL"));
    let d = desired(&wc, &inputs(1));
    let jwks = secret_volume(pod(&d.api), "auth-jwks");
    assert_eq!(jwks.secret_name.as_deref(), Some("idp-jwks"));
    let items = jwks.items.as_ref().unwrap();
    assert_eq!(
        (items[0].key.as_str(), items[0].path.as_str()),
        ("jwks.json", "jwks.json")
    );
    assert!(mount_dirs(&d.api).contains(&JWKS_DIR.to_owned()));
    assert!(!mount_dirs(&d.consumer).contains(&JWKS_DIR.to_owned()));
}

#[test]
fn a_jwks_url_mounts_nothing_and_mode_none_opens_the_api() {
    let url = with_api(json!({"auth": {
        "issuer": "https://idp.example", "audience": "wiber",
        "jwksUrl": "https://idp.example/.well-known/jwks.json", "userClaim": "preferred_username",
    }}));
    let c = config(&url);
    assert_eq!(
        c["AUTH_JWKS_URL"],
        "https://idp.example/.well-known/jwks.json"
    );
    assert_eq!(c["AUTH_USER_CLAIM"], "preferred_username");
    assert!(!c.contains_key("AUTH_JWKS_FILE"));
    assert!(!mount_dirs(&desired(&url, &inputs(1)).api).contains(&JWKS_DIR.to_owned()));

    let open = config(&with_api(json!({"auth": {"mode": "None"}})));
    assert_eq!(open["AUTH_MODE"], "none");
    assert!(
        !open
            .keys()
            .any(|k| k.starts_with("AUTH_") && k != "AUTH_MODE")
    );
}

#[test]
fn a_wibercluster_stored_without_auth_keeps_an_open_api() {
    let wc = plain();
    assert_eq!(wc.spec.api.auth, None);
    assert_eq!(config(&wc)["AUTH_MODE"], "none");
    assert!(crate::api_access::ApiAccess::of(&wc.spec.api).is_open());
}

#[test]
fn another_issuer_or_jwks_secret_rolls_the_pods() {
    let auth = |issuer: &str, secret: &str| {
        with_api(json!({"auth": {
            "issuer": issuer, "audience": "wiber", "jwksSecret": {"name": secret},
        }}))
    };
    let base = hash(&auth("https://a.example", "jwks-1"));
    assert_eq!(base, hash(&auth("https://a.example", "jwks-1")));
    assert_ne!(base, hash(&auth("https://b.example", "jwks-1")));
    assert_ne!(base, hash(&auth("https://a.example", "jwks-2")));
    assert_ne!(base, hash(&with_api(json!({"auth": {"mode": "None"}}))));
}

#[test]
fn an_api_tls_secret_is_mounted_for_the_api_and_named_in_its_config() {
    let wc = with_api(json!({"auth": {"mode": "None"}, "tls": {"secretName": "api-cert"}}));
    let c = config(&wc);
    assert_eq!(c["API_TLS_CERT_FILE"], format!("{TLS_DIR}/tls.crt"));
    assert_eq!(c["API_TLS_KEY_FILE"], format!("{TLS_DIR}/tls.key"));
    let d = desired(&wc, &inputs(1));
    let tls = secret_volume(pod(&d.api), "api-tls");
    assert_eq!(tls.secret_name.as_deref(), Some("api-cert"));
    let files: Vec<_> = tls.items.iter().flatten().map(|i| i.key.as_str()).collect();
    assert_eq!(files, ["tls.crt", "tls.key"]);
    assert!(!mount_dirs(&d.consumer).contains(&TLS_DIR.to_owned()));
    // Without it the API speaks plain HTTP, and nothing names a certificate.
    let plain_config = config(&with_api(json!({"auth": {"mode": "None"}})));
    assert!(!plain_config.contains_key("API_TLS_CERT_FILE"));
}

#[test]
fn a_stopping_api_fails_readiness_before_its_streams_end_within_the_grace_period() {
    let wc = plain();
    let delay: u64 = config(&wc)["API_SHUTDOWN_DELAY_MS"].parse().unwrap();
    assert!(delay >= 1_000, "endpoints need time to drop the pod");
    let grace = pod(&desired(&wc, &inputs(1)).api)
        .termination_grace_period_seconds
        .unwrap();
    // The delay, the API's default drain (15 s) and its producer flush (10 s) fit the grace.
    assert!(grace as u64 * 1_000 >= delay + 15_000 + 10_000, "{grace} s");
}

#[test]
fn an_ingress_routes_the_host_to_the_api_service_with_cert_managers_annotation() {
    let wc = with_api(json!({
        "ingress": {
            "host": "chat.example.com",
            "className": "nginx",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
            "tls": {"secretName": "chat-tls"},
        },
    }));
    let ingress = desired(&wc, &inputs(1)).ingress.expect("an Ingress");
    assert_eq!(ingress.metadata.name.as_deref(), Some("chat-api"));
    assert_eq!(
        ingress.metadata.annotations.as_ref().unwrap()["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    let spec = ingress.spec.unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let rule = &spec.rules.unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("chat.example.com"));
    let path = &rule.http.as_ref().unwrap().paths[0];
    assert_eq!(
        (path.path.as_deref(), path.path_type.as_str()),
        (Some("/"), "Prefix")
    );
    let backend = path.backend.service.as_ref().unwrap();
    assert_eq!(
        backend.name,
        desired(&wc, &inputs(1)).api_service.metadata.name.unwrap()
    );
    assert_eq!(backend.port.as_ref().unwrap().name.as_deref(), Some("http"));
    let tls = &spec.tls.unwrap()[0];
    assert_eq!(tls.secret_name.as_deref(), Some("chat-tls"));
    assert_eq!(
        tls.hosts.as_ref().unwrap(),
        &["chat.example.com".to_owned()]
    );
    assert_eq!(api_url(&wc), "https://chat.example.com/");
}

#[test]
fn without_an_ingress_the_url_is_the_services_in_cluster_one() {
    assert!(desired(&plain(), &inputs(1)).ingress.is_none());
    assert_eq!(api_url(&plain()), "http://chat-api.team-a.svc:8000");
    let plain_ingress = with_api(json!({"ingress": {"host": "chat.internal", "path": "/wiber"}}));
    assert_eq!(api_url(&plain_ingress), "http://chat.internal/wiber");
    let tls = with_api(json!({"tls": {"secretName": "api-cert"}}));
    assert_eq!(api_url(&tls), "https://chat-api.team-a.svc:8000");
}
