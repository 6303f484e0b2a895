//! `--report FILE.html`, and the `"report"` section of `--stats` that
//! `crawlbox report` renders later: the model of `crawlbox_report`, filled
//! from the client's traffic, the runs' reports and the crawl's figures.

use std::path::Path;

use anyhow::Context;
use crawlbox_net::{Client, ErrorKind};
use crawlbox_report::{CrawlFigures, PluginRun, Report, Settings};
use crawlbox_runtime::{Outcome, RunReport};

use crate::manifest::Job;
use crate::units::{format_duration, format_size};

/// The report of `runs` (each with its job) on `client`, with a crawl's
/// figures if the command crawled; `delay` is the least gap asked between
/// two requests to a host (a worker's client has none of its own: the
/// crawl's shared schedule keeps it).
pub fn build(
    client: &Client,
    runs: &[(&Job, &RunReport)],
    crawl: Option<CrawlFigures>,
    delay: std::time::Duration,
) -> Report {
    let config = client.config();
    let command = std::env::args()
        .nth(1)
        .filter(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "run".to_owned());
    let names: Vec<&str> = runs.iter().map(|(_, r)| r.plugin.as_str()).collect();
    Report {
        title: format!("crawlbox {command}: {}", names.join(", ")),
        generated_unix_seconds: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64()),
        settings: Settings {
            concurrency: config.concurrency as u64,
            per_host: config.per_host as u64,
            per_host_delay_seconds: delay.as_secs_f64(),
            robots: config.robots,
            autothrottle: config.autothrottle,
            retries: u64::from(config.retries),
        },
        traffic: client.traffic(),
        plugins: runs.iter().map(|(job, run)| plugin_run(job, run)).collect(),
        crawl,
    }
}

fn plugin_run(job: &Job, run: &RunReport) -> PluginRun {
    let s = &run.stats;
    let l = &job.limits;
    let mut limits = std::collections::BTreeMap::new();
    limits.insert("memory".to_owned(), format_size(l.memory as u64));
    if let Some(cpu) = l.cpu_time {
        limits.insert("cpu time".to_owned(), format_duration(cpu));
    }
    if let Some(wall) = l.wall_time {
        limits.insert("wall time".to_owned(), format_duration(wall));
    }
    if let Some(n) = job.session.max_requests {
        limits.insert("requests".to_owned(), n.to_string());
    }
    if let Some(n) = l.max_records {
        limits.insert("records".to_owned(), n.to_string());
    }
    if let Some(n) = l.max_output_bytes {
        limits.insert("output".to_owned(), format_size(n));
    }
    if let Some(n) = job.session.max_response_bytes {
        limits.insert("response size".to_owned(), format_size(n));
    }
    let mut hit = Vec::new();
    match &run.outcome {
        Outcome::MemoryLimit(bytes) => {
            hit.push(format!("memory limit ({})", format_size(*bytes as u64)))
        }
        Outcome::CpuLimit(d) => hit.push(format!("CPU time limit ({})", format_duration(*d))),
        Outcome::WallLimit(d) => hit.push(format!("wall-clock limit ({})", format_duration(*d))),
        Outcome::OutputLimit(why) => hit.push(format!("record limit: {why}")),
        _ => {}
    }
    if let Some(max) = job.session.max_requests
        && s.requests >= max
    {
        hit.push(format!("request budget of {max} spent"));
    }
    if let Some(n) = s.errors.get(&ErrorKind::TooLarge) {
        hit.push(format!("{n} responses over the size limit"));
    }
    if s.extract_failures > 0 {
        hit.push(format!("{} extractions failed", s.extract_failures));
    }
    PluginRun {
        name: run.plugin.clone(),
        outcome: run.outcome.kind().to_owned(),
        message: (!run.outcome.is_success()).then(|| run.outcome.to_string()),
        limits,
        limits_hit: hit,
        records: run.records,
        elapsed_seconds: run.elapsed.as_secs_f64(),
        requests: s.requests,
        responses: s.responses.clone(),
        errors: s
            .errors
            .iter()
            .map(|(k, n)| (k.as_str().to_owned(), *n))
            .collect(),
        bytes: s.bytes,
        latency_seconds: [
            ("p50", s.latency.p50),
            ("p95", s.latency.p95),
            ("p99", s.latency.p99),
            ("max", s.latency.max),
        ]
        .into_iter()
        .map(|(k, d)| (k.to_owned(), d.as_secs_f64()))
        .collect(),
    }
}

/// Writes `report` as HTML to `path` (`--report`, `crawlbox report -o`).
pub fn write(path: &Path, report: &Report) -> anyhow::Result<()> {
    std::fs::write(path, crawlbox_report::render(report))
        .with_context(|| format!("cannot write the report to {}", path.display()))?;
    tracing::info!(target: "crawlbox", "report written to {}", path.display());
    Ok(())
}

/// `crawlbox report STATS.json -o FILE.html`: the report kept in a
/// `--stats` file, rendered.
pub fn from_stats(stats: &Path, out: &Path) -> anyhow::Result<std::process::ExitCode> {
    let text = std::fs::read_to_string(stats)
        .with_context(|| format!("cannot read the stats file {}", stats.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON: is it a --stats file?", stats.display()))?;
    let Some(report) = json.get("report") else {
        anyhow::bail!(
            "{} has no \"report\" section: write it with a crawlbox that has `crawlbox report` \
             (run, crawl, worker or demo with --stats FILE)",
            stats.display()
        );
    };
    let report: Report = serde_json::from_value(report.clone()).with_context(|| {
        format!(
            "the \"report\" section of {} is not one this crawlbox can read",
            stats.display()
        )
    })?;
    write(out, &report)?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// At the end of a command: the report of `runs`, if `--report` or
/// `--stats` wants it (written to `--report` here; `--stats` carries it).
pub fn at_end(
    common: &crate::cli::CommonArgs,
    client: &Client,
    runs: &[(&Job, &RunReport)],
    crawl: Option<CrawlFigures>,
) -> anyhow::Result<Option<Report>> {
    if common.report.is_none() && common.stats.is_none() {
        return Ok(None);
    }
    let report = build(client, runs, crawl, common.per_host_delay);
    if let Some(path) = &common.report {
        write(path, &report)?;
    }
    Ok(Some(report))
}
