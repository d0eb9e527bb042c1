//! [`RedisRevocations`]: revocations pushed to every replica through Redis.
//!
//! A revocation is written to a sorted set (`{prefix}revocations`: the member names
//! what is revoked, the score is until when, in milliseconds since the epoch; entries
//! past their time are trimmed, and the set expires with its last entry) and published
//! on the channel of the same name, in one transaction (Redis 7 or Valkey). Every replica
//! subscribes to the channel and applies what it hears to its [`Revocations`] at once;
//! each time it (re)subscribes, it first reads the whole set, so what was published
//! while it was disconnected is not missed.
//!
//! A message, and a member of the set, is `KIND VALUE` with `KIND` one of `token`
//! (`VALUE`: the token's [`SharedKeys`](portcullis_issuer::SharedKeys) hash in
//! hexadecimal), `jti`, `sub` or `client_id`; a message is prefixed with the time in
//! milliseconds: `UNTIL_MS KIND VALUE`. An authorization server's hook can publish the
//! same thing (`ZADD` then `PUBLISH`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::task::BackgroundTask;
use futures_util::StreamExt as _;
use portcullis_issuer::{Revocations, RevocationsFull, Revoked, TokenHash};
use tokio::sync::watch;

use crate::store::{RedisStore, StoreError};

/// The longest value a revocation names (a `sub`, `jti` or `client_id`): 1,024 bytes.
pub const MAX_REVOKED_VALUE: usize = 1024;

/// Why a revocation did not reach every replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeError {
    /// The local set is full: not applied anywhere.
    Full,
    /// Applied on this replica only: the store could not be written.
    NotShared(StoreError),
}

impl fmt::Display for RevokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RevokeError::Full => f.write_str("the revocation set is full"),
            RevokeError::NotShared(error) => {
                write!(f, "applied on this replica only: {error}")
            }
        }
    }
}

impl std::error::Error for RevokeError {}

impl From<RevocationsFull> for RevokeError {
    fn from(_: RevocationsFull) -> Self {
        RevokeError::Full
    }
}

/// Revocations shared through Redis. Cheap to clone; the subscriber stops when the
/// last clone is dropped.
#[derive(Clone)]
pub struct RedisRevocations {
    inner: Arc<Inner>,
}

struct Inner {
    store: RedisStore,
    revocations: Revocations,
    subscribed: Arc<watch::Sender<bool>>,
    subscriber: BackgroundTask,
}

impl RedisRevocations {
    /// Revocations heard on `store`'s channel applied to `revocations`.
    pub fn new(store: RedisStore, revocations: Revocations) -> RedisRevocations {
        RedisRevocations {
            inner: Arc::new(Inner {
                store,
                revocations,
                subscribed: Arc::new(watch::Sender::new(false)),
                subscriber: BackgroundTask::default(),
            }),
        }
    }

    /// The local set.
    pub fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// Starts listening (in the background, on `runtime`), resubscribing after every
    /// disconnection. Calling it again does nothing.
    pub fn start(&self, runtime: &tokio::runtime::Handle) {
        let inner = &self.inner;
        inner.subscriber.start_once(runtime, || {
            listen(
                inner.store.clone(),
                inner.revocations.clone(),
                inner.subscribed.clone(),
            )
        });
    }

    /// Whether the channel is listened to now.
    pub fn is_subscribed(&self) -> bool {
        *self.inner.subscribed.borrow()
    }

