//! Transport security of the Kafka bus: TLS and SASL, from the `kafka://` URL and the `[kafka]` settings.
//!
//! # Where a setting comes from
//! - The URL query: `security_protocol`, `sasl_mechanism`, `sasl_username`, `ssl_ca_location`,
//!   `ssl_certificate_location`, `ssl_key_location`. Never a secret: the URL is logged, printed by
//!   `accord config print` and shown in `ps`, so `sasl_password` and `ssl_key_password` in a URL are refused with a
//!   message saying where they go.
//! - [`KafkaSecurity`] itself, deserialized from the `[kafka]` section of the configuration file (and
//!   `ACCORD_KAFKA__<FIELD>` in the environment): the same settings plus the two secrets, held in [`Secret`], which
//!   prints as `***` in `Debug` and when serialized.
//!
//! A setting given in both places must have the same value ([`KafkaSecurity::merge`]); a silent choice between two
//! different CA files or users would be worse than an error at start.
//!
//! # What is checked
//! [`KafkaSecurity::validate`] runs when the bus connects, naming the setting: a SASL protocol needs a mechanism, a
//! user and a password; SASL and TLS settings need a protocol that uses them; `PLAIN` is refused without TLS (it
//! would send the password in clear); a client certificate and its key go together; every file must be readable.
//!
//! # What librdkafka gets
//! [`KafkaSecurity::apply`] sets the same settings on every client (producer, consumers, admin), so a test pins them
//! once (`tests/kafka/settings.rs`). With TLS, the broker's certificate and host name are always verified
//! (`enable.ssl.certificate.verification=true`, `ssl.endpoint.identification.algorithm=https`); there is no setting
//! to turn that off. Without `ssl_ca_location`, OpenSSL's default trust store is used.

use std::{fmt, path::PathBuf};

use rdkafka::ClientConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How clients talk to the brokers (librdkafka's `security.protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    #[default]
    Plaintext,
    /// TLS; the client authenticates with a certificate when one is configured.
    Ssl,
    /// SASL authentication without TLS (only with SCRAM: the password never crosses the wire, the data does).
    SaslPlaintext,
    /// SASL authentication over TLS: the production setting.
    SaslSsl,
}

impl SecurityProtocol {
    /// Returns the protocol named `value` (`sasl_ssl`, `SASL_SSL`, …).
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "plaintext" => Some(Self::Plaintext),
            "ssl" => Some(Self::Ssl),
            "sasl_plaintext" => Some(Self::SaslPlaintext),
            "sasl_ssl" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    /// Returns librdkafka's name of the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    /// Returns whether the connection is encrypted.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Returns whether the client authenticates with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

/// The SASL mechanism (librdkafka's `sasl.mechanisms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    /// User and password sent to the broker (only over TLS).
    #[serde(rename = "PLAIN")]
    Plain,
    /// Salted challenge-response, SHA-256.
    #[serde(rename = "SCRAM-SHA-256")]
    ScramSha256,
    /// Salted challenge-response, SHA-512.
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// Returns the mechanism named `value` (`SCRAM-SHA-512`, `scram-sha-512`, …).
    pub fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Self::Plain),
            "SCRAM-SHA-256" => Some(Self::ScramSha256),
            "SCRAM-SHA-512" => Some(Self::ScramSha512),
            _ => None,
        }
    }

    /// Returns the mechanism's name, as librdkafka and brokers write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// A secret setting: deserialized from a string, shown as `***` in `Debug` and when serialized.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Returns a secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// Returns the value, for the one place that hands it to librdkafka.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// TLS and SASL settings of the Kafka clients: the `[kafka]` section, merged with the URL's query. Every field is
/// optional; the default is plaintext without authentication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSecurity {
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_protocol: Option<SecurityProtocol>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// The SASL user (the principal the brokers' ACLs name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl_username: Option<String>,
    /// The SASL password (never in the URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sasl_password: Option<Secret>,
    /// PEM file of the CA(s) that signed the brokers' certificates; default: the system's trust store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_ca_location: Option<PathBuf>,
    /// PEM file of the client certificate (mutual TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_certificate_location: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key_location: Option<PathBuf>,
    /// The password of an encrypted private key (never in the URL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key_password: Option<Secret>,
}

