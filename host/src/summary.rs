//! The stats summary printed at the end of a run, and its JSON form.

use std::fmt::Write as _;
use std::time::Duration;

use crawlbox_net::Client;
use crawlbox_runtime::RunReport;
use serde_json::{Value, json};

/// The summary of every run as text, one stat a line (Scrapy-style).
pub fn text(reports: &[RunReport], client: &Client) -> String {
    let mut out = String::new();
    for report in reports {
        out.push_str(&report_text(report));
    }
    let _ = writeln!(
        out,
        "  connections opened {}{}",
        client.connections_opened(),
        if reports.len() > 1 {
            " (shared by all plugins)"
        } else {
            ""
        }
    );
    out
}

fn report_text(report: &RunReport) -> String {
    let s = &report.stats;
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "crawlbox: {} {} in {:.2}s",
        report.plugin,
        report.outcome.kind(),
        report.elapsed.as_secs_f64()
    );
    if !report.outcome.is_success() {
        let _ = writeln!(out, "  why                {}", why(&report.outcome));
    } else if let Some(warning) = nothing_fetched(report) {
        let _ = writeln!(out, "  but                {warning}");
    }
    let _ = writeln!(out, "  records            {}", report.records);
    let _ = writeln!(
        out,
        "  requests           {} ({:.1}/s)",
        s.requests,
        s.requests as f64 / secs
    );
    if s.retries > 0 {
        let _ = writeln!(out, "  retries            {}", s.retries);
    }
    let responses = if s.responses.is_empty() {
        "none".to_owned()
    } else {
        s.responses
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "  responses          {responses}");
    let _ = writeln!(out, "  bytes received     {}", human_bytes(s.bytes));
    if s.extracted > 0 {
        let failed = match s.extract_failures {
            0 => String::new(),
            n => format!(", {n} failed"),
        };
        let _ = writeln!(
            out,
            "  extracted          {} pages on the host ({:.2}s of its threads){failed}",
            s.extracted,
            s.extract_time.as_secs_f64()
        );
    }
    let errors = if s.errors.is_empty() {
        "none".to_owned()
    } else {
        s.errors
            .iter()
            .map(|(kind, n)| format!("{kind}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "  errors             {errors}");
    if s.errors.contains_key(&crawlbox_net::ErrorKind::Denied) {
        let _ = writeln!(
            out,
            "  hint               denied requests: grant hosts with --allow-host PATTERN or \
             allowed_hosts in crawlbox.toml, private addresses with --allow-network"
        );
    }
    if s.latency.count > 0 {
        let _ = writeln!(
            out,
            "  latency            p50 {}  p95 {}  p99 {}  max {}",
            ms(s.latency.p50),
            ms(s.latency.p95),
            ms(s.latency.p99),
            ms(s.latency.max)
        );
    }
    out
}

/// For a run that completed although every one of its requests failed
/// (nothing came back but robots.txt): what failed. Such a run exits with
/// [`EXIT_NOTHING_FETCHED`], not 0.
pub fn nothing_fetched(report: &RunReport) -> Option<String> {
    let s = &report.stats;
    if !report.outcome.is_success() || !s.nothing_fetched() {
        return None;
    }
    let errors: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    Some(format!(
        "every one of its requests failed ({}): nothing was fetched (exit {EXIT_NOTHING_FETCHED})",
        errors.join(", ")
    ))
}

/// The exit code of a run in which a plugin completed but every one of its
/// requests failed.
pub const EXIT_NOTHING_FETCHED: u8 = 3;

/// Why a run ended, for stderr: the message may be the plugin's own (the
/// error it returned, its trap with its function names), so it is escaped
/// and cannot print a line of its own. (`--stats` has it as it is, in JSON.)
pub fn why(outcome: &crawlbox_runtime::Outcome) -> String {
    crawlbox_runtime::escape_untrusted(&outcome.to_string()).into_owned()
}

/// The summary line of a crawl's dropped follows, if it dropped any.
pub fn dropped_follows(dropped: &crawlbox_crawl::DroppedFollows) -> Option<String> {
    (dropped.total() > 0).then(|| {
        format!(
            "  dropped follows    {} ({})",
            dropped.total(),
            dropped.describe()
        )
    })
}

/// The dropped follows by reason, as `--stats` and the report name them.
fn dropped_by_reason(
    dropped: &crawlbox_crawl::DroppedFollows,
) -> impl Iterator<Item = (String, u64)> {
    [
        ("over_page_cap", dropped.over_page_cap),
        ("meta_too_large", dropped.meta_too_large),
        ("queue_full", dropped.queue_full),
        ("beyond_max_pages", dropped.beyond_max_pages),
    ]
    .into_iter()
    .map(|(reason, n)| (reason.to_owned(), n))
}

/// The dropped follows as `--stats` JSON.
pub fn dropped_json(dropped: &crawlbox_crawl::DroppedFollows) -> Value {
    Value::Object(
        dropped_by_reason(dropped)
            .map(|(k, n)| (k, json!(n)))
            .collect(),
    )
}

/// The summary as JSON (for `--stats FILE`): one plugin's object, or
/// `{"plugins": [...], "connections_opened": N}` for several.
pub fn json(reports: &[RunReport], client: &Client) -> Value {
    match reports {
        [report] => report_json(report, client),
        _ => json!({
            "plugins": reports.iter().map(|r| report_json(r, client)).collect::<Vec<_>>(),
            "connections_opened": client.connections_opened(),
        }),
    }
}

fn report_json(report: &RunReport, client: &Client) -> Value {
    let s = &report.stats;
    let secs = |d: Duration| d.as_secs_f64();
    json!({
        "plugin": report.plugin,
        "outcome": report.outcome.kind(),
        "message": (!report.outcome.is_success()).then(|| report.outcome.to_string()),
        "nothing_fetched": nothing_fetched(report).is_some(),
        "records": report.records,
        "elapsed_seconds": secs(report.elapsed),
        "requests": s.requests,
        "retries": s.retries,
        "responses": s.responses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "bytes": s.bytes,
        "errors": s.errors.iter().map(|(k, v)| (k.as_str().to_owned(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "connections_opened": client.connections_opened(),
        "latency_seconds": {
            "p50": secs(s.latency.p50),
            "p95": secs(s.latency.p95),
            "p99": secs(s.latency.p99),
            "max": secs(s.latency.max),
        },
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How a crawl or a worker's run ended, for [`finish_crawl`].
pub struct CrawlEnd<'a> {
    pub job: &'a crate::manifest::Job,
    pub run: &'a RunReport,
    /// Summary lines of its own.
    pub lines: &'a [String],
    /// `--stats` fields of its own.
    pub fields: Value,
    /// Its figures, for the report.
    pub figures: crawlbox_report::CrawlFigures,
}

/// A crawl's figures for the report: the run's, and the frontier's
/// `queued` and `done` when known.
pub fn crawl_figures(
    report: &crawlbox_crawl::CrawlReport,
    queued: Option<u64>,
    done_in_all: Option<u64>,
) -> crawlbox_report::CrawlFigures {
    crawlbox_report::CrawlFigures {
        pages: report.pages,
        failed_pages: report.failed_pages,
        items: report.items,
        queued,
        done_in_all,
        dropped_follows: dropped_by_reason(&report.dropped).collect(),
    }
}

/// Adds `report` to `--stats` JSON, as `"report"` (read back by `crawlbox
/// report`).
pub fn add_report(
    stats: &mut Value,
    report: Option<&crawlbox_report::Report>,
) -> anyhow::Result<()> {
    if let (Some(stats), Some(report)) = (stats.as_object_mut(), report) {
        stats.insert("report".to_owned(), serde_json::to_value(report)?);
    }
    Ok(())
}

/// The end of a crawl or a worker's run: on stderr the summary and its
/// lines (unless `quiet`: then only a failure), `--report`, and `--stats`
/// with its fields added; then a last scrape of `--metrics`.
pub async fn finish_crawl(
    host: &crate::commands::Host,
    common: &crate::cli::CommonArgs,
    quiet: bool,
    end: CrawlEnd<'_>,
) -> anyhow::Result<()> {
    let CrawlEnd {
        job,
        run,
        lines,
        fields,
        figures,
    } = end;
    let client = &host.client;
    if quiet {
        if !run.outcome.is_success() {
            eprintln!("crawlbox: {}: {}", run.plugin, why(&run.outcome));
        }
    } else {
        eprint!("{}", text(std::slice::from_ref(run), client));
        for line in lines {
            eprintln!("{line}");
        }
    }
    let report = crate::report::at_end(common, client, &[(job, run)], Some(figures))?;
    if let Some(path) = &common.stats {
        let mut stats = json(std::slice::from_ref(run), client);
        if let (Some(stats), Value::Object(fields)) = (stats.as_object_mut(), fields) {
            stats.extend(fields);
        }
        add_report(&mut stats, report.as_ref())?;
        write_json(path, &stats)?;
    }
    host.linger().await;
    Ok(())
}

/// Writes the stats JSON to `path` (`--stats`).
pub fn write_json(path: &std::path::Path, json: &Value) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::write(path, serde_json::to_string_pretty(json)? + "\n")
        .with_context(|| format!("cannot write the stats to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_are_human() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 << 20), "5.0 MiB");
    }
}
