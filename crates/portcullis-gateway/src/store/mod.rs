//! The store shared by replicas (`[store]`), running: started when the gateway binds,
//! reported on `/readyz` and `/metrics`, and written by the admin endpoint
//! (`POST /admin/revocations` on the operations listener, [`admin`]).
//!
//! The rules live in the libraries (`portcullis-issuer`'s `Revocations` and shared
//! tier, `portcullis-redis`); this module starts them and renders what they report.

use std::fmt::Write as _;

use portcullis_issuer::{Revocations, Revoked};

use crate::config::StoreConfig;

mod admin;

/// The running store.
#[derive(Debug)]
pub(crate) struct SharedStore {
    config: StoreConfig,
    revocations: Revocations,
    #[cfg(feature = "redis")]
    pushed: portcullis_redis::RedisRevocations,
}

/// Why a revocation was not applied everywhere.
pub(crate) enum Unshared {
    /// Not applied at all: the set is full.
    Full,
    /// Applied on this replica only.
    HereOnly,
}

impl SharedStore {
    /// Starts connecting and listening for revocations, in the background. Must run
    /// inside a tokio runtime.
    pub(crate) fn start(config: &StoreConfig) -> SharedStore {
        let revocations = Revocations::new(config.keys.clone());
        #[cfg(feature = "redis")]
        let pushed = {
            let runtime = tokio::runtime::Handle::current();
            config.store.start(&runtime);
            let pushed =
                portcullis_redis::RedisRevocations::new(config.store.clone(), revocations.clone());
            pushed.start(&runtime);
            pushed
        };
        SharedStore {
            config: config.clone(),
            revocations,
            #[cfg(feature = "redis")]
            pushed,
        }
    }

    /// The revocations in force on this replica.
    pub(crate) fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// Revokes what `revoked` names for the configured lifetime (or `ttl`): here at
    /// once, and on every replica through the store.
    pub(crate) async fn revoke(
        &self,
        revoked: Revoked,
        ttl: Option<std::time::Duration>,
    ) -> Result<(), Unshared> {
        let until = std::time::SystemTime::now() + ttl.unwrap_or(self.config.revocation_ttl);
        #[cfg(feature = "redis")]
        {
            use portcullis_redis::RevokeError;
            self.pushed
                .revoke(revoked, until)
                .await
                .map_err(|e| match e {
                    RevokeError::Full => Unshared::Full,
                    _ => Unshared::HereOnly,
                })
        }
        #[cfg(not(feature = "redis"))]
        {
            self.revocations
                .revoke(&revoked, until)
                .map_err(|_| Unshared::Full)?;
            Err(Unshared::HereOnly)
        }
    }

    /// The line `/readyz` adds. The store's state does not decide readiness: every
    /// replica shares the store, so taking them all out of rotation when it is down
    /// would turn refused DPoP requests into a complete outage.
    pub(crate) fn readiness(&self) -> &'static str {
        if self.connected() {
            "store: connected\n"
        } else {
            "store: unreachable (DPoP requests refused with 503, introspection asks the issuer, revocations not shared)\n"
        }
    }

    fn connected(&self) -> bool {
        #[cfg(feature = "redis")]
        return self.config.store.is_connected();
        #[cfg(not(feature = "redis"))]
        false
    }

    /// The store's metrics, in the Prometheus text format.
    pub(crate) fn render_metrics(&self, out: &mut String) {
        #[cfg(feature = "redis")]
        {
            let health = self.config.store.health();
            let gauge = |out: &mut String, name: &str, help: &str, kind: &str, value: String| {
                let _ = write!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
                );
            };
            gauge(
                out,
                "portcullis_gateway_store_up",
                "Whether the shared store is connected (1) or not (0).",
                "gauge",
                u8::from(health.connected).to_string(),
            );
            gauge(
                out,
                "portcullis_gateway_store_connections_total",
                "Connections to the shared store established.",
                "counter",
                health.connections.to_string(),
            );
            gauge(
                out,
                "portcullis_gateway_store_errors_total",
                "Store commands and connection attempts that failed (not connected, timed out, refused).",
                "counter",
                health.errors.to_string(),
            );
            let _ = write!(
                out,
                "# HELP portcullis_gateway_store_command_seconds Round trips of answered store commands.\n\
                 # TYPE portcullis_gateway_store_command_seconds summary\n\
                 portcullis_gateway_store_command_seconds_sum {}\n\
                 portcullis_gateway_store_command_seconds_count {}\n",
                health.latency_total.as_secs_f64(),
                health.commands
            );
            gauge(
                out,
                "portcullis_gateway_store_last_command_seconds",
                "The last answered store command's round trip.",
                "gauge",
                health.last_latency.as_secs_f64().to_string(),
            );
            gauge(
                out,
                "portcullis_gateway_store_revocations_subscribed",
                "Whether the revocation channel is listened to (1) or not (0).",
                "gauge",
                u8::from(self.pushed.is_subscribed()).to_string(),
            );
        }
        let _ = write!(
            out,
            "# HELP portcullis_gateway_store_revocations Revocations in force on this replica.\n\
             # TYPE portcullis_gateway_store_revocations gauge\n\
             portcullis_gateway_store_revocations {}\n",
            self.revocations.len()
        );
    }

    /// The bearer secret of the admin endpoint, when configured.
    pub(crate) fn admin_token(&self) -> Option<&portcullis_issuer::Secret> {
        self.config.admin_token.as_ref()
    }
}

pub(crate) use admin::{ADMIN_PATH, handle_admin};
