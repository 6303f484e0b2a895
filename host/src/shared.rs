//! Crawls kept in Redis: `crawl --redis` (publish, seed, work), `worker`
//! (work) and `export` (items as JSON Lines).

use std::process::ExitCode;

use std::io::Write;

use anyhow::Context;
use crawlbox_frontier_redis::RedisFrontier;
use crawlbox_net::Client;
use crawlbox_runtime::{Plugin, RunReport, Runtime, WorkReport, WorkerOptions};
use tokio_util::sync::CancellationToken;

use crate::cli::{CommonArgs, ExportArgs, SharedCrawlArgs, WorkerArgs};
use crate::manifest::{Job, Manifest, WasmSource};
use crate::output::{Output, PluginSink};
use crate::{exit_code, runtime, stop_on_ctrl_c, summary};

/// Connects to the crawl `name` at `url`.
async fn connect(
    url: &str,
    name: &str,
    limits: crawlbox_frontier::Limits,
) -> anyhow::Result<RedisFrontier> {
    RedisFrontier::connect(url, name, limits)
        .await
        .with_context(|| format!("cannot open the crawl {name:?}"))
}

/// `crawl --redis`: publishes `wasm` as the crawl's spider, seeds the crawl
/// if it is new, then works on it unless `seed_only`.
#[allow(clippy::too_many_arguments)]
pub async fn crawl(
    url: &str,
    name: &str,
    shared: &SharedCrawlArgs,
    seed_only: bool,
    limits: crawlbox_frontier::Limits,
    caps: crawlbox_frontier::Caps,
    job: &Job,
    wasm: &[u8],
    common: &CommonArgs,
) -> anyhow::Result<ExitCode> {
    // Refuse a component that is no spider before publishing it.
    let loaded = load_spider(job, wasm, common)?;
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
    let options = WorkerOptions {
        consumer: worker_name(shared),
        seed: true,
        seed_only,
        reclaim_after: shared.reclaim_after,
        host_interval: common.per_host_delay,
        caps,
    };
    work(&frontier, job, loaded, &options, common).await
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
    let options = WorkerOptions {
        consumer: worker_name(&args.shared),
        seed: false,
        seed_only: false,
        reclaim_after: args.shared.reclaim_after,
        host_interval: args.common.per_host_delay,
        caps: args.frontier.caps(),
    };
    let loaded = load_spider(&job, wasm, &args.common)?;
    work(&frontier, &job, loaded, &options, &args.common).await
}

/// A worker's client, runtime and spider.
struct Loaded {
    client: Client,
    runtime: Runtime,
    spider: Plugin,
}

fn load_spider(job: &Job, wasm: &[u8], common: &CommonArgs) -> anyhow::Result<Loaded> {
    // --per-host-delay becomes the crawl's shared schedule (see
    // WorkerOptions::host_interval); a local one on top would hold sends
    // past their shared slots, bunching them with other workers' sends.
    let config = crawlbox_net::ClientConfig {
        per_host_delay: std::time::Duration::ZERO,
        ..common.client_config()?
    };
    let client = Client::new(config).context("invalid network settings")?;
    let runtime: Runtime = runtime(client.clone(), &common.cache)?;
    let spider: Plugin = runtime.load(&job.name, wasm)?;
    anyhow::ensure!(
        spider.is_spider(),
        "{} is not a spider (it does not export `start` and `parse` of \
         crawlbox:plugin/spider): run it with `crawlbox run`",
        job.name
    );
    Ok(Loaded {
        client,
        runtime,
        spider,
    })
}

async fn work(
    frontier: &RedisFrontier,
    job: &Job,
    loaded: Loaded,
    options: &WorkerOptions,
    common: &CommonArgs,
) -> anyhow::Result<ExitCode> {
    let Loaded {
        client,
        runtime,
        spider,
    } = loaded;
    // Items go to Redis; what the spider `emit`s outside of them goes here.
    let sink = PluginSink::new(Output::open(common.out.as_deref())?, None);
    let session = client.session(job.session.clone());
    let cancel = CancellationToken::new();
    let interrupt = tokio::spawn(stop_on_ctrl_c(cancel.clone()));
    let report: WorkReport = runtime
        .work(
            &spider,
            &job.input,
            &job.limits,
            session,
            frontier,
            options,
            sink,
            cancel,
        )
        .await;
    interrupt.abort();
    let counts = frontier.counts().await.ok();
    let run = RunReport {
        plugin: report.plugin.clone(),
        outcome: report.outcome.clone(),
        records: report.items,
        elapsed: report.elapsed,
        stats: report.stats.clone(),
    };
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
    summary::finish_crawl(common, quiet, &client, &run, &lines, fields)?;
    Ok(exit_code(&run.outcome))
}

/// `crawlbox export`.
pub async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let frontier = connect(
        &args.redis.redis,
        &args.redis.crawl,
        crawlbox_frontier::Limits::default(),
    )
    .await?;
    let mut out: Box<dyn Write + Send> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let items = frontier.export(&mut *out).await?;
    out.flush().context("cannot write the items")?;
    let counts = frontier.counts().await?;
    tracing::info!(
        target: "crawlbox",
        "exported {items} items of {} pages ({} failed, {} queued, {} pending, {} duplicate commits skipped)",
        counts.done,
        counts.failed,
        counts.queued,
        counts.pending,
        counts.duplicates
    );
    Ok(ExitCode::SUCCESS)
}

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
