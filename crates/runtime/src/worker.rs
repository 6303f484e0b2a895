//! Spider mode over Redis: any number of worker processes, on any number of
//! machines, share one crawl kept in a [`RedisFrontier`].
//!
//! A worker claims pages, waits for the host's shared send slot (so the
//! per-host delay holds across all workers), fetches, hands each response
//! to its spider's `parse`, and commits the page with its items and
//! follow-up requests in one atomic step. A page is acknowledged only when
//! committed: the pages of a worker that dies are claimed again by the
//! others after `reclaim_after`, and a late commit of a page committed
//! before writes nothing (see `crawlbox-frontier-redis`).
//!
//! The bounds of the in-process crawl hold here too, per worker: the
//! per-page follow cap and the `meta` cap of [`WorkerOptions::caps`]
//! (counted in [`WorkReport::dropped`]), and the run's record limits for
//! items, past which the worker commits what fits and stops with
//! [`Outcome::OutputLimit`]. The queue's count and byte caps are not
//! enforced in Redis (its memory is Redis's: bound it with `maxmemory`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crawlbox_frontier_redis::{Claimed, Offer, RedisFrontier};
use crawlbox_net::{FetchError, Session, StatsSnapshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::engine::PluginKind;
use crate::spider::{
    DroppedFollows, Drops, admit, fit_items, page_request, parse_page, start_requests,
    trap_outcome, valid_items,
};
use crate::{Input, Limits, Outcome, Plugin, RecordSink, Runtime};

/// How a worker takes part in a crawl.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name among the crawl's live workers (e.g. host and
    /// process id).
    pub consumer: String,
    /// Ask the spider for its start requests if nothing was ever queued
    /// (what `crawlbox crawl --redis` does; `crawlbox worker` does not).
    pub seed: bool,
    /// Only seed: return once the start requests are queued.
    pub seed_only: bool,
    /// Pages claimed by another worker and not committed after this long
    /// are taken over. Keep it well above the request timeout.
    pub reclaim_after: Duration,
    /// Least time between two page fetches from one host, across every
    /// worker of the crawl (zero: no shared limit).
    pub host_interval: Duration,
    /// Follows per page and `meta` size (the queue's count and byte caps
    /// do not apply to Redis).
    pub caps: crawlbox_frontier::Caps,
}

/// What a worker did.
#[derive(Debug, Clone)]
pub struct WorkReport {
    /// The spider's name.
    pub plugin: String,
    /// How the work ended (`Completed`: the crawl is finished).
    pub outcome: Outcome,
    /// Pages this worker committed.
    pub pages: u64,
    /// Of those, pages that failed (fetch or `parse` error).
    pub failed_pages: u64,
    /// Items this worker committed.
    pub items: u64,
    /// Follows this worker dropped (per-page and `meta` caps).
    pub dropped: DroppedFollows,
    /// Pages this worker took over from a worker that held them too long.
    pub reclaimed: u64,
    /// Pages this worker finished that another had committed first (their
    /// items were not written again).
    pub duplicates: u64,
    /// Wall-clock time of the work.
    pub elapsed: Duration,
    /// Network statistics of the worker's session.
    pub stats: StatsSnapshot,
}

#[derive(Debug, Default)]
struct Tally {
    pages: u64,
    failed: u64,
    items: u64,
    reclaimed: u64,
    duplicates: u64,
    drops: Drops,
}

