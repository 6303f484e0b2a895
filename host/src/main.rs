//! `crawlbox`: run untrusted scraping plugins through one pooled, capped
//! HTTP client. See `crawlbox --help`.
//!
//! Exit codes: 0 every run completed; 1 a plugin failed (returned an error,
//! crashed or hit a limit); 2 bad usage or a plugin that cannot be loaded
//! (nothing ran); 130 interrupted (Ctrl-C).

mod cli;
mod console;
mod manifest;
mod names;
mod output;
mod shared;
mod summary;
mod units;

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_net::Client;
use crawlbox_runtime::{Outcome, Runtime};
use futures::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::cli::{
    CacheArgs, Cli, Command, CommonArgs, CompileArgs, CrawlArgs, DemoArgs, PluginArgs, RunArgs,
};
use crate::console::Progress;
use crate::manifest::{Job, JobsFile, Manifest, WasmSource, dedup_names, plugin_name};
use crate::output::{Output, PluginSink};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match &cli.command {
        Command::Run(args) => &args.common.log,
        Command::Demo(args) => &args.common.log,
        Command::Compile(_) => "warn,crawlbox=info",
        Command::Crawl(args) => &args.common.log,
        Command::Worker(args) => &args.common.log,
        Command::Export(_) => "warn,crawlbox=info",
    };
    if let Err(e) = console::init_logging(log) {
        eprintln!("crawlbox: {e:#}");
        return ExitCode::from(2);
    }
    // One thread drives every guest and every connection: on a few cores
    // this beats a work-stealing pool (no cross-thread wakeups), and the
    // epoch interrupt makes guests take turns.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crawlbox: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Demo(args) => demo(args).await,
            Command::Compile(args) => compile(args),
            Command::Crawl(args) => crawl(args).await,
            Command::Worker(args) => shared::worker(args).await,
            Command::Export(args) => shared::export(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crawlbox: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(&args)?;
    let mut jobs = Vec::new();
    if let Some(path) = &args.jobs {
        for entry in JobsFile::load(path)?.job {
            let (manifest, _) = Manifest::for_plugin(&entry.plugin, entry.manifest.as_deref())?;
            let entry_input = entry.input()?;
            let mut job = Job::resolve(
                WasmSource::File(entry.plugin.clone()),
                &plugin_name(&entry.plugin),
                &manifest,
                entry_input.or_else(|| input.clone()),
                &args.args,
                &args.plugin,
            )?;
            match entry.name {
                // Checked when the jobs file was loaded.
                Some(name) => job.name = name,
                None if manifest.name.is_none() => check_file_name(&job.name, &entry.plugin)?,
                None => {}
            }
            jobs.push(job);
        }
    }
    for plugin in &args.plugins {
        let (manifest, _) = Manifest::for_plugin(plugin, args.manifest.as_deref())?;
        let job = Job::resolve(
            WasmSource::File(plugin.clone()),
            &plugin_name(plugin),
            &manifest,
            input.clone(),
            &args.args,
            &args.plugin,
        )?;
        if manifest.name.is_none() {
            check_file_name(&job.name, plugin)?;
        }
        jobs.push(job);
    }
    dedup_names(&mut jobs);
    run_jobs(&args.common, jobs).await
}

/// A plugin named after its file (no manifest or job names it): the name
/// must be a plain name too (see `names`).
fn check_file_name(name: &str, plugin: &std::path::Path) -> anyhow::Result<()> {
    names::validate(
        name,
        &format!(
            "the plugin {} (named after its file: rename it, or set `name` in its manifest)",
            plugin.display()
        ),
    )
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let site = Site::start(SiteConfig {
        pages: args.pages.max(1),
        ..SiteConfig::default()
    })
    .context("cannot start the demo site on 127.0.0.1")?;
    tracing::info!(
        target: "crawlbox",
        "demo site with {} pages at {}; crawling it with the example plugin",
        args.pages,
        site.base_url()
    );
    let input = serde_json::json!({
        "start": [site.url("/page/0")],
        "max_pages": args.max_pages,
        "batch": 32,
    })
    .to_string();
    // The demo site is on loopback: grant exactly it.
    let plugin_args = PluginArgs {
        allow_host: [args.plugin.allow_host, vec![site.base_url()]].concat(),
        allow_network: [
            args.plugin.allow_network,
            vec![site.addr().ip().to_string()],
        ]
        .concat(),
        ..args.plugin
    };
    let job = Job::resolve(
        WasmSource::Embedded(crawlbox_guest_artifacts::example_crawler()),
        "example-crawler",
        &Manifest::default(),
        Some(input),
        &[],
        &plugin_args,
    )?;
    let code = run_jobs(&args.common, vec![job]).await?;
    let seen = site.counters();
    if !args.common.quiet {
        eprintln!(
            "  the demo site saw  {} requests over {} connections, at most {} in flight",
            seen.requests(),
            seen.connections(),
            seen.peak_in_flight()
        );
    }
    Ok(code)
}

