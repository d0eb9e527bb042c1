//! [`RedisSharedTier`]: introspection results shared by replicas.

use std::time::Duration;

use portcullis_issuer::{SharedTier, SharedTierError, SharedTierFuture, TokenHash};

use crate::store::RedisStore;

/// A [`SharedTier`] on Redis: records under `{prefix}introspection:` and the token's
/// hash in hexadecimal (`MGET` to read the current and previous secret's keys in one
/// round trip, `SET ... PX` to write), expiring with the record.
#[derive(Clone, Debug)]
pub struct RedisSharedTier {
    store: RedisStore,
}

impl RedisSharedTier {
    /// Records kept in `store`.
    pub fn new(store: RedisStore) -> RedisSharedTier {
        RedisSharedTier { store }
    }
}

fn unavailable(error: crate::StoreError) -> SharedTierError {
    SharedTierError::new(error.reason())
}

impl SharedTier for RedisSharedTier {
    fn get(&self, hashes: &[TokenHash]) -> SharedTierFuture<Vec<Option<Vec<u8>>>> {
        let state = self.store.state().clone();
        let mut command = redis::cmd("MGET");
        for hash in hashes {
            command.arg(state.key(&format!("introspection:{}", hash.to_hex())));
        }
        Box::pin(async move {
            state
                .query::<Vec<Option<Vec<u8>>>>(&command)
                .await
                .map_err(unavailable)
        })
    }

    fn put(&self, hash: TokenHash, record: Vec<u8>, ttl: Duration) -> SharedTierFuture<()> {
        let state = self.store.state().clone();
        let mut command = redis::cmd("SET");
        command
            .arg(state.key(&format!("introspection:{}", hash.to_hex())))
            .arg(record)
            .arg("PX")
            // Rounded down: a record never outlives its time (at least 1 ms).
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
        Box::pin(async move { state.query::<()>(&command).await.map_err(unavailable) })
    }
}
