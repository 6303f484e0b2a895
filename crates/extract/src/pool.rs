//! [`Extractor`]: the threads that parse pages, shared fairly.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};

use crate::ExtractError;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads for parsing pages. The next page is always that
/// of the waiting [`Tenant`] that has used the threads least so far (a
/// new tenant starts level with the least of the others), so a plugin
/// that sends slow pages delays its own, not another's; and each tenant has
/// at most [`Extractor::QUEUED_PER_THREAD`] pages per thread waiting or
/// running. Cheap to clone; the threads end when the last clone is dropped
/// and the jobs sent are done.
#[derive(Debug, Clone)]
pub struct Extractor {
    handle: Arc<Handle>,
}

/// The last clone of an [`Extractor`] closes the queues.
#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    threads: usize,
    next_tenant: AtomicU64,
}

#[derive(Debug, Default)]
struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
}

#[derive(Default)]
struct Queues {
    /// Each tenant's waiting jobs.
    waiting: HashMap<u64, VecDeque<Job>>,
    /// Time each live tenant's jobs have run, in ns.
    used: HashMap<u64, u128>,
    /// Jobs of each tenant running now.
    running: HashMap<u64, usize>,
    threads: usize,
    closed: bool,
}

impl Queues {
    /// The waiting tenant that has used the threads least, among those
    /// that may start one more job: while several tenants live, none runs
    /// on every thread at once, so that a tenant's slow pages (each up to
    /// the time limit) never hold all of them.
    fn next_tenant(&self) -> Option<u64> {
        let cap = if self.used.len() > 1 {
            self.threads.saturating_sub(1).max(1)
        } else {
            self.threads
        };
        self.waiting
            .keys()
            .filter(|tenant| self.running.get(tenant).copied().unwrap_or(0) < cap)
            .min_by_key(|tenant| (self.used.get(tenant).copied().unwrap_or(0), **tenant))
            .copied()
    }
}

impl std::fmt::Debug for Queues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queues")
            .field("tenants_waiting", &self.waiting.len())
            .field("closed", &self.closed)
            .finish()
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Ok(mut queues) = self.shared.queues.lock() {
            queues.closed = true;
        }
        self.shared.ready.notify_all();
    }
}

/// One user of an [`Extractor`] (a plugin's session): its share of the
/// threads, and its bound on pages waiting. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Tenant {
    id: u64,
    slots: Arc<Semaphore>,
    _live: Arc<Live>,
}

/// Forgets a tenant's use of the threads when its last clone is dropped.
#[derive(Debug)]
struct Live {
    id: u64,
    shared: Arc<Shared>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(mut queues) = self.shared.queues.lock() {
            queues.used.remove(&self.id);
        }
    }
}

impl Extractor {
    /// Pages one tenant may have waiting, per thread, at most: past them,
    /// [`Extractor::run`] waits for room (and so does the fetch behind it,
    /// holding its response), so that pages do not pile up in memory faster
    /// than they are parsed.
    pub const QUEUED_PER_THREAD: usize = 4;

    /// `threads` threads (at least one), named `crawlbox-extract-N`.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared::default());
        if let Ok(mut queues) = shared.queues.lock() {
            queues.threads = threads;
        }
        for n in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("crawlbox-extract-{n}"))
                .spawn(move || work(&shared))?;
        }
        Ok(Self {
            handle: Arc::new(Handle {
                shared,
                threads,
                next_tenant: AtomicU64::new(0),
            }),
        })
    }

    /// One thread per core.
    pub fn per_core() -> std::io::Result<Self> {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.handle.threads
    }

    /// A new tenant, level with the tenant that has used the threads least.
    pub fn tenant(&self) -> Tenant {
        let id = self.handle.next_tenant.fetch_add(1, Ordering::Relaxed);
        let shared = &self.handle.shared;
        if let Ok(mut queues) = shared.queues.lock() {
            let least = queues.used.values().min().copied().unwrap_or(0);
            queues.used.insert(id, least);
        }
        Tenant {
            id,
            slots: Arc::new(Semaphore::new(
                self.handle.threads * (1 + Self::QUEUED_PER_THREAD),
            )),
            _live: Arc::new(Live {
                id,
                shared: shared.clone(),
            }),
        }
    }

    /// Runs `job` for `tenant` on one of the threads, once the tenant has
    /// room and its turn comes, and returns its result with the time it
    /// ran. A job that panics fails with [`ExtractError::Other`]; the
    /// thread goes on.
    pub async fn run<T: Send + 'static>(
        &self,
        tenant: &Tenant,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(T, Duration), ExtractError> {
        let gone = || ExtractError::Other("the host's extraction threads have stopped".into());
        let permit = tenant
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| gone())?;
        let (done, result) = oneshot::channel();
        let wrapped: Job = Box::new(move || {
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let ran = started.elapsed();
            drop(permit);
            let _ = done.send(outcome.map(|value| (value, ran)));
        });
        {
            let mut queues = self.handle.shared.queues.lock().map_err(|_| gone())?;
            queues
                .waiting
                .entry(tenant.id)
                .or_default()
                .push_back(wrapped);
        }
        self.handle.shared.ready.notify_one();
        match result.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(ExtractError::Other(
                "the HTML parser failed on this page (a bug in the host; the page is skipped)"
                    .into(),
            )),
            Err(_) => Err(gone()),
        }
    }
}

