//! How every Wiber Kafka client authenticates and encrypts: TLS and SASL settings, read from the
//! environment by the api and consumer, or built from Secrets by the operator, and turned into
//! librdkafka properties in one place.
//!
//! Variables (defaults): KAFKA_SECURITY_PROTOCOL (plaintext; also ssl, sasl_plaintext, sasl_ssl),
//! KAFKA_SASL_MECHANISM (SCRAM-SHA-512; also SCRAM-SHA-256, PLAIN), KAFKA_SASL_USERNAME,
//! KAFKA_SASL_PASSWORD, KAFKA_SSL_CA_LOCATION (the system trust store when unset),
//! KAFKA_SSL_CERTIFICATE_LOCATION and KAFKA_SSL_KEY_LOCATION (a client certificate, mutual TLS).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::client::{Client, ClientContext};

use crate::config::{ConfigError, string};

/// Whether the broker answers and `topic` exists with partitions: what readiness means for the
/// consumer. Blocks up to `timeout`; call it from `spawn_blocking`.
pub fn topic_exists<C: ClientContext>(client: &Client<C>, topic: &str, timeout: Duration) -> bool {
    partitions(client, topic, timeout).is_some_and(|p| !p.is_empty())
}

/// Each partition of `topic` as (leader, replicas in sync), or `None` when the broker does not
/// answer or the topic is missing. Blocks up to `timeout`; call it from `spawn_blocking`.
pub fn partitions<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Option<Vec<(i32, usize)>> {
    let metadata = client.fetch_metadata(Some(topic), timeout).ok()?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())?;
    let partitions = found.partitions().iter();
    Some(partitions.map(|p| (p.leader(), p.isr().len())).collect())
}

/// The ids of `topic`'s partitions, `Ok(None)` when the topic does not exist; an error when the
/// broker does not answer. Blocks up to `timeout`.
pub fn partition_ids<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<Vec<i32>>, rdkafka::error::KafkaError> {
    let metadata = client.fetch_metadata(Some(topic), timeout)?;
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none());
    Ok(found.map(|t| t.partitions().iter().map(|p| p.id()).collect()))
}

/// How long a readiness check may wait for the broker.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `KafkaConnection::metadata_refresh` when KAFKA_METADATA_REFRESH_MS is not set.
pub const DEFAULT_METADATA_REFRESH_MS: u64 = 30_000;

/// Where Kafka is and how to reach it: KAFKA_BOOTSTRAP_SERVERS (localhost:9092) and the security
/// settings above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    pub bootstrap_servers: String,
    pub security: KafkaSecurity,
    /// KAFKA_METADATA_REFRESH_MS (30000): how often each client asks for the topics' partitions,
    /// so a topic that grew is seen by the producers, the consumer group and the push feed
    /// within this (librdkafka's own default is five minutes).
    pub metadata_refresh: Duration,
}

impl KafkaConnection {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            bootstrap_servers: string("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
            security: KafkaSecurity::from_env()?,
            metadata_refresh: Duration::from_millis(crate::config::parse_in(
                "KAFKA_METADATA_REFRESH_MS",
                DEFAULT_METADATA_REFRESH_MS,
                1_000..=3_600_000,
            )?),
        })
    }

    /// A client configuration with the bootstrap servers and the security settings; callers add
    /// what their client needs.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        config.set(
            "topic.metadata.refresh.interval.ms",
            self.metadata_refresh.as_millis().to_string(),
        );
        for (key, value) in self.security.properties() {
            config.set(key, value);
        }
        config
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub const ALL: [Self; 4] = [
        Self::Plaintext,
        Self::Ssl,
        Self::SaslPlaintext,
        Self::SaslSsl,
    ];

    /// librdkafka's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    pub fn tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    pub fn sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    pub fn new(tls: bool, sasl: bool) -> Self {
        match (tls, sasl) {
            (false, false) => Self::Plaintext,
            (true, false) => Self::Ssl,
            (false, true) => Self::SaslPlaintext,
            (true, true) => Self::SaslSsl,
        }
    }
}

impl FromStr for SecurityProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| "must be one of plaintext, ssl, sasl_plaintext, sasl_ssl".to_owned())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    #[default]
    ScramSha512,
}

impl SaslMechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl FromStr for SaslMechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Plain, Self::ScramSha256, Self::ScramSha512]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| "must be one of SCRAM-SHA-512, SCRAM-SHA-256, PLAIN".to_owned())
    }
}

