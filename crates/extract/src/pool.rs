//! [`Extractor`]: the threads that parse pages.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, oneshot};

use crate::ExtractError;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads for parsing pages, with a bound on the pages
/// waiting for one. Cheap to clone; the threads end when the last clone is
/// dropped and the jobs sent are done.
#[derive(Debug, Clone)]
pub struct Extractor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// One permit per job running or waiting.
    slots: Arc<Semaphore>,
    threads: usize,
}

impl Extractor {
    /// Jobs waiting, per thread, at most: past them, [`Extractor::run`]
    /// waits for room (and so does the fetch behind it, holding its
    /// response), so that pages do not pile up in memory faster than they
    /// are parsed.
    pub const QUEUED_PER_THREAD: usize = 4;

    /// `threads` threads (at least one), named `crawlbox-extract-N`.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("crawlbox-extract-{n}"))
                .spawn(move || {
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                jobs: Mutex::new(jobs),
                slots: Arc::new(Semaphore::new(threads * (1 + Self::QUEUED_PER_THREAD))),
                threads,
            }),
        })
    }

    /// One thread per core.
    pub fn per_core() -> std::io::Result<Self> {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// The number of threads.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// Runs `job` on one of the threads, once there is room, and returns
    /// its result with the time it ran. A job that panics fails with
    /// [`ExtractError::Other`]; the thread goes on.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<(T, Duration), ExtractError> {
        let gone = || ExtractError::Other("the host's extraction threads have stopped".into());
        let permit = self
            .inner
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
        self.inner
            .jobs
            .lock()
            .map_err(|_| gone())?
            .send(wrapped)
            .map_err(|_| gone())?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_threads_and_a_panic_is_an_error() {
        let pool = Extractor::new(2).unwrap();
        let (name, _) = pool
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("crawlbox-extract-"));
        #[expect(clippy::panic, reason = "the panic is what is tested")]
        let err = pool.run(|| panic!("boom")).await.unwrap_err();
        assert!(matches!(err, ExtractError::Other(_)), "{err}");
        assert_eq!(pool.run(|| 7).await.unwrap().0, 7);
    }

    #[tokio::test]
    async fn jobs_beyond_the_bound_wait_for_room() {
        let pool = Extractor::new(1).unwrap();
        let (release, wait) = mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let mut running = Vec::new();
        for _ in 0..(1 + Extractor::QUEUED_PER_THREAD) {
            let wait = wait.clone();
            let pool = pool.clone();
            running.push(tokio::spawn(async move {
                pool.run(move || wait.lock().unwrap().recv().ok()).await
            }));
        }
        tokio::task::yield_now().await;
        while pool.inner.slots.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let extra = pool.run(|| ());
        tokio::pin!(extra);
        assert!(
            futures_poll_once(extra.as_mut()).await.is_none(),
            "a job past the bound waits"
        );
        for _ in 0..=Extractor::QUEUED_PER_THREAD {
            release.send(()).unwrap();
        }
        extra.await.unwrap();
        for job in running {
            job.await.unwrap().unwrap();
        }
    }

    async fn futures_poll_once<F: Future + Unpin>(future: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::from_millis(50), future)
            .await
            .ok()
    }
}
