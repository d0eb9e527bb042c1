//! [`RedisStoreBuilder`]: where the store is and how long to wait for it, checked when
//! built, with nothing connected yet.

use std::fmt;
use std::time::Duration;

use portcullis_issuer::{ConfigError, Secret};

use crate::store::RedisStore;

/// The default prefix of every key and channel: `portcullis:`.
pub const DEFAULT_KEY_PREFIX: &str = "portcullis:";
/// The default time a connection attempt may take: 1 second.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The default time one command may take before the request goes on without the store
/// (DPoP: 503; introspection: the authorization server is asked): 250 milliseconds.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(250);
/// The default interval of the health check (`PING`) that also finds a dead
/// connection while nothing else is sent: 1 second.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// The default longest wait between two reconnection attempts: 5 seconds.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Configures a [`RedisStore`]. Built with [`RedisStore::builder`].
#[must_use]
pub struct RedisStoreBuilder {
    pub(crate) url: String,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Secret>,
    pub(crate) key_prefix: String,
    pub(crate) connect_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) health_interval: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) ca_certificate: Option<Vec<u8>>,
}

impl RedisStoreBuilder {
    pub(crate) fn new(url: String) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url,
            username: None,
            password: None,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            health_interval: DEFAULT_HEALTH_INTERVAL,
            max_backoff: DEFAULT_MAX_BACKOFF,
            ca_certificate: None,
        }
    }

    /// The ACL user (Redis 6+). Defaults to the URL's, else the default user.
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password ([`Secret::from_env`], [`Secret::from_file`]). Defaults to none.
    /// Never in the URL: URLs end up in logs and process listings.
    pub fn password(mut self, password: Secret) -> Self {
        self.password = Some(password);
        self
    }

    /// The prefix of every key and channel, so several deployments can share one
    /// server. Defaults to `portcullis:`.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long a connection attempt may take. Defaults to 1 second.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one command may take. Defaults to 250 milliseconds.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How often the connection is checked while idle. Defaults to 1 second.
    pub fn health_interval(mut self, interval: Duration) -> Self {
        self.health_interval = interval;
        self
    }

    /// The longest wait between reconnection attempts (they back off from 50 ms).
    /// Defaults to 5 seconds.
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The certificate authority (PEM) that signed the server's certificate, for
    /// `rediss://` to a server with a private CA; it replaces the system's and the
    /// webpki roots. Defaults to those roots.
    pub fn ca_certificate(mut self, pem: Vec<u8>) -> Self {
        self.ca_certificate = Some(pem);
        self
    }

    /// Checks the settings. Connects to nothing: [`RedisStore::start`] does.
    ///
    /// # Errors
    /// A URL that is not `redis://` or `rediss://` (or `rediss://` in a build without
    /// the `tls` feature), a password in the URL, a zero timeout or interval, or a key
    /// prefix longer than 64 bytes or with whitespace.
    pub fn build(self) -> Result<RedisStore, ConfigError> {
        let tls = if self.url.starts_with("rediss://") {
            true
        } else if self.url.starts_with("redis://") {
            false
        } else {
            return Err(ConfigError::for_setting(
                "url",
                "the store URL must start with redis:// or rediss:// (TLS)",
            ));
        };
        if tls && !cfg!(feature = "tls") {
            return Err(ConfigError::for_setting(
                "url",
                "rediss:// needs portcullis-redis built with its `tls` feature",
            ));
        }
        if self.ca_certificate.is_some() && !tls {
            return Err(ConfigError::for_setting(
                "ca_certificate",
                "a CA certificate is for rediss:// (TLS) URLs only",
            ));
        }
        if url_has_password(&self.url) {
            return Err(ConfigError::for_setting(
                "url",
                "the store URL carries a password: give it separately (an environment \
                 variable or a file), URLs end up in logs",
            ));
        }
        for (setting, value) in [
            ("connect_timeout", self.connect_timeout),
            ("response_timeout", self.response_timeout),
            ("health_interval", self.health_interval),
            ("max_backoff", self.max_backoff),
        ] {
            if value.is_zero() {
                return Err(ConfigError::for_setting(setting, "must be above zero"));
            }
        }
        if self.key_prefix.len() > 64 || self.key_prefix.contains(char::is_whitespace) {
            return Err(ConfigError::for_setting(
                "key_prefix",
                "a key prefix has at most 64 bytes and no whitespace",
            ));
        }
        RedisStore::from_settings(self)
    }
}

impl fmt::Debug for RedisStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A URL with a password is refused by `build`, but may be printed before.
        let url = if url_has_password(&self.url) {
            "(a URL with a password)"
        } else {
            &self.url
        };
        f.debug_struct("RedisStoreBuilder")
            .field("url", &url)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("health_interval", &self.health_interval)
            .field("max_backoff", &self.max_backoff)
            .field("ca_certificate", &self.ca_certificate.is_some())
            .finish()
    }
}

/// Whether `url` has a password in its userinfo (`redis://user:password@host`).
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn refused(builder: RedisStoreBuilder) -> Option<&'static str> {
        builder.build().err().and_then(|e| e.setting())
    }

    #[test]
    fn urls_are_checked() {
        assert!(
            RedisStore::builder("redis://127.0.0.1:6379/0")
                .build()
                .is_ok()
        );
        assert!(
            RedisStore::builder("redis://portcullis@10.0.0.1")
                .build()
                .is_ok()
        );
        for url in [
            "http://127.0.0.1",
            "unix:///tmp/redis.sock",
            "127.0.0.1:6379",
            "",
        ] {
            assert_eq!(refused(RedisStore::builder(url)), Some("url"), "{url}");
        }
        assert_eq!(
            refused(RedisStore::builder("redis://user:hunter2@host/0")),
            Some("url")
        );
        assert_eq!(
            refused(RedisStore::builder("redis://:hunter2@host")),
            Some("url")
        );
    }

    #[test]
    fn settings_are_checked() {
        let base = || RedisStore::builder("redis://127.0.0.1");
        assert_eq!(
            refused(base().response_timeout(Duration::ZERO)),
            Some("response_timeout")
        );
        assert_eq!(
            refused(base().connect_timeout(Duration::ZERO)),
            Some("connect_timeout")
        );
        assert_eq!(refused(base().key_prefix("a b")), Some("key_prefix"));
        assert_eq!(
            refused(base().key_prefix("x".repeat(65))),
            Some("key_prefix")
        );
        assert!(base().key_prefix("").build().is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let builder = RedisStore::builder("redis://h").password(Secret::new("hunter2"));
        assert!(!format!("{builder:?}").contains("hunter2"));
        let builder = RedisStore::builder("redis://u:hunter2@h");
        assert!(!format!("{builder:?}").contains("hunter2"));
    }
}