/// A thread's loop: the next job of the waiting tenant that has used the
/// threads least, its time added to that tenant's.
fn work(shared: &Shared) {
    loop {
        let (tenant, job) = {
            let Ok(mut queues) = shared.queues.lock() else {
                return;
            };
            loop {
                if let Some(tenant) = queues.next_tenant() {
                    let (job, more) = match queues.waiting.get_mut(&tenant) {
                        Some(waiting) => (waiting.pop_front(), !waiting.is_empty()),
                        None => (None, false),
                    };
                    if !more {
                        queues.waiting.remove(&tenant);
                    }
                    if let Some(job) = job {
                        *queues.running.entry(tenant).or_default() += 1;
                        break (tenant, job);
                    }
                    continue;
                }
                if queues.closed {
                    return;
                }
                queues = match shared.ready.wait(queues) {
                    Ok(queues) => queues,
                    Err(_) => return,
                };
            }
        };
        let started = Instant::now();
        job();
        let ran = started.elapsed().as_nanos();
        if let Ok(mut queues) = shared.queues.lock() {
            if let Some(used) = queues.used.get_mut(&tenant) {
                *used += ran;
            }
            if let Some(running) = queues.running.get_mut(&tenant) {
                *running -= 1;
                if *running == 0 {
                    queues.running.remove(&tenant);
                }
            }
        }
        // A tenant held back by its cap may start now.
        shared.ready.notify_one();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test]
    async fn jobs_run_on_the_threads_and_a_panic_is_an_error() {
        let pool = Extractor::new(2).unwrap();
        let tenant = pool.tenant();
        let (name, _) = pool
            .run(&tenant, || std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("crawlbox-extract-"));
        #[expect(clippy::panic, reason = "the panic is what is tested")]
        let err = pool.run(&tenant, || panic!("boom")).await.unwrap_err();
        assert!(matches!(err, ExtractError::Other(_)), "{err}");
        assert_eq!(pool.run(&tenant, || 7).await.unwrap().0, 7);
    }

    #[tokio::test]
    async fn jobs_beyond_a_tenants_bound_wait_and_tenants_take_turns() {
        let pool = Extractor::new(1).unwrap();
        let slow = pool.tenant();
        let other = pool.tenant();
        let (release, wait) = mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut running = Vec::new();
        for i in 0..(1 + Extractor::QUEUED_PER_THREAD) {
            let (wait, pool, slow, order) =
                (wait.clone(), pool.clone(), slow.clone(), order.clone());
            running.push(tokio::spawn(async move {
                pool.run(&slow, move || {
                    let _ = wait.lock().unwrap().recv();
                    order.lock().unwrap().push(format!("slow {i}"));
                })
                .await
            }));
        }
        while slow.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // Past its bound, the slow tenant waits for room ...
        let extra = pool.run(&slow, || ());
        tokio::pin!(extra);
        assert!(
            poll_briefly(extra.as_mut()).await.is_none(),
            "a job past the bound waits"
        );
        // ... while another tenant's job goes next, before the slow one's
        // other waiting jobs.
        let order2 = order.clone();
        let theirs = tokio::spawn({
            let (pool, other) = (pool.clone(), other.clone());
            async move {
                pool.run(&other, move || order2.lock().unwrap().push("other".into()))
                    .await
            }
        });
        tokio::task::yield_now().await;
        for _ in 0..=Extractor::QUEUED_PER_THREAD {
            release.send(()).unwrap();
            tokio::task::yield_now().await;
        }
        theirs.await.unwrap().unwrap();
        extra.await.unwrap();
        for job in running {
            job.await.unwrap().unwrap();
        }
        let order = order.lock().unwrap();
        let at = order.iter().position(|o| o == "other").unwrap();
        assert!(
            at <= 1,
            "the other tenant waited behind the slow one: {order:?}"
        );
    }

    async fn poll_briefly<F: Future + Unpin>(future: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(50), future)
            .await
            .ok()
    }
}
