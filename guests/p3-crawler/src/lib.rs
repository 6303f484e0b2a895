//! crawlbox's example crawler in native async Rust: the crawl of
//! `example-crawler`, written as plain futures over the `scraper-async`
//! world (WASI 0.3; run it with `crawlbox run --wasip3`).
//!
//! Input: `{"start": ["http://host/"], "max_pages": 100, "concurrency": 64}`.
//! It keeps up to `concurrency` fetches in flight in a `FuturesUnordered`
//! (the host runs them under its own caps), handles each page as it
//! arrives, and starts fetches for the same-host links it has not seen.
//! The host extracts each page's title and links, so the plugin never
//! receives the HTML. One record per page, as `example-crawler`'s:
//! `{"url", "status", "title", "links"}` (or `{"url", "error", "message"}`).

use std::collections::{HashSet, VecDeque};

use crawlbox_guest::asynchronous::{AsyncPlugin, fetch};
use crawlbox_guest::{Extract, LinkRule, Query, Request, Result, bail, emit, info, warn};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Where the crawl starts.
    start: Vec<String>,
    /// Pages to fetch at most. Default: 100.
    #[serde(default = "default_max_pages")]
    max_pages: usize,
    /// Fetches in flight at most. Default: 64.
    #[serde(default = "default_concurrency")]
    concurrency: usize,
}

fn default_max_pages() -> usize {
    100
}

fn default_concurrency() -> usize {
    64
}

#[derive(Serialize)]
struct Page<'a> {
    url: &'a str,
    status: u16,
    title: Option<&'a str>,
    links: usize,
}

#[derive(Serialize)]
struct Failure<'a> {
    url: &'a str,
    error: &'a str,
    message: &'a str,
}

struct Crawler;

impl AsyncPlugin for Crawler {
    async fn run(input: String) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(&input)?;
        if input.start.is_empty() {
            bail!("input.start is empty: give at least one URL to start from");
        }
        let mut what = Extract::new().links(LinkRule {
            same_host: true,
            ..LinkRule::default()
        });
        let title = what.css("title::text");
        let mut seen = HashSet::new();
        let mut waiting = VecDeque::new();
        let mut visit = |url: &str, waiting: &mut VecDeque<String>| {
            if seen.len() < input.max_pages && seen.insert(url.to_owned()) {
                waiting.push_back(url.to_owned());
            }
        };
        for start in &input.start {
            // As the host writes the links it extracts (`http://a` is
            // `http://a/`), so that the start page is not fetched twice.
            let mut url = url::Url::parse(start)
                .map_err(|e| crawlbox_guest::anyhow!("invalid start URL {start:?}: {e}"))?;
            url.set_fragment(None);
            visit(url.as_str(), &mut waiting);
        }

        let concurrency = input.concurrency.max(1);
        let mut in_flight = FuturesUnordered::new();
        let mut crawled = 0;
        loop {
            while in_flight.len() < concurrency
                && let Some(url) = waiting.pop_front()
            {
                let request = Request::get(&url).extract(&what);
                in_flight.push(async move { (url, fetch(request).await) });
            }
            let Some((url, result)) = in_flight.next().await else {
                break;
            };
            crawled += 1;
            match result {
                Ok(page) => {
                    if let Some(Err(err)) = page.extracted() {
                        warn!("{}: nothing extracted: {}", page.url, err.message());
                    }
                    emit(&Page {
                        url: &page.url,
                        status: page.status,
                        title: first_text(title, &page),
                        links: page.links().len(),
                    })?;
                    for link in page.links() {
                        visit(&link.url, &mut waiting);
                    }
                }
                Err(err) => emit(&Failure {
                    url: &url,
                    error: err.kind(),
                    message: err.message(),
                })?,
            }
        }
        info!(
            "crawled {crawled} pages from {} start URLs",
            input.start.len()
        );
        Ok(())
    }
}

crawlbox_guest::export_async_plugin!(Crawler);

/// The page's title, trimmed, if it has a non-empty one.
fn first_text(query: Query, page: &crawlbox_guest::Response) -> Option<&str> {
    query.first(page).map(str::trim).filter(|t| !t.is_empty())
}