impl Runtime {
    /// Works on the crawl in `frontier` until it is finished (nothing
    /// queued, nothing pending), a limit is reached or `cancel` fires.
    /// Records the spider `emit`s (outside of `parse` output) go to `sink`.
    #[allow(clippy::too_many_arguments)]
    pub async fn work(
        &self,
        plugin: &Plugin,
        input: &Input,
        limits: &Limits,
        session: Session,
        frontier: &RedisFrontier,
        options: &WorkerOptions,
        sink: Arc<dyn RecordSink>,
        cancel: CancellationToken,
    ) -> WorkReport {
        let started = Instant::now();
        let mut tally = Tally::default();
        let work = self.work_inner(
            plugin, input, limits, &session, frontier, options, sink, &mut tally,
        );
        let outcome = tokio::select! {
            outcome = work => outcome,
            outcome = crate::run::wall_limit(limits) => outcome,
            () = cancel.cancelled() => Outcome::Interrupted,
        };
        WorkReport {
            plugin: plugin.name.to_string(),
            outcome,
            pages: tally.pages,
            failed_pages: tally.failed,
            items: tally.items,
            dropped: tally.drops.counts,
            reclaimed: tally.reclaimed,
            duplicates: tally.duplicates,
            elapsed: started.elapsed(),
            stats: session.stats().snapshot(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn work_inner(
        &self,
        plugin: &Plugin,
        input: &Input,
        limits: &Limits,
        session: &Session,
        frontier: &RedisFrontier,
        options: &WorkerOptions,
        sink: Arc<dyn RecordSink>,
        tally: &mut Tally,
    ) -> Outcome {
        let PluginKind::Spider(pre) = &plugin.kind else {
            return Outcome::Failed(format!(
                "{} is not a spider: it does not export `start` and `parse` \
                 (the crawlbox:plugin/spider world)",
                plugin.name
            ));
        };
        let redis_failed = |e: crawlbox_frontier_redis::Error| {
            Outcome::HostFailed(format!("the Redis frontier failed: {e}"))
        };
        let mut store = self.store(plugin, input, limits, session.clone(), sink, None);
        let spider = match pre.instantiate_async(&mut store).await {
            Ok(spider) => spider,
            Err(trap) => return trap_outcome(&mut store, &trap),
        };
        if options.seed {
            match frontier.counts().await {
                Ok(counts) if counts.seen == 0 => {
                    let requests = match start_requests(&spider, &mut store, input).await {
                        Ok(requests) => requests,
                        Err(outcome) => return outcome,
                    };
                    let offers = requests
                        .into_iter()
                        .filter_map(|r| admit(session, r))
                        .map(Offer::new)
                        .collect();
                    if let Err(e) = frontier.push(offers).await {
                        return redis_failed(e);
                    }
                }
                Ok(_) => {
                    tracing::info!(target: "crawlbox", "the crawl {} was seeded before: joining it", frontier.crawl());
                }
                Err(e) => return redis_failed(e),
            }
            if options.seed_only {
                return Outcome::Completed;
            }
        }
        let width = session.client().config().concurrency;
        let mut fetches: JoinSet<(Claimed, Result<crawlbox_net::Response, FetchError>)> =
            JoinSet::new();
        // Commits run beside the next pages: a round trip to Redis per page
        // would otherwise hold up the whole loop.
        let mut commits: JoinSet<Result<Committed, crawlbox_frontier_redis::Error>> =
            JoinSet::new();
        loop {
            while let Some(done) = commits.try_join_next() {
                match done.expect("commit tasks do not panic") {
                    Ok(committed) => tally.add(&committed),
                    Err(e) => return redis_failed(e),
                }
            }
            // At most `width` commits under way: a worker never holds more
            // than twice its width of unacknowledged pages.
            while commits.len() >= width
                && let Some(done) = commits.join_next().await
            {
                match done.expect("commit tasks do not panic") {
                    Ok(committed) => tally.add(&committed),
                    Err(e) => return redis_failed(e),
                }
            }
            // Claim in batches: when half the width is free.
            if fetches.len() <= width / 2 {
                if fetches.is_empty() {
                    // Settle every commit before waiting for work or deciding
                    // that the crawl is over.
                    while let Some(done) = commits.join_next().await {
                        match done.expect("commit tasks do not panic") {
                            Ok(committed) => tally.add(&committed),
                            Err(e) => return redis_failed(e),
                        }
                    }
                }
                // Wait for work only when there is nothing else to do.
                let block = if fetches.is_empty() {
                    Duration::from_secs(1)
                } else {
                    Duration::ZERO
                };
                let claimed = match frontier
                    .claim(
                        &options.consumer,
                        width - fetches.len(),
                        block,
                        options.reclaim_after,
                    )
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(e) => return redis_failed(e),
                };
                if claimed.is_empty() && fetches.is_empty() {
                    match frontier.is_finished().await {
                        Ok(true) => return Outcome::Completed,
                        Ok(false) => continue,
                        Err(e) => return redis_failed(e),
                    }
                }
                for page in claimed {
                    tally.reclaimed += u64::from(page.reclaimed);
                    fetches.spawn(fetch_page(
                        page,
                        session.clone(),
                        frontier.clone(),
                        options.host_interval,
                    ));
                }
            }
            let Some(done) = fetches.join_next().await else {
                continue;
            };
            let (page, result) = done.expect("fetch tasks do not panic");
            let url = page.entry.request.url.clone();
            let outcome =
                match parse_page(&spider, &mut store, plugin, &url, result, &page.entry.meta).await
                {
                    Ok(outcome) => outcome,
                    Err(outcome) => return outcome,
                };
            let caps = options.caps;
            let mut limit = None;
            let (items, follows, error) = match outcome {
                Ok(output) => {
                    let mut items = valid_items(plugin, &url, output.items);
                    let mut follow = output.follow;
                    let over = caps.cap_follows(&mut follow);
                    tally
                        .drops
                        .over_page_cap(plugin, &url, follow.len() + over, over, caps);
                    let mut follows = Vec::with_capacity(follow.len());
                    for follow in follow {
                        if let Some(push) = caps.check_meta(&follow.meta) {
                            tally
                                .drops
                                .pushed(plugin, &url, &follow.request.url, &push, caps);
                            continue;
                        }
                        let Some(request) = admit(session, follow.request) else {
                            continue;
                        };
                        follows.push(
                            Offer::new(request)
                                .meta(follow.meta)
                                .priority(follow.priority.unwrap_or(0))
                                .depth(page.entry.depth + 1),
                        );
                    }
                    // Items within this worker's record limits (shared with `emit`).
                    limit = fit_items(store.data_mut(), &url, &mut items);
                    (items, follows, None)
                }
                Err(message) => (Vec::new(), Vec::new(), Some(message)),
            };
            // The page, its items and its follow-ups commit together.
            let frontier = frontier.clone();
            commits.spawn(async move {
                let completion = frontier
                    .complete(&page, &items, follows, error.as_deref())
                    .await?;
                Ok(Committed {
                    duplicate: completion.duplicate,
                    items: items.len() as u64,
                    failed: error.is_some(),
                })
            });
            if let Some(why) = limit {
                // Settle every commit (their items are kept); the pages
                // still being fetched are not committed: another worker
                // takes them over after `reclaim_after`.
                while let Some(done) = commits.join_next().await {
                    match done.expect("commit tasks do not panic") {
                        Ok(committed) => tally.add(&committed),
                        Err(e) => return redis_failed(e),
                    }
                }
                return Outcome::OutputLimit(why);
            }
        }
    }
}

/// A page committed by a worker.
#[derive(Debug)]
struct Committed {
    duplicate: bool,
    items: u64,
    failed: bool,
}

impl Tally {
    fn add(&mut self, committed: &Committed) {
        if committed.duplicate {
            self.duplicates += 1;
        } else {
            self.pages += 1;
            self.failed += u64::from(committed.failed);
            self.items += committed.items;
        }
    }
}

/// Fetches a claimed page once its host's shared send slot comes.
async fn fetch_page(
    page: Claimed,
    session: Session,
    frontier: RedisFrontier,
    host_interval: Duration,
) -> (Claimed, Result<crawlbox_net::Response, FetchError>) {
    let request = match page_request(&page.entry.request) {
        Ok(request) => request,
        Err(err) => return (page, Err(err)),
    };
    if !host_interval.is_zero() {
        let host = format!(
            "{}://{}",
            request.url.scheme(),
            request.url.host_str().unwrap_or_default()
        );
        let host = match request.url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        // A send more than `late` after its slot would land close to the
        // next one: take a new slot instead, so sends stay spaced.
        let late = (host_interval / 4).max(Duration::from_millis(2));
        for _ in 0..5 {
            match frontier.reserve_host_slot(&host, host_interval).await {
                Ok(slot) => {
                    let due = tokio::time::Instant::now() + slot.wait;
                    tokio::time::sleep_until(due).await;
                    if tokio::time::Instant::now() <= due + late {
                        break;
                    }
                }
                // The page then goes without a slot, logged (a worker runs no
                // local per-host delay: see the host's `shared` module).
                Err(e) => {
                    tracing::warn!(target: "crawlbox", "no shared send slot for {host}: {e}");
                    break;
                }
            }
        }
    }
    let result = session.fetch(request).await;
    (page, result)
}
