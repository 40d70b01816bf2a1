//! Configuration of the OpenSearch index, parsed from an index URL.
//!
//! ```text
//! opensearch://HOST:PORT[/PATH][?prefix=accord&shards=1&replicas=1&timeout_ms=30000&manage=true]
//! opensearch+https://[USER:PASSWORD@]HOST:PORT[/PATH][?...]
//! ```
//!
//! Credentials are refused on a plain `opensearch://` (or `opensearch+http://`) URL: basic auth over plain HTTP
//! would send the password in clear to every hop, so the URL is an [`IndexError::InvalidUrl`] that says to use
//! `opensearch+https://`. `manage=false` makes a process that writes the index leave the templates and indices to
//! another (they must exist); read-only processes never install them (see
//! [`IndexClient::from_url_read_only`](crate::IndexClient::from_url_read_only)).
//!
//! `prefix` names the indices and templates (`<prefix>-views`, `<prefix>-reports`), so that several deployments (or
//! tests) can share a cluster. `shards` and `replicas` go into the index templates: they apply when an index is
//! created, never to an existing index (see `docs/deployment.md`). Credentials, when given, are sent as HTTP basic
//! auth: OpenSearch's security plugin may authenticate Accord, it never decides what an agency sees.

use std::{fmt, time::Duration};

use secrecy::SecretString;
use url::Url;

use super::retry::RetryPolicy;
use crate::IndexError;

/// The configuration of an [`OpenSearchIndex`](super::OpenSearchIndex).
#[derive(Clone)]
pub struct OpenSearchConfig {
    /// The node or load balancer, `http://` or `https://`.
    pub url: Url,
    /// The prefix of index and template names.
    pub prefix: String,
    /// Primary shards of the views index (set at index creation).
    pub shards: u32,
    /// Replicas of each shard (set at index creation; 0 on a single node).
    pub replicas: u32,
    /// The timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Retries of requests and bulk items.
    pub retry: RetryPolicy,
    /// The largest bulk request body; bigger batches are split.
    pub bulk_max_bytes: usize,
    /// The most searches in one `_msearch` request; bigger lookups are split.
    pub msearch_max_searches: usize,
    /// The most hits one `_msearch` request may ask for (searches × hits per search): a lookup asks for document
    /// ids only, then reads each distinct view once with `_mget`.
    pub msearch_max_hits: usize,
    /// The most views one `_mget` request reads (a view holds up to 10 000 indicators).
    pub mget_max_docs: usize,
    /// The views index's `index.max_result_window` (set in the template; at most `from + size` hits per search):
    /// deeper pages are reached with `search_after` over a point in time.
    pub max_result_window: usize,
    /// Whether this process installs the index templates and creates the indices (the indexer and admin tools);
    /// a read-only process (search) only reads and needs read rights only (see `docs/deployment.md`).
    pub manage_indices: bool,
    /// HTTP basic auth (user, password); the password never prints.
    pub(crate) credentials: Option<(String, SecretString)>,
}

impl fmt::Debug for OpenSearchConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenSearchConfig")
            .field("url", &self.url.as_str())
            .field("prefix", &self.prefix)
            .field("shards", &self.shards)
            .field("replicas", &self.replicas)
            .field("request_timeout", &self.request_timeout)
            .field("retry", &self.retry)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The default prefix of index and template names.
pub const DEFAULT_PREFIX: &str = "accord";

impl OpenSearchConfig {
    /// Returns the default configuration for the node at `url` (`http://` or `https://`, no credentials).
    pub fn new(url: Url) -> Self {
        Self {
            url,
            prefix: DEFAULT_PREFIX.to_owned(),
            shards: 1,
            replicas: 1,
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            bulk_max_bytes: 8 * 1024 * 1024,
            msearch_max_searches: 100,
            msearch_max_hits: 10_000,
            mget_max_docs: 500,
            max_result_window: 10_000,
            manage_indices: true,
            credentials: None,
        }
    }

