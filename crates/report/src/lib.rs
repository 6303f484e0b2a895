//! crawlbox's crawl report: one self-contained HTML page from a run's
//! [`Report`].
//!
//! [`render`] makes the page. It shows, one section each (by `id`):
//!
//! * `summary`: the run in big figures (requests, responses, failures,
//!   bytes, connections, hosts, seconds, rate; pages, items and queued for
//!   a crawl) and how the plugins ended;
//! * `timeline`: requests per second over time by status class, for all
//!   hosts and then per host (the first twelve);
//! * `latency`: a histogram of all responses' latency and each host's
//!   percentiles;
//! * `statuses`: responses by status code, failures by kind, each host's
//!   mix;
//! * `bytes` and `connections`: per host, with the means;
//! * `politeness`: the settings, and each host's smallest and median gap
//!   between two requests against the configured delay;
//! * `robots`: each host's robots.txt decisions;
//! * `plugins`: each plugin's outcome, figures, limits and message;
//! * `crawl` (for a crawl only): pages, items, the frontier and the
//!   follows dropped.
//!
//! The page is self-contained: its style is inline, its charts are
//! inline SVG, it has no script and names no external resource (its
//! Content-Security-Policy forbids them anyway), so it can be mailed,
//! archived or opened offline. Everything taken from the model (host
//! names, plugin names and messages, error kinds: a hostile plugin or
//! site may choose them) is HTML-escaped, and long strings are cut.
//!
//! Machines can read the summary too: each figure is an element with
//! `data-figure="NAME"` and its exact value in `data-value`; each plugin
//! is a `<tr data-plugin="NAME">` whose cells have `data-field`.

/// Appends formatted text to a `String` (which cannot fail).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = write!($out, $($arg)*);
    }};
}

mod format;
mod model;
mod sections;
mod svg;
#[cfg(test)]
mod tests;

/// The traffic types a [`Report`] holds, for building one.
pub use crawlbox_net::traffic::{Distribution, HostSnapshot, RobotsDecisions, TrafficSnapshot};
pub use model::{CrawlFigures, PluginRun, Report, Settings};

use format::{Esc, span, utc};
use sections::Totals;

const STYLE: &str = include_str!("style.css");

/// The report as a complete HTML5 document. See the [crate docs](crate).
pub fn render(report: &Report) -> String {
    let totals = Totals::of(report);
    let mut out = String::with_capacity(64 * 1024);
    let title = if report.title.trim().is_empty() {
        "crawlbox report"
    } else {
        report.title.as_str()
    };
    let title = format::clip(title, 500);
    put!(
        out,
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<meta name=\"referrer\" content=\"no-referrer\">\n",
            "<meta name=\"generator\" content=\"crawlbox\">\n",
            "<title>{}</title>\n<style>\n{}</style>\n</head>\n<body>\n<main>\n"
        ),
        Esc(&title),
        STYLE
    );
    put!(out, "<header><h1>{}</h1><p class=\"sub\">", Esc(&title));
    out.push_str("Crawl report");
    if let Some(at) = utc(report.generated_unix_seconds) {
        put!(out, " · generated {at}");
    }
    if let Some(at) = utc(report.traffic.started_unix_seconds) {
        put!(
            out,
            " · traffic from {at}, for {}",
            span(report.traffic.elapsed_seconds)
        );
    }
    out.push_str("</p></header>\n");

    sections::summary(&mut out, report, &totals);
    sections::timeline(&mut out, report);
    sections::latency(&mut out, report);
    sections::statuses(&mut out, report, &totals);
    sections::bytes_section(&mut out, report, &totals);
    sections::connections(&mut out, report, &totals);
    sections::politeness(&mut out, report);
    sections::robots(&mut out, report);
    sections::plugins(&mut out, report);
    if let Some(crawl) = &report.crawl {
        sections::crawl(&mut out, crawl);
    }
    out.push_str(
        "<footer>Made by crawlbox. This page is self-contained: no script, nothing loaded from the network.</footer>\n</main>\n</body>\n</html>\n",
    );
    out
}