    /// Waits until the channel is listened to (and the set loaded), for at most
    /// `timeout`; whether it is. For start-up checks and tests.
    pub async fn subscribed_within(&self, timeout: std::time::Duration) -> bool {
        let mut subscribed = self.inner.subscribed.subscribe();
        tokio::time::timeout(timeout, subscribed.wait_for(|s| *s))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Revokes what `revoked` names until `until`: on this replica at once, then on
    /// every other one through the store.
    ///
    /// # Errors
    /// [`RevokeError::Full`] (nowhere), or [`RevokeError::NotShared`] (here only: the
    /// caller should retry, or revoke on every replica).
    pub async fn revoke(&self, revoked: Revoked, until: SystemTime) -> Result<(), RevokeError> {
        self.inner.revocations.revoke(&revoked, until)?;
        let state = self.inner.store.state();
        let key = state.key("revocations");
        let until_ms = unix_ms(until);
        let member = member(&revoked);
        let mut pipeline = redis::pipe();
        pipeline
            .atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(unix_ms(SystemTime::now()))
            .ignore()
            .cmd("ZADD")
            .arg(&key)
            .arg("GT")
            .arg(until_ms)
            .arg(&member)
            .ignore()
            // The set itself goes when its last entry does (Redis 7: NX sets a first
            // expiry, GT only extends it).
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(until_ms)
            .arg("NX")
            .ignore()
            .cmd("PEXPIREAT")
            .arg(&key)
            .arg(until_ms)
            .arg("GT")
            .ignore()
            .cmd("PUBLISH")
            .arg(&key)
            .arg(format!("{until_ms} {member}"))
            .ignore();
        state
            .query_pipeline::<()>(&pipeline)
            .await
            .map_err(RevokeError::NotShared)
    }
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `KIND VALUE`.
fn member(revoked: &Revoked) -> String {
    match revoked {
        Revoked::Token(hash) => format!("token {}", hash.to_hex()),
        Revoked::JwtId(jti) => format!("jti {jti}"),
        Revoked::Subject(sub) => format!("sub {sub}"),
        Revoked::ClientId(client_id) => format!("client_id {client_id}"),
        // `Revoked` is non-exhaustive; a kind this crate does not know is not shared.
        _ => String::new(),
    }
}

/// Reads `KIND VALUE`; `None` for anything else.
pub(crate) fn parse_member(member: &str) -> Option<Revoked> {
    let (kind, value) = member.split_once(' ')?;
    if value.is_empty() || value.len() > MAX_REVOKED_VALUE {
        return None;
    }
    Some(match kind {
        "token" => Revoked::Token(TokenHash::from_hex(value)?),
        "jti" => Revoked::JwtId(value.to_owned()),
        "sub" => Revoked::Subject(value.to_owned()),
        "client_id" => Revoked::ClientId(value.to_owned()),
        _ => return None,
    })
}

/// Reads `UNTIL_MS KIND VALUE`.
fn parse_message(message: &str) -> Option<(Revoked, SystemTime)> {
    let (until, member) = message.split_once(' ')?;
    let until = UNIX_EPOCH.checked_add(Duration::from_millis(until.parse().ok()?))?;
    Some((parse_member(member)?, until))
}

fn apply(revocations: &Revocations, revoked: &Revoked, until: SystemTime) {
    if let Err(error) = revocations.revoke(revoked, until) {
        tracing::error!(%error, "a pushed revocation could not be applied");
    }
}

/// Subscribes, loads the set, applies what is heard; again after every disconnection.
async fn listen(store: RedisStore, revocations: Revocations, subscribed: Arc<watch::Sender<bool>>) {
    let state = store.state().clone();
    let channel = state.key("revocations");
    let mut backoff = Duration::from_millis(50);
    loop {
        let connected =
            tokio::time::timeout(state.connect_timeout, state.client.get_async_pubsub()).await;
        let mut pubsub = match connected {
            Ok(Ok(pubsub)) => pubsub,
            _ => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let ready = tokio::time::timeout(state.response_timeout, pubsub.subscribe(&channel)).await;
        if !matches!(ready, Ok(Ok(()))) {
            tokio::time::sleep(backoff).await;
            continue;
        }
        // Subscribed first, then the set read: a revocation published in between is
        // both heard and read, never neither.
        let mut load = redis::cmd("ZRANGE");
        load.arg(&channel)
            .arg(unix_ms(SystemTime::now()))
            .arg("+inf")
            .arg("BYSCORE")
            .arg("WITHSCORES");
        match state.query::<Vec<(String, f64)>>(&load).await {
            Ok(entries) => {
                for (member, until_ms) in entries {
                    // A score read back is untrusted: `as` saturates (NaN to 0), and the
                    // sum is checked like a pushed message's.
                    let until = UNIX_EPOCH.checked_add(Duration::from_millis(until_ms as u64));
                    match until.zip(parse_member(&member)) {
                        Some((until, revoked)) => apply(&revocations, &revoked, until),
                        None => tracing::warn!("an unreadable revocation in the store, ignored"),
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the revocation set; resubscribing");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        backoff = Duration::from_millis(50);
        subscribed.send_replace(true);
        tracing::info!("listening for revocations");
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let payload: String = match message.get_payload() {
                Ok(payload) => payload,
                Err(_) => continue,
            };
            match parse_message(&payload) {
                Some((revoked, until)) => apply(&revocations, &revoked, until),
                None => tracing::warn!("an unreadable revocation message, ignored"),
            }
        }
        subscribed.send_replace(false);
        tracing::warn!("revocation channel lost; resubscribing");
    }
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("revocations", &self.inner.revocations)
            .field("subscribed", &self.is_subscribed())
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn members_and_messages_round_trip() {
        let hash = TokenHash::from_bytes([9; 32]);
        for revoked in [
            Revoked::Token(hash),
            Revoked::JwtId("j-1".into()),
            Revoked::Subject("user with spaces".into()),
            Revoked::ClientId("app".into()),
        ] {
            assert_eq!(parse_member(&member(&revoked)), Some(revoked.clone()));
            let message = format!("1700000000000 {}", member(&revoked));
            assert_eq!(
                parse_message(&message),
                Some((
                    revoked,
                    UNIX_EPOCH + Duration::from_millis(1_700_000_000_000)
                ))
            );
        }
        for bad in ["", "jti", "jti ", "nope x", "token 00", "x jti a"] {
            assert_eq!(parse_member(bad), None, "{bad}");
        }
        assert_eq!(parse_message("soon jti a"), None);
        assert_eq!(
            parse_member(&format!("sub {}", "x".repeat(MAX_REVOKED_VALUE + 1))),
            None
        );
    }
}
