//! HTTPS on a listener: a certificate chain and key from PEM files, checked again every few
//! seconds and swapped in when they change, so a certificate that cert-manager renews (and the
//! kubelet rewrites in the mounted Secret) is served without a restart. A half-written or
//! mismatched pair is not taken: the previous certificate is served until the files are whole.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{var}={path}: cannot read a PEM {what}: {reason}")]
    Read {
        var: &'static str,
        path: String,
        what: &'static str,
        reason: String,
    },
    #[error(
        "{cert_var} and {key_var}: the certificate and key do not make a TLS identity: {reason}"
    )]
    Identity {
        cert_var: &'static str,
        key_var: &'static str,
        reason: String,
    },
}

/// Where the certificate chain and key are read from, and the variables that named them (for
/// errors at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_var: &'static str,
    pub key_var: &'static str,
}

/// The PEM bytes a configuration was built from; a check compares contents, not modification
/// times, which a Secret volume's symlink swap does not reliably change.
type Loaded = (Vec<u8>, Vec<u8>);

pub struct ServerTls {
    files: TlsFiles,
    current: RwLock<(TlsAcceptor, Loaded)>,
}

impl ServerTls {
    /// Reads and checks the pair once; an error here stops the process, naming the variables.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let (pem, config) = read(&files)?;
        Ok(Arc::new(Self {
            current: RwLock::new((TlsAcceptor::from(config), pem)),
            files,
        }))
    }

    /// The acceptor for a new connection: the latest good certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        match self.current.read() {
            Ok(current) => current.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// Rereads the files; swaps the certificate in when they changed and make a valid pair.
    /// Returns whether a new certificate is now served.
    pub fn reload(&self) -> bool {
        let unchanged = (
            std::fs::read(&self.files.cert),
            std::fs::read(&self.files.key),
        );
        if let (Ok(cert), Ok(key)) = &unchanged {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.1.0 == *cert && current.1.1 == *key {
                return false;
            }
        }
        match read(&self.files) {
            Ok((pem, config)) => {
                let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
                *current = (TlsAcceptor::from(config), pem);
                tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                true
            }
            Err(e) => {
                // Mid-rotation the two files can briefly disagree; the next check sees them whole.
                tracing::warn!(error = %e, "TLS files changed but do not load; serving the previous certificate");
                false
            }
        }
    }

    /// Checks the files every `every` for as long as the process runs.
    pub fn spawn_reloads(self: &Arc<Self>, every: Duration) {
        let tls = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                tls.reload();
            }
        });
    }
}

fn read_pem(var: &'static str, path: &Path, what: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        var,
        path: path.display().to_string(),
        what,
        reason: e.to_string(),
    })
}

fn read(files: &TlsFiles) -> Result<(Loaded, Arc<ServerConfig>), TlsError> {
    let cert_pem = read_pem(files.cert_var, &files.cert, "certificate chain")?;
    let key_pem = read_pem(files.key_var, &files.key, "private key")?;
    let bad = |var, path: &Path, what, reason: String| TlsError::Read {
        var,
        path: path.display().to_string(),
        what,
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            bad(
                files.cert_var,
                &files.cert,
                "certificate chain",
                e.to_string(),
            )
        })?;
    if chain.is_empty() {
        return Err(bad(
            files.cert_var,
            &files.cert,
            "certificate chain",
            "no CERTIFICATE block".to_owned(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(files.key_var, &files.key, "private key", e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
        .map_err(|e| TlsError::Identity {
            cert_var: files.cert_var,
            key_var: files.key_var,
            reason: e.to_string(),
        })?;
    // The listener speaks HTTP/1.1 only (see `serve`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(((cert_pem, key_pem), Arc::new(config)))
}
