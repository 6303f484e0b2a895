//! `crawlbox crawl`: a spider, the host owning the frontier (in memory, in
//! a state directory to resume, or in Redis with `--redis`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use crawlbox_crawl::{CrawlOptions, CrawlReport};
use crawlbox_runtime::RunReport;

use super::{Host, exit_code, file_job, input_from, worker};
use crate::cli::{CommonArgs, CrawlArgs};
use crate::console::Progress;
use crate::manifest::Job;
use crate::output::{Output, PluginSink};
use crate::summary;

pub async fn crawl(args: CrawlArgs) -> anyhow::Result<ExitCode> {
    let input = input_from(&args.input, &args.input_file)?;
    let job = file_job(
        &args.spider,
        args.manifest.as_deref(),
        input,
        &[],
        &args.plugin,
    )?;
    let common = &args.common;
    let caps = args.frontier.caps();
    let limits = crawlbox_frontier::Limits {
        max_pages: args.max_pages,
        max_depth: args.max_depth,
    };
    if let Some(url) = &args.redis {
        let shared = worker::SharedCrawl {
            url,
            name: &args.crawl_name,
            shared: &args.shared,
            seed_only: args.seed_only,
            limits,
            caps,
            instances: args.parse.instances(),
        };
        return worker::crawl(shared, &job, &job.wasm.bytes()?, common).await;
    }
    let host = Host::start(common.client_config()?, common)?;
    let spider = host.load_spider(&job, &job.wasm.bytes()?, &args.spider.display().to_string())?;
    let local = LocalCrawl {
        state: args.state.as_deref(),
        limits,
        caps,
        options: CrawlOptions {
            fresh_instance: args.fresh_instance,
            instances: args.parse.instances(),
            ..CrawlOptions::default()
        },
    };
    crawl_locally(&host, &job, spider, common, local).await
}

/// A crawl in this process: its frontier in memory, or in a state
/// directory to resume.
pub struct LocalCrawl<'a> {
    pub state: Option<&'a Path>,
    pub limits: crawlbox_frontier::Limits,
    pub caps: crawlbox_frontier::Caps,
    pub options: CrawlOptions,
}

/// Crawls with `spider` (loaded on `host` for `job`), prints the summary
/// and returns the exit code.
pub async fn crawl_locally(
    host: &Host,
    job: &Job,
    spider: crawlbox_runtime::Plugin,
    common: &CommonArgs,
    local: LocalCrawl<'_>,
) -> anyhow::Result<ExitCode> {
    let LocalCrawl {
        state,
        limits,
        caps,
        options,
    } = local;
    let mut frontier = match state {
        Some(dir) => crawlbox_frontier::Frontier::open(dir, limits)
            .with_context(|| format!("cannot open the crawl state in {}", dir.display()))?,
        None => crawlbox_frontier::Frontier::in_memory(limits),
    }
    .with_caps(caps);
    // Items are appended; a resumed crawl first writes what the last run
    // committed but had not written yet.
    let out_path = common
        .out
        .clone()
        .or_else(|| state.map(|dir| dir.join("items.jsonl")));
    let out = match &out_path {
        Some(path) => {
            let (out, lines) = Output::append(path)?;
            let missing = frontier.items_after(lines)?;
            let sink = PluginSink::new(out.clone(), None);
            for item in &missing {
                crawlbox_runtime::RecordSink::write(&*sink, &job.name, item)?;
            }
            if !missing.is_empty() {
                tracing::info!(target: "crawlbox", "wrote {} items the last run had committed", missing.len());
            }
            out
        }
        None => Output::open(None)?,
    };
    if !frontier.is_new() {
        let c = frontier.counts();
        tracing::info!(
            target: "crawlbox",
            "resuming: {} pages done, {} queued, {} items so far",
            c.done,
            c.queued,
            c.items
        );
    }
    let sink = PluginSink::new(out, None);
    let spec = host.spec(job, spider, sink.clone());
    host.watch.crawl(options.progress.clone());
    let progress = Progress::start(
        common.quiet,
        &job.name,
        vec![(spec.session.clone(), sink)],
        &host.client,
        Some(options.progress.clone()),
    );
    let report: CrawlReport =
        crawlbox_crawl::crawl(&host.runtime, spec, &mut frontier, options).await;
    drop(progress);
    let counts = frontier.counts();
    let run = RunReport::from(&report);
    host.watch.run_ended(&run.outcome);
    let figures = summary::crawl_figures(&report, Some(counts.queued), Some(counts.done));
    let mut lines = vec![format!(
        "  pages              {} this run ({} failed){}; {} done, {} queued in all",
        report.pages,
        report.failed_pages,
        if report.resumed { ", resumed" } else { "" },
        counts.done,
        counts.queued
    )];
    lines.extend(summary::dropped_follows(&report.dropped));
    let fields = serde_json::json!({
        "pages": report.pages,
        "failed_pages": report.failed_pages,
        "resumed": report.resumed,
        "pages_done_in_all": counts.done,
        "dropped_follows": summary::dropped_json(&report.dropped),
    });
    let end = summary::CrawlEnd {
        job,
        run: &run,
        lines: &lines,
        fields,
        figures,
    };
    summary::finish_crawl(host, common, common.quiet, end).await?;
    Ok(exit_code(&run.outcome))
}
