//! How the API pods verify callers and serve TLS, worked out once from `spec.api`: the AUTH_* and
//! API_TLS_* settings, the Secrets mounted for them and their references in the configuration hash.

use crate::crd::{ApiSpec, AuthMode};
use crate::kafka_access::SecretMount;

/// Where the API pods find the JWKS and the serving certificate (mounted Secrets). Mounted whole,
/// not by subPath, so the kubelet's updates of a changed Secret reach the files the API rereads.
pub const JWKS_DIR: &str = "/etc/wiber/auth";
pub const TLS_DIR: &str = "/etc/wiber/api-tls";
const JWKS_FILE: &str = "jwks.json";
const TLS_CERT_FILE: &str = "tls.crt";
const TLS_KEY_FILE: &str = "tls.key";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiAccess {
    /// The AUTH_* settings; `AUTH_MODE=none` alone for an open API.
    auth: Vec<(&'static str, String)>,
    jwks_secret: Option<(String, String)>,
    tls_secret: Option<String>,
}

impl ApiAccess {
    pub fn of(api: &ApiSpec) -> Self {
        let (auth, jwks_secret) = match &api.auth {
            // Stored before spec.api.auth existed (new objects must name it): the API stays as
            // open as it was, and the operator says so when it reconciles.
            None => (vec![("AUTH_MODE", "none".to_owned())], None),
            Some(a) if a.mode == AuthMode::None => (vec![("AUTH_MODE", "none".to_owned())], None),
            Some(a) => {
                let mut vars = vec![
                    ("AUTH_MODE", "jwt".to_owned()),
                    ("AUTH_ISSUER", a.issuer.clone().unwrap_or_default()),
                    ("AUTH_AUDIENCE", a.audience.clone().unwrap_or_default()),
                    ("AUTH_USER_CLAIM", a.user_claim.clone()),
                    ("AUTH_ADMIN_SCOPE", a.admin_scope.clone()),
                    ("AUTH_LEEWAY_SECONDS", a.leeway_seconds.to_string()),
                ];
                let secret = match (&a.jwks_url, &a.jwks_secret) {
                    (Some(url), _) => {
                        vars.push(("AUTH_JWKS_URL", url.clone()));
                        None
                    }
                    (None, Some(s)) => {
                        vars.push(("AUTH_JWKS_FILE", format!("{JWKS_DIR}/{JWKS_FILE}")));
                        Some((s.name.clone(), s.key.clone()))
                    }
                    // The CRD's rules refuse this; the API then fails at start naming AUTH_JWKS_URL.
                    (None, None) => None,
                };
                (vars, secret)
            }
        };
        Self {
            auth,
            jwks_secret,
            tls_secret: api.tls.as_ref().map(|t| t.secret_name.clone()),
        }
    }

    /// Whether the API answers anyone (mode None, or a WiberCluster stored without auth).
    pub fn is_open(&self) -> bool {
        self.auth
            .iter()
            .any(|(k, v)| *k == "AUTH_MODE" && v == "none")
    }

    /// The API's settings, for the ConfigMap.
    pub fn config(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .auth
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        if self.tls_secret.is_some() {
            out.push((
                "API_TLS_CERT_FILE".to_owned(),
                format!("{TLS_DIR}/{TLS_CERT_FILE}"),
            ));
            out.push((
                "API_TLS_KEY_FILE".to_owned(),
                format!("{TLS_DIR}/{TLS_KEY_FILE}"),
            ));
        }
        out
    }

    /// The JWKS and certificate Secrets, mounted into the API pods under fixed file names.
    pub fn mounts(&self) -> Vec<SecretMount> {
        let mut out = Vec::new();
        if let Some((secret, key)) = &self.jwks_secret {
            out.push(SecretMount {
                volume: "auth-jwks",
                dir: JWKS_DIR,
                secret: secret.clone(),
                files: vec![(key.clone(), JWKS_FILE)],
            });
        }
        if let Some(secret) = &self.tls_secret {
            out.push(SecretMount {
                volume: "api-tls",
                dir: TLS_DIR,
                secret: secret.clone(),
                files: vec![
                    ("tls.crt".to_owned(), TLS_CERT_FILE),
                    ("tls.key".to_owned(), TLS_KEY_FILE),
                ],
            });
        }
        out
    }

    /// Every Secret reference, for the configuration hash: pointing at another Secret rolls the
    /// pods (a changed Secret's content does not: the API rereads the files).
    pub fn secret_refs(&self) -> Vec<String> {
        let mut refs = Vec::new();
        if let Some((secret, key)) = &self.jwks_secret {
            refs.push(format!("jwks:{secret}/{key}"));
        }
        if let Some(secret) = &self.tls_secret {
            refs.push(format!("tls:{secret}"));
        }
        refs
    }
}
