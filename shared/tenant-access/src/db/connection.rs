//! One of a tenant's connections, and the pool it goes back to.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Statement};

use super::sqlstate::query_error;
use crate::Error;

/// The most statements whose parameter types are remembered: the
/// functions' own, which are constants; past it nothing more is kept.
const MAX_KNOWN_STATEMENTS: usize = 256;

/// Each statement's parameter types, learnt from its first prepare on any
/// connection: enough to run it on a fresh connection in one round trip.
#[derive(Default)]
pub(super) struct ParamTypes(Mutex<HashMap<String, Vec<Type>>>);

impl ParamTypes {
    fn get(&self, statement: &str) -> Option<Vec<Type>> {
        self.0
            .lock()
            .expect("statement types lock poisoned")
            .get(statement)
            .cloned()
    }

    fn learn(&self, statement: &str, types: &[Type]) {
        let mut known = self.0.lock().expect("statement types lock poisoned");
        if known.len() < MAX_KNOWN_STATEMENTS || known.contains_key(statement) {
            known.insert(statement.to_owned(), types.to_vec());
        }
    }

    fn forget(&self, statement: &str) {
        self.0
            .lock()
            .expect("statement types lock poisoned")
            .remove(statement);
    }
}

/// An open connection and the statements prepared on it.
pub(super) struct Open {
    pub(super) client: Client,
    pub(super) statements: HashMap<String, Statement>,
    /// Statements run once on it without being prepared (in one round
    /// trip): the next run prepares them.
    pub(super) ran_once: std::collections::HashSet<String>,
    pub(super) opened: std::time::Instant,
    /// A statement was sent and its answer not yet read. A connection left
    /// in this state is dropped, never reused.
    pub(super) busy: bool,
    /// Its place under `DB_CONNECTION_CAPACITY`, given back when it closes.
    pub(super) _open: OwnedSemaphorePermit,
}

/// One tenant's connections: the idle ones, and permits for those in use.
pub(super) struct Pool {
    pub(super) idle: Mutex<Vec<Open>>,
    pub(super) in_use: Arc<Semaphore>,
    /// Pushed out of its budget's pools (the least recently used tenant's,
    /// for a new tenant): its connections close as they come back, never
    /// kept idle where no place-seeker can find them.
    retired: AtomicBool,
}

impl Pool {
    /// A tenant's new pool: `size` connections in use at once, or the
    /// permits `in_use` of its earlier pool still in use (pushed out of
    /// the budget, its connections not all back), so the tenant's share
    /// holds across both.
    pub(super) fn new(size: NonZeroUsize, in_use: Option<Arc<Semaphore>>) -> Arc<Self> {
        Arc::new(Pool {
            idle: Mutex::new(Vec::new()),
            in_use: in_use.unwrap_or_else(|| Arc::new(Semaphore::new(size.get()))),
            retired: AtomicBool::new(false),
        })
    }

    pub(super) fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Open>> {
        self.idle.lock().expect("connection pool lock poisoned")
    }

    /// Push the pool out of its budget: its idle connections close now
    /// (their places free), those in use when they come back. How many
    /// closed.
    pub(super) fn retire(&self) -> usize {
        self.retired.store(true, AtomicOrdering::SeqCst);
        let closed = std::mem::take(&mut *self.idle());
        closed.len()
    }

    /// Keep `open` idle for the tenant's next request, or close it if the
    /// pool is retired (checked under the idle lock, so a connection never
    /// lands in a pool after [`Pool::retire`] emptied it).
    fn give_back(&self, open: Open) {
        let mut idle = self.idle();
        if self.retired.load(AtomicOrdering::SeqCst) {
            drop(idle);
            drop(open);
        } else {
            idle.push(open);
        }
    }
}

/// Why a statement did not complete.
pub(super) enum Failure {
    Postgres(tokio_postgres::Error),
    TimedOut(Duration),
}

impl Failure {
    pub(super) fn into_error(self) -> Error {
        match self {
            Failure::Postgres(e) => query_error(e),
            Failure::TimedOut(after) => Error::Unavailable {
                service: "db",
                detail: format!("no answer to a statement within {after:?}"),
            },
        }
    }
}