/// Loads every plugin, runs them all at once on one client, prints the
/// summary, and returns the exit code.
async fn run_jobs(common: &CommonArgs, jobs: Vec<Job>) -> anyhow::Result<ExitCode> {
    let client = Client::new(common.client_config()?).context("invalid network settings")?;
    let runtime = runtime(client.clone(), &common.cache)?;
    // Load everything before running anything: a bad plugin is a usage error.
    let mut plugins = Vec::new();
    for job in &jobs {
        plugins.push(runtime.load(&job.name, &job.wasm.bytes()?)?);
    }
    let several = jobs.len() > 1;
    let shared = match &common.out_dir {
        Some(_) => None,
        None => Some(Output::open(common.out.as_deref())?),
    };
    let mut runs = Vec::new();
    for job in &jobs {
        let sink = match (&shared, &common.out_dir) {
            (Some(out), _) => PluginSink::new(out.clone(), several.then_some(job.name.as_str())),
            (None, Some(dir)) => {
                // Names were checked where they came from; a name is never a path.
                if let Err(problem) = names::check(&job.name) {
                    bail!(
                        "the plugin name {:?} cannot name a file ({problem})",
                        job.name
                    );
                }
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create --out-dir {}", dir.display()))?;
                let path = dir.join(format!("{}.jsonl", job.name));
                PluginSink::new(Output::open(Some(&path))?, None)
            }
            (None, None) => unreachable!("either a shared output or an output directory"),
        };
        runs.push((client.session(job.session.clone()), sink));
    }

    let cancel = CancellationToken::new();
    let interrupt = tokio::spawn(stop_on_ctrl_c(cancel.clone()));
    let label = match jobs.as_slice() {
        [job] => job.name.clone(),
        _ => format!("{} plugins", jobs.len()),
    };
    let progress = Progress::start(common.quiet, &label, runs.clone(), &client);
    let reports = join_all(jobs.iter().zip(&plugins).zip(runs).map(
        |((job, plugin), (session, sink))| {
            runtime.run(
                plugin,
                &job.input,
                &job.limits,
                session,
                sink,
                cancel.clone(),
            )
        },
    ))
    .await;
    drop(progress);
    interrupt.abort();

    if common.quiet {
        for report in reports.iter().filter(|r| !r.outcome.is_success()) {
            eprintln!(
                "crawlbox: {}: {}",
                report.plugin,
                summary::why(&report.outcome)
            );
        }
        for report in &reports {
            if let Some(warning) = summary::nothing_fetched(report) {
                eprintln!("crawlbox: {}: {warning}", report.plugin);
            }
        }
    } else {
        eprint!("{}", summary::text(&reports, &client));
    }
    if let Some(path) = &common.stats {
        summary::write_json(path, &summary::json(&reports, &client))?;
    }
    Ok(
        if reports.iter().any(|r| r.outcome == Outcome::Interrupted) {
            ExitCode::from(130)
        } else if reports.iter().any(|r| r.outcome.is_host_failure()) {
            ExitCode::from(EXIT_HOST_FAILED)
        } else if !reports.iter().all(|r| r.outcome.is_success()) {
            ExitCode::from(1)
        } else if reports
            .iter()
            .any(|r| summary::nothing_fetched(r).is_some())
        {
            ExitCode::from(summary::EXIT_NOTHING_FETCHED)
        } else {
            ExitCode::SUCCESS
        },
    )
}

fn runtime(client: Client, cache: &CacheArgs) -> anyhow::Result<Runtime> {
    let runtime = Runtime::new(client)
        .map_err(|e| anyhow::anyhow!("cannot set up the WebAssembly runtime: {e:#}"))?;
    Ok(match cache.dir() {
        Some(dir) => runtime.with_cache_dir(dir),
        None => runtime,
    })
}