/// URL parameters that would put a secret in the URL, with where it belongs instead.
const SECRET_PARAMETERS: [(&str, &str); 2] = [
    (
        "sasl_password",
        "[kafka] sasl_password or ACCORD_KAFKA__SASL_PASSWORD",
    ),
    (
        "ssl_key_password",
        "[kafka] ssl_key_password or ACCORD_KAFKA__SSL_KEY_PASSWORD",
    ),
];

impl KafkaSecurity {
    /// Applies one URL query parameter. Returns `Ok(false)` when `name` is not a security setting.
    ///
    /// # Errors
    /// A message naming the parameter: a secret (refused in URLs), an unknown protocol or mechanism, an empty value.
    pub(super) fn set_from_url(&mut self, name: &str, value: &str) -> Result<bool, String> {
        if let Some((_, instead)) = SECRET_PARAMETERS.iter().find(|(secret, _)| *secret == name) {
            return Err(format!(
                "`{name}` is not read from the bus url, which is logged; set {instead}"
            ));
        }
        let path = || -> Result<Option<PathBuf>, String> {
            if value.is_empty() {
                return Err(format!("`{name}` is empty"));
            }
            Ok(Some(PathBuf::from(value)))
        };
        match name {
            "security_protocol" => {
                self.security_protocol = Some(SecurityProtocol::parse(value).ok_or_else(|| {
                    format!(
                        "`security_protocol` must be plaintext, ssl, sasl_plaintext or sasl_ssl, not `{value}`"
                    )
                })?);
            }
            "sasl_mechanism" => {
                self.sasl_mechanism = Some(SaslMechanism::parse(value).ok_or_else(|| {
                    format!(
                        "`sasl_mechanism` must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not `{value}`"
                    )
                })?);
            }
            "sasl_username" if value.is_empty() => return Err("`sasl_username` is empty".into()),
            "sasl_username" => self.sasl_username = Some(value.to_owned()),
            "ssl_ca_location" => self.ssl_ca_location = path()?,
            "ssl_certificate_location" => self.ssl_certificate_location = path()?,
            "ssl_key_location" => self.ssl_key_location = path()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Fills the settings the URL left unset from `settings` (the `[kafka]` section).
    ///
    /// # Errors
    /// A message naming the first setting both give with different values.
    pub fn merge(&mut self, settings: &KafkaSecurity) -> Result<(), String> {
        merge_one(
            "security_protocol",
            &mut self.security_protocol,
            &settings.security_protocol,
        )?;
        merge_one(
            "sasl_mechanism",
            &mut self.sasl_mechanism,
            &settings.sasl_mechanism,
        )?;
        merge_one(
            "sasl_username",
            &mut self.sasl_username,
            &settings.sasl_username,
        )?;
        merge_one(
            "sasl_password",
            &mut self.sasl_password,
            &settings.sasl_password,
        )?;
        merge_one(
            "ssl_ca_location",
            &mut self.ssl_ca_location,
            &settings.ssl_ca_location,
        )?;
        merge_one(
            "ssl_certificate_location",
            &mut self.ssl_certificate_location,
            &settings.ssl_certificate_location,
        )?;
        merge_one(
            "ssl_key_location",
            &mut self.ssl_key_location,
            &settings.ssl_key_location,
        )?;
        merge_one(
            "ssl_key_password",
            &mut self.ssl_key_password,
            &settings.ssl_key_password,
        )
    }

    /// Returns the protocol in effect.
    pub fn protocol(&self) -> SecurityProtocol {
        self.security_protocol.unwrap_or_default()
    }

    /// Checks that the settings make sense together and that their files can be read.
    ///
    /// # Errors
    /// A message naming the setting (`kafka.sasl_password`).
    pub fn validate(&self) -> Result<(), String> {
        let protocol = self.protocol();
        let name = protocol.as_str();
        if protocol.uses_sasl() {
            let Some(mechanism) = self.sasl_mechanism else {
                return Err(format!(
                    "security_protocol `{name}` needs kafka.sasl_mechanism"
                ));
            };
            if self.sasl_username.as_deref().is_none_or(str::is_empty) {
                return Err(format!(
                    "security_protocol `{name}` needs kafka.sasl_username"
                ));
            }
            if self
                .sasl_password
                .as_ref()
                .is_none_or(|password| password.expose().is_empty())
            {
                return Err(format!(
                    "security_protocol `{name}` needs kafka.sasl_password ({})",
                    SECRET_PARAMETERS[0].1
                ));
            }
            if mechanism == SaslMechanism::Plain && !protocol.uses_tls() {
                return Err(
                    "kafka.sasl_mechanism `PLAIN` sends the password in clear: use security_protocol `sasl_ssl` \
                     (or a SCRAM mechanism)"
                        .to_owned(),
                );
            }
        } else if let Some(setting) = self
            .sasl_settings()
            .into_iter()
            .find_map(|(key, set)| set.then_some(key))
        {
            return Err(format!(
                "kafka.{setting} needs security_protocol `sasl_ssl` or `sasl_plaintext`, not `{name}`"
            ));
        }
        if !protocol.uses_tls()
            && let Some((setting, _)) = self
                .tls_files()
                .into_iter()
                .find(|(_, path)| path.is_some())
        {
            return Err(format!(
                "kafka.{setting} needs security_protocol `ssl` or `sasl_ssl`, not `{name}`"
            ));
        }
        if self.ssl_certificate_location.is_some() != self.ssl_key_location.is_some() {
            return Err(
                "kafka.ssl_certificate_location and kafka.ssl_key_location go together (mutual TLS)".to_owned(),
            );
        }
        if self.ssl_key_password.is_some() && self.ssl_key_location.is_none() {
            return Err("kafka.ssl_key_password needs kafka.ssl_key_location".to_owned());
        }
        for (setting, path) in self.tls_files() {
            let Some(path) = path else { continue };
            if path.to_str().is_none() {
                return Err(format!("kafka.{setting} must be a UTF-8 path"));
            }
            if let Err(error) = std::fs::File::open(path) {
                return Err(format!(
                    "kafka.{setting} `{}` cannot be read: {error}",
                    path.display()
                ));
            }
        }
        Ok(())
    }

    /// Sets the protocol and its settings on a librdkafka client configuration.
    pub(super) fn apply(&self, config: &mut ClientConfig) {
        let protocol = self.protocol();
        config.set("security.protocol", protocol.as_str());
        if protocol.uses_tls() {
            config
                .set("enable.ssl.certificate.verification", "true")
                .set("ssl.endpoint.identification.algorithm", "https");
            let files = [
                ("ssl.ca.location", &self.ssl_ca_location),
                ("ssl.certificate.location", &self.ssl_certificate_location),
                ("ssl.key.location", &self.ssl_key_location),
            ];
            for (key, path) in files {
                if let Some(path) = path {
                    config.set(key, path.to_string_lossy());
                }
            }
            if let Some(password) = &self.ssl_key_password {
                config.set("ssl.key.password", password.expose());
            }
        }
        if protocol.uses_sasl() {
            if let Some(mechanism) = self.sasl_mechanism {
                config.set("sasl.mechanisms", mechanism.as_str());
            }
            if let Some(username) = &self.sasl_username {
                config.set("sasl.username", username);
            }
            if let Some(password) = &self.sasl_password {
                config.set("sasl.password", password.expose());
            }
        }
    }

    fn sasl_settings(&self) -> [(&'static str, bool); 3] {
        [
            ("sasl_mechanism", self.sasl_mechanism.is_some()),
            ("sasl_username", self.sasl_username.is_some()),
            ("sasl_password", self.sasl_password.is_some()),
        ]
    }

    fn tls_files(&self) -> [(&'static str, Option<&PathBuf>); 3] {
        [
            ("ssl_ca_location", self.ssl_ca_location.as_ref()),
            (
                "ssl_certificate_location",
                self.ssl_certificate_location.as_ref(),
            ),
            ("ssl_key_location", self.ssl_key_location.as_ref()),
        ]
    }
}

/// Fills `from_url` with `from_settings` when unset; refuses two different values.
fn merge_one<T: Clone + PartialEq>(
    name: &str,
    from_url: &mut Option<T>,
    from_settings: &Option<T>,
) -> Result<(), String> {
    match (from_url.as_ref(), from_settings) {
        (Some(url), Some(settings)) if url != settings => Err(format!(
            "kafka.{name} and the bus url's `{name}` differ; set it in one place"
        )),
        (None, Some(settings)) => {
            *from_url = Some(settings.clone());
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sasl_ssl() -> KafkaSecurity {
        KafkaSecurity {
            security_protocol: Some(SecurityProtocol::SaslSsl),
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            sasl_username: Some("accord".to_owned()),
            sasl_password: Some(Secret::new("hunter2")),
            ..KafkaSecurity::default()
        }
    }

    #[test]
    fn secrets_never_print_and_are_refused_in_urls() {
        let security = sasl_ssl();
        assert!(!format!("{security:?}").contains("hunter2"));
        let json = serde_json::to_string(&security).unwrap();
        assert!(json.contains(r#""sasl_password":"***""#), "{json}");
        assert!(!json.contains("hunter2"));
        let mut from_url = KafkaSecurity::default();
        let error = from_url
            .set_from_url("sasl_password", "hunter2")
            .unwrap_err();
        assert!(error.contains("ACCORD_KAFKA__SASL_PASSWORD"), "{error}");
        assert!(!error.contains("hunter2"));
        assert!(from_url.set_from_url("ssl_key_password", "x").is_err());
    }

    #[test]
    fn url_and_settings_merge_and_must_agree() {
        let mut from_url = KafkaSecurity::default();
        assert!(
            from_url
                .set_from_url("security_protocol", "SASL_SSL")
                .unwrap()
        );
        assert!(
            from_url
                .set_from_url("sasl_mechanism", "scram-sha-512")
                .unwrap()
        );
        assert!(!from_url.set_from_url("partitions", "3").unwrap());
        let settings = KafkaSecurity {
            security_protocol: None,
            ..sasl_ssl()
        };
        from_url.merge(&settings).unwrap();
        assert_eq!(from_url, sasl_ssl());
        let other = KafkaSecurity {
            sasl_username: Some("someone-else".to_owned()),
            ..sasl_ssl()
        };
        let error = from_url.merge(&other).unwrap_err();
        assert_eq!(
            error,
            "kafka.sasl_username and the bus url's `sasl_username` differ; set it in one place"
        );
    }

    #[test]
    fn refuses_settings_that_do_not_fit_together() {
        assert_eq!(sasl_ssl().validate(), Ok(()));
        assert_eq!(KafkaSecurity::default().validate(), Ok(()));
        let cases = [
            (
                KafkaSecurity {
                    sasl_password: None,
                    ..sasl_ssl()
                },
                "needs kafka.sasl_password",
            ),
            (
                KafkaSecurity {
                    sasl_mechanism: None,
                    ..sasl_ssl()
                },
                "needs kafka.sasl_mechanism",
            ),
            (
                KafkaSecurity {
                    sasl_username: Some(String::new()),
                    ..sasl_ssl()
                },
                "needs kafka.sasl_username",
            ),
            (
                KafkaSecurity {
                    security_protocol: Some(SecurityProtocol::SaslPlaintext),
                    sasl_mechanism: Some(SaslMechanism::Plain),
                    ..sasl_ssl()
                },
                "sends the password in clear",
            ),
            (
                KafkaSecurity {
                    security_protocol: Some(SecurityProtocol::Ssl),
                    ..sasl_ssl()
                },
                "kafka.sasl_mechanism needs security_protocol",
            ),
            (
                KafkaSecurity {
                    security_protocol: Some(SecurityProtocol::SaslPlaintext),
                    ssl_ca_location: Some("/etc/hosts".into()),
                    ..sasl_ssl()
                },
                "kafka.ssl_ca_location needs security_protocol",
            ),
            (
                KafkaSecurity {
                    ssl_certificate_location: Some("/etc/hosts".into()),
                    ..sasl_ssl()
                },
                "go together",
            ),
            (
                KafkaSecurity {
                    ssl_key_password: Some(Secret::new("x")),
                    ..sasl_ssl()
                },
                "needs kafka.ssl_key_location",
            ),
            (
                KafkaSecurity {
                    ssl_ca_location: Some("/nonexistent/ca.pem".into()),
                    ..sasl_ssl()
                },
                "kafka.ssl_ca_location `/nonexistent/ca.pem` cannot be read",
            ),
        ];
        for (security, expected) in cases {
            let error = security.validate().unwrap_err();
            assert!(error.contains(expected), "{expected}: {error}");
        }
    }
}