/// One of a tenant's connections, held exclusively while in use and given
/// back to the tenant's pool when dropped.
///
/// Dropping it while a statement is in flight (the request's deadline
/// passed, or its future was cancelled) closes the connection instead, so a
/// connection in an unknown state is never reused.
pub struct TenantConnection {
    pub(super) open: Option<Open>,
    pub(super) pool: Arc<Pool>,
    pub(super) _permit: OwnedSemaphorePermit,
    pub(super) returned: Arc<Notify>,
    pub(super) statement_timeout: Duration,
    pub(super) param_types: Arc<ParamTypes>,
}

impl TenantConnection {
    fn open(&mut self) -> &mut Open {
        self.open
            .as_mut()
            .expect("a TenantConnection always holds a connection")
    }

    /// Run `statement` with bound `params` within the statement time-out.
    /// Its first run on a connection goes in one round trip (an unnamed
    /// statement with its parameter types, learnt from an earlier prepare
    /// anywhere), so a request that had to log in pays little more than the
    /// login; its second run prepares it, and later ones run the prepared
    /// statement. On any failure other than an error the server reported
    /// for the statement, the connection is dropped.
    pub async fn run(
        &mut self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Error> {
        self.attempt(statement, params)
            .await
            .map_err(Failure::into_error)
    }

    #[tracing::instrument(
        name = "postgres.query",
        skip_all,
        fields(
            db.system = "postgresql",
            db.operation = statement.split_whitespace().next().unwrap_or_default(),
            otel.kind = "client"
        )
    )]
    pub(super) async fn attempt(
        &mut self,
        statement: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, Failure> {
        let timeout = self.statement_timeout;
        let param_types = self.param_types.clone();
        let open = self.open();
        open.busy = true;
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, async {
            if let Some(prepared) = open.statements.get(statement) {
                return open.client.query(prepared, params).await;
            }
            // A statement without parameters needs no types.
            let known = param_types
                .get(statement)
                .or_else(|| params.is_empty().then(Vec::new));
            if !open.ran_once.contains(statement)
                && let Some(types) = known.filter(|t| t.len() == params.len())
            {
                let typed: Vec<(&(dyn ToSql + Sync), Type)> =
                    params.iter().copied().zip(types).collect();
                // Run once either way: the next run prepares it, and a
                // failure forgets the types, which may be out of date (the
                // schema changed), so they are learnt again.
                open.ran_once.insert(statement.to_owned());
                return match open.client.query_typed(statement, &typed).await {
                    Ok(rows) => Ok(rows),
                    Err(e) => {
                        param_types.forget(statement);
                        Err(e)
                    }
                };
            }
            let prepared = open.client.prepare(statement).await?;
            param_types.learn(statement, prepared.params());
            open.statements
                .insert(statement.to_owned(), prepared.clone());
            open.client.query(&prepared, params).await
        })
        .await;
        let spent = started.elapsed().as_micros() as u64;
        crate::metrics::record(|c| c.db_time_us += spent);
        match result {
            Ok(Ok(rows)) => {
                self.open().busy = false;
                Ok(rows)
            }
            // The server answered with an error for this statement: the
            // connection is in a known state (the implicit transaction was
            // rolled back) unless the error closed it.
            Ok(Err(e)) if e.code().is_some() && !e.is_closed() => {
                self.open().busy = false;
                Err(Failure::Postgres(e))
            }
            Ok(Err(e)) => Err(Failure::Postgres(e)),
            Err(_) => Err(Failure::TimedOut(timeout)),
        }
    }
}

impl Drop for TenantConnection {
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            if open.busy {
                tracing::warn!("a statement did not complete; dropping its connection");
            } else if !open.client.is_closed() {
                self.pool.give_back(open);
            }
        }
        // Back idle or closed (its place free: closed before this signal):
        // either way a waiter for a place may go on.
        self.returned.notify_one();
    }
}

impl Deref for TenantConnection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self
            .open
            .as_ref()
            .expect("a TenantConnection always holds a connection")
            .client
    }
}
