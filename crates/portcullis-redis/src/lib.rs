//! Portcullis state shared by replicas, on Redis (or Valkey: the same protocol).
//!
//! One gateway or service process is rarely how it runs: behind a load balancer, 3 to
//! 30 replicas each keep their own caches. What must be shared lives here:
//!
//! - [`RedisProofReplayStore`]: DPoP proofs (RFC 9449 §11.1), one atomic
//!   `SET NX PX` per proof, so a proof replayed to any replica is refused. When the
//!   store cannot answer, DPoP requests fail closed (503 with `Retry-After`).
//! - [`RedisSharedTier`]: introspection results under each replica's in-process cache
//!   ([`portcullis_issuer::shared_tier`]), so one replica's call to the authorization
//!   server serves all; records are authenticated with the replicas' shared secret.
//!   When the store cannot answer, the replica asks the authorization server.
//! - [`RedisRevocations`]: revocations by token hash, `jti`, `sub` or `client_id`
//!   pushed to every replica (a sorted set and a pub/sub channel), applied to each
//!   replica's [`Revocations`](portcullis_issuer::Revocations) within a round trip.
//!
//! All three go through one [`RedisStore`]: a URL, credentials given apart from it,
//! timeouts, and a connection kept by a supervisor task (backoff, health checks).
//! Tokens never reach the store: keys are keyed hashes
//! ([`SharedKeys`](portcullis_issuer::SharedKeys)).
//!
//! ```no_run
//! use portcullis_issuer::{Secret, SharedKeys};
//! use portcullis_redis::{RedisProofReplayStore, RedisSharedTier, RedisStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::builder("rediss://redis.internal:6380/0")
//!     .username("portcullis")
//!     .password(Secret::from_env("REDIS_PASSWORD")?)
//!     .build()?;
//! store.start(&tokio::runtime::Handle::current());
//! let keys = SharedKeys::new(Secret::from_file("/run/secrets/store-key".as_ref())?.expose().as_bytes())?;
//! let replay = RedisProofReplayStore::new(store.clone()); // DpopPolicyBuilder::replay_store
//! let tier = RedisSharedTier::new(store.clone()); // IntrospectionVerifierBuilder::shared_tier(tier, keys)
//! # let _ = (replay, tier, keys);
//! # Ok(()) }
//! ```
//!
//! What is guaranteed when the store is slow or down: `docs/redis.md`.

mod health;
mod replay;
mod revocations;
mod settings;
mod store;
mod task;
mod tier;

pub use health::StoreHealth;
pub use replay::RedisProofReplayStore;
pub use revocations::{MAX_REVOKED_VALUE, RedisRevocations, RevokeError};
pub use settings::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_HEALTH_INTERVAL, DEFAULT_KEY_PREFIX, DEFAULT_MAX_BACKOFF,
    DEFAULT_RESPONSE_TIMEOUT, RedisStoreBuilder,
};
pub use store::{RedisStore, StoreError};
pub use tier::RedisSharedTier;
