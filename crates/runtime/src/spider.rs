//! Spider mode: the host drives the crawl. It asks the spider for start
//! requests, fetches from the [`Frontier`] with as many pages in flight as
//! the global cap allows, hands each response to the spider's `parse`, and
//! commits the page's items (in the frontier's journal first, then to the
//! sink) together with the page's completion.
//!
//! One instance serves the whole crawl: `parse` calls are short and many,
//! and instantiating per call measured several times slower (see
//! docs/spiders.md). Fetches run as tasks of their own, so the network
//! keeps going while the spider parses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crawlbox_frontier::{Entry, Frontier, PageRequest, Push};
use crawlbox_net::{FetchError, Session, StatsSnapshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::engine::PluginKind;
use crate::host::crawlbox::plugin::host as wit;
use crate::host::{to_net_request, to_wit_response};
use crate::state::record_line;
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
                if let Err(outcome) = offer(frontier, session, request, String::new(), 0, 0) {
                    return outcome;
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
                store = self.store(plugin, input, limits, session.clone(), sink.clone(), None);
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
            let items = valid_items(plugin, &entry.request.url, output.items);
            for follow in output.follow {
                let priority = follow.priority.unwrap_or(0);
                if let Err(outcome) = offer(
                    frontier,
                    session,
                    follow.request,
                    follow.meta,
                    priority,
                    entry.depth + 1,
                ) {
                    return outcome;
                }
            }
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
        }
    }
}

#[derive(Debug, Default)]
struct Progress {
    pages: u64,
    failed: u64,
    items: u64,
}

/// Asks the spider for its start requests: `start` with the run's input
/// (`null` when there is none). `Err`: the run ends so.
pub(crate) async fn start_requests(
    spider: &bindings::Spider,
    store: &mut wasmtime::Store<crate::state::PluginState>,
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
    store: &mut wasmtime::Store<crate::state::PluginState>,
    plugin: &Plugin,
    url: &str,
    fetched: Result<crawlbox_net::Response, FetchError>,
    meta: &str,
) -> Result<Result<bindings::crawlbox::plugin::spider_types::ParseOutput, String>, Outcome> {
    let response = match fetched {
        Ok(response) => to_wit_response(response),
        Err(err) => {
            tracing::warn!(target: "plugin", plugin = &*plugin.name, "{url}: {err}");
            return Ok(Err(err.to_string()));
        }
    };
    match spider.call_parse(&mut *store, &response, meta).await {
        Ok(Ok(output)) => Ok(Ok(output)),
        Ok(Err(message)) => {
            tracing::warn!(target: "plugin", plugin = &*plugin.name, "parse {url}: {message}");
            Ok(Err(message))
        }
        Err(trap) => Err(trap_outcome(store, &trap)),
    }
}

/// Queues a request a spider yielded, unless the run's policy denies it.
fn offer(
    frontier: &mut Frontier,
    session: &Session,
    request: wit::Request,
    meta: String,
    priority: i32,
    depth: u32,
) -> Result<(), Outcome> {
    let Some(request) = admit(session, request) else {
        return Ok(());
    };
    match frontier.push(request, meta, priority, depth) {
        Ok(Push::Invalid(why)) => {
            tracing::debug!(target: "plugin", "not queued: {why}");
            Ok(())
        }
        Ok(_) => Ok(()),
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
                tracing::debug!(target: "plugin", "not queued: {err}");
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
            Err(e) => {
                tracing::warn!(target: "plugin", plugin = &*plugin.name, "dropped an item of {url}: {e}")
            }
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
        timeout_ms: None,
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
    store: &mut wasmtime::Store<crate::state::PluginState>,
    trap: &wasmtime::Error,
) -> Outcome {
    store
        .data_mut()
        .stopped
        .take()
        .unwrap_or_else(|| Outcome::Trapped(crate::run::describe_trap(trap)))
}
