//! Crawls kept in Redis: `crawl --redis` (publish, seed, work) and
//! `worker` (work).

use std::process::ExitCode;

use anyhow::Context;
use crawlbox_crawl::{CrawlOptions, CrawlReport, RedisCrawl};
use crawlbox_frontier_redis::RedisFrontier;
use crawlbox_runtime::{Plugin, RunReport};

use super::{Host, exit_code};
use crate::cli::{CommonArgs, SharedCrawlArgs, WorkerArgs};
use crate::manifest::{Job, Manifest, WasmSource};
use crate::output::{Output, PluginSink};
use crate::summary;

/// Connects to the crawl `name` at `url`.
pub async fn connect(
    url: &str,
    name: &str,
    limits: crawlbox_frontier::Limits,
) -> anyhow::Result<RedisFrontier> {
    RedisFrontier::connect(url, name, limits)
        .await
        .with_context(|| format!("cannot open the crawl {name:?}"))
}

/// What `crawl --redis` was asked for.
pub struct SharedCrawl<'a> {
    /// The Redis URL.
    pub url: &'a str,
    /// The crawl's name (`--crawl`).
    pub name: &'a str,
    pub shared: &'a SharedCrawlArgs,
    pub seed_only: bool,
    pub limits: crawlbox_frontier::Limits,
    pub caps: crawlbox_frontier::Caps,
    /// Spider instances parsing at once.
    pub instances: usize,
}

/// `crawl --redis`: publishes `wasm` as the crawl's spider, seeds the crawl
/// if it is new, then works on it unless `seed_only`.
pub async fn crawl(
    crawl: SharedCrawl<'_>,
    job: &Job,
    wasm: &[u8],
    common: &CommonArgs,
) -> anyhow::Result<ExitCode> {
    let SharedCrawl {
        url,
        name,
        shared,
        seed_only,
        limits,
        caps,
        instances,
    } = crawl;
    // Refuse a component that is no spider before publishing it.
    let (host, spider) = load_spider(job, wasm, common)?;
    let frontier = connect(url, name, limits).await?;
    let hash = frontier.publish_component(wasm).await?;
    let recorded = frontier.record_limits().await?;
    if recorded != limits {
        tracing::warn!(
            target: "crawlbox",
            "the crawl {name:?} keeps the limits it was seeded with ({recorded:?}), not {limits:?}"
        );
    }
    tracing::info!(target: "crawlbox", "crawl {name:?} at {url}: spider {}", &hash[..16]);
    let frontier = RedisCrawl {
        frontier,
        consumer: worker_name(shared),
        reclaim_after: shared.reclaim_after,
        host_interval: common.per_host_delay,
        caps,
    };
    let options = CrawlOptions {
        seed: true,
        seed_only,
        fresh_instance: false,
        instances,
        ..CrawlOptions::default()
    };
    work(frontier, job, host, spider, options, common).await
}

/// `crawlbox worker`.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let limits = crawlbox_frontier::Limits {
        max_pages: args.max_pages,
        max_depth: args.max_depth,
    };
    let mut frontier = connect(&args.redis.redis, &args.redis.crawl, limits).await?;
    // Without limits of its own, a worker takes the crawl's.
    if args.max_pages.is_none() && args.max_depth.is_none() {
        frontier.adopt_limits().await?;
    } else if let Some(recorded) = frontier.recorded_limits().await?
        && recorded != limits
    {
        tracing::warn!(
            target: "crawlbox",
            "this worker's limits {limits:?} differ from the crawl's {recorded:?}"
        );
    }
    let (hash, wasm) = frontier.component().await?;
    let manifest = match &args.manifest {
        Some(path) => Manifest::load(path)?,
        None => Manifest::default(),
    };
    // The spider's bytes live as long as the process.
    let wasm: &'static [u8] = Box::leak(wasm.into_boxed_slice());
    let job = Job::resolve(
        WasmSource::Embedded(wasm),
        &format!("spider-{}", &hash[..12]),
        &manifest,
        None,
        &[],
        &args.plugin,
    )?;
    let frontier = RedisCrawl {
        frontier,
        consumer: worker_name(&args.shared),
        reclaim_after: args.shared.reclaim_after,
        host_interval: args.common.per_host_delay,
        caps: args.frontier.caps(),
    };
    let options = CrawlOptions {
        seed: false,
        seed_only: false,
        fresh_instance: false,
        instances: args.parse.instances(),
        ..CrawlOptions::default()
    };
    let (host, spider) = load_spider(&job, wasm, &args.common)?;
    work(frontier, &job, host, spider, options, &args.common).await
}