/// `crawlbox compile`: fills the compile cache.
fn compile(args: CompileArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = args.cache.dir() else {
        bail!("nothing to do with --no-cache: `compile` fills the compile cache");
    };
    let client = Client::new(crawlbox_net::ClientConfig::default())?;
    let runtime = runtime(client, &args.cache)?;
    for path in &args.plugins {
        let wasm = crawlbox_runtime::read_component(path)?;
        let started = std::time::Instant::now();
        let plugin = runtime.load(&plugin_name(path), &wasm)?;
        eprintln!(
            "crawlbox: compiled {} ({}, {:.1} MB) in {:.2}s into {}",
            path.display(),
            if plugin.is_command() {
                "command"
            } else {
                "scraper"
            },
            wasm.len() as f64 / 1e6,
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `crawlbox crawl`: a spider, the host owning the frontier.
async fn crawl(args: CrawlArgs) -> anyhow::Result<ExitCode> {
    let input = input_from(&args.input, &args.input_file)?;
    let (manifest, _) = Manifest::for_plugin(&args.spider, args.manifest.as_deref())?;
    let job = Job::resolve(
        WasmSource::File(args.spider.clone()),
        &plugin_name(&args.spider),
        &manifest,
        input,
        &[],
        &args.plugin,
    )?;
    if manifest.name.is_none() {
        check_file_name(&job.name, &args.spider)?;
    }
    let common = &args.common;
    let caps = args.frontier.caps();
    let limits = crawlbox_frontier::Limits {
        max_pages: args.max_pages,
        max_depth: args.max_depth,
    };
    if let Some(url) = &args.redis {
        return shared::crawl(
            url,
            &args.crawl_name,
            &args.shared,
            args.seed_only,
            limits,
            caps,
            &job,
            &job.wasm.bytes()?,
            common,
        )
        .await;
    }
    let client = Client::new(common.client_config()?).context("invalid network settings")?;
    let runtime = runtime(client.clone(), &common.cache)?;
    let spider = runtime.load(&job.name, &job.wasm.bytes()?)?;
    if !spider.is_spider() {
        bail!(
            "{} is not a spider (it does not export `start` and `parse` of \
             crawlbox:plugin/spider): run it with `crawlbox run`",
            args.spider.display()
        );
    }
    let mut frontier = match &args.state {
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
        .or_else(|| args.state.as_ref().map(|dir| dir.join("items.jsonl")));
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
    let session = client.session(job.session.clone());
    let cancel = CancellationToken::new();
    let interrupt = tokio::spawn(stop_on_ctrl_c(cancel.clone()));
    let progress = Progress::start(
        common.quiet,
        &job.name,
        vec![(session.clone(), sink.clone())],
        &client,
    );
    let report = runtime
        .crawl(
            &spider,
            &job.input,
            &job.limits,
            session,
            &mut frontier,
            sink,
            cancel,
            args.fresh_instance,
        )
        .await;
    drop(progress);
    interrupt.abort();
    let counts = frontier.counts();
    let run = crawlbox_runtime::RunReport {
        plugin: report.plugin.clone(),
        outcome: report.outcome.clone(),
        records: report.items,
        elapsed: report.elapsed,
        stats: report.stats.clone(),
    };
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
    summary::finish_crawl(common, common.quiet, &client, &run, &lines, fields)?;
    Ok(exit_code(&run.outcome))
}

/// The exit code of a crawl or a worker: 0 done, 130 interrupted, 4 the
/// host failed, 1 else.
fn exit_code(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Interrupted => ExitCode::from(130),
        Outcome::Completed => ExitCode::SUCCESS,
        outcome if outcome.is_host_failure() => ExitCode::from(EXIT_HOST_FAILED),
        _ => ExitCode::from(1),
    }
}

/// The exit code when the host failed, not a plugin: a record, the crawl
/// journal or the Redis frontier could not be written or reached.
const EXIT_HOST_FAILED: u8 = 4;

/// The first Ctrl-C stops the runs cleanly (records flushed, summary
/// printed); a second one exits at once.
async fn stop_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    tracing::warn!(target: "crawlbox", "interrupted: stopping (Ctrl-C again to quit at once)");
    cancel.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// The input JSON from `--input` or `--input-file`, if given.
fn read_input(args: &RunArgs) -> anyhow::Result<Option<String>> {
    input_from(&args.input, &args.input_file)
}

fn input_from(
    input: &Option<String>,
    input_file: &Option<std::path::PathBuf>,
) -> anyhow::Result<Option<String>> {
    let (input, source) = match (input, input_file) {
        (Some(text), _) => (text.clone(), "--input".to_owned()),
        (None, Some(path)) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --input-file {}", path.display()))?,
            format!("--input-file {}", path.display()),
        ),
        (None, None) => return Ok(None),
    };
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&input) {
        bail!("{source} is not valid JSON: {e}");
    }
    Ok(Some(input))
}
