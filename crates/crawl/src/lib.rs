//! crawlbox's crawl loop: the host drives a spider over a [`Frontier`].
//!
//! [`crawl`] asks the spider for its start requests (when the frontier is
//! new), then, until the frontier is finished or a limit is reached: claims
//! pages, fetches them with as many in flight as the client's global cap
//! allows, hands each response to the spider's `parse`, and commits the
//! page with its items and follows. One loop serves every frontier:
//!
//! * [`crawlbox_frontier::Frontier`], in memory or journaled to resume
//!   (`crawlbox crawl`, `crawlbox crawl --state DIR`): commits are done at
//!   once, items reach the run's sink after the journal has them;
//! * [`RedisCrawl`], a worker's share of a crawl in Redis (`crawlbox crawl
//!   --redis`, `crawlbox worker`): pages are claimed in batches, fetched
//!   after a send slot shared by every worker, and committed (items
//!   included, kept in Redis) beside the next pages.
//!
//! # Bounds
//!
//! What a spider yields is held by the host, outside the spider's memory
//! limit, so it is bounded: follows by the frontier's
//! [`Caps`](crawlbox_frontier::Caps) (per page, `meta` size, queued count
//! and bytes) and the page limit, each drop counted by reason in
//! [`DroppedFollows`] and warned about once; items by the run's record
//! limits (`--max-records`, `--max-output`), shared with what the spider
//! `emit`s, past which the crawl commits what fits and ends as
//! [`Outcome::OutputLimit`] (Scrapy's `CLOSESPIDER_ITEMCOUNT` closes the
//! spider too).
//!
//! # Stages
//!
//! A page goes through three stages: the fetch (a task of its own, so the
//! network keeps going while the spider parses), `parse` on a spider
//! instance, and the commit. Parsing is what takes a core, so a crawl can
//! run several instances at once ([`CrawlOptions::instances`]), each on a
//! thread of its own, while the loop's thread keeps the network, the
//! frontier and the commits. The instances share the run's limits (records,
//! CPU time, log); each has its own memory limit. A page in flight is one
//! being fetched or parsed: at most the client's global cap of them.
//!
//! With several instances a spider may no longer assume that one instance
//! sees every page (what it keeps between `parse` calls is per instance),
//! nor that `start` runs once: every instance is started with the input,
//! and only the first one's requests are queued. One instance serves a
//! whole crawl otherwise: `parse` calls are short and many, and
//! instantiating per call measured several times slower (see
//! docs/spiders.md; `fresh_instance` does it anyway).

mod drops;
mod frontier;
mod parse;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crawlbox_frontier::Offer;
use crawlbox_net::{FetchError, Response, StatsSnapshot};
use crawlbox_runtime::{ItemBudget, Outcome, Parsed, RunReport, RunSpec, Runtime, Spider};
use tokio::task::JoinSet;

pub use drops::DroppedFollows;
pub use frontier::{Claim, Commit, Committed, Committing, Frontier, FrontierError, RedisCrawl};

use drops::Drops;
use parse::{Done, Job, Parsers};

/// How a crawl runs.
#[derive(Debug, Clone)]
pub struct CrawlOptions {
    /// Ask the spider for its start requests if the frontier is new (a
    /// `crawlbox worker` does not: it joins a crawl seeded elsewhere).
    pub seed: bool,
    /// Only seed: return once the start requests are queued.
    pub seed_only: bool,
    /// A new spider instance for every `parse` call instead of one for the
    /// whole crawl (isolates pages from one another; slower).
    pub fresh_instance: bool,
    /// Spider instances parsing at once, each on a thread of its own
    /// (1: one instance, parsing on the loop's thread). Default 1; the host's
    /// default is [`default_instances`], one per core.
    pub instances: usize,
    /// Where the crawl counts its pages as it goes (for a progress line,
    /// metrics). A new one by default.
    pub progress: Arc<CrawlProgress>,
}

/// A crawl's figures as it goes, read at any time by another task (the
/// progress line, the metrics endpoint).
#[derive(Debug, Default)]
pub struct CrawlProgress {
    pages: AtomicU64,
    failed_pages: AtomicU64,
    items: AtomicU64,
    /// Pages waiting in the frontier, plus one; 0: not known.
    queued: AtomicU64,
}

impl CrawlProgress {
    /// Pages committed by this run.
    pub fn pages(&self) -> u64 {
        self.pages.load(Ordering::Relaxed)
    }

    /// Of those, pages that failed.
    pub fn failed_pages(&self) -> u64 {
        self.failed_pages.load(Ordering::Relaxed)
    }

