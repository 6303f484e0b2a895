//! What the crawl loop needs of a frontier, and its two implementations:
//! the in-process [`crawlbox_frontier::Frontier`] (in memory, or journaled
//! to resume) and [`RedisCrawl`], a worker's share of a crawl kept in Redis.

use std::future::Future;
use std::io;
use std::time::Duration;

use crawlbox_frontier::{Caps, Entry, Offer, Push};
use crawlbox_frontier_redis::{Claimed, RedisFrontier};
use crawlbox_runtime::Outcome;
use futures::future::BoxFuture;

/// A crawl's frontier as the crawl loop drives it: it is offered requests,
/// gives pages to fetch, and commits each page with its items and follows.
///
/// The loop calls [`claim`](Self::claim) when
/// [`wants_claim`](Self::wants_claim) says so, fetches each page (after
/// [`before_fetch`](Self::before_fetch)), has the spider parse it, and hands
/// the result to [`commit`](Self::commit): a commit that is done at once
/// ([`Committing::Done`]) is accounted for, and its items written, before
/// the next page, in order; a pending one runs beside the next pages.
pub trait Frontier {
    /// A page taken from the frontier, given back to [`commit`](Self::commit).
    type Page: Send + 'static;

    /// The request of a page and where it stands in the crawl.
    fn entry(page: &Self::Page) -> &Entry;

    /// Whether the page was taken over from a worker that held it too long.
    fn reclaimed(_page: &Self::Page) -> bool {
        false
    }

    /// The bounds on what a spider may make the frontier hold.
    fn caps(&self) -> Caps;

    /// Whether nothing was ever queued: the crawl is new and the spider's
    /// start requests are wanted.
    fn is_new(&mut self) -> impl Future<Output = Result<bool, FrontierError>>;

    /// Pages waiting, if the frontier knows at no cost.
    fn queued(&self) -> Option<u64> {
        None
    }

    /// Whether the page limit can use no more requests (follows offered now
    /// would be dropped): the loop then does not even look at them.
    fn is_full_for_pages(&self) -> bool {
        false
    }

    /// Offers requests outside of a page's commit (the start requests);
    /// what became of each, in order.
    fn offer(
        &mut self,
        offers: Vec<Offer>,
    ) -> impl Future<Output = Result<Vec<Push>, FrontierError>>;

    /// Whether to claim more pages with `in_flight` of `width` under way.
    fn wants_claim(&self, in_flight: usize, width: usize) -> bool {
        in_flight < width
    }

    /// Up to `max` pages to fetch. `idle`: nothing is in flight and every
    /// commit has settled, so [`Claim::Finished`] may be answered (and the
    /// frontier may wait a little for work).
    fn claim(
        &mut self,
        max: usize,
        idle: bool,
    ) -> impl Future<Output = Result<Claim<Self::Page>, FrontierError>>;

    /// What to wait for before fetching `page` (a send slot shared with
    /// other processes), if anything.
    fn before_fetch(&self, _page: &Self::Page) -> Option<BoxFuture<'static, ()>> {
        None
    }

    /// Commits a finished page: its items and follows together, or the
    /// error that ended it.
    fn commit(&mut self, page: Self::Page, commit: Commit) -> Committing;

    /// The crawl is over (or stopped): make what was committed durable.
    fn finish(&mut self) {}
}

/// What [`Frontier::claim`] gives.
#[derive(Debug)]
pub enum Claim<P> {
    /// Pages to fetch (none for now: ask again later).
    Pages(Vec<P>),
    /// Nothing is queued or in flight, or the page limit is reached: the
    /// crawl is over.
    Finished,
}

/// A finished page, to commit.
#[derive(Debug, Default)]
pub struct Commit {
    /// Its items (checked JSON, within the run's record limits).
    pub items: Vec<String>,
    /// Its follows, admitted by the run's policy and within the caps.
    pub follows: Vec<Offer>,
    /// Why the page failed (its fetch or its `parse`), if it did.
    pub error: Option<String>,
}

