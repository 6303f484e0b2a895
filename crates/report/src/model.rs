//! What a report shows: plain data (serde), written into `--stats` under
//! `"report"` so that `crawlbox report STATS.json` can render it later.

use std::collections::BTreeMap;

use crawlbox_net::TrafficSnapshot;
use serde::{Deserialize, Serialize};

/// Everything one report shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What ran, for the page's title: `crawlbox crawl example-spider`.
    pub title: String,
    /// When the report was made, in seconds since the Unix epoch.
    pub generated_unix_seconds: f64,
    /// The network settings the crawl ran under.
    pub settings: Settings,
    /// The client's traffic, per host.
    pub traffic: TrafficSnapshot,
    /// Each plugin's run.
    pub plugins: Vec<PluginRun>,
    /// The crawl's pages and frontier, for `crawl`, `worker` and a spider
    /// `demo`.
    pub crawl: Option<CrawlFigures>,
}

/// The network settings of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Requests in flight at most, over all hosts.
    pub concurrency: u64,
    /// Connections per host at most.
    pub per_host: u64,
    /// The configured smallest gap between two requests to one host.
    pub per_host_delay_seconds: f64,
    /// Whether robots.txt is obeyed.
    pub robots: bool,
    /// Whether the delay adapts to the server's latency.
    pub autothrottle: bool,
    /// Retries of a failed request.
    pub retries: u64,
}

/// One plugin's run: how it ended and what it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginRun {
    /// The plugin's name.
    pub name: String,
    /// How it ended: `completed`, `failed`, `trapped`, `memory-limit`,
    /// `cpu-limit`, `wall-limit`, `output-failed`, `host-failed`,
    /// `output-limit`, `interrupted`.
    pub outcome: String,
    /// Why, when it did not complete (the plugin's own words may be in
    /// it: render it as text).
    pub message: Option<String>,
    /// The limits it ran under, by name (`memory`: `256 MiB`, ...).
    pub limits: BTreeMap<String, String>,
    /// The limits it reached, in words (`request budget of 100 spent`).
    pub limits_hit: Vec<String>,
    /// Records written (a crawl's items).
    pub records: u64,
    /// Wall-clock seconds.
    pub elapsed_seconds: f64,
    /// Requests sent by its session.
    pub requests: u64,
    /// Its responses by status code.
    pub responses: BTreeMap<u16, u64>,
    /// Its failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// Body bytes received.
    pub bytes: u64,
    /// Latency of its responses, in seconds: `p50`, `p95`, `p99`, `max`.
    pub latency_seconds: BTreeMap<String, f64>,
}

/// A crawl's pages and frontier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrawlFigures {
    /// Pages committed by this run.
    pub pages: u64,
    /// Of those, pages that failed.
    pub failed_pages: u64,
    /// Items committed by this run.
    pub items: u64,
    /// Pages waiting in the frontier at the end (if known).
    pub queued: Option<u64>,
    /// Pages done in all (a resumed or shared crawl's earlier ones too).
    pub done_in_all: Option<u64>,
    /// Follows dropped, by reason (`over_page_cap`, `meta_too_large`,
    /// `queue_full`, `beyond_max_pages`).
    pub dropped_follows: BTreeMap<String, u64>,
}