    /// Items committed by this run.
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::Relaxed)
    }

    /// Pages waiting in the frontier, when known (a local frontier tells
    /// after each page; for a shared one, see [`set_queued`](Self::set_queued)).
    pub fn queued(&self) -> Option<u64> {
        self.queued.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Sets the pages waiting in the frontier, for a frontier that does
    /// not tell the crawl (Redis: the host reads its counts now and then).
    pub fn set_queued(&self, queued: u64) {
        self.queued
            .store(queued.saturating_add(1), Ordering::Relaxed);
    }

    fn tally(&self, tally: &Tally) {
        self.pages.store(tally.pages, Ordering::Relaxed);
        self.failed_pages.store(tally.failed, Ordering::Relaxed);
        self.items.store(tally.items, Ordering::Relaxed);
    }
}

/// The spider instances a crawl runs by default: one per core.
pub fn default_instances() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            seed: true,
            seed_only: false,
            fresh_instance: false,
            instances: 1,
            progress: Arc::default(),
        }
    }
}

/// What a crawl did, whatever its frontier.
#[derive(Debug, Clone)]
pub struct CrawlReport {
    /// The spider's name.
    pub plugin: String,
    /// How the crawl ended (`Completed`: the frontier is finished).
    pub outcome: Outcome,
    /// Pages committed in this run.
    pub pages: u64,
    /// Of those, pages that failed (fetch error or `parse` error).
    pub failed_pages: u64,
    /// Items committed in this run.
    pub items: u64,
    /// Follows dropped by the frontier's caps or the page limit.
    pub dropped: DroppedFollows,
    /// Whether the frontier had been seeded before (a resumed crawl, a
    /// shared crawl joined).
    pub resumed: bool,
    /// Pages taken over from a worker that held them too long (Redis).
    pub reclaimed: u64,
    /// Pages finished that another worker had committed first: their items
    /// were not written again (Redis).
    pub duplicates: u64,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Network statistics of the run's session.
    pub stats: StatsSnapshot,
}

impl From<&CrawlReport> for RunReport {
    /// The crawl as a run: its items are its records.
    fn from(report: &CrawlReport) -> Self {
        RunReport {
            plugin: report.plugin.clone(),
            outcome: report.outcome.clone(),
            records: report.items,
            elapsed: report.elapsed,
            stats: report.stats.clone(),
        }
    }
}

/// Crawls with the spider of `spec` over `frontier` until the frontier is
/// finished, a limit is reached or `spec.cancel` fires. Items go to
/// `spec.sink` after the frontier committed them (unless the frontier keeps
/// them, as Redis does); what the spider `emit`s goes there too.
pub async fn crawl<F: Frontier>(
    runtime: &Runtime,
    spec: RunSpec,
    frontier: &mut F,
    options: CrawlOptions,
) -> CrawlReport {
    let started = Instant::now();
    let mut crawl = Crawl {
        progress: options.progress.clone(),
        caps: frontier.caps(),
        items: None,
        tally: Tally::default(),
        spec: &spec,
    };
    let work = crawl.run(runtime, frontier, &options);
    let outcome = tokio::select! {
        outcome = work => outcome,
        outcome = crawlbox_runtime::wall_limit(&spec.limits) => outcome,
        () = spec.cancel.cancelled() => Outcome::Interrupted,
    };
    frontier.finish();
    let tally = crawl.tally;
    CrawlReport {
        plugin: spec.plugin.name().to_owned(),
        outcome,
        pages: tally.pages,
        failed_pages: tally.failed,
        items: tally.items,
        dropped: tally.drops.counts,
        resumed: tally.resumed,
        reclaimed: tally.reclaimed,
        duplicates: tally.duplicates,
        elapsed: started.elapsed(),
        stats: spec.session.stats().snapshot(),
    }
}

/// The state of one crawl.
struct Crawl<'s> {
    spec: &'s RunSpec,
    progress: Arc<CrawlProgress>,
    caps: crawlbox_frontier::Caps,
    /// The run's record limits, shared by its instances (from the first
    /// instance on).
    items: Option<ItemBudget>,
    tally: Tally,
}

/// What the loop waits for.
#[expect(
    clippy::large_enum_variant,
    reason = "one at a time, on the loop's stack: moved on at once"
)]
enum Event<P> {
    Fetched(Result<Fetched<P>, tokio::task::JoinError>),
    Parsed(Done<P>),
}

#[derive(Debug, Default)]
struct Tally {
    pages: u64,
    failed: u64,
    items: u64,
    reclaimed: u64,
    duplicates: u64,
    resumed: bool,
    drops: Drops,
}

/// A fetched page: its frontier page and the fetch's result.
type Fetched<P> = (P, Result<Response, FetchError>);

