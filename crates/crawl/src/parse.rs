//! The parse stage: fetched pages go to spider instances, parsed pages come
//! back. With one instance it parses on the crawl loop's own thread; with
//! more, each instance has a thread of its own (with a current-thread
//! runtime for the host calls it makes), and pages go to whichever is free.
//!
//! What the instances hold in common is the run's: its limits (records,
//! CPU time, log) are shared, see `crawlbox_runtime::Spider::sibling`. What
//! a spider may no longer assume with several instances: that one instance
//! sees every page (state kept between `parse` calls is per instance), and
//! that `start` runs once (every instance is started with the input; only
//! the first one's requests are queued).

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;

use crawlbox_net::{FetchError, Response};
use crawlbox_runtime::{Outcome, Parsed, Spider};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

/// A fetched page for `parse`.
pub(crate) struct Job<P> {
    pub(crate) page: P,
    pub(crate) url: String,
    pub(crate) meta: String,
    pub(crate) fetched: Result<Response, FetchError>,
    /// Parse on a fresh instance (`fresh_instance`).
    pub(crate) renew: bool,
}

/// A parsed page: `Err` when the spider trapped (the crawl ends so).
pub(crate) struct Done<P> {
    pub(crate) page: P,
    pub(crate) url: String,
    pub(crate) parsed: Result<Result<Parsed, String>, Outcome>,
}

/// The spider instances of a crawl.
pub(crate) enum Parsers<P> {
    /// One instance, on the loop's thread: a page is parsed when it is
    /// submitted.
    Inline {
        spider: Box<Spider>,
        done: VecDeque<Done<P>>,
    },
    /// Instances on threads of their own.
    Threads(Pool<P>),
}

impl<P: Send + 'static> Parsers<P> {
    /// `spiders`, started: inline if there is one, else on threads.
    pub(crate) fn new(mut spiders: Vec<Spider>) -> std::io::Result<Self> {
        if spiders.len() <= 1 {
            let spider = spiders.pop().expect("at least one spider instance");
            return Ok(Parsers::Inline {
                spider: Box::new(spider),
                done: VecDeque::new(),
            });
        }
        Pool::start(spiders).map(Parsers::Threads)
    }

    /// Pages submitted and not taken back with [`next`](Self::next).
    pub(crate) fn pending(&self) -> usize {
        match self {
            Parsers::Inline { done, .. } => done.len(),
            Parsers::Threads(pool) => pool.pending,
        }
    }

    /// Whether another page may be submitted now: every instance busy and
    /// one page waiting for each is enough (the rest wait as fetch
    /// results, under the network budgets).
    pub(crate) fn has_room(&self) -> bool {
        match self {
            Parsers::Inline { done, .. } => done.is_empty(),
            Parsers::Threads(pool) => pool.pending < 2 * pool.threads.len(),
        }
    }

    /// Hands a page to an instance.
    pub(crate) async fn submit(&mut self, job: Job<P>) {
        match self {
            Parsers::Inline { spider, done } => {
                let parsed = parse(spider, job.renew, &job.url, job.fetched, &job.meta).await;
                done.push_back(Done {
                    page: job.page,
                    url: job.url,
                    parsed,
                });
            }
            Parsers::Threads(pool) => {
                pool.pending += 1;
                if let Err(mpsc::error::SendError(job)) = pool.jobs.send(job).await {
                    // Every instance thread is gone: it can only have panicked.
                    pool.pending -= 1;
                    pool.lost.push_back(Done {
                        page: job.page,
                        url: job.url,
                        parsed: Err(Outcome::HostFailed(
                            "the spider's instance threads stopped".into(),
                        )),
                    });
                }
            }
        }
    }

    /// The next parsed page, in the order they are done; `None` when none
    /// is pending.
    pub(crate) async fn next(&mut self) -> Option<Done<P>> {
        match self {
            Parsers::Inline { done, .. } => done.pop_front(),
            Parsers::Threads(pool) => {
                if let Some(lost) = pool.lost.pop_front() {
                    return Some(lost);
                }
                if pool.pending == 0 {
                    return None;
                }
                let done = pool.done.recv().await;
                pool.pending -= 1;
                Some(done.unwrap_or_else(|| unreachable!("the pool holds a sender")))
            }
        }
    }
}

async fn parse(
    spider: &mut Spider,
    renew: bool,
    url: &str,
    fetched: Result<Response, FetchError>,
    meta: &str,
) -> Result<Result<Parsed, String>, Outcome> {
    if renew && fetched.is_ok() {
        spider.renew().await?;
    }
    spider.parse(url, fetched, meta).await
}

/// Instances on threads of their own, taking pages from one queue.
pub(crate) struct Pool<P> {
    jobs: mpsc::Sender<Job<P>>,
    done: mpsc::UnboundedReceiver<Done<P>>,
    /// Kept so that `done` never closes while the pool lives.
    _done_tx: mpsc::UnboundedSender<Done<P>>,
    lost: VecDeque<Done<P>>,
    pending: usize,
    stop: CancellationToken,
    threads: Vec<JoinHandle<()>>,
}

impl<P: Send + 'static> Pool<P> {
    fn start(spiders: Vec<Spider>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job<P>>(spiders.len());
        let queue = Arc::new(Mutex::new(queue));
        let (done_tx, done) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let mut threads = Vec::with_capacity(spiders.len());
        for (n, spider) in spiders.into_iter().enumerate() {
            let (queue, done_tx, stop) = (queue.clone(), done_tx.clone(), stop.clone());
            let thread = std::thread::Builder::new()
                .name(format!("crawlbox-parse-{n}"))
                .spawn(move || serve(spider, &queue, &done_tx, &stop))?;
            threads.push(thread);
        }
        Ok(Pool {
            jobs,
            done,
            _done_tx: done_tx,
            lost: VecDeque::new(),
            pending: 0,
            stop,
            threads,
        })
    }
}

/// Stops every instance at its next yield (a parse under way is dropped:
/// the crawl is over) and waits for the threads.
impl<P> Drop for Pool<P> {
    fn drop(&mut self) {
        self.stop.cancel();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// An instance thread: parses the pages it takes until the pool stops.
fn serve<P>(
    mut spider: Spider,
    queue: &Mutex<mpsc::Receiver<Job<P>>>,
    done: &mpsc::UnboundedSender<Done<P>>,
    stop: &CancellationToken,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(target: "crawlbox", "cannot start a spider instance thread: {e}");
            return;
        }
    };
    runtime.block_on(async {
        loop {
            let job = tokio::select! {
                job = async { queue.lock().await.recv().await } => job,
                () = stop.cancelled() => None,
            };
            let Some(job) = job else { return };
            let parsed = tokio::select! {
                parsed = parse(&mut spider, job.renew, &job.url, job.fetched, &job.meta) => parsed,
                () = stop.cancelled() => return,
            };
            let done_page = Done {
                page: job.page,
                url: job.url,
                parsed,
            };
            if done.send(done_page).is_err() {
                return;
            }
        }
    });
}
