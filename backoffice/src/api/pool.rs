//! Request workers: each a [`Backoffice`] and an [`ApiStore`] on their own SQLite connections,
//! used by one blocking task at a time. A semaphore bounds how many run at once; idle workers
//! are kept for the next request, new ones opened on demand up to the bound.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Semaphore;

use super::store::ApiStore;
use crate::backoffice::{Backoffice, Config};
use crate::clock::Clock;
use crate::ism::IssuerSecurityModule;

/// One worker's connections.
pub(crate) struct Worker {
    pub(crate) bo: Backoffice,
    pub(crate) store: ApiStore,
}

/// Why a job did not run.
#[derive(Debug)]
pub(crate) enum PoolError {
    /// A worker could not be opened.
    Open(crate::Error),
    /// The job panicked (the worker was discarded).
    Panicked,
    /// The runtime is shutting down.
    Closed,
}

pub(crate) struct Pool {
    ledger: PathBuf,
    ism: Arc<IssuerSecurityModule>,
    config: Config,
    clock: Arc<dyn Clock>,
    idle: Mutex<Vec<Worker>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    pub(crate) fn new(
        ledger: PathBuf,
        ism: Arc<IssuerSecurityModule>,
        config: Config,
        clock: Arc<dyn Clock>,
        workers: usize,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            ledger,
            ism,
            config,
            clock,
            idle: Mutex::new(Vec::with_capacity(workers)),
            permits: Arc::new(Semaphore::new(workers)),
        })
    }

    /// Opens a new worker on the ledger.
    pub(crate) fn open_worker(&self) -> crate::Result<Worker> {
        let bo = super::open_backoffice(
            &self.ledger,
            self.ism.clone(),
            &self.config,
            self.clock.clone(),
        )?;
        let store = ApiStore::open(&self.ledger)?;
        Ok(Worker { bo, store })
    }

    /// Returns a worker for reuse.
    pub(crate) fn put(&self, worker: Worker) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(worker);
    }

    fn take(&self) -> Option<Worker> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// Runs `job` on a worker in a blocking task.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, job: F) -> Result<T, PoolError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Worker) -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PoolError::Closed)?;
        let pool = self.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let mut worker = match pool.take() {
                Some(worker) => worker,
                None => pool.open_worker().map_err(PoolError::Open)?,
            };
            match catch_unwind(AssertUnwindSafe(|| job(&mut worker))) {
                Ok(value) => {
                    pool.put(worker);
                    Ok(value)
                }
                Err(_) => Err(PoolError::Panicked),
            }
        })
        .await;
        joined.map_err(|_| PoolError::Closed)?
    }
}
