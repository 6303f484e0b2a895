//! The example crawler as it was before host-side extraction: it receives
//! every page's HTML and parses it inside the guest, with `scraper`
//! compiled to wasm. `example-crawler` makes the same crawl with the host
//! extracting; this one stays to show the other way, and what it costs.
//!
//! Input: `{"start": ["http://host/"], "max_pages": 100, "batch": 32}`.
//! From the start URLs it fetches pages through a `fetch-queue` (the host
//! runs them concurrently under its caps and hands each back as it
//! completes), parses the HTML, pushes the links that stay on a start URL's
//! host onto the same queue, and emits one record per page:
//! `{"url", "status", "title", "links"}` (or `{"url", "error"}`).

use std::collections::HashSet;

use crawlbox_guest::{FetchQueue, Plugin, Request, Result, bail, emit, info};
use scraper::{Html, Selector};
use serde::{Deserialize, Serialize};
use url::Url;

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
    title: Option<String>,
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
        let mut frontier = Frontier {
            queue: FetchQueue::with_batch(batch),
            urls: Vec::new(),
            seen: HashSet::new(),
            hosts: HashSet::new(),
        };
        for start in &input.start {
            let url = Url::parse(start)?;
            frontier
                .hosts
                .insert(url.host_str().unwrap_or_default().to_owned());
            frontier.push(url, input.max_pages);
        }
        let mut crawled = 0;
        while let Some((ticket, result)) = frontier.queue.next() {
            crawled += 1;
            match result {
                Ok(resp) => {
                    let (title, links) = if is_html(resp.header("content-type")) {
                        parse(&resp.text(), &resp.url)
                    } else {
                        (None, Vec::new())
                    };
                    emit(&Page {
                        url: &resp.url,
                        status: resp.status,
                        title,
                        links: links.len(),
                    })?;
                    for link in links {
                        frontier.push(link, input.max_pages);
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

/// URLs to visit, each at most once, in the order found.
struct Frontier {
    /// Requests in flight or waiting, ticket by ticket.
    queue: FetchQueue,
    /// The URL of each ticket.
    urls: Vec<String>,
    seen: HashSet<String>,
    /// Hosts the crawl stays on.
    hosts: HashSet<String>,
}

impl Frontier {
    fn push(&mut self, mut url: Url, max_pages: usize) {
        url.set_fragment(None);
        let same_site = url.host_str().is_some_and(|h| self.hosts.contains(h));
        if self.seen.len() >= max_pages || !matches!(url.scheme(), "http" | "https") || !same_site {
            return;
        }
        if self.seen.insert(url.as_str().to_owned()) {
            let ticket = self.queue.push(Request::get(url.as_str()));
            debug_assert_eq!(ticket as usize, self.urls.len());
            self.urls.push(url.into());
        }
    }

    fn url(&self, ticket: u64) -> &str {
        usize::try_from(ticket)
            .ok()
            .and_then(|i| self.urls.get(i))
            .map_or("", String::as_str)
    }
}

fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| ct.contains("html"))
}

/// The page's title and the absolute URLs of its links.
fn parse(html: &str, base: &str) -> (Option<String>, Vec<Url>) {
    let doc = Html::parse_document(html);
    let title_sel = Selector::parse("title").expect("valid selector");
    let link_sel = Selector::parse("a[href]").expect("valid selector");
    let title = doc
        .select(&title_sel)
        .next()
        .map(|t| t.text().collect::<String>().trim().to_owned())
        .filter(|t| !t.is_empty());
    let base = Url::parse(base).ok();
    let links = doc
        .select(&link_sel)
        .filter_map(|a| a.value().attr("href"))
        .filter_map(|href| match &base {
            Some(base) => base.join(href).ok(),
            None => Url::parse(href).ok(),
        })
        .collect();
    (title, links)
}