impl Crawl<'_> {
    async fn run<F: Frontier>(
        &mut self,
        runtime: &Runtime,
        frontier: &mut F,
        options: &CrawlOptions,
    ) -> Outcome {
        let spiders = match self.start(runtime, frontier, options).await {
            Ok(spiders) => spiders,
            Err(outcome) => return outcome,
        };
        if options.seed_only {
            return Outcome::Completed;
        }
        let mut parsers = match Parsers::new(spiders) {
            Ok(parsers) => parsers,
            Err(e) => {
                return Outcome::HostFailed(format!("cannot start the spider's threads: {e}"));
            }
        };
        let width = self.spec.session.client().config().concurrency;
        let mut fetches: JoinSet<Fetched<F::Page>> = JoinSet::new();
        let mut commits: JoinSet<Result<Committed, FrontierError>> = JoinSet::new();
        loop {
            while let Some(done) = commits.try_join_next() {
                if let Err(outcome) = self.settled(done) {
                    return outcome;
                }
            }
            // At most `width` commits under way: a worker never holds more
            // than twice its width of unacknowledged pages.
            while commits.len() >= width
                && let Some(done) = commits.join_next().await
            {
                if let Err(outcome) = self.settled(done) {
                    return outcome;
                }
            }
            // Pages being fetched or parsed: at most `width`.
            let in_flight = fetches.len() + parsers.pending();
            if frontier.wants_claim(in_flight, width) {
                let idle = in_flight == 0;
                // Settle every commit before deciding that the crawl is over.
                if idle && let Err(outcome) = self.settle_all(&mut commits).await {
                    return outcome;
                }
                let pages = match frontier.claim(width - in_flight, idle).await {
                    Ok(Claim::Pages(pages)) => pages,
                    Ok(Claim::Finished) if idle => return Outcome::Completed,
                    Ok(Claim::Finished) => Vec::new(),
                    Err(e) => return e.into(),
                };
                for page in pages {
                    self.tally.reclaimed += u64::from(F::reclaimed(&page));
                    let request = F::entry(&page).request.clone();
                    let slot = frontier.before_fetch(&page);
                    let session = self.spec.session.clone();
                    fetches.spawn(async move {
                        if let Some(slot) = slot {
                            slot.await;
                        }
                        (page, session.fetch(request).await)
                    });
                }
            }
            // Parsed pages first: they free their instance and their memory.
            let room = parsers.has_room();
            let event = tokio::select! {
                biased;
                Some(done) = parsers.next(), if parsers.pending() > 0 => Event::Parsed(done),
                Some(fetched) = fetches.join_next(), if room => Event::Fetched(fetched),
                else => continue,
            };
            let done = match event {
                Event::Fetched(fetched) => {
                    let (page, fetched) = fetched.expect("fetch tasks do not panic");
                    let entry = F::entry(&page);
                    let job = Job {
                        url: entry.request.url.to_string(),
                        meta: entry.meta.clone(),
                        page,
                        fetched,
                        renew: options.fresh_instance,
                    };
                    parsers.submit(job).await;
                    continue;
                }
                Event::Parsed(done) => done,
            };
            let Done { page, url, parsed } = done;
            let parsed = match parsed {
                Ok(parsed) => parsed,
                Err(outcome) => return outcome,
            };
            let depth = F::entry(&page).depth;
            let (commit, limit) = self.parsed(frontier, &url, depth, parsed);
            match frontier.commit(page, commit) {
                Committing::Done(done) => {
                    if let Err(outcome) = self.committed(&url, done) {
                        return outcome;
                    }
                }
                Committing::Pending(commit) => {
                    commits.spawn(commit);
                }
            }
            if let Some(queued) = frontier.queued() {
                self.progress.set_queued(queued);
            }
            if let Some(why) = limit {
                // Settle every commit (their items are kept); the pages
                // still being fetched or parsed are not committed (a
                // resumed crawl, or another worker, fetches them again).
                if let Err(outcome) = self.settle_all(&mut commits).await {
                    return outcome;
                }
                return Outcome::OutputLimit(why);
            }
        }
    }

    /// The spider's instances: as many as `options.instances`, each started
    /// with the run's input if the crawl is new. Only the first one's start
    /// requests are queued.
    async fn start<F: Frontier>(
        &mut self,
        runtime: &Runtime,
        frontier: &mut F,
        options: &CrawlOptions,
    ) -> Result<Vec<Spider>, Outcome> {
        let mut first = runtime.spider(self.spec).await?;
        self.items = Some(first.item_budget());
        let count = if options.seed_only {
            1
        } else {
            options.instances.max(1)
        };
        let mut spiders = Vec::with_capacity(count);
        for _ in 1..count {
            spiders.push(first.sibling().await?);
        }
        let new = options.seed && frontier.is_new().await?;
        self.tally.resumed = options.seed && !new;
        if new {
            self.seed(&mut first, frontier).await?;
            for sibling in &mut spiders {
                sibling.start().await?;
            }
        }
        spiders.insert(0, first);
        Ok(spiders)
    }

    /// Queues the spider's start requests.
    async fn seed<F: Frontier>(
        &mut self,
        spider: &mut Spider,
        frontier: &mut F,
    ) -> Result<(), Outcome> {
        let session = &self.spec.session;
        let offers: Vec<Offer> = spider
            .start()
            .await?
            .into_iter()
            .filter_map(|start| start.admit(session))
            .map(|start| Offer::new(start.request).meta(start.meta))
            .collect();
        let urls: Vec<String> = offers.iter().map(|o| o.request.url.to_string()).collect();
        let pushes = frontier.offer(offers).await?;
        let name = self.spec.plugin.name();
        for (url, push) in urls.iter().zip(&pushes) {
            self.tally.drops.pushed(name, "start", url, push, self.caps);
        }
        Ok(())
    }

    /// The parse stage's result as a commit: the page's items within the
    /// run's record limits, and its follows within the caps and admitted by
    /// the run's policy. `Some(why)` with it when the record limits cut the
    /// items: the crawl ends once the page is committed.
    fn parsed<F: Frontier>(
        &mut self,
        frontier: &F,
        url: &str,
        depth: u32,
        parsed: Result<Parsed, String>,
    ) -> (Commit, Option<String>) {
        let Parsed { mut items, follows } = match parsed {
            Ok(parsed) => parsed,
            Err(why) => {
                let commit = Commit {
                    error: Some(why),
                    ..Commit::default()
                };
                return (commit, None);
            }
        };
        let caps = self.caps;
        let mut follows = follows;
        let over = caps.cap_follows(&mut follows);
        let name = self.spec.plugin.name();
        self.tally
            .drops
            .over_page_cap(name, url, follows.len() + over, over, caps);
        let mut offers = Vec::with_capacity(follows.len());
        if frontier.is_full_for_pages() {
            // Nothing more can be fetched: the follows are not even looked at.
            self.tally.drops.counts.beyond_max_pages += follows.len() as u64;
        } else {
            for follow in follows {
                if let Some(push) = caps.check_meta(&follow.meta) {
                    self.tally
                        .drops
                        .pushed(name, url, follow.url(), &push, caps);
                    continue;
                }
                if let Some(follow) = follow.admit(&self.spec.session) {
                    offers.push(
                        Offer::new(follow.request)
                            .meta(follow.meta)
                            .priority(follow.priority)
                            .depth(depth + 1),
                    );
                }
            }
        }
        // Items within the run's record limits (shared with `emit`).
        let limit = self
            .items
            .as_ref()
            .and_then(|budget| budget.fit(url, &mut items));
        let commit = Commit {
            items,
            follows: offers,
            error: None,
        };
        (commit, limit)
    }

    /// Accounts for a commit of the page at `url` that is done: its items
    /// go to the sink, its dropped follows are counted.
    fn committed(
        &mut self,
        url: &str,
        done: Result<Committed, FrontierError>,
    ) -> Result<(), Outcome> {
        let committed = done?;
        for (follow, push) in &committed.dropped {
            self.tally
                .drops
                .pushed(self.spec.plugin.name(), url, follow, push, self.caps);
        }
        if committed.duplicate {
            self.tally.duplicates += 1;
            return Ok(());
        }
        self.tally.pages += 1;
        self.tally.failed += u64::from(committed.failed);
        for item in &committed.deliver {
            if let Err(e) = self.spec.sink.write(self.spec.plugin.name(), item) {
                return Err(Outcome::OutputFailed(format!(
                    "writing an item failed: {e}"
                )));
            }
        }
        self.tally.items += committed.items;
        self.progress.tally(&self.tally);
        Ok(())
    }

    /// Accounts for a commit that ran beside the loop.
    fn settled(
        &mut self,
        done: Result<Result<Committed, FrontierError>, tokio::task::JoinError>,
    ) -> Result<(), Outcome> {
        let done = done.expect("commit tasks do not panic");
        self.committed("", done)
    }

    async fn settle_all(
        &mut self,
        commits: &mut JoinSet<Result<Committed, FrontierError>>,
    ) -> Result<(), Outcome> {
        while let Some(done) = commits.join_next().await {
            self.settled(done)?;
        }
        Ok(())
    }
}
