//! Single flight: concurrent misses for one key are one call to `init`; its outcome,
//! error included, is shared with every waiter, and a waiter takes over if the leader
//! gives up.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use super::key::KeyHashBuilder;
use super::{Cached, Lookup, Outcome, TokenCache, TokenKey};

pub(super) enum Role<V> {
    Lead(watch::Sender<Outcome<V>>),
    Wait(watch::Receiver<Outcome<V>>),
}

/// The leader's side of a single flight: publishes the outcome, and if dropped first
/// (its caller gave up), removes the flight so a waiter takes over.
pub(super) struct Flight<'a, V> {
    flights: &'a Mutex<HashMap<TokenKey, watch::Receiver<Outcome<V>>, KeyHashBuilder>>,
    key: TokenKey,
    sender: Option<watch::Sender<Outcome<V>>>,
}

impl<V> Flight<'_, V> {
    fn finish(mut self, outcome: Result<V, Arc<dyn Any + Send + Sync>>) {
        lock(self.flights).remove(&self.key);
        if let Some(sender) = self.sender.take() {
            sender.send_replace(Some(outcome));
        }
    }
}

impl<V> Drop for Flight<'_, V> {
    fn drop(&mut self) {
        if self.sender.is_some() {
            // Abandoned: waiters see the channel close with no outcome and retry.
            lock(self.flights).remove(&self.key);
        }
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map is consistent between statements; a panic elsewhere does not poison it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<V: Clone + Send + Sync + 'static> TokenCache<V> {
    /// The cached value for `key`, or the result of `init`, cached until the time it
    /// gives (capped by the maximum lifetime). Concurrent calls for the same key while
    /// `init` runs wait for that one call (single flight) and share its result; errors
    /// are shared too, as `Arc<E>`, and never cached. If the call running `init` is
    /// dropped before it ends, a waiting call runs its own `init` instead.
    ///
    /// # Errors
    /// The error of `init`.
    pub async fn get_or_try_insert_with<F, E>(&self, key: TokenKey, init: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<Cached<V>, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(value) = self.get(&key) {
            return Ok(value);
        }
        self.try_insert_with(key, init).await
    }

    /// [`TokenCache::get_or_try_insert_with`] for a caller that has just looked `key` up
    /// and found nothing (so the lookup is counted once): joins or leads the single
    /// flight for it.
    ///
    /// # Errors
    /// The error of `init`.
    pub async fn try_insert_with<F, E>(&self, key: TokenKey, init: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<Cached<V>, E>>,
        E: Send + Sync + 'static,
    {
        let inner = &*self.inner;
        loop {
            let role = {
                let mut flights = lock(&inner.flights);
                // A flight that just ended stored its value before leaving the map.
                if let Lookup::Hit(value) = self.lookup(&key, inner.clock.now()) {
                    return Ok(value);
                }
                match flights.get(&key) {
                    Some(receiver) => Role::Wait(receiver.clone()),
                    None => {
                        let (sender, receiver) = watch::channel(None);
                        flights.insert(key, receiver);
                        Role::Lead(sender)
                    }
                }
            };
            let mut waiting = match role {
                Role::Lead(sender) => {
                    let flight = Flight {
                        flights: &inner.flights,
                        key,
                        sender: Some(sender),
                    };
                    return self.lead(flight, init).await;
                }
                Role::Wait(receiver) => receiver,
            };
            let shared = match waiting.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone(),
                // The leader gave up: look again, perhaps lead.
                Err(_) => continue,
            };
            match shared {
                Some(Ok(value)) => return Ok(value),
                Some(Err(error)) => match error.downcast::<E>() {
                    Ok(error) => return Err(error),
                    // Another error type for the same key (another caller's `init`):
                    // nothing to share (errors are not cached), so look again, perhaps
                    // lead with this call's own `init`.
                    Err(_) => continue,
                },
                None => continue,
            }
        }
    }

    async fn lead<F, E>(&self, flight: Flight<'_, V>, init: F) -> Result<V, Arc<E>>
    where
        F: Future<Output = Result<Cached<V>, E>>,
        E: Send + Sync + 'static,
    {
        match init.await {
            Ok(cached) => {
                let value = cached.value.clone();
                self.insert(flight.key, cached);
                flight.finish(Ok(value.clone()));
                Ok(value)
            }
            Err(error) => {
                let error = Arc::new(error);
                let shared: Arc<dyn Any + Send + Sync> = error.clone();
                flight.finish(Err(shared));
                Err(error)
            }
        }
    }
}
