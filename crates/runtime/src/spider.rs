//! Spider mode: the host drives the crawl. It asks the spider for start
//! requests, fetches from the [`Frontier`] with as many pages in flight as
//! the global cap allows, hands each response to the spider's `parse`, and
//! commits the page's items (in the frontier's journal first, then to the
//! sink) together with the page's completion.
//!
//! What a spider yields is held by the host, outside the spider's memory
//! limit, so it is bounded: follows by the frontier's [`Caps`] (per page,
//! `meta` size, queued count and bytes) and the page limit, each drop
//! counted by reason in [`DroppedFollows`] and warned about once; items by
//! the run's record limits (`--max-records`, `--max-output`), shared with
//! what the spider `emit`s, past which the crawl ends as
//! [`Outcome::OutputLimit`] (Scrapy's `CLOSESPIDER_ITEMCOUNT` closes the
//! spider too).
//!
//! One instance serves the whole crawl: `parse` calls are short and many,
//! and instantiating per call measured several times slower (see
//! docs/spiders.md). Fetches run as tasks of their own, so the network
//! keeps going while the spider parses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crawlbox_frontier::{Caps, Entry, Frontier, PageRequest, Push};
use crawlbox_net::{FetchError, Session, StatsSnapshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::engine::PluginKind;
use crate::host::crawlbox::plugin::host as wit;
use crate::host::{to_net_request, to_wit_response};
use crate::output::escape_untrusted;
use crate::state::{PluginState, record_line};
use crate::{Input, Limits, Outcome, Plugin, RecordSink, Runtime};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "crawlbox:plugin/spider",
        exports: { default: async },
        with: {
            "crawlbox:plugin/host": crate::host::crawlbox::plugin::host,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

/// What a crawl did.
#[derive(Debug, Clone)]
pub struct CrawlReport {
    /// The spider's name.
    pub plugin: String,
    /// How the crawl ended.
    pub outcome: Outcome,
    /// Pages finished in this run.
    pub pages: u64,
    /// Pages that failed (fetch error or `parse` error) in this run.
    pub failed_pages: u64,
    /// Items written in this run.
    pub items: u64,
    /// Follows dropped by the frontier's caps or the page limit.
    pub dropped: DroppedFollows,
    /// Whether this run resumed an earlier one.
    pub resumed: bool,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Network statistics of the run's session.
    pub stats: StatsSnapshot,
}

impl Runtime {
    /// Crawls with a spider plugin until the frontier is empty or a limit
    /// is reached. Items go to `sink` after the frontier committed them.
    /// `fresh_instance`: a new instance for every `parse` call instead of
    /// one for the whole crawl (isolates pages from one another; slower).
    #[allow(clippy::too_many_arguments)]
    pub async fn crawl(
        &self,
        plugin: &Plugin,
        input: &Input,
        limits: &Limits,
        session: Session,
        frontier: &mut Frontier,
        sink: Arc<dyn RecordSink>,
        cancel: CancellationToken,
        fresh_instance: bool,
    ) -> CrawlReport {
        let started = Instant::now();
        let resumed = !frontier.is_new();
        let mut progress = Progress::default();
        let crawl = self.crawl_inner(
            plugin,
            input,
            limits,
            &session,
            frontier,
            &sink,
            &mut progress,
            fresh_instance,
        );
        let wall_limit = crate::run::wall_limit(limits);
        let outcome = tokio::select! {
            outcome = crawl => outcome,
            outcome = wall_limit => outcome,
            () = cancel.cancelled() => Outcome::Interrupted,
        };
        if let Err(e) = frontier.sync() {
            tracing::warn!(target: "crawlbox", "cannot sync the crawl journal: {e}");
        }
        CrawlReport {
            plugin: plugin.name.to_string(),
            outcome,
            pages: progress.pages,
            failed_pages: progress.failed,
            items: progress.items,
            dropped: progress.drops.counts,
            resumed,
            elapsed: started.elapsed(),
            stats: session.stats().snapshot(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn crawl_inner(
        &self,
        plugin: &Plugin,
        input: &Input,
        limits: &Limits,
        session: &Session,
        frontier: &mut Frontier,
        sink: &Arc<dyn RecordSink>,
        progress: &mut Progress,
        fresh_instance: bool,
    ) -> Outcome {
        let PluginKind::Spider(pre) = &plugin.kind else {
            return Outcome::Failed(format!(
                "{} is not a spider: it does not export `start` and `parse` \
                 (the crawlbox:plugin/spider world); run it with `crawlbox run`",
                plugin.name
            ));
        };
        let caps = frontier.caps();
        let mut store = self.store(plugin, input, limits, session.clone(), sink.clone(), None);
        let mut spider = match pre.instantiate_async(&mut store).await {
            Ok(spider) => spider,
            Err(trap) => return trap_outcome(&mut store, &trap),
        };
        // A resumed crawl does not start again: its frontier remembers.
        if frontier.is_new() {
            let requests = match start_requests(&spider, &mut store, input).await {
                Ok(requests) => requests,
                Err(outcome) => return outcome,
            };
            for request in requests {
                let offered = offer(frontier, session, request, String::new(), 0, 0);
                match offered {
                    Ok(Some((url, push))) => {
                        progress.drops.pushed(plugin, "start", &url, &push, caps)
                    }
                    Ok(None) => {}
                    Err(outcome) => return outcome,
                }
            }
        }
        let width = session.client().config().concurrency;
        let mut fetches: JoinSet<(Entry, Result<crawlbox_net::Response, FetchError>)> =
            JoinSet::new();
        loop {
            while fetches.len() < width {
                let Some(entry) = frontier.pop() else { break };
                let session = session.clone();
                fetches.spawn(async move {
                    let result = match page_request(&entry.request) {
                        Ok(request) => session.fetch(request).await,
                        Err(err) => Err(err),
                    };
                    (entry, result)
                });
            }
            let Some(done) = fetches.join_next().await else {
                return Outcome::Completed;
            };
            let (entry, result) = done.expect("fetch tasks do not panic");
            if fresh_instance && result.is_ok() {
                let written = record_counts(store.data());
                store = self.store(plugin, input, limits, session.clone(), sink.clone(), None);
                // The record limits are the crawl's, not the instance's.
                (store.data_mut().records, store.data_mut().output_bytes) = written;
                spider = match pre.instantiate_async(&mut store).await {
                    Ok(spider) => spider,
                    Err(trap) => return trap_outcome(&mut store, &trap),
                };
            }
            let parsed = parse_page(
                &spider,
                &mut store,
                plugin,
                &entry.request.url,
                result,
                &entry.meta,
            )
            .await;
            let output = match parsed {
                Ok(Ok(output)) => output,
                Ok(Err(why)) => {
                    progress.failed += 1;
                    if let Err(e) = frontier.complete(&entry, &[], Some(&why)) {
                        return journal_failed(e);
                    }
                    progress.pages += 1;
                    continue;
                }
                Err(outcome) => return outcome,
            };
            let page_url = &entry.request.url;
            let mut items = valid_items(plugin, page_url, output.items);
            let mut follows = output.follow;
            let over = caps.cap_follows(&mut follows);
            progress
                .drops
                .over_page_cap(plugin, page_url, follows.len() + over, over, caps);
            let mut follows = follows.into_iter();
            for follow in follows.by_ref() {
                // Nothing more can be fetched: the rest are not even parsed.
                if frontier.is_full_for_pages() {
                    progress.drops.counts.beyond_max_pages += 1;
                    break;
                }
                let priority = follow.priority.unwrap_or(0);
                let offered = offer(
                    frontier,
                    session,
                    follow.request,
                    follow.meta,
                    priority,
                    entry.depth + 1,
                );
                match offered {
                    Ok(Some((url, push))) => {
                        progress.drops.pushed(plugin, page_url, &url, &push, caps);
                    }
                    Ok(None) => {}
                    Err(outcome) => return outcome,
                }
            }
            progress.drops.counts.beyond_max_pages += follows.len() as u64;
            // Items within the run's record limits (shared with `emit`).
            let limit = fit_items(store.data_mut(), page_url, &mut items);
            // The page and its items commit together, in the journal first.
            if let Err(e) = frontier.complete(&entry, &items, None) {
                return journal_failed(e);
            }
            progress.pages += 1;
            for item in &items {
                if let Err(e) = sink.write(&plugin.name, item) {
                    return Outcome::OutputFailed(format!("writing an item failed: {e}"));
                }
                progress.items += 1;
            }
            if let Some(why) = limit {
                return Outcome::OutputLimit(why);
            }
        }
    }
}

/// Records written so far and their bytes (items and `emit`s together).
fn record_counts(state: &PluginState) -> (u64, u64) {
    (state.records, state.output_bytes)
}

/// Keeps the items of the page at `url` that fit in the run's record
/// limits (`--max-records`, `--max-output`; what the spider `emit`s counts
/// too) and charges them; `Some(why)` when some did not fit: the crawl then
/// ends, once the page is committed with the items that fit. The others
/// are dropped (a resumed crawl does not fetch the page again).
pub(crate) fn fit_items(
    state: &mut PluginState,
    url: &str,
    items: &mut Vec<String>,
) -> Option<String> {
    let mut fit = 0;
    let mut why = None;
    for item in items.iter() {
        let bytes = item.len() as u64;
        if let Some(max) = state.max_records
            && state.records >= max
        {
            why = Some(format!(
                "the crawl reached its limit of {max} records (--max-records, \
                 limits.max_records)"
            ));
            break;
        }
        if let Some(max) = state.max_output_bytes
            && state.output_bytes.saturating_add(bytes) > max
        {
            why = Some(format!(
                "the crawl reached its limit of {max} bytes of records (--max-output, \
                 limits.max_output)"
            ));
            break;
        }
        state.records += 1;
        state.output_bytes += bytes;
        fit += 1;
    }
    let dropped = items.len() - fit;
    items.truncate(fit);
    why.map(|why| {
        format!(
            "{why}: it stopped at {}, whose last {dropped} items were dropped",
            escape_untrusted(url)
        )
    })
}

/// Follows a crawl dropped instead of queueing them, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DroppedFollows {
    /// Past the per-page cap (`--max-follows-per-page`).
    pub over_page_cap: u64,
    /// `meta` over its cap (`--max-meta-size`).
    pub meta_too_large: u64,
    /// The queue held its most requests or bytes (`--max-queued`,
    /// `--max-queued-bytes`).
    pub queue_full: u64,
    /// The page limit could not use them (`--max-pages`): they would never
    /// have been fetched.
    pub beyond_max_pages: u64,
}

impl DroppedFollows {
    /// All of them.
    pub fn total(&self) -> u64 {
        self.over_page_cap + self.meta_too_large + self.queue_full + self.beyond_max_pages
    }

    /// `over the per-page cap: N, ...`, the non-zero reasons only.
    pub fn describe(&self) -> String {
        [
            ("over the per-page cap", self.over_page_cap),
            ("meta too large", self.meta_too_large),
            ("queue full", self.queue_full),
            ("beyond --max-pages", self.beyond_max_pages),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(why, n)| format!("{why}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Counts dropped follows and warns about the first of each reason (the
/// summary has the counts): a crawl that drops millions logs a few lines.
#[derive(Debug, Default)]
pub(crate) struct Drops {
    pub(crate) counts: DroppedFollows,
    warned_page_cap: bool,
    warned_meta: bool,
    warned_queue: bool,
}

impl Drops {
    /// `over` of a page's `yielded` follows were past the per-page cap.
    pub(crate) fn over_page_cap(
        &mut self,
        plugin: &Plugin,
        page: &str,
        yielded: usize,
        over: usize,
        caps: Caps,
    ) {
        if over == 0 {
            return;
        }
        self.counts.over_page_cap += over as u64;
        if !std::mem::replace(&mut self.warned_page_cap, true) {
            tracing::warn!(
                target: "plugin",
                plugin = &*plugin.name,
                "parse {} yielded {yielded} follows, over the limit of {} a page \
                 (--max-follows-per-page): the last {over} were dropped (further drops \
                 are counted in the summary)",
                escape_untrusted(page),
                caps.max_follows_per_page
            );
        }
    }

    /// What the frontier made of a follow of `page` to `url`.
    pub(crate) fn pushed(
        &mut self,
        plugin: &Plugin,
        page: &str,
        url: &str,
        push: &Push,
        caps: Caps,
    ) {
        let (page, url) = (escape_untrusted(page), escape_untrusted(url));
        match push {
            Push::PageLimit => self.counts.beyond_max_pages += 1,
            Push::MetaTooLarge(bytes) => {
                self.counts.meta_too_large += 1;
                if !std::mem::replace(&mut self.warned_meta, true) {
                    tracing::warn!(
                        target: "plugin",
                        plugin = &*plugin.name,
                        "dropped the follow of {page} to {url}: its meta is {bytes} bytes, \
                         over the limit of {} (--max-meta-size) (further drops are counted in \
                         the summary)",
                        caps.max_meta_bytes
                    );
                }
            }
            Push::QueueFull | Push::QueueBytesFull => {
                self.counts.queue_full += 1;
                if !std::mem::replace(&mut self.warned_queue, true) {
                    let cap = if *push == Push::QueueFull {
                        format!("{} requests (--max-queued)", caps.max_queued)
                    } else {
                        format!("{} bytes (--max-queued-bytes)", caps.max_queued_bytes)
                    };
                    tracing::warn!(
                        target: "plugin",
                        plugin = &*plugin.name,
                        "dropped the follow of {page} to {url}: the crawl's queue holds its \
                         limit of {cap}; follows are dropped until pages are taken from it \
                         (further drops are counted in the summary)"
                    );
                }
            }
            Push::Invalid(why) => {
                tracing::debug!(target: "plugin", "not queued: {}", escape_untrusted(why));
            }
            Push::Added | Push::Seen | Push::TooDeep => {}
        }
    }
}

#[derive(Debug, Default)]
struct Progress {
    pages: u64,
    failed: u64,
    items: u64,
    drops: Drops,
}

/// Asks the spider for its start requests: `start` with the run's input
/// (`null` when there is none). `Err`: the run ends so.
pub(crate) async fn start_requests(
    spider: &bindings::Spider,
    store: &mut wasmtime::Store<PluginState>,
    input: &Input,
) -> Result<Vec<wit::Request>, Outcome> {
    let json = if input.json.trim().is_empty() {
        "null"
    } else {
        &input.json
    };
    match spider.call_start(&mut *store, json).await {
        Ok(Ok(requests)) => Ok(requests),
        Ok(Err(message)) => Err(Outcome::Failed(message)),
        Err(trap) => Err(trap_outcome(store, &trap)),
    }
}

/// Hands a fetched page to the spider's `parse`. `Ok(Err(why))`: the page
/// failed (its fetch or its `parse`; logged); `Err`: the spider trapped and
/// the run ends so.
pub(crate) async fn parse_page(
    spider: &bindings::Spider,
    store: &mut wasmtime::Store<PluginState>,
    plugin: &Plugin,
    url: &str,
    fetched: Result<crawlbox_net::Response, FetchError>,
    meta: &str,
) -> Result<Result<bindings::crawlbox::plugin::spider_types::ParseOutput, String>, Outcome> {
    let response = match fetched {
        Ok(response) => to_wit_response(response),
        Err(err) => {
            let text = format!("{url}: {err}");
            tracing::warn!(target: "plugin", plugin = &*plugin.name, "{}", escape_untrusted(&text));
            return Ok(Err(err.to_string()));
        }
    };
    match spider.call_parse(&mut *store, &response, meta).await {
        Ok(Ok(output)) => Ok(Ok(output)),
        Ok(Err(message)) => {
            let text = format!("parse {url}: {message}");
            tracing::warn!(target: "plugin", plugin = &*plugin.name, "{}", escape_untrusted(&text));
            Ok(Err(message))
        }
        Err(trap) => Err(trap_outcome(store, &trap)),
    }
}

/// Queues a request a spider yielded, unless the run's policy denies it;
/// the request's URL and what the frontier made of it (`None`: denied).
fn offer(
    frontier: &mut Frontier,
    session: &Session,
    request: wit::Request,
    meta: String,
    priority: i32,
    depth: u32,
) -> Result<Option<(String, Push)>, Outcome> {
    let Some(request) = admit(session, request) else {
        return Ok(None);
    };
    let url = request.url.clone();
    match frontier.push(request, meta, priority, depth) {
        Ok(push) => Ok(Some((url, push))),
        Err(e) => Err(journal_failed(e)),
    }
}

/// A request a spider yielded as the frontier keeps it, unless it is not
/// a valid URL or the run's policy denies it (counted in the run's stats).
pub(crate) fn admit(session: &Session, request: wit::Request) -> Option<PageRequest> {
    match Url::parse(&request.url) {
        Ok(url) => {
            if let Err(err) = session.config().egress.check_url(&url) {
                session.stats().record_error(err.kind);
                let text = err.to_string();
                tracing::debug!(target: "plugin", "not queued: {}", escape_untrusted(&text));
                return None;
            }
        }
        Err(e) => {
            tracing::debug!(target: "plugin", "not queued: invalid URL {:?}: {e}", request.url);
            return None;
        }
    }
    Some(PageRequest {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        timeout_ms: request.timeout_ms,
        text: request.text.map(|how| match how {
            wit::TextDecoding::Detect => crawlbox_frontier::TextDecoding::Detect,
            wit::TextDecoding::Charset(label) => crawlbox_frontier::TextDecoding::Charset(label),
        }),
    })
}

/// The items of a page that are valid JSON, as output lines; the others
/// are logged and dropped.
pub(crate) fn valid_items(plugin: &Plugin, url: &str, items: Vec<String>) -> Vec<String> {
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        match record_line(item) {
            Ok(line) => lines.push(line),
            Err(e) => tracing::warn!(
                target: "plugin",
                plugin = &*plugin.name,
                "dropped an item of {}: {e}",
                escape_untrusted(url)
            ),
        }
    }
    lines
}

pub(crate) fn page_request(request: &PageRequest) -> Result<crawlbox_net::Request, FetchError> {
    to_net_request(wit::Request {
        method: request.method.clone(),
        url: request.url.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
        timeout_ms: request.timeout_ms,
        text: request.text.clone().map(|how| match how {
            crawlbox_frontier::TextDecoding::Detect => wit::TextDecoding::Detect,
            crawlbox_frontier::TextDecoding::Charset(label) => wit::TextDecoding::Charset(label),
        }),
    })
}

fn journal_failed(e: std::io::Error) -> Outcome {
    Outcome::OutputFailed(format!("writing the crawl journal failed: {e}"))
}

pub(crate) fn trap_outcome(
    store: &mut wasmtime::Store<PluginState>,
    trap: &wasmtime::Error,
) -> Outcome {
    store
        .data_mut()
        .stopped
        .take()
        .unwrap_or_else(|| Outcome::Trapped(crate::run::describe_trap(trap)))
}