/// PEM material: a file the process reads (pods mount Secrets), or the text itself (the operator
/// reads Secrets through the API and never writes them to disk).
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "File({})", path.display()),
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KafkaSecurity {
    pub protocol: SecurityProtocol,
    pub sasl: Option<SaslCredentials>,
    /// CA certificate(s) the brokers' certificates are checked against.
    pub ca: Option<Pem>,
    /// Client certificate and its key, for mutual TLS.
    pub client_certificate: Option<(Pem, Pem)>,
}

impl KafkaSecurity {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| {
            std::env::var(var)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        })
    }

    /// The settings from `get` (a variable's value, `None` when unset or empty). Every
    /// combination that could only fail later, at the first connection, fails here instead.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let error = |var: &str, value: &str, reason: String| ConfigError {
            var: var.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let protocol = match get("KAFKA_SECURITY_PROTOCOL") {
            None => SecurityProtocol::Plaintext,
            Some(v) => v
                .parse()
                .map_err(|reason| error("KAFKA_SECURITY_PROTOCOL", &v, reason))?,
        };
        let sasl = if protocol.sasl() {
            let mechanism = match get("KAFKA_SASL_MECHANISM") {
                None => SaslMechanism::default(),
                Some(v) => v
                    .parse()
                    .map_err(|reason| error("KAFKA_SASL_MECHANISM", &v, reason))?,
            };
            let required = |var: &str| {
                get(var).ok_or_else(|| {
                    error(
                        var,
                        "",
                        format!(
                            "required when KAFKA_SECURITY_PROTOCOL={}",
                            protocol.as_str()
                        ),
                    )
                })
            };
            Some(SaslCredentials {
                mechanism,
                username: required("KAFKA_SASL_USERNAME")?,
                password: required("KAFKA_SASL_PASSWORD")?,
            })
        } else {
            for var in [
                "KAFKA_SASL_MECHANISM",
                "KAFKA_SASL_USERNAME",
                "KAFKA_SASL_PASSWORD",
            ] {
                if let Some(v) = get(var) {
                    let shown = if var == "KAFKA_SASL_PASSWORD" {
                        "<redacted>"
                    } else {
                        &v
                    };
                    return Err(error(
                        var,
                        shown,
                        format!(
                            "SASL is off with KAFKA_SECURITY_PROTOCOL={}; use sasl_ssl or sasl_plaintext",
                            protocol.as_str()
                        ),
                    ));
                }
            }
            None
        };

        let file = |var: &str| -> Result<Option<Pem>, ConfigError> {
            let Some(path) = get(var) else {
                return Ok(None);
            };
            if !protocol.tls() {
                return Err(error(
                    var,
                    &path,
                    format!(
                        "TLS is off with KAFKA_SECURITY_PROTOCOL={}; use ssl or sasl_ssl",
                        protocol.as_str()
                    ),
                ));
            }
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => Ok(Some(Pem::File(PathBuf::from(path)))),
                Ok(_) => Err(error(var, &path, "is not a file".to_owned())),
                Err(e) => Err(error(var, &path, format!("cannot be read: {e}"))),
            }
        };
        let ca = file("KAFKA_SSL_CA_LOCATION")?;
        let certificate = file("KAFKA_SSL_CERTIFICATE_LOCATION")?;
        let key = file("KAFKA_SSL_KEY_LOCATION")?;
        let client_certificate = match (certificate, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(error(
                    "KAFKA_SSL_KEY_LOCATION",
                    "",
                    "required with KAFKA_SSL_CERTIFICATE_LOCATION".to_owned(),
                ));
            }
            (None, Some(_)) => {
                return Err(error(
                    "KAFKA_SSL_CERTIFICATE_LOCATION",
                    "",
                    "required with KAFKA_SSL_KEY_LOCATION".to_owned(),
                ));
            }
        };
        Ok(Self {
            protocol,
            sasl,
            ca,
            client_certificate,
        })
    }

    /// The librdkafka properties; set them on every client (producer, consumer, admin).
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("security.protocol", self.protocol.as_str().to_owned())];
        if let Some(sasl) = &self.sasl {
            out.push(("sasl.mechanism", sasl.mechanism.as_str().to_owned()));
            out.push(("sasl.username", sasl.username.clone()));
            out.push(("sasl.password", sasl.password.clone()));
        }
        let mut pem = |pem: &Pem, location: &'static str, inline: &'static str| match pem {
            Pem::File(path) => out.push((location, path.display().to_string())),
            Pem::Inline(text) => out.push((inline, text.clone())),
        };
        if let Some(ca) = &self.ca {
            pem(ca, "ssl.ca.location", "ssl.ca.pem");
        }
        if let Some((certificate, key)) = &self.client_certificate {
            pem(
                certificate,
                "ssl.certificate.location",
                "ssl.certificate.pem",
            );
            pem(key, "ssl.key.location", "ssl.key.pem");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<KafkaSecurity, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        KafkaSecurity::from_lookup(|var| vars.get(var).cloned())
    }

    fn property<'a>(props: &'a [(&'static str, String)], key: &str) -> Option<&'a str> {
        props
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn nothing_set_means_plaintext_without_credentials() {
        let s = from(&[]).unwrap();
        assert_eq!(
            s.properties(),
            vec![("security.protocol", "plaintext".to_owned())]
        );
    }

    #[test]
    fn sasl_ssl_with_scram_and_a_ca_file_becomes_librdkafka_properties() {
        let ca = std::env::temp_dir().join("wiber-common-kafka-test-ca.crt");
        std::fs::write(&ca, "pem").unwrap();
        let s = from(&[
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_USERNAME", "wiber"),
            ("KAFKA_SASL_PASSWORD", "s3cret"),
            ("KAFKA_SSL_CA_LOCATION", ca.to_str().unwrap()),
        ])
        .unwrap();
        let p = s.properties();
        assert_eq!(property(&p, "security.protocol"), Some("sasl_ssl"));
        assert_eq!(property(&p, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(property(&p, "sasl.username"), Some("wiber"));
        assert_eq!(property(&p, "sasl.password"), Some("s3cret"));
        assert_eq!(property(&p, "ssl.ca.location"), ca.to_str());
        assert!(!format!("{s:?}").contains("s3cret"), "{s:?}");
    }

    #[test]
    fn inline_pem_uses_the_pem_properties() {
        let s = KafkaSecurity {
            protocol: SecurityProtocol::Ssl,
            sasl: None,
            ca: Some(Pem::Inline("CA".into())),
            client_certificate: Some((Pem::Inline("CERT".into()), Pem::Inline("KEY".into()))),
        };
        let p = s.properties();
        assert_eq!(property(&p, "ssl.ca.pem"), Some("CA"));
        assert_eq!(property(&p, "ssl.certificate.pem"), Some("CERT"));
        assert_eq!(property(&p, "ssl.key.pem"), Some("KEY"));
        assert!(!format!("{s:?}").contains("KEY\""), "{s:?}");
    }

    #[test]
    fn bad_combinations_fail_at_start_up_naming_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("KAFKA_SECURITY_PROTOCOL", "tls")],
                "KAFKA_SECURITY_PROTOCOL",
            ),
            (
                &[("KAFKA_SECURITY_PROTOCOL", "sasl_ssl")],
                "KAFKA_SASL_USERNAME",
            ),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "sasl_plaintext"),
                    ("KAFKA_SASL_USERNAME", "u"),
                ],
                "KAFKA_SASL_PASSWORD",
            ),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
                    ("KAFKA_SASL_MECHANISM", "GSSAPI"),
                ],
                "KAFKA_SASL_MECHANISM",
            ),
            (&[("KAFKA_SASL_PASSWORD", "p")], "KAFKA_SASL_PASSWORD"),
            (
                &[(
                    "KAFKA_SSL_CA_LOCATION",
                    concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
                )],
                "KAFKA_SSL_CA_LOCATION",
            ),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "ssl"),
                    ("KAFKA_SSL_CA_LOCATION", "/nonexistent/ca.crt"),
                ],
                "KAFKA_SSL_CA_LOCATION",
            ),
            (
                &[
                    ("KAFKA_SECURITY_PROTOCOL", "ssl"),
                    (
                        "KAFKA_SSL_CERTIFICATE_LOCATION",
                        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
                    ),
                ],
                "KAFKA_SSL_KEY_LOCATION",
            ),
        ];
        for (vars, var) in cases {
            let err = from(vars).expect_err(&format!("{vars:?} must be rejected"));
            assert_eq!(err.var, *var, "{vars:?}: {err}");
            assert!(!err.to_string().contains("\"p\""), "password shown: {err}");
        }
    }
}
