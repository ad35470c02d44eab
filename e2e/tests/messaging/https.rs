//! The API binary over HTTPS (API_TLS_CERT_FILE, API_TLS_KEY_FILE): served from the files, a
//! renewed certificate taken without a restart, a start with bad files refused naming the variable.

use std::path::Path;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use wiber_e2e::mongo_uri;
use wiber_e2e::stack::Wiber;
use wiber_e2e::wait::eventually;

/// A CA (DER) and a `localhost` certificate (PEM) and key (PEM) it signed.
fn issue() -> (Vec<u8>, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.der().to_vec(), leaf.pem(), key.serialize_pem())
}

fn trusting(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_der(ca).unwrap())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

fn write(dir: &Path, cert: &str, key: &str) {
    std::fs::write(dir.join("tls.crt"), cert).unwrap();
    std::fs::write(dir.join("tls.key"), key).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_serves_https_and_takes_a_renewed_certificate_without_a_restart() {
    let dir = std::env::temp_dir().join(wiber_e2e::unique_name("wiber-https"));
    std::fs::create_dir_all(&dir).unwrap();
    let (first_ca, cert, key) = issue();
    write(&dir, &cert, &key);
    let files = [
        (
            "API_TLS_CERT_FILE",
            dir.join("tls.crt").display().to_string(),
        ),
        (
            "API_TLS_KEY_FILE",
            dir.join("tls.key").display().to_string(),
        ),
        ("API_TLS_RELOAD_SECONDS", "1".to_owned()),
    ];
    let wiber = Wiber::spawn(mongo_uri(), &files).await;
    // The admin port stays plain HTTP: the kubelet's probes need no certificate.
    let admin_ready = format!("{}/health/readiness", wiber.admin_url);
    eventually(
        "the API's admin port ready",
        Duration::from_secs(60),
        || async {
            let r = wiber.http.get(&admin_ready).send().await.ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    let https = wiber
        .api_url
        .replace("http://127.0.0.1", "https://localhost");
    let openapi = format!("{https}/openapi.json");
    let answer = trusting(&first_ca).get(&openapi).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        wiber
            .http
            .get(format!("{}/openapi.json", wiber.api_url))
            .send()
            .await
            .is_err(),
        "plain HTTP gets no answer on the HTTPS port"
    );

    // Renewed by another CA, as cert-manager rewrites the mounted Secret.
    let (second_ca, cert, key) = issue();
    write(&dir, &cert, &key);
    let renewed = trusting(&second_ca);
    eventually(
        "the renewed certificate served",
        Duration::from_secs(20),
        || async {
            let r = renewed.get(&openapi).send().await.ok()?;
            (r.status() == 200).then_some(())
        },
    )
    .await;
    assert!(trusting(&first_ca).get(&openapi).send().await.is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_its_certificate_stops_the_api_at_start_naming_the_variables() {
    let dir = std::env::temp_dir().join(wiber_e2e::unique_name("wiber-https-bad"));
    std::fs::create_dir_all(&dir).unwrap();
    let (_, cert, _) = issue();
    let (_, _, other_key) = issue();
    write(&dir, &cert, &other_key);
    for (env, names) in [
        (
            vec![(
                "API_TLS_KEY_FILE",
                dir.join("tls.key").display().to_string(),
            )],
            "API_TLS_CERT_FILE",
        ),
        (
            vec![
                (
                    "API_TLS_CERT_FILE",
                    dir.join("tls.crt").display().to_string(),
                ),
                (
                    "API_TLS_KEY_FILE",
                    dir.join("tls.key").display().to_string(),
                ),
            ],
            "API_TLS_CERT_FILE and API_TLS_KEY_FILE",
        ),
    ] {
        let mut wiber = Wiber::spawn(mongo_uri(), &env).await;
        let code = wiber.api.wait_exit(Duration::from_secs(30));
        assert!(
            code.is_some_and(|c| c != 0),
            "the API must refuse to start: {code:?}"
        );
        let log = wiber.api.log_text();
        assert!(log.contains(names), "{log}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
