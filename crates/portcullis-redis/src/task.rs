//! A background task started at most once and stopped with its owner.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::task::AbortHandle;

/// The task a store or a subscriber runs; aborted when this is dropped.
#[derive(Default)]
pub(crate) struct BackgroundTask(Mutex<Option<AbortHandle>>);

impl BackgroundTask {
    /// Spawns `task()` on `runtime` unless it was started before.
    pub(crate) fn start_once<F>(&self, runtime: &tokio::runtime::Handle, task: impl FnOnce() -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(runtime.spawn(task()).abort_handle());
        }
    }
}

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        if let Some(task) = self
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}
