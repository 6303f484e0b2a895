//! crawlbox's example plugin: a same-site crawler over one `fetch-queue`,
//! with the host parsing the pages.
//!
//! Input: `{"start": ["http://host/"], "max_pages": 100, "batch": 32}`.
//! From the start URLs it fetches pages through a `fetch-queue` (the host
//! runs them concurrently under its caps and hands each back as it
//! completes). Each request asks the host to extract the page's title and
//! its same-host links, natively and on threads of its own, so the plugin
//! never receives the HTML. It pushes the links it has not seen onto the
//! same queue and emits one record per page:
//! `{"url", "status", "title", "links"}` (or `{"url", "error"}`).
//!
//! `example-crawler-guest-parse` is the same crawl parsing inside the guest.

use std::collections::HashSet;

use crawlbox_guest::{
    Extract, FetchQueue, LinkRule, Plugin, Query, Request, Result, bail, emit, info, warn,
};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// Where the crawl starts.
    start: Vec<String>,
    /// Pages to fetch at most. Default: 100.
    #[serde(default = "default_max_pages")]
    max_pages: usize,
    /// Responses taken from the host per call, at most. Default: 32.
    #[serde(default = "default_batch")]
    batch: usize,
}

fn default_max_pages() -> usize {
    100
}

fn default_batch() -> usize {
    32
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

impl Plugin for Crawler {
    fn run(input: &str) -> Result<()> {
        let input: Input = crawlbox_guest::parse_input(input)?;
        if input.start.is_empty() {
            bail!("input.start is empty: give at least one URL to start from");
        }
        let batch = u32::try_from(input.batch.max(1)).unwrap_or(u32::MAX);
        let mut what = Extract::new().links(LinkRule {
            same_host: true,
            ..LinkRule::default()
        });
        let title = what.css("title::text");
        let mut frontier = Frontier {
            queue: FetchQueue::with_batch(batch),
            urls: Vec::new(),
            seen: HashSet::new(),
            what,
            max_pages: input.max_pages,
        };
        for start in &input.start {
            // As the host writes the links it extracts (`http://a` is
            // `http://a/`), so that the start page is not fetched twice.
            let mut url = url::Url::parse(start)
                .map_err(|e| crawlbox_guest::anyhow!("invalid start URL {start:?}: {e}"))?;
            url.set_fragment(None);
            frontier.push(url.as_str());
        }
        let mut crawled = 0;
        while let Some((ticket, result)) = frontier.queue.next() {
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
                        frontier.push(&link.url);
                    }
                }
                Err(err) => emit(&Failure {
                    url: frontier.url(ticket),
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

crawlbox_guest::export_plugin!(Crawler);

/// The page's title, trimmed, if it has a non-empty one.
fn first_text(query: Query, page: &crawlbox_guest::Response) -> Option<&str> {
    query.first(page).map(str::trim).filter(|t| !t.is_empty())
}

/// URLs to visit, each at most once, in the order found. The host's link
/// rule keeps the crawl on each page's own host; its links come resolved,
/// without fragments, so a string is a URL's identity here.
struct Frontier {
    /// Requests in flight or waiting, ticket by ticket.
    queue: FetchQueue,
    /// The URL of each ticket.
    urls: Vec<String>,
    seen: HashSet<String>,
    what: Extract,
    max_pages: usize,
}

impl Frontier {
    fn push(&mut self, url: &str) {
        if self.seen.len() >= self.max_pages || self.seen.contains(url) {
            return;
        }
        self.seen.insert(url.to_owned());
        let ticket = self.queue.push(Request::get(url).extract(&self.what));
        debug_assert_eq!(ticket as usize, self.urls.len());
        self.urls.push(url.to_owned());
    }

    fn url(&self, ticket: u64) -> &str {
        usize::try_from(ticket)
            .ok()
            .and_then(|i| self.urls.get(i))
            .map_or("", String::as_str)
    }
}