    /// Parses an index URL (`opensearch://` or `opensearch+https://`, see the module docs).
    ///
    /// # Errors
    /// Returns [`IndexError::InvalidUrl`] for another scheme, a missing host, an unknown or malformed parameter, or
    /// a prefix that is not a valid index name.
    pub fn from_url(index_url: &str) -> Result<Self, IndexError> {
        let invalid = || IndexError::InvalidUrl(redact(index_url));
        let (scheme, rest) = if let Some(rest) = index_url.strip_prefix("opensearch+https://") {
            ("https", rest)
        } else if let Some(rest) = index_url.strip_prefix("opensearch+http://") {
            ("http", rest)
        } else if let Some(rest) = index_url.strip_prefix("opensearch://") {
            ("http", rest)
        } else {
            return Err(invalid());
        };
        let mut url = Url::parse(&format!("{scheme}://{rest}")).map_err(|_| invalid())?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid());
        }
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some((
                percent_decode(url.username()),
                SecretString::from(percent_decode(url.password().unwrap_or_default())),
            ))
        };
        if credentials.is_some() && scheme != "https" {
            return Err(IndexError::InvalidUrl(format!(
                "{}: credentials are sent over TLS only; write the index url (`--index`, ACCORD_INDEX) as \
                 opensearch+https://USER:PASSWORD@HOST:PORT",
                redact(index_url)
            )));
        }
        let mut config = Self::new(url.clone());
        config.credentials = credentials;
        for (key, value) in url.query_pairs() {
            match &*key {
                "prefix" => config.prefix = value.into_owned(),
                "shards" => config.shards = value.parse().map_err(|_| invalid())?,
                "replicas" => config.replicas = value.parse().map_err(|_| invalid())?,
                "manage" => config.manage_indices = value.parse().map_err(|_| invalid())?,
                "timeout_ms" => {
                    config.request_timeout =
                        Duration::from_millis(value.parse().map_err(|_| invalid())?)
                }
                _ => return Err(invalid()),
            }
        }
        if !is_valid_prefix(&config.prefix) || config.shards == 0 {
            return Err(invalid());
        }
        url.set_query(None);
        // The credentials travel in the Authorization header, not in the URL the client logs.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        config.url = url;
        Ok(config)
    }

    /// Returns the configuration with these credentials for HTTP basic auth.
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some((user.into(), SecretString::from(password.into())));
        self
    }
}

/// Returns whether `prefix` makes valid OpenSearch index names: lowercase letters, digits, `-` and `_`, starting with
/// a letter or digit, at most 200 bytes.
pub fn is_valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty()
        && prefix.len() <= 200
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && prefix
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Returns `encoded` with its `%XX` escapes decoded (URL user info), leaving malformed escapes as they are.
fn percent_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut position = 0;
    while position < bytes.len() {
        let escape = bytes
            .get(position + 1..position + 3)
            .filter(|_| bytes[position] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                position += 3;
            }
            None => {
                decoded.push(bytes[position]);
                position += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Returns `url` with any password replaced, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://<redacted>@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn plain_url_is_http_with_defaults() {
        let config = OpenSearchConfig::from_url("opensearch://opensearch:9200").unwrap();
        assert_eq!(config.url.as_str(), "http://opensearch:9200/");
        assert_eq!(config.prefix, "accord");
        assert_eq!((config.shards, config.replicas), (1, 1));
        assert!(config.credentials.is_none());
    }

    #[test]
    fn https_url_carries_credentials_and_parameters() {
        let config = OpenSearchConfig::from_url(
            "opensearch+https://accord:s%40cret@search.example:443/os?prefix=prod-1&shards=3&replicas=2&timeout_ms=500",
        )
        .unwrap();
        assert_eq!(config.url.as_str(), "https://search.example/os");
        assert_eq!(config.prefix, "prod-1");
        assert_eq!((config.shards, config.replicas), (3, 2));
        assert_eq!(config.request_timeout, Duration::from_millis(500));
        let exposed = |config: &OpenSearchConfig| {
            config
                .credentials
                .as_ref()
                .map(|(user, password)| (user.clone(), password.expose_secret().to_owned()))
        };
        assert_eq!(
            exposed(&config),
            Some(("accord".to_owned(), "s@cret".to_owned()))
        );
        assert!(!format!("{config:?}").contains("cret"));
        let plus = OpenSearchConfig::from_url("opensearch+https://u:a+b%2Bc@host").unwrap();
        assert_eq!(exposed(&plus), Some(("u".to_owned(), "a+b+c".to_owned())));
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_passwords() {
        for bad in [
            "tantivy:///data",
            "opensearch://",
            "opensearch://host:9200?prefix=Upper",
            "opensearch://host:9200?prefix=-dash",
            "opensearch://host:9200?shards=0",
            "opensearch://host:9200?replicas=many",
            "opensearch://host:9200?typo=1",
            "opensearch://host:9200?manage=maybe",
        ] {
            assert!(
                matches!(
                    OpenSearchConfig::from_url(bad),
                    Err(IndexError::InvalidUrl(_))
                ),
                "{bad}"
            );
        }
        let Err(IndexError::InvalidUrl(shown)) =
            OpenSearchConfig::from_url("opensearch+https://u:hunter2@host?typo=1")
        else {
            panic!("accepted a typo")
        };
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn credentials_without_tls_are_refused_naming_the_setting() {
        for plain in [
            "opensearch://accord:hunter2@search.example:9200",
            "opensearch+http://accord:hunter2@search.example:9200",
        ] {
            let Err(IndexError::InvalidUrl(shown)) = OpenSearchConfig::from_url(plain) else {
                panic!("accepted credentials over plain http: {plain}")
            };
            assert!(
                shown.contains("TLS") && shown.contains("ACCORD_INDEX"),
                "{shown}"
            );
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let config =
            OpenSearchConfig::from_url("opensearch://search.example:9200?manage=false").unwrap();
        assert!(!config.manage_indices && config.credentials.is_none());
    }
}