/// A worker's client, runtime and spider.
fn load_spider(job: &Job, wasm: &[u8], common: &CommonArgs) -> anyhow::Result<(Host, Plugin)> {
    // --per-host-delay becomes the crawl's shared schedule (see
    // RedisCrawl::host_interval); a local one on top would hold sends
    // past their shared slots, bunching them with other workers' sends.
    let config = crawlbox_net::ClientConfig {
        per_host_delay: std::time::Duration::ZERO,
        ..common.client_config()?
    };
    let host = Host::start(config, common)?;
    let spider = host.load_spider(job, wasm, &job.name)?;
    Ok((host, spider))
}

async fn work(
    mut frontier: RedisCrawl,
    job: &Job,
    host: Host,
    spider: Plugin,
    options: CrawlOptions,
    common: &CommonArgs,
) -> anyhow::Result<ExitCode> {
    // Items go to Redis; what the spider `emit`s outside of them goes here.
    let sink = PluginSink::new(Output::open(common.out.as_deref())?, None);
    let spec = host.spec(job, spider, sink);
    host.watch.crawl(options.progress.clone());
    // The shared frontier's size, for --metrics: read now and then.
    let queued = tokio::spawn({
        let (frontier, progress) = (frontier.frontier.clone(), options.progress.clone());
        async move {
            let mut tick = tokio::time::interval(QUEUED_INTERVAL);
            loop {
                tick.tick().await;
                if let Ok(counts) = frontier.counts().await {
                    progress.set_queued(counts.queued);
                }
            }
        }
    });
    let report: CrawlReport =
        crawlbox_crawl::crawl(&host.runtime, spec, &mut frontier, options.clone()).await;
    queued.abort();
    let frontier = &frontier.frontier;
    let counts = frontier.counts().await.ok();
    if let Some(c) = &counts {
        options.progress.set_queued(c.queued);
    }
    let run = RunReport::from(&report);
    host.watch.run_ended(&run.outcome);
    let figures = summary::crawl_figures(
        &report,
        counts.as_ref().map(|c| c.queued),
        counts.as_ref().map(|c| c.done),
    );
    let mut lines = vec![format!(
        "  pages              {} by this worker ({} failed, {} taken over, {} duplicates)",
        report.pages, report.failed_pages, report.reclaimed, report.duplicates
    )];
    lines.extend(summary::dropped_follows(&report.dropped));
    let mut fields = serde_json::json!({
        "pages": report.pages,
        "failed_pages": report.failed_pages,
        "reclaimed": report.reclaimed,
        "duplicates": report.duplicates,
        "dropped_follows": summary::dropped_json(&report.dropped),
    });
    if let Some(c) = &counts {
        lines.push(format!(
            "  crawl {:<12} {} done, {} queued, {} pending, {} items, {} duplicates in all",
            frontier.crawl(),
            c.done,
            c.queued,
            c.pending,
            c.items,
            c.duplicates
        ));
        fields["crawl"] = serde_json::json!({
            "done": c.done, "queued": c.queued, "pending": c.pending,
            "items": c.items, "duplicates": c.duplicates, "failed": c.failed,
        });
    }
    // Seeding alone has no summary to show, only a failure to report.
    let quiet = common.quiet || options.seed_only;
    let end = summary::CrawlEnd {
        job,
        run: &run,
        lines: &lines,
        fields,
        figures,
    };
    summary::finish_crawl(&host, common, quiet, end).await?;
    Ok(exit_code(&run.outcome))
}

/// How often a worker reads the shared frontier's size (for --metrics).
const QUEUED_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// `--worker-name`, else HOSTNAME-PID.
fn worker_name(shared: &SharedCrawlArgs) -> String {
    shared.worker_name.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "worker".to_owned());
        format!("{host}-{}", std::process::id())
    })
}
