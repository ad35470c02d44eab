//! `serve` with `ServerTls` over real sockets and a real TLS client: HTTPS is served, a renewed
//! certificate is picked up without a restart, and a broken renewal keeps the previous one.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use wiber_common::serve::{Limits, bind, serve};
use wiber_common::tls::{ServerTls, TlsError, TlsFiles};

/// A CA and a `localhost` certificate it signed: (CA DER, chain PEM, key PEM).
fn issue() -> (CertificateDer<'static>, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    (ca.der().clone(), leaf.pem(), key.serialize_pem())
}

fn files(dir: &Path) -> TlsFiles {
    TlsFiles {
        cert: dir.join("tls.crt"),
        key: dir.join("tls.key"),
        cert_var: "API_TLS_CERT_FILE",
        key_var: "API_TLS_KEY_FILE",
    }
}

fn write(dir: &Path, cert: &str, key: &str) {
    std::fs::write(dir.join("tls.crt"), cert).unwrap();
    std::fs::write(dir.join("tls.key"), key).unwrap();
}

/// GET / over TLS trusting `ca` only: the status line, or why there was none.
async fn get_trusting(port: u16, ca: &CertificateDer<'static>) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

async fn eventually_ok(port: u16, ca: &CertificateDer<'static>, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if get_trusting(port, ca)
            .await
            .is_ok_and(|l| l.contains("200"))
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn https_is_served_and_a_renewed_certificate_is_taken_without_a_restart() {
    let dir = tempdir();
    let (first_ca, cert, key) = issue();
    write(&dir, &cert, &key);
    let tls = ServerTls::load(files(&dir)).unwrap();
    tls.spawn_reloads(Duration::from_millis(100));
    let listener = bind("127.0.0.1:0".parse().unwrap(), "test").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = Router::new().route("/", get(|| async { "ok" }));
    let limits = Limits {
        header_read_timeout: Duration::from_secs(2),
        max_connections: 16,
        drain: Duration::from_secs(1),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, limits, Some(tls.clone()), async {
        let _ = stopped.await;
    }));

    let status = get_trusting(port, &first_ca).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), plain.read_to_end(&mut answer)).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));

    // Renewed by another CA: served once the files change, and the old CA no longer verifies it.
    let (second_ca, cert, key) = issue();
    write(&dir, &cert, &key);
    assert!(
        eventually_ok(port, &second_ca, Duration::from_secs(10)).await,
        "the renewed certificate is served"
    );
    assert!(get_trusting(port, &first_ca).await.is_err());

    // A renewal caught half-written (a key that does not match) keeps the certificate that works.
    let (_, _, other_key) = issue();
    write(&dir, &cert, &other_key);
    assert!(!tls.reload(), "a mismatched pair is not taken");
    assert!(
        get_trusting(port, &second_ca)
            .await
            .unwrap()
            .contains("200")
    );

    let _ = stop.send(());
    server.await.unwrap();
}

#[test]
fn unreadable_or_mismatched_files_fail_at_start_naming_the_variable() {
    let dir = tempdir();
    let missing = ServerTls::load(files(&dir)).err().unwrap();
    assert!(
        matches!(
            missing,
            TlsError::Read {
                var: "API_TLS_CERT_FILE",
                ..
            }
        ),
        "{missing}"
    );
    let (_, cert, _) = issue();
    let (_, _, other_key) = issue();
    write(&dir, &cert, "not a key");
    let garbage = ServerTls::load(files(&dir)).err().unwrap();
    assert!(
        garbage.to_string().contains("API_TLS_KEY_FILE"),
        "{garbage}"
    );
    write(&dir, &cert, &other_key);
    let mismatch = ServerTls::load(files(&dir)).err().unwrap();
    assert!(matches!(mismatch, TlsError::Identity { .. }), "{mismatch}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "wiber-tls-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