/// A commit that is done or under way.
pub enum Committing {
    /// Done at once.
    Done(Result<Committed, FrontierError>),
    /// Under way: the loop awaits it beside the next pages.
    Pending(BoxFuture<'static, Result<Committed, FrontierError>>),
}

impl std::fmt::Debug for Committing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Committing::Done(result) => f.debug_tuple("Done").field(result).finish(),
            Committing::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// What a commit did.
#[derive(Debug, Default)]
pub struct Committed {
    /// Another process had committed the page first: nothing was written.
    pub duplicate: bool,
    /// The page failed.
    pub failed: bool,
    /// Items committed.
    pub items: u64,
    /// Items the loop writes to the run's sink now, in order (the frontier
    /// committed them first). Empty when the frontier keeps the items
    /// itself (Redis: `crawlbox export` writes them out).
    pub deliver: Vec<String>,
    /// Follows a cap or the page limit dropped, with their URL.
    pub dropped: Vec<(String, Push)>,
}

/// A frontier failed: the host's fault, not the spider's.
#[derive(Debug, thiserror::Error)]
pub enum FrontierError {
    /// The crawl journal could not be written.
    #[error("writing the crawl journal failed: {0}")]
    Journal(#[from] io::Error),
    /// The Redis frontier failed.
    #[error("the Redis frontier failed: {0}")]
    Redis(#[from] crawlbox_frontier_redis::Error),
}

impl From<FrontierError> for Outcome {
    fn from(err: FrontierError) -> Self {
        match err {
            // The journal is the crawl's output: it is written before the items.
            FrontierError::Journal(_) => Outcome::OutputFailed(err.to_string()),
            FrontierError::Redis(_) => Outcome::HostFailed(err.to_string()),
        }
    }
}

/// The in-process frontier: pages are taken one by one as fetches free up,
/// and commits are done at once (in the journal, when there is one).
impl Frontier for crawlbox_frontier::Frontier {
    type Page = Entry;

    fn entry(page: &Entry) -> &Entry {
        page
    }

    fn caps(&self) -> Caps {
        crawlbox_frontier::Frontier::caps(self)
    }

    async fn is_new(&mut self) -> Result<bool, FrontierError> {
        Ok(crawlbox_frontier::Frontier::is_new(self))
    }

    fn is_full_for_pages(&self) -> bool {
        crawlbox_frontier::Frontier::is_full_for_pages(self)
    }

    fn queued(&self) -> Option<u64> {
        Some(self.counts().queued)
    }

    async fn offer(&mut self, offers: Vec<Offer>) -> Result<Vec<Push>, FrontierError> {
        let mut pushes = Vec::with_capacity(offers.len());
        for offer in offers {
            pushes.push(self.push(offer)?);
        }
        Ok(pushes)
    }

    async fn claim(&mut self, max: usize, idle: bool) -> Result<Claim<Entry>, FrontierError> {
        let pages: Vec<Entry> = std::iter::from_fn(|| self.pop()).take(max).collect();
        Ok(if pages.is_empty() && idle {
            Claim::Finished
        } else {
            Claim::Pages(pages)
        })
    }

    fn commit(&mut self, page: Entry, commit: Commit) -> Committing {
        Committing::Done(commit_locally(self, &page, commit))
    }

    fn finish(&mut self) {
        if let Err(e) = self.sync() {
            tracing::warn!(target: "crawlbox", "cannot sync the crawl journal: {e}");
        }
    }
}

/// Queues the follows (in the journal first), then marks the page done with
/// its items: a page is never done before what it found is queued.
fn commit_locally(
    frontier: &mut crawlbox_frontier::Frontier,
    page: &Entry,
    commit: Commit,
) -> Result<Committed, FrontierError> {
    let Commit {
        items,
        follows,
        error,
    } = commit;
    let mut dropped = Vec::new();
    for offer in follows {
        // Nothing more can be fetched: the rest are not even looked at
        // (and a page-limit drop is only counted, so it needs no URL).
        if frontier.is_full_for_pages() {
            dropped.push((String::new(), Push::PageLimit));
            continue;
        }
        let url = offer.request.url.to_string();
        let push = frontier.push(offer)?;
        if push.is_capped() {
            dropped.push((url, push));
        }
    }
    frontier.complete(page, &items, error.as_deref())?;
    Ok(Committed {
        duplicate: false,
        failed: error.is_some(),
        items: items.len() as u64,
        deliver: items,
        dropped,
    })
}

/// A worker's share of a crawl kept in a [`RedisFrontier`]: any number of
/// worker processes, on any number of machines, share one crawl.
///
/// A worker claims pages in batches, waits for the host's shared send slot
/// (so the per-host delay holds across all workers), and commits each page
/// with its items and follow-up requests in one atomic step, beside the
/// next pages (a round trip per page would hold up the loop). A page is
/// acknowledged only when committed: the pages of a worker that dies are
/// claimed again by the others after
/// [`reclaim_after`](Self::reclaim_after), and a late commit of a page
/// committed before writes nothing (see `crawlbox-frontier-redis`).
///
/// The per-page follow cap and the `meta` cap hold here too, per worker.
/// The queue's count and byte caps are not enforced in Redis (its memory is
/// Redis's: bound it with `maxmemory`), and follows Redis drops at commit
/// (seen, too deep, past the page limit) are not counted by the worker.
#[derive(Debug, Clone)]
pub struct RedisCrawl {
    /// The crawl.
    pub frontier: RedisFrontier,
    /// This worker's name among the crawl's live workers (e.g. host and
    /// process id).
    pub consumer: String,
    /// Pages claimed by another worker and not committed after this long
    /// are taken over. Keep it well above the request timeout.
    pub reclaim_after: Duration,
    /// Least time between two page fetches from one host, across every
    /// worker of the crawl (zero: no shared limit).
    pub host_interval: Duration,
    /// Follows per page and `meta` size.
    pub caps: Caps,
}

/// How long an idle worker waits for work before it looks whether the
/// crawl is over.
const IDLE_CLAIM_WAIT: Duration = Duration::from_secs(1);

impl Frontier for RedisCrawl {
    type Page = Claimed;

    fn entry(page: &Claimed) -> &Entry {
        &page.entry
    }

    fn reclaimed(page: &Claimed) -> bool {
        page.reclaimed
    }

    fn caps(&self) -> Caps {
        self.caps
    }

    /// Also logs that the crawl is joined, when it is not new.
    async fn is_new(&mut self) -> Result<bool, FrontierError> {
        let new = self.frontier.counts().await?.seen == 0;
        if !new {
            tracing::info!(
                target: "crawlbox",
                "the crawl {} was seeded before: joining it",
                self.frontier.crawl()
            );
        }
        Ok(new)
    }

    async fn offer(&mut self, offers: Vec<Offer>) -> Result<Vec<Push>, FrontierError> {
        Ok(self.frontier.push(offers).await?)
    }

    /// In batches: when half the width is free.
    fn wants_claim(&self, in_flight: usize, width: usize) -> bool {
        in_flight <= width / 2
    }

    async fn claim(&mut self, max: usize, idle: bool) -> Result<Claim<Claimed>, FrontierError> {
        // Wait for work only when there is nothing else to do.
        let wait = if idle {
            IDLE_CLAIM_WAIT
        } else {
            Duration::ZERO
        };
        let pages = self
            .frontier
            .claim(&self.consumer, max, wait, self.reclaim_after)
            .await?;
        if pages.is_empty() && idle && self.frontier.is_finished().await? {
            return Ok(Claim::Finished);
        }
        Ok(Claim::Pages(pages))
    }

    fn before_fetch(&self, page: &Claimed) -> Option<BoxFuture<'static, ()>> {
        if self.host_interval.is_zero() {
            return None;
        }
        let url = &page.entry.request.url;
        let mut host = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        if let Some(port) = url.port_or_known_default() {
            host = format!("{host}:{port}");
        }
        Some(Box::pin(shared_send_slot(
            self.frontier.clone(),
            host,
            self.host_interval,
        )))
    }

    fn commit(&mut self, page: Claimed, commit: Commit) -> Committing {
        let frontier = self.frontier.clone();
        Committing::Pending(Box::pin(async move {
            let Commit {
                items,
                follows,
                error,
            } = commit;
            let completion = frontier
                .complete(&page, &items, follows, error.as_deref())
                .await?;
            Ok(Committed {
                duplicate: completion.duplicate,
                failed: error.is_some(),
                items: items.len() as u64,
                deliver: Vec::new(),
                dropped: Vec::new(),
            })
        }))
    }
}

/// Waits for the next send slot of `host` shared by every worker of the
/// crawl. A send more than `late` after its slot would land close to the
/// next one: it takes a new slot instead, so sends stay spaced.
async fn shared_send_slot(frontier: RedisFrontier, host: String, interval: Duration) {
    let late = (interval / 4).max(Duration::from_millis(2));
    for _ in 0..5 {
        match frontier.reserve_host_slot(&host, interval).await {
            Ok(slot) => {
                let due = tokio::time::Instant::now() + slot.wait;
                tokio::time::sleep_until(due).await;
                if tokio::time::Instant::now() <= due + late {
                    return;
                }
            }
            // The page then goes without a slot, logged (a worker runs no
            // local per-host delay: see the host's `worker` command).
            Err(e) => {
                tracing::warn!(target: "crawlbox", "no shared send slot for {host}: {e}");
                return;
            }
        }
    }
}
