//! How the pods and the operator itself reach Kafka, worked out once from the spec: the security
//! protocol, the SASL login and the certificate Secrets. The ConfigMap, the pods' env and volumes,
//! the configuration hash and the operator's own Secret reads all take it from here.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use wiber_common::kafka::{KafkaSecurity, Pem, SaslCredentials, SaslMechanism, SecurityProtocol};

use crate::crd::KafkaSpec;

/// Where the pods find the cluster CA and their client certificate (mounted Secrets).
pub const CA_DIR: &str = "/etc/wiber/kafka-ca";
pub const CLIENT_DIR: &str = "/etc/wiber/kafka-client";
const CA_FILE: &str = "ca.crt";
const CERTIFICATE_FILE: &str = "user.crt";
const KEY_FILE: &str = "user.key";

/// One key of one Secret in the WiberCluster's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretKey {
    pub secret: String,
    pub key: String,
}

impl SecretKey {
    fn new(secret: &str, key: &str) -> Self {
        Self {
            secret: secret.to_owned(),
            key: key.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslLogin {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: SecretKey,
}

/// A Secret mounted as files: which keys, under which file names, in which directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMount {
    pub volume: &'static str,
    pub dir: &'static str,
    pub secret: String,
    /// (key in the Secret, file name in `dir`)
    pub files: Vec<(String, &'static str)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaAccess {
    pub protocol: SecurityProtocol,
    pub sasl: Option<SaslLogin>,
    /// The CA certificate the brokers are checked against.
    pub ca: Option<SecretKey>,
    /// Client certificate and key, for mutual TLS.
    pub client: Option<(SecretKey, SecretKey)>,
}

impl KafkaAccess {
    /// The credentials read from the Secrets the pods mount, for clients outside the pods (the
    /// operator, `kubectl wiber`); certificates stay in memory.
    pub async fn credentials(&self, secrets: &Api<Secret>) -> Result<KafkaSecurity, SecretProblem> {
        let sasl = match &self.sasl {
            Some(login) => Some(SaslCredentials {
                mechanism: login.mechanism,
                username: login.username.clone(),
                password: secret_text(secrets, &login.password).await?,
            }),
            None => None,
        };
        let ca = match &self.ca {
            Some(ca) => Some(Pem::Inline(secret_text(secrets, ca).await?)),
            None => None,
        };
        let client_certificate = match &self.client {
            Some((certificate, key)) => Some((
                Pem::Inline(secret_text(secrets, certificate).await?),
                Pem::Inline(secret_text(secrets, key).await?),
            )),
            None => None,
        };
        Ok(KafkaSecurity {
            protocol: self.protocol,
            sasl,
            ca,
            client_certificate,
        })
    }

    pub fn of(k: &KafkaSpec) -> Self {
        Self {
            protocol: k.security_protocol(),
            sasl: k
                .sasl_credentials()
                .map(|(mechanism, username, password)| SaslLogin {
                    mechanism,
                    username: username.to_owned(),
                    password: SecretKey::new(&password.secret_name, &password.password),
                }),
            ca: k
                .trusted_certificate()
                .map(|ca| SecretKey::new(&ca.secret_name, &ca.certificate)),
            client: k.client_certificate().map(|c| {
                (
                    SecretKey::new(&c.secret_name, &c.certificate),
                    SecretKey::new(&c.secret_name, &c.key),
                )
            }),
        }
    }

    /// The binaries' Kafka security variables that hold no secret (the ConfigMap's part).
    pub fn config(&self) -> Vec<(String, String)> {
        let var = |k: &str, v: String| (k.to_owned(), v);
        let mut out = vec![var(
            "KAFKA_SECURITY_PROTOCOL",
            self.protocol.as_str().to_owned(),
        )];
        if let Some(sasl) = &self.sasl {
            out.push(var(
                "KAFKA_SASL_MECHANISM",
                sasl.mechanism.as_str().to_owned(),
            ));
            out.push(var("KAFKA_SASL_USERNAME", sasl.username.clone()));
        }
        if self.ca.is_some() {
            out.push(var("KAFKA_SSL_CA_LOCATION", format!("{CA_DIR}/{CA_FILE}")));
        }
        if self.client.is_some() {
            out.push(var(
                "KAFKA_SSL_CERTIFICATE_LOCATION",
                format!("{CLIENT_DIR}/{CERTIFICATE_FILE}"),
            ));
            out.push(var(
                "KAFKA_SSL_KEY_LOCATION",
                format!("{CLIENT_DIR}/{KEY_FILE}"),
            ));
        }
        out
    }

    /// Variables the pods take straight from a Secret.
    pub fn secret_env(&self) -> Vec<(&'static str, &SecretKey)> {
        self.sasl
            .iter()
            .map(|s| ("KAFKA_SASL_PASSWORD", &s.password))
            .collect()
    }

    /// The certificate Secrets, mounted under fixed file names.
    pub fn mounts(&self) -> Vec<SecretMount> {
        let mut out = Vec::new();
        if let Some(ca) = &self.ca {
            out.push(SecretMount {
                volume: "kafka-ca",
                dir: CA_DIR,
                secret: ca.secret.clone(),
                files: vec![(ca.key.clone(), CA_FILE)],
            });
        }
        if let Some((certificate, key)) = &self.client {
            out.push(SecretMount {
                volume: "kafka-client",
                dir: CLIENT_DIR,
                secret: certificate.secret.clone(),
                files: vec![
                    (certificate.key.clone(), CERTIFICATE_FILE),
                    (key.key.clone(), KEY_FILE),
                ],
            });
        }
        out
    }

    /// Every Secret reference, for the configuration hash: pointing at another Secret rolls the pods.
    pub fn secret_refs(&self) -> Vec<String> {
        let mut refs = Vec::new();
        if let Some(s) = &self.sasl {
            refs.push(format!("{}/{}", s.password.secret, s.password.key));
        }
        if let Some(ca) = &self.ca {
            refs.push(format!("{}/{}", ca.secret, ca.key));
        }
        if let Some((c, k)) = &self.client {
            refs.push(format!("{}/{}/{}", c.secret, c.key, k.key));
        }
        refs
    }
}

/// Why a Secret's value cannot be had: a condition reason and message.
pub type SecretProblem = (&'static str, String);

/// A Secret's value as text.
pub async fn secret_text(secrets: &Api<Secret>, at: &SecretKey) -> Result<String, SecretProblem> {
    let SecretKey { secret, key } = at;
    match secrets.get_opt(secret).await {
        Ok(Some(s)) => s
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .ok_or_else(|| {
                (
                    "SecretKeyMissing",
                    format!("secret {secret} has no key {key:?}"),
                )
            }),
        Ok(None) => Err(("SecretMissing", format!("secret {secret} not found"))),
        Err(e) => Err((
            "SecretLookupFailed",
            format!("cannot read secret {secret}: {e}"),
        )),
    }
}
